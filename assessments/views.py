"""Scorecard pages: the organisation dashboard, a team's maturity, a project's scorecard (with attest, waive,
verify, revoke and "score now"), attestations, waivers, goals and scoring runs. Filters are the API's
allow-listed filter sets; every list pages and exports CSV."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from assessments import charts, filters, selectors, services
from assessments.choices import ScoringStatus, ScoringTrigger
from assessments.models import Attestation, AttestationRule, MaturityGoal, Waiver
from assessments.rollups import (
    distribution_by_team,
    level_counts,
    mean_level,
    movers,
    team_dimension_means,
    trend,
)
from assessments.rubric import Rubric, RubricError, available_rubrics, get_rubric
from mlgov.accounts.selectors import user_can_manage_team, user_is_manager, user_is_reviewer
from mlgov.errors import DomainError, PermissionDenied, ValidationFailed
from mlgov.inventory.choices import Lifecycle, RiskTier
from mlgov.inventory.models import Project, Team
from mlgov.pages import csv_response, paginate, query_without, record_denial

TREND_DAYS = 180
_PERIODS = {"7": 7, "30": 30, "90": 90, "180": 180, "365": 365}


def _rubric(request: HttpRequest) -> Rubric | None:
    try:
        return get_rubric(request.GET.get("rubric") or settings.MLGOV_RUBRIC)
    except RubricError:
        return None


def _bad_request(request: HttpRequest, message: str) -> HttpResponse:
    return render(request, "assessments/bad_request.html", {"message": message}, status=400)


def _scorecard_csv(filename: str, rows, rubric: Rubric) -> HttpResponse:
    dims = [d.id for d in rubric.dimensions]
    return csv_response(
        filename,
        ["project", "name", "team", "risk_tier", "lifecycle", "rubric", "level", *dims, "computed_at"],
        rows,
        lambda r: [
            r.slug,
            r.name,
            r.team_slug,
            r.risk_tier,
            r.lifecycle,
            rubric.id,
            r.level,
            *(r.dimensions.get(d, "") for d in dims),
            r.computed_at.isoformat(),
        ],
    )


def _filtered(request: HttpRequest, rubric: Rubric, **base: Any) -> filters.ScorecardFilterSet:
    params = request.GET.copy()
    for name in ("page", "export", "since"):
        params.pop(name, None)
    qs = selectors.latest_assessments(user=request.user, rubric_id=rubric.id).filter(**base)
    return filters.ScorecardFilterSet(params, queryset=qs)


def _common(rubric: Rubric) -> dict[str, Any]:
    return {
        "rubric": rubric,
        "rubrics": list(available_rubrics().values()),
        "levels": [(lv.level, lv.name) for lv in rubric.levels],
        "lifecycles": Lifecycle.choices,
        "tiers": RiskTier.choices,
        "dimensions": [(d.id, d.name) for d in rubric.dimensions],
        "teams": Team.objects.order_by("name").values_list("slug", "name"),
    }


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    """The organisation's maturity: levels by team, team x dimension, trend, movers, goals, every scorecard."""
    rubric = _rubric(request)
    if rubric is None:
        return _bad_request(request, f"Unknown rubric. Available: {', '.join(available_rubrics())}.")
    since_raw = request.GET.get("since", "30")
    if since_raw not in _PERIODS:
        return _bad_request(request, f"since must be one of {', '.join(_PERIODS)} (days).")
    fs = _filtered(request, rubric)
    if not fs.is_valid():
        return render(request, "assessments/dashboard.html", {**_common(rubric), "filter": fs}, status=400)
    rows = selectors.project_rows(fs.qs)
    if request.GET.get("export") == "csv":
        return _scorecard_csv("scorecards.csv", rows, rubric)
    now = timezone.now()
    history = selectors.level_history(latest=fs.qs, rubric_id=rubric.id)
    up, down = movers(rows, history, since=now - timedelta(days=_PERIODS[since_raw]))
    figures = {
        "levels": charts.level_distribution(
            distribution_by_team(rows, rubric.level_numbers),
            rubric.level_numbers,
            {lv.level: lv.name for lv in rubric.levels},
        ),
        "heatmap": charts.team_dimension_heatmap(
            team_dimension_means(rows, [d.id for d in rubric.dimensions]),
            [(d.id, d.name) for d in rubric.dimensions],
            rubric.top,
        ),
        "trend": charts.level_trend(trend(history, end=now, days=TREND_DAYS), rubric.top),
    }
    goals = selectors.goals_progress(
        goals=selectors.goal_list(user=request.user).filter(rubric_id=rubric.id), today=now.date()
    )
    return render(
        request,
        "assessments/dashboard.html",
        {
            **_common(rubric),
            "filter": fs,
            "figures": figures,
            "counts": level_counts(rows, rubric.level_numbers),
            "mean": mean_level(rows),
            "assessed": len(rows),
            "projects_total": Project.objects.count(),
            "up": up,
            "down": down,
            "since": since_raw,
            "periods": list(_PERIODS),
            "goals": goals,
            "page": paginate(request, rows),
            "query": query_without(request, "page", "export"),
            "can_score_all": user_is_manager(request.user),
            "last_run": selectors.scoring_run_list(user=request.user).filter(rubric_id=rubric.id).first(),
        },
    )


@login_required
def team_page(request: HttpRequest, slug: str) -> HttpResponse:
    """A team: each project's level and dimensions, the team's trend."""
    rubric = _rubric(request)
    if rubric is None:
        return _bad_request(request, f"Unknown rubric. Available: {', '.join(available_rubrics())}.")
    team = get_object_or_404(Team, slug=slug)
    fs = _filtered(request, rubric, project__team=team)
    if not fs.is_valid():
        return render(request, "assessments/team.html", {**_common(rubric), "team": team, "filter": fs}, status=400)
    rows = selectors.project_rows(fs.qs)
    if request.GET.get("export") == "csv":
        return _scorecard_csv(f"{team.slug}-scorecards.csv", rows, rubric)
    now = timezone.now()
    history = selectors.level_history(latest=fs.qs, rubric_id=rubric.id)
    figures = {"trend": charts.level_trend(trend(history, end=now, days=TREND_DAYS), rubric.top, title="Team trend")}
    unassessed = Project.objects.filter(team=team).exclude(pk__in=[r.project_id for r in rows]).order_by("slug")
    return render(
        request,
        "assessments/team.html",
        {
            **_common(rubric),
            "team": team,
            "filter": fs,
            "figures": figures,
            "counts": level_counts(rows, rubric.level_numbers),
            "mean": mean_level(rows),
            "page": paginate(request, rows),
            "unassessed": unassessed,
            "query": query_without(request, "page", "export"),
        },
    )


def _grouped(scorecard: dict[str, Any], rubric: Rubric) -> list[dict[str, Any]]:
    """The checklist (from `scorecard_detail`) grouped by level."""
    by_level: dict[int, list[dict[str, Any]]] = {}
    for dim in scorecard.get("dimensions", []):
        for c in dim["criteria"]:
            by_level.setdefault(c["level"], []).append(c)
    return [
        {
            "level": lv,
            "name": rubric.level_name(lv),
            "criteria": by_level.get(lv, []),
            "passing": all(c["status"] in ("met", "attested", "waived") for c in by_level.get(lv, [])),
        }
        for lv in rubric.level_numbers[1:]
    ]


def _scorecard_page(request: HttpRequest, project: Project, *, error: str = "", status: int = 200) -> HttpResponse:
    rubric = _rubric(request) or get_rubric(settings.MLGOV_RUBRIC)
    assessment = selectors.project_latest_assessment(project_id=project.pk, rubric_id=rubric.id)
    history = selectors.project_history(project_id=project.pk, rubric_id=rubric.id)
    figures = {}
    card = selectors.scorecard_detail(assessment) if assessment is not None else None
    if assessment is not None:
        dims = [(d["name"], d["level"]) for d in assessment.scorecard.get("dimensions", [])]
        figures["radar"] = charts.dimension_radar(dims, rubric.top)
        history_points = [(project.pk, a.computed_at, a.level) for a in history]
        figures["history"] = charts.level_trend(
            trend(history_points, end=timezone.now(), days=TREND_DAYS), rubric.top, title="Level over time"
        )
    pending_rules = set(
        AttestationRule.objects.filter(rubric_id=rubric.id, requires_verification=True).values_list(
            "criterion_id", flat=True
        )
    )
    return render(
        request,
        "assessments/scorecard.html",
        {
            "project": project,
            "rubric": rubric,
            "assessment": assessment,
            "card": card,
            "checklist": _grouped(card, rubric) if card else [],
            "figures": figures,
            "history": history[:25],
            "attestable": [c for c in rubric.criteria if c.attestable],
            "criteria": rubric.criteria,
            "can_attest": user_can_manage_team(request.user, project.team_id),
            "can_waive": user_is_manager(request.user),
            "can_verify": user_is_reviewer(request.user),
            "can_score": user_can_manage_team(request.user, project.team_id) or user_is_manager(request.user),
            "pending_rules": pending_rules,
            "waiver_max": (timezone.now() + timedelta(days=settings.MLGOV_WAIVER_MAX_DAYS)).date(),
            "today": timezone.now().date(),
            "error": error,
        },
        status=status,
    )


@login_required
def scorecard_page(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_object_or_404(Project.objects.select_related("team"), slug=slug)
    if _rubric(request) is None:
        return _bad_request(request, f"Unknown rubric. Available: {', '.join(available_rubrics())}.")
    return _scorecard_page(request, project)


def _after(request: HttpRequest, project: Project, call, success: str) -> HttpResponse:
    """Run a service for a form; on a domain error, show the scorecard again with the error and its status."""
    try:
        call()
    except DomainError as exc:
        record_denial(request, exc)
        return _scorecard_page(request, project, error=exc.message, status=exc.status_code)
    messages.success(request, success)
    return redirect("project-scorecard", slug=project.slug)


@login_required
@require_POST
def score_now(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_object_or_404(Project.objects.select_related("team"), slug=slug)

    def call():
        if not (user_can_manage_team(request.user, project.team_id) or user_is_manager(request.user)):
            raise PermissionDenied("Only the team's maintainers or a manager may rescore it.")
        services.projects_score(actor=request.user, trigger=ScoringTrigger.PAGE, project_ids=[project.pk])

    return _after(request, project, call, f"{project.name} was scored.")


@login_required
@require_POST
def attest(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_object_or_404(Project.objects.select_related("team"), slug=slug)
    return _after(
        request,
        project,
        lambda: services.attestation_create(
            actor=request.user,
            project=project,
            criterion_id=request.POST.get("criterion", ""),
            statement=request.POST.get("statement", ""),
            link=request.POST.get("link", ""),
        ),
        "Attested. The scorecard below counts it.",
    )


@login_required
@require_POST
def waive(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_object_or_404(Project.objects.select_related("team"), slug=slug)

    def call():
        try:
            expires = date.fromisoformat(request.POST.get("expires_at", ""))
        except ValueError:
            raise ValidationFailed("expires_at must be a date (YYYY-MM-DD).") from None
        services.waiver_grant(
            actor=request.user,
            project=project,
            criterion_id=request.POST.get("criterion", ""),
            justification=request.POST.get("justification", ""),
            expires_at=expires,
        )

    return _after(request, project, call, "Waiver granted.")


@login_required
@require_POST
def attestation_action(request: HttpRequest, pk: int, verb: str) -> HttpResponse:
    attestation = get_object_or_404(Attestation.objects.select_related("project__team"), pk=pk)
    if verb == "verify":
        call = lambda: services.attestation_verify(actor=request.user, attestation=attestation)  # noqa: E731
    else:
        reason = request.POST.get("reason", "")
        call = lambda: services.attestation_revoke(actor=request.user, attestation=attestation, reason=reason)  # noqa: E731
    return _after(request, attestation.project, call, f"Attestation {(verb == 'verify' and 'verified') or 'revoked'}.")


@login_required
@require_POST
def waiver_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    waiver = get_object_or_404(Waiver.objects.select_related("project__team"), pk=pk)
    reason = request.POST.get("reason", "")
    return _after(
        request,
        waiver.project,
        lambda: services.waiver_revoke(actor=request.user, waiver=waiver, reason=reason),
        "Waiver revoked.",
    )


def _list_page(request, template, filterset_class, qs, filename, header, row, extra=None):
    params = request.GET.copy()
    for name in ("page", "export"):
        params.pop(name, None)
    fs = filterset_class(params, queryset=qs)
    context = {"filter": fs, **(extra or {})}
    if not fs.is_valid():
        return render(request, template, {**context, "page": None}, status=400)
    if request.GET.get("export") == "csv":
        return csv_response(filename, header, fs.qs, row)
    return render(
        request,
        template,
        {**context, "page": paginate(request, fs.qs), "query": query_without(request, "page", "export")},
    )


def _iso(value) -> str:
    return value.isoformat() if value else ""


@login_required
def attestations_page(request: HttpRequest) -> HttpResponse:
    rules = set(AttestationRule.objects.filter(requires_verification=True).values_list("rubric_id", "criterion_id"))
    return _list_page(
        request,
        "assessments/attestations.html",
        filters.AttestationFilterSet,
        selectors.attestation_list(user=request.user).order_by("-created_at", "-id"),
        "attestations.csv",
        [
            "id",
            "project",
            "rubric",
            "criterion",
            "state",
            "statement",
            "link",
            "attested_by",
            "created_at",
            "expires_at",
            "verified_by",
            "revoked_at",
        ],
        lambda a: [
            a.pk,
            a.project.slug,
            a.rubric_id,
            a.criterion_id,
            a.state(requires_verification=(a.rubric_id, a.criterion_id) in rules),
            a.statement,
            a.link,
            a.attested_by_name,
            _iso(a.created_at),
            _iso(a.expires_at),
            a.verified_by_name,
            _iso(a.revoked_at),
        ],
        {"rules": rules, "now": timezone.now()},
    )


@login_required
def waivers_page(request: HttpRequest) -> HttpResponse:
    return _list_page(
        request,
        "assessments/waivers.html",
        filters.WaiverFilterSet,
        selectors.waiver_list(user=request.user).order_by("-created_at", "-id"),
        "waivers.csv",
        [
            "id",
            "project",
            "rubric",
            "criterion",
            "state",
            "justification",
            "granted_by",
            "created_at",
            "expires_at",
            "revoked_at",
        ],
        lambda w: [
            w.pk,
            w.project.slug,
            w.rubric_id,
            w.criterion_id,
            w.state(),
            w.justification,
            w.granted_by_name,
            _iso(w.created_at),
            _iso(w.expires_at),
            _iso(w.revoked_at),
        ],
        {"can_revoke": user_is_manager(request.user)},
    )


@login_required
def goals_page(request: HttpRequest) -> HttpResponse:
    rubric = get_rubric(settings.MLGOV_RUBRIC)
    status_code, error = 200, ""
    if request.method == "POST":
        try:
            if request.POST.get("delete"):
                goal = get_object_or_404(MaturityGoal, pk=request.POST["delete"])
                services.maturity_goal_delete(actor=request.user, goal=goal)
                messages.success(request, f"Goal “{goal.name}” removed.")
            else:
                services.maturity_goal_create(
                    actor=request.user,
                    name=request.POST.get("name", ""),
                    target_level=_int(request.POST.get("target_level"), "target_level"),
                    due_date=_date(request.POST.get("due_date"), "due_date"),
                    team=Team.objects.filter(slug=request.POST.get("team") or None).first(),
                    risk_tier=_int(request.POST.get("risk_tier"), "risk_tier")
                    if request.POST.get("risk_tier")
                    else None,
                    lifecycle=request.POST.get("lifecycle", ""),
                )
                messages.success(request, "Goal set.")
            return redirect("maturity-goals")
        except DomainError as exc:
            status_code, error = exc.status_code, exc.message
    goals = selectors.goal_list(user=request.user).order_by("due_date", "id")
    today = timezone.now().date()
    progress = {p.goal_id: p for p in selectors.goals_progress(goals=goals, today=today)}
    return render(
        request,
        "assessments/goals.html",
        {
            "goals": [(g, progress.get(g.pk)) for g in goals],
            "rubric": rubric,
            "levels": [(lv.level, lv.name) for lv in rubric.levels[1:]],
            "teams": Team.objects.order_by("name"),
            "tiers": RiskTier.choices,
            "lifecycles": Lifecycle.choices,
            "can_manage": user_is_manager(request.user),
            "error": error,
        },
        status=status_code,
    )


def _int(raw: str | None, name: str) -> int:
    if raw is None or not raw.strip().lstrip("-").isdigit():
        raise ValidationFailed(f"{name} must be an integer.", details={name: raw})
    return int(raw)


def _date(raw: str | None, name: str) -> date:
    try:
        return date.fromisoformat(raw or "")
    except ValueError:
        raise ValidationFailed(f"{name} must be a date (YYYY-MM-DD).", details={name: raw}) from None


@login_required
@require_POST
def score_all(request: HttpRequest) -> HttpResponse:
    if not user_is_manager(request.user):
        raise DjangoPermissionDenied("Only managers may score every project.")
    run = services.scoring_run_request(trigger=ScoringTrigger.PAGE, triggered_by=request.user)
    messages.success(request, f"Scoring run #{run.pk} queued.")
    return redirect("scoring-run-detail", pk=run.pk)


@login_required
def scoring_runs_page(request: HttpRequest) -> HttpResponse:
    return _list_page(
        request,
        "assessments/scoring_runs.html",
        filters.ScoringRunFilterSet,
        selectors.scoring_run_list(user=request.user).order_by("-id"),
        "scoring-runs.csv",
        [
            "id",
            "trigger",
            "triggered_by",
            "rubric",
            "status",
            "projects",
            "snapshots",
            "level_changes",
            "created_at",
            "finished_at",
        ],
        lambda r: [
            r.pk,
            r.trigger,
            r.triggered_by,
            r.rubric_id,
            r.status,
            r.counts.get("projects", ""),
            r.counts.get("snapshots", ""),
            r.counts.get("level_changes", ""),
            _iso(r.created_at),
            _iso(r.finished_at),
        ],
    )


@login_required
def scoring_run_page(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(selectors.scoring_run_list(user=request.user), pk=pk)
    live = run.status in (ScoringStatus.QUEUED, ScoringStatus.RUNNING)
    return render(request, "assessments/scoring_run.html", {"run": run, "live": live})
