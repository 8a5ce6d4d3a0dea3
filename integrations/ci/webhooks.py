"""CI webhook endpoints: /hooks/github/, /hooks/gitlab/, /hooks/jenkins/.

They verify the sender, store the delivery and answer at once (202); a Celery task applies it. Each
check runs before the next step costs anything:

1. the body size, from Content-Length, before the body is read (413);
2. the provider's secret is configured (404 otherwise: the endpoint is off);
3. the signature or token, over the raw body, in constant time (401);
4. the event and delivery headers (400), then the body is a JSON object (400) of a known event (400)
   with the fields the provider documents (400);
5. the delivery key is unique per provider: a replay answers 200 "duplicate" and queues nothing.

Every refusal answers in the API's error shape and writes a `security.webhook_rejected` audit event.
Valid events that carry no CI run (GitHub `ping` and `push`, GitLab `Push Hook`, …) answer 200 "ignored"
and store nothing. No session or CSRF: the signature is the authentication.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from integrations.ci import github, gitlab, jenkins
from integrations.ci.common import PayloadError
from integrations.ci.services import webhook_delivery_accept
from integrations.ci.signatures import signature_matches, token_matches
from mlgov.audit.services import audit_security_event
from mlgov.middleware import error_response

JENKINS_SIGNATURE_HEADER = "X-Mlgov-Signature-256"


class Refused(Exception):
    """A delivery that is refused: status, error code and message for the response and the audit event."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _refuse(request: HttpRequest, provider: str, exc: Refused) -> JsonResponse:
    audit_security_event(
        action="security.webhook_rejected",
        request=request,
        reason=exc.message,
        user=None,
        extra={"provider": provider, "status": exc.status, "code": exc.code},
    )
    return error_response(exc.status, exc.code, exc.message)


def _read_body(request: HttpRequest) -> bytes:
    limit = settings.MLGOV_WEBHOOK_MAX_BYTES
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise Refused(400, "bad_request", "Content-Length is not a number.") from None
    if length > limit:
        raise Refused(413, "payload_too_large", f"Request body is {length} bytes; the limit is {limit}.")
    try:
        body = request.body
    except RequestDataTooBig:
        raise Refused(413, "payload_too_large", f"Request body is over the limit of {limit} bytes.") from None
    if len(body) > limit:  # a body without Content-Length (chunked) is read by the server, then refused here
        raise Refused(413, "payload_too_large", f"Request body is over the limit of {limit} bytes.")
    return body


def _secret(name: str, provider: str) -> str:
    secret = getattr(settings, name, "")
    if not secret:
        raise Refused(404, "not_found", f"The {provider} webhook is not configured on this server.")
    return secret


def _header(request: HttpRequest, name: str) -> str:
    value = request.headers.get(name, "").strip()
    if not value:
        raise Refused(400, "missing_header", f"The {name} header is required.")
    if len(value) > 200 or any(ord(c) < 32 for c in value):
        raise Refused(400, "invalid_header", f"The {name} header is malformed.")
    return value


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise Refused(400, "malformed_request", "The body is not valid JSON.") from None
    if not isinstance(payload, dict):
        raise Refused(400, "malformed_request", "The body must be a JSON object.")
    return payload


def _validate(parse: Callable[[], Any]) -> None:
    try:
        parse()
    except PayloadError as exc:
        raise Refused(400, "invalid_payload", f"The payload is not a documented shape: {exc}.") from None


def _accept(provider: str, key: str, event: str, payload: Mapping[str, Any]) -> JsonResponse:
    delivery = webhook_delivery_accept(provider=provider, delivery_key=key, event=event, payload=dict(payload))
    if delivery is None:
        return JsonResponse({"status": "duplicate", "delivery_key": key}, status=200)
    return JsonResponse({"status": "queued", "delivery": delivery.pk}, status=202)


def _ignored(event: str) -> JsonResponse:
    return JsonResponse({"status": "ignored", "event": event}, status=200)


def _handle(request: HttpRequest, provider: str, receive: Callable[[HttpRequest, bytes], JsonResponse]) -> JsonResponse:
    if request.method != "POST":
        response = error_response(405, "method_not_allowed", f"Method {request.method} not allowed; POST a delivery.")
        response["Allow"] = "POST"
        return response
    try:
        body = _read_body(request)
        return receive(request, body)
    except Refused as exc:
        return _refuse(request, provider, exc)


def _github(request: HttpRequest, body: bytes) -> JsonResponse:
    secret = _secret("MLGOV_GITHUB_WEBHOOK_SECRET", "GitHub")
    signature = _header(request, "X-Hub-Signature-256")
    if not signature_matches(secret, body, signature):
        raise Refused(401, "invalid_signature", "X-Hub-Signature-256 does not match the body.")
    event = _header(request, "X-GitHub-Event")
    delivery = _header(request, "X-GitHub-Delivery")
    payload = _json_object(body)
    if event in github.IGNORED_EVENTS:
        return _ignored(event)
    if event not in github.RUN_EVENTS:
        raise Refused(400, "unknown_event", f"Unknown X-GitHub-Event {event!r}; send workflow_run and workflow_job.")
    _validate(lambda: github.parse_webhook(event, payload))
    return _accept("github", delivery, event, payload)


def _gitlab(request: HttpRequest, body: bytes) -> JsonResponse:
    secret = _secret("MLGOV_GITLAB_WEBHOOK_TOKEN", "GitLab")
    token = _header(request, "X-Gitlab-Token")
    if not token_matches(secret, token):
        raise Refused(401, "invalid_token", "X-Gitlab-Token does not match.")
    event = _header(request, "X-Gitlab-Event")
    payload = _json_object(body)
    if event in gitlab.IGNORED_EVENTS:
        return _ignored(event)
    kind = gitlab.RUN_EVENTS.get(event)
    if kind is None:
        raise Refused(400, "unknown_event", f"Unknown X-Gitlab-Event {event!r}; send Pipeline Hook and Job Hook.")
    if payload.get("object_kind") != kind:
        raise Refused(400, "invalid_payload", f"A {event} carries object_kind {kind!r}.")
    _validate(lambda: gitlab.parse_webhook(event, payload))
    return _accept("gitlab", gitlab.delivery_key(event, payload), event, payload)


def _jenkins(request: HttpRequest, body: bytes) -> JsonResponse:
    secret = _secret("MLGOV_JENKINS_WEBHOOK_SECRET", "Jenkins")
    signature = _header(request, JENKINS_SIGNATURE_HEADER)
    if not signature_matches(secret, body, signature):
        raise Refused(401, "invalid_signature", f"{JENKINS_SIGNATURE_HEADER} does not match the body.")
    payload = _json_object(body)
    build = payload.get("build")
    phase = str(build.get("phase", "")).upper() if isinstance(build, dict) else ""
    if phase in jenkins.IGNORED_PHASES:
        return _ignored(f"build {phase}")
    if phase and phase not in jenkins.PHASES:
        raise Refused(400, "unknown_event", f"Unknown build phase {phase!r}.")
    _validate(lambda: jenkins.notification_event(payload))
    return _accept("jenkins", jenkins.delivery_key(payload), f"build.{phase.lower()}", payload)


@csrf_exempt
def github_webhook(request: HttpRequest) -> JsonResponse:
    """GitHub: workflow_run and workflow_job events, signed with X-Hub-Signature-256."""
    return _handle(request, "github", _github)


@csrf_exempt
def gitlab_webhook(request: HttpRequest) -> JsonResponse:
    """GitLab: Pipeline Hook and Job Hook events, authenticated with X-Gitlab-Token."""
    return _handle(request, "gitlab", _gitlab)


@csrf_exempt
def jenkins_webhook(request: HttpRequest) -> JsonResponse:
    """Jenkins: build notifications, signed with X-Mlgov-Signature-256 (HMAC-SHA256 of the body)."""
    return _handle(request, "jenkins", _jenkins)
