"""`audit_record_many` writes in bulk (COPY on PostgreSQL, multi-row INSERTs on SQLite) without the ORM:
the rows it stores must be the rows `audit_record` would have stored, and the chain must verify. Marked
`portable`, so `make test` runs it on both backends."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from mlgov.audit.models import AuditEvent
from mlgov.audit.services import PendingEvent, _insert_rows, audit_record, audit_record_many

pytestmark = [pytest.mark.django_db, pytest.mark.portable]

# Values that a JSON column and a text column can get wrong: None, unicode, nesting, numbers, quotes.
ODD_AFTER = [
    None,
    {},
    {"name": "ünïcode ✓ 模型", "quote": 'a "b" \\c', "nested": {"list": [1, 2.5, None, True], "deep": {"x": []}}},
    {"big": 2**53, "neg": -1.25e-7, "empty": ""},
]

CONTENT = ("seq", "actor_name", "source", "action", "target_type", "target_id", "target_repr", "before", "after")


def _rows() -> list[dict]:
    return list(AuditEvent.objects.order_by("seq").values(*CONTENT, "timestamp", "prev_hash", "hash"))


def test_bulk_rows_equal_what_audit_record_stores():
    for i, after in enumerate(ODD_AFTER):
        audit_record(actor="tester", action="team.updated", target_type="team", target_id=i, after=after, before=after)
    one_by_one = _rows()
    audit_record_many(
        actor="tester",
        events=[
            PendingEvent(action="team.updated", target_type="team", target_id=i, before=after, after=after)
            for i, after in enumerate(ODD_AFTER)
        ],
    )
    bulk = _rows()[len(one_by_one) :]
    same = [k for k in CONTENT if k != "seq"]
    assert [{k: r[k] for k in same} for r in bulk] == [{k: r[k] for k in same} for r in one_by_one]
    assert [r["seq"] for r in bulk] == [r["seq"] + len(ODD_AFTER) for r in one_by_one]
    assert all(r["timestamp"].tzinfo is not None for r in bulk)
    out = StringIO()
    call_command("audit_verify", stdout=out)
    assert f"{2 * len(ODD_AFTER)} events verified" in out.getvalue()


def test_a_large_batch_keeps_one_chain_across_statements():
    """More rows than one statement binds on SQLite (and one COPY on PostgreSQL), after a single event."""
    audit_record(actor="tester", action="team.created", target_type="team", target_id=0)
    n = 2_500
    with CaptureQueriesContext(connection) as ctx:
        written = audit_record_many(
            actor="sync",
            events=(
                PendingEvent(action="team.updated", target_type="team", target_id=i, after={"i": i, "s": "✓" * (i % 7)})
                for i in range(n)
            ),
        )
    assert written == n
    writes = [q["sql"] for q in ctx.captured_queries if q["sql"].lstrip().upper().startswith(("INSERT", "COPY"))]
    # The bulk write is visible to query capture on both paths: one COPY, or a few multi-row INSERTs.
    assert len(writes) in (1, 2, 3), writes
    seqs = list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, n + 2))
    out = StringIO()
    call_command("audit_verify", stdout=out)
    assert f"{n + 1} events verified" in out.getvalue()


def test_database_errors_surface_as_djangos():
    """A conflicting row fails with django.db.IntegrityError on both paths (callers' retries catch Django's)."""
    first = audit_record(actor="tester", action="team.created", target_type="team", target_id=1)
    clash = {
        "seq": first.seq,
        "timestamp": first.timestamp,
        "actor_id": None,
        "actor_name": "x",
        "source": first.source,
        "action": "team.created",
        "target_type": "team",
        "target_id": "1",
        "target_repr": "",
        "before": None,
        "after": None,
        "request_id": "",
        "prev_hash": "0" * 64,
        "hash": "f" * 64,
    }
    with pytest.raises(IntegrityError), transaction.atomic():
        _insert_rows([clash])
    assert AuditEvent.objects.count() == 1
