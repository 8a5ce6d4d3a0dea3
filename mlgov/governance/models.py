"""Governance: promotion policies, requests, reviews, waivers, alias history, drift findings, outbound webhooks."""

from __future__ import annotations

import re
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from mlgov.governance import policies
from mlgov.governance.choices import AliasSource, Decision, DeliveryStatus, DriftStatus, Gate, Independence
from mlgov.governance.choices import PromotionState as State
from mlgov.inventory.choices import RiskTier
from mlgov.inventory.validators import validate_no_control_chars

_ALIAS = re.compile(r"[A-Za-z0-9_\-]{1,100}")


def validate_alias(value: str) -> None:
    """MLflow's alias rules: letters, digits, '-' and '_'; not 'latest'; not a version reference like 'v3'."""
    if not _ALIAS.fullmatch(value or ""):
        raise ValidationError("An alias is 1-100 letters, digits, '-' or '_'.", code="invalid_alias")
    if value.lower() == "latest" or re.fullmatch(r"[vV]\d+", value):
        raise ValidationError(f"MLflow reserves the alias {value!r}.", code="reserved_alias")


def validate_expression(value: str) -> None:
    if value.strip():
        try:
            policies.parse_expression(value)
        except policies.ExpressionError as exc:
            raise ValidationError(f"Invalid gate expression: {exc}", code="invalid_expression") from exc


def validate_no_regression(value: object) -> None:
    if not isinstance(value, dict) or any(
        not isinstance(k, str) or not k or v not in (policies.HIGHER, policies.LOWER) for k, v in value.items()
    ):
        raise ValidationError(
            'No-regression metrics are a mapping of metric name to "higher" or "lower" (which way is better).',
            code="invalid_no_regression",
        )


OPEN = Q(state__in=policies.OPEN_STATES)


class PromotionPolicy(models.Model):
    """What a promotion to one alias needs, organisation-wide or for one team and/or risk tier."""

    name = models.SlugField(max_length=80, unique=True)
    description = models.TextField(blank=True, max_length=2000, validators=[validate_no_control_chars])
    target = models.CharField(max_length=100, validators=[validate_alias], help_text="The alias, e.g. production.")
    team = models.ForeignKey(
        "inventory.Team", null=True, blank=True, on_delete=models.PROTECT, related_name="promotion_policies"
    )
    risk_tier = models.PositiveSmallIntegerField(null=True, blank=True, choices=RiskTier.choices)
    approvals_required = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(10)]
    )
    approver_team = models.ForeignKey(
        "inventory.Team",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="approver_policies",
        help_text="Only reviewers who are members of this team may approve (empty: any reviewer).",
    )
    independence = models.CharField(max_length=12, choices=Independence.choices, default=Independence.STRICT)
    min_maturity_level = models.PositiveSmallIntegerField(null=True, blank=True, validators=[MaxValueValidator(4)])
    metric_gate = models.TextField(
        blank=True,
        max_length=policies.MAX_EXPRESSION_LENGTH,
        validators=[validate_expression],
        help_text="e.g. metrics.auc >= 0.85 and metrics.latency_p95_ms < 50",
    )
    require_green_ci = models.BooleanField(default=False)
    require_dataset_lineage = models.BooleanField(default=False)
    no_regression = models.JSONField(
        default=dict,
        blank=True,
        validators=[validate_no_regression],
        help_text='Metrics the candidate may not be worse at than the current holder: {"auc": "higher"}.',
    )
    max_age_hours = models.PositiveIntegerField(
        null=True, blank=True, default=168, help_text="A request still pending after this long expires (empty: never)."
    )
    revert_drift = models.BooleanField(
        default=False, help_text="Put the approved version back when the alias is moved outside mlgov."
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["target", "name"]
        verbose_name_plural = "promotion policies"
        constraints = [
            models.UniqueConstraint(
                fields=["target"],
                condition=Q(enabled=True, team__isnull=True, risk_tier__isnull=True),
                name="policy_scope_org_uniq",
            ),
            models.UniqueConstraint(
                fields=["target", "team"],
                condition=Q(enabled=True, team__isnull=False, risk_tier__isnull=True),
                name="policy_scope_team_uniq",
            ),
            models.UniqueConstraint(
                fields=["target", "risk_tier"],
                condition=Q(enabled=True, team__isnull=True, risk_tier__isnull=False),
                name="policy_scope_tier_uniq",
            ),
            models.UniqueConstraint(
                fields=["target", "team", "risk_tier"],
                condition=Q(enabled=True, team__isnull=False, risk_tier__isnull=False),
                name="policy_scope_team_tier_uniq",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def as_rules(self) -> policies.Policy:
        """The pure view of this policy, for the rules in policies.py."""
        return policies.Policy(
            target=self.target,
            approvals_required=self.approvals_required,
            approver_team_id=self.approver_team_id,
            approver_team=self.approver_team.name if self.approver_team_id and self.approver_team else "",
            independence=self.independence,
            min_maturity_level=self.min_maturity_level,
            metric_gate=self.metric_gate,
            require_green_ci=self.require_green_ci,
            require_dataset_lineage=self.require_dataset_lineage,
            no_regression=tuple(sorted((self.no_regression or {}).items())),
            max_age_hours=self.max_age_hours,
        )

    @property
    def scope(self) -> str:
        parts = [f"team {self.team.slug}" if self.team_id else "", f"tier {self.risk_tier}" if self.risk_tier else ""]
        return ", ".join(p for p in parts if p) or "organisation-wide"


class PromotionRequest(models.Model):
    """A request to point an alias of a registered model at one of its versions."""

    model = models.ForeignKey("inventory.RegisteredModel", on_delete=models.PROTECT, related_name="promotion_requests")
    version = models.ForeignKey("inventory.ModelVersion", on_delete=models.PROTECT, related_name="promotion_requests")
    target = models.CharField(max_length=100)
    policy = models.ForeignKey(PromotionPolicy, on_delete=models.PROTECT, related_name="requests")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="promotion_requests"
    )
    justification = models.TextField(max_length=4000)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING, db_index=True)
    approvals = models.PositiveSmallIntegerField(default=0)
    approvals_required = models.PositiveSmallIntegerField(default=1)
    # The last evaluation of the policy's gates: [{"gate", "status", "reason", "evidence", ...}].
    gates = models.JSONField(default=list, blank=True)
    gates_passed = models.BooleanField(default=False)
    gates_evaluated_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    apply_started_at = models.DateTimeField(null=True, blank=True)
    applied_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    # What held the alias in MLflow just before this promotion moved it (the rollback target).
    previous_version = models.ForeignKey(
        "inventory.ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    previous_version_number = models.CharField(max_length=40, blank=True)
    previous_recorded = models.BooleanField(default=False)
    rollback_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="rollbacks")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            # One open request per version and target: a double submit creates one request.
            models.UniqueConstraint(fields=["version", "target"], condition=OPEN, name="promotion_one_open_uniq"),
        ]
        indexes = [models.Index(fields=["model", "target", "state"], name="promotion_model_target_idx")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.model.name} v{self.version.version} → {self.target}"

    @property
    def is_open(self) -> bool:
        return self.state in policies.OPEN_STATES


class Review(models.Model):
    """One reviewer's decision on one request (a reviewer decides once)."""

    request = models.ForeignKey(PromotionRequest, on_delete=models.CASCADE, related_name="reviews")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="promotion_reviews")
    decision = models.CharField(max_length=8, choices=Decision.choices)
    comment = models.TextField(blank=True, max_length=4000)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["request", "reviewer"], name="review_one_per_reviewer")]

    def __str__(self) -> str:
        return f"{self.reviewer} {self.decision} #{self.request_id}"


class GateWaiver(models.Model):
    """A manager's decision that one failing gate does not block one request."""

    request = models.ForeignKey(PromotionRequest, on_delete=models.CASCADE, related_name="waivers")
    gate = models.CharField(max_length=20, choices=Gate.choices)
    granted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="gate_waivers")
    reason = models.TextField(max_length=4000)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["request", "gate"], name="waiver_one_per_gate")]

    def __str__(self) -> str:
        return f"{self.gate} waived on #{self.request_id}"


class AliasChange(models.Model):
    """One entry of a model's alias history: from `started_at`, `version` held `alias` (none: removed)."""

    model = models.ForeignKey("inventory.RegisteredModel", on_delete=models.CASCADE, related_name="alias_history")
    alias = models.CharField(max_length=100)
    version = models.ForeignKey(
        "inventory.ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="alias_history"
    )
    version_number = models.CharField(max_length=40, blank=True)
    previous_number = models.CharField(max_length=40, blank=True)
    source = models.CharField(max_length=10, choices=AliasSource.choices)
    request = models.ForeignKey(
        PromotionRequest, null=True, blank=True, on_delete=models.SET_NULL, related_name="alias_changes"
    )
    finding = models.ForeignKey(
        "DriftFinding", null=True, blank=True, on_delete=models.SET_NULL, related_name="alias_changes"
    )
    actor_name = models.CharField(max_length=150, blank=True)
    started_at = models.DateTimeField()

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["model", "alias", "started_at"], name="aliaschange_lookup_idx")]

    def __str__(self) -> str:
        return f"{self.model_id}@{self.alias} → {self.version_number or '(none)'} ({self.source})"

    @property
    def approved(self) -> bool:
        return self.source != AliasSource.OBSERVED


class DriftFinding(models.Model):
    """An alias that MLflow points somewhere mlgov never approved."""

    model = models.ForeignKey("inventory.RegisteredModel", on_delete=models.CASCADE, related_name="drift_findings")
    alias = models.CharField(max_length=100)
    expected_version = models.ForeignKey(
        "inventory.ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    expected_number = models.CharField(max_length=40, blank=True)
    observed_version = models.ForeignKey(
        "inventory.ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    observed_number = models.CharField(max_length=40, blank=True)
    policy = models.ForeignKey(
        PromotionPolicy, null=True, blank=True, on_delete=models.SET_NULL, related_name="drift_findings"
    )
    sync_run = models.ForeignKey(
        "integrations.SyncRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="drift_findings"
    )
    status = models.CharField(max_length=10, choices=DriftStatus.choices, default=DriftStatus.OPEN, db_index=True)
    detected_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.CharField(max_length=150, blank=True)
    resolution = models.TextField(blank=True, max_length=4000)

    class Meta:
        ordering = ["-detected_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["model", "alias"], condition=Q(status="open"), name="drift_one_open_per_alias"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model_id}@{self.alias}: {self.observed_number or '(none)'} ≠ {self.expected_number or '(none)'}"


class WebhookEndpoint(models.Model):
    """A URL that receives signed promotion and drift events (Slack relays, CD systems)."""

    name = models.SlugField(max_length=60, unique=True)
    url = models.URLField(max_length=1000)
    secret_env_var = models.CharField(
        max_length=100, help_text="Name of the environment variable holding the HMAC secret (never the secret)."
    )
    events = models.JSONField(default=list, blank=True, help_text="Events to send; empty: all of them.")
    enabled = models.BooleanField(default=True)
    description = models.CharField(max_length=500, blank=True, validators=[validate_no_control_chars])
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def wants(self, event: str) -> bool:
        return self.enabled and (not self.events or event in self.events)


class OutboundDelivery(models.Model):
    """One event for one endpoint: signed, identified by `delivery_id`, retried until delivered or out of tries."""

    delivery_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=40)
    payload = models.JSONField(default=dict)
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "outbound deliveries"

    def __str__(self) -> str:
        return f"{self.event} → {self.endpoint_id} ({self.status})"
