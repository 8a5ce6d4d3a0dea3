"""Bad input gets a 4xx in the one error shape, never a 500, and writes nothing."""

from __future__ import annotations

import json

import pytest

from mlgov.inventory.models import Project, Team
from tests import factories

pytestmark = pytest.mark.django_db


def assert_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content[:500]
    body = response.json()
    assert set(body) == {"error"}
    assert {"code", "message", "details"} <= set(body["error"])
    if code:
        assert body["error"]["code"] == code
    return body["error"]


@pytest.fixture
def admin_api(api_client_for, admin_user):
    return api_client_for(admin_user)


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/api/v1/model-versions/", {"cursor": "not-a-cursor"}, "cursor"),
        ("/api/v1/model-versions/", {"cursor": "bz1hYmM="}, "cursor"),
        ("/api/v1/model-versions/", {"page_size": "abc"}, "page_size"),
        ("/api/v1/model-versions/", {"page_size": "0"}, "page_size"),
        ("/api/v1/model-versions/", {"page_size": "100000"}, "page_size"),
        ("/api/v1/model-versions/", {"updated_since": "yesterday"}, "updated_since"),
        ("/api/v1/model-versions/", {"commit": "not-hex!"}, "commit"),
        ("/api/v1/model-versions/", {"commit": "abc"}, "commit"),
        ("/api/v1/model-versions/", {"status": "DEPLOYED"}, "status"),
        ("/api/v1/projects/", {"lifecycle": "bogus"}, "lifecycle"),
        ("/api/v1/projects/", {"risk_tier": "high"}, "risk_tier"),
        ("/api/v1/projects/", {"ordering": "-secret"}, "ordering"),
        ("/api/v1/model-versions/", {"ordering": "registered_at,-id"}, "ordering"),
        ("/api/v1/pipeline-runs/", {"pipeline": "x"}, "pipeline"),
        ("/api/v1/audit-events/", {"since": "2026-13-45"}, "since"),
        ("/api/v1/teams/", {"tema": "a", "page": "2"}, "unknown_parameters"),
    ],
)
def test_bad_query_parameters_are_400(api, path, params, field):
    factories.ModelVersionFactory()
    err = assert_error(api.get(path, params), 400)
    if field:
        assert field in err["details"], err


def test_nul_byte_in_query_string_is_400(api):
    assert_error(api.get("/api/v1/projects/?q=abc%00def"), 400, "invalid")


def test_nul_byte_in_body_is_400(admin_api):
    err = assert_error(admin_api.post("/api/v1/teams/", {"slug": "nul", "name": "a\x00b"}, format="json"), 400)
    assert "name" in err["details"]
    assert not Team.objects.filter(slug="nul").exists()


@pytest.mark.parametrize("name", ["Team\x1b[31mred", "line\nbreak", "bell\x07", "rtl\u202eoverride"])
def test_control_characters_in_names_are_400(admin_api, name):
    err = assert_error(admin_api.post("/api/v1/teams/", {"slug": "ctl", "name": name}, format="json"), 400)
    assert "name" in err["details"]
    assert not Team.objects.filter(slug="ctl").exists()


def test_over_long_fields_are_400(admin_api):
    err = assert_error(admin_api.post("/api/v1/teams/", {"slug": "long", "name": "x" * 101}, format="json"), 400)
    assert "name" in err["details"]
    err = assert_error(admin_api.post("/api/v1/teams/", {"slug": "s" * 51, "name": "ok"}, format="json"), 400)
    assert "slug" in err["details"]


def test_unicode_names_are_fine(admin_api):
    response = admin_api.post("/api/v1/teams/", {"slug": "zurich", "name": "Zürich Prévision 予測 🚀"}, format="json")
    assert response.status_code == 201, response.content
    assert Team.objects.get(slug="zurich").name == "Zürich Prévision 予測 🚀"


def test_thirty_megabyte_body_is_413_and_writes_nothing(admin_api):
    body = json.dumps({"slug": "big", "name": "big", "description": "x" * (30 * 1024 * 1024)})
    response = admin_api.generic("POST", "/api/v1/teams/", body, content_type="application/json")
    err = assert_error(response, 413, "payload_too_large")
    assert err["details"]["limit"] > 0
    assert not Team.objects.filter(slug="big").exists()


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain", "slug=a&name=b"),
        ("application/x-www-form-urlencoded", "slug=a&name=b"),
        ("application/xml", "<team><slug>a</slug></team>"),
    ],
)
def test_wrong_content_type_is_415(admin_api, content_type, body):
    assert_error(
        admin_api.generic("POST", "/api/v1/teams/", body, content_type=content_type), 415, "unsupported_media_type"
    )
    assert not Team.objects.filter(slug="a").exists()


@pytest.mark.parametrize("body", ['{"slug": "a", "name": ', "[1, 2, 3]", '"just a string"', "null"])
def test_malformed_or_non_object_json_is_400(admin_api, body):
    response = admin_api.generic("POST", "/api/v1/teams/", body, content_type="application/json")
    assert_error(response, 400)


def test_wrong_types_are_400(api_client_for, team, maintainer):
    client = api_client_for(maintainer)
    err = assert_error(
        client.post(
            "/api/v1/projects/", {"team": team.slug, "slug": "p", "name": "P", "risk_tier": "high"}, format="json"
        ),
        400,
    )
    assert "risk_tier" in err["details"]
    err = assert_error(
        client.post("/api/v1/projects/", {"team": "no-such-team", "slug": "p", "name": "P"}, format="json"), 400
    )
    assert "team" in err["details"]
    assert not Project.objects.filter(slug="p").exists()


def test_unknown_route_is_404_json(api):
    assert_error(api.get("/api/v1/nothing-here/"), 404, "not_found")


def test_method_not_allowed_is_405(api):
    assert_error(api.put("/api/v1/teams/", {}, format="json"), 405, "method_not_allowed")


# --- Projects, memberships and tokens: the same rules as /teams/ (marker `portable`: also on PostgreSQL,
# where a NUL byte reaching a query is a DataError, i.e. a 500, if input validation lets it through).


def _writes(team, maintainer, admin_user):
    """(path, who posts, a valid body, the field under test, a count of what the endpoint writes)."""
    from mlgov.accounts.models import ApiToken, Membership

    other = factories.UserFactory(username="someone")
    factories.UserFactory(username="svc", is_service_account=True)
    return {
        "project": ("/api/v1/projects/", maintainer, {"team": team.slug, "slug": "p1", "name": "P"}, Project),
        "membership": ("/api/v1/memberships/", maintainer, {"user": other.username, "team": team.slug}, Membership),
        "token": ("/api/v1/tokens/", admin_user, {"name": "ci", "scope": "read", "user": "svc"}, ApiToken),
    }


@pytest.fixture
def writes(team, maintainer, admin_user):
    return _writes(team, maintainer, admin_user)


def _count(model) -> int:
    return model.objects.count()


BAD_VALUES = [
    pytest.param("a\x00b", id="nul"),
    pytest.param("\x00", id="only-nul"),
    pytest.param("a\x1b[31m", id="escape"),
    pytest.param("line\nbreak", id="newline"),
    pytest.param("rtl\u202eoverride", id="bidi"),
    pytest.param("x" * 5000, id="over-long"),
]


@pytest.mark.portable
@pytest.mark.parametrize(
    ("endpoint", "field"),
    [
        ("project", "team"),
        ("project", "slug"),
        ("project", "name"),
        ("project", "description"),
        ("membership", "user"),
        ("membership", "team"),
        ("token", "user"),
        ("token", "name"),
    ],
)
@pytest.mark.parametrize("value", BAD_VALUES)
def test_bad_field_values_are_400_and_write_nothing(api_client_for, writes, endpoint, field, value):
    path, who, body, model = writes[endpoint]
    client = api_client_for(who)
    before = _count(model)
    response = client.post(path, {**body, field: value}, format="json")
    err = assert_error(response, 400, "invalid")
    assert field in err["details"], err
    assert _count(model) == before


@pytest.mark.portable
@pytest.mark.parametrize("endpoint", ["project", "membership", "token"])
def test_valid_bodies_are_accepted(api_client_for, writes, endpoint):
    """The bodies the bad-input tests start from are valid, so each 400 above is about the one bad field."""
    path, who, body, model = writes[endpoint]
    client = api_client_for(who)
    before = _count(model)
    response = client.post(path, body, format="json")
    assert response.status_code == 201, response.content
    assert _count(model) == before + 1


@pytest.mark.portable
@pytest.mark.parametrize("endpoint", ["project", "membership", "token"])
def test_nul_in_a_key_or_nested_value_is_400(api_client_for, writes, endpoint):
    path, who, body, model = writes[endpoint]
    client = api_client_for(who)
    before = _count(model)
    assert_error(client.post(path, {**body, "bad\x00key": 1}, format="json"), 400)
    assert_error(client.post(path, {**body, "extra": ["ok", {"deep": "a\x00"}]}, format="json"), 400)
    assert _count(model) == before


@pytest.mark.parametrize("endpoint", ["project", "membership", "token"])
@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain", "name=b"),
        ("application/x-www-form-urlencoded", "name=b"),
        ("multipart/form-data; boundary=xyz", "--xyz--"),
        ("application/xml", "<x/>"),
    ],
)
def test_wrong_content_type_is_415_everywhere(api_client_for, writes, endpoint, content_type, body):
    path, who, _, model = writes[endpoint]
    client = api_client_for(who)
    before = _count(model)
    response = client.generic("POST", path, body, content_type=content_type)
    assert_error(response, 415, "unsupported_media_type")
    assert _count(model) == before


@pytest.mark.parametrize("endpoint", ["project", "membership", "token"])
@pytest.mark.parametrize("body", ['{"name": ', "[1, 2]", '"text"', "null"])
def test_malformed_json_is_400_everywhere(api_client_for, writes, endpoint, body):
    path, who, _, model = writes[endpoint]
    client = api_client_for(who)
    before = _count(model)
    response = client.generic("POST", path, body, content_type="application/json")
    assert_error(response, 400)
    assert _count(model) == before


@pytest.mark.portable
@pytest.mark.parametrize(
    ("path", "field"),
    [("/api/v1/memberships/{id}/", "role"), ("/api/v1/projects/{pk}/", "name"), ("/api/v1/teams/{team}/", "name")],
)
@pytest.mark.parametrize("value", ["a\x00b", "bell\x07", "x" * 5000], ids=["nul", "bell", "over-long"])
def test_bad_updates_are_400_and_change_nothing(api_client_for, team, maintainer, path, field, value):
    from mlgov.accounts.models import Membership

    project = factories.ProjectFactory(team=team)
    membership = Membership.objects.get(user=maintainer, team=team)
    url = path.format(id=membership.pk, pk=project.pk, team=team.slug)
    response = api_client_for(maintainer).patch(url, {field: value}, format="json")
    err = assert_error(response, 400, "invalid")
    assert field in err["details"], err
    project.refresh_from_db()
    membership.refresh_from_db()
    team.refresh_from_db()
    assert (membership.role, project.name, team.name) != (value, value, value)
