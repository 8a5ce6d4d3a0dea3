"""The server-rendered pages: login required, what each page shows, filters, exports, audit visibility,
constant query counts, login failures and logout."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from mlgov.audit.exports import EXPORT_FIELDS
from mlgov.audit.models import AuditEvent
from mlgov.audit.services import audit_record
from tests import factories

pytestmark = pytest.mark.django_db


# --- helpers -------------------------------------------------------------------------------------


class _TableParser(HTMLParser):
    """Collects the text of every <td>/<th> cell, row by row, of every table body in a page."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._in_body = False
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None
        elif tag == "tbody":
            self._in_body = False

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def table_rows(response) -> list[list[str]]:
    parser = _TableParser()
    parser.feed(response.content.decode())
    return parser.rows


def first_cells(response) -> set[str]:
    return {row[0] for row in table_rows(response)}


def streamed(response) -> str:
    assert response.streaming, "exports are streamed"
    return b"".join(response.streaming_content).decode()


def csv_of(response) -> list[list[str]]:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith("attachment;")
    return list(csv.reader(io.StringIO(streamed(response))))


def record(actor, action: str = "team.updated", when: datetime | None = None, **kwargs) -> AuditEvent:
    """Write one real audit event, optionally at a fixed time."""
    if when is None:
        return audit_record(actor=actor, action=action, **kwargs)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(timezone, "now", lambda: when)
        return audit_record(actor=actor, action=action, **kwargs)


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture
def logged_in(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def org(db):
    """Two teams; the first has three projects of different lifecycles and tiers, and one model."""
    fraud = factories.TeamFactory(slug="fraud", name="Fraud Detection")
    recsys = factories.TeamFactory(slug="recsys", name="Recommendations")
    card = factories.ProjectFactory(team=fraud, slug="card-fraud", name="Card fraud", risk_tier=1, lifecycle="in_use")
    ato = factories.ProjectFactory(
        team=fraud, slug="ato", name="Account takeover", risk_tier=2, lifecycle="in_development"
    )
    legacy = factories.ProjectFactory(team=fraud, slug="legacy", name="Legacy rules", risk_tier=3, lifecycle="retired")
    feed = factories.ProjectFactory(team=recsys, slug="home-feed", name="Home feed", risk_tier=2, lifecycle="in_use")
    model = factories.RegisteredModelFactory(project=card, name="card-fraud-gbm")
    v1 = factories.ModelVersionFactory(model=model, version="1", status="READY")
    v2 = factories.ModelVersionFactory(model=model, version="2", status="READY")
    v3 = factories.ModelVersionFactory(model=model, version="3", status="FAILED_REGISTRATION")
    factories.ModelAliasFactory(version=v2, alias="champion")
    factories.ModelAliasFactory(version=v1, alias="production")
    factories.DatasetFactory(project=card, name="card-train")
    factories.PipelineFactory(project=card, name="card training")
    return {
        "fraud": fraud,
        "recsys": recsys,
        "card": card,
        "ato": ato,
        "legacy": legacy,
        "feed": feed,
        "model": model,
        "versions": (v1, v2, v3),
    }


# --- login required ------------------------------------------------------------------------------

PAGES = [
    lambda o: "/",
    lambda o: "/teams/",
    lambda o: f"/teams/{o['fraud'].slug}/",
    lambda o: f"/projects/{o['card'].slug}/",
    lambda o: f"/models/{o['model'].pk}/",
    lambda o: "/audit/",
]
PAGE_IDS = ["home", "team-list", "team", "project", "model", "audit"]


@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_anonymous_user_is_sent_to_login(client, org, page):
    path = page(org)
    response = client.get(path)
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert location.path == "/login/"
    assert parse_qs(location.query)["next"] == [path]


@pytest.mark.parametrize("page", PAGES[1:], ids=PAGE_IDS[1:])
def test_anonymous_export_is_refused_too(client, org, page):
    response = client.get(page(org), {"export": "csv"})
    assert response.status_code == 302
    assert urlsplit(response["Location"]).path == "/login/"


@pytest.mark.parametrize("page", PAGES[1:], ids=PAGE_IDS[1:])
def test_every_page_renders_for_a_logged_in_user(logged_in, org, page, user):
    response = logged_in.get(page(org))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    content = response.content.decode()
    assert f'data-testid="current-user">{user.username}<' in content
    assert 'action="/logout/"' in content


def test_home_redirects_to_the_team_list(logged_in):
    response = logged_in.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/teams/"


def test_login_page_is_public(client):
    response = client.get("/login/")
    assert response.status_code == 200
    assert b"Log in to mlgov" in response.content
    assert b"csrfmiddlewaretoken" in response.content


# --- what each page shows ------------------------------------------------------------------------


def test_team_list_shows_teams_with_project_counts(logged_in, org):
    rows = table_rows(logged_in.get("/teams/"))
    assert rows == [["Fraud Detection", "fraud", "3"], ["Recommendations", "recsys", "1"]]


def test_team_list_with_no_teams_says_so(logged_in):
    assert table_rows(logged_in.get("/teams/")) == [["No teams match."]]


def test_team_page_shows_its_projects_and_members(logged_in, org):
    factories.MembershipFactory(team=org["fraud"], role="maintainer", user__username="femi")
    response = logged_in.get("/teams/fraud/")
    assert response.status_code == 200
    content = response.content.decode()
    assert "<h1>Fraud Detection</h1>" in content
    rows = table_rows(response)
    assert rows == [
        ["Account takeover", "Tier 2 (medium)", "In development", "0"],
        ["Card fraud", "Tier 1 (high)", "In use", "1"],
        ["Legacy rules", "Tier 3 (low)", "Retired", "0"],
    ]
    assert "Home feed" not in content  # another team's project
    assert 'href="/projects/card-fraud/"' in content
    assert 'femi <span class="tag">maintainer</span>' in content
    assert "You maintain this team" not in content  # the viewer is not a maintainer


def test_team_page_tells_a_maintainer_they_can_manage(client, org):
    lead = factories.MembershipFactory(team=org["fraud"], role="maintainer").user
    client.force_login(lead)
    assert b"You maintain this team" in client.get("/teams/fraud/").content


@pytest.mark.parametrize("path", ["/teams/nope/", "/projects/nope/", "/models/999999/"])
def test_unknown_objects_give_the_404_page(logged_in, org, path):
    response = logged_in.get(path)
    assert response.status_code == 404
    assert b"<h1>404</h1>" in response.content


def test_project_page_shows_models_versions_datasets_and_pipelines(logged_in, org):
    response = logged_in.get("/projects/card-fraud/")
    assert response.status_code == 200
    content = response.content.decode()
    assert "<h1>Card fraud</h1>" in content
    assert f'href="/models/{org["model"].pk}/"' in content
    rows = table_rows(response)
    models_row = next(r for r in rows if r[0] == "card-fraud-gbm")
    assert models_row[1] == "3"
    assert "champion → v2" in models_row[2]
    assert "production → v1" in models_row[2]
    assert {"card-fraud-gbm v1", "card-fraud-gbm v2", "card-fraud-gbm v3"} <= first_cells(response)
    assert "card-train" in first_cells(response)
    assert "card training" in first_cells(response)


def test_model_page_shows_versions_with_their_aliases(logged_in, org):
    response = logged_in.get(f"/models/{org['model'].pk}/")
    assert response.status_code == 200
    content = response.content.decode()
    assert "<h1>card-fraud-gbm</h1>" in content
    assert '<span class="tag">champion</span> → version 2' in content
    assert '<span class="tag">production</span> → version 1' in content
    rows = {r[0]: r for r in table_rows(response)}
    assert list(rows) == ["v3", "v2", "v1"]  # newest first
    assert rows["v2"][1:3] == ["READY", "champion"]
    assert rows["v1"][1:3] == ["READY", "production"]
    assert rows["v3"][1:3] == ["FAILED_REGISTRATION", ""]
    assert rows["v1"][5] == "auc=0.9"


@pytest.fixture
def pipeline_with_runs(org):
    """A pipeline with triggers and jobs, two old failed runs, then 50 recent ones (40 passed, 9 failed, one
    still running), and a run of another pipeline."""
    pipeline = factories.PipelineFactory(
        project=org["card"],
        name="card weekly train",
        provider="github",
        config_path=".github/workflows/train.yml",
        triggers=[{"type": "schedule", "detail": {"cron": "0 3 * * 1"}}, {"type": "push", "detail": {}}],
        jobs=[
            {"name": "unit-tests", "kind": "test", "stage": "check"},
            {"name": "fit-gbm", "kind": "train", "stage": ""},
            {"name": "publish", "kind": "deploy", "stage": "release"},
        ],
    )
    for i in range(2):
        factories.PipelineRunFactory(pipeline=pipeline, external_id=f"old-{i}", status="failure")
    statuses = ["success"] * 40 + ["failure"] * 9 + ["running"]
    for i, status in enumerate(statuses):
        factories.PipelineRunFactory(pipeline=pipeline, external_id=f"r{i}", status=status)
    newest = factories.PipelineRunFactory(
        pipeline=pipeline,
        external_id="r-last",
        status="success",
        url="https://github.com/acme/card/actions/runs/9",
        tests_total=120,
        tests_failed=0,
    )
    factories.PipelineRunFactory(external_id="elsewhere", status="failure")
    return pipeline, newest


def test_pipeline_page_shows_triggers_jobs_recent_runs_and_pass_rate(logged_in, pipeline_with_runs):
    pipeline, newest = pipeline_with_runs
    response = logged_in.get(f"/pipelines/{pipeline.pk}/")
    assert response.status_code == 200
    content = response.content.decode()
    assert "<h1>card weekly train</h1>" in content
    assert "<code>.github/workflows/train.yml</code>" in content
    # The last 50 runs are the newest and r1..r49: 40 passed and 9 failed of the 49 finished (the running
    # one, r0 and the two older failures are not counted): 40/49 = 82%.
    assert "82% of the last 49 finished runs" in content
    assert '<span class="tag">schedule</span> cron: <code>0 3 * * 1</code>' in content
    assert '<span class="tag">push</span>' in content
    rows = table_rows(response)
    assert [r for r in rows if len(r) == 3] == [
        ["unit-tests", "test", "check"],
        ["fit-gbm", "train", ""],
        ["publish", "deploy", "release"],
    ]
    runs = [r for r in rows if len(r) == 6]
    assert len(runs) == 50
    assert runs[0][0] == "#r-last"
    assert runs[0][1] == "success"
    assert runs[0][5] == "120 run, 0 failed"
    assert f'href="{newest.url}"' in content
    shown = {r[0] for r in runs}
    assert "#r0" not in shown  # the oldest of the recent ones falls off the list of 50
    assert not shown & {"#old-0", "#old-1", "#elsewhere"}
    assert runs[1][1] == "running"


def test_pipeline_page_without_runs_says_so(logged_in, org):
    pipeline = factories.PipelineFactory(project=org["card"], triggers=[], jobs=[])
    content = logged_in.get(f"/pipelines/{pipeline.pk}/").content.decode()
    assert "no finished runs" in content
    assert "No triggers found." in content
    assert "No jobs found." in content
    assert "No runs recorded." in content


def test_pipeline_page_visibility(client, org, pipeline_with_runs):
    pipeline, _ = pipeline_with_runs
    path = f"/pipelines/{pipeline.pk}/"
    anonymous = client.get(path)
    assert anonymous.status_code == 302
    assert urlsplit(anonymous["Location"]).path == "/login/"
    # Every organisation user reads the whole inventory: a member of another team sees it too.
    outsider = factories.UserFactory()
    factories.MembershipFactory(user=outsider, team=org["recsys"])
    client.force_login(outsider)
    assert client.get(path).status_code == 200
    missing = client.get("/pipelines/999999/")
    assert missing.status_code == 404
    assert b"<h1>404</h1>" in missing.content


def test_unassigned_model_page_warns(logged_in):
    model = factories.RegisteredModelFactory(project=None, name="orphan")
    response = logged_in.get(f"/models/{model.pk}/")
    assert response.status_code == 200
    assert b"Unassigned: no project claims this model yet." in response.content
    assert table_rows(response) == [["No versions."]]


def test_audit_log_shows_events(client, manager, org):
    record(manager, "team.updated", target=org["fraud"])
    record("demo-seed", "project.created", target=org["card"])
    client.force_login(manager)
    response = client.get("/audit/")
    assert response.status_code == 200
    rows = table_rows(response)
    assert [(r[2], r[4], r[5]) for r in rows] == [
        ("demo-seed", "project.created", "project Card fraud"),
        (manager.username, "team.updated", "team Fraud Detection"),
    ]


# --- filters -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("fraud", {"Fraud Detection"}),
        ("RECOMM", {"Recommendations"}),  # name, case-insensitive
        ("recsys", {"Recommendations"}),  # slug
        ("  fraud  ", {"Fraud Detection"}),  # stripped
        ("", {"Fraud Detection", "Recommendations"}),
        ("zzz", {"No teams match."}),
    ],
)
def test_team_list_search(logged_in, org, q, expected):
    response = logged_in.get("/teams/", {"q": q})
    assert first_cells(response) == expected
    assert f'value="{q.strip()}"'.encode() in response.content  # the box keeps the search


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"lifecycle": "in_use"}, {"Card fraud"}),
        ({"lifecycle": "retired"}, {"Legacy rules"}),
        ({"risk_tier": "2"}, {"Account takeover"}),
        ({"risk_tier": "1", "lifecycle": "in_use"}, {"Card fraud"}),
        ({"risk_tier": "3", "lifecycle": "in_use"}, {"No projects match."}),
        # Unknown values are ignored rather than failing.
        ({"lifecycle": "bogus", "risk_tier": "9"}, {"Card fraud", "Account takeover", "Legacy rules"}),
        ({"risk_tier": "x"}, {"Card fraud", "Account takeover", "Legacy rules"}),
    ],
)
def test_team_page_filters(logged_in, org, params, expected):
    response = logged_in.get("/teams/fraud/", params)
    assert response.status_code == 200
    assert first_cells(response) == expected


def test_team_list_pages_through_every_team_once(logged_in):
    for i in range(60):
        factories.TeamFactory(slug=f"t-{i:02d}", name=f"Team {i:02d}")
    first = logged_in.get("/teams/", {"q": "t-"})
    second = logged_in.get("/teams/", {"q": "t-", "page": "2"})
    assert b"Page 1 of 2" in first.content
    assert b'href="?q=t-&amp;page=2"' in first.content  # the pager keeps the search
    assert b'href="?q=t-&amp;page=1"' in second.content
    names = [r[0] for r in table_rows(first) + table_rows(second)]
    assert names == [f"Team {i:02d}" for i in range(60)]


def test_team_page_filter_keeps_the_selection(logged_in, org):
    content = logged_in.get("/teams/fraud/", {"lifecycle": "retired", "risk_tier": "3"}).content.decode()
    assert '<option value="retired" selected>' in content
    assert '<option value="3" selected>' in content
    assert "?lifecycle=retired&amp;risk_tier=3&amp;export=csv" in content  # the export link keeps filters


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("READY", {"v1", "v2"}),
        ("FAILED_REGISTRATION", {"v3"}),
        ("PENDING_REGISTRATION", {"No versions."}),
        ("", {"v1", "v2", "v3"}),
    ],
)
def test_model_page_status_filter(logged_in, org, status, expected):
    response = logged_in.get(f"/models/{org['model'].pk}/", {"status": status})
    assert response.status_code == 200
    assert first_cells(response) == expected


@pytest.fixture
def events(manager, user, org):
    """Three events at known times, by a manager, a plain user and a service."""
    return [
        record(manager, "team.updated", datetime(2026, 1, 1, 9, tzinfo=UTC), target=org["fraud"]),
        record(user, "project.updated", datetime(2026, 2, 1, 9, tzinfo=UTC), target=org["card"]),
        record("demo-seed", "project.created", datetime(2026, 3, 1, 9, tzinfo=UTC), target=org["feed"]),
    ]


def _seqs(response) -> list[int]:
    return [int(r[0]) for r in table_rows(response) if r[0].isdigit()]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"action": "project.updated"}, [2]),
        ({"action": "project"}, []),  # exact, not a prefix
        ({"action_prefix": "project."}, [3, 2]),
        ({"actor": "demo-seed"}, [3]),
        ({"since": "2026-02-01T09:00:00Z"}, [3, 2]),  # inclusive
        ({"since": "2026-02-01"}, [3, 2]),
        ({"since": "2026-01-15T00:00:00Z", "until": "2026-03-01T00:00:00Z"}, [2]),
        ({"since": "2026-01-15T00:00:00Z", "action": "team.updated"}, []),
        ({}, [3, 2, 1]),
    ],
)
def test_audit_log_filters(client, manager, events, params, expected):
    client.force_login(manager)
    response = client.get("/audit/", params)
    assert response.status_code == 200
    assert _seqs(response) == [events[i - 1].seq for i in expected]


def test_audit_log_with_no_matching_events_says_so(client, manager, events):
    client.force_login(manager)
    response = client.get("/audit/", {"actor": "nobody"})
    assert response.status_code == 200
    assert table_rows(response) == [["No events match."]]


@pytest.mark.parametrize(
    "params",
    [{"since": "not-a-date"}, {"until": "2026-13-45"}, {"source": "carrier-pigeon"}],
)
def test_malformed_audit_filter_gives_a_400_page(client, manager, events, params):
    client.force_login(manager)
    response = client.get("/audit/", params)
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
    content = response.content.decode()
    assert "<h1>Audit log</h1>" in content
    assert 'class="error" role="alert"' in content
    assert "<table" not in content  # no results are shown for a filter that did not parse
    # An export with a malformed filter is refused the same way, not streamed unfiltered.
    response = client.get("/audit/", {**params, "export": "csv"})
    assert response.status_code == 400
    assert not response.streaming


# --- CSV / JSON Lines export ---------------------------------------------------------------------


def test_team_list_csv(logged_in, org):
    response = logged_in.get("/teams/", {"export": "csv"})
    assert csv_of(response) == [
        ["slug", "name", "projects"],
        ["fraud", "Fraud Detection", "3"],
        ["recsys", "Recommendations", "1"],
    ]
    assert 'filename="teams.csv"' in response["Content-Disposition"]


def test_team_list_csv_follows_the_search(logged_in, org):
    rows = csv_of(logged_in.get("/teams/", {"q": "recs", "export": "csv"}))
    assert rows == [["slug", "name", "projects"], ["recsys", "Recommendations", "1"]]


def test_team_page_csv(logged_in, org):
    response = logged_in.get("/teams/fraud/", {"export": "csv"})
    assert csv_of(response) == [
        ["slug", "name", "risk_tier", "lifecycle", "models"],
        ["ato", "Account takeover", "2", "in_development", "0"],
        ["card-fraud", "Card fraud", "1", "in_use", "1"],
        ["legacy", "Legacy rules", "3", "retired", "0"],
    ]
    assert 'filename="fraud-projects.csv"' in response["Content-Disposition"]


def test_team_page_csv_follows_the_filters(logged_in, org):
    rows = csv_of(logged_in.get("/teams/fraud/", {"lifecycle": "retired", "export": "csv"}))
    assert [r[0] for r in rows] == ["slug", "legacy"]


def test_model_page_csv(logged_in, org):
    v1, v2, v3 = org["versions"]
    response = logged_in.get(f"/models/{org['model'].pk}/", {"export": "csv"})
    assert csv_of(response) == [
        ["version", "status", "aliases", "run_id", "git_commit", "source"],
        ["3", "FAILED_REGISTRATION", "", v3.run_id, v3.git_commit, v3.source],
        ["2", "READY", "champion", v2.run_id, v2.git_commit, v2.source],
        ["1", "READY", "production", v1.run_id, v1.git_commit, v1.source],
    ]
    assert 'filename="card-fraud-gbm-versions.csv"' in response["Content-Disposition"]


def test_model_page_csv_follows_the_status_filter(logged_in, org):
    rows = csv_of(logged_in.get(f"/models/{org['model'].pk}/", {"status": "READY", "export": "csv"}))
    assert [r[0] for r in rows] == ["version", "2", "1"]


def test_audit_log_csv(client, manager, events):
    client.force_login(manager)
    response = client.get("/audit/", {"export": "csv"})
    rows = csv_of(response)
    assert rows[0] == list(EXPORT_FIELDS)
    assert [int(r[0]) for r in rows[1:]] == [e.seq for e in events]  # oldest first
    by_field = dict(zip(EXPORT_FIELDS, rows[2], strict=True))
    assert by_field["actor_name"] == events[1].actor_name
    assert by_field["action"] == "project.updated"
    assert by_field["target_repr"] == "Card fraud"
    assert by_field["hash"] == events[1].hash
    assert by_field["prev_hash"] == events[0].hash
    assert 'filename="audit-events.csv"' in response["Content-Disposition"]


def test_audit_log_csv_follows_the_filters(client, manager, events):
    client.force_login(manager)
    rows = csv_of(client.get("/audit/", {"action": "team.updated", "export": "csv"}))
    assert [r[0] for r in rows] == ["seq", str(events[0].seq)]


def test_audit_log_jsonl(client, manager, events):
    client.force_login(manager)
    response = client.get("/audit/", {"export": "jsonl"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/x-ndjson")
    assert 'filename="audit-events.jsonl"' in response["Content-Disposition"]
    lines = streamed(response).splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["seq"] for r in records] == [e.seq for e in events]
    assert set(records[0]) == set(EXPORT_FIELDS)
    assert records[0]["action"] == "team.updated"
    assert records[0]["timestamp"].startswith("2026-01-01T09:00:00")
    assert records[2]["actor_name"] == "demo-seed"
    assert records[2]["hash"] == events[2].hash


def test_audit_log_unknown_export_format_renders_the_page(client, manager, events):
    client.force_login(manager)
    response = client.get("/audit/", {"export": "xml"})
    assert response.status_code == 200
    assert not response.streaming
    assert len(_seqs(response)) == 3


# --- audit visibility ----------------------------------------------------------------------------


def test_manager_sees_every_audit_event(client, manager, events):
    client.force_login(manager)
    response = client.get("/audit/")
    assert _seqs(response) == [e.seq for e in reversed(events)]


def test_plain_user_sees_only_their_own_audit_events(client, user, events):
    client.force_login(user)
    response = client.get("/audit/")
    assert response.status_code == 200
    assert _seqs(response) == [events[1].seq]
    assert b"demo-seed" not in response.content
    # ... also when filtering for someone else, and in both exports.
    assert table_rows(client.get("/audit/", {"actor": "demo-seed"})) == [["No events match."]]
    rows = csv_of(client.get("/audit/", {"export": "csv"}))
    assert [int(r[0]) for r in rows[1:]] == [events[1].seq]
    lines = streamed(client.get("/audit/", {"export": "jsonl"})).splitlines()
    assert [json.loads(line)["seq"] for line in lines] == [events[1].seq]


def test_plain_user_with_no_events_sees_none(client, events):
    client.force_login(factories.UserFactory())
    assert table_rows(client.get("/audit/")) == [["No events match."]]


# --- constant query counts -----------------------------------------------------------------------


def _team_with_projects(team, start: int, count: int) -> None:
    for i in range(start, start + count):
        project = factories.ProjectFactory(team=team, slug=f"p-{i}", name=f"P {i}")
        factories.RegisteredModelFactory(project=project)
        factories.MembershipFactory(team=team)


def _model_with_versions(model, start: int, count: int) -> None:
    for i in range(start, start + count):
        version = factories.ModelVersionFactory(model=model, version=str(i))
        factories.ModelAliasFactory(version=version, alias=f"alias-{i}")


@pytest.mark.parametrize(
    ("make_owner", "add", "url"),
    [
        (factories.TeamFactory, _team_with_projects, lambda team: f"/teams/{team.slug}/"),
        (factories.RegisteredModelFactory, _model_with_versions, lambda model: f"/models/{model.pk}/"),
    ],
    ids=["team-page", "model-page"],
)
def test_page_query_count_does_not_grow(client, user, django_assert_num_queries, make_owner, add, url):
    owner = make_owner()
    add(owner, 0, 3)
    client.force_login(user)
    with CaptureQueriesContext(connection) as small:
        response = client.get(url(owner))
    assert response.status_code == 200
    assert len(table_rows(response)) == 3

    add(owner, 3, 27)
    with django_assert_num_queries(len(small.captured_queries)):
        response = client.get(url(owner))
    assert response.status_code == 200
    assert len(table_rows(response)) == 30


def test_model_page_csv_query_count_does_not_grow(client, user, django_assert_num_queries):
    model = factories.RegisteredModelFactory()
    _model_with_versions(model, 0, 3)
    client.force_login(user)
    with CaptureQueriesContext(connection) as small:
        assert len(csv_of(client.get(f"/models/{model.pk}/", {"export": "csv"}))) == 4
    _model_with_versions(model, 3, 27)
    with django_assert_num_queries(len(small.captured_queries)):
        assert len(csv_of(client.get(f"/models/{model.pk}/", {"export": "csv"}))) == 31


# --- login and logout ----------------------------------------------------------------------------


def test_failed_login_is_audited(client, user):
    response = client.post("/login/", {"username": user.username, "password": "wrong-password"})
    assert response.status_code == 200
    assert b'<p class="error" role="alert">Your username and password didn\'t match.' in response.content
    assert "_auth_user_id" not in client.session
    event = AuditEvent.objects.get(action="security.login_failed")
    assert event.target_type == "user"
    assert event.target_repr == user.username
    assert event.actor_id is None
    assert event.source == "web"
    assert event.after == {"username": user.username, "remote_addr": "127.0.0.1"}


def test_failed_login_for_an_unknown_user_is_audited(client, db):
    client.post("/login/", {"username": "mallory", "password": "guess"})
    assert list(AuditEvent.objects.values_list("action", "target_repr")) == [("security.login_failed", "mallory")]


def test_successful_login_goes_to_next_and_is_not_a_failure(client, user):
    response = client.post("/login/", {"username": user.username, "password": "pw-for-tests-1", "next": "/audit/"})
    assert response.status_code == 302
    assert response["Location"] == "/audit/"
    assert client.session["_auth_user_id"] == str(user.pk)
    assert not AuditEvent.objects.filter(action="security.login_failed").exists()


def test_login_refuses_an_offsite_next(client, user):
    response = client.post(
        "/login/", {"username": user.username, "password": "pw-for-tests-1", "next": "https://evil.example/"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_logout(logged_in):
    assert logged_in.get("/teams/").status_code == 200
    response = logged_in.post("/logout/")
    assert response.status_code == 302
    assert response["Location"] == "/login/"
    assert "_auth_user_id" not in logged_in.session
    response = logged_in.get("/teams/")
    assert response.status_code == 302
    assert urlsplit(response["Location"]).path == "/login/"


def test_logout_needs_post(logged_in):
    assert logged_in.get("/logout/").status_code == 405
    assert logged_in.get("/teams/").status_code == 200  # still logged in


# --- static files --------------------------------------------------------------------------------


def test_the_stylesheet_every_page_links_is_served(client):
    response = client.get("/login/")
    assert b'<link rel="stylesheet" href="/static/mlgov/app.css">' in response.content
    response = client.get("/static/mlgov/app.css")
    assert response.status_code == 200
    assert b".topbar" in b"".join(response.streaming_content if response.streaming else [response.content])
