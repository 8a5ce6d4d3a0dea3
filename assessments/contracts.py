"""What evidence providers hand to the scoring engine: frozen dataclasses, no Django.

The evidence module (`assessments/evidence.py`) builds these from the inventory and the integrations;
an app above assessments (governance) builds them too, through a provider registered with
`assessments.hooks.register_evidence_provider`. `assessments/engine.py` reads nothing else.

An `Evidence` record is one observed fact about a project, summarised: *what* (its `kind`, from the
catalogue in docs/rubric.md), *where from* (`source`, e.g. ``mlflow:prod`` or ``git:card-fraud``), *a
link* to look at (an MLflow run, a file at its commit, a CI run), *when* it was last observed, and how
many observations it summarises (`count`). Records only ever say that something holds: a provider
expresses "this does not hold" by not producing the record, so that more evidence never lowers a level.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Evidence:
    """One observed fact about a project (a summary of `count` observations, the latest at `observed_at`)."""

    kind: str  # e.g. "mlflow.run.tracked", "git.signal.ci_config", "ci.run.deployment", "promotion.governed"
    source: str  # where it was observed: "mlflow:prod", "git:card-fraud", "repo:github.com/acme/x", "mlgov"
    observed_at: datetime  # timezone-aware: when the latest observation was made (a run's start, a scan)
    link: str = ""  # a URL to the evidence itself, or "" when the source has no browsable address
    count: int = 1  # how many observations the record summarises (runs, files, CI runs...)
    summary: str = ""  # one line for people: "42 runs with params or metrics; latest fraud-gbm-17"
    facts: Mapping[str, Any] = field(default_factory=dict)  # kind-specific details (JSON-serialisable)


@dataclass(frozen=True)
class AttestationFact:
    """A person's confirmation that a criterion holds. Counts from `attested_at` until `expires_at`, if not
    revoked, and, when `requires_verification`, only once a reviewer verified it."""

    id: int
    criterion_id: str
    statement: str
    attested_by: str
    attested_at: datetime
    expires_at: datetime
    link: str = ""
    requires_verification: bool = False
    verified_by: str = ""
    verified_at: datetime | None = None
    revoked_at: datetime | None = None


@dataclass(frozen=True)
class WaiverFact:
    """A manager's exemption from a criterion, with its justification, until `expires_at` (unless revoked)."""

    id: int
    criterion_id: str
    justification: str
    granted_by: str
    granted_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None


@dataclass(frozen=True)
class ProjectEvidence:
    """Everything the engine knows about one project."""

    project_id: int
    records: tuple[Evidence, ...] = ()
    attestations: tuple[AttestationFact, ...] = ()
    waivers: tuple[WaiverFact, ...] = ()


# A provider: (project ids, now) -> evidence records per project id. It must cost a fixed number of
# queries whatever the number of projects, and may leave out projects it knows nothing about.
EvidenceProvider = Callable[[Sequence[int], datetime], Mapping[int, Iterable[Evidence]]]
