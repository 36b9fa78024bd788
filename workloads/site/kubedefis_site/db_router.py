"""Primary/replica routing, active only when POSTGRES_REPLICA_HOST is set.

Plain reads go to the replica. Writes, reads inside a transaction and every read that follows a
write in the same request go to the primary, so a client always reads its own writes.
"""

from contextvars import ContextVar
from typing import Any

from django.db import connections

PRIMARY = "default"
REPLICA = "replica"

_pinned_to_primary: ContextVar[bool] = ContextVar("pinned_to_primary", default=False)


def reset_pinning() -> None:
    """Called at the start and end of each request (see PinningMiddleware)."""
    _pinned_to_primary.set(False)


def pin_to_primary() -> None:
    _pinned_to_primary.set(True)


class PrimaryReplicaRouter:
    def db_for_read(self, model: type, **hints: Any) -> str:
        if _pinned_to_primary.get() or connections[PRIMARY].in_atomic_block:
            return PRIMARY
        return REPLICA

    def db_for_write(self, model: type, **hints: Any) -> str:
        pin_to_primary()
        return PRIMARY

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        # Both aliases hold the same data.
        return True

    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None, **hints: Any) -> bool:
        return db == PRIMARY
