"""Repository pages: the list (filters, CSV) and one repository with its evidence and "Sync now"."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from integrations import git_selectors
from integrations.git_filters import GitRepositoryFilterSet
from integrations.git_sync import git_sync_request
from integrations.permissions import user_can_trigger_sync
from mlgov.pages import csv_response, paginate, query_without


@login_required
def repository_list_page(request):
    params = request.GET.copy()
    for name in ("page", "export"):
        params.pop(name, None)
    fs = GitRepositoryFilterSet(params, queryset=git_selectors.git_repository_list(user=request.user))
    if not fs.is_valid():
        return render(request, "integrations/repository_list.html", {"filter": fs, "page": None}, status=400)
    qs = fs.qs.order_by("name")
    if request.GET.get("export") == "csv":
        return csv_response(
            "repositories.csv",
            ["name", "url", "branch", "subdirectory", "project", "team", "enabled", "head_sha", "scanned_at"],
            qs,
            lambda r: [
                r.name,
                r.url,
                r.branch,
                r.subdirectory,
                r.project.slug if r.project else "",
                r.project.team.slug if r.project else "",
                r.enabled,
                r.head_sha,
                r.scanned_at.isoformat() if r.scanned_at else "",
            ],
        )
    return render(
        request,
        "integrations/repository_list.html",
        {"filter": fs, "page": paginate(request, qs), "query": query_without(request, "page", "export")},
    )


@login_required
def repository_page(request, name):
    repository = get_object_or_404(git_selectors.git_repository_detail(user=request.user), name=name)
    context = git_selectors.repository_evidence(repository=repository)
    context.update(repository=repository, can_sync=user_can_trigger_sync(request.user))
    return render(request, "integrations/repository_detail.html", context)


@login_required
@require_POST
def repository_sync_now(request, name):
    if not user_can_trigger_sync(request.user):
        raise PermissionDenied("Only admins, managers and team maintainers may start a sync.")
    repository = get_object_or_404(git_selectors.git_repository_list(user=request.user), name=name)
    run = git_sync_request(repository=repository, triggered_by=request.user.get_username())
    messages.success(request, f"Sync #{run.pk} of {repository.name} queued.")
    return redirect("sync-run-detail", pk=run.pk)
