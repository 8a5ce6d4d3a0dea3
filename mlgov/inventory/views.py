"""Inventory pages: teams, a team, a project, a model."""

from django.contrib.auth.decorators import login_required
from django.db.models import Count, F, Max, Q
from django.shortcuts import get_object_or_404, redirect, render

from mlgov.accounts.selectors import membership_list, user_can_manage_team
from mlgov.inventory import hooks, selectors
from mlgov.inventory.choices import Lifecycle, RiskTier
from mlgov.inventory.serializers import ModelVersionDetailSerializer
from mlgov.pages import csv_response, paginate, query_without


@login_required
def home(request):
    return redirect("team-list")


@login_required
def team_list_page(request):
    # An aggregate drops Meta.ordering, so order explicitly for stable pages.
    qs = selectors.team_list(user=request.user).order_by("slug")
    query = request.GET.get("q", "").strip()
    if query:
        qs = qs.filter(Q(name__icontains=query) | Q(slug__icontains=query))
    if request.GET.get("export") == "csv":
        return csv_response("teams.csv", ["slug", "name", "projects"], qs, lambda t: [t.slug, t.name, t.project_count])
    return render(
        request,
        "inventory/team_list.html",
        {
            "page": paginate(request, qs),
            "q": query,
            "query": query_without(request, "page", "export"),
        },
    )


@login_required
def team_page(request, slug):
    team = get_object_or_404(selectors.team_list(user=request.user), slug=slug)
    projects = (
        selectors.project_list(user=request.user)
        .filter(team=team)
        .annotate(model_count=Count("models", distinct=True))
        .order_by("slug")
    )
    lifecycle, tier = request.GET.get("lifecycle", ""), request.GET.get("risk_tier", "")
    if lifecycle in Lifecycle.values:
        projects = projects.filter(lifecycle=lifecycle)
    if tier.isdigit() and int(tier) in RiskTier.values:
        projects = projects.filter(risk_tier=int(tier))
    if request.GET.get("export") == "csv":
        return csv_response(
            f"{team.slug}-projects.csv",
            ["slug", "name", "risk_tier", "lifecycle", "models"],
            projects,
            lambda p: [p.slug, p.name, p.risk_tier, p.lifecycle, p.model_count],
        )
    return render(
        request,
        "inventory/team_detail.html",
        {
            "team": team,
            "page": paginate(request, projects),
            "members": membership_list(team_id=team.pk),
            "can_manage": user_can_manage_team(request.user, team.pk),
            "lifecycles": Lifecycle.choices,
            "tiers": RiskTier.choices,
            "lifecycle": lifecycle,
            "risk_tier": tier,
            "query": query_without(request, "page", "export"),
        },
    )


@login_required
def project_page(request, slug):
    project = get_object_or_404(selectors.project_list(user=request.user), slug=slug)
    models = (
        selectors.registered_model_list(user=request.user)
        .filter(project=project)
        .annotate(version_count=Count("versions"), latest=Max("versions__registered_at"))
        .order_by("name")
    )
    versions = selectors.model_version_list(user=request.user).filter(model__project=project)[:20]
    return render(
        request,
        "inventory/project_detail.html",
        {
            "project": project,
            "models": models,
            "versions": versions,
            "datasets": selectors.dataset_list(user=request.user).filter(project=project)[:50],
            "pipelines": selectors.pipeline_list(user=request.user).filter(project=project)[:50],
            "can_manage": user_can_manage_team(request.user, project.team_id),
        },
    )


@login_required
def model_page(request, pk):
    model = get_object_or_404(selectors.registered_model_list(user=request.user), pk=pk)
    # Newest registration first (sync order is not registration order); id breaks ties.
    versions = (
        selectors.model_version_list(user=request.user)
        .filter(model=model)
        .order_by(F("registered_at").desc(nulls_last=True), "-id")
    )
    status = request.GET.get("status", "")
    if status:
        versions = versions.filter(status=status)
    if request.GET.get("export") == "csv":
        return csv_response(
            f"{model.name}-versions.csv",
            ["version", "status", "aliases", "run_id", "git_commit", "source"],
            versions,
            lambda v: [
                v.version,
                v.status,
                " ".join(a.alias for a in v.aliases.all()),
                v.run_id,
                v.git_commit,
                v.source,
            ],
        )
    return render(
        request,
        "inventory/model_detail.html",
        {
            "model": model,
            "sections": hooks.model_page_sections(model, request.user),
            "page": paginate(request, versions),
            "status": status,
            "query": query_without(request, "page", "export"),
        },
    )


@login_required
def model_version_page(request, pk):
    """A version: its source run's params and metrics, dataset inputs, commit, aliases and sync history."""
    from mlgov.inventory.lineage_views import lineage_context  # lineage_views imports this module's helpers

    version = get_object_or_404(selectors.model_version_detail(user=request.user), pk=pk)
    data = ModelVersionDetailSerializer(version).data
    lineage = lineage_context(request, kind="modelversion", ident=str(pk), direction="upstream")
    return render(request, "inventory/model_version_detail.html", {"v": version, "data": data, **lineage})


@login_required
def pipeline_page(request, pk):
    """A pipeline: its triggers, its jobs, and its recent runs with their pass rate."""
    pipeline = get_object_or_404(selectors.pipeline_list(user=request.user), pk=pk)
    runs = list(selectors.pipeline_run_list(user=request.user).filter(pipeline=pipeline).order_by("-id")[:50])
    finished = [r for r in runs if r.status in ("success", "failure")]
    pass_rate = sum(r.status == "success" for r in finished) / len(finished) if finished else None
    return render(
        request,
        "inventory/pipeline_detail.html",
        {"pipeline": pipeline, "runs": runs, "pass_rate": pass_rate, "finished": len(finished)},
    )
