from rest_framework import serializers

from mlgov.accounts.choices import TeamRole, TokenScope
from mlgov.accounts.models import ApiToken, Membership, User
from mlgov.validators import validate_no_control_chars

# Team lives in mlgov.inventory, a higher layer: reach it through the relation, not an import.
_Team = Membership._meta.get_field("team").related_model


class MembershipSerializer(serializers.ModelSerializer):
    user = serializers.SlugRelatedField(slug_field="username", queryset=User.objects.filter(is_active=True))
    team = serializers.SlugRelatedField(slug_field="slug", queryset=_Team.objects.all())
    role = serializers.ChoiceField(choices=TeamRole.choices, default=TeamRole.MEMBER)

    class Meta:
        model = Membership
        fields = ("id", "user", "team", "role", "created_at", "updated_at")
        read_only_fields = ("id", "created_at", "updated_at")
        # membership_set is an upsert; the permission check must come before any uniqueness answer.
        validators = []


class MembershipRoleSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=TeamRole.choices)


class ApiTokenSerializer(serializers.ModelSerializer):
    user = serializers.SlugRelatedField(slug_field="username", read_only=True)
    is_active = serializers.BooleanField(read_only=True)

    class Meta:
        model = ApiToken
        fields = (
            "id",
            "user",
            "name",
            "key_prefix",
            "scope",
            "created_at",
            "expires_at",
            "revoked_at",
            "last_used_at",
            "is_active",
        )
        read_only_fields = fields


class ApiTokenCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, validators=[validate_no_control_chars])
    scope = serializers.ChoiceField(choices=TokenScope.choices, default=TokenScope.READ)
    expires_in_days = serializers.IntegerField(required=False, min_value=1)
    user = serializers.SlugRelatedField(
        slug_field="username",
        queryset=User.objects.filter(is_active=True),
        required=False,
        help_text="Admins only: issue the token for a service account.",
    )


class ApiTokenCreatedSerializer(ApiTokenSerializer):
    token = serializers.SerializerMethodField(help_text="The raw token. Shown once; store it now.")

    class Meta(ApiTokenSerializer.Meta):
        fields = (*ApiTokenSerializer.Meta.fields, "token")
        read_only_fields = fields

    def get_token(self, obj) -> str:
        return self.context["raw_token"]


class MeSerializer(serializers.ModelSerializer):
    groups = serializers.SerializerMethodField()
    teams = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ("id", "username", "display_name", "email", "is_service_account", "groups", "teams")
        read_only_fields = fields

    def get_groups(self, obj) -> list[str]:
        return sorted(obj.groups.values_list("name", flat=True))

    def get_teams(self, obj) -> list[dict]:
        return [{"team": m.team.slug, "role": m.role} for m in obj.memberships.select_related("team")]
