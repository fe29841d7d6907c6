from fastapi import APIRouter

from plugboard import __version__
from plugboard.api.schemas import HealthOut

router = APIRouter(tags=["health"])


@router.get("/health", summary="Is the service up? (no token needed)")
def get_health() -> HealthOut:
    return HealthOut(status="ok", version=__version__)
