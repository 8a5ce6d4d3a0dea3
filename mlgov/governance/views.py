"""Pages for reviewers and managers: the review queue, a request, a new request, the governance dashboard,
drift findings and policies. Writes go through the services; a refused action is shown as a message."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from mlgov.accounts.constants import REVIEWERS
from mlgov.accounts.selectors import user_group_names, user_is_manager
from mlgov.context import acting
from mlgov.errors import DomainError
from mlgov.governance import policies, selectors, services
from mlgov.governance.choices import DriftStatus
from mlgov.governance.choices import PromotionState as State
from mlgov.governance.models import DriftFinding, PromotionRequest
from mlgov.inventory.lineage_selectors import lineage_summary
from mlgov.inventory.models import Team
from mlgov.inventory.selectors import model_version_list, registered_model_list
from mlgov.pages import csv_response, paginate, query_without, record_denial

VIEWS = ("queue", "mine", "all")


def _filtered(request: HttpRequest, qs):
    state, target, team, project, q = (
        request.GET.get(k, "").strip() for k in ("state", "target", "team", "project", "q")
    )
    if state in State.values:
        qs = qs.filter(state=state)
    if target:
        qs = qs.filter(target=target)
    if team:
        qs = qs.filter(model__project__team__slug=team)
    if project:
        qs = qs.filter(model__project__slug=project)
    if q:
        qs = qs.filter(Q(model__name__icontains=q) | Q(justification__icontains=q))
    return qs, {"state": state, "target": target, "team": team, "project": project, "q": q}


@login_required
def queue_page(request: HttpRequest) -> HttpResponse:
    """The review queue (the pending requests I may act on), my requests, or all of them; filterable."""
    reviewer = REVIEWERS in user_group_names(request.user)
    view = request.GET.get("view") or ("queue" if reviewer else "mine")
    if view not in VIEWS:
        view = "all"
    if view == "queue":
        qs = selectors.review_queue(user=request.user)
    elif view == "mine":
        qs = selectors.promotion_list(user=request.user).filter(requested_by=request.user)
    else:
        qs = selectors.promotion_list(user=request.user)
    qs, chosen = _filtered(request, qs.order_by("-id"))
    if request.GET.get("export") == "csv":
        return csv_response(
            f"promotions-{view}.csv",
            [
                "id",
                "model",
                "version",
                "target",
                "state",
                "requested_by",
                "approvals",
                "required",
                "gates_passed",
                "created_at",
            ],
            qs,
            lambda r: [
                r.pk,
                r.model.name,
                r.version.version,
                r.target,
                r.state,
                r.requested_by.username,
                r.approvals,
                r.approvals_required,
                r.gates_passed,
                r.created_at.isoformat(),
            ],
        )
    return render(
        request,
        "governance/queue.html",
        {
            "page": paginate(request, qs),
            "view": view,
            "views": VIEWS,
            "states": State.choices,
            "targets": selectors.policy_targets(),
            "teams": Team.objects.order_by("slug"),
            "chosen": chosen,
            "query": query_without(request, "page", "export"),
        },
    )


def _metric_rows(candidate: policies.Candidate, gate_names: set[str]) -> list[dict[str, Any]]:
    holder = candidate.holder.metrics if candidate.holder else {}
    keys = sorted(set(candidate.metrics) | set(holder), key=lambda k: (k not in gate_names, k))
    rows = []
    for key in keys:
        new, old = candidate.metrics.get(key), holder.get(key)
        delta = None
        if isinstance(new, int | float) and isinstance(old, int | float):
            delta = new - old
        rows.append({"name": key, "candidate": new, "holder": old, "delta": delta, "gated": key in gate_names})
    return rows


@login_required
def promotion_page(request: HttpRequest, pk: int) -> HttpResponse:
    """A request: gates and their evidence, metrics beside the current holder's, lineage, maturity, history."""
    req = get_object_or_404(selectors.promotion_detail(user=request.user), pk=pk)
    candidate = selectors.candidate_for(version=req.version, target=req.target)
    rules = req.policy.as_rules()
    if req.state == State.PENDING:
        gates = [g.as_dict() for g in policies.evaluate_gates(rules, candidate, selectors.waivers_for(req))]
    else:
        gates = req.gates  # what was decided on
    gate_names = (
        {n.key for n in policies.expression_names(policies.parse_expression(rules.metric_gate))}
        if rules.metric_gate.strip()
        else set()
    )
    gate_names |= {m for m, _ in rules.no_regression}
    refusals = selectors.review_refusals(request=req, user=request.user)
    user = request.user
    is_requester = user.pk == req.requested_by_id
    may_manage = selectors.user_may_manage_request(user, req)
    run = req.version.training_run
    return render(
        request,
        "governance/request_detail.html",
        {
            "r": req,
            "policy": req.policy,
            "gates": gates,
            "blocking": [g for g in gates if g["status"] == "fail"],
            "candidate": candidate,
            "metrics": _metric_rows(candidate, gate_names),
            "run": run,
            "refusals": refusals,
            "can_review": not refusals,
            "can_cancel": may_manage and req.state in (State.PENDING, State.APPROVED, State.FAILED),
            "can_retry": req.state == State.FAILED and (may_manage or user_is_manager(user)),
            "can_waive": req.state == State.PENDING and user_is_manager(user) and not is_requester,
            "can_rollback": req.state == State.APPLIED and req.previous_version_id is not None,
            "history": selectors.promotion_history(request=req),
            "lineage": lineage_summary(user=request.user, version=req.version),
            "alias_history": selectors.alias_history_list(model=req.model, alias=req.target)[:10],
        },
    )


def _act(request: HttpRequest, pk: int, action: Callable[[PromotionRequest], Any], done: str) -> HttpResponse:
    req = get_object_or_404(selectors.promotion_list(user=request.user), pk=pk)
    try:
        with acting(source="web"):
            result = action(req)
    except DomainError as exc:
        record_denial(request, exc)
        messages.error(request, exc.message)
        return redirect("promotion-detail", pk=pk)
    messages.success(request, done)
    target = result.pk if isinstance(result, PromotionRequest) else pk
    return redirect("promotion-detail", pk=target)


@login_required
@require_POST
def promotion_action(request: HttpRequest, pk: int, verb: str) -> HttpResponse:
    comment = request.POST.get("comment", "")
    user = request.user
    actions: dict[str, tuple[Callable[[PromotionRequest], Any], str]] = {
        "approve": (lambda r: services.promotion_approve(request=r, reviewer=user, comment=comment), "Approved."),
        "reject": (lambda r: services.promotion_reject(request=r, reviewer=user, comment=comment), "Rejected."),
        "cancel": (lambda r: services.promotion_cancel(request=r, actor=user, reason=comment), "Cancelled."),
        "retry": (lambda r: services.promotion_retry(request=r, actor=user), "Queued to be applied again."),
        "waive": (
            lambda r: services.promotion_gate_waive(
                request=r, manager=user, gate=request.POST.get("gate", ""), reason=comment
            ),
            "Gate waived.",
        ),
        "rollback": (
            lambda r: services.promotion_rollback_request(actor=user, request=r, justification=comment),
            "Rollback requested: it goes through review like any promotion.",
        ),
    }
    if verb not in actions:
        messages.error(request, f"Unknown action {verb!r}.")
        return redirect("promotion-detail", pk=pk)
    action, done = actions[verb]
    return _act(request, pk, action, done)


@login_required
def promotion_new_page(request: HttpRequest) -> HttpResponse:
    """Ask for a promotion: a version of a model, a target that has a policy, a justification."""
    source = request.POST if request.method == "POST" else request.GET
    version = None
    if source.get("version", "").isdigit():
        version = model_version_list(user=request.user).filter(pk=int(source["version"])).first()
    model = version.model if version else None
    if model is None and source.get("model", "").isdigit():
        model = registered_model_list(user=request.user).filter(pk=int(source["model"])).first()
    if request.method == "POST" and version is not None:
        try:
            with acting(source="web"):
                req = services.promotion_request_create(
                    actor=request.user,
                    version=version,
                    target=request.POST.get("target", ""),
                    justification=request.POST.get("justification", ""),
                )
        except DomainError as exc:
            record_denial(request, exc)
            messages.error(request, exc.message)
        else:
            messages.success(request, f"Request #{req.pk} created; the eligible reviewers were notified.")
            return redirect("promotion-detail", pk=req.pk)
    elif request.method == "POST":
        messages.error(request, "Choose a model version.")
    versions = (
        model_version_list(user=request.user).filter(model=model, removed_at__isnull=True).order_by("-id")[:200]
        if model
        else []
    )
    return render(
        request,
        "governance/request_new.html",
        {
            "model": model,
            "version": version,
            "versions": versions,
            "targets": selectors.policy_targets(),
            "target": source.get("target", ""),
            "justification": source.get("justification", ""),
        },
    )


@login_required
def dashboard_page(request: HttpRequest) -> HttpResponse:
    """Governance at a glance: the queue, requests by state, open drift findings, recent promotions."""
    requests = selectors.promotion_list(user=request.user)
    counts = dict(requests.values_list("state").annotate(n=Count("id")).order_by())
    pending_by_target = list(
        requests.filter(state=State.PENDING).values("target").annotate(n=Count("id")).order_by("-n", "target")[:10]
    )
    return render(
        request,
        "governance/dashboard.html",
        {
            "counts": [(value, label, counts.get(value, 0)) for value, label in State.choices],
            "queue_count": selectors.review_queue(user=request.user).count(),
            "pending_by_target": pending_by_target,
            "drift": selectors.drift_finding_list(user=request.user).filter(status=DriftStatus.OPEN)[:50],
            "recent": requests.filter(state=State.APPLIED).order_by("-applied_at")[:10],
            "failed": requests.filter(state=State.FAILED).order_by("-id")[:10],
        },
    )


@login_required
def drift_page(request: HttpRequest) -> HttpResponse:
    qs = selectors.drift_finding_list(user=request.user).order_by("-detected_at", "-id")
    status, alias, team, model = (request.GET.get(k, "").strip() for k in ("status", "alias", "team", "model"))
    status = status or ("open" if "status" not in request.GET else "")
    if status in DriftStatus.values:
        qs = qs.filter(status=status)
    if alias:
        qs = qs.filter(alias=alias)
    if team:
        qs = qs.filter(model__project__team__slug=team)
    if model.isdigit():
        qs = qs.filter(model_id=int(model))
    if request.GET.get("export") == "csv":
        return csv_response(
            "drift-findings.csv",
            ["id", "model", "alias", "mlflow_version", "approved_version", "status", "detected_at", "resolution"],
            qs,
            lambda f: [
                f.pk,
                f.model.name,
                f.alias,
                f.observed_number,
                f.expected_number,
                f.status,
                f.detected_at.isoformat(),
                f.resolution,
            ],
        )
    return render(
        request,
        "governance/drift_list.html",
        {
            "page": paginate(request, qs),
            "statuses": DriftStatus.choices,
            "teams": Team.objects.order_by("slug"),
            "chosen": {"status": status, "alias": alias, "team": team, "model": model},
            "can_accept": user_is_manager(request.user),
            "query": query_without(request, "page", "export"),
        },
    )


@login_required
@require_POST
def drift_accept_action(request: HttpRequest, pk: int) -> HttpResponse:
    finding = get_object_or_404(DriftFinding, pk=pk)
    try:
        with acting(source="web"):
            services.drift_accept(finding=finding, actor=request.user, note=request.POST.get("note", ""))
    except DomainError as exc:
        record_denial(request, exc)
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Accepted: v{finding.observed_number or '(none)'} is the approved {finding.alias}.")
    return redirect("drift-list")


@login_required
def policies_page(request: HttpRequest) -> HttpResponse:
    qs = selectors.policy_list(user=request.user).order_by("target", "name")
    if request.GET.get("export") == "csv":
        return csv_response(
            "promotion-policies.csv",
            ["name", "target", "scope", "approvals", "approver_team", "independence", "gates", "enabled"],
            qs,
            lambda p: [
                p.name,
                p.target,
                p.scope,
                p.approvals_required,
                p.approver_team.slug if p.approver_team else "",
                p.independence,
                " ".join(p.as_rules().gates),
                p.enabled,
            ],
        )
    return render(
        request,
        "governance/policies.html",
        {"page": paginate(request, qs), "query": query_without(request, "page", "export")},
    )
