"""The Django admin for the inventory: hand-owned objects are audited, synced ones are read-only."""

import pytest

from mlgov.audit.models import AuditEvent
from tests import factories

pytestmark = pytest.mark.django_db


def test_inventory_admin_audits_hand_owned_objects_and_locks_synced_ones(client):
    admin = factories.UserFactory(is_staff=True, is_superuser=True)
    client.force_login(admin)
    response = client.post("/admin/inventory/team/add/", {"slug": "vision", "name": "Vision", "description": ""})
    assert response.status_code == 302
    assert AuditEvent.objects.filter(action="team.created", actor_name=admin.username).count() == 1
    version = factories.ModelVersionFactory()
    assert client.get(f"/admin/inventory/modelversion/{version.pk}/change/").status_code == 200  # view only
    assert client.post(f"/admin/inventory/modelversion/{version.pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.get("/admin/inventory/modelversion/").status_code == 200
