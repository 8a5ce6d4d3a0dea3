"""Team maintainers manage their own team's members; every change is audited."""

from __future__ import annotations

import pytest

from mlgov.accounts.models import Membership
from mlgov.audit.models import AuditEvent
from tests import factories

pytestmark = pytest.mark.django_db


def test_maintainer_adds_promotes_and_removes_member(api_client_for, team, maintainer):
    newcomer = factories.UserFactory()
    client = api_client_for(maintainer)
    created = client.post("/api/v1/memberships/", {"user": newcomer.username, "team": team.slug}, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["role"] == "member"
    mid = created.json()["id"]
    promoted = client.patch(f"/api/v1/memberships/{mid}/", {"role": "maintainer"}, format="json")
    assert promoted.status_code == 200
    assert promoted.json()["role"] == "maintainer"
    assert client.delete(f"/api/v1/memberships/{mid}/").status_code == 204
    assert not Membership.objects.filter(pk=mid).exists()
    actions = list(
        AuditEvent.objects.filter(target_type="membership", target_id=str(mid))
        .order_by("seq")
        .values_list("action", flat=True)
    )
    assert actions == ["membership.created", "membership.updated", "membership.deleted"]


def test_adding_an_existing_member_again_changes_nothing(api_client_for, team, maintainer, member):
    client = api_client_for(maintainer)
    before = AuditEvent.objects.count()
    response = client.post("/api/v1/memberships/", {"user": member.username, "team": team.slug}, format="json")
    assert response.status_code == 201
    assert Membership.objects.filter(user=member, team=team).count() == 1
    assert AuditEvent.objects.count() == before


def test_maintainer_cannot_touch_another_teams_members(api_client_for, maintainer, other_team):
    outsider = factories.MembershipFactory(team=other_team, role="member")
    client = api_client_for(maintainer)
    assert (
        client.post(
            "/api/v1/memberships/",
            {"user": outsider.user.username, "team": other_team.slug, "role": "maintainer"},
            format="json",
        ).status_code
        == 403
    )
    assert client.patch(f"/api/v1/memberships/{outsider.pk}/", {"role": "maintainer"}, format="json").status_code == 403
    assert client.delete(f"/api/v1/memberships/{outsider.pk}/").status_code == 403
    outsider.refresh_from_db()
    assert outsider.role == "member"
    assert AuditEvent.objects.filter(action="security.permission_denied").count() == 3


def test_member_cannot_add_members(api_client_for, team, member):
    response = api_client_for(member).post(
        "/api/v1/memberships/", {"user": member.username, "team": team.slug, "role": "maintainer"}, format="json"
    )
    assert response.status_code == 403
    assert Membership.objects.get(user=member, team=team).role == "member"


def test_bad_role_is_400(api_client_for, team, maintainer, member):
    response = api_client_for(maintainer).post(
        "/api/v1/memberships/", {"user": member.username, "team": team.slug, "role": "owner"}, format="json"
    )
    assert response.status_code == 400
    assert "role" in response.json()["error"]["details"]


def test_me_lists_groups_and_teams(api_client_for, team, maintainer):
    body = api_client_for(maintainer).get("/api/v1/me").json()
    assert body["teams"] == [{"team": team.slug, "role": "maintainer"}]
    assert body["groups"] == []


def test_membership_filters(api, team, member, maintainer):
    results = api.get("/api/v1/memberships/", {"team": team.slug, "role": "maintainer"}).json()["results"]
    assert [r["user"] for r in results] == [maintainer.username]
