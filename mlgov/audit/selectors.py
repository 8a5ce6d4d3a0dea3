"""Reading the audit trail."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db.models import Q, QuerySet

from mlgov.audit.hashing import GENESIS, HASHED_FIELDS, ChainBreak, verify_chain
from mlgov.audit.models import AuditEvent

# Roles that read every event; everybody else reads the events they caused.
_ORG_READERS = ("managers", "reviewers", "admins")


def audit_event_list(*, user: Any) -> QuerySet[AuditEvent]:
    qs = AuditEvent.objects.all()
    if user.is_superuser or user.groups.filter(name__in=_ORG_READERS).exists():
        return qs
    return qs.filter(Q(actor_id=user.pk))


def _iter_rows(batch: int = 2000) -> Iterator[dict[str, Any]]:
    fields = ("id", *HASHED_FIELDS, "prev_hash", "hash")
    last_id = 0
    while True:
        rows = list(AuditEvent.objects.filter(id__gt=last_id).order_by("id").values(*fields)[:batch])
        if not rows:
            return
        for row in rows:
            row["timestamp"] = row["timestamp"].isoformat()
            yield row
        last_id = rows[-1]["id"]


def audit_chain_verify() -> tuple[int, ChainBreak | None]:
    """Walk the whole chain in id order, in batches, with flat memory."""
    count, broken, _ = audit_chain_verify_with_head()
    return count, broken


def audit_chain_verify_with_head() -> tuple[int, ChainBreak | None, tuple[int, str]]:
    """As audit_chain_verify, plus the (seq, hash) of the last event walked: the head that was verified.

    Deleting the newest events leaves a shorter chain that is still consistent; an operator who keeps
    the head outside the database (`audit_verify --checkpoint`) can tell."""
    head = (0, GENESIS)

    def rows() -> Iterator[dict[str, Any]]:
        nonlocal head
        for row in _iter_rows():
            head = (row["seq"], row["hash"])
            yield row

    count, broken = verify_chain(rows())
    return count, broken, head


def audit_event_hash_at(seq: int) -> str | None:
    return AuditEvent.objects.filter(seq=seq).values_list("hash", flat=True).first()
