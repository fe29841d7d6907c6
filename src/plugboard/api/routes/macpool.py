"""The MAC pool: /api/v1/macpool."""

from fastapi import APIRouter

from plugboard.api.deps import CurrentUser, DbSession
from plugboard.api.problems import responses
from plugboard.api.vm_schemas import MacPoolOut, MacPoolUpdate
from plugboard.engine import macpool

router = APIRouter(prefix="/macpool", tags=["vms"], responses=responses(400, 401, 422))


@router.get("", summary="The MAC pool new vNICs take their MACs from")
def get_mac_pool(db: DbSession, _: CurrentUser) -> MacPoolOut:
    return MacPoolOut.from_pool(macpool.get_pool(db))


@router.put("", summary="Set the MAC pool's ranges", responses=responses(403))
def set_mac_pool(body: MacPoolUpdate, db: DbSession, who: CurrentUser) -> MacPoolOut:
    return MacPoolOut.from_pool(macpool.set_pool(db, who, body.ranges, body.allow_duplicates))
