"""Notifications of promotion and drift events: email through Django's email backend, and signed webhooks.

The services call `promotion_event` / `drift_event` inside their transaction. Webhook deliveries are
stored there (an outbox: one `OutboundDelivery` per endpoint that wants the event) and their tasks, like
the email task, are queued when the transaction commits, so a rolled-back change notifies nobody.

Webhooks are POSTed as JSON with `X-Mlgov-Event`, `X-Mlgov-Delivery` (a UUID, also in the body, so a
receiver can drop a repeat) and `X-Mlgov-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`, keyed
with the secret in the endpoint's environment variable. 5xx, 408, 429 and network errors are retried with
backoff and jitter; other answers fail the delivery at once. Redirects are not followed.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.error
import urllib.request
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse
from django.utils import timezone

from integrations.ci.signatures import hmac_sha256_signature
from mlgov.accounts.constants import MANAGERS, REVIEWERS
from mlgov.accounts.models import Membership, User
from mlgov.governance import policies
from mlgov.governance.choices import DeliveryStatus
from mlgov.governance.constants import DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER
from mlgov.governance.models import DriftFinding, OutboundDelivery, PromotionRequest, WebhookEndpoint

logger = logging.getLogger(__name__)
RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


def _url(path: str) -> str:
    return settings.MLGOV_BASE_URL.rstrip("/") + path


def promotion_payload(request: PromotionRequest) -> dict[str, Any]:
    return {
        "id": request.pk,
        "url": _url(reverse("promotion-detail", args=[request.pk])),
        "model": {"id": request.model_id, "name": request.model.name, "external_source": request.model.external_source},
        "version": request.version.version,
        "target": request.target,
        "state": request.state,
        "policy": request.policy.name,
        "requested_by": request.requested_by.get_username(),
        "approvals": request.approvals,
        "approvals_required": request.approvals_required,
        "gates_passed": request.gates_passed,
        "previous_version": request.previous_version_number or None,
        "error": request.error,
        "rollback_of": request.rollback_of_id,
    }


def drift_payload(finding: DriftFinding) -> dict[str, Any]:
    return {
        "id": finding.pk,
        "url": _url(reverse("drift-list")) + f"?model={finding.model_id}",
        "model": {"id": finding.model_id, "name": finding.model.name, "external_source": finding.model.external_source},
        "alias": finding.alias,
        "approved_version": finding.expected_number or None,
        "mlflow_version": finding.observed_number or None,
        "status": finding.status,
        "sync_run": finding.sync_run_id,
    }


def _outbox(event: str, payload: dict[str, Any]) -> None:
    endpoints = [e for e in WebhookEndpoint.objects.filter(enabled=True) if e.wants(event)]
    if not endpoints:
        return
    from mlgov.governance.tasks import deliver_webhook

    body = {"event": event, "occurred_at": timezone.now().isoformat(), **payload}
    for endpoint in endpoints:
        delivery = OutboundDelivery.objects.create(endpoint=endpoint, event=event, payload=body)
        deliver_webhook.delay_on_commit(delivery.pk)


def promotion_event(*, event: str, request: PromotionRequest, actor: Any) -> None:
    """Within the service's transaction: store the webhook deliveries; email once it commits."""
    _outbox(event, {"promotion": promotion_payload(request)})
    from mlgov.governance.tasks import send_notification_email

    actor_id = getattr(actor, "pk", None)
    send_notification_email.delay_on_commit(event, "promotion", request.pk, actor_id)


def drift_event(*, event: str, finding: DriftFinding) -> None:
    _outbox(event, {"drift": drift_payload(finding)})
    from mlgov.governance.tasks import send_notification_email

    send_notification_email.delay_on_commit(event, "drift", finding.pk, None)


# --- email ------------------------------------------------------------------------------------------------


def eligible_reviewers(request: PromotionRequest) -> list[User]:
    """Active reviewers (people, not service accounts) who may approve `request`."""
    from mlgov.governance import selectors

    rules = request.policy.as_rules()
    authorship = selectors.authorship_for(request=request)
    users = User.objects.filter(groups__name=REVIEWERS, is_active=True, is_service_account=False).prefetch_related(
        "groups", "memberships"
    )
    out = []
    for user in users.distinct().order_by("username"):
        user._mlgov_groups = frozenset(g.name for g in user.groups.all())
        user._mlgov_team_roles = {m.team_id: m.role for m in user.memberships.all()}
        if not policies.approval_refusals(rules, authorship, selectors.person_for(user)):
            out.append(user)
    return out


def _decision_line(event: str, request: PromotionRequest) -> str:
    return {
        "promotion.approved": f"was approved ({request.approvals} of {request.approvals_required}); the alias "
        "is being moved in MLflow",
        "promotion.rejected": "was rejected",
        "promotion.cancelled": "was cancelled",
        "promotion.expired": "expired before it was approved",
        "promotion.applied": f"was applied: {request.target} now points at v{request.version.version} in MLflow",
        "promotion.failed": f"could not be applied: {request.error}",
    }.get(event, event)


def notification_email_send(*, event: str, kind: str, object_id: int, actor_id: int | None = None) -> int:
    """Send the emails for one event. Returns how many messages went out."""
    if kind == "promotion":
        request = (
            PromotionRequest.objects.select_related("model__project__team", "version", "requested_by", "policy")
            .filter(pk=object_id)
            .first()
        )
        if request is None:
            return 0
        link = _url(reverse("promotion-detail", args=[request.pk]))
        title = f"{request.model.name} v{request.version.version} → {request.target}"
        if event == "promotion.requested":
            recipients = [u.email for u in eligible_reviewers(request) if u.email]
            subject = f"[mlgov] Review requested: {title}"
            body = (
                f"{request.requested_by.get_username()} asks to promote {title} (policy {request.policy.name}, "
                f"{request.approvals_required} approval(s) needed).\n\nJustification:\n{request.justification}\n\n"
                f"Gates: {'all pass' if request.gates_passed else 'some fail'}.\nReview it: {link}\n"
            )
        else:
            if request.requested_by_id == actor_id or not request.requested_by.email:
                return 0  # the requester did it themselves
            recipients = [request.requested_by.email]
            subject = f"[mlgov] {title}: {event.split('.', 1)[1]}"
            comments = "\n".join(
                f"- {r.reviewer.get_username()} ({r.decision}): {r.comment}"
                for r in request.reviews.select_related("reviewer")
                if r.comment
            )
            body = f"Your promotion request #{request.pk} ({title}) {_decision_line(event, request)}.\n\n"
            body += (f"Comments:\n{comments}\n\n" if comments else "") + f"{link}\n"
    else:
        finding = DriftFinding.objects.select_related("model__project__team").filter(pk=object_id).first()
        if finding is None:
            return 0
        team_id = finding.model.project.team_id if finding.model.project else None
        users = set(
            User.objects.filter(groups__name=MANAGERS, is_active=True).exclude(email="").values_list("email", flat=True)
        )
        if team_id:
            users |= set(
                Membership.objects.filter(team_id=team_id, role="maintainer", user__is_active=True)
                .exclude(user__email="")
                .values_list("user__email", flat=True)
            )
        recipients = sorted(users)
        what = "moved outside mlgov" if event == "drift.detected" else "put back to the approved version"
        subject = f"[mlgov] {finding.model.name}@{finding.alias} {what}"
        body = (
            f"MLflow's {finding.alias} of {finding.model.name} points at "
            f"{'v' + finding.observed_number if finding.observed_number else 'nothing'}; the approved version is "
            f"{'v' + finding.expected_number if finding.expected_number else 'none (never promoted through mlgov)'}."
            f"\n\n{drift_payload(finding)['url']}\n"
        )
    recipients = sorted(set(recipients))
    if not recipients:
        return 0
    return send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients, fail_silently=False)


# --- webhooks ---------------------------------------------------------------------------------------------


class DeliveryRetry(Exception):
    """A retryable failure (network, 5xx, 408, 429) on an attempt that was not the last."""


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def signed_body(delivery: OutboundDelivery) -> bytes:
    body = {**delivery.payload, "delivery_id": str(delivery.delivery_id)}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")


def outbound_delivery_attempt(*, delivery_id: int, final_attempt: bool = True) -> OutboundDelivery:
    """POST one delivery once. Safe to run twice: a delivered or failed delivery is left as it is."""
    delivery = OutboundDelivery.objects.select_related("endpoint").get(pk=delivery_id)
    if delivery.status in (DeliveryStatus.DELIVERED, DeliveryStatus.FAILED):
        return delivery
    endpoint = delivery.endpoint
    secret = os.environ.get(endpoint.secret_env_var, "")
    retryable, status, error = False, None, ""
    if not secret:
        error = f"the secret variable {endpoint.secret_env_var} is not set"
    else:
        body = signed_body(delivery)
        req = urllib.request.Request(  # noqa: S310 (http(s) only, checked when the endpoint is saved)
            endpoint.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": "mlgov-webhooks/1",
                EVENT_HEADER: delivery.event,
                DELIVERY_HEADER: str(delivery.delivery_id),
                SIGNATURE_HEADER: hmac_sha256_signature(secret, body),
            },
        )
        try:
            with _opener.open(req, timeout=settings.MLGOV_NOTIFY_TIMEOUT_SECONDS) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
            retryable = exc.code in RETRYABLE_STATUS
            error = f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            retryable = True
            error = f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
    delivery.attempts += 1
    delivery.response_status = status
    if status is not None and 200 <= status < 300:
        delivery.status, delivery.delivered_at, delivery.last_error = DeliveryStatus.DELIVERED, timezone.now(), ""
    elif retryable and not final_attempt:
        delivery.status, delivery.last_error = DeliveryStatus.RETRYING, error[:2000]
    else:
        delivery.status, delivery.last_error = DeliveryStatus.FAILED, (error or f"HTTP {status}")[:2000]
    delivery.save(update_fields=["attempts", "response_status", "status", "delivered_at", "last_error"])
    if delivery.status == DeliveryStatus.RETRYING:
        raise DeliveryRetry(error)
    return delivery
