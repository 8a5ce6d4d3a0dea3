"""Inventory API. Teams and projects are written by hand; synced objects are read-only here."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.parsers import BaseParser
from rest_framework.response import Response

from mlgov.accounts.permissions import (
    AdminOnlyWrites,
    TeamMaintainerOrReadOnly,
    TeamMaintainerOrServiceAccount,
    require_team_manager,
)
from mlgov.errors import ValidationFailed
from mlgov.inventory import filters, junit, selectors, serializers, services


class TeamViewSet(viewsets.ModelViewSet):
    """Teams. Admins create and delete teams; a team's maintainers edit it."""

    lookup_field = "slug"
    filterset_class = filters.TeamFilterSet
    search_fields = ("slug", "name")
    ordering_fields = ("slug", "name", "updated_at")
    ordering = "slug"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return selectors.team_list(user=self.request.user)

    def get_serializer_class(self):
        return serializers.TeamUpdateSerializer if self.action == "partial_update" else serializers.TeamSerializer

    def get_permissions(self):
        if self.action in ("create", "destroy"):
            return [AdminOnlyWrites()]
        return [TeamMaintainerOrReadOnly()]

    def owner_team_id(self, obj) -> int:
        return obj.pk

    def perform_create(self, serializer):
        serializer.instance = services.team_create(actor=self.request.user, **serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = services.team_update(
            actor=self.request.user, team=serializer.instance, **serializer.validated_data
        )

    def perform_destroy(self, instance):
        services.team_delete(actor=self.request.user, team=instance)


class ProjectViewSet(viewsets.ModelViewSet):
    """Projects. The owning team's maintainers create, edit and delete them."""

    serializer_class = serializers.ProjectSerializer
    permission_classes = [TeamMaintainerOrReadOnly]
    filterset_class = filters.ProjectFilterSet
    search_fields = ("slug", "name")
    ordering_fields = ("slug", "name", "risk_tier", "updated_at")
    ordering = "slug"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return selectors.project_list(user=self.request.user)

    def owner_team_id(self, obj) -> int:
        return obj.team_id

    def perform_create(self, serializer):
        require_team_manager(self.request.user, serializer.validated_data["team"].pk)
        serializer.instance = services.project_create(actor=self.request.user, **serializer.validated_data)

    def perform_update(self, serializer):
        new_team = serializer.validated_data.get("team")
        if new_team is not None:
            require_team_manager(self.request.user, new_team.pk)
        serializer.instance = services.project_update(
            actor=self.request.user, project=serializer.instance, **serializer.validated_data
        )

    def perform_destroy(self, instance):
        services.project_delete(actor=self.request.user, project=instance)


class SyncedViewSet(viewsets.ReadOnlyModelViewSet):
    """Objects that integrations keep in sync: read-only through the API."""

    selector = None

    def get_queryset(self):
        return type(self).selector(user=self.request.user)


class RegisteredModelViewSet(SyncedViewSet):
    selector = staticmethod(selectors.registered_model_list)
    serializer_class = serializers.RegisteredModelSerializer
    filterset_class = filters.RegisteredModelFilterSet
    search_fields = ("name",)
    ordering_fields = ("id", "name", "updated_at")
    ordering = "name"

    def filter_queryset(self, queryset):
        # The alias filter crosses a to-many relation; keep rows unique.
        qs = super().filter_queryset(queryset)
        return qs.distinct() if "alias" in self.request.query_params else qs


class ModelVersionViewSet(SyncedViewSet):
    selector = staticmethod(selectors.model_version_api_list)
    serializer_class = serializers.ModelVersionListSerializer

    def get_queryset(self):
        if self.action == "retrieve":
            return selectors.model_version_detail(user=self.request.user)
        return super().get_queryset()

    def get_serializer_class(self):
        return serializers.ModelVersionDetailSerializer if self.action == "retrieve" else self.serializer_class

    filterset_class = filters.ModelVersionFilterSet  # its `q` is the search (not DRF's SearchFilter)
    ordering_fields = ("id", "registered_at", "updated_at")
    ordering = "-id"


class DatasetViewSet(SyncedViewSet):
    selector = staticmethod(selectors.dataset_list)
    serializer_class = serializers.DatasetSerializer
    filterset_class = filters.DatasetFilterSet
    search_fields = ("name", "digest", "source")
    ordering_fields = ("id", "name", "updated_at")
    ordering = "-id"


class FeatureViewSet(SyncedViewSet):
    selector = staticmethod(selectors.feature_list)
    serializer_class = serializers.FeatureSerializer
    filterset_class = filters.FeatureFilterSet
    search_fields = ("name", "feature_view", "entity")
    ordering_fields = ("id", "name", "updated_at")
    ordering = "-id"


class PipelineViewSet(SyncedViewSet):
    selector = staticmethod(selectors.pipeline_list)
    serializer_class = serializers.PipelineSerializer
    filterset_class = filters.PipelineFilterSet
    search_fields = ("name", "config_path")
    ordering_fields = ("id", "name", "updated_at")
    ordering = "-id"


class JUnitXmlParser(BaseParser):
    """A JUnit report: the raw bytes, parsed later by the pure `mlgov.inventory.junit` with defusedxml."""

    media_type = "application/xml"

    def parse(self, stream, media_type=None, parser_context=None) -> bytes:
        return stream.read() if stream is not None else b""


class JUnitTextXmlParser(JUnitXmlParser):
    media_type = "text/xml"


class PipelineRunViewSet(SyncedViewSet):
    selector = staticmethod(selectors.pipeline_run_list)
    serializer_class = serializers.PipelineRunSerializer
    filterset_class = filters.PipelineRunFilterSet
    search_fields = ("commit_sha", "external_id")
    ordering_fields = ("id", "started_at", "updated_at")
    ordering = "-id"

    def owner_team_id(self, obj) -> int | None:
        project = obj.pipeline.project
        return project.team_id if project else None

    @extend_schema(
        request={"application/xml": OpenApiTypes.STR, "text/xml": OpenApiTypes.STR},
        responses={200: serializers.PipelineRunSerializer},
        examples=[
            OpenApiExample(
                "pytest --junitxml",
                value='<testsuites><testsuite name="pytest" tests="2"><testcase name="a"/>'
                '<testcase name="b"><failure message="x"/></testcase></testsuite></testsuites>',
                request_only=True,
            )
        ],
    )
    @action(
        detail=True,
        methods=["post"],
        url_path="test-report",
        parser_classes=[JUnitXmlParser, JUnitTextXmlParser],
        permission_classes=[TeamMaintainerOrServiceAccount],
        filter_backends=[],
        pagination_class=None,
    )
    def test_report(self, request, pk=None):
        """Attach a JUnit XML report (`<testsuites>` or `<testsuite>`) to the run: its counts replace earlier ones."""
        run = self.get_object()
        data = request.data if isinstance(request.data, bytes) else b""
        try:
            summary = junit.parse_junit(data)
        except junit.JUnitError as exc:
            raise ValidationFailed("The test report is invalid.", details={"report": [str(exc)]}) from None
        run = services.pipeline_run_test_report_record(
            actor=request.user,
            pipeline_run=run,
            total=summary.total,
            failed=summary.failed,
            errors=summary.errors,
            skipped=summary.skipped,
        )
        return Response(self.get_serializer(self.get_queryset().get(pk=run.pk)).data)


class ExperimentViewSet(SyncedViewSet):
    selector = staticmethod(selectors.experiment_list)
    serializer_class = serializers.ExperimentSerializer
    filterset_class = filters.ExperimentFilterSet
    search_fields = ("name",)
    ordering_fields = ("id", "name", "updated_at")
    ordering = "name"


class TrainingRunViewSet(SyncedViewSet):
    selector = staticmethod(selectors.training_run_list)
    serializer_class = serializers.TrainingRunSerializer
    filterset_class = filters.TrainingRunFilterSet
    search_fields = ("name", "external_id", "git_commit", "user")
    ordering_fields = ("id", "started_at", "updated_at")
    ordering = "-id"
