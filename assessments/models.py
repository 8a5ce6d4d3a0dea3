"""Maturity assessments: snapshots and runs, attestations, waivers, their rules, and goals."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from assessments.choices import AttestationState, ScoringStatus, ScoringTrigger, WaiverState
from mlgov.inventory.validators import validate_no_control_chars


class SnapshotJSONField(models.JSONField):
    """A JSONField that Django's PostgreSQL `bulk_create` inserts row by row in its VALUES list rather than
    through `UNNEST(array)`: a jsonb array literal escapes every quote of every document on the client, which
    made storing 10,000 scorecards take seconds (docs/performance.md). Any field with `get_placeholder`
    opts a bulk insert out of UNNEST."""

    def get_placeholder(self, value, compiler, connection):
        return "%s"


class ScoringRun(models.Model):
    """One scoring run: which projects (all when `project_ids` is null), why, how it went, and its counts."""

    trigger = models.CharField(max_length=10, choices=ScoringTrigger.choices)
    triggered_by = models.CharField(max_length=150, blank=True)
    rubric_id = models.CharField(max_length=60)
    project_ids = models.JSONField(null=True, blank=True)
    sync_run_id = models.PositiveBigIntegerField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=ScoringStatus.choices, default=ScoringStatus.QUEUED)
    counts = models.JSONField(default=dict, blank=True)
    timings = models.JSONField(default=dict, blank=True)
    progress = models.JSONField(default=dict, blank=True)
    errors = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"scoring #{self.pk} {self.status}"

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


class Assessment(models.Model):
    """A project's scorecard as one scoring run computed it, kept as history.

    A run writes a new snapshot when the scorecard differs from the project's latest (`fingerprint`);
    otherwise it only moves the latest snapshot's `checked_at`. `is_latest` marks the current one per
    project and rubric.
    """

    project = models.ForeignKey("inventory.Project", on_delete=models.CASCADE, related_name="assessments")
    scoring_run = models.ForeignKey(
        ScoringRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="assessments"
    )
    rubric_id = models.CharField(max_length=60)
    rubric_version = models.CharField(max_length=40)
    level = models.PositiveSmallIntegerField()
    previous_level = models.PositiveSmallIntegerField(null=True, blank=True)
    dimensions = models.JSONField(default=dict)  # {"people": 2, "model_creation": 3, ...}
    scorecard = SnapshotJSONField(default=dict)  # engine.scorecard_to_dict
    fingerprint = models.CharField(max_length=40)
    is_latest = models.BooleanField(default=True)
    trigger = models.CharField(max_length=10, choices=ScoringTrigger.choices)
    computed_at = models.DateTimeField(db_index=True)
    checked_at = models.DateTimeField()

    class Meta:
        ordering = ["-computed_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "rubric_id"], condition=Q(is_latest=True), name="assessment_one_latest"
            ),
        ]
        indexes = [
            models.Index(fields=["project", "rubric_id", "computed_at"], name="assessment_history_idx"),
            models.Index(fields=["rubric_id", "is_latest", "level"], name="assessment_latest_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.project_id} level {self.level} ({self.rubric_id} {self.rubric_version})"


class Attestation(models.Model):
    """A team maintainer's statement that a criterion holds for a project, until it expires."""

    project = models.ForeignKey("inventory.Project", on_delete=models.CASCADE, related_name="attestations")
    rubric_id = models.CharField(max_length=60)
    criterion_id = models.CharField(max_length=120)
    statement = models.TextField(max_length=4000, validators=[validate_no_control_chars])
    link = models.URLField(max_length=1000, blank=True)
    attested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    attested_by_name = models.CharField(max_length=150)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    verified_by_name = models.CharField(max_length=150, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by_name = models.CharField(max_length=150, blank=True)
    revoke_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["project", "rubric_id", "criterion_id"], name="attestation_lookup_idx")]

    def __str__(self) -> str:
        return f"{self.criterion_id} attested for {self.project_id}"

    def state(self, *, now=None, requires_verification: bool = False) -> str:
        now = now or timezone.now()
        if self.revoked_at is not None:
            return AttestationState.REVOKED
        if self.expires_at <= now:
            return AttestationState.EXPIRED
        if requires_verification and self.verified_at is None:
            return AttestationState.PENDING
        return AttestationState.ACTIVE


class Waiver(models.Model):
    """A manager's exemption of a project from a criterion, with a justification and an expiry."""

    project = models.ForeignKey("inventory.Project", on_delete=models.CASCADE, related_name="waivers")
    rubric_id = models.CharField(max_length=60)
    criterion_id = models.CharField(max_length=120)
    justification = models.TextField(max_length=4000, validators=[validate_no_control_chars])
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    granted_by_name = models.CharField(max_length=150)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by_name = models.CharField(max_length=150, blank=True)
    revoke_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["project", "rubric_id", "criterion_id"], name="waiver_lookup_idx")]

    def __str__(self) -> str:
        return f"{self.criterion_id} waived for {self.project_id}"

    def state(self, *, now=None) -> str:
        now = now or timezone.now()
        if self.revoked_at is not None:
            return WaiverState.REVOKED
        if self.expires_at <= now:
            return WaiverState.EXPIRED
        return WaiverState.ACTIVE


class AttestationRule(models.Model):
    """How attestations of one criterion are checked: reviewer verification, and how long they last."""

    rubric_id = models.CharField(max_length=60)
    criterion_id = models.CharField(max_length=120)
    requires_verification = models.BooleanField(default=False)
    validity_days = models.PositiveIntegerField(null=True, blank=True)
    updated_by_name = models.CharField(max_length=150, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["rubric_id", "criterion_id"]
        constraints = [
            models.UniqueConstraint(fields=["rubric_id", "criterion_id"], name="attestationrule_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.rubric_id}:{self.criterion_id}"


class MaturityGoal(models.Model):
    """A target a manager sets: e.g. every tier-1 project at level 3 by 2027-03-31."""

    name = models.CharField(max_length=200, validators=[validate_no_control_chars])
    rubric_id = models.CharField(max_length=60)
    target_level = models.PositiveSmallIntegerField()
    due_date = models.DateField()
    team = models.ForeignKey(
        "inventory.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="maturity_goals"
    )
    risk_tier = models.PositiveSmallIntegerField(null=True, blank=True)
    lifecycle = models.CharField(max_length=20, blank=True)
    created_by_name = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["due_date", "id"]

    def __str__(self) -> str:
        return self.name
