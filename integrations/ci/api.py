"""The CI API: CI sources (admins manage them; `POST …/<name>/poll` queues a poll) and webhook deliveries."""

from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from integrations.ci import selectors
from integrations.ci.filters import CiSourceFilterSet, WebhookDeliveryFilterSet
from integrations.ci.serializers import (
    CiSourceSerializer,
    WebhookDeliveryDetailSerializer,
    WebhookDeliverySerializer,
)
from integrations.ci.services import ci_source_delete, ci_source_poll_request, ci_source_upsert
from integrations.permissions import CanTriggerSync
from integrations.serializers import SyncRunSerializer
from mlgov.accounts.permissions import AdminOnlyWrites, IsOrgUser
from mlgov.accounts.selectors import user_is_admin


class AdminOnly(IsOrgUser):
    message = "Only admins may see webhook deliveries."

    def has_permission(self, request, view) -> bool:
        return super().has_permission(request, view) and user_is_admin(request.user)


class CiSourceViewSet(viewsets.ModelViewSet):
    """CI systems polled for runs. Admins add, change and remove them; `POST …/<name>/poll` queues a poll."""

    lookup_field = "name"
    serializer_class = CiSourceSerializer
    permission_classes = [AdminOnlyWrites]
    filterset_class = CiSourceFilterSet
    search_fields = ("name", "target", "base_url")
    ordering_fields = ("name", "id")
    ordering = "name"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return selectors.ci_source_list(user=self.request.user)

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        serializer.instance, _ = ci_source_upsert(actor=self.request.user, name=data.pop("name"), **data)

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        data.pop("name", None)
        serializer.instance, _ = ci_source_upsert(actor=self.request.user, name=serializer.instance.name, **data)

    def perform_destroy(self, instance):
        ci_source_delete(actor=self.request.user, source=instance)

    @extend_schema(request=None, responses={202: SyncRunSerializer})
    @action(detail=True, methods=["post"], permission_classes=[CanTriggerSync], pagination_class=None)
    def poll(self, request, name=None):
        run = ci_source_poll_request(source=self.get_object(), triggered_by=request.user.get_username())
        run.refresh_from_db()
        return Response(SyncRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class WebhookDeliveryViewSet(viewsets.ReadOnlyModelViewSet):
    """Every CI webhook delivery mlgov accepted, with its processing status. Admins only (payloads are raw)."""

    permission_classes = [AdminOnly]
    filterset_class = WebhookDeliveryFilterSet
    search_fields = ("delivery_key", "event")
    ordering_fields = ("id", "received_at")
    ordering = "-id"

    def get_queryset(self):
        return selectors.webhook_delivery_list(user=self.request.user)

    def get_serializer_class(self):
        return WebhookDeliveryDetailSerializer if self.action == "retrieve" else WebhookDeliverySerializer
