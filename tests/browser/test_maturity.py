"""Maturity pages in a real browser (Debian chromium through Playwright):

- a manager logs in, opens the dashboard, the Plotly charts render, no request leaves the live server
  (Playwright intercepts every request and aborts any other host), drills into a team and a project, and
  exports the scorecards as CSV;
- a maintainer attests a criterion on the project's scorecard and sees the project's level change.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, Route, expect

from assessments.models import Assessment, Attestation
from assessments.services import projects_score
from tests import factories
from tests.assessments.builders import full_evidence

pytestmark = pytest.mark.browser
PASSWORD = "pw-for-tests-1"  # tests/factories.py UserFactory


@dataclass
class Guarded:
    page: Page
    base_url: str
    requests: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def assert_stayed_local(self) -> None:
        assert self.requests, "no requests were recorded"
        assert self.blocked == [], f"requests tried to leave the live server: {self.blocked}"
        assert self.failed == [], f"requests failed: {self.failed}"
        assert self.errors == [], f"the page reported errors: {self.errors}"


@pytest.fixture
def guarded(browser: Browser, live_server) -> Iterator[Guarded]:
    context = browser.new_context(viewport={"width": 1300, "height": 950}, accept_downloads=True)
    context.set_default_timeout(15_000)
    page = context.new_page()
    g = Guarded(page=page, base_url=live_server.url)
    host = urlsplit(live_server.url).netloc

    def route(r: Route) -> None:
        url = r.request.url
        g.requests.append(url)
        if urlsplit(url).scheme in ("http", "https") and urlsplit(url).netloc != host:
            g.blocked.append(url)
            r.abort()
        else:
            r.continue_()

    context.route("**/*", route)
    page.on("response", lambda resp: resp.status >= 400 and g.failed.append(f"{resp.status} {resp.url}"))
    page.on("console", lambda m: m.type == "error" and g.errors.append(m.text))
    page.on("pageerror", lambda exc: g.errors.append(str(exc)))
    try:
        yield g
    finally:
        context.close()


def log_in(g: Guarded, username: str, next_path: str = "/") -> None:
    g.page.goto(g.url(f"/login/?next={next_path}"))
    g.page.get_by_label("Username").fill(username)
    g.page.get_by_label("Password").fill(PASSWORD)
    g.page.get_by_role("button", name="Log in").click()


def expect_chart(page: Page, testid: str) -> None:
    chart = page.get_by_test_id(testid)
    expect(chart).to_have_attribute("data-rendered", "true")
    expect(chart.locator("svg.main-svg").first).to_be_visible()


def test_a_manager_reviews_the_dashboard_team_and_project_and_exports(guarded: Guarded, transactional_db):
    fraud = factories.TeamFactory(slug="fraud", name="Fraud Detection")
    recsys = factories.TeamFactory(slug="recsys", name="Recommendations")
    card = factories.ProjectFactory(team=fraud, slug="card-fraud", name="Card fraud scorer", risk_tier=1)
    full_evidence(card)
    factories.ProjectFactory(team=fraud, slug="account-takeover", name="Account takeover", risk_tier=2)
    factories.ProjectFactory(team=recsys, slug="home-feed", name="Home feed", risk_tier=2)
    projects_score(actor="cli", trigger="cli")
    manager = factories.UserFactory(username="maya", groups=["managers"])
    assert manager.pk
    page = guarded.page

    log_in(guarded, "maya", "/maturity/")
    expect(page).to_have_url(guarded.url("/maturity/"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Maturity")
    for testid in ("chart-levels", "chart-heatmap", "chart-trend"):
        expect_chart(page, testid)
    # The stacked bar has one bar trace per level; the heatmap lists both teams.
    expect(page.get_by_test_id("chart-levels").locator("g.trace.bars")).to_have_count(5)
    expect(page.get_by_test_id("chart-heatmap")).to_contain_text("Recommendations")
    expect(page.get_by_test_id("assessed")).to_have_text("3 of 3")
    expect(page.get_by_test_id("moved-down")).to_contain_text("None.")

    # Filter by risk tier through the form.
    page.get_by_label("Risk tier").select_option("1")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(guarded.url("/maturity/?team=&level=&risk_tier=1&lifecycle=&since=30&rubric=azure-mlops"))
    table = page.locator("table.scorecards tbody tr")
    expect(table).to_have_count(1)
    expect(table).to_contain_text("Card fraud scorer")

    # Export what is shown as CSV.
    with page.expect_download() as download:
        page.get_by_test_id("export-csv").click()
    rows = list(csv.DictReader(io.StringIO(open(download.value.path()).read())))  # noqa: SIM115
    assert [r["project"] for r in rows] == ["card-fraud"]
    assert rows[0]["level"] == str(Assessment.objects.get(project=card).level)

    # Drill into the team.
    table.get_by_role("link", name="Fraud Detection").click()
    expect(page).to_have_url(guarded.url("/maturity/teams/fraud/"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Fraud Detection")
    expect_chart(page, "chart-team-trend")
    expect(page.locator("table.scorecards tbody tr")).to_have_count(2)

    # ... and into the project.
    page.get_by_role("link", name="Card fraud scorer").click()
    expect(page).to_have_url(guarded.url("/projects/card-fraud/scorecard/"))
    expect_chart(page, "chart-radar")
    expect_chart(page, "chart-history")
    level = Assessment.objects.get(project=card).level
    expect(page.get_by_test_id("project-level")).to_contain_text(f"level {level}")
    tests_row = page.locator('tr[data-criterion="integration.unit-tests"]')
    expect(tests_row.get_by_test_id("status")).to_have_text("met")
    link = tests_row.get_by_test_id("evidence-link").first
    expect(link).to_have_attribute("href", f"https://github.com/acme/card-fraud/blob/{'c' * 40}/test_file.py")
    expect(page.get_by_test_id("next-steps")).to_contain_text("Software engineering manages the release")

    guarded.assert_stayed_local()
    local = [u for u in guarded.requests if urlsplit(u).path == "/static/vendor/plotly/plotly.min.js"]
    assert local, "plotly.js was not loaded from the app"


def test_a_maintainer_attests_a_criterion_and_sees_the_level_change(guarded: Guarded, transactional_db):
    team = factories.TeamFactory(slug="fraud", name="Fraud Detection")
    project = factories.ProjectFactory(team=team, slug="card-fraud", name="Card fraud scorer")
    full_evidence(project)  # everything detectable up to level 3; release.engineering-managed needs a person
    projects_score(actor="cli", trigger="cli")
    before = Assessment.objects.get(project=project).level
    assert before == 1
    femi = factories.MembershipFactory(team=team, role="maintainer", user__username="femi").user
    page = guarded.page

    log_in(guarded, femi.username, "/projects/card-fraud/scorecard/")
    expect(page).to_have_url(guarded.url("/projects/card-fraud/scorecard/"))
    expect(page.get_by_test_id("project-level")).to_contain_text("level 1")
    row = page.locator('tr[data-criterion="release.engineering-managed"]')
    expect(row.get_by_test_id("status")).to_have_text("unmet")

    form = page.get_by_role("form", name="Attest a criterion")
    form.get_by_label("Criterion").select_option("release.engineering-managed")
    form.get_by_label("Statement").fill("Releases follow the SRE runbook; a second engineer approves each one.")
    form.get_by_label("Link (optional)").fill("https://wiki.example.com/card-fraud/runbook")
    form.get_by_role("button", name="Attest").click()

    expect(page).to_have_url(guarded.url("/projects/card-fraud/scorecard/"))
    expect(page.locator("ul.messages")).to_contain_text("Attested")
    expect(row.get_by_test_id("status")).to_have_text("attested")
    expect(row).to_contain_text("Attested by femi")
    after = Assessment.objects.get(project=project, is_latest=True).level
    assert after > before
    expect(page.get_by_test_id("project-level")).to_contain_text(f"level {after}")
    expect(page.get_by_test_id("history").locator("tbody tr").first).to_contain_text(f"{before} → {after}")
    assert Attestation.objects.get().attested_by == femi
    expect_chart(page, "chart-radar")
    guarded.assert_stayed_local()
