from django.db import models


class ScoringTrigger(models.TextChoices):
    """What started a scoring run."""

    SYNC = "sync", "After a sync"
    NIGHTLY = "nightly", "Nightly"
    PAGE = "page", "On demand (page)"
    API = "api", "On demand (API)"
    CLI = "cli", "Command line"
    DEMO = "demo", "Demo seed"
    CHANGE = "change", "Attestation or waiver changed"
    GOVERNANCE = "governance", "A promotion applied or a drift finding changed"


class ScoringStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class CriterionStatus(models.TextChoices):
    """The engine's statuses (assessments/engine.py uses the plain strings)."""

    MET = "met", "Met"
    UNMET = "unmet", "Unmet"
    WAIVED = "waived", "Waived"
    ATTESTED = "attested", "Attested"
    STALE = "stale", "Stale"


class AttestationState(models.TextChoices):
    ACTIVE = "active", "Active"
    PENDING = "pending_verification", "Awaiting verification"
    EXPIRED = "expired", "Expired"
    REVOKED = "revoked", "Revoked"


class WaiverState(models.TextChoices):
    ACTIVE = "active", "Active"
    EXPIRED = "expired", "Expired"
    REVOKED = "revoked", "Revoked"
