"""Scoring runs and snapshots, attestations, waivers, their rules, goals: each write audited, each refusal
a domain error."""

from __future__ import annotations

from datetime import date, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction
from django.utils import timezone

from assessments.choices import ScoringTrigger
from assessments.models import Assessment, AttestationRule, MaturityGoal, ScoringRun
from assessments.selectors import project_maturity_level
from assessments.services import (
    ScoringNotQueued,
    attestation_create,
    attestation_revoke,
    attestation_rule_set,
    attestation_verify,
    maturity_goal_create,
    maturity_goal_delete,
    maturity_goal_update,
    projects_score,
    scoring_run_create,
    scoring_run_execute,
    waiver_grant,
    waiver_revoke,
)
from assessments.tasks import score_nightly
from mlgov.audit.models import AuditEvent
from mlgov.errors import Conflict, PermissionDenied, ValidationFailed
from tests import factories
from tests.assessments.builders import full_evidence

pytestmark = pytest.mark.django_db


def actions(since: int = 0) -> list[str]:
    return list(AuditEvent.objects.filter(seq__gt=since).order_by("seq").values_list("action", flat=True))


def last_seq() -> int:
    return AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0


def criterion(project, criterion_id: str) -> dict:
    a = Assessment.objects.get(project=project, is_latest=True)
    return next(c for d in a.scorecard["dimensions"] for c in d["criteria"] if c["id"] == criterion_id)


# --- scoring runs and snapshots ---


def test_a_run_stores_snapshots_and_audits_level_changes_once():
    rich, bare = factories.ProjectFactory(), factories.ProjectFactory()
    full_evidence(rich)
    run = projects_score(actor="cli", trigger=ScoringTrigger.CLI)
    assert (run.status, run.trigger, run.rubric_id) == ("succeeded", "cli", "azure-mlops")
    assert run.counts == {
        "projects": 2,
        "snapshots": 2,
        "unchanged": 0,
        "level_changes": 2,
        "first_scored": 2,
        "up": 0,
        "down": 0,
    }
    assert set(run.timings) == {
        "evidence_s",
        "engine_s",
        "write_s",
        "write_prepare_s",
        "write_store_s",
        "write_audit_s",
    }
    first = Assessment.objects.get(project=rich)
    assert (first.is_latest, first.previous_level, first.rubric_version) == (True, None, "2026.1")
    assert first.level == first.scorecard["level"] == min(first.dimensions.values())
    assert first.scorecard["rubric"] == {
        "id": "azure-mlops",
        "version": "2026.1",
        "name": first.scorecard["rubric"]["name"],
    }
    assert Assessment.objects.get(project=bare).level == 0
    changes = AuditEvent.objects.filter(action="assessment.level_changed").order_by("seq")
    assert [(e.target_id, e.before, e.after["level"]) for e in changes] == [
        (str(rich.pk), None, first.level),
        (str(bare.pk), None, 0),
    ]
    assert actions()[-1] == "scoring.run_finished"

    # Nothing changed: no snapshot, no audit event; the latest is marked as checked.
    seq = last_seq()
    again = projects_score(actor="cli", trigger=ScoringTrigger.CLI)
    assert (again.counts["snapshots"], again.counts["unchanged"]) == (0, 2)
    assert actions(seq) == []
    first.refresh_from_db()
    assert first.checked_at > first.computed_at
    assert Assessment.objects.count() == 2


def test_a_change_makes_a_new_snapshot_and_the_old_one_history():
    project = factories.ProjectFactory()
    factories.MembershipFactory(team=project.team, role="maintainer")
    projects_score(actor="cli", trigger="cli")
    old = Assessment.objects.get(project=project)
    made = full_evidence(project)
    run = projects_score(actor="cli", trigger="cli", project_ids=[project.pk])
    new = Assessment.objects.get(project=project, is_latest=True)
    old.refresh_from_db()
    assert old.is_latest is False
    assert (new.previous_level, new.scoring_run_id) == (old.level, run.pk)
    assert new.level > old.level
    assert run.counts["up"] == 1
    event = AuditEvent.objects.filter(action="assessment.level_changed").order_by("-seq").first()
    assert (event.before, event.after["level"]) == ({"level": old.level}, new.level)
    # Evidence shrinking is a level change down.
    made["ci_run"].delete()
    down = projects_score(actor="cli", trigger="cli")
    assert down.counts["down"] == 1
    assert project_maturity_level(project_id=project.pk) < new.level


def test_one_latest_snapshot_per_project_and_rubric_is_enforced_by_the_database():
    a = factories.AssessmentFactory()
    factories.AssessmentFactory(project=a.project, rubric_id="google-mlops")
    with pytest.raises(IntegrityError), transaction.atomic():
        factories.AssessmentFactory(project=a.project)


def test_a_run_runs_once_and_an_unknown_rubric_is_refused():
    run = scoring_run_create(trigger="api", triggered_by="u", project_ids=[])
    scoring_run_execute(scoring_run_id=run.pk)
    with pytest.raises(ScoringNotQueued):
        scoring_run_execute(scoring_run_id=run.pk)
    with pytest.raises(ValidationFailed, match="unknown rubric"):
        scoring_run_create(trigger="api", rubric_id="nope")
    with pytest.raises(ValidationFailed, match="Unknown trigger"):
        scoring_run_create(trigger="whenever")


def test_the_google_rubric_keeps_its_own_history():
    project = factories.ProjectFactory()
    full_evidence(project)
    projects_score(actor="cli", trigger="cli", rubric_id="google-mlops")
    projects_score(actor="cli", trigger="cli")
    assert set(Assessment.objects.filter(project=project).values_list("rubric_id", flat=True)) == {
        "google-mlops",
        "azure-mlops",
    }
    assert project_maturity_level(project_id=project.pk, rubric_id="google-mlops") in (0, 1, 2)


def test_nightly_queues_a_run_of_every_project(django_capture_on_commit_callbacks):
    factories.ProjectFactory.create_batch(2)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        pk = score_nightly()
        assert ScoringRun.objects.get(pk=pk).status == "queued"  # queued on commit (then eager: run at once)
    assert len(callbacks) == 1
    run = ScoringRun.objects.get(pk=pk)
    assert (run.trigger, run.status, run.project_ids, run.counts["projects"]) == ("nightly", "succeeded", None, 2)


def test_manage_py_score(capsys):
    one, two = factories.ProjectFactory(slug="alpha"), factories.ProjectFactory(slug="beta")
    full_evidence(one)
    out = StringIO()
    call_command("score", stdout=out)
    text = out.getvalue()
    assert "alpha" in text
    assert "beta                           level 0" in text
    assert "2 projects, 2 new snapshots" in text
    out = StringIO()
    call_command("score", "--project", "beta", stdout=out)
    assert "alpha" not in out.getvalue()
    assert "1 projects, 0 new snapshots, 1 unchanged" in out.getvalue()
    assert ScoringRun.objects.order_by("-id").first().project_ids == [two.pk]
    with pytest.raises(CommandError, match="Unknown project"):
        call_command("score", "--project", "nope")
    with pytest.raises(CommandError, match="unknown rubric"):
        call_command("score", "--rubric", "nope")


# --- attestations ---


@pytest.fixture
def project(team):
    return factories.ProjectFactory(team=team)


def test_a_maintainer_attests_and_the_project_is_rescored(project, maintainer):
    seq = last_seq()
    a = attestation_create(
        actor=maintainer,
        project=project,
        criterion_id="people.maintainer-named",
        statement="Femi owns it.",
        link="https://wiki.example.com/owners",
    )
    assert (a.attested_by, a.rubric_id) == (maintainer, "azure-mlops")
    assert (a.expires_at - a.created_at).days == 180
    assert actions(seq)[:2] == ["attestation.created", "assessment.level_changed"]
    c = criterion(project, "people.maintainer-named")
    assert c["status"] in ("met", "attested")  # the maintainer membership is evidence too
    assert c["attestation"]["state"] == "active"
    assert ScoringRun.objects.order_by("-id").first().trigger == "change"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"criterion_id": "creation.experiments-tracked"}, "cannot be attested"),
        ({"criterion_id": "people.nope"}, "Unknown criterion"),
        ({"statement": "  "}, "statement is required"),
        ({"link": "javascript:alert(1)"}, "link must be an http"),
        ({"days": 181}, "days must be between 1 and 180"),
        ({"rubric_id": "nope"}, "unknown rubric"),
    ],
)
def test_bad_attestations_are_refused(project, maintainer, values, message):
    kwargs = {"criterion_id": "people.production-markers", "statement": "Agreed.", **values}
    with pytest.raises(ValidationFailed, match=message):
        attestation_create(actor=maintainer, project=project, **kwargs)
    assert not AuditEvent.objects.filter(action="attestation.created").exists()


def test_only_the_teams_maintainers_attest(project, member, other_team, admin_user):
    outsider = factories.MembershipFactory(team=other_team, role="maintainer").user
    for user in (member, outsider):
        with pytest.raises(PermissionDenied):
            attestation_create(actor=user, project=project, criterion_id="people.production-markers", statement="x")
    assert attestation_create(
        actor=admin_user, project=project, criterion_id="people.production-markers", statement="x"
    )


def test_validity_comes_from_the_rule_the_setting_and_the_criterion(project, maintainer, manager, settings):
    settings.MLGOV_ATTESTATION_DAYS = 365
    a = attestation_create(actor=maintainer, project=project, criterion_id="release.engineering-managed", statement="x")
    assert (a.expires_at - a.created_at).days == 365
    # people.production-markers caps attestations at 180 days in the rubric.
    b = attestation_create(actor=maintainer, project=project, criterion_id="people.production-markers", statement="x")
    assert (b.expires_at - b.created_at).days == 180
    attestation_rule_set(
        actor=manager, criterion_id="release.engineering-managed", requires_verification=False, validity_days=30
    )
    c = attestation_create(actor=maintainer, project=project, criterion_id="release.engineering-managed", statement="x")
    assert (c.expires_at - c.created_at).days == 30
    d = attestation_create(
        actor=maintainer, project=project, criterion_id="release.engineering-managed", statement="x", days=7
    )
    assert (d.expires_at - d.created_at).days == 7


def test_verification_required_by_a_manager(project, maintainer, manager):
    reviewer = factories.UserFactory(groups=["reviewers"])
    seq = last_seq()
    rule = attestation_rule_set(actor=manager, criterion_id="release.engineering-managed", requires_verification=True)
    assert actions(seq) == ["attestation_rule.set"]
    assert (
        attestation_rule_set(actor=manager, criterion_id="release.engineering-managed", requires_verification=True)
        == rule
    )
    assert actions(seq) == ["attestation_rule.set"]  # unchanged: nothing written
    a = attestation_create(actor=maintainer, project=project, criterion_id="release.engineering-managed", statement="x")
    c = criterion(project, "release.engineering-managed")
    assert (c["status"], c["attestation"]["state"]) == ("unmet", "pending_verification")
    with pytest.raises(PermissionDenied, match="reviewers"):
        attestation_verify(actor=maintainer, attestation=a)
    attestation_verify(actor=reviewer, attestation=a)
    c = criterion(project, "release.engineering-managed")
    assert (c["status"], c["attestation"]["verified_by"]) == ("attested", reviewer.username)
    with pytest.raises(Conflict, match="verified already"):
        attestation_verify(actor=reviewer, attestation=a)
    assert "attestation.verified" in actions(seq)


def test_a_reviewer_cannot_verify_their_own_attestation(project, team):
    both = factories.UserFactory(groups=["reviewers"])
    factories.MembershipFactory(user=both, team=team, role="maintainer")
    a = attestation_create(actor=both, project=project, criterion_id="release.engineering-managed", statement="x")
    with pytest.raises(PermissionDenied, match="someone other"):
        attestation_verify(actor=both, attestation=a)


def test_rules_only_for_managers_and_attestable_criteria(maintainer, manager):
    with pytest.raises(PermissionDenied):
        attestation_rule_set(actor=maintainer, criterion_id="release.engineering-managed", requires_verification=True)
    with pytest.raises(ValidationFailed, match="cannot be attested"):
        attestation_rule_set(actor=manager, criterion_id="release.traceable", requires_verification=True)
    with pytest.raises(ValidationFailed, match="validity_days"):
        attestation_rule_set(
            actor=manager, criterion_id="release.engineering-managed", requires_verification=True, validity_days=0
        )
    assert not AttestationRule.objects.exists()


def test_revoking_an_attestation_unmeets_the_criterion(project, maintainer, member, manager):
    a = attestation_create(actor=maintainer, project=project, criterion_id="people.production-markers", statement="x")
    assert criterion(project, "people.production-markers")["status"] == "attested"
    with pytest.raises(PermissionDenied):
        attestation_revoke(actor=member, attestation=a)
    attestation_revoke(actor=manager, attestation=a, reason="The markers doc was withdrawn.")
    c = criterion(project, "people.production-markers")
    assert (c["status"], c["attestation"]["state"]) == ("unmet", "revoked")
    with pytest.raises(Conflict):
        attestation_revoke(actor=manager, attestation=a)
    event = AuditEvent.objects.get(action="attestation.revoked")
    assert event.after == {"reason": "The markers doc was withdrawn."}


def test_an_expired_attestation_is_shown_as_expired_at_the_next_scoring(project, maintainer):
    a = attestation_create(actor=maintainer, project=project, criterion_id="people.production-markers", statement="x")
    type(a).objects.filter(pk=a.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    projects_score(actor="nightly", trigger="nightly")
    c = criterion(project, "people.production-markers")
    assert (c["status"], c["attestation"]["state"]) == ("unmet", "expired")
    assert "expired on" in c["reason"]


# --- waivers ---


def test_a_manager_waives_until_a_date(project, manager, maintainer):
    seq = last_seq()
    due = timezone.now().date() + timedelta(days=30)
    w = waiver_grant(
        actor=manager, project=project, criterion_id="release.traceable", justification="Batch only.", expires_at=due
    )
    assert w.expires_at.date() == due
    assert (w.expires_at.hour, w.expires_at.minute) == (23, 59)
    assert actions(seq)[:2] == ["waiver.granted", "assessment.level_changed"]
    c = criterion(project, "release.traceable")
    assert (c["status"], c["waiver"]["justification"]) == ("waived", "Batch only.")
    with pytest.raises(PermissionDenied):
        waiver_grant(
            actor=maintainer, project=project, criterion_id="release.traceable", justification="x", expires_at=due
        )
    with pytest.raises(PermissionDenied):
        waiver_revoke(actor=maintainer, waiver=w)
    waiver_revoke(actor=manager, waiver=w, reason="done")
    assert criterion(project, "release.traceable")["status"] == "unmet"


@pytest.mark.parametrize(
    ("expires", "message"),
    [(date(2020, 1, 1), "in the future"), (date.today() + timedelta(days=400), "at most 365 days")],
)
def test_waiver_expiry_is_bounded(project, manager, expires, message):
    with pytest.raises(ValidationFailed, match=message):
        waiver_grant(
            actor=manager, project=project, criterion_id="release.traceable", justification="x", expires_at=expires
        )


# --- goals ---


def test_goals_are_managed_by_managers_with_validation_and_audit(manager, maintainer, team):
    due = date(2027, 3, 31)
    goal = maturity_goal_create(actor=manager, name="Tier 1 at 3", target_level=3, due_date=due, risk_tier=1)
    assert (goal.rubric_id, goal.team, goal.created_by_name) == ("azure-mlops", None, manager.username)
    with pytest.raises(PermissionDenied):
        maturity_goal_create(actor=maintainer, name="x", target_level=3, due_date=due)
    for bad in ({"target_level": 9}, {"target_level": 0}, {"risk_tier": 7}, {"lifecycle": "zombie"}, {"name": " "}):
        with pytest.raises(ValidationFailed):
            maturity_goal_create(actor=manager, **{"name": "x", "target_level": 2, "due_date": due, **bad})
    maturity_goal_update(actor=manager, goal=goal, target_level=4, team=team)
    goal.refresh_from_db()
    assert (goal.target_level, goal.team) == (4, team)
    maturity_goal_delete(actor=manager, goal=goal)
    assert not MaturityGoal.objects.exists()
    assert actions()[-3:] == ["maturity_goal.created", "maturity_goal.updated", "maturity_goal.deleted"]
