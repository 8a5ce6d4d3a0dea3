from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from integrations import selectors
from integrations.filters import MlflowConnectionFilterSet, SyncRunFilterSet
from integrations.permissions import CanTriggerSync
from integrations.serializers import MlflowConnectionSerializer, SyncRequestSerializer, SyncRunSerializer
from integrations.services import mlflow_connection_delete, mlflow_connection_upsert
from integrations.sync import mlflow_sync_request
from mlgov.accounts.permissions import AdminOnlyWrites


class MlflowConnectionViewSet(viewsets.ModelViewSet):
    """MLflow connections. Admins add, change and remove them; `POST …/<name>/sync` queues a sync."""

    lookup_field = "name"
    serializer_class = MlflowConnectionSerializer
    permission_classes = [AdminOnlyWrites]
    filterset_class = MlflowConnectionFilterSet
    search_fields = ("name", "tracking_uri")
    ordering_fields = ("name", "id")
    ordering = "name"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return selectors.mlflow_connection_list(user=self.request.user)

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        serializer.instance, _ = mlflow_connection_upsert(actor=self.request.user, name=data.pop("name"), **data)

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        data.pop("name", None)
        serializer.instance, _ = mlflow_connection_upsert(
            actor=self.request.user, name=serializer.instance.name, **data
        )

    def perform_destroy(self, instance):
        mlflow_connection_delete(actor=self.request.user, connection=instance)

    @extend_schema(request=SyncRequestSerializer, responses={202: SyncRunSerializer})
    @action(detail=True, methods=["post"], permission_classes=[CanTriggerSync], pagination_class=None)
    def sync(self, request, name=None):
        connection = self.get_object()
        ser = SyncRequestSerializer(data=request.data or {})
        ser.is_valid(raise_exception=True)
        run = mlflow_sync_request(
            connection=connection, mode=ser.validated_data.get("mode"), triggered_by=request.user.get_username()
        )
        run.refresh_from_db()
        return Response(SyncRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class SyncRunViewSet(viewsets.ReadOnlyModelViewSet):
    """Every sync, with live progress while it runs."""

    serializer_class = SyncRunSerializer
    filterset_class = SyncRunFilterSet
    ordering_fields = ("id", "created_at")
    ordering = "-id"

    def get_queryset(self):
        return selectors.sync_run_list(user=self.request.user)
