"""Cursor pagination: hand-made cursors are a 400, and every ordering (nullable fields and ties included)
walks each row exactly once, forwards and backwards. Marker `portable`: `make test` runs these on
SQLite and on PostgreSQL, whose NULL ordering and type checks differ."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from django.utils import timezone

from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.portable]


def _cursor(raw: str) -> str:
    return base64.b64encode(raw.encode()).decode()


@pytest.mark.parametrize(
    ("path", "raw"),
    [
        ("/api/v1/model-versions/", "p=abc"),
        ("/api/v1/model-versions/", "p=1.5"),
        ("/api/v1/model-versions/", "p=99999999999999999999999"),
        ("/api/v1/model-versions/?ordering=registered_at", "p=yesterday"),
        ("/api/v1/model-versions/?ordering=registered_at", "p=2026-01-01T00:00:00Z&i=abc"),
        ("/api/v1/pipeline-runs/?ordering=-started_at", "p=None"),
        ("/api/v1/teams/", "p=a%00b"),
        ("/api/v1/teams/", "r=2"),
        ("/api/v1/teams/", "o=abc"),
        ("/api/v1/teams/", "x=1"),
        ("/api/v1/audit-events/", "p=seq"),
    ],
)
def test_hand_made_cursor_is_400(api, path, raw):
    factories.ModelVersionFactory()
    factories.PipelineRunFactory()
    sep = "&" if "?" in path else "?"
    response = api.get(f"{path}{sep}cursor={_cursor(raw)}")
    assert response.status_code == 400, response.content[:300]
    err = response.json()["error"]
    assert err["code"] == "invalid"
    assert "cursor" in err["details"]


def _walk(api, url: str) -> tuple[list[int], list[int]]:
    """Follow `next` to the end, then `previous` back to the start; return the ids seen each way."""
    forward, pages, last = [], [], None
    while url:
        body = api.get(url).json()
        assert "results" in body, body
        pages.append([r["id"] for r in body["results"]])
        forward += pages[-1]
        last, url = body, body["next"]
    backward = list(pages[-1])
    url = last["previous"]
    while url:
        body = api.get(url).json()
        backward = [r["id"] for r in body["results"]] + backward
        url = body["previous"]
    return forward, backward


def _expected(objs, field: str, descending: bool) -> list[int]:
    """NULLs count as larger than any value (PostgreSQL's default); ties go by id in the same direction."""
    far = timezone.now() + timedelta(days=365 * 100)

    def key(o):
        value = getattr(o, field)
        return (value is None, value or far, o.pk)

    return [o.pk for o in sorted(objs, key=key, reverse=descending)]


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("page_size", [1, 2, 3, 5])
def test_nullable_ordering_pages_every_row_once(api, descending, page_size):
    base = timezone.now().replace(microsecond=0)
    versions = [factories.ModelVersionFactory(registered_at=None) for _ in range(4)]
    versions += [factories.ModelVersionFactory(registered_at=base) for _ in range(3)]  # a tie
    versions += [factories.ModelVersionFactory(registered_at=base + timedelta(hours=i)) for i in range(1, 4)]
    ordering = "-registered_at" if descending else "registered_at"
    forward, backward = _walk(api, f"/api/v1/model-versions/?ordering={ordering}&page_size={page_size}")
    expected = _expected(versions, "registered_at", descending)
    assert forward == expected
    assert backward == expected


@pytest.mark.parametrize("ordering", ["started_at", "-started_at"])
def test_pipeline_runs_page_by_nullable_started_at(api, ordering):
    pipeline = factories.PipelineFactory()
    runs = [factories.PipelineRunFactory(pipeline=pipeline, started_at=None) for _ in range(3)]
    runs += [factories.PipelineRunFactory(pipeline=pipeline) for _ in range(3)]
    forward, backward = _walk(api, f"/api/v1/pipeline-runs/?ordering={ordering}&page_size=2")
    expected = _expected(runs, "started_at", ordering.startswith("-"))
    assert forward == expected == backward


def test_ties_longer_than_many_pages_walk_once(api):
    when = timezone.now()
    versions = [factories.ModelVersionFactory(registered_at=when) for _ in range(9)]
    forward, backward = _walk(api, "/api/v1/model-versions/?ordering=registered_at&page_size=2")
    assert forward == backward == sorted(v.pk for v in versions)


def test_string_ordering_pages_by_slug(api):
    teams = [factories.TeamFactory(slug=f"t-{i:02d}") for i in range(7)]
    forward, backward = _walk(api, "/api/v1/teams/?page_size=3")
    expected = [t.pk for t in sorted(teams, key=lambda t: t.slug)]
    assert forward == backward == expected
