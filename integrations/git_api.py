"""The Git repositories API: admins manage repositories; everyone reads them with their evidence."""

from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from integrations import git_selectors
from integrations.git_filters import GitRepositoryFilterSet
from integrations.git_serializers import GitRepositoryDetailSerializer, GitRepositorySerializer
from integrations.git_services import git_repository_create, git_repository_delete, git_repository_update
from integrations.git_sync import git_sync_request
from integrations.permissions import CanTriggerSync
from integrations.serializers import SyncRequestSerializer, SyncRunSerializer
from mlgov.accounts.permissions import AdminOnlyWrites
from mlgov.errors import ValidationFailed


class GitRepositoryViewSet(viewsets.ModelViewSet):
    """Git repositories scanned for MLOps practices. Admins add, change and remove them;
    `POST …/<name>/sync` queues a sync. The detail carries the signals, findings and activity."""

    lookup_field = "name"
    permission_classes = [AdminOnlyWrites]
    filterset_class = GitRepositoryFilterSet
    search_fields = ("name", "url")
    ordering_fields = ("name", "id", "scanned_at")
    ordering = "name"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        if self.action == "retrieve":
            return git_selectors.git_repository_detail(user=self.request.user)
        return git_selectors.git_repository_list(user=self.request.user)

    def get_serializer_class(self):
        return GitRepositoryDetailSerializer if self.action == "retrieve" else GitRepositorySerializer

    def perform_create(self, serializer):
        serializer.instance = git_repository_create(actor=self.request.user, **serializer.validated_data)

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        if data.pop("name", serializer.instance.name) != serializer.instance.name:
            raise ValidationFailed("A repository cannot be renamed; add a new one.", details={"name": ["Read-only."]})
        serializer.instance, _ = git_repository_update(actor=self.request.user, repository=serializer.instance, **data)

    def perform_destroy(self, instance):
        git_repository_delete(actor=self.request.user, repository=instance)

    @extend_schema(request=SyncRequestSerializer, responses={202: SyncRunSerializer})
    @action(detail=True, methods=["post"], permission_classes=[CanTriggerSync], pagination_class=None)
    def sync(self, request, name=None):
        repository = self.get_object()
        ser = SyncRequestSerializer(data=request.data or {})
        ser.is_valid(raise_exception=True)
        run = git_sync_request(
            repository=repository, mode=ser.validated_data.get("mode"), triggered_by=request.user.get_username()
        )
        run.refresh_from_db()
        return Response(SyncRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)
