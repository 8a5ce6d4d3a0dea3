"""The promotion API, including every bad input the issue names, against the real services and database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from mlgov.audit.models import AuditEvent
from mlgov.governance.models import AliasChange, GateWaiver, PromotionPolicy, PromotionRequest, Review
from tests import factories

pytestmark = pytest.mark.django_db

PROMOTIONS = "/api/v1/promotions"


@pytest.fixture
def as_(api_client_for, world):
    clients = {}

    def client(name: str, scope: str = "write"):
        key = (name, scope)
        if key not in clients:
            clients[key] = api_client_for(world.u(name), scope=scope)
        return clients[key]

    return client


def create(as_, world, version="2", who="requester", target="production", justification="Better AUC on November data."):
    return as_(who).post(
        PROMOTIONS, {"model_version": world.v(version).pk, "target": target, "justification": justification}
    )


def error(response) -> dict:
    return response.json()["error"]


# --- policies ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("metrics.auc >= ", "Invalid gate expression: column 15: expected a number, a string or a name"),
        ("metrics.auc >= 0.85 and", "Invalid gate expression: column 24: expected a number"),
        ("metrics.auc = 0.85", "Invalid gate expression: column 13: '=' is not an operator; compare with '=='"),
        ("auc >= 0.85", "Invalid gate expression: column 1: unknown name 'auc': names are metrics.<name> or params"),
        ("metrics.auc >= 0.8 and foo.bar < 1", "unknown name 'foo.bar'"),
        ("__import__('os').system('id')", "unknown name '__import__'"),
    ],
)
def test_a_policy_with_a_bad_gate_expression_is_a_400_naming_the_problem(as_, world, expression, message):
    response = as_("admin").post(
        "/api/v1/promotion-policies", {"name": "bad", "target": "staging", "metric_gate": expression}
    )
    assert response.status_code == 400, response.content
    body = error(response)
    assert body["code"] == "invalid"
    assert message in body["details"]["metric_gate"][0]
    assert not PromotionPolicy.objects.filter(name="bad").exists()
    # The same check guards updates.
    response = as_("admin").patch(f"/api/v1/promotion-policies/{world.policy.name}", {"metric_gate": expression})
    assert response.status_code == 400
    assert message in error(response)["details"]["metric_gate"][0]


def test_policies_are_written_by_admins_and_audited(as_, world):
    body = {
        "name": "staging",
        "target": "staging",
        "approvals_required": 1,
        "independence": "requester",
        "metric_gate": "metrics.auc >= 0.8",
        "no_regression": {"auc": "higher"},
    }
    assert as_("rui").post("/api/v1/promotion-policies", body).status_code == 403
    response = as_("admin").post("/api/v1/promotion-policies", body)
    assert response.status_code == 201, response.content
    assert response.json()["gates"] == ["metric_gate", "no_regression"]
    assert AuditEvent.objects.filter(action="promotionpolicy.created", target_repr="staging").count() == 1
    # A second enabled policy with the same target and scope is a conflict.
    response = as_("admin").post("/api/v1/promotion-policies", {**body, "name": "staging-2"})
    assert (response.status_code, error(response)["code"]) == (409, "duplicate")
    response = as_("admin").post("/api/v1/promotion-policies", {**body, "name": "x", "no_regression": {"auc": "up"}})
    assert response.status_code == 400
    assert "no_regression" in error(response)["details"]
    response = as_("admin").post("/api/v1/promotion-policies", {**body, "name": "y", "target": "latest"})
    assert response.status_code == 400
    assert "reserves" in error(response)["details"]["target"][0]
    # Everyone reads, with allow-listed filters only.
    listed = as_("plain").get("/api/v1/promotion-policies?target=staging").json()["results"]
    assert [p["name"] for p in listed] == ["staging"]
    assert as_("plain").get("/api/v1/promotion-policies?tagret=staging").status_code == 400


def test_a_policy_that_governed_requests_cannot_be_deleted_only_disabled(as_, world):
    assert create(as_, world).status_code == 201
    response = as_("admin").delete(f"/api/v1/promotion-policies/{world.policy.name}")
    assert (response.status_code, error(response)["code"]) == (409, "policy_in_use")
    response = as_("admin").patch(f"/api/v1/promotion-policies/{world.policy.name}", {"enabled": False})
    assert response.status_code == 200
    assert AuditEvent.objects.filter(action="promotionpolicy.updated").count() == 1


# --- requests ---------------------------------------------------------------------------------------------


def test_a_team_member_requests_a_promotion_and_the_gates_are_shown(as_, world):
    response = create(as_, world)
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["state"], body["target"], body["version"], body["policy"]) == (
        "pending",
        "production",
        "2",
        "tier1-production",
    )
    assert (body["approvals"], body["approvals_required"], body["gates_passed"]) == (0, 2, True)
    assert [(g["gate"], g["status"]) for g in body["gates"]] == [
        ("metric_gate", "pass"),
        ("green_ci", "pass"),
        ("dataset_lineage", "pass"),
        ("no_regression", "pass"),
    ]
    assert body["expires_at"] is not None
    event = AuditEvent.objects.get(action="promotion.requested")
    assert (event.actor_name, event.target_id, event.after["version"]) == ("fatima", str(body["id"]), "2")


def test_a_request_with_failing_gates_is_created_but_cannot_be_approved(as_, world):
    response = create(as_, world, version="4")
    assert response.status_code == 201
    body = response.json()
    assert body["gates_passed"] is False
    failing = {g["gate"]: g["reason"] for g in body["gates"] if g["status"] == "fail"}
    assert set(failing) == {"metric_gate", "green_ci", "dataset_lineage"}
    assert "metrics.auc >= 0.85 is false (metrics.auc = 0.7)" in failing["metric_gate"]
    response = as_("rui").post(f"{PROMOTIONS}/{body['id']}/approve", {"comment": "ok"})
    assert (response.status_code, error(response)["code"]) == (409, "gates_failing")
    assert {g["gate"] for g in error(response)["details"]["gates"]} == set(failing)
    assert not Review.objects.exists()


def test_a_managers_waiver_overrides_a_named_gate_and_is_recorded(as_, world):
    req = create(as_, world, version="4").json()
    url = f"{PROMOTIONS}/{req['id']}"
    # Only managers; never the requester; only a gate the policy sets and that fails.
    assert as_("rui").post(f"{url}/waive", {"gate": "green_ci", "reason": "hotfix"}).status_code == 403
    response = as_("manager").post(f"{url}/waive", {"gate": "maturity", "reason": "x"})
    assert (response.status_code, error(response)["code"]) == (400, "unknown_gate")
    response = as_("manager").post(f"{url}/waive", {"gate": "no_regression", "reason": "x"})
    assert (response.status_code, error(response)["code"]) == (409, "gate_passes")
    for gate in ("metric_gate", "green_ci", "dataset_lineage"):
        response = as_("manager").post(f"{url}/waive", {"gate": gate, "reason": f"incident 42: {gate}"})
        assert response.status_code == 200, response.content
    response = as_("manager").post(f"{url}/waive", {"gate": "green_ci", "reason": "again"})
    assert (response.status_code, error(response)["code"]) == (409, "already_waived")
    body = as_("rui").get(url).json()
    assert body["gates_passed"] is True
    assert {w["gate"]: w["granted_by"] for w in body["waivers"]} == dict.fromkeys(
        ("metric_gate", "green_ci", "dataset_lineage"), "maya"
    )
    assert {g["gate"]: g["status"] for g in body["gates"]}["green_ci"] == "waived"
    assert AuditEvent.objects.filter(action="promotion.gate_waived").count() == 3
    assert as_("rui").post(f"{url}/approve", {"comment": "waived by risk"}).status_code == 200


def test_a_promotion_to_a_target_with_no_policy_is_refused(as_, world):
    response = create(as_, world, target="champion")
    assert response.status_code == 400
    body = error(response)
    assert body["code"] == "no_policy"
    assert "No promotion policy governs 'champion' for fraud-gbm" in body["message"]
    assert body["details"] == {"target": "champion", "known_targets": ["production"]}
    assert not PromotionRequest.objects.exists()
    # ... and a disabled policy governs nothing.
    PromotionPolicy.objects.update(enabled=False)
    assert error(create(as_, world))["code"] == "no_policy"


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"model_version": 999999, "target": "production", "justification": "x"}, 400, "model_version"),
        ({"target": "production", "justification": "x"}, 400, "model_version"),
        ({"model_version": 1, "target": "production"}, 400, "justification"),
        ({"model_version": 1, "target": "production", "justification": "   "}, 400, "justification"),
        ({"model_version": 1, "target": "prod uction", "justification": "x"}, 400, "target"),
        ({"model_version": 1, "target": "v3", "justification": "x"}, 400, "target"),
        ({"model_version": 1, "target": "production", "justification": "bad\x00text"}, 400, "justification"),
    ],
)
def test_bad_request_bodies_are_400s_naming_the_field(as_, world, body, status, field):
    if body.get("model_version") == 1:
        body["model_version"] = world.v("2").pk
    response = as_("requester").post(PROMOTIONS, body)
    assert response.status_code == status, response.content
    assert field in error(response)["details"]


def test_who_may_request(as_, world):
    assert create(as_, world, who="plain").status_code == 403  # not in the team
    assert create(as_, world, who="rui").status_code == 403
    assert create(as_, world, who="ci", version="3").status_code == 201  # CI requests after training
    assert create(as_, world, who="admin", version="1").status_code == 201
    unassigned = factories.ModelVersionFactory(model__project=None)
    response = as_("admin").post(
        PROMOTIONS, {"model_version": unassigned.pk, "target": "production", "justification": "x"}
    )
    assert (response.status_code, error(response)["code"]) == (400, "unassigned")


def test_a_double_submit_creates_one_request(as_, world):
    first = create(as_, world)
    second = create(as_, world)
    assert first.status_code == 201
    assert (second.status_code, error(second)["code"]) == (409, "duplicate")
    assert error(second)["details"] == {"request": first.json()["id"]}
    assert PromotionRequest.objects.count() == 1


# --- approvals: the bad cases -------------------------------------------------------------------------------


def test_self_approval_is_refused(as_, world):
    world.u("requester").groups.add(*world.u("rui").groups.all())  # the requester is a reviewer too
    factories.MembershipFactory(team=world.risk_team, user=world.u("requester"))
    req = create(as_, world).json()
    response = as_("requester").post(f"{PROMOTIONS}/{req['id']}/approve", {"comment": "lgtm"})
    assert response.status_code == 403
    body = error(response)
    assert body["code"] == "not_eligible"
    assert body["details"]["reasons"] == ["you requested this promotion (no self-approval)"]
    assert AuditEvent.objects.filter(action="security.permission_denied").count() == 1
    assert not Review.objects.exists()


def test_the_run_authors_service_token_cannot_approve(as_, world):
    """v3 was trained by the CI service account ci-bot (mlflow.user); its token, even in the reviewers
    group and the approver team, may not approve."""
    factories.MembershipFactory(team=world.risk_team, user=world.u("ci"))
    req = create(as_, world, version="3").json()
    response = as_("ci").post(f"{PROMOTIONS}/{req['id']}/approve", {})
    assert response.status_code == 403
    reasons = error(response)["details"]["reasons"]
    assert "you are the author of the source run (ci-bot)" in reasons
    assert "service accounts may not approve promotions" in reasons
    # A person who authored the run is refused for that reason alone.
    req2 = create(as_, world, version="2").json()
    response = as_("author").post(f"{PROMOTIONS}/{req2['id']}/approve", {})
    assert error(response)["details"]["reasons"] == ["you are the author of the source run (alice)"]


def test_a_reviewer_from_the_wrong_group_is_refused(as_, world):
    req = create(as_, world).json()
    response = as_("outsider").post(f"{PROMOTIONS}/{req['id']}/approve", {})
    assert response.status_code == 403
    assert error(response)["details"]["reasons"] == ["this policy's approvers are the members of Model risk"]
    response = as_("plain").post(f"{PROMOTIONS}/{req['id']}/approve", {})
    assert error(response)["details"]["reasons"] == [
        "only members of the reviewers group may approve",
        "this policy's approvers are the members of Model risk",
    ]


def test_the_last_committers_may_not_approve_under_strict_independence(as_, world):
    from integrations.models import GitRepository

    GitRepository.objects.create(
        name="card-fraud",
        url="https://git.example.com/card-fraud.git",
        project=world.model.project,
        activity={"committers": [{"name": "Raj Patel", "email": "raj@example.com", "commits": 12}]},
    )
    req = create(as_, world).json()
    response = as_("raj").post(f"{PROMOTIONS}/{req['id']}/approve", {})
    assert error(response)["details"]["reasons"] == ["you are among the code's last committers (raj@example.com)"]


def test_approving_twice_is_refused(as_, world):
    req = create(as_, world).json()
    assert as_("rui").post(f"{PROMOTIONS}/{req['id']}/approve", {"comment": "one"}).status_code == 200
    response = as_("rui").post(f"{PROMOTIONS}/{req['id']}/approve", {"comment": "two"})
    assert (response.status_code, error(response)["code"]) == (409, "already_reviewed")
    body = as_("rui").get(f"{PROMOTIONS}/{req['id']}").json()
    assert (body["state"], body["approvals"]) == ("pending", 1)
    assert [r["comment"] for r in body["reviews"]] == ["one"]


def test_approving_an_expired_request_is_refused_and_the_expiry_is_kept(as_, world):
    req = create(as_, world).json()
    PromotionRequest.objects.filter(pk=req["id"]).update(expires_at=timezone.now() - timedelta(minutes=1))
    response = as_("rui").post(f"{PROMOTIONS}/{req['id']}/approve", {})
    assert (response.status_code, error(response)["code"]) == (409, "invalid_state")
    assert error(response)["message"] == "A request that is expired cannot be approved (it is final)."
    assert PromotionRequest.objects.get(pk=req["id"]).state == "expired"
    assert AuditEvent.objects.filter(action="promotion.expired", target_id=str(req["id"])).count() == 1


def test_approving_a_cancelled_request_is_refused(as_, world):
    req = create(as_, world).json()
    assert as_("rui").post(f"{PROMOTIONS}/{req['id']}/cancel", {}).status_code == 403  # not theirs
    assert as_("requester").post(f"{PROMOTIONS}/{req['id']}/cancel", {"reason": "wrong version"}).status_code == 200
    response = as_("rui").post(f"{PROMOTIONS}/{req['id']}/approve", {})
    assert (response.status_code, error(response)["code"]) == (409, "invalid_state")
    assert error(response)["message"] == "A request that is cancelled cannot be approved (it is final)."
    response = as_("requester").post(f"{PROMOTIONS}/{req['id']}/cancel", {})
    assert (response.status_code, error(response)["code"]) == (409, "invalid_state")
    response = as_("requester").post(f"{PROMOTIONS}/{req['id']}/retry")
    assert response.status_code == 409
    assert "cannot be retried" in error(response)["message"]


def test_a_read_only_token_cannot_approve(as_, world):
    req = create(as_, world).json()
    response = as_("rui", scope="read").post(f"{PROMOTIONS}/{req['id']}/approve", {})
    assert response.status_code == 403
    assert "read-only" in error(response)["message"]


def test_a_rejection_needs_a_comment_and_is_final(as_, world, mailoutbox, django_capture_on_commit_callbacks):
    world.u("requester").email = "fatima@example.com"
    world.u("requester").save()
    req = create(as_, world).json()
    mailoutbox.clear()
    response = as_("rui").post(f"{PROMOTIONS}/{req['id']}/reject", {})
    assert response.status_code == 400
    assert "comment" in error(response)["details"]
    with django_capture_on_commit_callbacks(execute=True):
        response = as_("rui").post(f"{PROMOTIONS}/{req['id']}/reject", {"comment": "No holdout evaluation."})
    assert response.json()["state"] == "rejected"
    assert as_("rosa").post(f"{PROMOTIONS}/{req['id']}/approve", {}).status_code == 409
    (mail,) = mailoutbox
    assert mail.to == ["fatima@example.com"]
    assert "rejected" in mail.body
    assert "No holdout evaluation." in mail.body


def test_two_approvals_approve_and_a_failed_apply_can_be_retried(as_, world, django_capture_on_commit_callbacks):
    """Without an MLflow connection for `mlflow:test` the apply fails with the reason; retry runs it again."""
    req = create(as_, world).json()
    first = as_("rui").post(f"{PROMOTIONS}/{req['id']}/approve", {"comment": "metrics ok"})
    assert (first.json()["state"], first.json()["approvals"]) == ("pending", 1)
    with django_capture_on_commit_callbacks(execute=True):
        second = as_("rosa").post(f"{PROMOTIONS}/{req['id']}/approve", {"comment": "lineage ok"})
    body = as_("rui").get(f"{PROMOTIONS}/{req['id']}").json()
    assert second.status_code == 200
    assert body["state"] == "failed"  # the apply task ran on commit (eager) and could not reach MLflow
    assert "The MLflow connection 'test' that fraud-gbm came from no longer exists" in body["error"]
    assert body["attempts"] == 1
    actions = list(
        AuditEvent.objects.filter(target_type="promotionrequest", target_id=str(req["id"]))
        .order_by("seq")
        .values_list("action", flat=True)
    )
    assert actions == [
        "promotion.requested",
        "promotion.reviewed",
        "promotion.reviewed",
        "promotion.approved",
        "promotion.apply_started",
        "promotion.failed",
    ]
    with django_capture_on_commit_callbacks(execute=True):
        retried = as_("requester").post(f"{PROMOTIONS}/{req['id']}/retry")
    assert retried.status_code == 200
    assert retried.json()["state"] == "approved"  # queued again; the task runs when the request commits
    body = as_("rui").get(f"{PROMOTIONS}/{req['id']}").json()
    assert (body["state"], body["attempts"]) == ("failed", 2)
    assert as_("plain").post(f"{PROMOTIONS}/{req['id']}/retry").status_code == 403


# --- lists, the gate endpoint, alias history --------------------------------------------------------------


def test_the_review_queue_lists_what_i_can_act_on(as_, world):
    mine = create(as_, world).json()["id"]
    authored_by_ci = create(as_, world, version="3").json()["id"]
    as_("rosa").post(f"{PROMOTIONS}/{mine}/approve", {})

    def queue(who):
        return [r["id"] for r in as_(who).get(f"{PROMOTIONS}?actionable=true").json()["results"]]

    assert queue("rui") == [authored_by_ci, mine]
    assert queue("rosa") == [authored_by_ci]  # reviewed the other already
    assert queue("outsider") == []  # not in the approver team
    assert queue("author") == [authored_by_ci]  # authored v2's run
    assert queue("requester") == []  # not a reviewer
    mine_listed = as_("requester").get(f"{PROMOTIONS}?mine=true&state=pending").json()["results"]
    assert {r["id"] for r in mine_listed} == {mine, authored_by_ci}
    assert as_("rui").get(f"{PROMOTIONS}?actionble=true").status_code == 400
    assert as_("rui").get(f"{PROMOTIONS}?state=nope").status_code == 400


def test_the_promotion_list_costs_a_fixed_number_of_queries(as_, world, django_assert_max_num_queries):
    client = as_("rui")
    client.get(PROMOTIONS)  # authenticates once, warming the token's last-used time
    for n in ("1", "2", "3", "4"):
        create(as_, world, version=n)
    with django_assert_max_num_queries(6) as few:
        assert len(client.get(PROMOTIONS).json()["results"]) == 4
    few_n = len(few.captured_queries)
    for n in range(5, 15):
        extra = factories.ModelVersionFactory(model=world.model, version=str(n))
        PromotionRequest.objects.create(
            model=world.model,
            version=extra,
            target="production",
            policy=world.policy,
            requested_by=world.u("requester"),
            justification="x",
        )
    with django_assert_max_num_queries(few_n):
        assert len(client.get(PROMOTIONS).json()["results"]) == 14


def test_the_gate_endpoint_for_cd_pipelines(as_, world):
    gate = f"{PROMOTIONS}/gate"
    model = world.model
    response = as_("ci", scope="read").get(f"{gate}?model={model.pk}&version=2&target=production")
    assert response.status_code == 200
    body = response.json()
    assert body["allowed"] is False
    assert body["reasons"] == ["no promotion of fraud-gbm to production has been applied through mlgov"]
    assert body["policy"] == "tier1-production"
    assert [g["status"] for g in body["gates"]] == ["pass", "pass", "pass", "pass"]

    req = create(as_, world).json()
    body = as_("ci").get(f"{gate}?model={model.name}&version=2&target=production").json()
    assert body["open_request"] == {"id": req["id"], "state": "pending", "approvals": 0, "approvals_required": 2}
    assert f"request #{req['id']} for v2 is pending (0 of 2 approvals)" in body["reasons"]

    # Applied (recorded as the history the apply task writes): allowed.
    PromotionRequest.objects.filter(pk=req["id"]).update(state="applied")
    AliasChange.objects.create(
        model=model,
        alias="production",
        version=world.v("2"),
        version_number="2",
        source="promotion",
        request_id=req["id"],
        started_at=timezone.now(),
    )
    body = as_("ci").get(f"{gate}?model={model.pk}&version=2&target=production").json()
    assert (body["allowed"], body["approved_version"], body["applied_request"]) == (True, "2", req["id"])
    assert body["reasons"] == [f"v2 is the approved production of fraud-gbm (request #{req['id']})"]
    body = as_("ci").get(f"{gate}?model={model.pk}&version=1&target=production").json()
    assert body["allowed"] is False
    assert "the approved production of fraud-gbm is v2, not v1" in body["reasons"]

    body = as_("ci").get(f"{gate}?model={model.pk}&version=2&target=champion").json()
    assert body["allowed"] is False
    assert "no promotion policy governs 'champion' for fraud-gbm: promotions to it are refused" in body["reasons"]

    assert as_("ci").get(f"{gate}?model={model.pk}&version=2").status_code == 400
    assert as_("ci").get(f"{gate}?model={model.pk}&version=2&target=production&x=1").status_code == 400
    assert as_("ci").get(f"{gate}?model=99999&version=2&target=production").status_code == 404
    assert as_("ci").get(f"{gate}?model={model.pk}&version=99&target=production").status_code == 404


def test_the_gate_endpoint_refuses_bad_queries_in_the_error_shape(as_, world):
    gate, ci = f"{PROMOTIONS}/gate", as_("ci", scope="read")
    response = ci.get(f"{gate}?model={world.model.pk}&version=2&target=production&x=1&debug=1")
    assert response.status_code == 400
    assert error(response) == {
        "code": "invalid",
        "message": "The request is invalid.",
        "details": {"unknown_parameters": ["debug", "x"], "allowed_parameters": ["model", "target", "version"]},
    }
    response = ci.get(f"{gate}?model=fraud-gbm&version=2")
    assert (response.status_code, list(error(response)["details"])) == (400, ["target"])
    response = ci.get(f"{gate}?model=no-such-model&version=2&target=production")
    assert (response.status_code, error(response)["message"]) == (404, "No registered model 'no-such-model'.")
    response = ci.get(f"{gate}?model=fraud-gbm&version=99&target=production")
    assert (response.status_code, error(response)["message"]) == (404, "fraud-gbm has no version '99'.")
    # Two live models of one name (from two MLflow servers): the name is ambiguous, the id is not.
    twin = factories.RegisteredModelFactory(name="fraud-gbm", external_source="mlflow:other", external_id="fraud-gbm")
    factories.ModelVersionFactory(model=twin, version="2", external_source="mlflow:other", external_id="fraud-gbm/2")
    response = ci.get(f"{gate}?model=fraud-gbm&version=2&target=production")
    assert response.status_code == 400
    assert error(response)["code"] == "ambiguous"
    assert sorted(error(response)["details"]["model"]) == sorted([world.model.pk, twin.pk])
    body = ci.get(f"{gate}?model={twin.pk}&version=2&target=production").json()
    assert (body["model"], body["version"], body["allowed"]) == ({"id": twin.pk, "name": "fraud-gbm"}, "2", False)
    twin.removed_at = timezone.now()
    twin.save()
    assert ci.get(f"{gate}?model=fraud-gbm&version=2&target=production").json()["model"]["id"] == world.model.pk


def test_alias_history_answers_what_held_the_alias_at_a_time(as_, world):
    model = world.model
    t0 = timezone.now() - timedelta(days=10)
    for days, n, source in ((0, "1", "promotion"), (3, "2", "promotion"), (5, "4", "observed"), (6, "2", "revert")):
        AliasChange.objects.create(
            model=model,
            alias="production",
            version=world.v(n),
            version_number=n,
            source=source,
            started_at=t0 + timedelta(days=days),
        )
    AliasChange.objects.create(
        model=model, alias="staging", version=world.v("3"), version_number="3", source="promotion", started_at=t0
    )
    url = f"/api/v1/models/{model.pk}/alias-history"
    client = as_("plain")
    listed = client.get(f"{url}?alias=production").json()["results"]
    assert [(e["version"], e["source"], e["approved"]) for e in listed] == [
        ("2", "revert", True),
        ("4", "observed", False),
        ("2", "promotion", True),
        ("1", "promotion", True),
    ]

    def at(moment):
        return client.get(url, {"alias": "production", "at": moment.isoformat()}).json()

    assert at(t0 - timedelta(hours=1))["version"] is None
    assert at(t0 + timedelta(days=1))["version"] == "1"
    assert at(t0 + timedelta(days=3))["version"] == "2"
    assert (at(t0 + timedelta(days=5, hours=1))["version"], at(t0 + timedelta(days=5, hours=1))["approved"]) == (
        "4",
        False,
    )
    assert at(t0 + timedelta(days=9))["entry"]["source"] == "revert"
    assert client.get(f"{url}?at={t0.isoformat()}").status_code == 400  # alias is required with at
    assert client.get(f"{url}?alias=production&at=yesterday").status_code == 400
    assert client.get(f"{url}?alias=production&when=now").status_code == 400
    assert client.get("/api/v1/models/999999/alias-history").status_code == 404


def test_drift_findings_api_and_accept(as_, world):

    finding = world.drift(policy=world.policy)
    listed = as_("plain").get("/api/v1/drift-findings?status=open").json()["results"]
    assert [(f["id"], f["observed_number"]) for f in listed] == [(finding.pk, "4")]
    assert as_("rui").post(f"/api/v1/drift-findings/{finding.pk}/accept", {"note": "ok"}).status_code == 403
    response = as_("manager").post(f"/api/v1/drift-findings/{finding.pk}/accept", {"note": "adopted as is"})
    assert response.status_code == 200
    assert response.json()["status"] == "accepted"
    entry = AliasChange.objects.get(finding=finding)
    assert (entry.source, entry.version_number) == ("accepted", "4")
    response = as_("manager").post(f"/api/v1/drift-findings/{finding.pk}/accept", {"note": "again"})
    assert response.status_code == 409


def test_webhook_endpoints_are_admin_only_and_validated(as_, world):
    url = "/api/v1/webhook-endpoints"
    body = {"name": "slack", "url": "https://hooks.example.com/x", "secret_env_var": "SLACK_RELAY_SECRET"}
    assert as_("manager").get(url).status_code == 403
    assert as_("admin").post(url, {**body, "secret_env_var": "s3cr3t value"}).status_code == 400
    assert as_("admin").post(url, {**body, "events": ["promotion.nope"]}).status_code == 400
    assert as_("admin").post(url, {**body, "url": "ftp://x"}).status_code == 400
    response = as_("admin").post(url, {**body, "events": ["promotion.applied", "drift.detected"]})
    assert response.status_code == 201, response.content
    assert AuditEvent.objects.filter(action="webhookendpoint.created").count() == 1
    assert as_("admin").get("/api/v1/outbound-deliveries?status=failed").status_code == 200
    assert GateWaiver.objects.count() == 0


def test_the_schema_documents_the_promotion_endpoints(client, world):
    client.force_login(world.u("plain"))
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    for path in (
        "/api/v1/promotions/",
        "/api/v1/promotions/{id}/approve/",
        "/api/v1/promotions/{id}/reject/",
        "/api/v1/promotions/{id}/cancel/",
        "/api/v1/promotions/{id}/retry/",
        "/api/v1/promotions/gate/",
        "/api/v1/promotion-policies/",
        "/api/v1/models/{id}/alias-history/",
        "/api/v1/drift-findings/",
    ):
        assert path in schema["paths"], sorted(p for p in schema["paths"] if "promot" in p or "alias" in p)


def test_approve_and_gate_cost_a_fixed_number_of_queries(as_, world, django_assert_max_num_queries):
    """However many requests are open and reviews recorded, an approval and a gate answer cost the same."""
    first = create(as_, world, version="2").json()["id"]
    rui, gate = as_("rui"), f"{PROMOTIONS}/gate?model={world.model.pk}&version=2&target=production"
    rui.get(PROMOTIONS)  # the token's last-used time is written once a minute: warm it
    with django_assert_max_num_queries(16) as gate_queries:
        assert rui.get(gate).status_code == 200
    gate_n = len(gate_queries.captured_queries)  # counted now: the connection keeps a bounded query log
    with django_assert_max_num_queries(34) as approve_queries:
        assert rui.post(f"{PROMOTIONS}/{first}/approve", {}).status_code == 200
    approve_n = len(approve_queries.captured_queries)
    for n in range(5, 30):
        v = factories.ModelVersionFactory(model=world.model, version=str(n), training_run=world.runs["2"])
        r = PromotionRequest.objects.create(
            model=world.model,
            version=v,
            target="production",
            policy=world.policy,
            requested_by=world.u("requester"),
            justification="x",
        )
        Review.objects.create(request=r, reviewer=world.u("raj"), decision="approve")
    second = create(as_, world, version="1").json()["id"]
    with django_assert_max_num_queries(gate_n):
        assert rui.get(gate).status_code == 200
    with django_assert_max_num_queries(approve_n):
        assert rui.post(f"{PROMOTIONS}/{second}/approve", {}).status_code == 200
