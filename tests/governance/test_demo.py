"""The demo's Promotions step (registered with integrations.hooks.register_demo_step): run by `seed_demo`
against a real local MLflow store, with committed transactions so the apply task really moves aliases."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.db.models import Max
from mlflow import MlflowClient

from integrations import demo as store_demo
from integrations import hooks
from mlgov.audit.models import AuditEvent
from mlgov.governance.models import AliasChange, DriftFinding, PromotionRequest

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_the_step_is_registered():
    assert "Promotions" in [label for label, _ in hooks.demo_steps()]


def test_the_demo_seeds_a_spread_of_promotions_through_the_real_write_back(tmp_path, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    out = io.StringIO()
    call_command("seed_demo", password="pw-demo-test-1", mlflow_dir=str(tmp_path), stdout=out)
    line = next(x for x in out.getvalue().splitlines() if x.startswith("Promotions: "))
    assert line == (
        "Promotions: 3 policies (3 new); requests: 3 applied, 1 pending, 1 rejected; "
        "open drift findings: pd-logit@production; maturity after governance: account-takeover 1, card-fraud 4, "
        "email-recs 0, home-feed 0, pd-model 1, store-demand 3, warehouse-demand 0"
    )
    states = dict(PromotionRequest.objects.values_list("model__name", "state").order_by("id"))
    assert set(states.values()) == {"applied", "pending", "rejected"}
    uri = store_demo.DemoStore.at(tmp_path).tracking_uri
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    # The write-back set a new alias in the demo's store, and left the exemplary model's aliases as they were.
    assert str(client.get_model_version_by_alias("feed-ranker", "staging").version) == "3"
    aliases = client.get_registered_model("card-fraud-gbm").aliases  # a SQLite store gives versions as ints
    assert {k: str(v) for k, v in aliases.items()} == {"champion": "7", "production": "6"}
    assert client.get_model_version("card-fraud-gbm", "6").tags["mlgov.promotion.production"]
    assert AliasChange.objects.filter(source="promotion").count() == 3
    drift = DriftFinding.objects.get(status="open")
    assert (drift.model.name, drift.alias, drift.observed_number, drift.expected_number) == (
        "pd-logit",
        "production",
        "3",
        "",
    )

    # Idempotent: a second seed makes no request and writes no promotion or drift event.
    last = AuditEvent.objects.aggregate(m=Max("seq"))["m"]
    requests = PromotionRequest.objects.count()
    out = io.StringIO()
    call_command("seed_demo", password="pw-demo-test-1", mlflow_dir=str(tmp_path), stdout=out)
    assert "Promotions: 3 policies (0 new)" in out.getvalue()
    assert PromotionRequest.objects.count() == requests
    new = set(AuditEvent.objects.filter(seq__gt=last).values_list("action", flat=True))
    assert not {a for a in new if a.startswith(("promotion", "drift"))}, new
