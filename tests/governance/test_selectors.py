"""The review queue (`selectors.actionable`) applies the rules approval enforces: a request is in a reviewer's
queue exactly when `review_refusals` (what the request page and approval check) has nothing against them,
the last-committers rule of `strict` independence included."""

from __future__ import annotations

import pytest
from django.utils import timezone

from integrations.models import GitRepository
from mlgov.errors import PermissionDenied
from mlgov.governance import selectors, services
from mlgov.governance.models import PromotionPolicy, PromotionRequest

pytestmark = pytest.mark.django_db


def _repository(world, *committers: tuple[str, str]) -> GitRepository:
    """A scanned repository of the world's project whose activity window lists these (name, email) authors."""
    return GitRepository.objects.create(
        name=f"card-fraud-{len(committers)}",
        url="/srv/git/card-fraud.git",
        project=world.model.project,
        scanned_at=timezone.now(),
        activity={"committers": [{"name": n, "email": e, "commits": 3} for n, e in committers]},
    )


def _request(world, version: str, target: str = "production") -> PromotionRequest:
    return services.promotion_request_create(
        actor=world.u("requester"), version=world.v(version), target=target, justification="queue"
    )


def _consistent(world) -> None:
    """For every user: the queue is exactly the pending requests the user may review."""
    pending = list(PromotionRequest.objects.filter(state="pending"))
    for name, user in world.users.items():
        user = type(user).objects.get(pk=user.pk)  # fresh: no cached groups or roles
        queue = set(selectors.review_queue(user=user).values_list("pk", flat=True))
        may = {r.pk for r in pending if not selectors.review_refusals(request=r, user=user)}
        assert queue == may, name


def test_a_last_committer_does_not_see_the_request_in_the_queue(world, client):
    rosa = world.u("rosa")
    rosa.email = "rosa@acme.example"
    rosa.save()
    req = _request(world, "2")
    assert req.pk in selectors.review_queue(user=rosa).values_list("pk", flat=True)
    _repository(world, ("Rosa Diaz", "ROSA@acme.example"), ("Ada", "ada@acme.example"))

    assert req.pk not in selectors.review_queue(user=rosa).values_list("pk", flat=True)
    assert "you are among the code's last committers (ROSA@acme.example)" in selectors.review_refusals(
        request=req, user=rosa
    )
    with pytest.raises(PermissionDenied, match="last committers"):
        services.promotion_approve(request=req, reviewer=rosa, comment="mine")
    client.force_login(rosa)
    queue_page = client.get("/promotions/").content.decode()
    assert f'data-request="{req.pk}"' not in queue_page
    detail = client.get(f"/promotions/{req.pk}/").content.decode()
    assert 'data-testid="why-not"' in detail
    assert "you are among the code&#x27;s last committers (ROSA@acme.example)" in detail
    # rui did not commit: his queue still has it.
    assert req.pk in selectors.review_queue(user=world.u("rui")).values_list("pk", flat=True)
    _consistent(world)


def test_the_committers_rule_is_only_strict_independence(world):
    rosa = world.u("rosa")
    _repository(world, ("rosa", "rosa.diaz@elsewhere.example"))  # matched by name: the username
    PromotionPolicy.objects.create(
        name="staging", target="staging", approvals_required=1, independence="author", metric_gate=""
    )
    strict, author_only = _request(world, "2"), _request(world, "2", target="staging")
    queue = set(selectors.review_queue(user=rosa).values_list("pk", flat=True))
    assert strict.pk not in queue
    assert author_only.pk in queue
    _consistent(world)


def test_the_run_author_is_matched_as_approval_matches_it(world):
    run = world.runs["3"]
    run.user = " Rosa "  # MLflow's user, in another case and with spaces
    run.save()
    req = _request(world, "3")
    assert "you are the author of the source run ( Rosa )" in selectors.review_refusals(
        request=req, user=world.u("rosa")
    )
    assert req.pk not in selectors.review_queue(user=world.u("rosa")).values_list("pk", flat=True)
    _consistent(world)


def test_the_queue_and_the_refusals_agree_for_everyone(world):
    _repository(world, ("Raj Patel", "raj@example.com"))
    world.u("raj").email = "raj@example.com"
    world.u("raj").save()
    for version in ("1", "2", "3", "4"):
        _request(world, version)
    reviewed = PromotionRequest.objects.order_by("pk").first()
    services.promotion_reject(request=reviewed, reviewer=world.u("rui"), comment="no")
    _consistent(world)


def test_the_queue_reads_the_repositories_in_one_query(world, django_assert_num_queries):
    rosa = world.u("rosa")
    _request(world, "2")
    _repository(world, ("someone", "someone@example.com"))
    selectors.review_queue(user=rosa).count()  # warm the user's groups and roles
    with django_assert_num_queries(2):  # the repositories of projects with pending strict requests; the queue
        assert selectors.review_queue(user=rosa).count() == 1
