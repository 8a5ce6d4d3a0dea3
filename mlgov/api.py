"""API defaults shared by every app: one error shape, strict query parameters, cursor pagination."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import exceptions, filters
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import set_rollback

from mlgov.audit.services import audit_security_event
from mlgov.errors import DomainError

logger = logging.getLogger(__name__)

_CODES: dict[type[exceptions.APIException], str] = {
    exceptions.ValidationError: "invalid",
    exceptions.ParseError: "malformed_request",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
}


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details if details is not None else {}}}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Map domain and framework errors to `{"error": {"code", "message", "details"}}`."""
    request: Request | None = context.get("request")
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):
        set_rollback()
        return Response(error_body("payload_too_large", "Request body is too large."), status=413)

    if isinstance(exc, DomainError):
        set_rollback()
        if exc.status_code == 403 and request is not None:
            _record_denial(request, context, exc.message)
        return Response(error_body(exc.code, exc.message, exc.details), status=exc.status_code)

    if not isinstance(exc, exceptions.APIException):
        return None  # a real bug: let Django log it and answer 500

    set_rollback()
    code = next((c for cls, c in _CODES.items() if isinstance(exc, cls)), "error")
    if isinstance(exc, exceptions.ValidationError):
        message, details = "The request is invalid.", exc.detail
    else:
        message, details = str(exc.detail), {}
    if isinstance(exc, exceptions.PermissionDenied) and request is not None:
        _record_denial(request, context, message)
    elif isinstance(exc, exceptions.AuthenticationFailed) and request is not None:
        audit_security_event(action="security.authentication_failed", request=request, reason=message, user=None)
    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))
    return Response(error_body(code, message, details), status=exc.status_code, headers=headers)


def _record_denial(request: Request, context: dict[str, Any], reason: str) -> None:
    view = context.get("view")
    audit_security_event(
        action="security.permission_denied",
        request=request,
        reason=reason,
        user=getattr(request, "user", None),
        extra={"view": type(view).__name__ if view else "", "method": request.method},
    )


class StandardCursorPagination(CursorPagination):
    """Cursor pagination: constant cost per page however deep, no COUNT query."""

    page_size = 50
    max_page_size = 500
    page_size_query_param = "page_size"
    ordering = "-id"

    def get_page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        try:
            size = int(raw)
        except ValueError:
            raise exceptions.ValidationError({"page_size": ["Must be an integer."]}) from None
        if not 1 <= size <= self.max_page_size:
            raise exceptions.ValidationError({"page_size": [f"Must be between 1 and {self.max_page_size}."]})
        return size

    def decode_cursor(self, request: Request):  # type: ignore[no-untyped-def]
        try:
            return super().decode_cursor(request)
        except exceptions.NotFound:
            raise exceptions.ValidationError({"cursor": ["Invalid cursor."]}) from None


class StrictOrderingFilter(filters.OrderingFilter):
    """Ordering restricted to the view's allow-list; anything else is a 400, not silently ignored."""

    def remove_invalid_fields(self, queryset, fields, view, request):  # type: ignore[no-untyped-def]
        valid = {item[0] for item in self.get_valid_fields(queryset, view, {"request": request})}
        bad = [f for f in fields if f.lstrip("-") not in valid]
        if bad:
            raise exceptions.ValidationError(
                {"ordering": [f"Unknown ordering field(s): {', '.join(bad)}. Allowed: {', '.join(sorted(valid))}."]}
            )
        return list(fields)


class FilterBackend(DjangoFilterBackend):
    """django-filter; invalid values become a 400 through the shared exception handler."""


class StrictQueryParamsBackend(filters.BaseFilterBackend):
    """Refuse query parameters the view does not know, so a typo never returns the full list."""

    always_allowed = frozenset({"cursor", "page_size", "format"})

    def filter_queryset(self, request: Request, queryset, view):  # type: ignore[no-untyped-def]
        allowed = set(self.always_allowed)
        filterset_class = getattr(view, "filterset_class", None)
        if filterset_class is not None:
            allowed.update(filterset_class.base_filters.keys())
        if getattr(view, "search_fields", None):
            allowed.add("q")
        if getattr(view, "ordering_fields", None):
            allowed.add("ordering")
        allowed.update(getattr(view, "extra_query_params", ()))
        unknown = sorted(set(request.query_params.keys()) - allowed)
        if unknown:
            raise exceptions.ValidationError({"unknown_parameters": unknown, "allowed_parameters": sorted(allowed)})
        return queryset
