"""The OpenAPI schema and the docs pages work offline (assets served locally by the sidecar)."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.django_db


def test_schema_is_openapi3_with_every_endpoint(client, user):
    client.force_login(user)
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    for path in (
        "teams",
        "projects",
        "models",
        "model-versions",
        "datasets",
        "features",
        "pipelines",
        "pipeline-runs",
        "audit-events",
        "memberships",
        "tokens",
    ):
        assert f"/api/v1/{path}/" in schema["paths"], path
    assert schema["components"]["securitySchemes"]["bearerToken"]["scheme"] == "bearer"


def test_docs_page_loads_only_local_assets(client, user):
    client.force_login(user)
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources
    assert not [s for s in sources if s.startswith(("http://", "https://", "//"))], sources
    scripts = [s for s in sources if s.endswith(".js")]
    assert scripts
    for asset in scripts:
        fetched = client.get(asset)
        assert fetched.status_code == 200, asset


def test_schema_generation_has_no_warnings():
    from io import StringIO

    from django.core.management import call_command

    out, err = StringIO(), StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out, stderr=err)
    assert "openapi" in out.getvalue()
