"""The scorecard pages, server-side: filters, CSV exports, forms (attest, waive, verify, revoke, score),
4xx on bad input, a fixed number of queries, and only local assets (plotly.js served by the app)."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from assessments.models import Assessment, Attestation, MaturityGoal, ScoringRun, Waiver
from assessments.services import projects_score
from tests import factories
from tests.assessments.builders import full_evidence

pytestmark = pytest.mark.django_db


def csv_rows(response) -> list[dict]:
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


@pytest.fixture
def org(team, other_team):
    a = factories.ProjectFactory(team=team, slug="card-fraud", name="Card fraud", risk_tier=1)
    full_evidence(a)
    b = factories.ProjectFactory(
        team=other_team, slug="email-recs", name="Email recs", risk_tier=3, lifecycle="retired"
    )
    projects_score(actor="cli", trigger="cli")
    return a, b


def test_dashboard_with_filters_charts_and_export(client, manager, org):
    client.force_login(manager)
    page = client.get("/maturity/")
    html = page.content.decode()
    assert page.status_code == 200
    for name in ("levels", "heatmap", "trend"):
        assert f'data-figure="{name}"' in html
    assert 'id="figures"' in html
    assert "/static/vendor/plotly/plotly.min.js" in html
    assert "Card fraud" in html
    assert "Email recs" in html
    assert 'data-testid="moved-up"' in html
    filtered = client.get("/maturity/", {"risk_tier": 1}).content.decode()
    assert "Card fraud" in filtered
    assert "Email recs" not in filtered.split("<h2>Scorecards</h2>")[1]
    rows = csv_rows(client.get("/maturity/", {"lifecycle": "retired", "export": "csv"}))
    assert [r["project"] for r in rows] == ["email-recs"]
    assert set(rows[0]) >= {"team", "level", "people", "model_creation", "model_release", "application_integration"}
    assert len(csv_rows(client.get("/maturity/", {"export": "csv"}))) == 2
    for bad in ({"level": "x"}, {"risk_tier": "9"}, {"since": "2"}, {"rubric": "nope"}, {"lifecycle": "zombie"}):
        assert client.get("/maturity/", bad).status_code == 400, bad


def test_dashboard_queries_do_not_grow_with_projects(client, manager, team):
    client.force_login(manager)
    for _ in range(3):
        full_evidence(factories.ProjectFactory(team=team))
    projects_score(actor="cli", trigger="cli")
    MaturityGoal.objects.create(name="g", rubric_id="azure-mlops", target_level=2, due_date=timezone.now().date())

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/maturity/").status_code == 200
        return len(ctx.captured_queries)

    few = count()
    for _ in range(6):
        full_evidence(factories.ProjectFactory(team=factories.TeamFactory()))
    projects_score(actor="cli", trigger="cli")
    assert count() == few


def test_team_page(client, user, org, team):
    client.force_login(user)
    factories.ProjectFactory(team=team, slug="not-yet")
    html = client.get(f"/maturity/teams/{team.slug}/").content.decode()
    assert "Card fraud" in html
    assert "Email recs" not in html
    assert 'data-figure="trend"' in html
    assert "not-yet" in html  # listed as not assessed yet
    rows = csv_rows(client.get(f"/maturity/teams/{team.slug}/", {"export": "csv"}))
    assert [r["project"] for r in rows] == ["card-fraud"]
    assert client.get("/maturity/teams/nope/").status_code == 404
    assert client.get(f"/maturity/teams/{team.slug}/", {"level": "high"}).status_code == 400


def test_project_scorecard_page(client, user, org):
    client.force_login(user)
    project = org[0]
    html = client.get(f"/projects/{project.slug}/scorecard/").content.decode()
    level = Assessment.objects.get(project=project).level
    assert f"level {level}" in html
    assert 'data-figure="radar"' in html
    assert 'data-testid="next-steps"' in html
    assert 'data-criterion="integration.unit-tests"' in html
    assert f'href="https://github.com/acme/{project.slug}/blob/' in html  # evidence links to the file at its commit
    assert "Attest a criterion" not in html  # a plain user may not attest
    assert client.get("/projects/nope/scorecard/").status_code == 404
    never = factories.ProjectFactory()
    assert "has not been scored yet" in client.get(f"/projects/{never.slug}/scorecard/").content.decode()


def test_a_maintainer_attests_from_the_page(client, maintainer, team):
    project = factories.ProjectFactory(team=team)
    client.force_login(maintainer)
    html = client.get(f"/projects/{project.slug}/scorecard/").content.decode()
    assert "Attest a criterion" in html
    response = client.post(
        f"/projects/{project.slug}/scorecard/attest/",
        {
            "criterion": "release.engineering-managed",
            "statement": "SRE owns releases.",
            "link": "https://wiki.example.com/x",
        },
    )
    assert response.status_code == 302
    assert Attestation.objects.get().criterion_id == "release.engineering-managed"
    page = client.get(response["Location"]).content.decode()
    assert "Attested. The scorecard below counts it." in page
    bad = client.post(
        f"/projects/{project.slug}/scorecard/attest/", {"criterion": "release.traceable", "statement": "x"}
    )
    assert bad.status_code == 400
    assert "cannot be attested" in bad.content.decode()
    empty = client.post(f"/projects/{project.slug}/scorecard/attest/", {"criterion": "release.engineering-managed"})
    assert empty.status_code == 400
    assert client.get(f"/projects/{project.slug}/scorecard/attest/").status_code == 405


def test_a_member_cannot_attest_or_score(client, member, team):
    project = factories.ProjectFactory(team=team)
    client.force_login(member)
    refused = client.post(
        f"/projects/{project.slug}/scorecard/attest/", {"criterion": "people.production-markers", "statement": "x"}
    )
    assert refused.status_code == 403
    assert client.post(f"/projects/{project.slug}/scorecard/score/").status_code == 403
    assert client.post("/maturity/score/").status_code == 403
    assert not Attestation.objects.exists()


def test_a_refused_page_action_is_recorded_as_a_security_event(client, member, team):
    from mlgov.audit.models import AuditEvent

    project = factories.ProjectFactory(team=team)
    client.force_login(member)
    refused = client.post(f"/projects/{project.slug}/scorecard/score/")
    assert refused.status_code == 403
    assert "Only the team&#x27;s maintainers or a manager may rescore it." in refused.content.decode()
    event = AuditEvent.objects.get(action="security.permission_denied")
    assert event.actor_name == member.username
    assert event.target_repr == f"/projects/{project.slug}/scorecard/score/"
    assert event.after["view"] == "project-score-now"
    assert event.after["reason"] == "Only the team's maintainers or a manager may rescore it."
    # A bad input is a 400, not a security event.
    bad = client.post(f"/projects/{project.slug}/scorecard/waive/", {"criterion": "x", "expires_at": "soon"})
    assert bad.status_code == 400
    assert AuditEvent.objects.filter(action="security.permission_denied").count() == 1


def test_a_manager_waives_verifies_revokes_and_scores_from_the_pages(client, manager, maintainer, team):
    project = factories.ProjectFactory(team=team)
    due = (timezone.now() + timedelta(days=30)).date().isoformat()
    client.force_login(manager)
    ok = client.post(
        f"/projects/{project.slug}/scorecard/waive/",
        {"criterion": "people.maintainer-named", "justification": "Reorg in progress.", "expires_at": due},
    )
    assert ok.status_code == 302
    waiver = Waiver.objects.get()
    assert waiver.state() == "active"
    assert (
        client.post(
            f"/projects/{project.slug}/scorecard/waive/", {"criterion": "x", "justification": "j", "expires_at": "soon"}
        ).status_code
        == 400
    )
    assert client.post(f"/maturity/waivers/{waiver.pk}/revoke/").status_code == 302
    waiver.refresh_from_db()
    assert waiver.revoked_at is not None

    from assessments.services import attestation_create

    a = attestation_create(actor=maintainer, project=project, criterion_id="people.production-markers", statement="x")
    reviewer = factories.UserFactory(groups=["reviewers"])
    client.force_login(reviewer)
    assert client.post(f"/maturity/attestations/{a.pk}/verify/").status_code == 302
    a.refresh_from_db()
    assert a.verified_by == reviewer
    client.force_login(manager)
    assert client.post(f"/maturity/attestations/{a.pk}/revoke/", {"reason": "no"}).status_code == 302
    again = client.post(f"/maturity/attestations/{a.pk}/revoke/")
    assert again.status_code == 409
    assert client.post(f"/projects/{project.slug}/scorecard/score/").status_code == 302
    assert ScoringRun.objects.order_by("-id").first().trigger == "page"
    everything = client.post("/maturity/score/")
    assert everything.status_code == 302
    run = ScoringRun.objects.order_by("-id").first()
    assert everything["Location"] == f"/maturity/runs/{run.pk}/"
    assert (run.trigger, run.project_ids) == ("page", None)


def test_list_pages_filter_and_export(client, manager, maintainer, team):
    project = factories.ProjectFactory(team=team, slug="p1")
    from assessments.services import attestation_create, waiver_grant

    attestation_create(actor=maintainer, project=project, criterion_id="people.production-markers", statement="Agreed")
    waiver_grant(
        actor=manager,
        project=project,
        criterion_id="release.traceable",
        justification="Batch",
        expires_at=timezone.now().date() + timedelta(days=5),
    )
    client.force_login(manager)
    assert "Agreed" in client.get("/maturity/attestations/", {"state": "active"}).content.decode()
    assert "Agreed" not in client.get("/maturity/attestations/", {"state": "expired"}).content.decode()
    assert client.get("/maturity/attestations/", {"state": "zombie"}).status_code == 400
    rows = csv_rows(client.get("/maturity/attestations/", {"export": "csv"}))
    assert [(r["project"], r["criterion"], r["state"]) for r in rows] == [("p1", "people.production-markers", "active")]
    assert [r["criterion"] for r in csv_rows(client.get("/maturity/waivers/", {"export": "csv"}))] == [
        "release.traceable"
    ]
    assert client.get("/maturity/waivers/", {"state": "x"}).status_code == 400
    runs = csv_rows(client.get("/maturity/runs/", {"export": "csv", "trigger": "change"}))
    assert len(runs) == 2
    assert client.get("/maturity/runs/", {"status": "x"}).status_code == 400
    run_page = client.get(f"/maturity/runs/{runs[0]['id']}/").content.decode()
    assert "Counts" in run_page


def test_goals_page(client, manager, user, team):
    client.force_login(user)
    assert "Set a goal" not in client.get("/maturity/goals/").content.decode()
    assert (
        client.post("/maturity/goals/", {"name": "x", "target_level": "3", "due_date": "2027-03-31"}).status_code == 403
    )
    client.force_login(manager)
    created = client.post(
        "/maturity/goals/",
        {"name": "Tier 1 at 3", "target_level": "3", "due_date": "2027-03-31", "risk_tier": "1", "team": team.slug},
    )
    assert created.status_code == 302
    goal = MaturityGoal.objects.get()
    assert (goal.team, goal.risk_tier, goal.target_level) == (team, 1, 3)
    assert "Tier 1 at 3" in client.get("/maturity/goals/").content.decode()
    assert "Tier 1 at 3" in client.get("/maturity/").content.decode()
    bad = client.post("/maturity/goals/", {"name": "x", "target_level": "3", "due_date": "someday"})
    assert bad.status_code == 400
    assert (
        client.post("/maturity/goals/", {"name": "x", "target_level": "nine", "due_date": "2027-01-01"}).status_code
        == 400
    )
    assert client.post("/maturity/goals/", {"delete": goal.pk}).status_code == 302
    assert not MaturityGoal.objects.exists()


def test_pages_load_only_local_assets_and_plotly_js_is_served(client, user, org):
    client.force_login(user)
    for url in ("/maturity/", f"/projects/{org[0].slug}/scorecard/", f"/maturity/teams/{org[0].team.slug}/"):
        html = client.get(url).content.decode()
        sources = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html)
        assert sources
        assert not [s for s in sources if s.startswith(("http://", "https://", "//"))], sources
    js = client.get("/static/vendor/plotly/plotly.min.js")
    assert js.status_code == 200
    body = b"".join(js.streaming_content)
    assert b"plotly.js" in body[:400]
    assert client.get("/static/assessments/charts.js").status_code == 200


def test_pages_need_a_login(client, org):
    for url in ("/maturity/", f"/projects/{org[0].slug}/scorecard/", "/maturity/goals/"):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/login/")


def test_the_admin_lists_assessments_read_only(client, org):
    admin = factories.UserFactory(is_staff=True, is_superuser=True)
    client.force_login(admin)
    for model in ("assessment", "scoringrun", "attestation", "waiver", "attestationrule", "maturitygoal"):
        response = client.get(f"/admin/assessments/{model}/")
        assert response.status_code == 200, model
    assert client.get("/admin/assessments/assessment/add/").status_code == 403
