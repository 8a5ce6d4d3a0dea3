"""Choices of the governance models, built from the pure rules so the two never disagree."""

from django.db import models

from mlgov.governance import policies as p


class PromotionState(models.TextChoices):
    PENDING = p.PENDING, "Pending review"
    APPROVED = p.APPROVED, "Approved"
    APPLYING = p.APPLYING, "Applying"
    APPLIED = p.APPLIED, "Applied"
    FAILED = p.FAILED, "Failed"
    REJECTED = p.REJECTED, "Rejected"
    CANCELLED = p.CANCELLED, "Cancelled"
    EXPIRED = p.EXPIRED, "Expired"


class Independence(models.TextChoices):
    REQUESTER = p.INDEPENDENCE_REQUESTER, "Not the requester"
    AUTHOR = p.INDEPENDENCE_AUTHOR, "Not the requester or the run's author"
    STRICT = p.INDEPENDENCE_STRICT, "Not the requester, the run's author or the last committers"


class Gate(models.TextChoices):
    METRICS = p.GATE_METRICS, p.GATES[p.GATE_METRICS]
    CI = p.GATE_CI, p.GATES[p.GATE_CI]
    LINEAGE = p.GATE_LINEAGE, p.GATES[p.GATE_LINEAGE]
    MATURITY = p.GATE_MATURITY, p.GATES[p.GATE_MATURITY]
    REGRESSION = p.GATE_REGRESSION, p.GATES[p.GATE_REGRESSION]


class Decision(models.TextChoices):
    APPROVE = "approve", "Approved"
    REJECT = "reject", "Rejected"


class AliasSource(models.TextChoices):
    """How an alias came to point where it does."""

    PROMOTION = "promotion", "Approved promotion"
    REVERT = "revert", "Drift reverted to the approved version"
    ACCEPTED = "accepted", "Drift accepted by a manager"
    OBSERVED = "observed", "Moved outside mlgov (drift)"


class DriftStatus(models.TextChoices):
    OPEN = "open", "Open"
    CLEARED = "cleared", "Cleared: MLflow matches the approved version again"
    REVERTED = "reverted", "Reverted to the approved version"
    ACCEPTED = "accepted", "Accepted"
    SUPERSEDED = "superseded", "Superseded by a later finding"


class DeliveryStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RETRYING = "retrying", "Retrying"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"
