"""Project-wide views: Django's handler403 (mlgov.views.permission_denied) records the refusal."""

from __future__ import annotations

import pytest

from mlgov.audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def test_handler403_renders_the_page_and_records_a_security_event(client, user):
    client.force_login(user)
    response = client.post("/maturity/score/")  # raises django's PermissionDenied for a non-manager
    assert response.status_code == 403
    assert response["Content-Type"].startswith("text/html")
    assert "<h1>403</h1>" in response.content.decode()
    event = AuditEvent.objects.get(action="security.permission_denied")
    assert event.actor_name == user.username
    assert event.target_repr == "/maturity/score/"
    assert event.after["reason"] == "Only managers may score every project."
    assert event.after["method"] == "POST"
