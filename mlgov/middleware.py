"""Request guards that run before any view: a request id, body size, NUL bytes."""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import unquote

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from mlgov.context import new_request_id, request_id_var, source_var

_VALID_RID = re.compile(r"^[A-Za-z0-9._:-]{8,100}$")


def error_response(status: int, code: str, message: str, details: object = None) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message, "details": details or {}}}, status=status)


class RequestGuardMiddleware:
    """Assign a request id (or accept a well-formed incoming one) and refuse malformed requests early.

    - bodies larger than MLGOV_MAX_BODY_BYTES get 413, before anything reads them (webhooks under /hooks/
      apply their own limit, and audit the refusal);
    - NUL bytes in the path or the query string get 400 (PostgreSQL cannot store them).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        rid = incoming if _VALID_RID.match(incoming) else new_request_id()
        request.request_id = rid  # type: ignore[attr-defined]
        source = "api" if request.path.startswith(("/api/", "/hooks/")) else "web"
        t1, t2 = request_id_var.set(rid), source_var.set(source)
        try:
            response = self._guard(request) or self.get_response(request)
        finally:
            request_id_var.reset(t1)
            source_var.reset(t2)
        response["X-Request-ID"] = rid
        return response

    def _guard(self, request: HttpRequest) -> HttpResponse | None:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return error_response(400, "bad_request", "Content-Length is not a number.")
        limit = settings.MLGOV_MAX_BODY_BYTES
        # The CI webhook views enforce their own, smaller limit (MLGOV_WEBHOOK_MAX_BYTES) before reading the
        # body, and record a refused delivery as a security event; they must see oversized requests too.
        if length > limit and not request.path.startswith("/hooks/"):
            return error_response(
                413,
                "payload_too_large",
                f"Request body is {length} bytes; the limit is {limit}.",
                {"limit": limit},
            )
        raw_qs = request.META.get("QUERY_STRING", "")
        if "\x00" in request.path or "\x00" in unquote(raw_qs):
            return error_response(400, "invalid", "NUL bytes are not allowed in the URL.")
        return None
