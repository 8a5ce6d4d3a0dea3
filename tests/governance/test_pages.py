"""The reviewers' pages, rendered by the Django test client."""

from __future__ import annotations

import csv
import io

import pytest
from django.utils import timezone

from mlgov.audit.models import AuditEvent
from mlgov.governance import services
from mlgov.governance.models import DriftFinding, PromotionRequest
from tests import factories

pytestmark = pytest.mark.django_db


def logged_in(client, user):
    client.force_login(user)
    return client


def _request(world, version="2", who="requester"):
    return services.promotion_request_create(
        actor=world.u(who), version=world.v(version), target="production", justification="Better recall."
    )


def test_the_review_queue_shows_what_i_can_act_on_and_exports_csv(client, world):
    mine = _request(world)
    other = _request(world, "3")
    page = logged_in(client, world.u("rui")).get("/promotions/")
    html = page.content.decode()
    assert page.status_code == 200
    assert f'data-request="{mine.pk}"' in html
    assert f'data-request="{other.pk}"' in html
    assert logged_in(client, world.u("outsider")).get("/promotions/").content.decode().count("data-request=") == 0
    author_queue = logged_in(client, world.u("author")).get("/promotions/").content.decode()
    assert f'data-request="{other.pk}"' in author_queue
    assert f'data-request="{mine.pk}"' not in author_queue  # alice trained v2
    requester = logged_in(client, world.u("requester")).get("/promotions/")  # not a reviewer: my requests
    assert "My requests" in requester.content.decode()
    assert requester.content.decode().count("data-request=") == 2
    filtered = logged_in(client, world.u("rui")).get("/promotions/?view=all&state=pending&q=better&team=fraud")
    assert filtered.content.decode().count("data-request=") == 2
    exported = logged_in(client, world.u("rui")).get("/promotions/?view=all&export=csv")
    rows = list(csv.reader(io.StringIO(b"".join(exported.streaming_content).decode())))
    assert rows[0][:5] == ["id", "model", "version", "target", "state"]
    assert sorted(r[0] for r in rows[1:]) == sorted([str(mine.pk), str(other.pk)])


def test_the_queue_page_costs_a_fixed_number_of_queries(client, world, django_assert_max_num_queries):
    logged_in(client, world.u("rui"))
    _request(world)
    client.get("/promotions/")
    with django_assert_max_num_queries(12) as few:
        client.get("/promotions/?view=all")
    few_n = len(few.captured_queries)
    for n in range(5, 25):
        v = factories.ModelVersionFactory(model=world.model, version=str(n))
        PromotionRequest.objects.create(
            model=world.model,
            version=v,
            target="production",
            policy=world.policy,
            requested_by=world.u("requester"),
            justification="x",
        )
    with django_assert_max_num_queries(few_n):
        assert client.get("/promotions/?view=all").content.decode().count("data-request=") == 21


def test_the_request_page_shows_gates_metrics_lineage_and_history(client, world):
    from mlgov.inventory.models import ModelAlias

    ModelAlias.objects.create(model=world.model, alias="production", version=world.v("1"))
    req = _request(world)
    services.promotion_approve(request=req, reviewer=world.u("rui"), comment="AUC up")
    html = logged_in(client, world.u("rosa")).get(f"/promotions/{req.pk}/").content.decode()
    assert "fraud-gbm v2 → production" in html
    assert 'data-gate="metric_gate"' in html
    assert "metrics.auc &gt;= 0.85 and metrics.latency_p95_ms &lt; 50 holds" in html
    assert "train #" in html  # the CI run that passed the green-CI gate
    assert "v1 (production now)" in html  # the candidate beside the current holder
    assert "0.88" in html
    assert "0.91" in html
    assert "txns-2" in html  # the dataset
    assert "not assessed" in html  # maturity level
    assert "promotion.reviewed" in html  # the history
    assert "AUC up" in html
    assert ">Approve</button>" in html
    # A reviewer outside the approver team is told why not.
    html = logged_in(client, world.u("outsider")).get(f"/promotions/{req.pk}/").content.decode()
    assert 'data-testid="why-not"' in html
    assert "this policy&#x27;s approvers are the members of Model risk" in html
    assert ">Approve</button>" not in html


def test_approving_from_the_page_and_refusals_as_messages(client, world, django_capture_on_commit_callbacks):
    req = _request(world)
    response = logged_in(client, world.u("outsider")).post(
        f"/promotions/{req.pk}/approve/", {"comment": "x"}, follow=True
    )
    assert "You may not approve this request" in response.content.decode()
    logged_in(client, world.u("rui")).post(f"/promotions/{req.pk}/approve/", {"comment": "one"})
    with django_capture_on_commit_callbacks(execute=True):
        response = logged_in(client, world.u("rosa")).post(
            f"/promotions/{req.pk}/approve/", {"comment": "two"}, follow=True
        )
    assert "Approved." in response.content.decode()
    req.refresh_from_db()
    assert req.approvals == 2
    assert req.state == "failed"  # no MLflow connection for mlflow:test: the error is on the page
    html = logged_in(client, world.u("requester")).get(f"/promotions/{req.pk}/").content.decode()
    assert "The MLflow connection" in html
    assert "Retry applying" in html
    assert logged_in(client, world.u("rui")).get(f"/promotions/{req.pk}/nope/").status_code == 405
    response = logged_in(client, world.u("rui")).post(f"/promotions/{req.pk}/nope/", follow=True)
    assert "Unknown action" in response.content.decode()


def test_the_new_request_page(client, world):
    logged_in(client, world.u("requester"))
    page = client.get(f"/promotions/new/?model={world.model.pk}")
    assert page.status_code == 200
    assert '<option value="production"' in page.content.decode()
    response = client.post(
        "/promotions/new/",
        {"model": world.model.pk, "version": world.v("2").pk, "target": "production", "justification": "go"},
    )
    req = PromotionRequest.objects.get()
    assert response["Location"] == f"/promotions/{req.pk}/"
    response = client.post(
        "/promotions/new/",
        {"model": world.model.pk, "version": world.v("1").pk, "target": "champion", "justification": "go"},
    )
    assert "No promotion policy governs" in response.content.decode()


def test_the_dashboard_drift_list_model_page_and_policies(client, world):
    req = _request(world)
    finding = DriftFinding.objects.create(
        model=world.model,
        alias="production",
        observed_version=world.v("4"),
        observed_number="4",
        detected_at=timezone.now(),
    )
    logged_in(client, world.u("manager"))
    dashboard = client.get("/governance/").content.decode()
    assert "Aliases moved outside mlgov" in dashboard
    assert "none (never promoted)" in dashboard
    drift = client.get("/governance/drift/").content.decode()
    assert f"<td>{finding.pk}</td>" in drift
    assert "Accept</button>" in drift
    exported = client.get("/governance/drift/?export=csv")
    rows = list(csv.reader(io.StringIO(b"".join(exported.streaming_content).decode())))
    assert rows[1][1:4] == ["fraud-gbm", "production", "4"]
    response = client.post(f"/governance/drift/{finding.pk}/accept/", {"note": "adopting"}, follow=True)
    assert "Accepted: v4 is the approved production" in response.content.decode()
    model_page = client.get(f"/models/{world.model.pk}/").content.decode()
    assert "Governance" in model_page
    assert f"/promotions/{req.pk}/" in model_page
    assert "accepted" in model_page.lower()  # the alias history entry
    policies = client.get("/governance/policies/").content.decode()
    assert "tier1-production" in policies
    exported = client.get("/governance/policies/?export=csv")
    rows = list(csv.reader(io.StringIO(b"".join(exported.streaming_content).decode())))
    assert rows[1][:2] == ["tier1-production", "production"]
    assert rows[1][6] == "metric_gate green_ci dataset_lineage no_regression"


def test_pages_need_a_login(client, world):
    for path in ("/promotions/", "/governance/", "/governance/drift/", "/governance/policies/", "/promotions/new/"):
        assert client.get(path)["Location"].startswith("/login/")


def _denials():
    return list(AuditEvent.objects.filter(action="security.permission_denied").order_by("seq"))


def test_refused_page_actions_are_recorded_as_security_events(client, world):
    req = _request(world)
    finding = DriftFinding.objects.create(
        model=world.model,
        alias="production",
        observed_version=world.v("4"),
        observed_number="4",
        detected_at=timezone.now(),
    )
    response = logged_in(client, world.u("outsider")).post(f"/promotions/{req.pk}/approve/", {"comment": "x"})
    assert response.status_code == 302
    response = logged_in(client, world.u("plain")).post(f"/governance/drift/{finding.pk}/accept/", {"note": "mine"})
    assert response["Location"] == "/governance/drift/"
    # A refusal that is not about permission (a missing comment) is not a security event.
    logged_in(client, world.u("rui")).post(f"/promotions/{req.pk}/reject/", {"comment": ""})
    approve, accept = _denials()
    assert approve.actor_name == "olga"
    assert approve.target_repr == f"/promotions/{req.pk}/approve/"
    assert approve.after["view"] == "promotion-action"
    assert approve.after["method"] == "POST"
    assert approve.after["reason"].startswith("You may not approve this request")
    assert accept.actor_name == "paul"
    assert accept.after == {
        **accept.after,
        "view": "drift-accept",
        "reason": "Only managers may accept a drift finding.",
    }
    finding.refresh_from_db()
    assert finding.status == "open"
    req.refresh_from_db()
    assert (req.state, req.approvals) == ("pending", 0)
