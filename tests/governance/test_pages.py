"""The reviewers' pages, rendered by the Django test client."""

from __future__ import annotations

import csv
import io

import pytest
from django.utils import timezone

from mlgov.audit.models import AuditEvent
from mlgov.governance import services
from mlgov.governance.models import PromotionRequest
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


def _record_lineage(world, n: str) -> None:
    """The lineage a sync records for version `n`: dataset -> run <- commit, commit -> CI run -> run -> version."""
    from mlgov.inventory.lineage_services import EdgeSpec, commit_node, lineage_edges_record, object_node
    from mlgov.inventory.models import PipelineRun

    version, run = world.v(n), world.runs[n]
    commit = commit_node(version.git_commit)
    ci = object_node(PipelineRun.objects.get(commit_sha=version.git_commit))
    lineage_edges_record(
        actor="sync:test",
        edges=[
            EdgeSpec(object_node(run), object_node(version), "produced_by"),
            EdgeSpec(object_node(run.inputs.get().dataset), object_node(run), "consumed"),
            EdgeSpec(commit, object_node(run), "from_commit"),
            EdgeSpec(commit, ci, "built"),
            EdgeSpec(ci, object_node(run), "executed"),
        ],
    )


def test_the_request_page_shows_gates_metrics_lineage_and_history(client, world):
    from assessments.selectors import project_maturity_level
    from assessments.services import projects_score
    from mlgov.inventory.models import ModelAlias
    from tests.assessments.builders import full_evidence

    ModelAlias.objects.create(model=world.model, alias="production", version=world.v("1"))
    _record_lineage(world, "2")
    full_evidence(world.model.project)  # the rest of what a mature project has: repository, pipelines, CI
    projects_score(actor="cli", trigger="cli", project_ids=[world.model.project_id])
    level = project_maturity_level(project_id=world.model.project_id)
    assert level is not None
    assert level >= 1
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
    commit = world.v("2").git_commit
    assert f"<dt>Commit</dt><dd><code>{commit[:13]}…</code></dd>" in html  # v2's commit, not v1's
    assert f"<dt>Maturity level</dt><dd>level {level} ·" in html  # the project's scored level
    # The lineage summary card: v2's upstream, with its dataset, commit and CI run linked.
    card = html[html.index('data-testid="lineage-summary-card"') :]
    card = card[: card.index("</section>")]
    assert "1 commit, 1 dataset, 1 pipelinerun, 1 trainingrun upstream" in card
    assert f"<code>{commit[:12]}</code>" in card
    dataset = world.runs["2"].inputs.get().dataset
    assert f'<a href="/datasets/{dataset.pk}/">' in card
    assert "No CI run is linked" not in card
    assert f'href="/model-versions/{world.v("2").pk}/#lineage-heading"' in card
    assert "promotion.reviewed" in html  # the history
    assert "AUC up" in html
    assert ">Approve</button>" in html
    # A reviewer outside the approver team is told why not.
    html = logged_in(client, world.u("outsider")).get(f"/promotions/{req.pk}/").content.decode()
    assert 'data-testid="why-not"' in html
    assert "this policy&#x27;s approvers are the members of Model risk" in html
    assert ">Approve</button>" not in html


def test_a_version_without_lineage_says_so_on_the_request_page(client, world):
    html = logged_in(client, world.u("rui")).get(f"/promotions/{_request(world, '3').pk}/").content.decode()
    assert 'data-testid="lineage-summary-card"' in html
    assert "No lineage is recorded for this version" in html
    assert "<dt>Maturity level</dt><dd>not assessed" in html


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
    finding = world.drift()
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
    finding = world.drift()
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


def _post(client, user, req, verb, data=None, **kwargs):
    return logged_in(client, user).post(f"/promotions/{req.pk}/{verb}/", data or {}, follow=True, **kwargs)


def test_rejecting_from_the_page_needs_a_comment(client, world):
    req = _request(world)
    page = logged_in(client, world.u("rui")).get(f"/promotions/{req.pk}/").content.decode()
    assert ">Reject</button>" in page
    html = _post(client, world.u("rui"), req, "reject", {"comment": "  "}).content.decode()
    assert "A comment is required." in html
    req.refresh_from_db()
    assert req.state == "pending"
    assert not AuditEvent.objects.filter(action="promotion.rejected").exists()
    html = _post(
        client, world.u("rui"), req, "reject", {"comment": "Latency regressed on the holdout."}
    ).content.decode()
    assert "Rejected." in html
    assert "This request is rejected" in html
    assert "Latency regressed on the holdout." in html  # the review, listed on the page
    req.refresh_from_db()
    assert req.state == "rejected"
    event = AuditEvent.objects.get(action="promotion.rejected")
    assert (event.actor_name, event.after["comment"]) == ("rui", "Latency regressed on the holdout.")
    # Final: a second reviewer cannot approve it any more.
    html = _post(client, world.u("rosa"), req, "approve", {"comment": "x"}).content.decode()
    assert "rejected" in html.lower()
    assert PromotionRequest.objects.get(pk=req.pk).approvals == 0


def test_cancelling_from_the_page(client, world):
    req = _request(world)
    # A reviewer may not cancel someone else's request: no button, and the action is refused.
    assert "Cancel the request" not in logged_in(client, world.u("rui")).get(f"/promotions/{req.pk}/").content.decode()
    html = _post(client, world.u("rui"), req, "cancel").content.decode()
    assert "Only the requester, the team&#x27;s maintainers or an admin may cancel" in html
    assert PromotionRequest.objects.get(pk=req.pk).state == "pending"
    page = logged_in(client, world.u("requester")).get(f"/promotions/{req.pk}/").content.decode()
    assert "Cancel the request</button>" in page
    html = _post(client, world.u("requester"), req, "cancel", {"comment": "Superseded by v3."}).content.decode()
    assert "Cancelled." in html
    assert "This request is cancelled" in html
    assert "Cancel the request</button>" not in html
    event = AuditEvent.objects.get(action="promotion.cancelled")
    assert (event.actor_name, event.before, event.after) == (
        "fatima",
        {"state": "pending"},
        {"state": "cancelled", "reason": "Superseded by v3."},
    )


def test_retrying_a_failed_apply_from_the_page(client, world, django_capture_on_commit_callbacks):
    req = _request(world)
    services.promotion_approve(request=req, reviewer=world.u("rui"), comment="one")
    with django_capture_on_commit_callbacks(execute=True):
        services.promotion_approve(request=req, reviewer=world.u("rosa"), comment="two")
    req.refresh_from_db()
    assert (req.state, req.attempts) == ("failed", 1)  # no MLflow connection is configured for mlflow:test
    # Only the requester, the team's maintainers, managers and admins may retry.
    assert "Retry applying" not in logged_in(client, world.u("rui")).get(f"/promotions/{req.pk}/").content.decode()
    html = _post(client, world.u("rui"), req, "retry").content.decode()
    assert "may retry" in html
    assert PromotionRequest.objects.get(pk=req.pk).attempts == 1
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        html = _post(client, world.u("maintainer"), req, "retry").content.decode()
    assert callbacks  # the apply task was queued on commit
    assert "Queued to be applied again." in html
    req.refresh_from_db()
    assert (req.state, req.attempts, req.approvals) == ("failed", 2, 2)  # applied again, failed again; approvals stand
    assert "The MLflow connection" in req.error
    retried = AuditEvent.objects.get(action="promotion.retried")
    assert (retried.actor_name, retried.before["state"], retried.after) == ("femi", "failed", {"state": "approved"})
    assert AuditEvent.objects.filter(action="promotion.failed", target_id=str(req.pk)).count() == 2


def test_a_manager_waives_a_failing_gate_from_the_page(client, world):
    req = _request(world, "4")  # v4: AUC 0.70, red CI, no datasets
    page = logged_in(client, world.u("rui")).get(f"/promotions/{req.pk}/").content.decode()
    assert 'aria-label="Waive a gate"' not in page  # reviewers may not waive
    assert 'disabled title="Failing gates block approval"' in page
    page = logged_in(client, world.u("manager")).get(f"/promotions/{req.pk}/").content.decode()
    assert 'aria-label="Waive a gate"' in page
    assert '<option value="green_ci">' in page
    html = _post(client, world.u("manager"), req, "waive", {"gate": "green_ci", "comment": ""}).content.decode()
    assert "A reason is required." in html
    html = _post(
        client,
        world.u("manager"),
        req,
        "waive",
        {"gate": "green_ci", "comment": "CI flake on a docs job; rerun green."},
    ).content.decode()
    assert "Gate waived." in html
    assert "waived by maya: CI flake on a docs job; rerun green." in html  # the gate shows the waiver
    assert "<strong>maya</strong> waived" in html  # and the reviews list it
    waiver = req.waivers.get()
    assert (waiver.gate, waiver.granted_by, waiver.reason) == (
        "green_ci",
        world.u("manager"),
        "CI flake on a docs job; rerun green.",
    )
    event = AuditEvent.objects.get(action="promotion.gate_waived")
    assert event.after["gate"] == "green_ci"
    # A passing gate cannot be waived, and the metric gate still blocks approval.
    html = _post(client, world.u("manager"), req, "waive", {"gate": "green_ci", "comment": "again"}).content.decode()
    assert "already waived" in html
    html = _post(client, world.u("rui"), req, "approve", {"comment": "ok"}).content.decode()
    assert "gate" in html.lower()
    assert PromotionRequest.objects.get(pk=req.pk).approvals == 0


def test_the_rollback_shortcut_requests_the_previous_holder(client, world):
    from mlgov.governance.models import AliasChange

    # v2 was applied over v1, as the apply task leaves it (applying needs MLflow; see test_mlflow_e2e.py).
    applied = _request(world)
    now = timezone.now()
    PromotionRequest.objects.filter(pk=applied.pk).update(
        state="applied",
        applied_at=now,
        decided_at=now,
        previous_version=world.v("1"),
        previous_version_number="1",
        previous_recorded=True,
    )
    AliasChange.objects.create(
        model=world.model,
        alias="production",
        version=world.v("2"),
        version_number="2",
        previous_number="1",
        source="promotion",
        request=applied,
        started_at=now,
    )
    page = logged_in(client, world.u("requester")).get(f"/promotions/{applied.pk}/").content.decode()
    assert "Roll back to v1</button>" in page
    html = _post(client, world.u("requester"), applied, "rollback", {"comment": ""}).content.decode()
    assert "Rollback requested: it goes through review like any promotion." in html
    rollback = PromotionRequest.objects.exclude(pk=applied.pk).get()
    assert (rollback.version, rollback.target, rollback.state, rollback.rollback_of) == (
        world.v("1"),
        "production",
        "pending",
        PromotionRequest.objects.get(pk=applied.pk),
    )
    assert rollback.justification == f"Roll back #{applied.pk}: return production to v1."
    assert f'rollback of <a href="/promotions/{applied.pk}/">#{applied.pk}</a>' in html  # the new request's page
    assert "fraud-gbm v1 → production" in html
    # A request that never applied has nothing to roll back.
    pending = _request(world, "3")
    assert "Roll back" not in logged_in(client, world.u("requester")).get(f"/promotions/{pending.pk}/").content.decode()
    html = _post(client, world.u("requester"), pending, "rollback").content.decode()
    assert "Only an applied promotion can be rolled back." in html
