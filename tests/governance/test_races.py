"""Races on PostgreSQL, with real threads on their own connections: two approvals at once, an approval racing
a rejection, a double submit of an approval and of a request. Each resolves to exactly one outcome.

To make the race real rather than lucky, a third connection first holds the request's row lock; both threads
are started and the test waits until PostgreSQL reports both of them blocked on a lock (pg_stat_activity);
then the lock is released and the two contend."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, connections, transaction

from mlgov.audit.models import AuditEvent
from mlgov.errors import DomainError
from mlgov.governance import services
from mlgov.governance.models import PromotionRequest, Review
from tests.governance.conftest import build_world

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _blocked_backends() -> int:
    with connections["default"].cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def race(lock_pk: int | None, *calls: Callable[[], Any]) -> list[tuple[str, Any]]:
    """Run `calls` in threads at once, each on its own connection; optionally hold request `lock_pk`'s row
    lock until every thread is blocked on it. Returns ("ok", result) or ("error", DomainError) per call."""
    results: list[tuple[str, Any]] = [("pending", None)] * len(calls)
    start = threading.Barrier(len(calls) + 1)

    def run(i: int, call: Callable[[], Any]) -> None:
        try:
            start.wait()
            results[i] = ("ok", call())
        except DomainError as exc:
            results[i] = ("error", exc)
        except Exception as exc:  # a bug: report it rather than hang
            results[i] = ("crash", exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    holder = threading.Event()
    release = threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                list(PromotionRequest.objects.select_for_update().filter(pk=lock_pk))
                holder.set()
                release.wait(30)
        finally:
            connections.close_all()

    locker = threading.Thread(target=hold) if lock_pk else None
    if locker:
        locker.start()
        assert holder.wait(10)
    for t in threads:
        t.start()
    start.wait()
    if locker:
        deadline = time.monotonic() + 20
        while _blocked_backends() < len(calls):
            assert time.monotonic() < deadline, "the threads never blocked on the row lock"
            time.sleep(0.02)
        release.set()
        locker.join(30)
    for t in threads:
        t.join(60)
    assert all(not t.is_alive() for t in threads)
    crashes = [r for r in results if r[0] == "crash"]
    assert not crashes, crashes
    return results


@pytest.fixture
def world(postgres):
    assert connection.vendor == "postgresql"
    return build_world()


def _request(world, version="2"):
    return services.promotion_request_create(
        actor=world.u("requester"), version=world.v(version), target="production", justification="race"
    )


@pytest.mark.parametrize("round_", range(3))
def test_two_last_approvals_at_once_make_one_approval(world, round_):
    req = _request(world)
    services.promotion_approve(request=req, reviewer=world.u("rui"), comment="first")
    outcomes = race(
        req.pk,
        lambda: services.promotion_approve(request=req, reviewer=world.u("rosa"), comment="a"),
        lambda: services.promotion_approve(request=req, reviewer=world.u("raj"), comment="b"),
    )
    kinds = sorted(k for k, _ in outcomes)
    assert kinds == ["error", "ok"], outcomes
    (err,) = [v for k, v in outcomes if k == "error"]
    assert err.code == "invalid_state"  # the loser found it no longer pending
    req.refresh_from_db()
    assert req.state in ("approved", "applying", "failed")  # the apply task ran on commit (no MLflow connection)
    assert req.approvals == 2
    assert Review.objects.filter(request=req).count() == 2
    assert AuditEvent.objects.filter(action="promotion.approved", target_id=str(req.pk)).count() == 1
    assert AuditEvent.objects.filter(action="promotion.apply_started", target_id=str(req.pk)).count() == 1


@pytest.mark.parametrize("round_", range(3))
def test_an_approval_racing_a_rejection_gives_one_outcome(world, round_):
    world.policy.approvals_required = 1
    world.policy.save()
    req = _request(world)
    outcomes = race(
        req.pk,
        lambda: services.promotion_approve(request=req, reviewer=world.u("rui"), comment="yes"),
        lambda: services.promotion_reject(request=req, reviewer=world.u("rosa"), comment="no"),
    )
    assert sorted(k for k, _ in outcomes) == ["error", "ok"], outcomes
    req.refresh_from_db()
    approved = outcomes[0][0] == "ok"
    if approved:
        assert req.state in ("approved", "applying", "failed")
        assert not Review.objects.filter(request=req, decision="reject").exists()
    else:
        assert req.state == "rejected"
        assert not Review.objects.filter(request=req, decision="approve").exists()
    assert Review.objects.filter(request=req).count() == 1
    decided = AuditEvent.objects.filter(
        action__in=("promotion.approved", "promotion.rejected"), target_id=str(req.pk)
    ).count()
    assert decided == 1


@pytest.mark.parametrize("round_", range(3))
def test_a_double_submitted_approval_counts_once(world, round_):
    req = _request(world)
    outcomes = race(
        req.pk,
        lambda: services.promotion_approve(request=req, reviewer=world.u("rui"), comment="click"),
        lambda: services.promotion_approve(request=req, reviewer=world.u("rui"), comment="click"),
    )
    assert sorted(k for k, _ in outcomes) == ["error", "ok"], outcomes
    (err,) = [v for k, v in outcomes if k == "error"]
    assert err.code == "already_reviewed"
    req.refresh_from_db()
    assert (req.state, req.approvals) == ("pending", 1)
    assert Review.objects.filter(request=req).count() == 1


def test_a_double_submitted_request_creates_one(world):
    outcomes = race(None, lambda: _request(world, "1"), lambda: _request(world, "1"))
    assert sorted(k for k, _ in outcomes) == ["error", "ok"], outcomes
    (err,) = [v for k, v in outcomes if k == "error"]
    assert err.code == "duplicate"
    assert PromotionRequest.objects.filter(version=world.v("1")).count() == 1


def test_a_cancel_racing_the_last_approval_gives_one_outcome(world):
    world.policy.approvals_required = 1
    world.policy.save()
    req = _request(world)
    outcomes = race(
        req.pk,
        lambda: services.promotion_approve(request=req, reviewer=world.u("rui")),
        lambda: services.promotion_cancel(request=req, actor=world.u("requester")),
    )
    req.refresh_from_db()
    if outcomes[1][0] == "ok" and outcomes[0][0] == "error":
        assert req.state == "cancelled"
    else:
        # Approved first; the cancel then found it approved (allowed) or already applying/failed.
        assert outcomes[0][0] == "ok"
        assert req.state in ("approved", "applying", "failed", "cancelled")
    assert AuditEvent.objects.filter(action="promotion.approved", target_id=str(req.pk)).count() <= 1
