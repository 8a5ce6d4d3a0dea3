"""Project-wide views: health, and error pages (JSON under /api/, HTML elsewhere)."""

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.csrf import csrf_failure as django_csrf_failure

from mlgov.audit.services import audit_security_event
from mlgov.middleware import error_response


def healthz(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok", "database": connection.vendor})


def _wants_json(request: HttpRequest) -> bool:
    return request.path.startswith(("/api/", "/hooks/"))


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    audit_security_event(
        action="security.permission_denied",
        request=request,
        reason=str(exception or "forbidden"),
        user=getattr(request, "user", None),
    )
    if _wants_json(request):
        return error_response(403, "permission_denied", "You may not do this.")
    return render(request, "errors/403.html", {"reason": str(exception or "")}, status=403)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: record the refusal as a security event, then answer as Django does.

    (The API's own CSRF check for session-authenticated calls is a DRF PermissionDenied, recorded by
    mlgov.api's exception handler.)"""
    user = getattr(request, "user", None)
    audit_security_event(
        action="security.csrf_failed",
        request=request,
        reason=reason or "CSRF verification failed",
        user=user,
        extra={
            "referer": request.META.get("HTTP_REFERER", "")[:300],
            "origin": request.META.get("HTTP_ORIGIN", "")[:300],
            "user_agent": request.META.get("HTTP_USER_AGENT", "")[:300],
        },
    )
    return django_csrf_failure(request, reason=reason)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _wants_json(request):
        return error_response(404, "not_found", "Not found.")
    return render(request, "errors/404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    if _wants_json(request):
        return error_response(500, "server_error", "Internal error; it has been logged.")
    return render(request, "errors/500.html", status=500)
