"""In a real browser: a reviewer opens the review queue, reads the request, approves it with a comment; the
alias moves in a real MLflow server; the requester logs in and sees the result. No request leaves the live
server."""

from __future__ import annotations

import re

import pytest
from mlflow import MlflowClient
from playwright.sync_api import expect

from integrations.models import MlflowConnection
from integrations.sync import mlflow_sync_now
from mlgov.governance import services
from mlgov.governance.models import PromotionPolicy, PromotionRequest
from mlgov.inventory.models import ModelVersion, RegisteredModel
from tests import factories
from tests.browser.test_login_flow import Session, log_in, session  # noqa: F401 (fixture)
from tests.integrations.conftest import mlflow_server, unique  # noqa: F401 (fixtures)
from tests.integrations.seed import seed_project

pytestmark = [pytest.mark.browser, pytest.mark.mlflow]
PASSWORD = "pw-for-tests-1"  # tests/factories.py


@pytest.fixture
def pending(transactional_db, mlflow_server, unique):  # noqa: F811
    team = factories.TeamFactory(slug=f"{unique}team", name="Fraud Detection")
    project = factories.ProjectFactory(team=team, slug=f"{unique}proj", name="Card fraud", risk_tier=1)
    client = MlflowClient(mlflow_server.url)
    seeded = seed_project(client, prefix=unique, project=project.slug, n_models=1, n_versions=2)
    connection = MlflowConnection.objects.create(name=f"{unique}b".strip("-")[:60], tracking_uri=mlflow_server.url)
    assert mlflow_sync_now(connection=connection, mode="full").status == "succeeded"
    model = RegisteredModel.objects.get(external_source=connection.external_source, name=seeded.models[0])
    version = ModelVersion.objects.get(model=model, version="2")
    requester = factories.MembershipFactory(team=team, user__username="fatima").user
    factories.UserFactory(username="rui", groups=["reviewers"])
    PromotionPolicy.objects.create(
        name="production", target="production", approvals_required=1, metric_gate="metrics.auc >= 0.8"
    )
    req = services.promotion_request_create(
        actor=requester, version=version, target="production", justification="v2 beats v1 on the holdout set."
    )
    return {"request": req, "model": model, "client": client}


def test_a_reviewer_approves_from_the_queue_and_the_requester_sees_it_applied(pending, session: Session, browser):  # noqa: F811
    page = session.page
    req = pending["request"]
    title = f"#{req.pk} {pending['model'].name} v2 → production"

    # The reviewer: the queue lists the request; its page shows the gates; approve with a comment.
    page.goto(session.url("/login/"))
    log_in(session, "rui", PASSWORD)
    page.get_by_role("link", name="Promotions", exact=True).click()
    expect(page).to_have_url(session.url_re("/promotions/"))
    expect(page.get_by_role("link", name="My review queue")).to_have_attribute("aria-current", "page")
    row = page.locator(f'tr[data-request="{req.pk}"]')
    expect(row).to_contain_text("Pending review")
    expect(row).to_contain_text("0 of 1")
    row.get_by_role("link", name=f"#{req.pk}").click()
    expect(page).to_have_url(session.url_re(f"/promotions/{req.pk}/"))
    expect(page.get_by_role("heading", level=1)).to_have_text(title)
    expect(page.locator('li[data-gate="metric_gate"]')).to_contain_text("pass")
    expect(page.locator("table.metrics")).to_contain_text("auc")
    page.get_by_label("Comment").fill("Holdout AUC is better; lineage recorded.")
    page.get_by_role("button", name="Approve").click()
    expect(page.locator("ul.messages")).to_have_text("Approved.")
    expect(page.get_by_test_id("request-state")).to_have_text("Applied")
    page.get_by_role("button", name="Log out").click()

    # MLflow holds the alias now.
    assert pending["client"].get_model_version_by_alias(pending["model"].name, "production").version == "2"
    assert PromotionRequest.objects.get(pk=req.pk).state == "applied"

    # The requester: their requests list shows it applied, and the page the reviewer's comment.
    log_in(session, "fatima", PASSWORD)
    page.get_by_role("link", name="Promotions", exact=True).click()
    expect(page.get_by_role("link", name="My requests")).to_have_attribute("aria-current", "page")
    row = page.locator(f'tr[data-request="{req.pk}"]')
    expect(row).to_contain_text("Applied")
    row.get_by_role("link", name=f"#{req.pk}").click()
    expect(page.get_by_test_id("request-state")).to_have_text("Applied")
    expect(page.locator("body")).to_contain_text("Holdout AUC is better; lineage recorded.")
    expect(page.locator("dl.facts").first).to_contain_text(re.compile(r"Applied\s*\d{4}-\d\d-\d\d"))
    expect(page.get_by_role("button", name="Approve")).to_have_count(0)
    session.assert_stayed_local()
