"""The audit-events API: filters, visibility, export, request ids and security events."""

from __future__ import annotations

import csv
import io
import json

import pytest

from mlgov.audit.models import AuditEvent
from mlgov.audit.services import audit_record
from mlgov.inventory.services import team_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def trail(admin_user, user):
    team_create(actor=admin_user, slug="alpha", name="Alpha")
    team_create(actor=admin_user, slug="beta", name="Beta")
    audit_record(actor=user, action="project.created", target_type="project", target_id=7, target_repr="P7")
    return AuditEvent.objects.order_by("seq")


def test_manager_sees_everything_and_filters(api_client_for, manager, admin_user, trail):
    client = api_client_for(manager)
    everything = client.get("/api/v1/audit-events/").json()["results"]
    assert {e["action"] for e in everything} >= {"team.created", "project.created"}
    by_actor = client.get("/api/v1/audit-events/", {"actor": admin_user.username}).json()["results"]
    assert {e["action"] for e in by_actor} >= {"team.created"}
    assert all(e["actor_name"] == admin_user.username for e in by_actor)
    alpha = trail.get(target_repr="Alpha")
    by_target = client.get("/api/v1/audit-events/", {"target_type": "team", "target_id": alpha.target_id})
    assert [e["target_repr"] for e in by_target.json()["results"]] == ["Alpha"]
    by_action = client.get("/api/v1/audit-events/", {"action_prefix": "project."}).json()["results"]
    assert [e["target_repr"] for e in by_action] == ["P7"]
    assert client.get("/api/v1/audit-events/", {"since": "2999-01-01T00:00:00Z"}).json()["results"] == []
    window = client.get("/api/v1/audit-events/", {"since": "2000-01-01T00:00:00Z", "until": "2999-01-01T00:00:00Z"})
    assert len(window.json()["results"]) >= 3


def test_plain_user_sees_only_own_events(api_client_for, user, trail):
    events = api_client_for(user).get("/api/v1/audit-events/").json()["results"]
    assert events
    assert {e["actor_name"] for e in events} == {user.username}


def test_request_id_is_returned_and_recorded(api_client_for, admin_user):
    client = api_client_for(admin_user)
    response = client.post(
        "/api/v1/teams/", {"slug": "gamma", "name": "Gamma"}, format="json", HTTP_X_REQUEST_ID="ci-run-12345678"
    )
    assert response["X-Request-ID"] == "ci-run-12345678"
    assert AuditEvent.objects.get(action="team.created", target_repr="Gamma").request_id == "ci-run-12345678"
    generated = client.get("/api/v1/teams/", HTTP_X_REQUEST_ID="bad id with spaces")
    assert len(generated["X-Request-ID"]) == 32
    assert generated["X-Request-ID"] != "bad id with spaces"


def test_export_csv_and_jsonl(api_client_for, manager, trail):
    client = api_client_for(manager)
    response = client.get("/api/v1/audit-events/export/csv", {"action": "team.created"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [r["target_repr"] for r in rows] == ["Alpha", "Beta"]
    assert json.loads(rows[0]["after"])["name"] == "Alpha"
    assert rows[1]["prev_hash"] == rows[0]["hash"]

    response = client.get("/api/v1/audit-events/export/jsonl")
    lines = [json.loads(line) for line in b"".join(response.streaming_content).decode().splitlines()]
    assert [e["seq"] for e in lines] == sorted(e["seq"] for e in lines)
    assert {e["action"] for e in lines} >= {"team.created", "project.created"}


def test_export_refuses_unknown_filter(api_client_for, manager):
    response = api_client_for(manager).get("/api/v1/audit-events/export/csv", {"actr": "x"})
    assert response.status_code == 400


def test_audit_events_are_read_only(api_client_for, admin_user, trail):
    client = api_client_for(admin_user)
    event = trail.first()
    assert client.delete(f"/api/v1/audit-events/{event.pk}/").status_code == 405
    assert client.patch(f"/api/v1/audit-events/{event.pk}/", {"action": "x"}, format="json").status_code == 405
    assert client.post("/api/v1/audit-events/", {"action": "x"}, format="json").status_code == 405


def test_permission_denied_is_recorded_with_context(api_client_for, user, team):
    response = api_client_for(user).patch(f"/api/v1/teams/{team.slug}/", {"name": "x"}, format="json")
    assert response.status_code == 403
    event = AuditEvent.objects.get(action="security.permission_denied")
    assert event.actor_name == user.username
    assert event.after["path"] == f"/api/v1/teams/{team.slug}/"
    assert event.after["method"] == "PATCH"
    assert event.request_id == response["X-Request-ID"]
