"""A model version's commit links to the repository: the run's `mlflow.source.git.repoURL` tag, else the
GitRepository known for the version's project (integrations fills the inventory's commit-link hook)."""

from __future__ import annotations

import pytest

from integrations.models import GitRepository
from tests import factories

pytestmark = pytest.mark.django_db


def version_without_repo_tag():
    run = factories.TrainingRunFactory(tags={})
    return factories.ModelVersionFactory(
        model=factories.RegisteredModelFactory(project=run.project),
        training_run=run,
        run_id=run.external_id,
        git_commit=run.git_commit,
    )


def commit_url_of(api, version) -> str | None:
    response = api.get(f"/api/v1/model-versions/{version.pk}/")
    assert response.status_code == 200
    return response.json()["commit_url"]


def test_the_projects_repository_gives_the_commit_link_when_the_run_names_none(api):
    version = version_without_repo_tag()
    project = version.model.project
    GitRepository.objects.create(
        name="fraud", url="/srv/git/fraud.git", project=project, web_url="https://github.com/acme/fraud/"
    )
    assert commit_url_of(api, version) == f"https://github.com/acme/fraud/commit/{version.git_commit}"


def test_a_gitlab_repository_gets_gitlabs_commit_path(api):
    version = version_without_repo_tag()
    GitRepository.objects.create(
        name="churn", url="/srv/git/churn.git", project=version.model.project, web_url="https://gitlab.example/ds/churn"
    )
    assert commit_url_of(api, version) == f"https://gitlab.example/ds/churn/-/commit/{version.git_commit}"


def test_the_runs_own_repo_url_wins_over_the_projects_repository(api):
    version = version_without_repo_tag()
    version.training_run.tags = {"mlflow.source.git.repoURL": "git@github.com:acme/trainer.git"}
    version.training_run.save()
    GitRepository.objects.create(
        name="fraud", url="/srv/git/fraud.git", project=version.model.project, web_url="https://github.com/acme/fraud"
    )
    assert commit_url_of(api, version) == f"https://github.com/acme/trainer/commit/{version.git_commit}"


@pytest.mark.parametrize(
    "repos",
    [
        [],  # no repository known
        [{"web_url": ""}],  # a repository without a browsable URL
        [{"web_url": "https://github.com/acme/fraud", "enabled": False}],  # a disabled one
        [{"web_url": "https://github.com/acme/a"}, {"web_url": "https://github.com/acme/b"}],  # which one? none
    ],
    ids=["none", "no-web-url", "disabled", "ambiguous"],
)
def test_no_link_without_exactly_one_usable_repository(api, repos):
    version = version_without_repo_tag()
    for i, fields in enumerate(repos):
        GitRepository.objects.create(name=f"r{i}", url=f"/srv/git/r{i}.git", project=version.model.project, **fields)
    assert commit_url_of(api, version) is None


def test_another_projects_repository_is_not_used(api):
    version = version_without_repo_tag()
    GitRepository.objects.create(
        name="other", url="/srv/git/other.git", project=factories.ProjectFactory(), web_url="https://github.com/x/y"
    )
    assert commit_url_of(api, version) is None


def test_the_model_version_page_links_the_commit(client, user):
    version = version_without_repo_tag()
    GitRepository.objects.create(
        name="fraud", url="/srv/git/fraud.git", project=version.model.project, web_url="https://github.com/acme/fraud"
    )
    client.force_login(user)
    response = client.get(f"/model-versions/{version.pk}/")
    assert response.status_code == 200
    assert f'href="https://github.com/acme/fraud/commit/{version.git_commit}"' in response.content.decode()
