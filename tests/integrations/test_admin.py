"""Admins manage MLflow connections in the Django admin, and those edits are audited."""

import pytest

from integrations.models import MlflowConnection
from mlgov.audit.models import AuditEvent
from tests import factories

pytestmark = pytest.mark.django_db


def test_admin_adds_and_edits_a_connection_with_audit(client):
    admin = factories.UserFactory(groups=["admins"], is_staff=True, is_superuser=True)
    client.force_login(admin)
    form = {
        "name": "prod",
        "tracking_uri": "https://mlflow.example.com",
        "token_env_var": "MLFLOW_TOKEN",
        "mapping": '{"tag": "mlgov.project"}',
        "enabled": "on",
        "sync_interval_minutes": 15,
        "full_sync_every": 24,
        "description": "",
    }
    response = client.post("/admin/integrations/mlflowconnection/add/", form)
    assert response.status_code == 302, response.content[:2000]
    conn = MlflowConnection.objects.get(name="prod")
    client.post(f"/admin/integrations/mlflowconnection/{conn.pk}/change/", {**form, "sync_interval_minutes": 5})
    conn.refresh_from_db()
    assert conn.sync_interval_minutes == 5
    events = list(AuditEvent.objects.filter(target_type="mlflowconnection").order_by("seq"))
    assert [e.action for e in events] == ["mlflowconnection.created", "mlflowconnection.updated"]
    assert events[1].before["sync_interval_minutes"] == 15
    assert events[1].after["sync_interval_minutes"] == 5
    assert events[0].actor_name == admin.username


def test_sync_runs_are_read_only_in_the_admin(client):
    admin = factories.UserFactory(is_staff=True, is_superuser=True)
    client.force_login(admin)
    assert client.get("/admin/integrations/syncrun/add/").status_code == 403
