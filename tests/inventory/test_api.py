"""One generic API test suite for every inventory endpoint (after NetBox utilities/testing/api.py).

Each endpoint class names its URL, a factory that builds one object, and the filters to check.
Read-only (synced) endpoints refuse writes; writable ones check create/update/delete, permissions
across teams, and that an audit row was written in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from mlgov.audit.models import AuditEvent
from mlgov.inventory.models import Project, Team
from tests import factories

pytestmark = pytest.mark.django_db


def _team_of(obj) -> Team | None:
    for path in ("team", "project.team", "model.project.team", "pipeline.project.team", "experiment.project.team"):
        cur = obj
        for part in path.split("."):
            cur = getattr(cur, part, None)
            if cur is None:
                break
        if isinstance(cur, Team):
            return cur
    return None


class EndpointSuite:
    endpoint: ClassVar[str]
    lookup: ClassVar[str] = "id"
    make: ClassVar[Callable[..., Any]]
    # (query parameter, function of the object giving a value that matches it)
    filters: ClassVar[list[tuple[str, Callable[[Any], str]]]] = []

    def url(self, obj=None) -> str:
        base = f"/api/v1/{self.endpoint}/"
        return base if obj is None else f"{base}{getattr(obj, self.lookup)}/"

    def test_list_requires_authentication(self, client):
        type(self).make()
        response = client.get(self.url())
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "not_authenticated"

    def test_list_and_detail(self, api):
        objs = [type(self).make() for _ in range(3)]
        response = api.get(self.url())
        assert response.status_code == 200, response.content
        body = response.json()
        assert {"next", "previous", "results"} <= body.keys()
        listed = {str(r[self.lookup]) for r in body["results"]}
        assert {str(getattr(o, self.lookup)) for o in objs} <= listed
        detail = api.get(self.url(objs[0]))
        assert detail.status_code == 200
        assert str(detail.json()[self.lookup]) == str(getattr(objs[0], self.lookup))

    def test_detail_missing_is_404_in_error_shape(self, api):
        response = api.get(f"/api/v1/{self.endpoint}/999999999/")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"

    def test_cursor_pagination_walks_every_row_once(self, api):
        for _ in range(7):
            type(self).make()
        seen, url, pages = [], self.url() + "?page_size=3", 0
        while url:
            body = api.get(url).json()
            seen += [r[self.lookup] for r in body["results"]]
            url, pages = body["next"], pages + 1
        assert len(seen) == len(set(seen)) >= 7
        assert pages >= 3

    def test_query_count_is_constant_in_page_size(self, api, django_assert_num_queries):
        """The same number of queries for 10 rows and for 100, each row with its own team, project, model...
        so a per-row query (N+1) on any relation shows up."""
        for _ in range(101):
            type(self).make()
        api.get(self.url())  # warm up: token last-used stamp, content types
        with CaptureQueriesContext(connection) as small:
            response = api.get(self.url() + "?page_size=10")
        assert len(response.json()["results"]) == 10
        with django_assert_num_queries(len(small.captured_queries)):
            response = api.get(self.url() + "?page_size=100")
        assert len(response.json()["results"]) == 100
        assert response.json()["next"]

    def test_filters_select_matching_rows(self, api):
        target = type(self).make()
        other = type(self).make()
        for param, value_of in self.filters:
            value = value_of(target)
            response = api.get(self.url(), {param: value})
            assert response.status_code == 200, (param, response.content)
            ids = {r["id"] for r in response.json()["results"]}
            assert target.pk in ids, param
            if value_of(other) != value:
                assert other.pk not in ids, param

    def test_updated_since_filter(self, api):
        obj = type(self).make()
        future = "2999-01-01T00:00:00Z"
        assert api.get(self.url(), {"updated_since": future}).json()["results"] == []
        past = api.get(self.url(), {"updated_since": "2000-01-01T00:00:00Z"}).json()["results"]
        assert obj.pk in {r["id"] for r in past}

    def test_unknown_filter_is_400(self, api):
        type(self).make()
        response = api.get(self.url(), {"tema": "x"})
        assert response.status_code == 400
        err = response.json()["error"]
        assert err["code"] == "invalid"
        assert err["details"]["unknown_parameters"] == ["tema"]

    def test_bad_ordering_is_400(self, api):
        response = api.get(self.url(), {"ordering": "password"})
        assert response.status_code == 400
        assert "ordering" in response.json()["error"]["details"]


class ReadOnlySuite(EndpointSuite):
    def test_writes_are_refused(self, api_client_for, admin_user):
        obj = type(self).make()
        client = api_client_for(admin_user)
        assert client.post(self.url(), {"name": "x"}, format="json").status_code == 405
        assert client.patch(self.url(obj), {"name": "x"}, format="json").status_code == 405
        assert client.delete(self.url(obj)).status_code == 405
        assert type(obj).objects.filter(pk=obj.pk).exists()


def _team_slug(o) -> str:
    return _team_of(o).slug


class TestTeams(EndpointSuite):
    endpoint = "teams"
    lookup = "slug"
    make = staticmethod(factories.TeamFactory)
    filters = [("slug", lambda t: t.slug), ("q", lambda t: t.name)]

    def test_admin_creates_team_with_audit_row(self, api_client_for, admin_user):
        response = api_client_for(admin_user).post(
            self.url(), {"slug": "vision", "name": "Vision", "description": "CV models"}, format="json"
        )
        assert response.status_code == 201, response.content
        team = Team.objects.get(slug="vision")
        event = AuditEvent.objects.get(action="team.created", target_id=str(team.pk))
        assert event.actor_name == admin_user.username
        assert event.after["name"] == "Vision"
        assert event.source == "api"
        assert event.request_id == response["X-Request-ID"]

    def test_non_admin_cannot_create_team(self, api_client_for, maintainer):
        response = api_client_for(maintainer).post(self.url(), {"slug": "x", "name": "X"}, format="json")
        assert response.status_code == 403
        assert not Team.objects.filter(slug="x").exists()
        assert AuditEvent.objects.filter(action="security.permission_denied").exists()

    def test_maintainer_edits_own_team_but_not_another(self, api_client_for, team, other_team, maintainer):
        client = api_client_for(maintainer)
        ok = client.patch(self.url(team), {"description": "new"}, format="json")
        assert ok.status_code == 200, ok.content
        assert AuditEvent.objects.filter(action="team.updated", target_id=str(team.pk)).count() == 1
        denied = client.patch(self.url(other_team), {"description": "hijack"}, format="json")
        assert denied.status_code == 403
        other_team.refresh_from_db()
        assert other_team.description == ""

    def test_team_with_projects_cannot_be_deleted(self, api_client_for, admin_user, team):
        factories.ProjectFactory(team=team)
        response = api_client_for(admin_user).delete(self.url(team))
        assert response.status_code == 409
        assert Team.objects.filter(pk=team.pk).exists()
        assert not AuditEvent.objects.filter(action="team.deleted").exists()


class TestProjects(EndpointSuite):
    endpoint = "projects"
    make = staticmethod(factories.ProjectFactory)
    filters = [
        ("team", _team_slug),
        ("lifecycle", lambda p: p.lifecycle),
        ("risk_tier", lambda p: str(p.risk_tier)),
        ("q", lambda p: p.slug),
    ]

    def test_maintainer_creates_updates_deletes_with_audit(self, api_client_for, team, maintainer):
        client = api_client_for(maintainer)
        created = client.post(
            self.url(),
            {"team": team.slug, "slug": "churn", "name": "Churn", "risk_tier": 1, "lifecycle": "in_development"},
            format="json",
        )
        assert created.status_code == 201, created.content
        project = Project.objects.get(slug="churn")
        updated = client.patch(self.url(project), {"lifecycle": "in_use"}, format="json")
        assert updated.status_code == 200
        assert updated.json()["lifecycle"] == "in_use"
        assert client.delete(self.url(project)).status_code == 204
        actions = list(
            AuditEvent.objects.filter(target_type="project", target_id=str(project.pk))
            .order_by("seq")
            .values_list("action", flat=True)
        )
        assert actions == ["project.created", "project.updated", "project.deleted"]
        update = AuditEvent.objects.get(action="project.updated")
        assert update.before["lifecycle"] == "in_development"
        assert update.after["lifecycle"] == "in_use"

    def test_team_a_maintainer_cannot_change_team_b_project(self, api_client_for, maintainer, other_team):
        victim = factories.ProjectFactory(team=other_team, name="B's project")
        client = api_client_for(maintainer)
        assert client.patch(self.url(victim), {"name": "pwned"}, format="json").status_code == 403
        assert client.delete(self.url(victim)).status_code == 403
        created = client.post(self.url(), {"team": other_team.slug, "slug": "sneaky", "name": "Sneaky"}, format="json")
        assert created.status_code == 403
        victim.refresh_from_db()
        assert victim.name == "B's project"
        assert not Project.objects.filter(slug="sneaky").exists()

    def test_member_cannot_write_and_cannot_move_project_away(
        self, api_client_for, team, member, maintainer, other_team
    ):
        project = factories.ProjectFactory(team=team)
        assert api_client_for(member).patch(self.url(project), {"name": "x"}, format="json").status_code == 403
        moved = api_client_for(maintainer).patch(self.url(project), {"team": other_team.slug}, format="json")
        assert moved.status_code == 403
        project.refresh_from_db()
        assert project.team_id == team.pk

    def test_read_scoped_token_cannot_write(self, api_client_for, team, maintainer):
        project = factories.ProjectFactory(team=team)
        response = api_client_for(maintainer, scope="read").patch(self.url(project), {"name": "x"}, format="json")
        assert response.status_code == 403
        assert "read-only" in response.json()["error"]["message"]

    def test_duplicate_slug_is_400_not_500(self, api_client_for, team, maintainer):
        existing = factories.ProjectFactory(team=team)
        response = api_client_for(maintainer).post(
            self.url(), {"team": team.slug, "slug": existing.slug, "name": "Other"}, format="json"
        )
        assert response.status_code == 400
        assert "slug" in response.json()["error"]["details"]


class TestRegisteredModels(ReadOnlySuite):
    endpoint = "models"
    make = staticmethod(lambda: factories.ModelAliasFactory(alias="production").model)
    filters = [
        ("team", _team_slug),
        ("project", lambda m: m.project.slug),
        ("name", lambda m: m.name),
        ("alias", lambda m: "production"),
        ("external_source", lambda m: m.external_source),
    ]

    def test_unassigned_models_are_listed(self, api):
        orphan = factories.RegisteredModelFactory(project=None)
        results = api.get(self.url(), {"unassigned": "true"}).json()["results"]
        assert [r["id"] for r in results] == [orphan.pk]
        assert results[0]["project"] is None

    def test_aliases_are_shown(self, api):
        model = type(self).make()
        assert api.get(self.url(model)).json()["aliases"] == {"production": model.aliases.get().version.version}


class TestModelVersions(ReadOnlySuite):
    endpoint = "model-versions"
    make = staticmethod(lambda: factories.ModelAliasFactory(alias="champion").version)
    filters = [
        ("team", _team_slug),
        ("project", lambda v: v.model.project.slug),
        ("model", lambda v: v.model.name),
        ("alias", lambda v: "champion"),
        ("status", lambda v: v.status),
        ("commit", lambda v: v.git_commit),
        ("commit", lambda v: v.git_commit[:10]),
        ("run_id", lambda v: v.run_id),
        ("q", lambda v: v.model.name),
        ("q", lambda v: v.run_id),
        ("q", lambda v: v.git_commit[:9]),
    ]

    def test_list_rows_equal_the_full_serializer(self, api):
        """The list reads names from columns; its rows must be what the object serializer gives."""
        from mlgov.inventory.selectors import model_version_list
        from mlgov.inventory.serializers import ModelVersionSerializer

        versions = [type(self).make() for _ in range(3)]
        orphan = factories.ModelVersionFactory(model=factories.RegisteredModelFactory(project=None))
        listed = {r["id"]: r for r in api.get(self.url()).json()["results"]}
        for version in [*versions, orphan]:
            full = ModelVersionSerializer(model_version_list(user=None).get(pk=version.pk)).data
            assert listed[version.pk] == dict(full)
        assert listed[orphan.pk]["project"] is None
        assert listed[orphan.pk]["team"] is None

    def test_search_words_each_match_a_name_run_or_commit(self, api):
        a = factories.ModelVersionFactory(
            model=factories.RegisteredModelFactory(name="fraud-scorer"), git_commit="abcdef0123" + "4" * 30
        )
        b = factories.ModelVersionFactory(model=factories.RegisteredModelFactory(name="churn-scorer"))

        def ids(q: str) -> set[int]:
            response = api.get(self.url(), {"q": q})
            assert response.status_code == 200, response.content
            return {r["id"] for r in response.json()["results"]}

        assert ids("scorer") >= {a.pk, b.pk}
        assert a.pk in ids("FRAUD")
        assert b.pk not in ids("FRAUD")
        assert ids("fraud scorer") & {a.pk, b.pk} == {a.pk}  # every word must match
        assert ids(a.run_id) & {a.pk, b.pk} == {a.pk}
        assert ids(a.git_commit[:7].upper()) & {a.pk, b.pk} == {a.pk}
        assert ids("no-such-model") == set()

    def test_version_fields(self, api):
        version = type(self).make()
        body = api.get(self.url(version)).json()
        assert body["aliases"] == ["champion"]
        assert body["git_commit"] == version.git_commit
        assert body["metrics"] == {"auc": 0.9}
        assert body["model_name"] == version.model.name


class TestDatasets(ReadOnlySuite):
    endpoint = "datasets"
    make = staticmethod(factories.DatasetFactory)
    filters = [
        ("team", _team_slug),
        ("project", lambda d: d.project.slug),
        ("digest", lambda d: d.digest),
        ("name", lambda d: d.name),
    ]


class TestFeatures(ReadOnlySuite):
    endpoint = "features"
    make = staticmethod(factories.FeatureFactory)
    filters = [("team", _team_slug), ("project", lambda f: f.project.slug), ("dataset", lambda f: str(f.dataset_id))]


class TestPipelines(ReadOnlySuite):
    endpoint = "pipelines"
    make = staticmethod(factories.PipelineFactory)
    filters = [
        ("team", _team_slug),
        ("project", lambda p: p.project.slug),
        ("provider", lambda p: p.provider),
        ("kind", lambda p: p.kind),
    ]


class TestPipelineRuns(ReadOnlySuite):
    endpoint = "pipeline-runs"
    make = staticmethod(factories.PipelineRunFactory)
    filters = [
        ("team", _team_slug),
        ("pipeline", lambda r: str(r.pipeline_id)),
        ("status", lambda r: r.status),
        ("commit", lambda r: r.commit_sha),
    ]


class TestExperiments(ReadOnlySuite):
    endpoint = "experiments"
    make = staticmethod(factories.ExperimentFactory)
    filters = [("team", _team_slug), ("project", lambda e: e.project.slug), ("name", lambda e: e.name)]


class TestTrainingRuns(ReadOnlySuite):
    endpoint = "runs"
    make = staticmethod(factories.TrainingRunFactory)
    filters = [
        ("team", _team_slug),
        ("project", lambda r: r.project.slug),
        ("experiment", lambda r: str(r.experiment_id)),
        ("status", lambda r: r.status),
        ("launched_by", lambda r: r.launched_by),
        ("commit", lambda r: r.git_commit[:12]),
    ]


def test_model_version_detail_has_run_datasets_and_commit_link(api):
    from mlgov.inventory.models import RunInput

    run = factories.TrainingRunFactory(tags={"mlflow.source.git.repoURL": "git@github.com:acme/fraud.git"})
    dataset = factories.DatasetFactory(project=run.project)
    RunInput.objects.create(run=run, dataset=dataset, context="training")
    version = factories.ModelVersionFactory(training_run=run, run_id=run.external_id, git_commit=run.git_commit)
    body = api.get(f"/api/v1/model-versions/{version.pk}/").json()
    assert body["run"]["params"] == {"lr": "0.1"}
    assert body["run"]["metrics"] == {"auc": 0.91}
    assert body["dataset_inputs"] == [
        {
            "dataset": dataset.pk,
            "name": dataset.name,
            "digest": dataset.digest,
            "source_type": "s3",
            "source": dataset.source,
            "context": "training",
        }
    ]
    assert body["commit_url"] == f"https://github.com/acme/fraud/commit/{run.git_commit}"
    assert body["sync_history"] == []
    listed = api.get("/api/v1/model-versions/").json()["results"][0]
    assert "run" not in listed  # the list stays lean; the detail carries the run
