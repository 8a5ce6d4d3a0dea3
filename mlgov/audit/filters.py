import django_filters

from mlgov.audit.choices import Source
from mlgov.audit.models import AuditEvent


class AuditEventFilterSet(django_filters.FilterSet):
    target_type = django_filters.CharFilter(
        label="Target type",
    )
    target_id = django_filters.CharFilter(
        label="Target id",
    )
    actor = django_filters.CharFilter(label="Actor", field_name="actor_name")
    action = django_filters.CharFilter(
        label="Action",
    )
    action_prefix = django_filters.CharFilter(label="Action starts with", field_name="action", lookup_expr="startswith")
    source = django_filters.ChoiceFilter(label="Source", choices=Source.choices)
    request_id = django_filters.CharFilter(
        label="Request id",
    )
    since = django_filters.IsoDateTimeFilter(label="Since", field_name="timestamp", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(label="Until", field_name="timestamp", lookup_expr="lt")

    class Meta:
        model = AuditEvent
        fields = []
