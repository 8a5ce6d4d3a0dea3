"""Allow-listed filters for each governance list (the strict backend refuses anything else)."""

from __future__ import annotations

import django_filters

from mlgov.governance.choices import AliasSource, DeliveryStatus, DriftStatus, Independence
from mlgov.governance.choices import PromotionState as State
from mlgov.governance.models import AliasChange, DriftFinding, OutboundDelivery, PromotionPolicy, PromotionRequest
from mlgov.governance.selectors import actionable, review_queue


class PromotionPolicyFilterSet(django_filters.FilterSet):
    target = django_filters.CharFilter()
    team = django_filters.CharFilter(field_name="team__slug")
    risk_tier = django_filters.NumberFilter()
    independence = django_filters.ChoiceFilter(choices=Independence.choices)
    enabled = django_filters.BooleanFilter()

    class Meta:
        model = PromotionPolicy
        fields = []


class PromotionFilterSet(django_filters.FilterSet):
    state = django_filters.MultipleChoiceFilter(choices=State.choices)
    target = django_filters.CharFilter()
    model = django_filters.NumberFilter(field_name="model_id")
    model_version = django_filters.NumberFilter(field_name="version_id")
    team = django_filters.CharFilter(field_name="model__project__team__slug")
    project = django_filters.CharFilter(field_name="model__project__slug")
    requested_by = django_filters.CharFilter(field_name="requested_by__username")
    policy = django_filters.CharFilter(field_name="policy__name")
    mine = django_filters.BooleanFilter(method="filter_mine", help_text="Requests I made.")
    actionable = django_filters.BooleanFilter(method="filter_actionable", help_text="Requests I may review now.")
    created_since = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    updated_since = django_filters.IsoDateTimeFilter(field_name="updated_at", lookup_expr="gte")

    class Meta:
        model = PromotionRequest
        fields = []

    def filter_mine(self, qs, name, value):
        user = self.request.user
        return qs.filter(requested_by_id=user.pk) if value else qs.exclude(requested_by_id=user.pk)

    def filter_actionable(self, qs, name, value):
        if value:
            return actionable(qs, user=self.request.user)
        return qs.exclude(pk__in=review_queue(user=self.request.user).values("pk"))


class AliasHistoryFilterSet(django_filters.FilterSet):
    alias = django_filters.CharFilter()
    source = django_filters.ChoiceFilter(choices=AliasSource.choices)
    since = django_filters.IsoDateTimeFilter(field_name="started_at", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="started_at", lookup_expr="lte")

    class Meta:
        model = AliasChange
        fields = []


class DriftFindingFilterSet(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=DriftStatus.choices)
    model = django_filters.NumberFilter(field_name="model_id")
    alias = django_filters.CharFilter()
    team = django_filters.CharFilter(field_name="model__project__team__slug")
    external_source = django_filters.CharFilter(field_name="model__external_source")
    since = django_filters.IsoDateTimeFilter(field_name="detected_at", lookup_expr="gte")

    class Meta:
        model = DriftFinding
        fields = []


class OutboundDeliveryFilterSet(django_filters.FilterSet):
    endpoint = django_filters.CharFilter(field_name="endpoint__name")
    event = django_filters.CharFilter()
    status = django_filters.ChoiceFilter(choices=DeliveryStatus.choices)
    delivery_id = django_filters.UUIDFilter()

    class Meta:
        model = OutboundDelivery
        fields = []
