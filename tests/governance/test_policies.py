"""The pure rules of mlgov/governance/policies.py, table by table. No database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mlgov.governance import policies as p

# --- the expression language ------------------------------------------------------------------------------

PARSES = [
    ("metrics.auc >= 0.85", "metrics.auc >= 0.85"),
    ("metrics.auc >= 0.85 and metrics.latency_p95_ms < 50", "metrics.auc >= 0.85 and metrics.latency_p95_ms < 50"),
    # `and` binds tighter than `or`; the printed form says so with parentheses
    ("metrics.a > 1 or metrics.b > 2 and metrics.c > 3", "metrics.a > 1 or (metrics.b > 2 and metrics.c > 3)"),
    ("(metrics.a > 1 or metrics.b > 2) and metrics.c > 3", "(metrics.a > 1 or metrics.b > 2) and metrics.c > 3"),
    ("not metrics.a > 1", "not metrics.a > 1"),
    ("not (metrics.a > 1 and metrics.b > 1)", "not (metrics.a > 1 and metrics.b > 1)"),
    ('params.optimizer == "adam"', 'params.optimizer == "adam"'),
    ("params.optimizer != 'sgd'", 'params.optimizer != "sgd"'),
    ("params.max_depth <= 8", "params.max_depth <= 8"),
    ('metrics["val auc"] > 0.8', 'metrics["val auc"] > 0.8'),
    ("metrics.recall@1pct > .5", "metrics.recall@1pct > 0.5"),
    ("metrics.loss < -1.5e-3", "metrics.loss < -0.0015"),
    ("0.85 <= metrics.auc", "0.85 <= metrics.auc"),
    ("metrics.a > metrics.b", "metrics.a > metrics.b"),
    ("true", "true"),
    ("metrics.val.auc >= 0.9", "metrics.val.auc >= 0.9"),
]


@pytest.mark.parametrize(("text", "normalised"), PARSES)
def test_valid_expressions_parse_and_print_back(text, normalised):
    expr = p.parse_expression(text)
    assert expr.text() == normalised
    assert p.parse_expression(expr.text()) == expr  # printing is a fixed point


SYNTAX_ERRORS = [
    ("", 1, "empty"),
    ("   ", 1, "empty"),
    ("metrics.auc >=", 15, "expected a number, a string or a name"),
    ("metrics.auc = 0.8", 13, "'=' is not an operator"),
    ("(metrics.auc > 0.8", 19, "expected ')'"),
    ("metrics.auc > 0.8)", 18, "unexpected ')'"),
    ("metrics.a > 1 > 2", 15, "cannot be chained"),
    ("metrics.auc", 12, "expected a comparison operator"),
    ("metrics.auc > 0.8 and", 22, "expected a number"),
    ("metrics.auc > 0.8 metrics.b > 1", 19, "unexpected 'metrics.b'"),
    ("1 < 2", 1, "needs a metrics.<name> or params.<name>"),
    ('metrics.auc > "high"', 1, "text can only be compared with == or !="),
    ("metrics.auc > 0.8 && metrics.b > 1", 19, "unexpected character '&'"),
    ('params["x" == 1', 12, "expected ']'"),
    ('params[""] == 1', 8, "expected a quoted name"),
    ("metrics. > 1", 9, "expected a name after 'metrics.'"),
    ("'open", 1, "unterminated string"),
    ("true > 1", 6, "true and false cannot be compared"),
    ("metrics.auc > 1e999", 15, "out of range"),
    ("(" * 40 + "metrics.a > 1" + ")" * 40, 33, "nested more than"),
    ("metrics.a > 1 and " * 200 + "metrics.a > 1", 1, "longer than"),
]


@pytest.mark.parametrize(("text", "column", "message"), SYNTAX_ERRORS)
def test_syntax_errors_name_the_problem_and_the_column(text, column, message):
    with pytest.raises(p.ExpressionError) as info:
        p.parse_expression(text)
    assert message in info.value.message
    assert info.value.column == column
    assert str(info.value).startswith(f"column {column}: ")


UNKNOWN_NAMES = [
    ("auc >= 0.85", "auc"),
    ("foo.bar < 3", "foo.bar"),
    ("metric.auc > 1", "metric.auc"),
    ("Metrics.auc > 1", "Metrics.auc"),
    ("metrics.auc > 1 AND metrics.b > 1", "AND"),
    ('__import__("os").system("id")', "__import__"),
    ("os.system > 1", "os.system"),
    ("eval > 1", "eval"),
]


@pytest.mark.parametrize(("text", "name"), UNKNOWN_NAMES)
def test_unknown_names_are_refused_by_name(text, name):
    with pytest.raises(p.ExpressionError) as info:
        p.parse_expression(text)
    assert info.value.message == f"unknown name {name!r}: names are metrics.<name> or params.<name>"


M = {"auc": 0.9, "latency_p95_ms": 42, "loss": 0.1}
P = {"max_depth": "6", "optimizer": "adam", "note": "not-a-number"}
EVALUATIONS = [
    # expression, value, failed comparisons, missing names
    ("metrics.auc >= 0.85", True, (), ()),
    ("metrics.auc >= 0.95", False, ("metrics.auc >= 0.95",), ()),
    ("metrics.auc >= 0.85 and metrics.latency_p95_ms < 40", False, ("metrics.latency_p95_ms < 40",), ()),
    ("metrics.auc > 0.95 or metrics.latency_p95_ms < 50", True, (), ()),
    (
        "metrics.auc > 0.95 or metrics.latency_p95_ms > 50",
        False,
        ("metrics.auc > 0.95", "metrics.latency_p95_ms > 50"),
        (),
    ),
    ("not metrics.auc > 0.8", False, ("not metrics.auc > 0.8",), ()),
    ("not metrics.auc > 0.95", True, (), ()),
    ("params.max_depth <= 8", True, (), ()),  # a param that reads as a number compares as one
    ('params.optimizer == "adam"', True, (), ()),
    ('params.optimizer != "adam"', False, ('params.optimizer != "adam"',), ()),
    ('params.max_depth == "6"', True, (), ()),
    ("metrics.f1 > 0.5", None, ("metrics.f1 > 0.5",), ("metrics.f1",)),
    # three-valued logic: a missing value decides nothing when the other side already does
    ("metrics.f1 > 0.5 or metrics.auc > 0.8", True, (), ("metrics.f1",)),
    ("metrics.f1 > 0.5 and metrics.auc > 0.95", False, ("metrics.f1 > 0.5", "metrics.auc > 0.95"), ("metrics.f1",)),
    ("metrics.f1 > 0.5 and metrics.auc > 0.8", None, ("metrics.f1 > 0.5",), ("metrics.f1",)),
    ("not metrics.f1 > 0.5", None, ("not metrics.f1 > 0.5",), ("metrics.f1",)),
    ("metrics.auc > metrics.loss", True, (), ()),
    ("true", True, (), ()),
    ("false", False, ("false",), ()),
]


@pytest.mark.parametrize(("text", "value", "failed", "missing"), EVALUATIONS)
def test_evaluation_uses_three_valued_logic_and_reports_why(text, value, failed, missing):
    result = p.evaluate_expression(p.parse_expression(text), metrics=M, params=P)
    assert result.value is value
    assert result.failed == failed
    assert result.missing == missing


def test_a_text_param_compared_as_a_number_is_an_error_not_a_crash():
    result = p.evaluate_expression(p.parse_expression("params.note > 1"), metrics=M, params=P)
    assert result.value is None
    assert result.errors == ("params.note is 'not-a-number', not a number",)


def test_nan_and_infinite_metrics_never_pass():
    for bad in (float("nan"), float("inf")):
        result = p.evaluate_expression(p.parse_expression("metrics.auc >= 0.85"), metrics={"auc": bad}, params={})
        assert result.value is not True


# --- gates ------------------------------------------------------------------------------------------------

T0 = datetime(2026, 11, 1, tzinfo=UTC)
GOOD = p.Candidate(
    version="3",
    commit="c" * 40,
    run_id="r3",
    metrics={"auc": 0.91, "latency_p95_ms": 30},
    datasets=(p.DatasetInput("txns", "d1gest", "training"),),
    ci_runs=(p.CiRun(1, "train", "success", finished_at=T0),),
    maturity_level=3,
    holder=p.Holder("2", {"auc": 0.9, "latency_p95_ms": 35}),
)
FULL = p.Policy(
    target="production",
    metric_gate="metrics.auc >= 0.85 and metrics.latency_p95_ms < 50",
    require_green_ci=True,
    require_dataset_lineage=True,
    min_maturity_level=2,
    no_regression=(("auc", p.HIGHER), ("latency_p95_ms", p.LOWER)),
)


def with_(c: p.Candidate, **changes) -> p.Candidate:
    return p.Candidate(**{**c.__dict__, **changes})


GATE_CASES = [
    # (name, candidate, gate, passed, reason contains)
    ("all good: metric", GOOD, p.GATE_METRICS, True, "holds (metrics.auc = 0.91, metrics.latency_p95_ms = 30)"),
    (
        "metric below",
        with_(GOOD, metrics={"auc": 0.8, "latency_p95_ms": 30}),
        p.GATE_METRICS,
        False,
        "metrics.auc >= 0.85 is false (metrics.auc = 0.8)",
    ),
    (
        "metric missing",
        with_(GOOD, metrics={"auc": 0.9}),
        p.GATE_METRICS,
        False,
        "not recorded on the source run: metrics.latency_p95_ms",
    ),
    ("all good: CI", GOOD, p.GATE_CI, True, "train #1 succeeded"),
    ("no commit", with_(GOOD, commit=""), p.GATE_CI, False, "records no git commit"),
    ("no CI run", with_(GOOD, ci_runs=()), p.GATE_CI, False, "no CI run recorded for commit cccccccccccc"),
    ("CI running", with_(GOOD, ci_runs=(p.CiRun(2, "train", "running"),)), p.GATE_CI, False, "has not finished"),
    (
        "latest CI red",
        with_(
            GOOD,
            ci_runs=(
                p.CiRun(1, "train", "success", finished_at=T0),
                p.CiRun(2, "train", "failure", finished_at=T0 + timedelta(hours=1)),
            ),
        ),
        p.GATE_CI,
        False,
        "(train #2) ended failure",
    ),
    (
        "re-run green",
        with_(
            GOOD,
            ci_runs=(
                p.CiRun(1, "train", "failure", finished_at=T0),
                p.CiRun(2, "train", "success", finished_at=T0 + timedelta(hours=1)),
            ),
        ),
        p.GATE_CI,
        True,
        "train #2 succeeded",
    ),
    ("all good: lineage", GOOD, p.GATE_LINEAGE, True, "1 dataset input(s) with digests: txns@d1gest"),
    ("no run", with_(GOOD, run_id=""), p.GATE_LINEAGE, False, "has no source run"),
    ("no datasets", with_(GOOD, datasets=()), p.GATE_LINEAGE, False, "records no dataset inputs"),
    ("no digest", with_(GOOD, datasets=(p.DatasetInput("txns", ""),)), p.GATE_LINEAGE, False, "no content digest"),
    ("all good: maturity", GOOD, p.GATE_MATURITY, True, "level 3 (≥ 2)"),
    ("below maturity", with_(GOOD, maturity_level=1), p.GATE_MATURITY, False, "level 1, below 2"),
    ("not assessed", with_(GOOD, maturity_level=None), p.GATE_MATURITY, False, "no maturity assessment"),
    ("all good: regression", GOOD, p.GATE_REGRESSION, True, "no regression in auc, latency_p95_ms against v2"),
    ("nothing holds it", with_(GOOD, holder=None), p.GATE_REGRESSION, True, "nothing holds production yet"),
    (
        "auc regressed",
        with_(GOOD, metrics={"auc": 0.89, "latency_p95_ms": 30}),
        p.GATE_REGRESSION,
        False,
        "auc 0.89 is worse than v2's 0.9 (higher is better)",
    ),
    (
        "latency regressed",
        with_(GOOD, metrics={"auc": 0.95, "latency_p95_ms": 36}),
        p.GATE_REGRESSION,
        False,
        "latency_p95_ms 36 is worse than v2's 35 (lower is better)",
    ),
    (
        "candidate lacks metric",
        with_(GOOD, metrics={"latency_p95_ms": 30}),
        p.GATE_REGRESSION,
        False,
        "auc is not recorded for the candidate",
    ),
    ("holder lacks metric", with_(GOOD, holder=p.Holder("2", {})), p.GATE_REGRESSION, True, "no regression"),
    ("equal is no regression", with_(GOOD, metrics={"auc": 0.9, "latency_p95_ms": 35}), p.GATE_REGRESSION, True, ""),
]


@pytest.mark.parametrize(("name", "candidate", "gate", "passed", "reason"), GATE_CASES, ids=[c[0] for c in GATE_CASES])
def test_each_gate_passes_or_fails_with_its_reason(name, candidate, gate, passed, reason):
    results = {r.gate: r for r in p.evaluate_gates(FULL, candidate)}
    assert results[gate].passed is passed, results[gate].reason
    assert reason in results[gate].reason
    assert results[gate].status == ("pass" if passed else "fail")


def test_only_the_gates_a_policy_sets_are_evaluated_in_a_fixed_order():
    assert [r.gate for r in p.evaluate_gates(FULL, GOOD)] == [
        p.GATE_METRICS,
        p.GATE_CI,
        p.GATE_LINEAGE,
        p.GATE_MATURITY,
        p.GATE_REGRESSION,
    ]
    assert p.evaluate_gates(p.Policy(target="staging"), GOOD) == ()
    only_ci = p.Policy(target="staging", require_green_ci=True)
    assert [r.gate for r in p.evaluate_gates(only_ci, GOOD)] == [p.GATE_CI]


def test_a_waiver_marks_a_failing_gate_waived_and_no_longer_blocking():
    bad = with_(GOOD, datasets=(), ci_runs=())
    results = p.evaluate_gates(FULL, bad, {p.GATE_CI: "waived by maya: hotfix"})
    by_gate = {r.gate: r for r in results}
    assert by_gate[p.GATE_CI].status == "waived"
    assert by_gate[p.GATE_CI].waiver == "waived by maya: hotfix"
    assert [r.gate for r in p.blocking_gates(results)] == [p.GATE_LINEAGE]
    # A waiver on a passing gate changes nothing.
    assert p.evaluate_gates(FULL, GOOD, {p.GATE_METRICS: "x"})[0].status == "pass"


def test_an_invalid_stored_expression_fails_its_gate_instead_of_raising():
    (result,) = p.evaluate_gates(p.Policy(target="x", metric_gate="auc > 1"), GOOD)
    assert not result.passed
    assert "the policy's expression is invalid: column 1: unknown name 'auc'" in result.reason


# --- who may approve --------------------------------------------------------------------------------------

STRICT = p.Policy(target="production", approver_team_id=7, approver_team="Model risk")
AUTHORSHIP = p.Authorship(requester_id=1, run_author="alice", committers=("Bob Builder", "bob@example.com"))
RUI = p.Person(user_id=10, username="rui", email="rui@example.com", is_reviewer=True, team_ids=frozenset({7}))


def person(**changes) -> p.Person:
    return p.Person(**{**RUI.__dict__, **changes})


REFUSALS = [
    ("an eligible reviewer", STRICT, person(), ()),
    ("the requester", STRICT, person(user_id=1), ("you requested this promotion (no self-approval)",)),
    ("not a reviewer", STRICT, person(is_reviewer=False), ("only members of the reviewers group may approve",)),
    (
        "wrong group",
        STRICT,
        person(team_ids=frozenset({8})),
        ("this policy's approvers are the members of Model risk",),
    ),
    ("no group needed", p.Policy(target="production"), person(team_ids=frozenset()), ()),
    (
        "the run's author by username",
        STRICT,
        person(username="alice"),
        ("you are the author of the source run (alice)",),
    ),
    (
        "the run's author by email",
        STRICT,
        person(username="a.smith", email="alice@example.com"),
        ("you are the author of the source run (alice)",),
    ),
    (
        "a committer by email",
        STRICT,
        person(username="bob", email="BOB@example.com"),
        ("you are among the code's last committers (bob@example.com)",),
    ),
    (
        "a committer by display name",
        STRICT,
        person(username="b", email="", display_name="Bob Builder"),
        ("you are among the code's last committers (Bob Builder)",),
    ),
    (
        "author allowed under 'requester'",
        p.Policy(target="x", independence=p.INDEPENDENCE_REQUESTER),
        person(username="alice"),
        (),
    ),
    (
        "committer allowed under 'author'",
        p.Policy(target="x", independence=p.INDEPENDENCE_AUTHOR),
        person(username="bob", email="bob@example.com"),
        (),
    ),
    (
        "author refused under 'author'",
        p.Policy(target="x", independence=p.INDEPENDENCE_AUTHOR),
        person(username="alice"),
        ("you are the author of the source run (alice)",),
    ),
    ("a service account", STRICT, person(is_service_account=True), ("service accounts may not approve promotions",)),
    ("inactive", STRICT, person(is_active=False), ("the account is inactive",)),
    (
        "everything wrong",
        STRICT,
        person(user_id=1, username="alice", is_reviewer=False, is_service_account=True, team_ids=frozenset()),
        (
            "service accounts may not approve promotions",
            "only members of the reviewers group may approve",
            "this policy's approvers are the members of Model risk",
            "you requested this promotion (no self-approval)",
            "you are the author of the source run (alice)",
        ),
    ),
]


@pytest.mark.parametrize(("name", "policy", "who", "reasons"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_approval_refusals(name, policy, who, reasons):
    assert p.approval_refusals(policy, AUTHORSHIP, who) == reasons


def test_the_authors_service_account_is_refused_twice_over():
    ci = person(username="github-actions[bot]", is_service_account=True)
    reasons = p.approval_refusals(STRICT, p.Authorship(requester_id=1, run_author="github-actions[bot]"), ci)
    assert "service accounts may not approve promotions" in reasons
    assert "you are the author of the source run (github-actions[bot])" in reasons


# --- the state machine ------------------------------------------------------------------------------------

TRANSITIONS = [
    (p.PENDING, p.APPROVE, p.APPROVED),
    (p.PENDING, p.REJECT, p.REJECTED),
    (p.PENDING, p.CANCEL, p.CANCELLED),
    (p.PENDING, p.EXPIRE, p.EXPIRED),
    (p.APPROVED, p.START, p.APPLYING),
    (p.APPROVED, p.CANCEL, p.CANCELLED),
    (p.APPLYING, p.START, p.APPLYING),
    (p.APPLYING, p.SUCCEED, p.APPLIED),
    (p.APPLYING, p.FAIL, p.FAILED),
    (p.FAILED, p.RETRY, p.APPROVED),
    (p.FAILED, p.CANCEL, p.CANCELLED),
]
EVENTS = (p.APPROVE, p.REJECT, p.CANCEL, p.EXPIRE, p.START, p.SUCCEED, p.FAIL, p.RETRY)


@pytest.mark.parametrize(("state", "event", "after"), TRANSITIONS)
def test_allowed_transitions(state, event, after):
    assert p.next_state(state, event) == after


REFUSED = [(s, e) for s in p.STATES for e in EVENTS if (s, e) not in {(a, b) for a, b, _ in TRANSITIONS}]


@pytest.mark.parametrize(("state", "event"), REFUSED)
def test_every_other_transition_is_refused_with_a_clear_message(state, event):
    with pytest.raises(p.TransitionRefused) as info:
        p.next_state(state, event)
    assert str(info.value).startswith(f"A request that is {state} cannot be ")
    if state in p.FINAL_STATES:
        assert str(info.value).endswith("(it is final).")


def test_final_states_have_no_way_out_and_open_ones_do():
    for state in p.FINAL_STATES:
        assert p.allowed_events(state) == ()
    for state in p.OPEN_STATES:
        assert p.allowed_events(state)
    with pytest.raises(p.TransitionRefused, match="cannot be approved"):
        p.next_state(p.CANCELLED, p.APPROVE)


# --- policy selection, alias history ----------------------------------------------------------------------

SCOPES = [
    p.PolicyScope(1, "production"),
    p.PolicyScope(2, "production", team_id=5),
    p.PolicyScope(3, "production", risk_tier=1),
    p.PolicyScope(4, "production", team_id=5, risk_tier=1),
    p.PolicyScope(5, "staging"),
]
SELECTIONS = [
    ("production", 5, 1, 4),  # team and tier
    ("production", 5, 2, 2),  # team
    ("production", 6, 1, 3),  # tier
    ("production", 6, 2, 1),  # organisation-wide
    ("production", None, None, 1),
    ("staging", 5, 1, 5),
    ("champion", 5, 1, None),  # no policy for the target
]


@pytest.mark.parametrize(("target", "team", "tier", "chosen"), SELECTIONS)
def test_the_most_specific_policy_wins(target, team, tier, chosen):
    assert p.select_policy(SCOPES, target=target, team_id=team, risk_tier=tier) == chosen


def test_holder_at_and_the_approved_holder():
    h = [
        p.HistoryEntry(T0, "1", seq=1),
        p.HistoryEntry(T0 + timedelta(days=1), "2", seq=2),
        p.HistoryEntry(T0 + timedelta(days=2), "5", approved=False, seq=3),  # moved outside mlgov
        p.HistoryEntry(T0 + timedelta(days=3), None, seq=4),  # removed
    ]
    assert p.holder_at(h, T0 - timedelta(seconds=1)) is None
    assert p.holder_at(h, T0).version == "1"
    assert p.holder_at(h, T0 + timedelta(hours=30)).version == "2"
    assert p.holder_at(h, T0 + timedelta(days=2, hours=1)).version == "5"
    assert p.holder_at(h, T0 + timedelta(days=9)).version is None
    assert p.approved_holder(h[:3]).version == "2"
    assert p.approved_holder([]) is None
