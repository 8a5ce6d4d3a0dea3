"""The assessments API: scorecards, assess, team maturity, history, attestations, waivers, rules, goals,
scoring runs and rubrics. Bad input is a 4xx in the one error shape; lists cost a fixed number of queries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from assessments.models import Assessment, Attestation, MaturityGoal, ScoringRun, Waiver
from assessments.services import projects_score
from mlgov.audit.models import AuditEvent
from tests import factories
from tests.assessments.builders import full_evidence

pytestmark = pytest.mark.django_db


def error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content
    body = response.json()["error"]
    assert set(body) == {"code", "message", "details"}
    if code:
        assert body["code"] == code, body
    return body


@pytest.fixture
def project(team):
    p = factories.ProjectFactory(team=team, slug="card-fraud", name="Card fraud")
    full_evidence(p)
    return p


@pytest.fixture
def reviewer(db):
    return factories.UserFactory(groups=["reviewers"])


# --- scorecards ---


def test_a_projects_scorecard(api_client_for, user, project):
    client = api_client_for(user)
    error(client.get(f"/api/v1/projects/{project.pk}/scorecard"), 404, "not_assessed")
    projects_score(actor="cli", trigger="cli")
    body = client.get(f"/api/v1/projects/{project.pk}/scorecard").json()
    assert body["project"] == {"id": project.pk, "slug": "card-fraud", "name": "Card fraud"}
    assert body["rubric"]["id"] == "azure-mlops"
    assert body["rubric"]["version"] == "2026.1"
    assert body["level"] == min(d["level"] for d in body["dimensions"])
    assert [d["id"] for d in body["dimensions"]] == [
        "people",
        "model_creation",
        "model_release",
        "application_integration",
    ]
    assert body["computed_at"]
    met = [c for c in body["criteria"] if c["status"] == "met"]
    assert met
    assert all(e["link"] and e["source"] and e["observed_at"] for c in met for e in c["evidence"])
    assert {s["criterion"] for s in body["next_steps"]} <= {c["id"] for c in body["criteria"] if c["status"] != "met"}
    assert all(s["guidance"] for s in body["next_steps"])
    assert all(c["guidance"] for c in body["criteria"])
    assert client.get(f"/api/v1/projects/{project.pk}/scorecard/").status_code == 200  # slash optional
    error(client.get(f"/api/v1/projects/{project.pk}/scorecard", {"rubric": "google-mlops"}), 404, "not_assessed")
    error(client.get(f"/api/v1/projects/{project.pk}/scorecard", {"rubric": "nope"}), 400, "invalid")
    error(client.get(f"/api/v1/projects/{project.pk}/scorecard", {"levle": 1}), 400, "invalid")
    error(client.get("/api/v1/projects/999999/scorecard"), 404, "not_found")
    error(client.get("/api/v1/projects/abc/scorecard"), 404, "not_found")


def test_assess_scores_now_for_maintainers_and_managers(api_client_for, project, maintainer, member, manager):
    body = api_client_for(maintainer).post(f"/api/v1/projects/{project.pk}/assess").json()
    assert body["trigger"] == "api"
    assert Assessment.objects.get(project=project).scorecard["level"] == body["level"]
    assert ScoringRun.objects.get().triggered_by == maintainer.username
    assert api_client_for(manager).post(f"/api/v1/projects/{project.pk}/assess/").status_code == 200
    error(api_client_for(member).post(f"/api/v1/projects/{project.pk}/assess"), 403, "permission_denied")
    assert AuditEvent.objects.filter(action="security.permission_denied").exists()
    error(api_client_for(maintainer, scope="read").post(f"/api/v1/projects/{project.pk}/assess"), 403)
    error(api_client_for(maintainer).post("/api/v1/projects/424242/assess"), 404)
    google = api_client_for(maintainer).post(f"/api/v1/projects/{project.pk}/assess?rubric=google-mlops").json()
    assert google["rubric"]["id"] == "google-mlops"


def test_the_scorecard_list_filters_and_costs_fixed_queries(api_client_for, user, team, other_team):
    for t in (team, other_team):
        for tier in (1, 3):
            full_evidence(factories.ProjectFactory(team=t, risk_tier=tier))
    projects_score(actor="cli", trigger="cli")
    client = api_client_for(user)
    body = client.get("/api/v1/scorecards").json()
    assert len(body["results"]) == 4
    row = body["results"][0]
    assert set(row) >= {"project", "team", "level", "dimensions", "rubric", "computed_at", "risk_tier", "lifecycle"}
    assert "criteria" not in row
    assert len(client.get("/api/v1/scorecards", {"team": team.slug}).json()["results"]) == 2
    assert len(client.get("/api/v1/scorecards", {"risk_tier": 1}).json()["results"]) == 2
    level = row["level"]
    assert all(r["level"] == level for r in client.get("/api/v1/scorecards", {"level": level}).json()["results"])
    assert client.get("/api/v1/scorecards", {"rubric": "google-mlops"}).json()["results"] == []
    error(client.get("/api/v1/scorecards", {"rubric": "nope"}), 400)
    error(client.get("/api/v1/scorecards", {"level": "high"}), 400)
    error(client.get("/api/v1/scorecards", {"colour": "red"}), 400)
    error(client.get("/api/v1/scorecards", {"ordering": "secret"}), 400)
    assert client.get("/api/v1/scorecards", {"ordering": "-level"}).status_code == 200

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/api/v1/scorecards").status_code == 200
        return len(ctx.captured_queries)

    few = count()
    for _ in range(5):
        factories.ProjectFactory(team=team)
    projects_score(actor="cli", trigger="cli")
    assert count() == few


def test_a_teams_maturity(api_client_for, user, team, project):
    factories.ProjectFactory(team=team, slug="never-scored")
    projects_score(actor="cli", trigger="cli", project_ids=[project.pk])
    body = api_client_for(user).get(f"/api/v1/teams/{team.slug}/maturity").json()
    assert body["team"]["slug"] == team.slug
    assert (body["projects"], body["assessed"]) == (2, 1)
    level = Assessment.objects.get(project=project).level
    assert body["mean_level"] == level
    assert body["levels"][str(level)] == 1
    assert set(body["dimensions"]) == {"people", "model_creation", "model_release", "application_integration"}
    assert [s["project"]["slug"] for s in body["scorecards"]] == ["card-fraud"]
    assert len(body["trend"]) == 13
    assert body["trend"][-1]["mean_level"] == level
    assert body["trend"][0]["assessed"] == 0
    client = api_client_for(user)
    error(client.get("/api/v1/teams/nope/maturity"), 404)
    error(client.get(f"/api/v1/teams/{team.slug}/maturity", {"days": "3"}), 400)
    error(client.get(f"/api/v1/teams/{team.slug}/maturity", {"days": "x"}), 400)
    error(client.get(f"/api/v1/teams/{team.slug}/maturity", {"since": "x"}), 400)


def test_history(api_client_for, user, project):
    projects_score(actor="cli", trigger="cli")
    factories.PipelineRunFactory(pipeline__project=project)  # a change: a second snapshot
    projects_score(actor="cli", trigger="cli")
    client = api_client_for(user)
    rows = client.get("/api/v1/assessments", {"project": project.slug}).json()["results"]
    assert len(rows) == 2
    assert [r["is_latest"] for r in rows] == [True, False]
    assert "scorecard" not in rows[0]
    detail = client.get(f"/api/v1/assessments/{rows[1]['id']}").json()
    assert detail["scorecard"]["project_id"] == project.pk
    assert len(client.get("/api/v1/assessments", {"latest": "true"}).json()["results"]) == 1
    error(client.get("/api/v1/assessments", {"since": "yesterday"}), 400)


# --- attestations, waivers, rules ---


def test_attestations_through_the_api(api_client_for, project, maintainer, member, reviewer, manager):
    client = api_client_for(maintainer)
    payload = {"project": project.pk, "criterion": "release.engineering-managed", "statement": "Runbook owned by SRE."}
    response = client.post("/api/v1/attestations", payload, format="json")
    assert response.status_code == 201, response.content
    created = response.json()
    assert (created["state"], created["attested_by"], created["criterion"]) == (
        "active",
        maintainer.username,
        payload["criterion"],
    )
    card = client.get(f"/api/v1/projects/{project.pk}/scorecard").json()
    assert next(c for c in card["criteria"] if c["id"] == payload["criterion"])["status"] == "attested"

    error(api_client_for(member).post("/api/v1/attestations", payload, format="json"), 403, "permission_denied")
    error(client.post("/api/v1/attestations", {**payload, "criterion": "release.traceable"}, format="json"), 400)
    error(client.post("/api/v1/attestations", {**payload, "criterion": "nope"}, format="json"), 400)
    error(client.post("/api/v1/attestations", {**payload, "project": 999999}, format="json"), 400)
    error(client.post("/api/v1/attestations", {"project": project.pk}, format="json"), 400)
    error(client.post("/api/v1/attestations", {**payload, "days": 0}, format="json"), 400)
    error(client.post("/api/v1/attestations", b"{", content_type="application/json"), 400, "malformed_request")
    assert Attestation.objects.count() == 1

    pk = created["id"]
    error(api_client_for(member).post(f"/api/v1/attestations/{pk}/verify"), 403)
    assert api_client_for(reviewer).post(f"/api/v1/attestations/{pk}/verify").json()["verified_by"] == reviewer.username
    error(api_client_for(reviewer).post(f"/api/v1/attestations/{pk}/verify"), 409, "conflict")
    revoked = api_client_for(manager).post(f"/api/v1/attestations/{pk}/revoke", {"reason": "gone"}, format="json")
    assert (revoked.json()["state"], revoked.json()["revoke_reason"]) == ("revoked", "gone")
    listed = client.get("/api/v1/attestations", {"state": "revoked", "project": project.slug}).json()["results"]
    assert [a["id"] for a in listed] == [pk]
    assert client.get("/api/v1/attestations", {"state": "active"}).json()["results"] == []
    error(client.get("/api/v1/attestations", {"state": "zombie"}), 400)
    error(client.get("/api/v1/attestations/999999"), 404)


def test_verification_rules_through_the_api(api_client_for, project, maintainer, manager):
    rule = {"criterion": "people.production-markers", "requires_verification": True, "validity_days": 90}
    error(api_client_for(maintainer).post("/api/v1/attestation-rules", rule, format="json"), 403)
    created = api_client_for(manager).post("/api/v1/attestation-rules", rule, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["rubric"] == "azure-mlops"
    payload = {"project": project.pk, "criterion": "people.production-markers", "statement": "Agreed KPIs."}
    attestation = api_client_for(maintainer).post("/api/v1/attestations", payload, format="json").json()
    assert attestation["state"] == "pending_verification"
    expires = timezone.datetime.fromisoformat(attestation["expires_at"])
    assert (expires - timezone.now()).days in (89, 90)
    assert len(api_client_for(maintainer).get("/api/v1/attestation-rules").json()["results"]) == 1


def test_waivers_through_the_api(api_client_for, project, maintainer, manager):
    client = api_client_for(manager)
    due = (timezone.now() + timedelta(days=60)).date().isoformat()
    payload = {
        "project": project.pk,
        "criterion": "release.traceable",
        "justification": "Batch only.",
        "expires_at": due,
    }
    response = client.post("/api/v1/waivers", payload, format="json")
    assert response.status_code == 201, response.content
    waiver = response.json()
    assert (waiver["state"], waiver["granted_by"], waiver["expires_at"][:10]) == ("active", manager.username, due)
    error(api_client_for(maintainer).post("/api/v1/waivers", payload, format="json"), 403)
    error(client.post("/api/v1/waivers", {**payload, "expires_at": "soon"}, format="json"), 400)
    error(client.post("/api/v1/waivers", {**payload, "expires_at": "2020-01-01"}, format="json"), 400)
    dt = (timezone.now() + timedelta(days=2)).isoformat()
    assert client.post("/api/v1/waivers", {**payload, "expires_at": dt}, format="json").status_code == 201
    revoked = client.post(f"/api/v1/waivers/{waiver['id']}/revoke", {}, format="json").json()
    assert revoked["state"] == "revoked"
    error(client.post(f"/api/v1/waivers/{waiver['id']}/revoke", {}, format="json"), 409)
    assert Waiver.objects.count() == 2
    assert len(client.get("/api/v1/waivers", {"state": "active"}).json()["results"]) == 1


# --- goals, scoring runs, rubrics ---


def test_goals_with_progress(api_client_for, user, manager, project, team):
    projects_score(actor="cli", trigger="cli")
    client = api_client_for(manager)
    level = Assessment.objects.get(project=project).level
    payload = {"name": "Team at its level", "target_level": max(level, 1), "due_date": "2027-03-31", "team": team.slug}
    created = client.post("/api/v1/maturity-goals", payload, format="json")
    assert created.status_code == 201, created.content
    goal = api_client_for(user).get("/api/v1/maturity-goals").json()["results"][0]
    assert goal["progress"]["projects"] == 1
    assert goal["progress"]["at_target"] == (1 if level >= 1 else 0)
    assert goal["rubric"] == "azure-mlops"
    error(api_client_for(user).post("/api/v1/maturity-goals", payload, format="json"), 403)
    error(client.post("/api/v1/maturity-goals", {**payload, "target_level": 9}, format="json"), 400)
    error(client.post("/api/v1/maturity-goals", {**payload, "team": "nope"}, format="json"), 400)
    pk = created.json()["id"]
    assert client.patch(f"/api/v1/maturity-goals/{pk}", {"target_level": 4}, format="json").json()["target_level"] == 4
    assert client.delete(f"/api/v1/maturity-goals/{pk}").status_code == 204
    assert not MaturityGoal.objects.exists()


def test_scoring_runs_through_the_api(api_client_for, manager, maintainer, project, other_team):
    response = api_client_for(manager).post("/api/v1/scoring-runs", {}, format="json")
    assert response.status_code == 202, response.content
    run = response.json()
    assert (run["trigger"], run["project_ids"]) == ("api", None)
    ok = api_client_for(maintainer).post("/api/v1/scoring-runs", {"projects": [project.pk]}, format="json")
    assert ok.status_code == 202
    error(api_client_for(maintainer).post("/api/v1/scoring-runs", {}, format="json"), 403)
    elsewhere = factories.ProjectFactory(team=other_team)
    error(api_client_for(maintainer).post("/api/v1/scoring-runs", {"projects": [elsewhere.pk]}, format="json"), 403)
    error(api_client_for(manager).post("/api/v1/scoring-runs", {"projects": "all"}, format="json"), 400)
    error(api_client_for(manager).post("/api/v1/scoring-runs", {"rubric": "nope"}, format="json"), 400)
    listed = api_client_for(maintainer).get("/api/v1/scoring-runs", {"trigger": "api"}).json()["results"]
    assert len(listed) == 2
    detail = api_client_for(maintainer).get(f"/api/v1/scoring-runs/{run['id']}").json()
    assert detail["id"] == run["id"]


def test_rubrics(api_client_for, user):
    client = api_client_for(user)
    listed = client.get("/api/v1/rubrics").json()["results"]
    assert [(r["id"], r["default"]) for r in listed] == [("azure-mlops", True), ("google-mlops", False)]
    azure = client.get("/api/v1/rubrics/azure-mlops").json()
    assert [lv["level"] for lv in azure["levels"]] == [0, 1, 2, 3, 4]
    assert azure["dimensions"][0]["levels"][0]["criteria"][0]["id"] == "people.maintainer-named"
    error(client.get("/api/v1/rubrics/nope"), 404)
    error(client.get("/api/v1/rubrics", {"x": 1}), 400)


def test_anonymous_requests_are_refused(client, project):
    for url in (f"/api/v1/projects/{project.pk}/scorecard", "/api/v1/scorecards", "/api/v1/rubrics"):
        assert client.get(url).status_code in (401, 403)
