from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from mlgov.audit.exports import audit_export_response
from mlgov.audit.filters import AuditEventFilterSet
from mlgov.audit.selectors import audit_event_list
from mlgov.pages import paginate, query_without


@login_required
def audit_log(request):
    """The audit log with filters, paging and CSV / JSON Lines export."""
    params = request.GET.copy()
    for name in ("page", "export"):
        params.pop(name, None)
    fs = AuditEventFilterSet(params, queryset=audit_event_list(user=request.user))
    if not fs.is_valid():
        return render(request, "audit/log.html", {"filter": fs, "page": None}, status=400)
    qs = fs.qs.order_by("-seq")
    export = request.GET.get("export")
    if export in ("csv", "jsonl"):
        return audit_export_response(fs.qs, export)
    return render(
        request,
        "audit/log.html",
        {
            "filter": fs,
            "page": paginate(request, qs),
            "query": query_without(request, "page", "export"),
        },
    )
