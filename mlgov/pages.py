"""Helpers shared by the server-rendered pages: filtering, pagination and CSV export."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, StreamingHttpResponse

PAGE_SIZE = 50


class _Echo:
    def write(self, value: str) -> str:
        return value


def paginate(request: HttpRequest, qs: QuerySet | Sequence, per_page: int = PAGE_SIZE) -> Page:
    return Paginator(qs, per_page).get_page(request.GET.get("page"))


def csv_response(
    filename: str, header: Sequence[str], rows: Iterable[Any], row: Callable[[Any], Sequence[Any]]
) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())

    def lines():
        yield writer.writerow(header)
        for item in rows:
            yield writer.writerow(row(item))

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def query_without(request: HttpRequest, *names: str) -> str:
    """The current query string minus some parameters, for pagination and export links."""
    params = request.GET.copy()
    for name in names:
        params.pop(name, None)
    return params.urlencode()
