"""The scoring engine, without a database: table-driven levels and criteria, statuses, next steps, and
Hypothesis properties (more evidence never lowers a level; the overall level is the lowest dimension;
an expired attestation never counts)."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assessments.contracts import AttestationFact, Evidence, ProjectEvidence, WaiverFact
from assessments.detectors import DETECTORS, EVIDENCE_KINDS
from assessments.engine import (
    ATTESTED,
    MET,
    PASSING,
    STALE,
    UNMET,
    WAIVED,
    fingerprint,
    score,
    scorecard_to_dict,
)
from assessments.rubric import available_rubrics, get_rubric

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
AZURE = get_rubric("azure-mlops")
GOOGLE = get_rubric("google-mlops")


def ev(kind: str, *, count: int = 1, age_days: float = 1, source: str = "test") -> Evidence:
    return Evidence(
        kind=kind,
        source=source,
        observed_at=NOW - timedelta(days=age_days),
        link=f"https://evidence.example/{kind}",
        count=count,
        summary=kind,
    )


_ids = iter(range(1, 1_000_000))


def attest(criterion: str, *, days_left: float = 30, age_days: float = 10, **extra) -> AttestationFact:
    return AttestationFact(
        id=next(_ids),
        criterion_id=criterion,
        statement="We agreed the production markers.",
        attested_by="femi",
        attested_at=NOW - timedelta(days=age_days),
        expires_at=NOW + timedelta(days=days_left),
        **extra,
    )


def waive(criterion: str, *, days_left: float = 30, **extra) -> WaiverFact:
    return WaiverFact(
        id=next(_ids),
        criterion_id=criterion,
        justification="Batch model, no online serving.",
        granted_by="maya",
        granted_at=NOW - timedelta(days=5),
        expires_at=NOW + timedelta(days=days_left),
        **extra,
    )


def card(records=(), attestations=(), waivers=(), rubric=AZURE):
    return score(rubric, ProjectEvidence(1, tuple(records), tuple(attestations), tuple(waivers)), now=NOW)


def status(sc, criterion_id: str) -> str:
    return next(c.status for c in sc.criteria if c.id == criterion_id)


# --- levels: for each level, the evidence that exactly reaches it (cumulative) ---

LEVEL_EVIDENCE: dict[int, tuple[list[str], list[str]]] = {
    # level: (evidence kinds added, criteria attested)
    1: (
        [
            "mlgov.team.maintainer",  # people.maintainer-named
            "ci.pipeline.data",  # creation.data-pipeline
            "git.signal.scoring_code",  # release.scoring-script-versioned
            "git.signal.test_file",  # integration.unit-tests
            "git.signal.ci_config",  # integration.automated-app-release
            "ci.run.succeeded",
        ],
        [],
    ),
    2: (
        [
            "git.signal.training_code",  # people.repeatable-jobs, creation.training-code-versioned
            "mlflow.run.automated",  # people.repeatable-jobs, creation.managed-compute
            "mlflow.run.tracked",  # creation.experiments-tracked
            "mlflow.run.commit",  # creation.training-code-versioned
            "mlflow.model.version",  # creation.models-versioned
            "git.signal.scoring_test",  # release.scoring-script-tested
        ],
        ["release.engineering-managed"],
    ),
    3: (
        [
            "ci.pipeline.auto_deploy",  # people.automated-integration, release.automated
            "ci.run.deployed",  # release.automated
            "mlflow.alias.traced",  # release.traceable
            "ci.run.tested",  # integration.release-tests
            "git.signal.dockerfile",  # integration.packaged
        ],
        [],
    ),
    4: (
        [
            "git.signal.monitoring",  # people.post-deployment-metrics, creation.automatic-retraining
            "ci.pipeline.scheduled_training",  # creation.automatic-retraining
            "promotion.governed",  # release.governed-promotions (governance's provider)
            "alias.governed",  # release.governed-aliases
        ],
        ["people.production-markers"],
    ),
}


def evidence_for(level: int) -> tuple[list[Evidence], list[AttestationFact]]:
    kinds = [k for lv in range(1, level + 1) for k in LEVEL_EVIDENCE[lv][0]]
    attested = [c for lv in range(1, level + 1) for c in LEVEL_EVIDENCE[lv][1]]
    return [ev(k) for k in kinds], [attest(c) for c in attested]


@pytest.mark.parametrize("level", [0, 1, 2, 3, 4])
def test_evidence_that_exactly_reaches_each_level(level):
    records, attestations = evidence_for(level)
    sc = card(records, attestations)
    assert sc.level == level
    assert sc.level_name == AZURE.level_name(level)
    assert sc.target_level == (level + 1 if level < 4 else None)
    assert all(d.level >= level for d in sc.dimensions)
    assert min(d.level for d in sc.dimensions) == level
    # Exactly: every record and every attestation this level added is needed.
    if level:
        added, attested = LEVEL_EVIDENCE[level]
        for kind in added:
            fewer = [r for r in records if r.kind != kind]
            assert card(fewer, attestations).level < level, f"level {level} without {kind}"
        for criterion in attested:
            fewer = [a for a in attestations if a.criterion_id != criterion]
            assert card(records, fewer).level < level, f"level {level} without attesting {criterion}"


def test_level_4_holds_every_criterion_and_has_no_next_steps():
    records, attestations = evidence_for(4)
    sc = card(records, attestations)
    assert {c.status for c in sc.criteria} <= {MET, ATTESTED}
    assert sc.next_steps == ()


def test_the_next_steps_are_the_missing_criteria_of_the_next_level_with_guidance():
    records, attestations = evidence_for(1)
    sc = card(records, attestations)
    assert sc.level == 1
    assert [(s.criterion_id, s.level) for s in sc.next_steps] == [
        ("people.repeatable-jobs", 2),
        ("creation.experiments-tracked", 2),
        ("creation.training-code-versioned", 2),
        ("creation.models-versioned", 2),
        ("creation.managed-compute", 2),
        ("release.scoring-script-tested", 2),
        ("release.engineering-managed", 2),
    ]
    step = sc.next_steps[0]
    assert step.guidance == AZURE.criterion("people.repeatable-jobs").guidance
    assert "training code in Git" in step.reason
    assert "git.signal.training_code" in step.reason


def test_the_weakest_dimension_decides():
    records, attestations = evidence_for(3)
    records = [r for r in records if r.kind != "git.signal.dockerfile"]  # integration falls to 1 (level 2 is empty)
    sc = card(records, attestations)
    levels = sc.dimension_levels()
    assert levels == {"people": 3, "model_creation": 3, "model_release": 3, "application_integration": 2}
    assert sc.level == 2


# --- criteria: for each criterion, the evidence that flips it ---


def _minimal(detector_name: str) -> list[Evidence]:
    """The first alternative of every clause, at its minimum count."""
    return [ev(c.alternatives[0].kind, count=c.alternatives[0].min_count) for c in DETECTORS[detector_name].clauses]


FLIPS = [
    pytest.param(rubric.id, c.id, clause_index, alt.kind, alt.min_count, id=f"{c.id}:{alt.kind}")
    for rubric in available_rubrics().values()
    for c in rubric.criteria
    if c.detectable
    for clause_index, clause in enumerate(DETECTORS[c.detector].clauses)
    for alt in clause.alternatives
]


@pytest.mark.parametrize(("rubric_id", "criterion_id", "clause_index", "kind", "min_count"), FLIPS)
def test_each_alternative_of_each_clause_flips_its_criterion(rubric_id, criterion_id, clause_index, kind, min_count):
    rubric = get_rubric(rubric_id)
    criterion = rubric.criterion(criterion_id)
    clauses = DETECTORS[criterion.detector].clauses
    others = [
        ev(c.alternatives[0].kind, count=c.alternatives[0].min_count)
        for i, c in enumerate(clauses)
        if i != clause_index and c.alternatives[0].kind != kind
    ]
    assert status(card(others, rubric=rubric), criterion_id) == UNMET
    if min_count > 1:
        assert status(card([*others, ev(kind, count=min_count - 1)], rubric=rubric), criterion_id) == UNMET
    flipped = card([*others, ev(kind, count=min_count)], rubric=rubric)
    result = next(c for c in flipped.criteria if c.id == criterion_id)
    assert result.status == MET
    assert kind in {r.kind for r in result.evidence}
    assert all(r.link for r in result.evidence)


@pytest.mark.parametrize(
    "criterion_id", [c.id for r in available_rubrics().values() for c in r.criteria if not c.detectable]
)
def test_an_attested_only_criterion_flips_with_an_attestation(criterion_id):
    assert status(card([]), criterion_id) == UNMET
    sc = card([], [attest(criterion_id)])
    result = next(c for c in sc.criteria if c.id == criterion_id)
    assert result.status == ATTESTED
    assert "Attested by femi" in result.reason


def test_every_evidence_kind_a_detector_reads_is_catalogued_and_every_detector_is_used():
    used = {c.detector for r in available_rubrics().values() for c in r.criteria if c.detector}
    assert used == set(DETECTORS)
    for detector in DETECTORS.values():
        assert set(detector.kinds) <= set(EVIDENCE_KINDS)


# --- statuses ---


def test_old_evidence_is_stale_and_does_not_count():
    old = [ev("mlflow.run.tracked", age_days=400)]
    sc = card(old)
    result = next(c for c in sc.criteria if c.id == "creation.experiments-tracked")
    assert result.status == STALE
    assert "older than 180 days" in result.reason
    assert "2025-10-26" in result.reason
    assert result.evidence == tuple(old)
    assert STALE not in PASSING
    # A fresh observation of the same kind makes it met again.
    assert status(card([*old, ev("mlflow.run.tracked", age_days=3)]), "creation.experiments-tracked") == MET
    # The organisation's window can be widened.
    wide = score(AZURE, ProjectEvidence(1, tuple(old)), now=NOW, default_fresh_days=500)
    assert status(wide, "creation.experiments-tracked") == MET


def test_a_waiver_counts_until_it_expires_or_is_revoked():
    assert status(card([], waivers=[waive("creation.experiments-tracked")]), "creation.experiments-tracked") == WAIVED
    expired = card([], waivers=[waive("creation.experiments-tracked", days_left=-1)])
    result = next(c for c in expired.criteria if c.id == "creation.experiments-tracked")
    assert result.status == UNMET
    assert result.waiver_state == "expired"
    assert "expired on 2026-11-29" in result.reason
    revoked = waive("creation.experiments-tracked", revoked_at=NOW - timedelta(days=1))
    assert status(card([], waivers=[revoked]), "creation.experiments-tracked") == UNMET


def test_an_expired_attestation_turns_the_criterion_back_to_unmet_and_says_so():
    sc = card([], [attest("people.production-markers", days_left=-2)])
    result = next(c for c in sc.criteria if c.id == "people.production-markers")
    assert result.status == UNMET
    assert result.attestation_state == "expired"
    assert "expired on 2026-11-28" in result.reason


def test_verification_when_required():
    pending = attest("release.engineering-managed", requires_verification=True)
    result = next(c for c in card([], [pending]).criteria if c.id == "release.engineering-managed")
    assert (result.status, result.attestation_state) == (UNMET, "pending_verification")
    assert "awaits a reviewer" in result.reason
    verified = replace(pending, verified_by="rui", verified_at=NOW - timedelta(days=1))
    result = next(c for c in card([], [verified]).criteria if c.id == "release.engineering-managed")
    assert result.status == ATTESTED
    assert "verified by rui" in result.reason


def test_a_detected_criterion_cannot_be_attested_but_can_be_waived():
    sc = card([], [attest("creation.experiments-tracked")])
    result = next(c for c in sc.criteria if c.id == "creation.experiments-tracked")
    assert result.status == UNMET
    assert result.attestation is None
    either = card([], [attest("people.maintainer-named")])
    assert status(either, "people.maintainer-named") == ATTESTED


def test_met_beats_attested_beats_waived():
    both = card([ev("mlgov.team.maintainer")], [attest("people.maintainer-named")], [waive("people.maintainer-named")])
    assert status(both, "people.maintainer-named") == MET
    assert status(card([], [attest("people.maintainer-named")], [waive("people.maintainer-named")]),
                  "people.maintainer-named") == ATTESTED  # fmt: skip


def test_an_attestation_dated_in_the_future_does_not_count_yet():
    future = attest("people.maintainer-named", age_days=-1)
    assert status(card([], [future]), "people.maintainer-named") == UNMET


def test_deterministic_whatever_the_order_of_the_input():
    records, attestations = evidence_for(2)
    first = card(records, attestations)
    shuffled = records[:]
    random.Random(7).shuffle(shuffled)
    second = card(shuffled, list(reversed(attestations)))
    one, two = scorecard_to_dict(first), scorecard_to_dict(second)
    assert one == two
    assert fingerprint(first) == fingerprint(second)
    assert one["computed_at"] == NOW.isoformat()
    assert one["counts"]["met"] + one["counts"]["attested"] + one["counts"]["unmet"] == len(AZURE.criteria)


def test_the_fingerprint_ignores_when_but_not_what():
    records, _ = evidence_for(1)
    one = fingerprint(card(records))
    later = [replace(r, observed_at=r.observed_at + timedelta(hours=1)) for r in records]
    assert fingerprint(card(later)) == one
    assert fingerprint(score(AZURE, ProjectEvidence(1, tuple(records)), now=NOW + timedelta(hours=1))) == one
    assert fingerprint(card([*records[:-1], replace(records[-1], count=2)])) != one
    assert fingerprint(card([*records[:-1], replace(records[-1], link="https://other/")])) != one
    assert fingerprint(card(records, [attest("release.engineering-managed")])) != one


def test_the_google_rubric_scores_with_the_same_engine():
    assert card([], rubric=GOOGLE).level == 0
    level_1 = [ev(k) for k in ("ci.pipeline.training", "ci.pipeline.scheduled_training", "git.signal.data_validation",
                               "ci.pipeline.evaluation", "mlflow.run.tracked", "git.signal.feature_store")]  # fmt: skip
    sc = card(level_1, rubric=GOOGLE)
    assert (sc.level, sc.level_name, sc.dimension_levels()) == (
        1,
        "ML pipeline automation",
        {"continuous_training": 2, "cicd": 1},
    )
    cicd = ("git.signal.ci_config", "ci.run.succeeded", "ci.run.tested", "git.signal.scoring_test",
            "ci.pipeline.auto_deploy", "ci.run.deployed", "mlflow.model.version")  # fmt: skip
    level_2 = [*level_1, *(ev(k) for k in cicd)]
    sc = card(level_2, rubric=GOOGLE)
    assert (sc.level, sc.target_level, sc.next_steps) == (2, None, ())


def test_now_must_be_timezone_aware():
    with pytest.raises(ValueError, match="timezone-aware"):
        score(AZURE, ProjectEvidence(1), now=NOW.replace(tzinfo=None))


# --- properties ---

KINDS = sorted(EVIDENCE_KINDS)
ATTESTABLE = sorted({c.id for r in available_rubrics().values() for c in r.criteria if c.attestable})
ALL_CRITERIA = sorted({c.id for r in available_rubrics().values() for c in r.criteria})

records_st = st.lists(
    st.builds(
        ev,
        st.sampled_from(KINDS),
        count=st.integers(1, 5),
        age_days=st.floats(-1, 400, allow_nan=False),
        source=st.sampled_from(["a", "b"]),
    ),
    max_size=30,
)
attestations_st = st.lists(
    st.builds(
        attest,
        st.sampled_from(ATTESTABLE),
        days_left=st.floats(-100, 100, allow_nan=False),
        age_days=st.floats(-5, 300, allow_nan=False),
        requires_verification=st.booleans(),
    ),
    max_size=6,
)
waivers_st = st.lists(
    st.builds(waive, st.sampled_from(ALL_CRITERIA), days_left=st.floats(-50, 50, allow_nan=False)), max_size=4
)
rubrics_st = st.sampled_from(sorted(available_rubrics()))


@settings(max_examples=150, deadline=None)
@given(rubrics_st, records_st, records_st, attestations_st, attestations_st, waivers_st, waivers_st)
def test_adding_evidence_never_lowers_a_level(rubric_id, records, more, attestations, more_att, waivers, more_w):
    rubric = get_rubric(rubric_id)
    before = card(records, attestations, waivers, rubric=rubric)
    after = card([*records, *more], [*attestations, *more_att], [*waivers, *more_w], rubric=rubric)
    assert after.level >= before.level
    for d_before, d_after in zip(before.dimensions, after.dimensions, strict=True):
        assert d_after.level >= d_before.level
    for c_before, c_after in zip(before.criteria, after.criteria, strict=True):
        assert not (c_before.passing and not c_after.passing), c_before.id


@settings(max_examples=150, deadline=None)
@given(rubrics_st, records_st, attestations_st, waivers_st)
def test_the_overall_level_is_the_lowest_dimension_level(rubric_id, records, attestations, waivers):
    rubric = get_rubric(rubric_id)
    sc = card(records, attestations, waivers, rubric=rubric)
    assert sc.level == min(d.level for d in sc.dimensions)
    assert rubric.baseline <= sc.level <= rubric.top
    for d in sc.dimensions:  # a dimension's level: every criterion up to it passes, and the next level fails
        assert all(c.passing for c in d.criteria if c.level <= d.level)
        if d.level < rubric.top:
            assert any(not c.passing for c in d.criteria if c.level == d.level + 1)


@settings(max_examples=150, deadline=None)
@given(
    rubrics_st,
    records_st,
    st.lists(
        st.builds(
            attest,
            st.sampled_from(ATTESTABLE),
            days_left=st.floats(-400, 0, allow_nan=False),
            age_days=st.floats(0, 800, allow_nan=False),
            requires_verification=st.booleans(),
        ),
        min_size=1,
        max_size=8,
    ),
)
def test_an_expired_attestation_never_counts(rubric_id, records, expired):
    rubric = get_rubric(rubric_id)
    with_expired = card(records, expired, rubric=rubric)
    without = card(records, rubric=rubric)
    assert ATTESTED not in {c.status for c in with_expired.criteria}
    assert with_expired.level == without.level
    assert [c.status for c in with_expired.criteria] == [c.status for c in without.criteria]
