"""End to end in a real browser: log in to the demo organisation, walk team -> project -> model,
read the audit log, log out; and a wrong password. No request may leave the live server (no CDN)."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command
from playwright.sync_api import Browser, Page, expect

from mlgov.audit.models import AuditEvent
from mlgov.inventory.models import ModelVersion, RegisteredModel

pytestmark = pytest.mark.browser

PASSWORD = "browser-demo-pw-2026"
SCREENSHOT = "/tmp/mlgov-model-page.png"
DEMO_TEAMS = ["Fraud Detection", "Recommendations", "Demand Forecasting", "Credit Risk"]


# Requests that may fail: chromium asks for /favicon.ico by itself and the app has none; and
# app.css is not found by the staticfiles finders (STATICFILES_DIRS is missing; see
# test_the_stylesheet_is_served_and_applied). Remove app.css from here once that is fixed.
MAY_FAIL: set[str] = set()


@dataclass
class Session:
    page: Page
    base_url: str
    requests: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def url_re(self, path: str, query: str = "") -> re.Pattern[str]:
        return re.compile("^" + re.escape(self.url(path) + query) + "$")

    def on_response(self, response) -> None:
        if response.status >= 400:
            self.failed.append(f"{response.status} {response.url}")

    def on_console(self, message) -> None:
        # Failed loads are reported, with their URL, by on_response.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.errors.append(message.text)

    def assert_stayed_local(self) -> None:
        assert self.requests, "no requests were recorded"
        host = urlsplit(self.base_url).netloc
        outside = [u for u in self.requests if urlsplit(u).scheme not in ("http", "https", "data")]
        outside += [u for u in self.requests if urlsplit(u).scheme in ("http", "https") and urlsplit(u).netloc != host]
        assert outside == [], f"requests left the live server: {outside}"
        unexpected = [f for f in self.failed if urlsplit(f.split(" ", 1)[1]).path not in MAY_FAIL]
        assert unexpected == [], f"requests failed: {unexpected}"
        assert self.errors == [], f"the page reported errors: {self.errors}"


@pytest.fixture(scope="module")
def demo_mlflow_dir(tmp_path_factory):
    """The demo's MLflow store, seeded once for the module (later seeds find it seeded and only sync)."""
    return tmp_path_factory.mktemp("demo-mlflow")


@pytest.fixture
def demo(browser, transactional_db, demo_mlflow_dir) -> None:
    call_command("seed_demo", password=PASSWORD, mlflow_dir=str(demo_mlflow_dir), stdout=io.StringIO())


@pytest.fixture
def session(browser: Browser, live_server) -> Iterator[Session]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    s = Session(page=page, base_url=live_server.url)
    page.on("request", lambda request: s.requests.append(request.url))
    page.on("response", s.on_response)
    page.on("console", s.on_console)
    page.on("pageerror", lambda exc: s.errors.append(str(exc)))
    try:
        yield s
    finally:
        context.close()


def log_in(s: Session, username: str, password: str) -> None:
    s.page.get_by_label("Username").fill(username)
    s.page.get_by_label("Password").fill(password)
    s.page.get_by_role("button", name="Log in").click()


def test_manager_walks_the_inventory_and_the_audit_log(demo, session: Session):
    page = session.page

    # Anonymous: sent to the login page.
    page.goto(session.url("/"))
    expect(page).to_have_url(session.url_re("/login/", "?next=/"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Log in to mlgov")
    expect(page.get_by_test_id("current-user")).to_have_count(0)

    # Log in: the Teams list with the demo teams.
    log_in(session, "manager", PASSWORD)
    expect(page).to_have_url(session.url_re("/teams/"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Teams")
    expect(page.get_by_test_id("current-user")).to_have_text("manager")
    teams_table = page.locator("table tbody")
    for name in DEMO_TEAMS:
        expect(teams_table.get_by_role("link", name=name, exact=True)).to_be_visible()
    expect(teams_table.locator("tr")).to_have_count(len(DEMO_TEAMS))

    # A team.
    page.get_by_role("link", name="Fraud Detection", exact=True).click()
    expect(page).to_have_url(session.url_re("/teams/fraud/"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Fraud Detection")
    projects = page.locator("table tbody")
    expect(projects.get_by_role("link", name="Card fraud scorer")).to_be_visible()
    expect(projects.get_by_role("link", name="Account takeover detection")).to_be_visible()
    expect(page.locator("ul.members")).to_contain_text("Femi (fraud maintainer)")

    # A project.
    page.get_by_role("link", name="Card fraud scorer").click()
    expect(page).to_have_url(session.url_re("/projects/card-fraud/"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Card fraud scorer")

    # A model, synced from the demo's MLflow store: its seven versions and two aliases.
    model = RegisteredModel.objects.get(name="card-fraud-gbm", external_source="mlflow:demo")
    versions = list(ModelVersion.objects.filter(model=model).values_list("version", flat=True))
    assert sorted(versions, key=int) == [str(n) for n in range(1, 8)]
    versions = [str(n) for n in range(7, 0, -1)]  # the page lists the newest registration first
    page.get_by_role("link", name="card-fraud-gbm", exact=True).click()
    expect(page).to_have_url(session.url_re(f"/models/{model.pk}/"))
    expect(page.get_by_role("heading", level=1)).to_have_text("card-fraud-gbm")
    aliases = page.locator("h2:has-text('Aliases') + ul")
    expect(aliases).to_contain_text("champion → version 7")
    expect(aliases).to_contain_text("production → version 6")
    rows = page.locator("table tbody tr")
    expect(rows).to_have_count(len(versions))
    expect(rows.locator("td:first-child")).to_have_text([f"v{v}" for v in versions])

    def row(version: str):
        return rows.filter(has=page.locator("td:first-child", has_text=re.compile(rf"^v{version}$")))

    expect(row("7").locator(".tag")).to_have_text(["champion"])
    expect(row("6").locator(".tag")).to_have_text(["production"])
    expect(row("5").locator(".tag")).to_have_count(0)
    expect(row("7")).to_contain_text("auc=")
    expect(row("7")).to_contain_text("latency_p95_ms=")
    page.screenshot(path=SCREENSHOT, full_page=True)

    # The status filter, through the form.
    page.get_by_label("Status").select_option("FAILED_REGISTRATION")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(session.url_re(f"/models/{model.pk}/", "?status=FAILED_REGISTRATION"))
    expect(rows).to_have_count(1)
    expect(rows).to_have_text("No versions.")

    # The audit log: a manager sees the seed's events.
    page.get_by_role("link", name="Audit log").click()
    expect(page).to_have_url(session.url_re("/audit/"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Audit log")
    events = page.locator("table.audit tbody tr")
    total = AuditEvent.objects.count()
    assert total > 50
    expect(events).to_have_count(50)
    # The newest are the seed's last steps (the demo steps that apps register, e.g. lineage, run after
    # its sync); the end of the demo's sync is found through the form.
    expect(events.first).to_contain_text("cli")
    expect(page.get_by_role("navigation", name="Pagination")).to_contain_text(f"Page 1 of {(total + 49) // 50}")
    page.get_by_label("Action", exact=True).fill("sync.succeeded")
    page.get_by_role("button", name="Filter").click()
    expect(events.first).to_contain_text("demo-seed")
    # ... and filters them through the form.
    page.get_by_label("Action", exact=True).fill("team.created")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"/audit/\?.*action=team\.created"))
    expect(events).to_have_count(len(DEMO_TEAMS))
    expect(events.locator("td:nth-child(5)")).to_have_text(["team.created"] * len(DEMO_TEAMS))

    # Log out: back to the login page, and the pages are closed again.
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(session.url_re("/login/"))
    expect(page.get_by_test_id("current-user")).to_have_count(0)
    page.goto(session.url("/audit/"))
    expect(page).to_have_url(session.url_re("/login/", "?next=/audit/"))

    session.assert_stayed_local()
    assert any(urlsplit(u).path == "/static/mlgov/app.css" for u in session.requests)


def test_wrong_password_shows_the_error_and_stays_on_the_login_page(demo, session: Session):
    page = session.page
    page.goto(session.url("/login/"))
    log_in(session, "manager", "not-the-password")

    expect(page).to_have_url(session.url_re("/login/"))
    expect(page.get_by_role("alert")).to_have_text("Your username and password didn't match. Please try again.")
    expect(page.get_by_role("heading", level=1)).to_have_text("Log in to mlgov")
    expect(page.get_by_test_id("current-user")).to_have_count(0)
    assert AuditEvent.objects.filter(action="security.login_failed", target_repr="manager").count() == 1

    # Still logged out.
    page.goto(session.url("/teams/"))
    expect(page).to_have_url(session.url_re("/login/", "?next=/teams/"))

    session.assert_stayed_local()


def test_the_stylesheet_is_served_and_applied(session: Session, transactional_db):
    page = session.page
    with page.expect_response(lambda r: urlsplit(r.url).path == "/static/mlgov/app.css") as css:
        page.goto(session.url("/login/"))
    assert css.value.status == 200
    topbar = page.locator("header.topbar").evaluate("el => getComputedStyle(el).backgroundColor")
    assert topbar == "rgb(29, 35, 48)"
