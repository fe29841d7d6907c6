from fastapi import APIRouter

from plugboard import __version__
from plugboard.api.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/health", summary="Is the service up? (no token needed)")
def health() -> Health:
    return Health(status="ok", version=__version__)
