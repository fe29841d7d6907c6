"""The engine's database: what belongs to no single host (hosts, tokens, the audit log)."""

from plugboard.store.db import Store, on_commit
from plugboard.store.models import Event, Host, MacPool, Token

__all__ = ["Event", "Host", "MacPool", "Store", "Token", "on_commit"]
