"""Assessments API: scorecards, a project's scorecard and on-demand assessment, a team's maturity, history,
attestations, waivers, attestation rules, goals, scoring runs and rubrics.

Views validate input, call one service and serialize the result; domain errors become 4xx through the
shared exception handler (`mlgov.api.exception_handler`)."""

from __future__ import annotations

from django.conf import settings
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from assessments import filters, selectors, serializers, services
from assessments.choices import ScoringTrigger
from assessments.models import AttestationRule
from assessments.rubric import available_rubrics
from mlgov.accounts.permissions import IsOrgUser
from mlgov.accounts.selectors import user_can_manage_team, user_is_manager
from mlgov.errors import NotFound, PermissionDenied
from mlgov.inventory.models import Project, Team


def _rubric_param(request) -> str:
    rubric_id = request.query_params.get("rubric") or settings.MLGOV_RUBRIC
    if rubric_id not in available_rubrics():
        raise ValidationError({"rubric": [f"Unknown rubric. Available: {', '.join(available_rubrics())}."]})
    return rubric_id


class ScorecardViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Each project's latest scorecard (summary). `?rubric=` picks the rubric (default MLGOV_RUBRIC)."""

    serializer_class = serializers.ScorecardSummarySerializer
    filterset_class = filters.ScorecardFilterSet
    ordering_fields = ("id", "level", "computed_at")
    ordering = "-id"

    def get_queryset(self):
        return selectors.latest_assessments(user=self.request.user, rubric_id=_rubric_param(self.request))


class AssessmentViewSet(viewsets.ReadOnlyModelViewSet):
    """Snapshots: every scorecard a scoring run stored (history). The detail holds the whole scorecard."""

    filterset_class = filters.AssessmentFilterSet
    ordering_fields = ("id", "computed_at", "level")
    ordering = "-id"

    def get_queryset(self):
        qs = selectors.assessment_list(user=self.request.user)
        return qs if self.action == "retrieve" else qs.defer("scorecard")

    def get_serializer_class(self):
        if self.action == "retrieve":
            return serializers.AssessmentDetailSerializer
        return serializers.AssessmentSerializer


def _project(pk: str) -> Project:
    if not str(pk).isdigit():
        raise NotFound("No such project.", details={"project": pk})
    return get_object_or_404(Project.objects.select_related("team"), pk=int(pk))


class ProjectScorecardView(APIView):
    """`GET /api/v1/projects/<id>/scorecard`: the project's latest scorecard."""

    permission_classes = [IsOrgUser]

    @extend_schema(
        parameters=[
            OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH, description="the project's id"),
            OpenApiParameter("rubric", str, description="a rubric id (default MLGOV_RUBRIC)"),
        ],
        responses=serializers.ScorecardSerializer,
    )
    def get(self, request, pk):
        extra = set(request.query_params) - {"rubric", "format"}
        if extra:
            raise ValidationError({"unknown_parameters": sorted(extra), "allowed_parameters": ["rubric"]})
        project = _project(pk)
        assessment = selectors.project_latest_assessment(project_id=project.pk, rubric_id=_rubric_param(request))
        if assessment is None:
            raise NotFound(
                f"Project {project.slug} has not been assessed yet: POST /api/v1/projects/{project.pk}/assess.",
                code="not_assessed",
                details={"project": project.pk},
            )
        return Response(serializers.ScorecardSerializer(assessment).data)


class ProjectAssessView(APIView):
    """`POST /api/v1/projects/<id>/assess`: score the project now; answers with the new scorecard.
    The team's maintainers, managers and admins may ask."""

    permission_classes = [IsOrgUser]

    @extend_schema(
        request=None,
        parameters=[
            OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH, description="the project's id"),
            OpenApiParameter("rubric", str, description="a rubric id (default MLGOV_RUBRIC)"),
        ],
        responses=serializers.ScorecardSerializer,
    )
    def post(self, request, pk):
        project = _project(pk)
        rubric_id = _rubric_param(request)
        if not (user_can_manage_team(request.user, project.team_id) or user_is_manager(request.user)):
            raise PermissionDenied("Only the project team's maintainers, managers or admins may assess it.")
        services.projects_score(
            actor=request.user, trigger=ScoringTrigger.API, project_ids=[project.pk], rubric_id=rubric_id
        )
        assessment = selectors.project_latest_assessment(project_id=project.pk, rubric_id=rubric_id)
        return Response(serializers.ScorecardSerializer(assessment).data)


class TeamMaturityView(APIView):
    """`GET /api/v1/teams/<slug>/maturity`: the team's rollup (levels, mean, dimensions), its projects'
    scorecards and its trend (`?days=`, default 180)."""

    permission_classes = [IsOrgUser]

    @extend_schema(
        parameters=[
            OpenApiParameter("slug", OpenApiTypes.STR, OpenApiParameter.PATH, description="the team's slug"),
            OpenApiParameter("rubric", str, description="a rubric id (default MLGOV_RUBRIC)"),
            OpenApiParameter("days", int, description="trend window in days (7-730, default 180)"),
        ],
        responses=serializers.TeamMaturitySerializer,
    )
    def get(self, request, slug):
        extra = set(request.query_params) - {"rubric", "days", "format"}
        if extra:
            raise ValidationError({"unknown_parameters": sorted(extra), "allowed_parameters": ["days", "rubric"]})
        team = get_object_or_404(Team, slug=slug)
        raw = request.query_params.get("days", "180")
        if not raw.isdigit() or not 7 <= int(raw) <= 730:
            raise ValidationError({"days": ["Must be an integer between 7 and 730."]})
        rubric = services.rubric_or_error(_rubric_param(request))
        now = timezone.now()
        rollup = selectors.team_maturity(team_id=team.pk, rubric=rubric, days=int(raw), now=now)
        latest = selectors.latest_assessments(user=request.user, rubric_id=rubric.id).filter(project__team=team)
        return Response(
            {
                "team": {"slug": team.slug, "name": team.name},
                "rubric": {"id": rubric.id, "version": rubric.version, "name": rubric.name},
                "projects": rollup["projects"],
                "assessed": rollup["assessed"],
                "mean_level": rollup["mean_level"],
                "levels": {str(k): v for k, v in rollup["levels"].items()},
                "dimensions": rollup["dimensions"],
                "scorecards": serializers.ScorecardSummarySerializer(latest.order_by("project__slug"), many=True).data,
                "trend": [
                    {"date": p.day.isoformat(), "mean_level": p.mean, "assessed": p.assessed, "levels": p.distribution}
                    for p in rollup["trend"]
                ],
                "computed_at": now.isoformat(),
            }
        )


class AttestationViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Attestations: a team maintainer confirms a criterion (POST); reviewers verify; maintainers or
    managers revoke. Each is audited and rescores the project."""

    filterset_class = filters.AttestationFilterSet
    ordering_fields = ("id", "created_at", "expires_at")
    ordering = "-id"

    def get_queryset(self):
        return selectors.attestation_list(user=self.request.user)

    def get_serializer_class(self):
        if self.action == "create":
            return serializers.AttestationCreateSerializer
        if self.action == "revoke":
            return serializers.RevokeSerializer
        return serializers.AttestationSerializer

    def get_serializer_context(self):
        rules = set(AttestationRule.objects.filter(requires_verification=True).values_list("rubric_id", "criterion_id"))
        return {**super().get_serializer_context(), "verification_rules": rules}

    @extend_schema(request=serializers.AttestationCreateSerializer, responses={201: serializers.AttestationSerializer})
    def create(self, request, *args, **kwargs):
        data = self._valid(serializers.AttestationCreateSerializer, request)
        attestation = services.attestation_create(
            actor=request.user,
            project=data["project"],
            criterion_id=data["criterion"],
            statement=data["statement"],
            link=data["link"],
            days=data.get("days"),
            rubric_id=data.get("rubric"),
        )
        return self._out(attestation, status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=serializers.AttestationSerializer)
    @action(detail=True, methods=["post"])
    def verify(self, request, pk=None):
        return self._out(services.attestation_verify(actor=request.user, attestation=self.get_object()))

    @extend_schema(request=serializers.RevokeSerializer, responses=serializers.AttestationSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        data = self._valid(serializers.RevokeSerializer, request)
        attestation = services.attestation_revoke(
            actor=request.user, attestation=self.get_object(), reason=data["reason"]
        )
        return self._out(attestation)

    def _valid(self, serializer_class, request) -> dict:
        serializer = serializer_class(data=request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def _out(self, attestation, code: int = status.HTTP_200_OK) -> Response:
        return Response(
            serializers.AttestationSerializer(attestation, context=self.get_serializer_context()).data, code
        )


class WaiverViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Waivers: a manager exempts a project from a criterion until a date (POST), or revokes it."""

    filterset_class = filters.WaiverFilterSet
    ordering_fields = ("id", "created_at", "expires_at")
    ordering = "-id"

    def get_queryset(self):
        return selectors.waiver_list(user=self.request.user)

    def get_serializer_class(self):
        if self.action == "create":
            return serializers.WaiverCreateSerializer
        if self.action == "revoke":
            return serializers.RevokeSerializer
        return serializers.WaiverSerializer

    @extend_schema(request=serializers.WaiverCreateSerializer, responses={201: serializers.WaiverSerializer})
    def create(self, request, *args, **kwargs):
        serializer = serializers.WaiverCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        waiver = services.waiver_grant(
            actor=request.user,
            project=data["project"],
            criterion_id=data["criterion"],
            justification=data["justification"],
            expires_at=data["expires_at"],
            rubric_id=data.get("rubric"),
        )
        return Response(serializers.WaiverSerializer(waiver).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=serializers.RevokeSerializer, responses=serializers.WaiverSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        serializer = serializers.RevokeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        waiver = services.waiver_revoke(
            actor=request.user, waiver=self.get_object(), reason=serializer.validated_data["reason"]
        )
        return Response(serializers.WaiverSerializer(waiver).data)


class AttestationRuleViewSet(mixins.CreateModelMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """How attestations of a criterion are checked. POST sets a rule (managers): reviewer verification, and
    how long attestations last."""

    serializer_class = serializers.AttestationRuleSerializer
    ordering_fields = ("id",)
    ordering = "id"

    def get_queryset(self):
        return AttestationRule.objects.all()

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        rule = services.attestation_rule_set(
            actor=request.user,
            criterion_id=data["criterion_id"],
            requires_verification=data.get("requires_verification", False),
            validity_days=data.get("validity_days"),
            rubric_id=data.get("rubric_id"),
        )
        return Response(self.get_serializer(rule).data, status=status.HTTP_201_CREATED)


class GoalViewSet(viewsets.ModelViewSet):
    """Maturity goals ("every tier-1 project at level 3 by 2027-03-31") with their progress. Managers write."""

    serializer_class = serializers.GoalSerializer
    filterset_class = filters.GoalFilterSet
    ordering_fields = ("id", "due_date")
    ordering = "id"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return selectors.goal_list(user=self.request.user)

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if self.request.method in ("GET", "HEAD"):
            goals = self.filter_queryset(self.get_queryset())
            progress = selectors.goals_progress(goals=goals, today=timezone.now().date())
            context["progress"] = {p.goal_id: p for p in progress}
        return context

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = services.maturity_goal_create(
            actor=self.request.user,
            name=data["name"],
            target_level=data["target_level"],
            due_date=data["due_date"],
            team=data.get("team"),
            risk_tier=data.get("risk_tier"),
            lifecycle=data.get("lifecycle", ""),
            rubric_id=data.get("rubric_id"),
        )

    def perform_update(self, serializer):
        serializer.instance = services.maturity_goal_update(
            actor=self.request.user, goal=serializer.instance, **serializer.validated_data
        )

    def perform_destroy(self, instance):
        services.maturity_goal_delete(actor=self.request.user, goal=instance)


class ScoringRunViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Scoring runs with their progress and counts. POST queues one (managers: any projects; maintainers:
    their team's projects) and answers 202."""

    filterset_class = filters.ScoringRunFilterSet
    ordering_fields = ("id",)
    ordering = "-id"

    def get_queryset(self):
        return selectors.scoring_run_list(user=self.request.user)

    def get_serializer_class(self):
        return serializers.ScoringRunCreateSerializer if self.action == "create" else serializers.ScoringRunSerializer

    @extend_schema(request=serializers.ScoringRunCreateSerializer, responses={202: serializers.ScoringRunSerializer})
    def create(self, request, *args, **kwargs):
        serializer = serializers.ScoringRunCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        ids = serializer.validated_data.get("projects")
        if not user_is_manager(request.user):
            teams = set(Project.objects.filter(pk__in=ids or []).values_list("team_id", flat=True))
            if ids is None or not teams or not all(user_can_manage_team(request.user, t) for t in teams):
                raise PermissionDenied("Only managers may score every project; maintainers may score their team's.")
        run = services.scoring_run_request(
            trigger=ScoringTrigger.API,
            triggered_by=request.user,
            project_ids=ids,
            rubric_id=serializer.validated_data.get("rubric"),
        )
        run.refresh_from_db()
        return Response(serializers.ScoringRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


def _no_params(request) -> None:
    if set(request.query_params) - {"format"}:
        raise ValidationError({"unknown_parameters": sorted(set(request.query_params) - {"format"})})


def _rubric_summary(rubric) -> dict:
    return {
        "id": rubric.id,
        "version": rubric.version,
        "name": rubric.name,
        "source": rubric.source,
        "default": rubric.id == settings.MLGOV_RUBRIC,
        "levels": [{"level": lv.level, "name": lv.name, "summary": lv.summary} for lv in rubric.levels],
    }


class RubricListView(APIView):
    """`GET /api/v1/rubrics`: the rubrics mlgov scores against (a short, fixed list: not paged)."""

    permission_classes = [IsOrgUser]

    @extend_schema(operation_id="v1_rubrics_list", responses=OpenApiTypes.OBJECT)
    def get(self, request):
        _no_params(request)
        return Response({"results": [_rubric_summary(r) for r in available_rubrics().values()]})


class RubricView(APIView):
    """`GET /api/v1/rubrics/<id>`: one rubric with its dimensions, levels and criteria."""

    permission_classes = [IsOrgUser]

    @extend_schema(
        parameters=[OpenApiParameter("rubric_id", OpenApiTypes.STR, OpenApiParameter.PATH)],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request, rubric_id: str):
        _no_params(request)
        rubrics = available_rubrics()
        rubric = rubrics.get(rubric_id)
        if rubric is None:
            raise NotFound(f"No rubric {rubric_id!r}.", details={"available": list(rubrics)})
        return Response(
            {
                **_rubric_summary(rubric),
                "dimensions": [
                    {
                        "id": d.id,
                        "name": d.name,
                        "levels": [
                            {
                                "level": dl.level,
                                "description": dl.description,
                                "criteria": [
                                    {
                                        "id": c.id,
                                        "title": c.title,
                                        "method": c.method,
                                        "detector": c.detector,
                                        "guidance": c.guidance,
                                    }
                                    for c in dl.criteria
                                ],
                            }
                            for dl in d.levels
                        ],
                    }
                    for d in rubric.dimensions
                ],
            }
        )
