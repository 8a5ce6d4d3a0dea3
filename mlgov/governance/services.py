"""Writes for governance. Each runs in `transaction.atomic` and writes its audit event there.

Requests move through the state machine of policies.py; every decision on a request takes a row lock on
it (`select_for_update`), so two approvals at once, an approval racing a rejection, and a double submit
each end in exactly one outcome. A reviewer reviews a request once (a unique constraint backs the check).
The alias is moved in MLflow by the apply task (`promotion_apply`), queued when the transaction that gave
the last approval commits.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from assessments.choices import ScoringTrigger
from assessments.services import scoring_run_request
from integrations import mlflow as mf
from integrations.models import SyncRun
from integrations.writeback import WriteBackUnavailable, mlflow_alias_holder, mlflow_alias_set
from mlgov.accounts.selectors import user_is_admin, user_is_manager, user_team_roles
from mlgov.audit.services import audit_record, snapshot
from mlgov.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from mlgov.governance import notifications, policies, selectors
from mlgov.governance.choices import AliasSource, Decision, DriftStatus
from mlgov.governance.choices import PromotionState as State
from mlgov.governance.models import (
    AliasChange,
    DriftFinding,
    GateWaiver,
    PromotionPolicy,
    PromotionRequest,
    Review,
    WebhookEndpoint,
    validate_alias,
)
from mlgov.inventory.models import ModelAlias, ModelVersion, RegisteredModel
from mlgov.inventory.services import model_alias_set
from mlgov.inventory.validators import validate_no_control_chars

logger = logging.getLogger(__name__)

POLICY_FIELDS = (
    "name",
    "description",
    "target",
    "team",
    "risk_tier",
    "approvals_required",
    "approver_team",
    "independence",
    "min_maturity_level",
    "metric_gate",
    "require_green_ci",
    "require_dataset_lineage",
    "no_regression",
    "max_age_hours",
    "revert_drift",
    "enabled",
)
ENDPOINT_FIELDS = ("name", "url", "secret_env_var", "events", "enabled", "description")
MAX_TEXT = 4000


def _now() -> datetime:
    return timezone.now()


def _actor_name(actor: Any) -> str:
    return actor if isinstance(actor, str) else actor.get_username()


def _validate(obj: Any) -> None:
    """Field validation (400); uniqueness is left to the database, whose refusal is a 409."""
    try:
        obj.full_clean(validate_unique=False, validate_constraints=False)
    except DjangoValidationError as exc:
        raise ValidationFailed("The object is invalid.", details=exc.message_dict) from exc


def _text(value: str, *, field: str, required: bool) -> str:
    value = (value or "").strip()
    if required and not value:
        raise ValidationFailed(f"A {field} is required.", details={field: ["This field is required."]})
    if len(value) > MAX_TEXT:
        raise ValidationFailed(f"The {field} is too long.", details={field: [f"At most {MAX_TEXT} characters."]})
    try:
        validate_no_control_chars(value.replace("\n", " ").replace("\r", " ").replace("\t", " "))
    except DjangoValidationError as exc:
        raise ValidationFailed(f"The {field} is invalid.", details={field: exc.messages}) from exc
    return value


def _refused(exc: policies.TransitionRefused) -> Conflict:
    return Conflict(str(exc), details={"state": exc.state, "action": exc.event}, code="invalid_state")


# --- policies -----------------------------------------------------------------------------------------------


@transaction.atomic
def promotion_policy_create(*, actor: Any, name: str, target: str, **values: Any) -> PromotionPolicy:
    policy = PromotionPolicy(name=name, target=target, **values)
    _validate(policy)
    try:
        with transaction.atomic():
            policy.save()
    except IntegrityError as exc:
        raise Conflict("An enabled policy with this target and scope already exists.", code="duplicate") from exc
    audit_record(actor=actor, action="promotionpolicy.created", target=policy, after=snapshot(policy, POLICY_FIELDS))
    return policy


@transaction.atomic
def promotion_policy_update(*, actor: Any, policy: PromotionPolicy, **changes: Any) -> PromotionPolicy:
    before = snapshot(policy, POLICY_FIELDS)
    for name, value in changes.items():
        if name not in POLICY_FIELDS or name == "name":
            raise ValidationFailed(f"{name!r} cannot be changed.", details={"field": name})
        setattr(policy, name, value)
    after = snapshot(policy, POLICY_FIELDS)
    if after == before:
        return policy
    _validate(policy)
    try:
        with transaction.atomic():
            policy.save()
    except IntegrityError as exc:
        raise Conflict("An enabled policy with this target and scope already exists.", code="duplicate") from exc
    audit_record(actor=actor, action="promotionpolicy.updated", target=policy, before=before, after=after)
    return policy


@transaction.atomic
def promotion_policy_delete(*, actor: Any, policy: PromotionPolicy) -> None:
    if PromotionRequest.objects.filter(policy=policy).exists():
        raise Conflict(
            f"Policy {policy.name!r} governed promotion requests, which keep it on record; disable it instead.",
            code="policy_in_use",
        )
    audit_record(actor=actor, action="promotionpolicy.deleted", target=policy, before=snapshot(policy, POLICY_FIELDS))
    policy.delete()


# --- requests -----------------------------------------------------------------------------------------------


def _may_request(actor: Any, model: RegisteredModel) -> bool:
    if user_is_admin(actor) or getattr(actor, "is_service_account", False):
        return True
    return model.project is not None and model.project.team_id in user_team_roles(actor)


def _gate_snapshot(request: PromotionRequest, results: Iterable[policies.GateResult], now: datetime) -> None:
    results = tuple(results)
    request.gates = [r.as_dict() for r in results]
    request.gates_passed = not policies.blocking_gates(results)
    request.gates_evaluated_at = now


@transaction.atomic
def promotion_request_create(
    *,
    actor: Any,
    version: ModelVersion,
    target: str,
    justification: str,
    rollback_of: PromotionRequest | None = None,
) -> PromotionRequest:
    """A team member (or an admin, or a service account such as CI) asks to point `target` at `version`.

    Refused: a target no enabled policy governs (400 `no_policy`), an unassigned or removed model, a second
    open request for the same version and target (409), a version that already is the approved holder.
    Gates are evaluated and stored; a request with failing gates is created but cannot be approved.
    """
    try:
        validate_alias(target)
    except DjangoValidationError as exc:
        raise ValidationFailed("The target is not a valid alias.", details={"target": exc.messages}) from exc
    justification = _text(justification, field="justification", required=True)
    version = ModelVersion.objects.select_related("model__project__team", "training_run").get(pk=version.pk)
    model = version.model
    if version.removed_at is not None or model.removed_at is not None:
        raise ValidationFailed(f"{version} was removed from MLflow.", details={"version": version.pk})
    if model.project is None:
        raise ValidationFailed(
            f"{model.name} is not assigned to a project, so no team can request its promotion.",
            details={"model": model.pk},
            code="unassigned",
        )
    if not _may_request(actor, model):
        raise PermissionDenied(
            f"Only members of {model.project.team.name} (or admins and service accounts) may request promotions "
            f"of {model.name}.",
            details={"team": model.project.team.slug},
        )
    policy = selectors.policy_for(model=model, target=target)
    if policy is None:
        raise ValidationFailed(
            f"No promotion policy governs {target!r} for {model.name}; promotions to a target without a policy "
            "are refused. An admin can add one (admin, API or the config file's policies section).",
            details={"target": target, "known_targets": selectors.policy_targets()},
            code="no_policy",
        )
    approved = selectors.approved_change(model_id=model.pk, alias=target)
    holds = ModelAlias.objects.filter(model=model, alias=target, version=version).exists()
    if approved is not None and approved.version_id == version.pk and holds:
        raise Conflict(f"v{version.version} already is the approved {target} of {model.name}.", code="already_holds")
    now = _now()
    request = PromotionRequest(
        model=model,
        version=version,
        target=target,
        policy=policy,
        requested_by=actor,
        justification=justification,
        approvals_required=policy.approvals_required,
        expires_at=now + timedelta(hours=policy.max_age_hours) if policy.max_age_hours else None,
        rollback_of=rollback_of,
    )
    _gate_snapshot(
        request,
        policies.evaluate_gates(policy.as_rules(), selectors.candidate_for(version=version, target=target)),
        now,
    )
    try:
        with transaction.atomic():
            request.save()
    except IntegrityError as exc:
        existing = PromotionRequest.objects.filter(
            version=version, target=target, state__in=policies.OPEN_STATES
        ).first()
        raise Conflict(
            f"Request #{existing.pk if existing else '?'} for {model.name} v{version.version} → {target} "
            "is still open.",
            details={"request": existing.pk if existing else None},
            code="duplicate",
        ) from exc
    audit_record(
        actor=actor,
        action="promotion.requested",
        target=request,
        after={
            "model": model.pk,
            "version": version.version,
            "target": target,
            "policy": policy.name,
            "gates_passed": request.gates_passed,
            "rollback_of": rollback_of.pk if rollback_of else None,
        },
    )
    notifications.promotion_event(event="promotion.requested", request=request, actor=actor)
    return request


def promotion_rollback_request(*, actor: Any, request: PromotionRequest, justification: str = "") -> PromotionRequest:
    """The page shortcut: a promotion of the version that held the alias before `request` was applied."""
    if request.state != State.APPLIED:
        raise Conflict("Only an applied promotion can be rolled back.", code="invalid_state")
    if request.previous_version_id is None:
        raise Conflict(
            f"Nothing held {request.target} before request #{request.pk} (or that version is gone): nothing to roll "
            "back to.",
            code="no_previous_holder",
        )
    return promotion_request_create(
        actor=actor,
        version=request.previous_version,
        target=request.target,
        justification=justification.strip()
        or f"Roll back #{request.pk}: return {request.target} to v{request.previous_version_number}.",
        rollback_of=request,
    )


def _locked(request: PromotionRequest) -> PromotionRequest:
    try:
        return (
            PromotionRequest.objects.select_for_update(of=("self",))
            .select_related(
                "model__project__team",
                "version__training_run",
                "version__model",
                "policy__approver_team",
                "requested_by",
            )
            .get(pk=request.pk)
        )
    except PromotionRequest.DoesNotExist:
        raise NotFound("No such promotion request.") from None


def _expire_if_due(request: PromotionRequest) -> None:
    """Expire a pending request past its age limit, in a transaction of its own, so the expiry is kept even
    when the action that noticed it is refused."""
    if request.state == State.PENDING and request.expires_at and request.expires_at <= _now():
        promotions_expire(ids=[request.pk])
        request.refresh_from_db(fields=["state"])


def _counted_approvals(request: PromotionRequest, policy: policies.Policy, authorship: policies.Authorship) -> int:
    """Approvals by distinct reviewers who are still eligible now (roles can change between approvals)."""
    reviewers = [
        r.reviewer for r in Review.objects.filter(request=request, decision=Decision.APPROVE).select_related("reviewer")
    ]
    return sum(1 for p in selectors.people_for(reviewers) if not policies.approval_refusals(policy, authorship, p))


def promotion_approve(*, request: PromotionRequest, reviewer: Any, comment: str = "") -> PromotionRequest:
    """Record `reviewer`'s approval. The last required approval moves the request to approved and queues
    the apply task on commit. Refused: not pending (409 `invalid_state`), reviewed already (409
    `already_reviewed`), not eligible (403 `not_eligible`, every reason listed), failing gates that no
    manager waived (409 `gates_failing`)."""
    comment = _text(comment, field="comment", required=False)
    _expire_if_due(request)
    with transaction.atomic():
        req = _locked(request)
        if req.state != State.PENDING:
            raise _refused(policies.TransitionRefused(req.state, policies.APPROVE))
        if Review.objects.filter(request=req, reviewer_id=reviewer.pk).exists():
            raise Conflict("You have already reviewed this request.", code="already_reviewed")
        rules = req.policy.as_rules()
        authorship = selectors.authorship_for(request=req)
        refusals = policies.approval_refusals(rules, authorship, selectors.person_for(reviewer))
        if refusals:
            raise PermissionDenied(
                "You may not approve this request: " + "; ".join(refusals) + ".",
                details={"reasons": list(refusals)},
                code="not_eligible",
            )
        now = _now()
        results = selectors.gates_for(request=req, loaded=True)
        blocking = policies.blocking_gates(results)
        if blocking:
            raise Conflict(
                "The request has failing gates, so it cannot be approved: "
                + "; ".join(f"{g.gate}: {g.reason}" for g in blocking)
                + ". A manager may waive a gate.",
                details={"gates": [g.as_dict() for g in blocking]},
                code="gates_failing",
            )
        try:
            with transaction.atomic():
                Review.objects.create(request=req, reviewer=reviewer, decision=Decision.APPROVE, comment=comment)
        except IntegrityError as exc:
            raise Conflict("You have already reviewed this request.", code="already_reviewed") from exc
        _gate_snapshot(req, results, now)
        req.approvals_required = rules.approvals_required
        req.approvals = _counted_approvals(req, rules, authorship)
        final = req.approvals >= req.approvals_required
        audit_record(
            actor=reviewer,
            action="promotion.reviewed",
            target=req,
            after={"decision": "approve", "comment": comment, "approvals": req.approvals, "of": req.approvals_required},
        )
        if final:
            req.state = policies.next_state(req.state, policies.APPROVE)
            req.decided_at = now
            audit_record(
                actor=reviewer,
                action="promotion.approved",
                target=req,
                before={"state": State.PENDING},
                after={"state": req.state, "approvals": req.approvals, "gates": [g["status"] for g in req.gates]},
            )
            _queue_apply(req)
            notifications.promotion_event(event="promotion.approved", request=req, actor=reviewer)
        req.save()
    return req


def _queue_apply(request: PromotionRequest) -> None:
    from mlgov.governance.tasks import apply_promotion

    apply_promotion.delay_on_commit(request.pk)


def promotion_reject(*, request: PromotionRequest, reviewer: Any, comment: str) -> PromotionRequest:
    """An eligible reviewer rejects a pending request, with a comment. Final."""
    comment = _text(comment, field="comment", required=True)
    _expire_if_due(request)
    with transaction.atomic():
        req = _locked(request)
        if req.state != State.PENDING:
            raise _refused(policies.TransitionRefused(req.state, policies.REJECT))
        if Review.objects.filter(request=req, reviewer_id=reviewer.pk).exists():
            raise Conflict("You have already reviewed this request.", code="already_reviewed")
        refusals = policies.approval_refusals(
            req.policy.as_rules(), selectors.authorship_for(request=req), selectors.person_for(reviewer)
        )
        if refusals:
            raise PermissionDenied(
                "You may not review this request: " + "; ".join(refusals) + ".",
                details={"reasons": list(refusals)},
                code="not_eligible",
            )
        try:
            with transaction.atomic():
                Review.objects.create(request=req, reviewer=reviewer, decision=Decision.REJECT, comment=comment)
        except IntegrityError as exc:
            raise Conflict("You have already reviewed this request.", code="already_reviewed") from exc
        req.state = policies.next_state(req.state, policies.REJECT)
        req.decided_at = _now()
        req.save()
        audit_record(
            actor=reviewer,
            action="promotion.rejected",
            target=req,
            before={"state": State.PENDING},
            after={"state": req.state, "comment": comment},
        )
        notifications.promotion_event(event="promotion.rejected", request=req, actor=reviewer)
    return req


def promotion_cancel(*, request: PromotionRequest, actor: Any, reason: str = "") -> PromotionRequest:
    """The requester, the team's maintainers or an admin withdraw a request (pending, approved or failed)."""
    reason = _text(reason, field="reason", required=False)
    with transaction.atomic():
        req = _locked(request)
        if not selectors.user_may_manage_request(actor, req):
            raise PermissionDenied("Only the requester, the team's maintainers or an admin may cancel this request.")
        try:
            state = policies.next_state(req.state, policies.CANCEL)
        except policies.TransitionRefused as exc:
            raise _refused(exc) from exc
        before = req.state
        req.state, req.decided_at = state, _now()
        req.save()
        audit_record(
            actor=actor,
            action="promotion.cancelled",
            target=req,
            before={"state": before},
            after={"state": state, "reason": reason},
        )
        notifications.promotion_event(event="promotion.cancelled", request=req, actor=actor)
    return req


def promotion_retry(*, request: PromotionRequest, actor: Any) -> PromotionRequest:
    """Queue a failed promotion to be applied again (the approvals stand)."""
    with transaction.atomic():
        req = _locked(request)
        if not (selectors.user_may_manage_request(actor, req) or user_is_manager(actor)):
            raise PermissionDenied("Only the requester, the team's maintainers, managers or admins may retry.")
        try:
            state = policies.next_state(req.state, policies.RETRY)
        except policies.TransitionRefused as exc:
            raise _refused(exc) from exc
        error = req.error
        req.state, req.error = state, ""
        req.save()
        audit_record(
            actor=actor,
            action="promotion.retried",
            target=req,
            before={"state": State.FAILED, "error": error},
            after={"state": state},
        )
        _queue_apply(req)
    return req


def promotion_gate_waive(*, request: PromotionRequest, manager: Any, gate: str, reason: str) -> GateWaiver:
    """A manager overrides one failing gate of a pending request; the waiver and its reason are recorded."""
    reason = _text(reason, field="reason", required=True)
    with transaction.atomic():
        req = _locked(request)
        if not user_is_manager(manager) or getattr(manager, "is_service_account", False):
            raise PermissionDenied("Only managers may waive a gate.")
        if manager.pk == req.requested_by_id:
            raise PermissionDenied("You requested this promotion, so you may not waive its gates.")
        if req.state != State.PENDING:
            raise Conflict(
                f"The request is {req.state}; only pending requests' gates can be waived.", code="invalid_state"
            )
        results = {r.gate: r for r in selectors.gates_for(request=req)}
        if gate not in results:
            raise ValidationFailed(
                f"The policy sets no gate {gate!r}.",
                details={"gate": gate, "gates": sorted(results)},
                code="unknown_gate",
            )
        if results[gate].passed:
            raise Conflict(f"The {gate} gate passes; there is nothing to waive.", code="gate_passes")
        try:
            with transaction.atomic():
                waiver = GateWaiver.objects.create(request=req, gate=gate, granted_by=manager, reason=reason)
        except IntegrityError as exc:
            raise Conflict(f"The {gate} gate is already waived.", code="already_waived") from exc
        _gate_snapshot(req, selectors.gates_for(request=req), _now())
        req.save()
        audit_record(
            actor=manager,
            action="promotion.gate_waived",
            target=req,
            before={"gate": gate, "status": "fail", "reason": results[gate].reason},
            after={"gate": gate, "status": "waived", "waiver": reason},
        )
    return waiver


def promotions_expire(*, now: datetime | None = None, ids: Iterable[int] | None = None, limit: int = 500) -> int:
    """Expire pending requests past their age limit; fail applies abandoned by a dead worker. Each in its
    own transaction, under the row lock, so a request approved meanwhile is left alone."""
    now = now or _now()
    qs = PromotionRequest.objects.filter(state=State.PENDING, expires_at__lte=now)
    if ids is not None:
        qs = qs.filter(pk__in=list(ids))
    done = 0
    for pk in list(qs.values_list("pk", flat=True)[:limit]):
        with transaction.atomic():
            req = _locked(PromotionRequest(pk=pk))
            if req.state != State.PENDING or not req.expires_at or req.expires_at > now:
                continue
            req.state, req.decided_at = policies.next_state(req.state, policies.EXPIRE), now
            req.save()
            audit_record(
                actor="system",
                action="promotion.expired",
                target=req,
                before={"state": State.PENDING},
                after={"state": req.state, "expires_at": req.expires_at.isoformat()},
            )
            notifications.promotion_event(event="promotion.expired", request=req, actor="system")
        done += 1
    if ids is None:
        stale = now - timedelta(minutes=settings.MLGOV_PROMOTION_APPLY_STALE_MINUTES)
        for pk in PromotionRequest.objects.filter(state=State.APPLYING, apply_started_at__lt=stale).values_list(
            "pk", flat=True
        )[:limit]:
            _apply_fail(pk, "abandoned: the apply task stopped without finishing (worker lost); retry it")
    return done


# --- applying ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApplyOutcome:
    request: PromotionRequest
    status: str  # applied, failed, skipped, retrying


def _apply_start(request_id: int) -> PromotionRequest | None:
    with transaction.atomic():
        req = _locked(PromotionRequest(pk=request_id))
        try:
            state = policies.next_state(req.state, policies.START)
        except policies.TransitionRefused:
            return None  # cancelled, applied already, or failed: nothing to do
        first = req.state == State.APPROVED
        req.state, req.attempts = state, req.attempts + 1
        req.apply_started_at = _now()
        req.save()
        if first:
            audit_record(
                actor="task:apply_promotion",
                action="promotion.apply_started",
                target=req,
                before={"state": State.APPROVED},
                after={"state": state, "attempt": req.attempts},
            )
        return req


def _record_previous(req: PromotionRequest, previous: str | None) -> None:
    with transaction.atomic():
        locked = _locked(req)
        if locked.previous_recorded:
            req.previous_version_id = locked.previous_version_id
            req.previous_version_number = locked.previous_version_number
            return
        holder = (
            ModelVersion.objects.filter(model_id=req.model_id, version=previous).first()
            if previous is not None
            else None
        )
        locked.previous_version = holder
        locked.previous_version_number = previous or ""
        locked.previous_recorded = True
        locked.save(update_fields=["previous_version", "previous_version_number", "previous_recorded", "updated_at"])
        req.previous_version_id, req.previous_version_number = (
            locked.previous_version_id,
            locked.previous_version_number,
        )
        req.previous_recorded = True


def _apply_fail(request_id: int, error: str) -> PromotionRequest:
    with transaction.atomic():
        req = _locked(PromotionRequest(pk=request_id))
        if req.state != State.APPLYING:
            return req
        req.state, req.error = policies.next_state(req.state, policies.FAIL), error[:4000]
        req.save()
        audit_record(
            actor="task:apply_promotion",
            action="promotion.failed",
            target=req,
            before={"state": State.APPLYING},
            after={"state": req.state, "error": req.error, "attempts": req.attempts},
        )
        notifications.promotion_event(event="promotion.failed", request=req, actor="task:apply_promotion")
    return req


def _apply_finish(request_id: int) -> PromotionRequest:
    with transaction.atomic():
        req = _locked(PromotionRequest(pk=request_id))
        if req.state != State.APPLYING:
            return req
        now = _now()
        req.state, req.applied_at, req.error = policies.next_state(req.state, policies.SUCCEED), now, ""
        req.save()
        approvers = sorted(
            Review.objects.filter(request=req, decision=Decision.APPROVE).values_list("reviewer__username", flat=True)
        )
        AliasChange.objects.create(
            model_id=req.model_id,
            alias=req.target,
            version=req.version,
            version_number=req.version.version,
            previous_number=req.previous_version_number,
            source=AliasSource.PROMOTION,
            request=req,
            actor_name=", ".join(approvers)[:150],
            started_at=now,
        )
        audit_record(
            actor="task:apply_promotion",
            action="promotion.applied",
            target=req,
            before={"state": State.APPLYING, "alias": req.target, "version": req.previous_version_number or None},
            after={"state": req.state, "alias": req.target, "version": req.version.version, "approvers": approvers},
        )
        _findings_superseded(model_id=req.model_id, alias=req.target, note=f"superseded by promotion #{req.pk}")
        notifications.promotion_event(event="promotion.applied", request=req, actor="task:apply_promotion")
        inventory_alias_moved(actor="task:apply_promotion", version=req.version, alias=req.target)
        _rescore(actor="task:apply_promotion", project_ids=[req.model.project_id])
    return req


def _rescore(*, actor: str, project_ids: list[int | None]) -> None:
    """The governance evidence of these projects changed (a promotion applied, a drift finding opened or
    cleared): queue their scoring once the transaction commits, so the scorecards show it."""
    ids = sorted({pk for pk in project_ids if pk is not None})
    if ids:
        scoring_run_request(trigger=ScoringTrigger.GOVERNANCE, triggered_by=actor, project_ids=ids)


def promotion_apply(*, request_id: int, final_attempt: bool = True) -> ApplyOutcome:
    """Move the alias in MLflow for an approved request. Safe to run twice: a request that is no longer
    approved or applying is skipped, and the write-back writes nothing when MLflow already holds the
    version. The previous holder is read from MLflow before the first write and kept across attempts.

    MLflow unreachable: with `final_attempt` false the error is noted and `MlflowUnreachable` propagates
    (the task retries); otherwise, and on any other MLflow error, the request ends failed with the error.
    """
    req = _apply_start(request_id)
    if req is None:
        return ApplyOutcome(PromotionRequest.objects.get(pk=request_id), "skipped")
    actor = f"promotion:{req.pk}"
    try:
        if not req.previous_recorded:
            _record_previous(req, mlflow_alias_holder(model=req.model, alias=req.target))
        mlflow_alias_set(
            actor=actor,
            model=req.model,
            alias=req.target,
            version=req.version.version,
            tags={f"mlgov.promotion.{req.target}": str(req.pk)},
        )
    except mf.MlflowUnreachable as exc:
        if not final_attempt:
            PromotionRequest.objects.filter(pk=req.pk).update(error=f"retrying: {exc}"[:4000])
            raise
        return ApplyOutcome(_apply_fail(req.pk, f"MLflow unreachable: {exc}"), "failed")
    except (mf.MlflowError, WriteBackUnavailable) as exc:
        message = exc.message if isinstance(exc, WriteBackUnavailable) else f"{type(exc).__name__}: {exc}"
        return ApplyOutcome(_apply_fail(req.pk, message), "failed")
    return ApplyOutcome(_apply_finish(req.pk), "applied")


def inventory_alias_moved(*, actor: str, version: ModelVersion, alias: str, source: str = "promotion") -> None:
    """Make the inventory show an alias mlgov has just moved in MLflow, in the same transaction: the alias
    row, its audit event (`modelalias.assigned`) and the lineage edge "alias assigned model version", through
    the inventory's own service. The next sync then finds nothing to change."""
    model_alias_set(actor=actor, version=version, alias=alias, source=source)


# --- drift --------------------------------------------------------------------------------------------------


def _findings_superseded(*, model_id: int, alias: str, note: str) -> None:
    for finding in DriftFinding.objects.select_for_update().filter(
        model_id=model_id, alias=alias, status=DriftStatus.OPEN
    ):
        finding.status, finding.resolved_at, finding.resolution = DriftStatus.SUPERSEDED, _now(), note
        finding.save()
        audit_record(actor="system", action="drift.superseded", target=finding, after={"resolution": note})


@dataclass(frozen=True)
class DriftCheck:
    checked: int
    detected: tuple[int, ...]
    cleared: tuple[int, ...]
    skipped: int


@transaction.atomic
def drift_check(*, sync_run_id: int) -> DriftCheck:
    """Compare the aliases of a connection's models, as the sync stored them, with the last approved alias
    changes. An alias governed by a policy that points elsewhere (or exists without any approval) is a
    drift finding: audited, notified, recorded in the alias history as observed, and reverted when the
    policy says so. A finding whose alias is back at the approved version is cleared. Changes approved
    after the sync started are left for the next sync (it could not have seen them).
    """
    run = SyncRun.objects.get(pk=sync_run_id)
    source = run.target
    models = {
        m.pk: m
        for m in RegisteredModel.objects.filter(external_source=source, removed_at__isnull=True).select_related(
            "project"
        )
    }
    observed = {
        (a.model_id, a.alias): a.version
        for a in ModelAlias.objects.filter(model_id__in=list(models)).select_related("version")
    }
    approved: dict[tuple[int, str], AliasChange] = {}
    for change in (
        AliasChange.objects.filter(model_id__in=list(models))
        .exclude(source=AliasSource.OBSERVED)
        .order_by("started_at", "id")
    ):
        approved[(change.model_id, change.alias)] = change
    open_findings = {
        (f.model_id, f.alias): f
        for f in DriftFinding.objects.select_for_update().filter(model_id__in=list(models), status=DriftStatus.OPEN)
    }
    enabled = list(PromotionPolicy.objects.filter(enabled=True))
    scopes = [policies.PolicyScope(p.pk, p.target, p.team_id, p.risk_tier) for p in enabled]
    by_id = {p.pk: p for p in enabled}
    now = _now()
    detected, cleared, skipped, checked = [], [], 0, 0
    for key in sorted(set(observed) | set(approved) | set(open_findings)):
        model_id, alias = key
        model = models[model_id]
        project = model.project
        policy_id = policies.select_policy(
            scopes,
            target=alias,
            team_id=project.team_id if project else None,
            risk_tier=project.risk_tier if project else None,
        )
        expected = approved.get(key)
        if expected is not None and run.started_at and expected.started_at > run.started_at:
            skipped += 1
            continue
        actual = observed.get(key)
        finding = open_findings.get(key)
        expected_id = expected.version_id if expected else None
        actual_id = actual.pk if actual else None
        if expected_id == actual_id or (expected is None and actual is None):
            if finding is not None:
                finding.status, finding.resolved_at = DriftStatus.CLEARED, now
                finding.resolution = "MLflow matches the approved version again"
                finding.sync_run = run
                finding.save()
                audit_record(actor=f"sync:{source}", action="drift.cleared", target=finding, after={"sync_run": run.pk})
                cleared.append(finding.pk)
            checked += 1 if policy_id else 0
            continue
        if policy_id is None and expected is None:
            continue  # no policy governs this alias and mlgov never moved it: not governed
        checked += 1
        if finding is not None and finding.observed_version_id == actual_id:
            continue  # known already
        if finding is not None:
            finding.status, finding.resolved_at = DriftStatus.SUPERSEDED, now
            finding.resolution = f"the alias moved again (to {'v' + actual.version if actual else 'nothing'})"
            finding.save()
            audit_record(actor=f"sync:{source}", action="drift.superseded", target=finding, after={"sync_run": run.pk})
        policy = (
            by_id.get(policy_id) if policy_id else (expected.request.policy if expected and expected.request else None)
        )
        new = DriftFinding.objects.create(
            model=model,
            alias=alias,
            expected_version_id=expected_id,
            expected_number=expected.version_number if expected else "",
            observed_version=actual,
            observed_number=actual.version if actual else "",
            policy=policy,
            sync_run=run,
            detected_at=now,
        )
        AliasChange.objects.create(
            model=model,
            alias=alias,
            version=actual,
            version_number=actual.version if actual else "",
            previous_number=(finding.observed_number if finding else (expected.version_number if expected else "")),
            source=AliasSource.OBSERVED,
            finding=new,
            actor_name=f"sync:{source}",
            started_at=now,
        )
        audit_record(
            actor=f"sync:{source}",
            action="drift.detected",
            target=new,
            before={"alias": alias, "approved_version": new.expected_number or None},
            after={
                "alias": alias,
                "mlflow_version": new.observed_number or None,
                "sync_run": run.pk,
                "policy": policy.name if policy else None,
            },
        )
        notifications.drift_event(event="drift.detected", finding=new)
        if policy is not None and policy.revert_drift and expected is not None and expected.version_id:
            from mlgov.governance.tasks import revert_drift

            revert_drift.delay_on_commit(new.pk)
        detected.append(new.pk)
    if detected or cleared:
        changed = DriftFinding.objects.filter(pk__in=[*detected, *cleared]).values_list("model__project_id", flat=True)
        _rescore(actor="task:check_drift", project_ids=list(changed))
    return DriftCheck(checked, tuple(detected), tuple(cleared), skipped)


def drift_revert(*, finding_id: int, final_attempt: bool = True) -> DriftFinding:
    """Put the approved version back in MLflow for an open finding (the policy's `revert_drift`)."""
    finding = DriftFinding.objects.select_related("model", "expected_version").get(pk=finding_id)
    if finding.status != DriftStatus.OPEN or finding.expected_version is None:
        return finding
    actor = f"drift:{finding.pk}"
    mlflow_alias_set(actor=actor, model=finding.model, alias=finding.alias, version=finding.expected_number)
    with transaction.atomic():
        finding = (
            DriftFinding.objects.select_for_update(of=("self",))
            .select_related("model", "expected_version")
            .get(pk=finding_id)
        )
        if finding.status != DriftStatus.OPEN:
            return finding
        now = _now()
        finding.status, finding.resolved_at, finding.resolved_by = DriftStatus.REVERTED, now, actor
        finding.resolution = f"put v{finding.expected_number} back in MLflow (policy revert_drift)"
        finding.save()
        AliasChange.objects.create(
            model=finding.model,
            alias=finding.alias,
            version=finding.expected_version,
            version_number=finding.expected_number,
            previous_number=finding.observed_number,
            source=AliasSource.REVERT,
            finding=finding,
            actor_name=actor,
            started_at=now,
        )
        audit_record(
            actor=actor,
            action="drift.reverted",
            target=finding,
            before={"alias": finding.alias, "version": finding.observed_number or None},
            after={"alias": finding.alias, "version": finding.expected_number},
        )
        notifications.drift_event(event="drift.reverted", finding=finding)
        inventory_alias_moved(actor=actor, version=finding.expected_version, alias=finding.alias, source="revert")
    return finding


@transaction.atomic
def drift_accept(*, finding: DriftFinding, actor: Any, note: str) -> DriftFinding:
    """A manager accepts what MLflow holds as the approved state (e.g. when adopting mlgov)."""
    note = _text(note, field="note", required=True)
    if not user_is_manager(actor):
        raise PermissionDenied("Only managers may accept a drift finding.")
    finding = (
        DriftFinding.objects.select_for_update(of=("self",))
        .select_related("model", "observed_version")
        .get(pk=finding.pk)
    )
    if finding.status != DriftStatus.OPEN:
        raise Conflict(f"The finding is {finding.status}, not open.", code="invalid_state")
    now = _now()
    finding.status, finding.resolved_at, finding.resolved_by = DriftStatus.ACCEPTED, now, _actor_name(actor)
    finding.resolution = note
    finding.save()
    AliasChange.objects.create(
        model=finding.model,
        alias=finding.alias,
        version=finding.observed_version,
        version_number=finding.observed_number,
        previous_number=finding.expected_number,
        source=AliasSource.ACCEPTED,
        finding=finding,
        actor_name=_actor_name(actor),
        started_at=now,
    )
    audit_record(
        actor=actor,
        action="drift.accepted",
        target=finding,
        before={"alias": finding.alias, "approved_version": finding.expected_number or None},
        after={"alias": finding.alias, "approved_version": finding.observed_number or None, "note": note},
    )
    return finding


# --- outbound webhook endpoints -----------------------------------------------------------------------------


@transaction.atomic
def webhook_endpoint_create(*, actor: Any, name: str, url: str, secret_env_var: str, **values: Any) -> WebhookEndpoint:
    endpoint = WebhookEndpoint(name=name, url=url, secret_env_var=secret_env_var, **values)
    _check_endpoint(endpoint)
    _validate(endpoint)
    endpoint.save()
    audit_record(
        actor=actor, action="webhookendpoint.created", target=endpoint, after=snapshot(endpoint, ENDPOINT_FIELDS)
    )
    return endpoint


@transaction.atomic
def webhook_endpoint_update(*, actor: Any, endpoint: WebhookEndpoint, **changes: Any) -> WebhookEndpoint:
    before = snapshot(endpoint, ENDPOINT_FIELDS)
    for name, value in changes.items():
        if name not in ENDPOINT_FIELDS or name == "name":
            raise ValidationFailed(f"{name!r} cannot be changed.", details={"field": name})
        setattr(endpoint, name, value)
    after = snapshot(endpoint, ENDPOINT_FIELDS)
    if after == before:
        return endpoint
    _check_endpoint(endpoint)
    _validate(endpoint)
    endpoint.save()
    audit_record(actor=actor, action="webhookendpoint.updated", target=endpoint, before=before, after=after)
    return endpoint


@transaction.atomic
def webhook_endpoint_delete(*, actor: Any, endpoint: WebhookEndpoint) -> None:
    audit_record(
        actor=actor, action="webhookendpoint.deleted", target=endpoint, before=snapshot(endpoint, ENDPOINT_FIELDS)
    )
    endpoint.delete()


def _check_endpoint(endpoint: WebhookEndpoint) -> None:
    from mlgov.governance.constants import EVENTS

    problems: dict[str, list[str]] = {}
    if not endpoint.url.startswith(("https://", "http://")):
        problems["url"] = ["Only http(s) URLs."]
    if not isinstance(endpoint.events, list) or any(e not in EVENTS for e in endpoint.events):
        problems["events"] = [f"A list of events among: {', '.join(EVENTS)} (empty: all)."]
    import re

    if not re.fullmatch(r"[A-Z_][A-Z0-9_]{0,99}", endpoint.secret_env_var or ""):
        problems["secret_env_var"] = ["The name of an environment variable (A-Z, 0-9, _), never the secret itself."]
    if problems:
        raise ValidationFailed("The webhook endpoint is invalid.", details=problems)
