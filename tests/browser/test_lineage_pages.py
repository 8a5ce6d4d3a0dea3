"""The lineage pages in a real browser: the Plotly graph on the model version and dataset pages (drawn by
the locally served plotly.js), its depth control, a click through to a node, and the impact page.
No request may leave the live server."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect

from mlgov.inventory.services import model_alias_set
from tests import factories
from tests.inventory.lineage_chain import build_chain

pytestmark = pytest.mark.browser
PASSWORD = "lineage-browser-pw-1"
SCREENSHOT = "/tmp/mlgov-lineage-page.png"


@pytest.fixture
def page(browser: Browser, live_server, transactional_db) -> Iterator[tuple[Page, list[str], list[str]]]:
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    context.set_default_timeout(15_000)
    pg = context.new_page()
    requests: list[str] = []
    errors: list[str] = []
    pg.on("request", lambda r: requests.append(r.url))
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        yield pg, requests, errors
    finally:
        context.close()


def test_lineage_graph_depth_click_and_impact(page, live_server):
    pg, requests, errors = page
    user = factories.UserFactory(username="reviewer")
    user.set_password(PASSWORD)
    user.save()
    c = build_chain(prefix="web")
    model_alias_set(actor=user, version=c.version, alias="production")
    base = live_server.url

    pg.goto(f"{base}/login/")
    pg.get_by_label("Username").fill("reviewer")
    pg.get_by_label("Password").fill(PASSWORD)
    pg.get_by_role("button", name="Log in").click()
    expect(pg.get_by_test_id("current-user")).to_have_text("reviewer")

    # The model version page: the upstream graph, drawn.
    pg.goto(f"{base}/model-versions/{c.version.pk}/")
    graph = pg.get_by_test_id("lineage-graph")
    expect(graph).to_have_attribute("data-ready", "true")
    expect(graph.locator("svg.main-svg").first).to_be_visible()
    expect(pg.get_by_test_id("lineage-summary")).to_contain_text("5 nodes")
    expect(graph.locator(".legendtext", has_text="Datasets")).to_have_count(1)
    expect(graph.locator(".legendtext", has_text="Pipeline runs")).to_have_count(1)
    pg.screenshot(path=SCREENSHOT, full_page=True)

    # Depth 1: only the version and its run.
    pg.get_by_test_id("lineage-depth").select_option("1")
    pg.get_by_role("button", name="Show").click()
    expect(pg).to_have_url(re.compile(r".*depth=1.*"))
    expect(pg.get_by_test_id("lineage-summary")).to_contain_text("2 nodes")

    # Back to depth 5; the table lists the dataset; its link opens the dataset page.
    pg.goto(f"{base}/model-versions/{c.version.pk}/?direction=upstream&depth=5")
    pg.locator("summary", has_text="Nodes as a table").click()
    pg.get_by_test_id("lineage-table").get_by_role("link", name=str(c.dataset)).click()
    expect(pg).to_have_url(f"{base}/datasets/{c.dataset.pk}/")
    expect(pg.get_by_role("heading", level=1)).to_contain_text(c.dataset.name)
    expect(pg.get_by_test_id("lineage-graph")).to_have_attribute("data-ready", "true")

    # Downstream from the dataset, then a click on the model version node in the graph itself.
    pg.goto(f"{base}/datasets/{c.dataset.pk}/?direction=downstream&depth=5")
    graph = pg.get_by_test_id("lineage-graph")
    expect(graph).to_have_attribute("data-ready", "true")
    expect(pg.get_by_test_id("lineage-summary")).to_contain_text("4 nodes")
    point = graph.locator(".scatterlayer .trace").filter(has=pg.locator("text", has_text="v1")).locator("path.point")
    point.first.click(force=True)
    expect(pg).to_have_url(f"{base}/model-versions/{c.version.pk}/")

    # The impact page: the version, in production, and its team.
    pg.goto(f"{base}/datasets/{c.dataset.pk}/")
    pg.get_by_test_id("impact-link").click()
    expect(pg).to_have_url(f"{base}/datasets/{c.dataset.pk}/impact/")
    expect(pg.get_by_test_id("impact-summary")).to_contain_text("1 model version reachable")
    expect(pg.get_by_test_id("impact-summary")).to_contain_text("1 holding a production alias")
    row = pg.get_by_test_id("impact-table").locator("tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text(c.version.model.project.team.name)
    expect(row.locator("td").nth(4)).to_have_text("yes")

    host = urlsplit(base).netloc
    outside = [u for u in requests if urlsplit(u).scheme in ("http", "https") and urlsplit(u).netloc != host]
    assert outside == [], f"requests left the live server: {outside}"
    assert any(u.endswith("/static/vendor/plotly/plotly.min.js") for u in requests)
    assert errors == []
