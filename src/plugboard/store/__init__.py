"""The engine's database: what belongs to no single host (hosts, users, tokens, the audit log, the
operation journal, MAC reservations)."""

from plugboard.store.db import Store, StoreInUse, on_commit
from plugboard.store.models import (
    Event,
    Host,
    MacPool,
    MacReservation,
    Operation,
    Token,
    User,
    VnicNote,
)

__all__ = [
    "Event",
    "Host",
    "MacPool",
    "MacReservation",
    "Operation",
    "Store",
    "StoreInUse",
    "Token",
    "User",
    "VnicNote",
    "on_commit",
]
