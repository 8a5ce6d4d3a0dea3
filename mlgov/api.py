"""API defaults shared by every app: one error shape, strict query parameters, cursor pagination."""

from __future__ import annotations

import datetime
import logging
import re
from base64 import b64decode, b64encode
from typing import Any
from urllib import parse

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from django.db.models import F, Q
from django.http import Http404
from django.utils import timezone
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import exceptions, filters
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import set_rollback

from mlgov.audit.services import audit_security_event
from mlgov.errors import DomainError

logger = logging.getLogger(__name__)

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

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

    # Keyset pagination on (first ordering field, primary key). DRF's offset-based cursor breaks on a
    # nullable field (its position becomes the string "None") and on ties longer than its offset cutoff,
    # and it passes a hand-made position straight to the database. Here the position is parsed by the
    # model field (a bad one is a 400), NULLs sort as larger than any value on every backend (PostgreSQL's
    # default), and the primary key breaks ties, so each row appears exactly once in either direction.

    def paginate_queryset(self, queryset, request: Request, view=None):  # type: ignore[no-untyped-def]
        self.request = request
        self.page_size = self.get_page_size(request)
        self.base_url = request.build_absolute_uri()
        self.ordering = self.get_ordering(request, queryset, view)
        self._keys = _keyset(queryset.model, self.ordering[0])
        self.cursor = self.decode_cursor(request)
        reverse = self.cursor.reverse if self.cursor else False
        queryset = queryset.order_by(*self._keys.order_by(reverse=reverse))
        if self.cursor is not None and self.cursor.position is not None:
            queryset = queryset.filter(self._keys.after(self.cursor.position, reverse=reverse))
        results = list(queryset[: self.page_size + 1])
        more = len(results) > self.page_size
        self.page = results[: self.page_size]
        if reverse:
            self.page.reverse()
            self.has_next, self.has_previous = True, more
        else:
            self.has_next, self.has_previous = more, self.cursor is not None
        if not self.page:  # a stale cursor past the end: offer a way back only
            self.has_next, self.has_previous = False, self.cursor is not None and not reverse
        if (self.has_previous or self.has_next) and self.template is not None:
            self.display_page_controls = True
        return self.page

    def get_next_link(self) -> str | None:
        if not self.has_next:
            return None
        return self.encode_cursor(Cursor(offset=0, reverse=False, position=self._keys.of(self.page[-1])))

    def get_previous_link(self) -> str | None:
        if not self.has_previous:
            return None
        if not self.page:
            return self.encode_cursor(Cursor(offset=0, reverse=True, position=self.cursor.position))
        return self.encode_cursor(Cursor(offset=0, reverse=True, position=self._keys.of(self.page[0])))

    def get_ordering(self, request: Request, queryset, view):  # type: ignore[no-untyped-def]
        return tuple(super().get_ordering(request, queryset, view))[:1]

    def decode_cursor(self, request: Request) -> Cursor | None:
        encoded = request.query_params.get(self.cursor_query_param)
        if encoded is None:
            return None
        try:
            text = b64decode(encoded.encode("ascii"), validate=True).decode("utf-8")
            tokens = parse.parse_qs(text, keep_blank_values=True, strict_parsing=True, errors="strict")
            if not set(tokens) <= {"r", "p", "n", "i"} or any(len(v) != 1 for v in tokens.values()):
                raise ValueError("unknown or repeated cursor fields")
            if tokens.get("r", ["0"])[0] not in {"0", "1"}:
                raise ValueError("bad direction")
            position = self._keys.parse(tokens) if {"p", "n", "i"} & set(tokens) else None
        except (KeyError, ValueError, TypeError, DjangoValidationError):
            raise exceptions.ValidationError({"cursor": ["Invalid cursor."]}) from None
        return Cursor(offset=0, reverse=tokens.get("r") == ["1"], position=position)

    def encode_cursor(self, cursor: Cursor) -> str:
        value, pk = cursor.position
        tokens = {"i": str(pk)}
        if cursor.reverse:
            tokens["r"] = "1"
        if value is _NULL:
            tokens["n"] = "1"
        elif value is not None:
            tokens["p"] = self._keys.text(value)
        encoded = b64encode(parse.urlencode(tokens).encode("utf-8")).decode("ascii")
        return replace_query_param(self.base_url, self.cursor_query_param, encoded)


_NULL = object()  # a NULL ordering value in a cursor position, distinct from "no position"


class _Keyset:
    """The ordering of one list: a field (maybe nullable) then the primary key in the same direction."""

    def __init__(self, model, field_name: str, descending: bool) -> None:
        self.pk = model._meta.pk
        self.field = None if field_name in {"pk", self.pk.name} else model._meta.get_field(field_name)
        self.descending = descending

    def order_by(self, *, reverse: bool) -> list[Any]:
        desc = self.descending != reverse
        keys = [] if self.field is None else [F(self.field.attname)]
        keys.append(F(self.pk.attname))
        # NULLs count as the largest value: last going up, first going down (PostgreSQL's default).
        # Only a nullable field gets the modifier, so the plain ones keep their index scans on SQLite.
        if self.field is not None and self.field.null:
            keys[0] = keys[0].desc(nulls_first=True) if desc else keys[0].asc(nulls_last=True)
        return [k if not isinstance(k, F) else (k.desc() if desc else k.asc()) for k in keys]

    def of(self, obj: Any) -> tuple[Any, Any]:
        """The position of a row: a model instance, or a dict from `.values()` (then the pk must be "id")."""
        get = obj.get if isinstance(obj, dict) else lambda name: getattr(obj, name)
        pk = get(self.pk.attname)
        if self.field is None:
            return (None, pk)
        value = get(self.field.attname)
        return (_NULL if value is None else value, pk)

    def text(self, value: Any) -> str:
        return value.isoformat() if hasattr(value, "isoformat") else str(value)

    def parse(self, tokens: dict[str, list[str]]) -> tuple[Any, Any]:
        raw = [v[0] for v in tokens.values()]
        if any(_CONTROL.search(v) for v in raw):
            raise ValueError("control character in cursor")
        pk = _to_python(self.pk, tokens["i"][0])
        if self.field is None:
            if {"p", "n"} & set(tokens):
                raise ValueError("this ordering has no value in its cursor")
            return (None, pk)
        if "n" in tokens:
            if "p" in tokens or tokens["n"] != ["1"] or not self.field.null:
                raise ValueError("bad null marker")
            return (_NULL, pk)
        return (_to_python(self.field, tokens["p"][0]), pk)

    def after(self, position: tuple[Any, Any], *, reverse: bool) -> Q:
        """Rows that come after `position` in the query's direction."""
        value, pk = position
        up = self.descending == reverse  # moving towards larger values
        pk_after = Q(**{f"{self.pk.attname}__{'gt' if up else 'lt'}": pk})
        if self.field is None:
            return pk_after
        name = self.field.attname
        if value is _NULL:  # NULLs are the largest values
            return (
                Q(**{f"{name}__isnull": True}) & pk_after
                if up
                else Q(**{f"{name}__isnull": False}) | (Q(**{f"{name}__isnull": True}) & pk_after)
            )
        beyond = Q(**{f"{name}__{'gt' if up else 'lt'}": value})
        if up and self.field.null:
            beyond |= Q(**{f"{name}__isnull": True})
        return beyond | (Q(**{name: value}) & pk_after)


def _to_python(field, raw: str) -> Any:
    value = field.to_python(raw)
    if value is None:
        raise ValueError("empty position")
    if isinstance(field, (models.AutoField, models.IntegerField)) and not -(2**63) <= value < 2**63:
        raise ValueError("integer out of range")
    if isinstance(value, datetime.datetime) and timezone.is_naive(value):
        value = timezone.make_aware(value, datetime.UTC)
    return value


def _keyset(model, ordering: str) -> _Keyset:
    return _Keyset(model, ordering.lstrip("-"), ordering.startswith("-"))


class StrictOrderingFilter(filters.OrderingFilter):
    """Ordering restricted to the view's allow-list; anything else is a 400, not silently ignored."""

    def remove_invalid_fields(self, queryset, fields, view, request):  # type: ignore[no-untyped-def]
        valid = {item[0] for item in self.get_valid_fields(queryset, view, {"request": request})}
        bad = [f for f in fields if f.lstrip("-") not in valid]
        if bad:
            raise exceptions.ValidationError(
                {"ordering": [f"Unknown ordering field(s): {', '.join(bad)}. Allowed: {', '.join(sorted(valid))}."]}
            )
        if len(fields) > 1:
            # The keyset cursor pages by one field and the id (StandardCursorPagination): a second field
            # would be silently ignored, so it is refused.
            raise exceptions.ValidationError({"ordering": ["One ordering field at a time; ties are ordered by id."]})
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
