"""Allow-listed filters for the scorecard, attestation, waiver, snapshot and scoring-run lists (API and pages)."""

from __future__ import annotations

import django_filters
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from assessments.choices import AttestationState, ScoringStatus, ScoringTrigger, WaiverState
from assessments.models import Assessment, Attestation, MaturityGoal, ScoringRun, Waiver
from mlgov.inventory.choices import Lifecycle, RiskTier


class ScorecardFilterSet(django_filters.FilterSet):
    """Latest scorecards: by team, project, level, risk tier and lifecycle. `rubric` picks the rubric (the
    view reads it; the default is MLGOV_RUBRIC)."""

    team = django_filters.CharFilter(field_name="project__team__slug")
    project = django_filters.CharFilter(field_name="project__slug")
    level = django_filters.NumberFilter(field_name="level")
    min_level = django_filters.NumberFilter(field_name="level", lookup_expr="gte")
    max_level = django_filters.NumberFilter(field_name="level", lookup_expr="lte")
    risk_tier = django_filters.TypedChoiceFilter(field_name="project__risk_tier", choices=RiskTier.choices, coerce=int)
    lifecycle = django_filters.ChoiceFilter(field_name="project__lifecycle", choices=Lifecycle.choices)
    rubric = django_filters.CharFilter(method="_rubric")

    class Meta:
        model = Assessment
        fields = []

    def _rubric(self, queryset, name, value):
        return queryset  # the view chose the rubric's latest scorecards already


class AssessmentFilterSet(django_filters.FilterSet):
    """Snapshots (history): by project, team, rubric and time."""

    project = django_filters.CharFilter(field_name="project__slug")
    team = django_filters.CharFilter(field_name="project__team__slug")
    rubric = django_filters.CharFilter(field_name="rubric_id")
    latest = django_filters.BooleanFilter(field_name="is_latest")
    since = django_filters.IsoDateTimeFilter(field_name="computed_at", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="computed_at", lookup_expr="lte")

    class Meta:
        model = Assessment
        fields = []


@extend_schema_field(OpenApiTypes.STR)
class _StateFilter(django_filters.ChoiceFilter):
    """active | expired | revoked (and, for attestations, pending_verification is shown as active here:
    whether one needs verification depends on the rule, which the scorecard applies)."""

    def filter(self, qs, value):
        if not value:
            return qs
        now = timezone.now()
        if value == "revoked":
            return qs.filter(revoked_at__isnull=False)
        if value == "expired":
            return qs.filter(revoked_at__isnull=True, expires_at__lte=now)
        if value == "unverified":
            return qs.filter(revoked_at__isnull=True, expires_at__gt=now, verified_at__isnull=True)
        return qs.filter(revoked_at__isnull=True, expires_at__gt=now)


class AttestationFilterSet(django_filters.FilterSet):
    project = django_filters.CharFilter(field_name="project__slug")
    team = django_filters.CharFilter(field_name="project__team__slug")
    criterion = django_filters.CharFilter(field_name="criterion_id")
    rubric = django_filters.CharFilter(field_name="rubric_id")
    state = _StateFilter(
        choices=[
            (AttestationState.ACTIVE, "Active"),
            ("unverified", "Active, not verified"),
            (AttestationState.EXPIRED, "Expired"),
            (AttestationState.REVOKED, "Revoked"),
        ]
    )

    class Meta:
        model = Attestation
        fields = []


class WaiverFilterSet(django_filters.FilterSet):
    project = django_filters.CharFilter(field_name="project__slug")
    team = django_filters.CharFilter(field_name="project__team__slug")
    criterion = django_filters.CharFilter(field_name="criterion_id")
    rubric = django_filters.CharFilter(field_name="rubric_id")
    state = _StateFilter(choices=WaiverState.choices)

    class Meta:
        model = Waiver
        fields = []


class ScoringRunFilterSet(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=ScoringStatus.choices)
    trigger = django_filters.ChoiceFilter(choices=ScoringTrigger.choices)
    rubric = django_filters.CharFilter(field_name="rubric_id")

    class Meta:
        model = ScoringRun
        fields = []


class GoalFilterSet(django_filters.FilterSet):
    team = django_filters.CharFilter(field_name="team__slug")
    rubric = django_filters.CharFilter(field_name="rubric_id")

    class Meta:
        model = MaturityGoal
        fields = []
