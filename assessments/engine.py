"""The scoring engine: a rubric and one project's evidence in, a Scorecard out. Pure Python, no Django.

For each criterion the engine decides a status and says why:

- **met**: its detector holds over evidence observed within the criterion's freshness window;
- **attested**: a current attestation confirms it (the criterion's method allows attestation; the
  attestation is not revoked, not expired, and verified by a reviewer when verification is required);
- **waived**: a current waiver exempts the project from it;
- **stale**: its detector holds only over older evidence (nothing fresh enough), and nothing above applies;
- **unmet**: none of these. An expired attestation or waiver leaves the criterion unmet, and says so.

A dimension's level is the highest level whose criteria, and those of every level below it, are met,
attested or waived (a level without criteria adds nothing to pass). The project's level is the lowest of
its dimensions: the weakest area decides. The next steps are the criteria missing for the next level.

Deterministic: the same rubric, evidence and `now` give the same Scorecard (records are ordered, reasons
name absolute dates, never "3 days ago").
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from assessments.contracts import AttestationFact, Evidence, ProjectEvidence, WaiverFact
from assessments.detectors import DETECTORS, detect, index_records
from assessments.rubric import Criterion, Rubric

MET, UNMET, WAIVED, ATTESTED, STALE = "met", "unmet", "waived", "attested", "stale"
PASSING = frozenset({MET, ATTESTED, WAIVED})
STATUSES = (MET, ATTESTED, WAIVED, STALE, UNMET)
DEFAULT_FRESH_DAYS = 180

# The state of an attestation or waiver at `now`.
ACTIVE, PENDING, EXPIRED, REVOKED, NOT_YET = "active", "pending_verification", "expired", "revoked", "not_yet"


@dataclass(frozen=True)
class CriterionResult:
    id: str
    title: str
    dimension: str
    level: int
    method: str
    detector: str | None
    guidance: str
    status: str
    reason: str
    evidence: tuple[Evidence, ...] = ()
    attestation: AttestationFact | None = None  # the one that counts, else the one worth showing
    attestation_state: str = ""
    waiver: WaiverFact | None = None
    waiver_state: str = ""

    @property
    def passing(self) -> bool:
        return self.status in PASSING


@dataclass(frozen=True)
class DimensionScore:
    id: str
    name: str
    level: int
    criteria: tuple[CriterionResult, ...]


@dataclass(frozen=True)
class NextStep:
    criterion_id: str
    title: str
    dimension: str
    level: int
    status: str
    guidance: str
    reason: str


@dataclass(frozen=True)
class Scorecard:
    project_id: int
    rubric_id: str
    rubric_version: str
    level: int
    level_name: str
    target_level: int | None  # the next level, None at the top
    dimensions: tuple[DimensionScore, ...]
    next_steps: tuple[NextStep, ...]
    computed_at: datetime

    @property
    def criteria(self) -> tuple[CriterionResult, ...]:
        return tuple(c for d in self.dimensions for c in d.criteria)

    def dimension_levels(self) -> dict[str, int]:
        return {d.id: d.level for d in self.dimensions}


def _day(value: datetime) -> str:
    return value.date().isoformat()


def attestation_state(attestation: AttestationFact, now: datetime) -> str:
    if attestation.revoked_at is not None and attestation.revoked_at <= now:
        return REVOKED
    if attestation.attested_at > now:
        return NOT_YET
    if attestation.expires_at <= now:
        return EXPIRED
    if attestation.requires_verification and (attestation.verified_at is None or attestation.verified_at > now):
        return PENDING
    return ACTIVE


def waiver_state(waiver: WaiverFact, now: datetime) -> str:
    if waiver.revoked_at is not None and waiver.revoked_at <= now:
        return REVOKED
    if waiver.granted_at > now:
        return NOT_YET
    if waiver.expires_at <= now:
        return EXPIRED
    return ACTIVE


_SHOW_ORDER = {ACTIVE: 0, PENDING: 1, EXPIRED: 2, REVOKED: 3}


def _pick(items: Sequence[Any], state_of: Any, now: datetime) -> tuple[Any, str]:
    """The item that counts (active, latest expiry), else the one worth showing (pending, then the latest
    expired, then the latest revoked). Items not yet started are ignored."""
    ranked = [(item, state_of(item, now)) for item in items]
    ranked = [(item, state) for item, state in ranked if state != NOT_YET]
    if not ranked:
        return None, ""
    ranked.sort(key=lambda pair: (_SHOW_ORDER[pair[1]], -pair[0].expires_at.timestamp(), -pair[0].id))
    return ranked[0]


class _Index:
    """The project's records by kind: all of them, and those within each freshness window (built once per
    window, not once per criterion)."""

    def __init__(self, records: Sequence[Evidence], now: datetime) -> None:
        self.records, self.now = records, now
        self.all = index_records(records)
        self._fresh: dict[int, dict[str, list[Evidence]]] = {}
        self._complete: dict[int, bool] = {}

    def fresh(self, days: int) -> dict[str, list[Evidence]]:
        index = self._fresh.get(days)
        if index is None:
            cutoff = self.now - timedelta(days=days)
            kept = {kind: [r for r in items if r.observed_at >= cutoff] for kind, items in self.all.items()}
            index = self._fresh[days] = {kind: items for kind, items in kept.items() if items}
            self._complete[days] = sum(map(len, index.values())) == len(self.records)
        return index

    def all_fresh(self, days: int) -> bool:
        """Whether every record is within the window (then nothing can be stale)."""
        self.fresh(days)
        return self._complete[days]


def _criterion(
    criterion: Criterion,
    index: _Index,
    attestations: Sequence[AttestationFact],
    waivers: Sequence[WaiverFact],
    now: datetime,
    default_fresh_days: int,
) -> CriterionResult:
    base = {
        "id": criterion.id,
        "title": criterion.title,
        "dimension": criterion.dimension,
        "level": criterion.level,
        "method": criterion.method,
        "detector": criterion.detector,
        "guidance": criterion.guidance,
    }
    attestation, a_state = _pick(attestations, attestation_state, now) if criterion.attestable else (None, "")
    waiver, w_state = _pick(waivers, waiver_state, now)
    extras = {"attestation": attestation, "attestation_state": a_state, "waiver": waiver, "waiver_state": w_state}

    detection = stale = None
    fresh_days = criterion.fresh_days or default_fresh_days
    if criterion.detectable:
        detector = DETECTORS[criterion.detector]  # type: ignore[index]
        detection = detect(detector, index.fresh(fresh_days))
        if detection.met:
            return CriterionResult(**base, status=MET, reason=detection.reason, evidence=detection.evidence, **extras)
        if not index.all_fresh(fresh_days):
            stale = detect(detector, index.all)

    notes = []
    if a_state == ACTIVE:
        verified = f", verified by {attestation.verified_by}" if attestation.verified_by else ""
        reason = (
            f"Attested by {attestation.attested_by} on {_day(attestation.attested_at)}{verified}; "
            f"valid until {_day(attestation.expires_at)}."
        )
        return CriterionResult(**base, status=ATTESTED, reason=reason, **extras)
    if a_state == PENDING:
        notes.append(f"The attestation by {attestation.attested_by} awaits a reviewer's verification.")
    elif a_state == EXPIRED:
        notes.append(f"The attestation by {attestation.attested_by} expired on {_day(attestation.expires_at)}.")
    elif a_state == REVOKED:
        notes.append(f"The attestation by {attestation.attested_by} was revoked.")

    if w_state == ACTIVE:
        reason = f"Waived by {waiver.granted_by} until {_day(waiver.expires_at)}: {waiver.justification}"
        return CriterionResult(**base, status=WAIVED, reason=" ".join([reason, *notes]), **extras)
    if w_state == EXPIRED:
        notes.append(f"The waiver by {waiver.granted_by} expired on {_day(waiver.expires_at)}.")

    if stale is not None and stale.met:
        newest = max(r.observed_at for r in stale.evidence)
        reason = f"Stale: the evidence is older than {fresh_days} days (newest {_day(newest)}). {stale.reason}"
        return CriterionResult(
            **base, status=STALE, reason=" ".join([reason, *notes]), evidence=stale.evidence, **extras
        )

    if detection is not None:
        reason = detection.reason
        if criterion.attestable:
            reason += " It may also be attested."
    else:
        reason = "Needs a team maintainer's attestation; there is no current one."
    return CriterionResult(**base, status=UNMET, reason=" ".join([reason, *notes]), **extras)


def score(
    rubric: Rubric, evidence: ProjectEvidence, *, now: datetime, default_fresh_days: int = DEFAULT_FRESH_DAYS
) -> Scorecard:
    """Score one project against a rubric at time `now` (timezone-aware)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    index = _Index(evidence.records, now)
    attestations: dict[str, list[AttestationFact]] = {}
    for a in evidence.attestations:
        attestations.setdefault(a.criterion_id, []).append(a)
    waivers: dict[str, list[WaiverFact]] = {}
    for w in evidence.waivers:
        waivers.setdefault(w.criterion_id, []).append(w)

    dimensions = []
    for dim in rubric.dimensions:
        results = []
        level, climbing = rubric.baseline, True
        for dim_level in dim.levels:
            passed = True
            for criterion in dim_level.criteria:
                result = _criterion(
                    criterion,
                    index,
                    attestations.get(criterion.id, ()),
                    waivers.get(criterion.id, ()),
                    now,
                    default_fresh_days,
                )
                results.append(result)
                passed = passed and result.passing
            if climbing and passed:
                level = dim_level.level
            else:
                climbing = False
        dimensions.append(DimensionScore(dim.id, dim.name, level, tuple(results)))

    overall = min(d.level for d in dimensions)
    target = overall + 1 if overall < rubric.top else None
    steps = tuple(
        NextStep(c.id, c.title, c.dimension, c.level, c.status, c.guidance, c.reason)
        for d in dimensions
        for c in d.criteria
        if target is not None and c.level <= target and not c.passing
    )
    steps = tuple(sorted(steps, key=lambda s: s.level))  # stable: dimension and file order within a level
    return Scorecard(
        project_id=evidence.project_id,
        rubric_id=rubric.id,
        rubric_version=rubric.version,
        level=overall,
        level_name=rubric.level_name(overall),
        target_level=target,
        dimensions=tuple(dimensions),
        next_steps=steps,
        computed_at=now,
    )


# --- serialisation: what an Assessment stores and the API returns ---


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def evidence_to_dict(record: Evidence) -> dict[str, Any]:
    return {
        "kind": record.kind,
        "source": record.source,
        "link": record.link,
        "observed_at": _iso(record.observed_at),
        "count": record.count,
        "summary": record.summary,
    }


def _attestation_dict(a: AttestationFact | None, state: str) -> dict[str, Any] | None:
    if a is None:
        return None
    return {
        "id": a.id,
        "state": state,
        "statement": a.statement,
        "link": a.link,
        "attested_by": a.attested_by,
        "attested_at": _iso(a.attested_at),
        "expires_at": _iso(a.expires_at),
        "requires_verification": a.requires_verification,
        "verified_by": a.verified_by,
        "verified_at": _iso(a.verified_at),
    }


def _waiver_dict(w: WaiverFact | None, state: str) -> dict[str, Any] | None:
    if w is None:
        return None
    return {
        "id": w.id,
        "state": state,
        "justification": w.justification,
        "granted_by": w.granted_by,
        "granted_at": _iso(w.granted_at),
        "expires_at": _iso(w.expires_at),
    }


def criterion_to_dict(c: CriterionResult, *, evidence_limit: int = 5) -> dict[str, Any]:
    """What a snapshot keeps of a criterion: what was found, not what the rubric says (its title, method,
    detector and guidance are the rubric's, by id and version; `assessments.selectors.scorecard_detail`
    joins them back)."""
    out: dict[str, Any] = {
        "id": c.id,
        "level": c.level,
        "status": c.status,
        "reason": c.reason,
        "evidence": [evidence_to_dict(r) for r in c.evidence[:evidence_limit]],
        "evidence_total": len(c.evidence),
    }
    if c.attestation is not None:
        out["attestation"] = _attestation_dict(c.attestation, c.attestation_state)
    if c.waiver is not None:
        out["waiver"] = _waiver_dict(c.waiver, c.waiver_state)
    return out


def scorecard_to_dict(card: Scorecard, *, rubric_name: str = "", evidence_limit: int = 5) -> dict[str, Any]:
    counts = dict.fromkeys(STATUSES, 0)
    for c in card.criteria:
        counts[c.status] += 1
    return {
        "project_id": card.project_id,
        "rubric": {"id": card.rubric_id, "version": card.rubric_version, "name": rubric_name},
        "level": card.level,
        "level_name": card.level_name,
        "target_level": card.target_level,
        "computed_at": _iso(card.computed_at),
        "dimensions": [
            {
                "id": d.id,
                "name": d.name,
                "level": d.level,
                "criteria": [criterion_to_dict(c, evidence_limit=evidence_limit) for c in d.criteria],
            }
            for d in card.dimensions
        ],
        "next_steps": [
            {"criterion": s.criterion_id, "level": s.level, "status": s.status, "reason": s.reason}
            for s in card.next_steps
        ],
        "counts": counts,
    }


def fingerprint(card: Scorecard, *, evidence_limit: int = 5) -> str:
    """A digest of what a stored scorecard says (`scorecard_to_dict`), without its times: when it was
    computed, and when each piece of evidence was last observed (a current fact such as "the team has a
    maintainer" is observed at every run; a new observation that changes anything changes its link, count or
    summary too). Built from the Scorecard directly, so an unchanged project costs no dict and no JSON."""
    parts: list[str] = [card.rubric_id, card.rubric_version, str(card.level), str(card.target_level)]
    for d in card.dimensions:
        parts.append(f"{d.id}={d.level}")
        for c in d.criteria:
            parts += [c.id, c.status, c.reason, str(len(c.evidence))]
            for r in c.evidence[:evidence_limit]:
                parts += [r.kind, r.source, r.link, str(r.count), r.summary]
            for fact, state in ((c.attestation, c.attestation_state), (c.waiver, c.waiver_state)):
                if fact is not None:
                    parts += [type(fact).__name__, str(fact.id), state, fact.expires_at.isoformat()]
    for step in card.next_steps:
        parts += [step.criterion_id, step.status]
    return hashlib.sha1("\x1f".join(parts).encode(), usedforsecurity=False).hexdigest()
