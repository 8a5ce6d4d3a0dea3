import django_filters

from integrations.choices import SyncMode, SyncStatus
from integrations.models import MlflowConnection, SyncRun


class MlflowConnectionFilterSet(django_filters.FilterSet):
    enabled = django_filters.BooleanFilter()

    class Meta:
        model = MlflowConnection
        fields = []


class SyncRunFilterSet(django_filters.FilterSet):
    target = django_filters.CharFilter()
    kind = django_filters.CharFilter()
    status = django_filters.ChoiceFilter(choices=SyncStatus.choices)
    mode = django_filters.ChoiceFilter(choices=SyncMode.choices)
    since = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")

    class Meta:
        model = SyncRun
        fields = []
