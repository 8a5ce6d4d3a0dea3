"""CI sources in the organisation config file (`integrations.ci`): validated with the rest of the file by
the CI service's own checks, linked to a Git repository of the file or of the database, applied through
`ci_source_upsert` (audited), idempotent, all or nothing."""

from __future__ import annotations

import pytest
from django.core.management import CommandError

from integrations.config import ConfigError, parse_config
from integrations.git_services import git_repository_create
from integrations.models import CiSource, GitRepository
from mlgov.audit.models import AuditEvent
from tests import factories

pytestmark = pytest.mark.django_db

GOOD = """
teams:
  - {slug: fraud, name: Fraud Detection}
projects:
  - {slug: card-fraud, team: fraud, name: Card fraud scorer}
integrations:
  git:
    - {name: card-fraud, url: https://github.com/acme/card-fraud.git, project: card-fraud}
  ci:
    - name: card-fraud-actions
      provider: github
      base_url: https://api.github.com/
      target: acme/card-fraud
      token_env_var: GITHUB_TOKEN
      repository: card-fraud
    - name: platform-jenkins
      provider: jenkins
      base_url: https://jenkins.example.com
      target: ml/train-churn
      enabled: false
"""


def test_ci_sources_are_applied_idempotently_with_audit(apply_config):
    assert "ci_sources 2" in apply_config(GOOD)
    actions = CiSource.objects.get(name="card-fraud-actions")
    assert (actions.provider, actions.target, actions.token_env_var, actions.enabled) == (
        "github",
        "acme/card-fraud",
        "GITHUB_TOKEN",
        True,
    )
    assert actions.base_url == "https://api.github.com"  # normalised as the service stores it
    assert actions.repository == GitRepository.objects.get(name="card-fraud")
    jenkins = CiSource.objects.get(name="platform-jenkins")
    assert (jenkins.provider, jenkins.repository, jenkins.enabled) == ("jenkins", None, False)
    assert AuditEvent.objects.filter(action="cisource.created").count() == 2
    assert AuditEvent.objects.get(action="config.applied").after["ci_sources"] == 2

    before = AuditEvent.objects.count()
    assert "nothing to change" in apply_config(GOOD)
    assert AuditEvent.objects.count() == before

    assert "ci_sources 1" in apply_config(GOOD.replace("enabled: false", "enabled: true"))
    assert CiSource.objects.get(name="platform-jenkins").enabled
    updated = AuditEvent.objects.get(action="cisource.updated")
    assert (updated.before["enabled"], updated.after["enabled"]) == (False, True)


def test_a_repository_already_in_the_database_can_be_named(apply_config):
    git_repository_create(
        actor="test", name="legacy", url="https://gitlab.example.com/ml/legacy.git", project=factories.ProjectFactory()
    )
    text = """
integrations:
  ci:
    - {name: legacy-ci, provider: gitlab, base_url: https://gitlab.example.com, target: ml/legacy, repository: legacy}
"""
    assert "ci_sources 1" in apply_config(text)
    assert CiSource.objects.get(name="legacy-ci").repository.name == "legacy"
    assert AuditEvent.objects.get(action="config.applied").after["git_repositories"] == 0


ENTRY = "{name: s, provider: github, base_url: https://api.github.com, target: acme/x"


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("{name: s, provider: bamboo, base_url: https://ci.example.com, target: x}", "integrations.ci[0].provider"),
        ("{name: s, provider: github, base_url: https://api.github.com, target: not-a-repo}", "ci[0].target"),
        ("{name: s, provider: gitlab, base_url: https://gitlab.example.com, target: a/../b}", "ci[0].target"),
        (
            "{name: s, provider: github, base_url: 'ftp://api.github.com', target: acme/x}",
            "integrations.ci[0].base_url",
        ),
        (ENTRY + ", token_env_var: 'bad-name'}", "integrations.ci[0].token_env_var"),
        (ENTRY + ", repository: nowhere}", "integrations.ci[0].repository: unknown Git repository 'nowhere'"),
        ("{name: 'has space', provider: github, base_url: https://api.github.com, target: acme/x}", "ci[0].name"),
        ("{name: s, provider: github, target: acme/x}", "integrations.ci[0].base_url: required"),
        (ENTRY + ", colour: red}", "unknown key(s) colour"),
        (ENTRY + ", enabled: 'yes'}", "enabled: must be bool"),
    ],
)
def test_bad_entries_are_named_by_their_path(entry, problem):
    with pytest.raises(ConfigError) as caught:
        parse_config(f"integrations:\n  ci:\n    - {entry}\n")
    assert any(problem in p for p in caught.value.details["problems"]), caught.value.details["problems"]


def test_duplicates_are_refused_and_nothing_is_applied(apply_config):
    text = GOOD + "    - {name: platform-jenkins, provider: jenkins, base_url: https://j.example.com, target: x}\n"
    with pytest.raises(CommandError, match=r"integrations\.ci: duplicate platform-jenkins"):
        apply_config(text)
    assert not CiSource.objects.exists()
    assert not GitRepository.objects.exists()  # the whole file or nothing
    assert not AuditEvent.objects.exists()
