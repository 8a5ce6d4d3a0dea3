"""CI normalisers on documented payload shapes, and the polling clients against a local HTTP server
(the real client code makes real HTTP calls to 127.0.0.1): pagination, authentication headers, typed errors,
and the `poll_ci_source` task end to end."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from integrations.ci import github, gitlab, jenkins
from integrations.ci.client import (
    CiAuthError,
    CiBadResponse,
    CiConfigError,
    CiNotFound,
    CiRateLimited,
    CiUnreachable,
    JsonHttpClient,
    next_link,
)
from integrations.ci.common import STATUSES, PayloadError, parse_time
from integrations.ci.contracts import CiJobEvent, CiRunEvent
from integrations.ci.tasks import poll_ci_source
from integrations.models import CiSource, SyncRun
from mlgov.inventory.choices import RunStatus
from mlgov.inventory.models import PipelineRun
from tests.integrations.ci import payloads as p
from tests.integrations.ci.conftest import CiApiServer, Reply, Seen


def test_statuses_are_the_inventory_run_statuses():
    assert set(STATUSES) == set(RunStatus.values)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-11-23T10:07:49Z", datetime(2026, 11, 23, 10, 7, 49, tzinfo=UTC)),
        ("2016-08-12 15:23:28 UTC", datetime(2016, 8, 12, 15, 23, 28, tzinfo=UTC)),
        ("2021-02-23T02:41:37.886Z", datetime(2021, 2, 23, 2, 41, 37, 886000, tzinfo=UTC)),
        ("2014-11-01T07:33:52.1+00:00", datetime(2014, 11, 1, 7, 33, 52, 100000, tzinfo=UTC)),
        (1795428000000, datetime(2026, 11, 23, 10, 0, tzinfo=UTC)),
        (None, None),
        ("yesterday", None),
        (True, None),
    ],
)
def test_times_in_every_provider_format(raw, expected):
    assert parse_time(raw) == expected


# --- Normalisers ---


class TestGitHubNormaliser:
    def test_completed_workflow_run(self):
        event = github.parse_webhook("workflow_run", p.gh_workflow_run_event())
        assert isinstance(event, CiRunEvent)
        assert event.provider == "github"
        assert event.repository == "github.com/acme/card-fraud"
        assert event.config_path == ".github/workflows/train.yml"
        assert event.pipeline_name == "Train"
        assert event.run_id == "289782451"
        assert event.status == "success"
        assert event.commit_sha == p.SHA
        assert event.trigger == "push"
        assert event.started_at == datetime(2026, 11, 23, 10, 0, 5, tzinfo=UTC)
        assert event.finished_at == datetime(2026, 11, 23, 10, 7, 49, tzinfo=UTC)
        assert event.url == "https://github.com/acme/card-fraud/actions/runs/289782451"

    @pytest.mark.parametrize(
        ("status", "conclusion", "expected"),
        [
            ("requested", None, "queued"),
            ("queued", None, "queued"),
            ("waiting", None, "queued"),
            ("in_progress", None, "running"),
            ("completed", "success", "success"),
            ("completed", "failure", "failure"),
            ("completed", "timed_out", "failure"),
            ("completed", "startup_failure", "failure"),
            ("completed", "cancelled", "cancelled"),
            ("completed", "skipped", "skipped"),
            ("completed", "neutral", "success"),
            ("completed", None, "failure"),
        ],
    )
    def test_status_mapping(self, status, conclusion, expected):
        event = github.parse_webhook("workflow_run", p.gh_workflow_run_event(status=status, conclusion=conclusion))
        assert event.status == expected
        assert (event.finished_at is not None) == (status == "completed")

    def test_rest_path_loses_its_ref(self):
        event = github.run_event(p.gh_workflow_run(path=".github/workflows/build.yml@main"))
        assert event.config_path == ".github/workflows/build.yml"

    def test_triggers(self):
        assert github.run_event(p.gh_workflow_run(event="pull_request")).trigger == "pull_request"
        assert github.run_event(p.gh_workflow_run(event="schedule")).trigger == "schedule"
        assert github.run_event(p.gh_workflow_run(event="workflow_dispatch")).trigger == "manual"
        assert github.run_event(p.gh_workflow_run(event="issue_comment")).trigger == "other"

    def test_workflow_job(self):
        event = github.parse_webhook("workflow_job", p.gh_workflow_job_event())
        assert isinstance(event, CiJobEvent)
        assert (event.repository, event.run_id) == ("github.com/acme/card-fraud", "289782451")
        assert event.job == {
            "id": "399444496",
            "name": "train-model",
            "stage": "",
            "status": "failure",
            "started_at": "2026-11-23T10:01:00+00:00",
            "finished_at": "2026-11-23T10:05:16+00:00",
            "url": "https://github.com/acme/card-fraud/actions/runs/289782451/job/399444496",
        }

    def test_payload_without_repository_is_refused(self):
        payload = p.gh_workflow_run_event()
        del payload["repository"], payload["workflow_run"]["repository"]
        with pytest.raises(PayloadError, match="repository"):
            github.parse_webhook("workflow_run", payload)


class TestGitLabNormaliser:
    def test_pipeline_hook(self):
        event = gitlab.parse_webhook("Pipeline Hook", p.gl_pipeline_hook())
        assert event.repository == "gitlab.example.com/acme/card-fraud"
        assert event.config_path == ".gitlab-ci.yml"
        assert event.run_id == "31"
        assert event.status == "success"
        assert event.trigger == "pull_request"
        assert event.started_at == datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
        assert event.finished_at == datetime(2026, 11, 23, 10, 6, 29, tzinfo=UTC)
        assert event.url == "https://gitlab.example.com/acme/card-fraud/-/pipelines/31"
        jobs = {j["name"]: j for j in event.jobs}
        assert {n: j["status"] for n, j in jobs.items()} == {
            "build-image": "success",
            "unit-tests": "success",
            "lint": "failure",
            "train-model": "success",
            "deploy": "skipped",
        }
        assert jobs["lint"]["stage"] == "test"
        assert jobs["lint"]["url"] == "https://gitlab.example.com/acme/card-fraud/-/jobs/378"

    @pytest.mark.parametrize(
        ("status", "expected"),
        [
            ("created", "queued"),
            ("pending", "queued"),
            ("manual", "queued"),
            ("running", "running"),
            ("success", "success"),
            ("failed", "failure"),
            ("canceled", "cancelled"),
            ("skipped", "skipped"),
        ],
    )
    def test_status_mapping(self, status, expected):
        assert gitlab.parse_webhook("Pipeline Hook", p.gl_pipeline_hook(status=status)).status == expected

    def test_custom_config_path(self):
        payload = p.gl_pipeline_hook()
        payload["project"]["ci_config_path"] = "ci/train.yml"
        assert gitlab.parse_webhook("Pipeline Hook", payload).config_path == "ci/train.yml"

    def test_job_hook(self):
        event = gitlab.parse_webhook("Job Hook", p.gl_job_hook())
        assert isinstance(event, CiJobEvent)
        assert (event.run_id, event.job["id"], event.job["status"]) == ("31", "1977", "running")
        assert event.job["started_at"] == "2026-11-23T10:03:00+00:00"

    def test_delivery_keys(self):
        assert gitlab.delivery_key("Pipeline Hook", p.gl_pipeline_hook()) == "pipeline:31:success"
        assert gitlab.delivery_key("Job Hook", p.gl_job_hook()) == "job:1977:running"


class TestJenkinsNormaliser:
    def test_completed_build(self):
        event = jenkins.notification_event(p.jenkins_notification())
        assert event.repository == "github.com/acme/card-fraud"
        assert event.config_path == "Jenkinsfile"
        assert event.pipeline_name == "acme/card-fraud"
        assert event.run_id == "acme/card-fraud#18"
        assert event.status == "success"
        assert event.commit_sha == p.SHA
        assert event.started_at == datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
        assert event.finished_at == datetime(2026, 11, 23, 10, 1, 1, tzinfo=UTC)
        assert event.url == "https://jenkins.example.com/job/acme/job/card-fraud/18/"

    @pytest.mark.parametrize(
        ("phase", "status", "expected"),
        [
            ("QUEUED", None, "queued"),
            ("STARTED", "SUCCESS", "running"),  # STARTED carries the previous build's status: ignored
            ("COMPLETED", "UNSTABLE", "failure"),
            ("FINALIZED", "FAILURE", "failure"),
            ("COMPLETED", "ABORTED", "cancelled"),
            ("COMPLETED", "NOT_BUILT", "skipped"),
        ],
    )
    def test_phases(self, phase, status, expected):
        assert jenkins.notification_event(p.jenkins_notification(phase=phase, status=status)).status == expected

    def test_iso_timestamp_as_newer_plugins_send_it(self):
        event = jenkins.notification_event(p.jenkins_notification(timestamp="2026-11-23T10:00:00.0+00:00"))
        assert event.started_at == datetime(2026, 11, 23, 10, 0, tzinfo=UTC)

    def test_delivery_key_and_missing_scm(self):
        assert jenkins.delivery_key(p.jenkins_notification(phase="STARTED")) == "acme/card-fraud#18:STARTED"
        payload = p.jenkins_notification()
        del payload["build"]["scm"]
        with pytest.raises(PayloadError, match="scm"):
            jenkins.notification_event(payload)

    @pytest.mark.parametrize(
        ("target", "expected"),
        [
            ("acme/card-fraud", "job/acme/job/card-fraud"),
            ("job/acme/job/card-fraud/", "job/acme/job/card-fraud"),
            ("https://jenkins.example.com/job/acme/job/card-fraud/", "job/acme/job/card-fraud"),
            ("nightly train", "job/nightly%20train"),
        ],
    )
    def test_job_paths(self, target, expected):
        assert jenkins.job_url_path(target) == expected


# --- The HTTP client: errors ---


def test_link_header_parsing():
    header = '<https://api.github.com/x?page=2>; rel="next", <https://api.github.com/x?page=5>; rel="last"'
    assert next_link(header) == "https://api.github.com/x?page=2"
    assert next_link('<https://api.github.com/x?page=1>; rel="prev"') is None
    assert next_link(None) is None


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (Reply(401, {"message": "Bad credentials"}), CiAuthError),
        (Reply(403, {"message": "Resource not accessible by integration"}), CiAuthError),
        (Reply(404, {"message": "Not Found"}), CiNotFound),
        (Reply(500, {"message": "boom"}), CiUnreachable),
        (Reply(502, body=b"<html>bad gateway</html>"), CiUnreachable),
        (Reply(429, {"message": "slow down"}, headers={"Retry-After": "7"}), CiRateLimited),
        (Reply(403, {"message": "API rate limit exceeded"}, headers={"X-RateLimit-Remaining": "0"}), CiRateLimited),
        (Reply(200, body=b"<html>login</html>"), CiBadResponse),
        (Reply(400, {"message": "bad"}), CiBadResponse),
    ],
)
def test_http_errors_are_typed(ci_server: CiApiServer, reply, error):
    ci_server.add("/thing", reply)
    with pytest.raises(error) as caught:
        JsonHttpClient(ci_server.url).get("thing")
    if isinstance(caught.value, CiRateLimited) and reply.status == 429:
        assert caught.value.retry_after == 7.0
    assert caught.value.retryable == issubclass(error, CiUnreachable)


def test_timeout_is_unreachable(ci_server: CiApiServer):
    ci_server.add("/slow", Reply(200, {"ok": True}, delay=1.0))
    with pytest.raises(CiUnreachable):
        JsonHttpClient(ci_server.url, timeout=0.2).get("slow")


def test_connection_refused_is_unreachable():
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(CiUnreachable):
        JsonHttpClient(f"http://127.0.0.1:{port}", timeout=2).get("x")


def test_oversized_response_is_refused(ci_server: CiApiServer):
    ci_server.add("/big", Reply(200, {"blob": "x" * 5000}))
    with pytest.raises(CiBadResponse, match="larger"):
        JsonHttpClient(ci_server.url, max_bytes=1000).get("big")


def test_redirects_stay_on_the_same_origin(ci_server: CiApiServer):
    ci_server.add("/moved", Reply(301, headers={"Location": f"{ci_server.url}/here"}, body=b""))
    ci_server.add("/here", Reply(200, {"ok": True}))
    ci_server.add("/away", Reply(302, headers={"Location": "http://example.invalid/steal"}, body=b""))
    client = JsonHttpClient(ci_server.url, headers={"Authorization": "Bearer s3cret"})
    assert client.get("moved").data == {"ok": True}
    assert ci_server.seen("/here")[0].headers["authorization"] == "Bearer s3cret"
    with pytest.raises(CiBadResponse, match="another host"):
        client.get("away")
    with pytest.raises(CiBadResponse, match="another host"):
        client.get("http://example.invalid/next?page=2")


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://ci.example.com", "https://user:pw@ci.example.com", "ci"])
def test_only_http_base_urls(url):
    with pytest.raises(CiConfigError):
        JsonHttpClient(url)


# --- GitHub Actions client ---


def _github_pages(ci_server: CiApiServer, base: str = "") -> None:
    path = f"{base}/repos/acme/card-fraud/actions/runs"

    def runs(seen: Seen) -> Reply:
        page = int(seen.param("page") or 1)
        if page == 1:
            link = f'<{ci_server.url}{path}?per_page=2&page=2>; rel="next", <{ci_server.url}{path}?page=3>; rel="last"'
            items = [
                p.gh_workflow_run(run_id=103, status="in_progress", conclusion=None),
                p.gh_workflow_run(run_id=102),
            ]
            return Reply(200, p.gh_runs_page(items, 5), headers={"Link": link})
        if page == 2:
            link = f'<{ci_server.url}{path}?per_page=2&page=3>; rel="next"'
            items = [p.gh_workflow_run(run_id=101, conclusion="failure"), {"id": 100, "status": "completed"}]
            return Reply(200, p.gh_runs_page(items, 5), headers={"Link": link})
        return Reply(200, p.gh_runs_page([p.gh_workflow_run(run_id=99, path=".github/workflows/ci.yml@main")], 5))

    ci_server.add(path, runs)


def test_github_client_follows_link_pagination(ci_server: CiApiServer):
    _github_pages(ci_server)
    client = github.GitHubActionsClient(ci_server.url, token="ghp_test")
    events = list(client.iter_runs("acme/card-fraud", per_page=2))
    assert [(e.run_id, e.status) for e in events] == [
        ("103", "running"),
        ("102", "success"),
        ("101", "failure"),
        ("99", "success"),
    ]
    assert events[-1].config_path == ".github/workflows/ci.yml"
    assert client.skipped == ["run 100: missing repository.html_url"]
    seen = ci_server.seen("/repos/acme/card-fraud/actions/runs")
    assert len(seen) == 3
    assert seen[0].headers["authorization"] == "Bearer ghp_test"
    assert seen[0].headers["accept"] == "application/vnd.github+json"
    assert seen[0].headers["x-github-api-version"] == "2022-11-28"
    assert seen[0].param("per_page") == "2"


def test_github_client_filters_by_creation_and_bounds_pages(ci_server: CiApiServer):
    _github_pages(ci_server)
    client = github.GitHubActionsClient(ci_server.url)
    since = datetime(2026, 11, 20, 8, 30, tzinfo=UTC)
    assert len(list(client.iter_runs("acme/card-fraud", since=since, per_page=2, max_pages=1))) == 2
    seen = ci_server.seen("/repos/acme/card-fraud/actions/runs")
    assert [s.param("created") for s in seen] == [">=2026-11-20T08:30:00Z"]
    assert "authorization" not in seen[0].headers


def test_github_enterprise_base_url_keeps_its_path(ci_server: CiApiServer):
    _github_pages(ci_server, base="/api/v3")
    events = list(github.GitHubActionsClient(f"{ci_server.url}/api/v3").iter_runs("acme/card-fraud", per_page=2))
    assert len(events) == 4


def test_github_client_errors(ci_server: CiApiServer):
    ci_server.add("/repos/acme/card-fraud/actions/runs", Reply(200, {"message": "not a list"}))
    with pytest.raises(CiBadResponse):
        list(github.GitHubActionsClient(ci_server.url).iter_runs("acme/card-fraud"))
    with pytest.raises(CiNotFound):
        list(github.GitHubActionsClient(ci_server.url).iter_runs("acme/missing"))
    with pytest.raises(CiConfigError):
        list(github.GitHubActionsClient(ci_server.url).iter_runs("../../etc"))


# --- GitLab client ---


def _gitlab_routes(ci_server: CiApiServer) -> None:
    ci_server.add("/api/v4/projects/acme%2Fcard-fraud", Reply(200, p.gl_project()))

    def pipelines(seen: Seen) -> Reply:
        page = int(seen.param("page") or 1)
        items = {
            1: [p.gl_pipelines_item(50, status="running"), p.gl_pipelines_item(49)],
            2: [p.gl_pipelines_item(48, status="failed"), p.gl_pipelines_item(47, status="canceled")],
            3: [p.gl_pipelines_item(46)],
        }[page]
        headers = {"X-Page": str(page), "X-Per-Page": "2", "X-Next-Page": str(page + 1) if page < 3 else ""}
        return Reply(200, items, headers=headers)

    ci_server.add("/api/v4/projects/15/pipelines", pipelines)


def test_gitlab_client_follows_x_next_page(ci_server: CiApiServer):
    _gitlab_routes(ci_server)
    client = gitlab.GitLabClient(ci_server.url, token="glpat-test")
    since = datetime(2026, 11, 1, tzinfo=UTC)
    events = list(client.iter_pipelines("acme/card-fraud", since=since, per_page=2))
    assert [(e.run_id, e.status) for e in events] == [
        ("50", "running"),
        ("49", "success"),
        ("48", "failure"),
        ("47", "cancelled"),
        ("46", "success"),
    ]
    assert {e.repository for e in events} == {"gitlab.example.com/acme/card-fraud"}
    assert events[1].finished_at == datetime(2026, 11, 23, 10, 6, 35, 169000, tzinfo=UTC)
    seen = ci_server.seen("/api/v4/projects/15/pipelines")
    assert [s.param("page") for s in seen] == ["1", "2", "3"]
    assert seen[0].headers["private-token"] == "glpat-test"
    assert seen[0].param("updated_after") == "2026-11-01T00:00:00Z"
    assert seen[0].param("order_by") == "updated_at"


def test_gitlab_self_hosted_base_url_with_api_path(ci_server: CiApiServer):
    _gitlab_routes(ci_server)
    client = gitlab.GitLabClient(f"{ci_server.url}/api/v4/")
    assert len(list(client.iter_pipelines("acme/card-fraud", per_page=2, max_pages=2))) == 4


def test_gitlab_client_errors(ci_server: CiApiServer):
    ci_server.add("/api/v4/projects/acme%2Fprivate", Reply(401, {"message": "401 Unauthorized"}))
    with pytest.raises(CiAuthError):
        list(gitlab.GitLabClient(ci_server.url).iter_pipelines("acme/private"))
    ci_server.add("/api/v4/projects/acme%2Fodd", Reply(200, [1, 2]))
    with pytest.raises(CiBadResponse):
        list(gitlab.GitLabClient(ci_server.url).iter_pipelines("acme/odd"))


# --- Jenkins client ---


def _jenkins_routes(ci_server: CiApiServer) -> None:
    builds = [
        p.jenkins_build(42, result=None, building=True, timestamp=1795428600000),
        p.jenkins_build(41, result="SUCCESS", timestamp=1795428300000),
        p.jenkins_build(40, result="UNSTABLE", timestamp=1795428000000),
        p.jenkins_build(39, result="ABORTED", timestamp=1795427700000),
        p.jenkins_build(38, result="SUCCESS", timestamp=1795427400000),
    ]
    builds[3]["actions"] = [{}]  # no Git BuildData: the source's repository is the fallback

    def job(seen: Seen) -> Reply:
        tree = seen.param("tree") or ""
        start, end = (int(x) for x in tree.rsplit("{", 1)[1].rstrip("}").split(","))
        return Reply(200, {"_class": "org.jenkinsci.plugins.workflow.job.WorkflowJob", "builds": builds[start:end]})

    ci_server.add("/job/acme/job/card-fraud/api/json", job)


def test_jenkins_client_pages_with_tree_ranges(ci_server: CiApiServer):
    _jenkins_routes(ci_server)
    client = jenkins.JenkinsClient(ci_server.url, token="ci-bot:11aa")
    events = list(
        client.iter_builds("acme/card-fraud", per_page=2, repository_url="git@github.com:acme/card-fraud.git")
    )
    assert [(e.run_id, e.status) for e in events] == [
        ("acme/card-fraud#42", "running"),
        ("acme/card-fraud#41", "success"),
        ("acme/card-fraud#40", "failure"),
        ("acme/card-fraud#39", "cancelled"),
        ("acme/card-fraud#38", "success"),
    ]
    assert events[3].commit_sha == ""
    assert {e.repository for e in events} == {"github.com/acme/card-fraud"}
    seen = ci_server.seen("/job/acme/job/card-fraud/api/json")
    assert [s.param("tree").rsplit("]", 1)[1] for s in seen] == ["{0,2}", "{2,4}", "{4,6}"]
    assert seen[0].param("tree").startswith("builds[number,url,result,building")
    assert seen[0].headers["authorization"] == "Basic Y2ktYm90OjExYWE="


def test_jenkins_client_stops_at_since_and_skips_builds_without_repository(ci_server: CiApiServer):
    _jenkins_routes(ci_server)
    client = jenkins.JenkinsClient(ci_server.url)
    since = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # == build 40's start
    events = list(client.iter_builds("job/acme/job/card-fraud", since=since, per_page=10))
    assert [e.run_id for e in events] == ["acme/card-fraud#42", "acme/card-fraud#41", "acme/card-fraud#40"]
    assert client.skipped == []
    events = list(jenkins.JenkinsClient(ci_server.url).iter_builds("acme/card-fraud", per_page=10))
    assert len(events) == 4


def test_jenkins_token_is_user_and_api_token():
    with pytest.raises(CiConfigError):
        jenkins.JenkinsClient("https://jenkins.example.com", token="just-a-token")


# --- poll_ci_source, end to end against the local server ---


@pytest.fixture
def github_source(db, ci_server: CiApiServer, monkeypatch) -> CiSource:
    monkeypatch.setenv("MLGOV_TEST_GH_TOKEN", "ghp_from_env")
    _github_pages(ci_server)
    return CiSource.objects.create(
        name="gh",
        provider="github",
        base_url=ci_server.url,
        target="acme/card-fraud",
        token_env_var="MLGOV_TEST_GH_TOKEN",
    )


@pytest.mark.django_db
def test_poll_records_runs_and_the_next_poll_is_incremental(github_source: CiSource, ci_server: CiApiServer, settings):
    settings.MLGOV_CI_POLL_MAX_PAGES = 5
    result = poll_ci_source.apply(args=[github_source.pk]).get()
    assert result["status"] == "succeeded", result
    assert result["counts"] == {"seen": 4, "created": 4, "updated": 0, "unchanged": 0, "skipped": 1}
    runs = PipelineRun.objects.filter(external_source="repo:github.com/acme/card-fraud")
    assert {r.external_id: r.status for r in runs} == {
        "103": "running",
        "102": "success",
        "101": "failure",
        "99": "success",
    }
    first = ci_server.seen("/repos/acme/card-fraud/actions/runs")[0]
    assert first.headers["authorization"] == "Bearer ghp_from_env"
    assert first.param("created") is None  # the first poll is a backfill
    github_source.refresh_from_db()
    assert github_source.last_polled_at is not None

    ci_server.requests.clear()
    again = poll_ci_source.apply(args=[github_source.pk]).get()
    assert again["counts"]["unchanged"] == 4
    assert again["counts"]["created"] == 0
    assert ci_server.seen("/repos/acme/card-fraud/actions/runs")[0].param("created").startswith(">=")
    assert SyncRun.objects.filter(target="ci:gh", status="succeeded").count() == 2


@pytest.mark.django_db
def test_poll_of_an_unreachable_server_retries_with_backoff_then_fails(github_source: CiSource, monkeypatch):
    """As a worker runs it: each attempt but the last requeues the same SyncRun and schedules a retry."""
    CiSource.objects.filter(pk=github_source.pk).update(base_url="http://127.0.0.1:9")
    scheduled: list[dict] = []

    def fake_retry(*, exc, countdown, kwargs):
        scheduled.append({"countdown": countdown, "kwargs": kwargs, "exc": exc})
        raise RuntimeError("retry scheduled")

    monkeypatch.setattr(poll_ci_source, "retry", fake_retry)
    sync_run_id = None
    for attempt in range(poll_ci_source.max_retries):
        poll_ci_source.push_request(retries=attempt, is_eager=False, called_directly=False)
        try:
            with pytest.raises(RuntimeError, match="retry scheduled"):
                poll_ci_source.run(github_source.pk, sync_run_id=sync_run_id)
        finally:
            poll_ci_source.pop_request()
        sync_run_id = scheduled[-1]["kwargs"]["sync_run_id"]
        assert SyncRun.objects.get(pk=sync_run_id).status == "queued"
        assert 5 <= scheduled[-1]["countdown"] <= 300
    poll_ci_source.push_request(retries=poll_ci_source.max_retries, is_eager=False, called_directly=False)
    try:
        result = poll_ci_source.run(github_source.pk, sync_run_id=sync_run_id)
    finally:
        poll_ci_source.pop_request()
    assert result["status"] == "failed"
    run = SyncRun.objects.get(target="ci:gh")  # one SyncRun across the attempts
    assert run.pk == sync_run_id
    assert run.status == "failed"
    assert run.errors[0]["kind"] == "CiUnreachable"
    assert sum("retrying" in e["message"] for e in run.errors) == poll_ci_source.max_retries
    assert {s["kwargs"]["sync_run_id"] for s in scheduled} == {sync_run_id}


@pytest.mark.django_db
def test_without_a_broker_an_unreachable_poll_fails_at_once(github_source: CiSource):
    CiSource.objects.filter(pk=github_source.pk).update(base_url="http://127.0.0.1:9")
    result = poll_ci_source.apply(args=[github_source.pk]).get()
    run = SyncRun.objects.get(target="ci:gh")
    assert result["status"] == run.status == "failed"
    assert not any("retrying" in e["message"] for e in run.errors)


@pytest.mark.django_db
def test_poll_with_a_missing_token_fails_without_retrying(github_source: CiSource, monkeypatch):
    monkeypatch.delenv("MLGOV_TEST_GH_TOKEN")
    result = poll_ci_source.apply(args=[github_source.pk]).get()
    run = SyncRun.objects.get(target="ci:gh")
    assert result["status"] == run.status == "failed"
    assert "MLGOV_TEST_GH_TOKEN" in run.errors[0]["message"]
    assert not any("retrying" in e["message"] for e in run.errors)


@pytest.mark.django_db
def test_poll_gitlab_and_jenkins_sources(ci_server: CiApiServer):
    _gitlab_routes(ci_server)
    _jenkins_routes(ci_server)
    gl = CiSource.objects.create(name="gl", provider="gitlab", base_url=ci_server.url, target="acme/card-fraud")
    jk = CiSource.objects.create(name="jk", provider="jenkins", base_url=ci_server.url, target="acme/card-fraud")
    assert poll_ci_source.apply(args=[gl.pk]).get()["counts"]["created"] == 5
    result = poll_ci_source.apply(args=[jk.pk]).get()
    assert result["counts"]["created"] == 4
    assert result["counts"]["skipped"] == 1
    assert PipelineRun.objects.filter(pipeline__config_path="Jenkinsfile").count() == 4
    assert PipelineRun.objects.filter(pipeline__config_path=".gitlab-ci.yml").count() == 5
