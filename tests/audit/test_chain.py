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


def _verify() -> str:
    from io import StringIO

    out = StringIO()
    call_command("audit_verify", stdout=out)
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
