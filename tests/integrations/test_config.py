"""apply_config: a validated, idempotent, audited, all-or-nothing organisation config file."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from integrations.models import MlflowConnection
from mlgov.accounts.models import Membership, User
from mlgov.audit.models import AuditEvent
from mlgov.inventory.models import Project, Team

pytestmark = pytest.mark.django_db

GOOD = """
users:
  - {username: femi, email: femi@example.com, display_name: Femi, groups: [reviewers]}
  - {username: ci-bot, service_account: true}
teams:
  - slug: fraud
    name: Fraud Detection
    members:
      - {user: femi, role: maintainer}
      - {user: ci-bot}
projects:
  - {slug: card-fraud, team: fraud, name: Card fraud scorer, risk_tier: 1, lifecycle: in_use}
integrations:
  mlflow:
    - name: prod
      tracking_uri: https://mlflow.example.com
      token_env_var: MLFLOW_PROD_TOKEN
      sync_interval_minutes: 10
      mapping: {tag: mlgov.project, prefixes: {"fraud-": card-fraud}}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "org.yaml"
    path.write_text(text)
    return path


def run(path: Path) -> str:
    from io import StringIO

    out = StringIO()
    call_command("apply_config", str(path), stdout=out)
    return out.getvalue()


def test_apply_creates_everything_and_is_idempotent(tmp_path):
    path = write(tmp_path, GOOD)
    assert "applied" in run(path)
    assert Team.objects.get(slug="fraud").name == "Fraud Detection"
    assert Membership.objects.get(user__username="femi", team__slug="fraud").role == "maintainer"
    assert User.objects.get(username="ci-bot").is_service_account
    assert list(User.objects.get(username="femi").groups.values_list("name", flat=True)) == ["reviewers"]
    project = Project.objects.get(slug="card-fraud")
    assert (project.risk_tier, project.lifecycle) == (1, "in_use")
    conn = MlflowConnection.objects.get(name="prod")
    assert conn.mapping["prefixes"] == {"fraud-": "card-fraud"}
    assert conn.sync_interval_minutes == 10
    summary = AuditEvent.objects.get(action="config.applied")
    assert summary.after == {
        "users": 2,
        "teams": 1,
        "memberships": 2,
        "projects": 1,
        "mlflow_connections": 1,
        "git_repositories": 0,
        "ci_sources": 0,
    }
    assert summary.source == "cli"

    before = AuditEvent.objects.count()
    assert "nothing to change" in run(path)
    assert AuditEvent.objects.count() == before

    changed = GOOD.replace("risk_tier: 1, lifecycle: in_use", "risk_tier: 1, lifecycle: retired")
    assert "projects 1" in run(write(tmp_path, changed))
    assert Project.objects.get(slug="card-fraud").lifecycle == "retired"
    assert AuditEvent.objects.filter(action="project.updated").count() == 1


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("teams: [{slug: x}]", "teams[0].name: required"),
        ("teams: [{slug: x, name: X, members: [{user: ghost}]}]", "teams[0].members[0].user: unknown user 'ghost'"),
        (
            "teams: [{slug: x, name: X, members: [{user: a, role: owner}]}]\nusers: [{username: a}]",
            "teams[0].members[0].role: must be one of member, maintainer",
        ),
        ("projects: [{slug: p, team: nowhere, name: P}]", "projects[0].team: unknown team 'nowhere'"),
        (
            "projects: [{slug: p, team: t, name: P, risk_tier: 9}]\nteams: [{slug: t, name: T}]",
            "projects[0].risk_tier: must be 1, 2 or 3",
        ),
        ("users: [{username: a, groups: [wizards]}]", "users[0].groups: unknown group(s) wizards"),
        ("colour: red", "<root>: unknown key(s) colour"),
        ("integrations: {mlflow: [{name: x}]}", "integrations.mlflow[0].tracking_uri: required"),
        ('teams: [{slug: x, name: "a\\x1bb"}]', "teams[0].name: must be non-empty text without control characters"),
        ("teams: [oops", "not valid YAML"),
        ("- just\n- a list", "must be a mapping"),
    ],
)
def test_invalid_files_name_the_problem_and_change_nothing(tmp_path, text, problem):
    with pytest.raises(
        CommandError, match=problem.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[").replace("]", r"\]")
    ):
        run(write(tmp_path, text))
    assert not Team.objects.exists()
    assert not AuditEvent.objects.filter(action="config.applied").exists()


def test_a_late_failure_rolls_everything_back(tmp_path):
    text = GOOD.replace("tracking_uri: https://mlflow.example.com", "tracking_uri: ftp://nope")
    with pytest.raises(CommandError, match="tracking_uri"):
        run(write(tmp_path, text))
    assert not Team.objects.exists()
    assert not User.objects.filter(username="femi").exists()
    assert not AuditEvent.objects.exists()


def test_check_only_validates(tmp_path):
    from io import StringIO

    out = StringIO()
    call_command("apply_config", str(write(tmp_path, GOOD)), "--check", stdout=out)
    assert "valid" in out.getvalue()
    assert not Team.objects.exists()


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="Cannot read"):
        run(tmp_path / "nope.yaml")
