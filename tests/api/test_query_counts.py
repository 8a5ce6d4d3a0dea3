"""List endpoints outside the inventory suite cost the same number of queries for 10 rows and for 100
(the inventory endpoints are covered by EndpointSuite in tests/inventory/test_api.py). Every row has its
own user, team or actor, so a per-row query on any relation would show up."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from mlgov.accounts.services import api_token_create
from mlgov.audit.services import audit_record
from tests import factories

pytestmark = pytest.mark.django_db

ROWS = 101


def _seed_memberships(viewer):
    for _ in range(ROWS):
        factories.MembershipFactory(role="maintainer")


def _seed_tokens(viewer):
    for i in range(ROWS):
        api_token_create(actor=viewer, user=viewer, name=f"token {i}", scope="read")


def _seed_audit_events(viewer):
    for i in range(ROWS):
        actor = factories.UserFactory()
        audit_record(actor=actor, action="project.created", target_type="project", target_id=i, target_repr=f"P{i}")


@pytest.mark.parametrize(
    ("path", "seed", "who"),
    [
        ("/api/v1/memberships/", _seed_memberships, "user"),
        ("/api/v1/tokens/", _seed_tokens, "user"),
        ("/api/v1/audit-events/", _seed_audit_events, "manager"),
    ],
    ids=["memberships", "tokens", "audit-events"],
)
def test_query_count_is_the_same_for_10_and_100_rows(
    request, api_client_for, django_assert_num_queries, path, seed, who
):
    viewer = request.getfixturevalue(who)
    client = api_client_for(viewer)
    seed(viewer)
    client.get(path)  # warm up: the token's last-used stamp, content types
    with CaptureQueriesContext(connection) as small:
        response = client.get(path, {"page_size": 10})
    assert len(response.json()["results"]) == 10
    with django_assert_num_queries(len(small.captured_queries)):
        response = client.get(path, {"page_size": 100})
    body = response.json()
    assert len(body["results"]) == 100
    assert body["next"]
