"""CI runs as PipelineRuns: the upsert and its ordering rule, jobs, linking by commit, delivery processing,
and the CI source and webhook delivery APIs."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integrations.ci import github, gitlab, jenkins
from integrations.ci.contracts import CiJobEvent, CiRunEvent
from integrations.ci.services import (
    PipelineRunUnknown,
    ci_job_record,
    ci_run_record,
    ci_source_upsert,
    webhook_delivery_accept,
)
from integrations.ci.tasks import process_webhook_delivery
from integrations.models import CiSource, GitRepository, SyncRun, WebhookDelivery
from mlgov.audit.models import AuditEvent
from mlgov.errors import ValidationFailed
from mlgov.inventory.models import Pipeline, PipelineRun
from mlgov.inventory.sync_services import pipeline_runs_link_by_commit
from tests import factories
from tests.integrations.ci import payloads as p

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
_ids = itertools.count(5000)


def run_event(**changes) -> CiRunEvent:
    base = CiRunEvent(
        provider="github",
        repository="github.com/acme/card-fraud",
        config_path=".github/workflows/train.yml",
        pipeline_name="Train",
        run_id="1001",
        status="success",
        commit_sha=p.SHA,
        trigger="push",
        started_at=T0,
        finished_at=T0 + timedelta(minutes=7),
        url="https://github.com/acme/card-fraud/actions/runs/1001",
    )
    return replace(base, **changes)


def actions(target_type: str = "pipelinerun") -> list[str]:
    """The object's own audit actions (its lineage edges are audited too, as lineage.edges_recorded)."""
    events = AuditEvent.objects.filter(target_type=target_type).exclude(action__startswith="lineage.")
    return list(events.order_by("seq").values_list("action", flat=True))


# --- ci_run_record ---


def test_a_run_creates_its_pipeline_and_is_audited():
    run = ci_run_record(actor="webhook:github", event=run_event())
    pipeline = run.pipeline
    assert (pipeline.external_source, pipeline.external_id) == (
        "repo:github.com/acme/card-fraud",
        ".github/workflows/train.yml",
    )
    assert (pipeline.provider, pipeline.name, pipeline.kind, pipeline.project) == ("github", "Train", "ci", None)
    assert (run.external_source, run.external_id, run.status, run.commit_sha) == (
        "repo:github.com/acme/card-fraud",
        "1001",
        "success",
        p.SHA,
    )
    assert actions("pipeline") == ["pipeline.created"]
    assert actions() == ["pipelinerun.created"]
    event = AuditEvent.objects.get(action="pipelinerun.created")
    assert event.actor_name == "webhook:github"
    assert event.after["status"] == "success"


@pytest.mark.parametrize(
    "urls",
    [
        {"url": "git@github.com:Acme/Card-Fraud.git", "web_url": ""},
        {"url": "/srv/git/card-fraud", "web_url": "https://github.com/acme/card-fraud/"},
        {"url": "https://github.com/acme/card-fraud.git", "web_url": ""},
    ],
)
def test_the_pipeline_belongs_to_the_project_of_the_matching_repository(urls):
    project = factories.ProjectFactory()
    GitRepository.objects.create(name="other", url="https://github.com/acme/card-fraud-legacy.git", project=project)
    GitRepository.objects.create(name="card-fraud", project=project, **urls)
    assert ci_run_record(actor="t", event=run_event()).pipeline.project == project


def test_a_later_repository_mapping_assigns_the_pipeline():
    run = ci_run_record(actor="t", event=run_event())
    assert run.pipeline.project is None
    project = factories.ProjectFactory()
    GitRepository.objects.create(name="cf", url="git@github.com:acme/card-fraud.git", project=project)
    run = ci_run_record(actor="t", event=run_event(run_id="1002"))
    assert run.pipeline.project == project
    assert actions("pipeline") == ["pipeline.created", "pipeline.updated"]


def test_the_same_event_twice_has_one_effect():
    first = ci_run_record(actor="t", event=run_event())
    second = ci_run_record(actor="t", event=run_event())
    assert first.pk == second.pk
    assert PipelineRun.objects.count() == Pipeline.objects.count() == 1
    assert actions() == ["pipelinerun.created"]


def test_an_in_progress_after_completed_does_not_regress_the_run():
    ci_run_record(actor="t", event=run_event(status="queued", finished_at=None))
    ci_run_record(actor="t", event=run_event(status="success"))
    late = ci_run_record(actor="t", event=run_event(status="running", finished_at=None))
    assert (late.status, late.finished_at) == ("success", T0 + timedelta(minutes=7))
    assert actions() == ["pipelinerun.created", "pipelinerun.updated"]


def test_a_queued_after_running_does_not_regress_the_run():
    ci_run_record(actor="t", event=run_event(status="running", finished_at=None))
    assert ci_run_record(actor="t", event=run_event(status="queued", finished_at=None)).status == "running"


def test_a_rerun_moves_the_run_on_and_the_old_attempt_cannot_come_back():
    ci_run_record(actor="t", event=run_event(status="failure"))  # attempt 1 finished at T0+7
    T2 = T0 + timedelta(minutes=30)
    rerun = ci_run_record(actor="t", event=run_event(status="running", started_at=T2, finished_at=None))
    assert (rerun.status, rerun.started_at, rerun.finished_at) == ("running", T2, None)
    stale = ci_run_record(actor="t", event=run_event(status="failure"))  # attempt 1's completion, redelivered
    assert stale.status == "running"
    done = ci_run_record(
        actor="t", event=run_event(status="success", started_at=T2, finished_at=T2 + timedelta(minutes=6))
    )
    assert (done.status, done.finished_at) == ("success", T2 + timedelta(minutes=6))


def _attempt_events(run_id: str) -> list[CiRunEvent]:
    T1, T2, T3 = (T0 + timedelta(minutes=m) for m in (7, 30, 36))
    base = run_event(run_id=run_id)
    return [
        replace(base, status="queued", started_at=T0, finished_at=None),
        replace(base, status="running", started_at=T0, finished_at=None),
        replace(base, status="success", started_at=T0, finished_at=T1),
        replace(base, status="running", started_at=T2, finished_at=None),  # re-run
        replace(base, status="failure", started_at=T2, finished_at=T3),
    ]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order=st.permutations(range(5)))
def test_any_delivery_order_ends_at_the_latest_state(order):
    """Webhooks are retried and polls overlap them: whatever order the events of two attempts arrive in,
    the run ends as the last attempt finished."""
    events = _attempt_events(str(next(_ids)))
    for i in order:
        run = ci_run_record(actor="t", event=events[i])
    assert (run.status, run.started_at, run.finished_at) == ("failure", events[4].started_at, events[4].finished_at)


def test_invalid_events_are_refused():
    with pytest.raises(ValidationFailed):
        ci_run_record(actor="t", event=run_event(status="passed"))
    with pytest.raises(ValidationFailed):
        ci_run_record(actor="t", event=run_event(run_id=""))
    assert not PipelineRun.objects.exists()


def test_long_repository_identities_fit_the_external_source_column():
    repo = "gitlab.example.com/" + "/".join(["deeply-nested-group"] * 8) + "/project"
    run = ci_run_record(actor="t", event=run_event(provider="gitlab", repository=repo, config_path=".gitlab-ci.yml"))
    assert len(run.external_source) <= 120
    assert (
        ci_run_record(actor="t", event=run_event(provider="gitlab", repository=repo, config_path=".gitlab-ci.yml")).pk
        == run.pk
    )


# --- Jobs ---


def test_gitlab_pipeline_jobs_then_a_job_event_merges_without_regressing():
    run = ci_run_record(
        actor="t", event=gitlab.parse_webhook("Pipeline Hook", p.gl_pipeline_hook(status="running", finished_at=None))
    )
    assert len(run.jobs) == 5
    job = gitlab.job_event(
        p.gl_job_hook(
            build_id=378,
            status="success",
            started_at="2026-11-23T10:01:10Z",
            finished_at="2026-11-23T10:09:00Z",
            name="lint",
        )
    )
    run = ci_job_record(actor="t", event=job)
    lint = next(j for j in run.jobs if j["id"] == "378")
    assert (lint["status"], lint["finished_at"]) == ("success", "2026-11-23T10:09:00+00:00")
    stale = gitlab.job_event(
        p.gl_job_hook(build_id=378, status="running", started_at="2026-11-23T10:01:10Z", name="lint")
    )
    run = ci_job_record(actor="t", event=stale)
    assert next(j for j in run.jobs if j["id"] == "378")["status"] == "success"
    new = gitlab.job_event(p.gl_job_hook(build_id=1977, status="running"))
    assert len(ci_job_record(actor="t", event=new).jobs) == 6
    assert AuditEvent.objects.filter(action="pipelinerun.updated").count() == 2  # the stale event wrote nothing


def test_a_job_for_an_unknown_run_is_refused():
    event = CiJobEvent(
        provider="github",
        repository="github.com/acme/card-fraud",
        run_id="404",
        job={"id": "1", "name": "x", "status": "running"},
    )
    with pytest.raises(PipelineRunUnknown):
        ci_job_record(actor="t", event=event)


# --- Linking by commit ---


def test_a_ci_run_links_to_training_runs_of_its_commit():
    trained = factories.TrainingRunFactory(git_commit=p.SHA)
    other = factories.TrainingRunFactory()
    run = ci_run_record(actor="t", event=run_event())
    assert list(run.training_runs.all()) == [trained]
    assert other.pipeline_runs.count() == 0
    linked = AuditEvent.objects.get(action="pipelinerun.training_runs_linked")
    assert (linked.target_id, linked.after) == (str(run.pk), {"training_runs": [trained.pk]})


def test_a_training_run_synced_later_is_linked_by_the_sync_call():
    run = ci_run_record(actor="t", event=run_event())
    assert run.training_runs.count() == 0
    trained = factories.TrainingRunFactory(git_commit=p.SHA)
    assert pipeline_runs_link_by_commit(commits=[p.SHA.upper(), "", "f" * 40]) == 1
    assert pipeline_runs_link_by_commit(commits=[p.SHA]) == 0  # idempotent
    assert list(run.training_runs.all()) == [trained]
    assert AuditEvent.objects.filter(action="pipelinerun.training_runs_linked").count() == 1


def test_linking_is_many_to_many_and_skips_removed_rows():
    a = factories.TrainingRunFactory(git_commit=p.SHA)
    b = factories.TrainingRunFactory(git_commit=p.SHA)
    factories.TrainingRunFactory(git_commit=p.SHA, removed_at=T0)
    r1 = ci_run_record(actor="t", event=run_event(run_id="1"))
    r2 = ci_run_record(actor="t", event=run_event(run_id="2", config_path=".github/workflows/eval.yml"))
    assert set(r1.training_runs.all()) == set(r2.training_runs.all()) == {a, b}
    assert a.pipeline_runs.count() == 2


def test_linking_nothing_costs_nothing(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert pipeline_runs_link_by_commit(commits=[]) == 0


# --- Delivery processing ---


def test_deliveries_become_runs_and_jobs(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        run_delivery = webhook_delivery_accept(
            provider="github", delivery_key="d-1", event="workflow_run", payload=p.gh_workflow_run_event()
        )
        job_delivery = webhook_delivery_accept(
            provider="github", delivery_key="d-2", event="workflow_job", payload=p.gh_workflow_job_event()
        )
    assert len(callbacks) == 2
    run_delivery.refresh_from_db()
    job_delivery.refresh_from_db()
    assert (run_delivery.status, job_delivery.status) == ("processed", "processed")
    assert run_delivery.pipeline_run_id == job_delivery.pipeline_run_id
    run = run_delivery.pipeline_run
    assert [j["name"] for j in run.jobs] == ["train-model"]
    assert process_webhook_delivery.apply(args=[run_delivery.pk]).get()["status"] == "processed"  # twice: no-op
    assert PipelineRun.objects.count() == 1


def test_a_job_delivery_before_its_run_fails_without_a_broker(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        delivery = webhook_delivery_accept(
            provider="github", delivery_key="d-3", event="workflow_job", payload=p.gh_workflow_job_event(run_id=777)
        )
    delivery.refresh_from_db()
    assert delivery.status == "failed"
    assert "777" in delivery.error


def test_a_job_delivery_waits_for_its_run_with_retries(monkeypatch):
    delivery = WebhookDelivery.objects.create(
        provider="github", delivery_key="d-4", event="workflow_job", payload=p.gh_workflow_job_event()
    )
    scheduled = []

    def fake_retry(*, exc, countdown):
        scheduled.append(countdown)
        raise RuntimeError("retry scheduled")

    monkeypatch.setattr(process_webhook_delivery, "retry", fake_retry)
    process_webhook_delivery.push_request(retries=0, is_eager=False, called_directly=False)
    try:
        with pytest.raises(RuntimeError):
            process_webhook_delivery.run(delivery.pk)
        delivery.refresh_from_db()
        assert delivery.status == "queued"
        assert len(scheduled) == 1
        ci_run_record(actor="t", event=github.parse_webhook("workflow_run", p.gh_workflow_run_event()))
        assert process_webhook_delivery.run(delivery.pk)["status"] == "processed"
    finally:
        process_webhook_delivery.pop_request()


def test_a_payload_that_no_longer_normalises_fails_the_delivery():
    delivery = WebhookDelivery.objects.create(
        provider="jenkins",
        delivery_key="j#1:COMPLETED",
        event="build.completed",
        payload={"name": "x", "build": {"number": 1, "phase": "COMPLETED"}},
    )
    assert process_webhook_delivery.apply(args=[delivery.pk]).get()["status"] == "failed"
    delivery.refresh_from_db()
    assert "scm" in delivery.error


def test_jenkins_phases_of_one_build_are_one_run(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        for phase, status in (("STARTED", None), ("COMPLETED", "FAILURE"), ("FINALIZED", "FAILURE")):
            payload = p.jenkins_notification(phase=phase, status=status)
            webhook_delivery_accept(
                provider="jenkins",
                delivery_key=jenkins.delivery_key(payload),
                event=f"build.{phase.lower()}",
                payload=payload,
            )
    run = PipelineRun.objects.get()
    assert (run.external_id, run.status, run.pipeline.config_path) == ("acme/card-fraud#18", "failure", "Jenkinsfile")


# --- CI source API ---


@pytest.fixture
def admin_api(api_client_for, admin_user):
    return api_client_for(admin_user)


def test_admins_manage_ci_sources_with_audit(admin_api):
    GitRepository.objects.create(name="card-fraud", url="git@github.com:acme/card-fraud.git")
    body = {
        "name": "gh-cf",
        "provider": "github",
        "base_url": "https://api.github.com",
        "target": "acme/card-fraud",
        "token_env_var": "GITHUB_CF_TOKEN",
        "repository": "card-fraud",
    }
    created = admin_api.post("/api/v1/ci-sources/", body, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["repository"] == "card-fraud"
    assert created.json()["last_poll_status"] is None
    changed = admin_api.patch("/api/v1/ci-sources/gh-cf", {"enabled": False}, format="json")
    assert changed.status_code == 200, changed.content
    assert admin_api.delete("/api/v1/ci-sources/gh-cf/").status_code == 204
    assert actions("cisource") == ["cisource.created", "cisource.updated", "cisource.deleted"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"provider": "github", "base_url": "file:///etc/passwd", "target": "acme/cf"}, "base_url"),
        ({"provider": "github", "base_url": "https://api.github.com", "target": "acme"}, "target"),
        ({"provider": "gitlab", "base_url": "https://gitlab.example.com", "target": "../x"}, "target"),
        ({"provider": "jenkins", "base_url": "https://j.example.com", "target": "a/../b"}, "target"),
        (
            {"provider": "github", "base_url": "https://api.github.com", "target": "a/b", "token_env_var": "$(id)"},
            "token_env_var",
        ),
        ({"provider": "circleci", "base_url": "https://circleci.com", "target": "a/b"}, "provider"),
    ],
)
def test_bad_ci_sources_are_400(admin_api, body, field):
    response = admin_api.post("/api/v1/ci-sources/", {"name": "s", **body}, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["details"]
    assert not CiSource.objects.exists()


def test_only_admins_change_ci_sources(api_client_for, maintainer):
    CiSource.objects.create(name="gh", provider="github", base_url="https://api.github.com", target="a/b")
    client = api_client_for(maintainer)
    assert client.get("/api/v1/ci-sources/").status_code == 200
    assert client.patch("/api/v1/ci-sources/gh/", {"enabled": False}, format="json").status_code == 403
    assert client.delete("/api/v1/ci-sources/gh/").status_code == 403


def test_poll_is_queued_on_commit_and_answers_202(admin_api, django_capture_on_commit_callbacks):
    ci_source_upsert(actor="t", name="gh", provider="github", base_url="https://api.github.com", target="a/b")
    with django_capture_on_commit_callbacks() as callbacks:
        response = admin_api.post("/api/v1/ci-sources/gh/poll")
        again = admin_api.post("/api/v1/ci-sources/gh/poll")
    assert response.status_code == again.status_code == 202, response.content
    assert response.json()["target"] == "ci:gh"
    assert response.json()["status"] == "queued"
    assert again.json()["id"] == response.json()["id"]  # a poll already waiting is returned, not queued twice
    assert len(callbacks) == 1
    assert SyncRun.objects.filter(target="ci:gh").count() == 1


def test_members_cannot_ask_for_a_poll(api_client_for, member):
    CiSource.objects.create(name="gh", provider="github", base_url="https://api.github.com", target="a/b")
    assert api_client_for(member).post("/api/v1/ci-sources/gh/poll").status_code == 403


# --- Webhook deliveries API ---


def test_admins_list_and_filter_deliveries(admin_api):
    WebhookDelivery.objects.create(provider="github", delivery_key="a", event="workflow_run", payload={"x": 1})
    failed = WebhookDelivery.objects.create(
        provider="gitlab",
        delivery_key="pipeline:1:failed",
        event="Pipeline Hook",
        status="failed",
        error="boom",
        payload={},
    )
    body = admin_api.get("/api/v1/webhook-deliveries/", {"provider": "gitlab", "status": "failed"}).json()
    assert [r["id"] for r in body["results"]] == [failed.pk]
    assert "payload" not in body["results"][0]
    detail = admin_api.get(f"/api/v1/webhook-deliveries/{failed.pk}/").json()
    assert detail["error"] == "boom"
    assert detail["payload"] == {}
    assert admin_api.get("/api/v1/webhook-deliveries/", {"provder": "x"}).status_code == 400
    assert admin_api.get("/api/v1/webhook-deliveries/", {"since": "2000-01-01T00:00:00Z"}).json()["results"]


def test_deliveries_are_for_admins_only(api_client_for, maintainer, manager):
    for user in (maintainer, manager):
        response = api_client_for(user).get("/api/v1/webhook-deliveries/")
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "permission_denied"


def test_in_a_monorepo_the_repository_whose_subdirectory_holds_the_config_wins():
    root_project, scorer_project = factories.ProjectFactory(), factories.ProjectFactory()
    url = "https://gitlab.example.com/acme/mono.git"
    GitRepository.objects.create(name="mono", url=url, project=root_project)
    GitRepository.objects.create(name="scorer", url=url, subdirectory="services/scorer", project=scorer_project)
    event = run_event(provider="gitlab", repository="gitlab.example.com/acme/mono")
    assert ci_run_record(actor="t", event=replace(event, config_path=".gitlab-ci.yml")).pipeline.project == root_project
    nested = replace(event, config_path="services/scorer/.gitlab-ci.yml", run_id="2")
    assert ci_run_record(actor="t", event=nested).pipeline.project == scorer_project


def test_a_run_never_moves_a_pipeline_to_another_project():
    pipeline = factories.PipelineFactory(
        external_source="repo:github.com/acme/card-fraud", external_id=".github/workflows/train.yml"
    )
    GitRepository.objects.create(
        name="cf", url="git@github.com:acme/card-fraud.git", project=factories.ProjectFactory()
    )
    assert ci_run_record(actor="t", event=run_event()).pipeline.project == pipeline.project
