"""audit_verify against a real database: SQLite and PostgreSQL (marker `portable`; `make test` runs these
on both backends). Tampering is done in raw SQL, as an attacker with database access would."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction

from mlgov.audit.models import AuditEvent
from mlgov.audit.services import audit_record

pytestmark = [pytest.mark.django_db, pytest.mark.portable]

CONTENT_COLUMNS = (
    "seq",
    "timestamp",
    "actor_id",
    "actor_name",
    "source",
    "action",
    "target_type",
    "target_id",
    "target_repr",
    "before",
    "after",
    "request_id",
    "prev_hash",
    "hash",
)


@pytest.fixture
def events(db) -> list[AuditEvent]:
    return [
        audit_record(
            actor="tester",
            action="team.created",
            target_type="team",
            target_id=i,
            target_repr=f"Team {i}",
            after={"name": f"Team {i}", "n": i, "ünïcode": "✓"},
        )
        for i in range(1, 7)
    ]


@pytest.fixture
def tamper(db):
    """Run raw SQL against the audit table, with the PostgreSQL append-only trigger disabled
    (inside the test's transaction, so it is back on afterwards)."""

    def run(sql: str, params: list | None = None) -> None:
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_auditevent_no_change")
            cursor.execute(sql, params or [])
            if connection.vendor == "postgresql":
                cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_auditevent_no_change")

    return run


def _verify(*args: str) -> str:
    from io import StringIO

    out = StringIO()
    call_command("audit_verify", *args, stdout=out)
    return out.getvalue()


def test_intact_chain_verifies(events):
    assert f"{len(events)} events verified" in _verify()


def test_chain_links_and_sequence(events):
    rows = list(AuditEvent.objects.order_by("seq"))
    assert [r.seq for r in rows] == list(range(1, len(events) + 1))
    for prev, row in itertools.pairwise(rows):
        assert row.prev_hash == prev.hash


def test_edited_row_is_caught(events, tamper):
    victim = events[2]
    tamper("UPDATE audit_auditevent SET target_repr = %s WHERE id = %s", ["Team X", victim.pk])
    with pytest.raises(CommandError, match=rf"id={victim.pk} \(seq {victim.seq}\).*contents"):
        _verify()


def test_deleted_row_is_caught(events, tamper):
    tamper("DELETE FROM audit_auditevent WHERE id = %s", [events[3].pk])
    with pytest.raises(CommandError, match=rf"id={events[4].pk} .*expected seq {events[3].seq}"):
        _verify()


def test_swapped_rows_are_caught(events, tamper):
    """Swap every column but the primary key between two rows: the order of the chain changes."""
    a, b = events[1], events[2]
    cols = ", ".join(CONTENT_COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {cols} FROM audit_auditevent WHERE id = %s", [a.pk])
        row_a = cursor.fetchone()
        cursor.execute(f"SELECT {cols} FROM audit_auditevent WHERE id = %s", [b.pk])
        row_b = cursor.fetchone()
    assignments = ", ".join(f"{c} = %s" for c in CONTENT_COLUMNS)
    # seq and hash are unique: park one row first.
    tamper("UPDATE audit_auditevent SET seq = -1, hash = 'parked' WHERE id = %s", [a.pk])
    tamper(f"UPDATE audit_auditevent SET {assignments} WHERE id = %s", [*row_a, b.pk])
    tamper(f"UPDATE audit_auditevent SET {assignments} WHERE id = %s", [*row_b, a.pk])
    with pytest.raises(CommandError, match=rf"id={a.pk} .*expected seq {a.seq}"):
        _verify()


def test_head_is_printed_for_an_external_checkpoint(events):
    out = _verify()
    assert f"head: seq={events[-1].seq} hash={events[-1].hash}" in out
    assert f"--checkpoint {events[-1].seq}:{events[-1].hash}" in out


def test_empty_chain_has_the_genesis_head(db):
    from mlgov.audit.hashing import GENESIS

    assert AuditEvent.objects.count() == 0
    assert f"head: seq=0 hash={GENESIS}" in _verify()


def test_deleting_the_newest_rows_is_caught_only_by_a_checkpoint(events, tamper):
    """Cutting the tail leaves a shorter chain that is still consistent; the operator's copy of the head
    is what shows the loss."""
    head = events[-1]
    checkpoint = f"{head.seq}:{head.hash}"
    assert "verified" in _verify("--checkpoint", checkpoint)
    tamper("DELETE FROM audit_auditevent WHERE seq > %s", [events[3].seq])
    assert f"{events[3].seq} events verified" in _verify()  # intact on its own...
    with pytest.raises(CommandError, match=rf"checkpoint seq {head.seq}.*missing.*newest events were deleted"):
        _verify("--checkpoint", checkpoint)  # ...but not against the checkpoint


def test_checkpoint_still_holds_as_the_chain_grows(events):
    head = events[-1]
    audit_record(actor="tester", action="team.created", target_type="team", target_id=99)
    out = _verify("--checkpoint", f"{head.seq}:{head.hash}")
    assert f"checkpoint seq {head.seq} matches" in out
    assert f"head: seq={head.seq + 1} " in out


def test_checkpoint_with_another_hash_is_caught(events, tamper):
    """A rewritten chain (every hash recomputed after an edit) still differs from the checkpoint."""
    with pytest.raises(CommandError, match=rf"checkpoint seq {events[2].seq}.*hash differs"):
        _verify("--checkpoint", f"{events[2].seq}:{'0' * 64}")


@pytest.mark.parametrize("bad", ["12", "x:abc", "3:nothex", "-1:" + "0" * 64, "3:" + "0" * 63])
def test_malformed_checkpoint_is_refused(events, bad):
    with pytest.raises(CommandError, match="checkpoint"):
        _verify("--checkpoint", bad)


def test_orm_refuses_update_and_delete(events):
    event = AuditEvent.objects.get(pk=events[0].pk)
    event.action = "team.deleted"
    with pytest.raises(TypeError):
        event.save()
    with pytest.raises(TypeError):
        event.delete()


def test_audit_record_rolls_back_with_the_change(db):
    def change_that_fails_halfway() -> None:
        with transaction.atomic():
            audit_record(actor="tester", action="team.created", target_type="team", target_id=1)
            raise RuntimeError("the change failed halfway")

    before = AuditEvent.objects.count()
    with pytest.raises(RuntimeError):
        change_that_fails_halfway()
    assert AuditEvent.objects.count() == before
    audit_record(actor="tester", action="team.created", target_type="team", target_id=2)
    assert "verified" in _verify()


def test_unregistered_action_is_refused(db):
    from mlgov.audit.registry import UnknownAuditAction

    with pytest.raises(UnknownAuditAction):
        audit_record(actor="tester", action="team.teleported")


# --- PostgreSQL only: the database itself refuses changes, and concurrent writers keep one chain ---


@pytest.mark.postgres
def test_postgres_trigger_refuses_update_and_delete(postgres, events):
    from django.db.utils import DatabaseError

    for sql in ("UPDATE audit_auditevent SET action = 'x' WHERE id = %s", "DELETE FROM audit_auditevent WHERE id = %s"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as c:
            c.execute(sql, [events[0].pk])
    assert AuditEvent.objects.get(pk=events[0].pk).action == "team.created"
    assert AuditEvent.objects.count() == len(events)


@pytest.mark.postgres
def test_postgres_trigger_refuses_truncate(postgres, events):
    """The test database disables this trigger so that transactional tests can flush (tests/conftest.py);
    it is turned back on here, inside the test's transaction. Enabling it by name also proves the
    migration created it."""
    from django.db.utils import DatabaseError

    with connection.cursor() as c:
        c.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_auditevent_no_truncate")
    for sql in ("TRUNCATE audit_auditevent", "TRUNCATE audit_auditevent RESTART IDENTITY CASCADE"):
        with (
            pytest.raises(DatabaseError, match="append-only: TRUNCATE refused"),
            transaction.atomic(),
            connection.cursor() as c,
        ):
            c.execute(sql)
    assert AuditEvent.objects.count() == len(events)
    assert f"{len(events)} events verified" in _verify()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_postgres_concurrent_writers_keep_one_chain(postgres):
    from django.db import connections

    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(15):
                with transaction.atomic():
                    audit_record(actor=f"writer{n}", action="team.created", target_type="team", target_id=i)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True)) == list(range(1, 61))
    assert "60 events verified" in _verify()


# --- The command's exit status, as an operator sees it ---


@pytest.mark.slow
def test_command_exit_status(tmp_path: Path):
    if connection.vendor != "sqlite":
        pytest.skip("the subprocess check runs once, on a scratch SQLite file")
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'audit.sqlite3'}", "DEBUG": "false"}

    def manage(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    assert manage("migrate", "--noinput").returncode == 0
    seed = (
        "from mlgov.audit.services import audit_record\n"
        "for i in range(3): audit_record(actor='cli', action='team.created', target_type='team', target_id=i)"
    )
    assert manage("shell", "-c", seed).returncode == 0
    ok = manage("audit_verify")
    assert ok.returncode == 0, ok.stderr
    assert "3 events verified" in ok.stdout
    import sqlite3

    with sqlite3.connect(tmp_path / "audit.sqlite3") as db:
        db.execute("UPDATE audit_auditevent SET actor_name = 'mallory' WHERE seq = 2")
    bad = manage("audit_verify")
    assert bad.returncode != 0
    assert "seq 2" in bad.stderr
