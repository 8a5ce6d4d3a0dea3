"""Writing the audit trail. `audit_record` is the only writer."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone

from mlgov.audit.hashing import GENESIS, HASHED_FIELDS, chain_hash
from mlgov.audit.models import AuditEvent
from mlgov.audit.registry import ensure_registered
from mlgov.context import current_request_id, current_source
from mlgov.dbtools import insert_rows

# An arbitrary constant: the advisory lock that serialises writers on the chain head (PostgreSQL).
_CHAIN_LOCK_KEY = 0x6D6C676F76


def _normalise(value: Any) -> Any:
    """JSON-normalise so the hashed value equals what the database gives back."""
    if value is None:
        return None
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder, sort_keys=True))


def _actor_fields(actor: Any) -> tuple[int | None, str]:
    if actor is None or getattr(actor, "is_anonymous", False):
        return None, "anonymous" if actor is not None else "system"
    if isinstance(actor, str):
        return None, actor[:150]
    return actor.pk, actor.get_username()[:150]


def audit_record(
    *,
    actor: Any,
    action: str,
    target: Any = None,
    target_type: str = "",
    target_id: str | int = "",
    target_repr: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    source: str | None = None,
    request_id: str | None = None,
) -> AuditEvent:
    """Append one event to the chain, inside the caller's transaction.

    `actor` is a user, a service name (str) or None for the system. `target` may be a model
    instance; its type, id and text are then taken from it.
    """
    ensure_registered(action)
    if target is not None:
        target_type = target_type or target._meta.model_name
        target_id = target_id or target.pk
        target_repr = target_repr or str(target)
    actor_id, actor_name = _actor_fields(actor)
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK_KEY])
        head = AuditEvent.objects.order_by("-seq").values("seq", "hash").first()
        prev_hash, seq = (head["hash"], head["seq"] + 1) if head else (GENESIS, 1)
        row = {
            "seq": seq,
            "timestamp": timezone.now(),
            "actor_id": actor_id,
            "actor_name": actor_name,
            "source": source or current_source(),
            "action": action,
            "target_type": target_type,
            "target_id": str(target_id)[:64],
            "target_repr": str(target_repr)[:300],
            "before": _normalise(before),
            "after": _normalise(after),
            "request_id": (request_id if request_id is not None else current_request_id())[:100],
        }
        hashed = dict(row, timestamp=row["timestamp"].isoformat())
        return AuditEvent.objects.create(**row, prev_hash=prev_hash, hash=chain_hash(prev_hash, hashed))


@dataclass(frozen=True)
class PendingEvent:
    """One event for `audit_record_many`."""

    action: str
    target_type: str
    target_id: str | int
    target_repr: str = ""
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None


def audit_record_many(
    *, actor: Any, events: Iterable[PendingEvent], source: str | None = None, request_id: str | None = None
) -> int:
    """Append many events under one chain lock, written in bulk (`_insert_rows`; syncs write thousands)."""
    pending = list(events)
    if not pending:
        return 0
    for event in pending:
        ensure_registered(event.action)
    actor_id, actor_name = _actor_fields(actor)
    src = source or current_source()
    rid = (request_id if request_id is not None else current_request_id())[:100]
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK_KEY])
        head = AuditEvent.objects.order_by("-seq").values("seq", "hash").first()
        prev_hash, seq = (head["hash"], head["seq"] + 1) if head else (GENESIS, 1)
        now = timezone.now()
        rows = []
        for event in pending:
            row = {
                "seq": seq,
                "timestamp": now,
                "actor_id": actor_id,
                "actor_name": actor_name,
                "source": src,
                "action": event.action,
                "target_type": event.target_type,
                "target_id": str(event.target_id)[:64],
                "target_repr": str(event.target_repr)[:300],
                "before": _normalise(event.before),
                "after": _normalise(event.after),
                "request_id": rid,
            }
            digest = chain_hash(prev_hash, dict(row, timestamp=now.isoformat()))
            rows.append({**row, "prev_hash": prev_hash, "hash": digest})
            prev_hash, seq = digest, seq + 1
        _insert_rows(rows)
    return len(rows)


_COLUMNS = (*HASHED_FIELDS, "prev_hash", "hash")


def _insert_rows(rows: list[dict[str, Any]]) -> None:
    """Write the rows in bulk without the ORM's per-value INSERT compilation, which was most of a sync's
    audit cost (`mlgov.dbtools.insert_rows`: COPY on PostgreSQL, multi-row INSERTs elsewhere). The stored
    values are what the ORM would store (`tests/audit/test_bulk.py` compares both paths)."""
    insert_rows(AuditEvent, _COLUMNS, ([row[c] for c in _COLUMNS] for row in rows))


def audit_security_event(
    *, action: str, request: Any, reason: str, user: Any, extra: dict[str, Any] | None = None
) -> AuditEvent:
    """Record a refused request. Written in its own transaction, so it survives the request's rollback."""
    details = {
        "reason": reason,
        "path": request.path[:300],
        "method": request.method,
        "remote_addr": request.META.get("REMOTE_ADDR", ""),
        **(extra or {}),
    }
    with transaction.atomic():
        return audit_record(
            actor=user, action=action, target_type="request", target_repr=request.path[:300], after=details
        )


def snapshot(obj: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    """The before/after picture of a model instance, by field name (foreign keys by id)."""
    out: dict[str, Any] = {}
    for name in fields:
        field = obj._meta.get_field(name)
        out[name] = getattr(obj, field.attname)
    return _normalise(out)
