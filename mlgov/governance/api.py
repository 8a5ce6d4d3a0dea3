"""Governance API: policies, promotions and their workflow actions, the CD gate, alias history, drift,
outbound webhooks. Views validate input, call one service and serialize the result; domain errors become
4xx in the one error shape through mlgov.api.exception_handler."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, generics, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from mlgov.accounts.permissions import AdminOnlyWrites, IsOrgUser
from mlgov.accounts.selectors import user_is_admin
from mlgov.errors import ValidationFailed
from mlgov.governance import filters, selectors, services
from mlgov.governance import serializers as s
from mlgov.governance.models import AliasChange
from mlgov.inventory.selectors import registered_model_list


class AdminOnly(IsOrgUser):
    message = "Only admins may do this."

    def has_permission(self, request, view) -> bool:
        return super().has_permission(request, view) and user_is_admin(request.user)


class PromotionPolicyViewSet(viewsets.ModelViewSet):
    """Promotion policies. Everyone reads; admins write (as in the admin and the config file)."""

    lookup_field = "name"
    serializer_class = s.PromotionPolicySerializer
    permission_classes = [AdminOnlyWrites]
    filterset_class = filters.PromotionPolicyFilterSet
    search_fields = ("name", "target", "description")
    ordering_fields = ("name", "target", "id", "updated_at")
    ordering = "target"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return selectors.policy_list(user=self.request.user)

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        serializer.instance = services.promotion_policy_create(
            actor=self.request.user, name=data.pop("name"), target=data.pop("target"), **data
        )

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        if "name" in data and data["name"] != serializer.instance.name:
            raise ValidationFailed("A policy cannot be renamed.", details={"name": ["Cannot be changed."]})
        data.pop("name", None)
        serializer.instance = services.promotion_policy_update(
            actor=self.request.user, policy=serializer.instance, **data
        )

    def perform_destroy(self, instance):
        services.promotion_policy_delete(actor=self.request.user, policy=instance)


class PromotionViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Promotion requests: create, list (filter `actionable=true` for my review queue), and act on them."""

    filterset_class = filters.PromotionFilterSet
    search_fields = ("model__name", "target", "justification")
    ordering_fields = ("id", "created_at", "updated_at", "expires_at")
    ordering = "-id"

    def get_queryset(self):
        if self.action == "retrieve":
            return selectors.promotion_detail(user=self.request.user)
        return selectors.promotion_list(user=self.request.user)  # list, and the actions (they answer via _done)

    def get_serializer_class(self):
        return s.PromotionSerializer if self.action == "list" else s.PromotionDetailSerializer

    def _done(self, req, code: int = status.HTTP_200_OK) -> Response:
        fresh = selectors.promotion_detail(user=self.request.user).get(pk=req.pk)
        return Response(s.PromotionDetailSerializer(fresh).data, status=code)

    def _input(self, serializer_class: type[serializers.Serializer]) -> dict:
        ser = serializer_class(data=self.request.data or {})
        ser.is_valid(raise_exception=True)
        return ser.validated_data

    @extend_schema(request=s.PromotionCreateSerializer, responses={201: s.PromotionDetailSerializer})
    def create(self, request: Request, *args, **kwargs) -> Response:
        data = self._input(s.PromotionCreateSerializer)
        req = services.promotion_request_create(
            actor=request.user, version=data["version_obj"], target=data["target"], justification=data["justification"]
        )
        return self._done(req, status.HTTP_201_CREATED)

    @extend_schema(request=s.CommentSerializer, responses={200: s.PromotionDetailSerializer})
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk=None) -> Response:
        data = self._input(s.CommentSerializer)
        return self._done(services.promotion_approve(request=self.get_object(), reviewer=request.user, **data))

    @extend_schema(request=s.RejectSerializer, responses={200: s.PromotionDetailSerializer})
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk=None) -> Response:
        data = self._input(s.RejectSerializer)
        return self._done(services.promotion_reject(request=self.get_object(), reviewer=request.user, **data))

    @extend_schema(request=s.CancelSerializer, responses={200: s.PromotionDetailSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk=None) -> Response:
        data = self._input(s.CancelSerializer)
        return self._done(services.promotion_cancel(request=self.get_object(), actor=request.user, **data))

    @extend_schema(request=None, responses={200: s.PromotionDetailSerializer})
    @action(detail=True, methods=["post"])
    def retry(self, request: Request, pk=None) -> Response:
        return self._done(services.promotion_retry(request=self.get_object(), actor=request.user))

    @extend_schema(request=s.WaiveSerializer, responses={200: s.PromotionDetailSerializer})
    @action(detail=True, methods=["post"])
    def waive(self, request: Request, pk=None) -> Response:
        data = self._input(s.WaiveSerializer)
        req = self.get_object()
        services.promotion_gate_waive(request=req, manager=request.user, **data)
        return self._done(req)

    @extend_schema(request=s.RollbackSerializer, responses={201: s.PromotionDetailSerializer})
    @action(detail=True, methods=["post"])
    def rollback(self, request: Request, pk=None) -> Response:
        data = self._input(s.RollbackSerializer)
        new = services.promotion_rollback_request(actor=request.user, request=self.get_object(), **data)
        return self._done(new, status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[
            OpenApiParameter("model", OpenApiTypes.STR, required=True, description="Registered model id or name"),
            OpenApiParameter("version", OpenApiTypes.STR, required=True),
            OpenApiParameter("target", OpenApiTypes.STR, required=True, description="The alias, e.g. production"),
        ],
        responses={200: s.GateAnswerSerializer},
    )
    @action(detail=False, methods=["get"], pagination_class=None, filterset_class=None, url_path="gate")
    def gate(self, request: Request) -> Response:
        """For a CD pipeline before it deploys: may this version serve as this alias now? Allowed only when
        it is the approved holder (through an applied promotion) and no drift finding is open."""
        ser = s.GateQuerySerializer(data=request.query_params)
        ser.is_valid(raise_exception=True)
        return Response(selectors.gate_report(user=request.user, **ser.validated_data))


class AliasHistoryView(generics.ListAPIView):
    """`GET /api/v1/models/<id>/alias-history?alias=production&at=<time>`: the alias history of a model,
    newest first; with `at` (and `alias`), the one entry in force at that time."""

    serializer_class = s.AliasChangeSerializer
    filterset_class = filters.AliasHistoryFilterSet
    ordering_fields = ("started_at", "id")
    ordering = "-started_at"
    extra_query_params = ("at",)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return AliasChange.objects.none()
        self.model = get_object_or_404(registered_model_list(user=self.request.user), pk=self.kwargs["pk"])
        return selectors.alias_history_list(model=self.model)

    @extend_schema(
        parameters=[
            OpenApiParameter("at", OpenApiTypes.DATETIME, description="Answer what held `alias` at this time."),
        ],
        responses={200: s.AliasChangeSerializer(many=True)},
    )
    def get(self, request: Request, *args, **kwargs) -> Response:
        if "at" not in request.query_params:
            return super().get(request, *args, **kwargs)
        self.filter_queryset(self.get_queryset())  # the strict backend checks the other parameters
        alias = request.query_params.get("alias", "").strip()
        if not alias:
            raise exceptions.ValidationError({"alias": ["Required with `at`."]})
        at = serializers.DateTimeField().to_internal_value(request.query_params["at"])
        entry = selectors.alias_change_at(model=self.model, alias=alias, at=at)
        body = {
            "model": self.model.pk,
            "alias": alias,
            "at": at,
            "version": (entry.version_number or None) if entry else None,
            "approved": entry.approved if entry else None,
            "entry": entry,
        }
        return Response(s.AliasAtSerializer(body).data)


class DriftFindingViewSet(viewsets.ReadOnlyModelViewSet):
    """Aliases moved outside mlgov. `POST …/<id>/accept {"note"}` (managers) accepts what MLflow holds."""

    serializer_class = s.DriftFindingSerializer
    filterset_class = filters.DriftFindingFilterSet
    ordering_fields = ("id", "detected_at")
    ordering = "-id"

    def get_queryset(self):
        return selectors.drift_finding_list(user=self.request.user)

    @extend_schema(request=s.AcceptSerializer, responses={200: s.DriftFindingSerializer})
    @action(detail=True, methods=["post"])
    def accept(self, request: Request, pk=None) -> Response:
        ser = s.AcceptSerializer(data=request.data or {})
        ser.is_valid(raise_exception=True)
        finding = services.drift_accept(finding=self.get_object(), actor=request.user, note=ser.validated_data["note"])
        return Response(s.DriftFindingSerializer(self.get_queryset().get(pk=finding.pk)).data)


class WebhookEndpointViewSet(viewsets.ModelViewSet):
    """Outbound webhook endpoints (admins only)."""

    lookup_field = "name"
    serializer_class = s.WebhookEndpointSerializer
    permission_classes = [AdminOnly]
    ordering_fields = ("name", "id")
    ordering = "name"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return selectors.webhook_endpoint_list(user=self.request.user)

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        serializer.instance = services.webhook_endpoint_create(
            actor=self.request.user,
            name=data.pop("name"),
            url=data.pop("url"),
            secret_env_var=data.pop("secret_env_var"),
            **data,
        )

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        data.pop("name", None)
        serializer.instance = services.webhook_endpoint_update(
            actor=self.request.user, endpoint=serializer.instance, **data
        )

    def perform_destroy(self, instance):
        services.webhook_endpoint_delete(actor=self.request.user, endpoint=instance)


class OutboundDeliveryViewSet(viewsets.ReadOnlyModelViewSet):
    """Every outbound webhook delivery and its outcome (admins only)."""

    serializer_class = s.OutboundDeliverySerializer
    permission_classes = [AdminOnly]
    filterset_class = filters.OutboundDeliveryFilterSet
    ordering_fields = ("id", "created_at")
    ordering = "-id"

    def get_queryset(self):
        return selectors.outbound_delivery_list(user=self.request.user)
