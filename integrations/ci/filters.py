import django_filters

from integrations.models import CiSource, WebhookDelivery


class CiSourceFilterSet(django_filters.FilterSet):
    provider = django_filters.ChoiceFilter(choices=CiSource.Provider.choices)
    enabled = django_filters.BooleanFilter()

    class Meta:
        model = CiSource
        fields = []


class WebhookDeliveryFilterSet(django_filters.FilterSet):
    provider = django_filters.ChoiceFilter(choices=CiSource.Provider.choices)
    event = django_filters.CharFilter()
    status = django_filters.ChoiceFilter(choices=WebhookDelivery.Status.choices)
    delivery_key = django_filters.CharFilter()
    pipeline_run = django_filters.NumberFilter(field_name="pipeline_run_id")
    since = django_filters.IsoDateTimeFilter(field_name="received_at", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="received_at", lookup_expr="lt")

    class Meta:
        model = WebhookDelivery
        fields = []
