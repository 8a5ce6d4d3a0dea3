"""Integration pages: connections with "Sync now", and sync runs with live progress."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from integrations import selectors
from integrations.choices import SyncStatus
from integrations.filters import SyncRunFilterSet
from integrations.permissions import user_can_trigger_sync
from integrations.sync import mlflow_sync_request
from mlgov.pages import paginate, query_without


@login_required
def connections_page(request):
    return render(
        request,
        "integrations/connections.html",
        {
            "connections": selectors.mlflow_connection_list(user=request.user),
            "can_sync": user_can_trigger_sync(request.user),
        },
    )


@login_required
@require_POST
def sync_now(request, name):
    if not user_can_trigger_sync(request.user):
        raise PermissionDenied("Only admins, managers and team maintainers may start a sync.")
    connection = get_object_or_404(selectors.mlflow_connection_list(user=request.user), name=name)
    run = mlflow_sync_request(connection=connection, triggered_by=request.user.get_username())
    messages.success(request, f"Sync #{run.pk} of {connection.name} queued.")
    return redirect("sync-run-detail", pk=run.pk)


@login_required
def sync_runs_page(request):
    fs = SyncRunFilterSet(query_params(request), queryset=selectors.sync_run_list(user=request.user))
    if not fs.is_valid():
        return render(request, "integrations/sync_runs.html", {"filter": fs, "page": None}, status=400)
    return render(
        request,
        "integrations/sync_runs.html",
        {
            "filter": fs,
            "page": paginate(request, fs.qs.order_by("-id")),
            "query": query_without(request, "page"),
        },
    )


@login_required
def sync_run_page(request, pk):
    run = get_object_or_404(selectors.sync_run_list(user=request.user), pk=pk)
    live = run.status in (SyncStatus.QUEUED, SyncStatus.RUNNING)
    return render(request, "integrations/sync_run_detail.html", {"run": run, "live": live})


def query_params(request):
    params = request.GET.copy()
    params.pop("page", None)
    return params
