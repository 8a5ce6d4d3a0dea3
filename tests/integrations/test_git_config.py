"""Git repositories in the organisation config file: validated with the others, applied through the
services (audited), idempotent, all or nothing."""

from __future__ import annotations

import pytest
from django.core.management import CommandError

from integrations.config import ConfigError, parse_config
from integrations.models import GitRepository
from mlgov.audit.models import AuditEvent

pytestmark = pytest.mark.django_db

GOOD = """
teams:
  - {slug: fraud, name: Fraud Detection}
projects:
  - {slug: card-fraud, team: fraud, name: Card fraud scorer}
  - {slug: churn, team: fraud, name: Churn}
integrations:
  git:
    - name: card-fraud
      url: https://github.com/acme/card-fraud.git
      branch: main
      project: card-fraud
      credentials_env_var: GITHUB_TOKEN
      web_url: https://github.com/acme/card-fraud
      sync_interval_minutes: 30
    - name: churn
      url: git@gitlab.example.com:acme/monorepo.git
      subdirectory: services/churn/
      project: churn
"""


def test_repositories_are_applied_idempotently_with_audit(apply_config):
    assert "git_repositories 2" in apply_config(GOOD)
    fraud = GitRepository.objects.get(name="card-fraud")
    assert (fraud.project.slug, fraud.credentials_env_var, fraud.sync_interval_minutes) == (
        "card-fraud",
        "GITHUB_TOKEN",
        30,
    )
    churn = GitRepository.objects.get(name="churn")
    assert (churn.branch, churn.subdirectory, churn.project.slug) == ("main", "services/churn", "churn")
    assert AuditEvent.objects.filter(action="gitrepository.created").count() == 2
    assert AuditEvent.objects.get(action="config.applied").after["git_repositories"] == 2

    before = AuditEvent.objects.count()
    assert "nothing to change" in apply_config(GOOD)
    assert AuditEvent.objects.count() == before

    assert "git_repositories 1" in apply_config(GOOD.replace("branch: main", "branch: release"))
    assert GitRepository.objects.get(name="card-fraud").branch == "release"
    assert AuditEvent.objects.filter(action="gitrepository.updated").count() == 1


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("{name: r, url: 'ext::sh -c id', project: churn}", "integrations.git[0].url: Remote helpers"),
        ("{name: r, url: /srv/r.git, project: nope}", "integrations.git[0].project: unknown project 'nope'"),
        ("{name: r, url: /srv/r.git, project: churn, branch: 'a..b'}", "integrations.git[0].branch"),
        ("{name: r, url: /srv/r.git, project: churn, subdirectory: ../up}", "integrations.git[0].subdirectory"),
        ("{name: r, url: /srv/r.git, project: churn, credentials_env_var: TOKEN}", "only https URLs use a token"),
        ("{name: r, url: /srv/r.git, project: churn, credentials_env_var: 'bad-name'}", "credentials_env_var"),
        ("{name: r, url: /srv/r.git, project: churn, sync_interval_minutes: 0}", "sync_interval_minutes"),
        ("{name: r, url: /srv/r.git, project: churn, colour: red}", "unknown key(s) colour"),
        ("{name: r, url: /srv/r.git}", "integrations.git[0].project: required"),
        ("{name: r, url: /srv/r.git, project: churn, enabled: 'yes'}", "enabled: must be bool"),
    ],
)
def test_bad_entries_are_named_by_their_path(entry, problem):
    text = f"projects: []\nintegrations:\n  git:\n    - {entry}\n"
    from tests import factories

    factories.ProjectFactory(slug="churn")
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    assert any(problem in p for p in caught.value.details["problems"]), caught.value.details["problems"]


def test_duplicates_are_refused_and_nothing_is_applied(apply_config):
    text = GOOD + "    - {name: churn, url: /srv/other.git, project: churn}\n"
    with pytest.raises(CommandError, match=r"integrations\.git: duplicate churn"):
        apply_config(text)
    assert not GitRepository.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="gitrepository.").exists()


def test_git_is_a_known_integration():
    config = parse_config("integrations:\n  git: []\n")
    assert config.git == ()
    with pytest.raises(ConfigError, match="problem"):
        parse_config("integrations:\n  gitt: []\n")
