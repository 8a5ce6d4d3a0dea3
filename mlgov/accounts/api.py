from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.response import Response
from rest_framework.views import APIView

from mlgov.accounts.filters import ApiTokenFilterSet, MembershipFilterSet
from mlgov.accounts.models import ApiToken
from mlgov.accounts.permissions import TeamMaintainerOrReadOnly, require_team_manager
from mlgov.accounts.selectors import api_token_list, membership_list, user_is_admin
from mlgov.accounts.serializers import (
    ApiTokenCreatedSerializer,
    ApiTokenCreateSerializer,
    ApiTokenSerializer,
    MembershipRoleSerializer,
    MembershipSerializer,
    MeSerializer,
)
from mlgov.accounts.services import api_token_create, api_token_revoke, membership_delete, membership_set
from mlgov.errors import PermissionDenied


class MembershipViewSet(viewsets.ModelViewSet):
    """Team memberships. A team's maintainers (and admins) add, change and remove members."""

    serializer_class = MembershipSerializer
    permission_classes = [TeamMaintainerOrReadOnly]
    filterset_class = MembershipFilterSet
    search_fields = ("user__username", "team__slug")
    ordering_fields = ("id", "updated_at")
    ordering = "id"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return membership_list()

    def owner_team_id(self, obj) -> int:
        return obj.team_id

    def get_serializer_class(self):
        return MembershipRoleSerializer if self.action == "partial_update" else MembershipSerializer

    def create(self, request, *args, **kwargs):
        ser = MembershipSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        require_team_manager(request.user, ser.validated_data["team"].pk)
        membership = membership_set(actor=request.user, **ser.validated_data)
        return Response(MembershipSerializer(membership).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        membership = self.get_object()
        ser = MembershipRoleSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        membership = membership_set(
            actor=request.user, user=membership.user, team=membership.team, role=ser.validated_data["role"]
        )
        return Response(MembershipSerializer(membership).data)

    def perform_destroy(self, instance):
        membership_delete(actor=self.request.user, membership=instance)


class ApiTokenViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    """Your API tokens. Creating one returns the raw token once; DELETE revokes it."""

    serializer_class = ApiTokenSerializer
    filterset_class = ApiTokenFilterSet
    ordering_fields = ("id", "created_at", "expires_at")
    ordering = "-id"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ApiToken.objects.none()
        return api_token_list(user=self.request.user)

    @extend_schema(request=ApiTokenCreateSerializer, responses={201: ApiTokenCreatedSerializer})
    def create(self, request, *args, **kwargs):
        ser = ApiTokenCreateSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        data = dict(ser.validated_data)
        owner = data.pop("user", None) or request.user
        if owner != request.user and not (user_is_admin(request.user) and owner.is_service_account):
            raise PermissionDenied("Only admins may issue tokens, and only for service accounts.")
        token, raw = api_token_create(actor=request.user, user=owner, **data)
        out = ApiTokenCreatedSerializer(token, context={"raw_token": raw})
        return Response(out.data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance):
        api_token_revoke(actor=self.request.user, token=instance)


class MeView(APIView):
    """The authenticated user, their org-wide groups and team roles."""

    @extend_schema(responses=MeSerializer)
    def get(self, request):
        return Response(MeSerializer(request.user).data)
