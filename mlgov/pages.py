"""Helpers shared by the server-rendered pages: filtering, pagination, CSV export, and recording a refused
action as a security event."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, StreamingHttpResponse

from mlgov.audit.services import audit_security_event
from mlgov.errors import DomainError

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


def record_denial(request: HttpRequest, exc: DomainError) -> None:
    """A page caught a domain error to show it as a message: when it is a permission refusal (403), record a
    `security.permission_denied` event, as the API's exception handler and Django's handler403 do."""
    if exc.status_code != 403:
        return
    audit_security_event(
        action="security.permission_denied",
        request=request,
        reason=exc.message,
        user=getattr(request, "user", None),
        extra={"view": match.view_name if (match := request.resolver_match) else "", "method": request.method},
    )
