import django_filters

from mlgov.accounts.choices import TeamRole, TokenScope
from mlgov.accounts.models import ApiToken, Membership


class MembershipFilterSet(django_filters.FilterSet):
    team = django_filters.CharFilter(field_name="team__slug")
    user = django_filters.CharFilter(field_name="user__username")
    role = django_filters.ChoiceFilter(choices=TeamRole.choices)
    updated_since = django_filters.IsoDateTimeFilter(field_name="updated_at", lookup_expr="gte")

    class Meta:
        model = Membership
        fields = []


class ApiTokenFilterSet(django_filters.FilterSet):
    scope = django_filters.ChoiceFilter(choices=TokenScope.choices)
    revoked = django_filters.BooleanFilter(field_name="revoked_at", lookup_expr="isnull", exclude=True)

    class Meta:
        model = ApiToken
        fields = []
