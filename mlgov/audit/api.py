from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action

from mlgov.audit.exports import audit_export_response
from mlgov.audit.filters import AuditEventFilterSet
from mlgov.audit.selectors import audit_event_list
from mlgov.audit.serializers import AuditEventSerializer


class AuditEventViewSet(viewsets.ReadOnlyModelViewSet):
    """The audit trail. Managers, reviewers and admins see every event; others see their own."""

    serializer_class = AuditEventSerializer
    filterset_class = AuditEventFilterSet
    search_fields = ("target_repr", "actor_name", "action")
    ordering_fields = ("seq", "timestamp")
    ordering = "-seq"

    def get_queryset(self):
        return audit_event_list(user=self.request.user)

    @extend_schema(responses={200: OpenApiResponse(description="CSV or JSON Lines stream")})
    @action(detail=False, methods=["get"], url_path=r"export/(?P<fmt>csv|jsonl)", pagination_class=None)
    def export(self, request, fmt: str):
        return audit_export_response(self.filter_queryset(self.get_queryset()), fmt)
