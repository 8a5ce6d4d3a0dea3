"""Reads for governance: policies, requests and their evidence, the review queue, alias history, drift.

Every list costs a fixed number of queries whatever its length. The evidence a gate needs about a candidate
(its run, datasets, CI runs, the project's maturity level, the current holder) is read by `candidate_for`
in a fixed number of queries and handed to the pure rules in policies.py as frozen dataclasses.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from django.db.models.functions import Lower, Trim

from assessments import selectors as assessment_selectors
from integrations.models import GitRepository
from mlgov.accounts.constants import REVIEWERS
from mlgov.accounts.selectors import user_can_manage_team, user_group_names, user_is_admin, user_team_roles
from mlgov.audit.models import AuditEvent
from mlgov.errors import NotFound, ValidationFailed
from mlgov.governance import policies
from mlgov.governance.choices import AliasSource, DriftStatus
from mlgov.governance.choices import PromotionState as State
from mlgov.governance.models import (
    AliasChange,
    DriftFinding,
    GateWaiver,
    OutboundDelivery,
    PromotionPolicy,
    PromotionRequest,
    Review,
    WebhookEndpoint,
)
from mlgov.inventory.models import ModelAlias, ModelVersion, PipelineRun, RegisteredModel, RunInput
from mlgov.inventory.selectors import model_version_list, registered_model_list

# --- the project's maturity level (assessments) ---


def project_maturity_level(*, project_id: int | None) -> int | None:
    """The project's current maturity level (0-4) from its latest assessment, or None when it has not been
    assessed (the min-maturity gate then fails, saying so). The one place the gate reads the level."""
    if project_id is None:
        return None
    return assessment_selectors.project_maturity_level(project_id=project_id)


# --- policies ---


def policy_list(*, user: Any) -> QuerySet[PromotionPolicy]:
    return PromotionPolicy.objects.select_related("team", "approver_team")


def policy_for(*, model: RegisteredModel, target: str) -> PromotionPolicy | None:
    """The enabled policy that governs promoting `model` to `target`: the most specific scope wins."""
    project = model.project
    candidates = list(
        PromotionPolicy.objects.filter(enabled=True, target=target).select_related("approver_team", "team")
    )
    chosen = policies.select_policy(
        [policies.PolicyScope(p.pk, p.target, p.team_id, p.risk_tier) for p in candidates],
        target=target,
        team_id=project.team_id if project else None,
        risk_tier=project.risk_tier if project else None,
    )
    return next((p for p in candidates if p.pk == chosen), None)


def policy_targets() -> list[str]:
    return sorted(set(PromotionPolicy.objects.filter(enabled=True).values_list("target", flat=True)))


# --- people ---


def people_for(users: list[Any]) -> list[policies.Person]:
    """Several users' rule views in two queries (their groups and their memberships), caching both on the
    user objects as the accounts selectors do."""
    from django.contrib.auth.models import Group

    from mlgov.accounts.models import Membership

    ids = [u.pk for u in users]
    groups: dict[int, set[str]] = {pk: set() for pk in ids}
    for user_id, name in Group.objects.filter(user__in=ids).values_list("user", "name"):
        groups[user_id].add(name)
    roles: dict[int, dict[int, str]] = {pk: {} for pk in ids}
    for user_id, team_id, role in Membership.objects.filter(user_id__in=ids).values_list("user_id", "team_id", "role"):
        roles[user_id][team_id] = role
    for user in users:
        user._mlgov_groups = frozenset(groups[user.pk])
        user._mlgov_team_roles = roles[user.pk]
    return [person_for(u) for u in users]


def person_for(user: Any) -> policies.Person:
    """The rules' view of a user: groups and teams come from the accounts selectors (cached per request)."""
    return policies.Person(
        user_id=user.pk,
        username=user.get_username(),
        email=user.email or "",
        display_name=getattr(user, "display_name", "") or "",
        is_active=user.is_active,
        is_service_account=bool(getattr(user, "is_service_account", False)),
        is_reviewer=REVIEWERS in user_group_names(user),
        team_ids=frozenset(user_team_roles(user)),
    )


# --- the evidence about a candidate ---


def _version_for_evidence(version_id: int) -> ModelVersion:
    return ModelVersion.objects.select_related("model__project__team", "training_run").get(pk=version_id)


def _metrics_of(version: ModelVersion) -> dict[str, Any]:
    run = version.training_run
    return {**(version.metrics or {}), **((run.metrics if run else None) or {})}


def candidate_for(*, version: ModelVersion, target: str, loaded: bool = False) -> policies.Candidate:
    """The evidence the gates read, in at most five queries: version and run (unless `loaded`: the caller
    fetched the version with its model, project and training run), datasets, CI runs, maturity, holder."""
    if not loaded:
        version = _version_for_evidence(version.pk)
    run = version.training_run
    datasets: tuple[policies.DatasetInput, ...] = ()
    if run is not None:
        datasets = tuple(
            policies.DatasetInput(i.dataset.name, i.dataset.digest, i.context, i.dataset.source)
            for i in RunInput.objects.filter(run=run).select_related("dataset").order_by("dataset__name", "context")
        )
    ci: tuple[policies.CiRun, ...] = ()
    if version.git_commit:
        ci = tuple(
            policies.CiRun(r.pk, r.pipeline.name, r.status, r.url, r.finished_at, r.started_at)
            for r in PipelineRun.objects.filter(commit_sha=version.git_commit, removed_at__isnull=True)
            .select_related("pipeline")
            .order_by("-id")[:50]
        )
    holder = None
    alias = (
        ModelAlias.objects.filter(model_id=version.model_id, alias=target)
        .select_related("version__training_run")
        .first()
    )
    if alias is not None:
        holder = policies.Holder(alias.version.version, _metrics_of(alias.version))
    return policies.Candidate(
        version=version.version,
        commit=version.git_commit,
        run_id=version.run_id,
        metrics=_metrics_of(version),
        params=(run.params if run else None) or {},
        datasets=datasets,
        ci_runs=ci,
        maturity_level=project_maturity_level(project_id=version.model.project_id),
        holder=holder,
    )


def authorship_for(*, request: PromotionRequest) -> policies.Authorship:
    """The requester, the source run's `mlflow.user`, and the authors of the project's repositories' recent
    commits (the committers of the activity window of their last scan)."""
    run = request.version.training_run if request.version.training_run_id else None
    committers: list[str] = []
    project_id = request.model.project_id
    if project_id is not None:
        for activity in GitRepository.objects.filter(project_id=project_id).values_list("activity", flat=True):
            committers += _repository_committers(activity)
    return policies.Authorship(
        requester_id=request.requested_by_id,
        run_author=(run.user if run else "") or "",
        committers=tuple(dict.fromkeys(committers)),
    )


def waivers_for(request: PromotionRequest) -> dict[str, str]:
    return {
        w.gate: f"waived by {w.granted_by.get_username()}: {w.reason}"
        for w in GateWaiver.objects.filter(request=request).select_related("granted_by")
    }


def gates_for(*, request: PromotionRequest, loaded: bool = False) -> tuple[policies.GateResult, ...]:
    """The request's gates evaluated now, against its policy and its waivers. `loaded`: the request was
    fetched with its version's model, project and training run."""
    candidate = candidate_for(version=request.version, target=request.target, loaded=loaded)
    return policies.evaluate_gates(request.policy.as_rules(), candidate, waivers_for(request))


def review_refusals(*, request: PromotionRequest, user: Any) -> tuple[str, ...]:
    """Why `user` may not review `request` now (empty: they may), state and earlier reviews included."""
    reasons = list(
        policies.approval_refusals(request.policy.as_rules(), authorship_for(request=request), person_for(user))
    )
    if request.state != State.PENDING:
        reasons.insert(0, f"the request is {request.get_state_display().lower()}, not pending")
    elif Review.objects.filter(request=request, reviewer_id=user.pk).exists():
        reasons.insert(0, "you have already reviewed this request")
    return tuple(reasons)


# --- requests ---


def user_may_manage_request(user: Any, request: PromotionRequest) -> bool:
    """The requester, the project team's maintainers and admins may cancel (and retry) a request."""
    if user.pk == request.requested_by_id or user_is_admin(user):
        return True
    return user_can_manage_team(user, request.model.project.team_id if request.model.project else None)


def promotion_history(*, request: PromotionRequest) -> QuerySet[AuditEvent]:
    """The request's audit trail, oldest first: requested, reviews, waivers, state changes, apply."""
    return AuditEvent.objects.filter(target_type="promotionrequest", target_id=str(request.pk)).order_by("seq")


def promotion_list(*, user: Any) -> QuerySet[PromotionRequest]:
    return PromotionRequest.objects.select_related(
        "model__project__team", "version", "policy", "requested_by", "previous_version"
    )


def promotion_detail(*, user: Any) -> QuerySet[PromotionRequest]:
    return (
        promotion_list(user=user)
        .select_related("version__training_run", "policy__approver_team")
        .prefetch_related(
            Prefetch("reviews", queryset=Review.objects.select_related("reviewer")),
            Prefetch("waivers", queryset=GateWaiver.objects.select_related("granted_by")),
        )
    )


def review_queue(*, user: Any) -> QuerySet[PromotionRequest]:
    """The pending requests `user` may act on (see `actionable`)."""
    return actionable(promotion_list(user=user), user=user)


def _repository_committers(activity: dict[str, Any] | None) -> list[str]:
    """The names and emails of the committers in a repository's last scanned activity window."""
    out: list[str] = []
    for c in (activity or {}).get("committers", []):
        out += [x for x in (c.get("name", ""), c.get("email", "")) if x]
    return out


def _projects_committed_by(person: policies.Person) -> list[int]:
    """The projects with a pending request under `strict` independence whose repositories list `person`
    among their last committers (one query, over those projects' repositories only)."""
    if not person.identities:
        return []
    pending = PromotionRequest.objects.filter(
        state=State.PENDING, policy__independence=policies.INDEPENDENCE_STRICT, model__project__isnull=False
    ).values("model__project_id")
    hits: set[int] = set()
    for project_id, activity in GitRepository.objects.filter(project_id__in=pending).values_list(
        "project_id", "activity"
    ):
        if project_id not in hits and policies.committer_matches(person, _repository_committers(activity)):
            hits.add(project_id)
    return sorted(hits)


def actionable(qs: QuerySet[PromotionRequest], *, user: Any) -> QuerySet[PromotionRequest]:
    """Narrow `qs` to the pending requests `user` may act on, by the rules approval enforces
    (`policies.approval_refusals`): a reviewer in the approver team (if the policy names one), not the
    requester, not the source run's author (unless the policy's independence is `requester`), not among the
    last committers of the project's repositories (under `strict`), and not having reviewed it yet. Applied
    to the caller's queryset directly (not as an IN subquery over the requests), so the database can walk the
    id index and stop at the page."""
    qs = qs.filter(state=State.PENDING)
    if REVIEWERS not in user_group_names(user) or getattr(user, "is_service_account", False) or not user.is_active:
        return qs.none()
    person = person_for(user)
    reviewed = Review.objects.filter(request=OuterRef("pk"), reviewer_id=user.pk)
    qs = (
        qs.exclude(requested_by_id=user.pk)
        .exclude(Exists(reviewed))
        .filter(Q(policy__approver_team__isnull=True) | Q(policy__approver_team_id__in=list(person.team_ids)))
    )
    identities = list(person.identities)
    if identities:  # compared as approval does: trimmed, case-insensitive
        authored = Q(run_author__in=identities) & ~Q(policy__independence=policies.INDEPENDENCE_REQUESTER)
        qs = qs.alias(run_author=Lower(Trim("version__training_run__user"))).exclude(authored)
    committed = _projects_committed_by(person)
    if committed:
        qs = qs.exclude(Q(model__project_id__in=committed) & Q(policy__independence=policies.INDEPENDENCE_STRICT))
    return qs


@dataclass(frozen=True)
class GateAnswer:
    """What a CD pipeline asks before it deploys: may this version serve as this alias now?"""

    allowed: bool
    reasons: tuple[str, ...]
    policy: PromotionPolicy | None
    approved_version: str | None
    applied_request: PromotionRequest | None
    open_request: PromotionRequest | None
    mlflow_holder: str | None
    open_drift: DriftFinding | None


def gate_answer(*, model: RegisteredModel, version: ModelVersion, target: str) -> GateAnswer:
    """Allowed when a policy governs the target, the last approved alias change for (model, target) is this
    version, and no drift finding is open for the alias (the drift check compares MLflow with the approvals
    after every sync). MLflow's holder as last synced is reported, not required: a promotion applied since
    the last sync is already in MLflow."""
    policy = policy_for(model=model, target=target)
    last = approved_change(model_id=model.pk, alias=target)
    holder = ModelAlias.objects.filter(model=model, alias=target).select_related("version").first()
    holder_number = holder.version.version if holder else None
    drift = DriftFinding.objects.filter(model=model, alias=target, status=DriftStatus.OPEN).first()
    open_request = (
        PromotionRequest.objects.filter(version=version, target=target, state__in=policies.OPEN_STATES)
        .order_by("-id")
        .first()
    )
    applied = last.request if last is not None and last.request_id else None
    reasons: list[str] = []
    if policy is None:
        reasons.append(f"no promotion policy governs {target!r} for {model.name}: promotions to it are refused")
    if last is None or last.version_id != version.pk:
        if last is None:
            reasons.append(f"no promotion of {model.name} to {target} has been applied through mlgov")
        else:
            reasons.append(
                f"the approved {target} of {model.name} is v{last.version_number or '(none)'}, not v{version.version}"
            )
        if open_request is not None:
            reasons.append(
                f"request #{open_request.pk} for v{version.version} is {open_request.state} "
                f"({open_request.approvals} of {open_request.approvals_required} approvals)"
            )
    if drift is not None:
        reasons.append(f"drift finding #{drift.pk} is open on {target}")
    allowed = not reasons
    if allowed:
        reasons.append(
            f"v{version.version} is the approved {target} of {model.name}"
            + (f" (request #{applied.pk})" if applied else " (accepted by a manager)")
        )
    return GateAnswer(
        allowed=allowed,
        reasons=tuple(reasons),
        policy=policy,
        approved_version=last.version_number if last else None,
        applied_request=applied,
        open_request=open_request,
        mlflow_holder=holder_number,
        open_drift=drift,
    )


def model_by_id_or_name(*, user: Any, ident: str) -> RegisteredModel:
    """The registered model `user` may see, by id (digits) or by name among the live models. Raises NotFound,
    or ValidationFailed (`ambiguous`, listing the ids) when several live models share the name."""
    models = registered_model_list(user=user)
    ident = ident.strip()
    if ident.isdigit():
        model = models.filter(pk=int(ident)).first()
    else:
        named = list(models.filter(name=ident, removed_at__isnull=True)[:2])
        if len(named) > 1:
            raise ValidationFailed(
                f"Several models are named {ident!r}; pass the model's id.",
                details={"model": [m.pk for m in models.filter(name=ident)]},
                code="ambiguous",
            )
        model = named[0] if named else None
    if model is None:
        raise NotFound(f"No registered model {ident!r}.")
    return model


def gate_report(*, user: Any, model: str, version: str, target: str) -> dict[str, Any]:
    """The CD gate's answer (`GET /api/v1/promotions/gate`) for a model given by id or name, a version number
    and a target: `gate_answer`, the facts it rests on, and the policy's gates evaluated now."""
    found = model_by_id_or_name(user=user, ident=model)
    candidate = model_version_list(user=user).filter(model=found, version=version).first()
    if candidate is None:
        raise NotFound(f"{found.name} has no version {version!r}.")
    answer = gate_answer(model=found, version=candidate, target=target)
    gates = []
    if answer.policy is not None:
        evidence = candidate_for(version=candidate, target=target)
        gates = [g.as_dict() for g in policies.evaluate_gates(answer.policy.as_rules(), evidence)]
    open_request = answer.open_request
    return {
        "allowed": answer.allowed,
        "reasons": list(answer.reasons),
        "model": {"id": found.pk, "name": found.name},
        "version": candidate.version,
        "target": target,
        "policy": answer.policy.name if answer.policy else None,
        "approved_version": answer.approved_version,
        "mlflow_version": answer.mlflow_holder,
        "applied_request": answer.applied_request.pk if answer.applied_request else None,
        "open_request": (
            {
                "id": open_request.pk,
                "state": open_request.state,
                "approvals": open_request.approvals,
                "approvals_required": open_request.approvals_required,
            }
            if open_request
            else None
        ),
        "open_drift_finding": answer.open_drift.pk if answer.open_drift else None,
        "gates": gates,
    }


# --- alias history ---


def alias_history_list(*, model: RegisteredModel, alias: str | None = None) -> QuerySet[AliasChange]:
    qs = AliasChange.objects.filter(model=model).select_related("version", "request")
    return qs.filter(alias=alias) if alias else qs


def alias_change_at(*, model: RegisteredModel, alias: str, at: datetime) -> AliasChange | None:
    """The entry in force at `at`: the latest that started at or before it."""
    return (
        AliasChange.objects.filter(model=model, alias=alias, started_at__lte=at)
        .select_related("version", "request")
        .order_by("-started_at", "-id")
        .first()
    )


def approved_change(*, model_id: int, alias: str) -> AliasChange | None:
    """The last approved entry (a promotion, a revert or an accepted drift): where the alias should point."""
    return (
        AliasChange.objects.filter(model_id=model_id, alias=alias)
        .exclude(source=AliasSource.OBSERVED)
        .select_related("request")
        .order_by("-started_at", "-id")
        .first()
    )


# --- drift ---


def drift_finding_list(*, user: Any) -> QuerySet[DriftFinding]:
    return DriftFinding.objects.select_related(
        "model__project__team", "expected_version", "observed_version", "policy", "sync_run"
    )


def model_governance(*, model: RegisteredModel) -> dict[str, Any]:
    """What the model page shows about governance: open requests, open drift, recent alias history."""
    return {
        "open_requests": list(
            PromotionRequest.objects.filter(model=model, state__in=policies.OPEN_STATES)
            .select_related("version", "requested_by")
            .order_by("-id")[:20]
        ),
        "drift": list(
            DriftFinding.objects.filter(model=model, status=DriftStatus.OPEN).select_related("policy").order_by("alias")
        ),
        "history": list(
            AliasChange.objects.filter(model=model).select_related("request").order_by("-started_at", "-id")[:10]
        ),
    }


# --- outbound webhooks ---


def webhook_endpoint_list(*, user: Any) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.all()


def outbound_delivery_list(*, user: Any) -> QuerySet[OutboundDelivery]:
    return OutboundDelivery.objects.select_related("endpoint")
