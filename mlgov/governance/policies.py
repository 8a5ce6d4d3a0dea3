"""Promotion rules as plain Python: no Django, no database, frozen dataclasses in and out.

- the metric expression language of policy gates (`parse_expression`, `evaluate_expression`): a small
  tokenizer and recursive-descent parser, never `eval`;
- gate evaluation (`evaluate_gates`): each gate a policy sets, passed or failed with its reason and evidence;
- who may approve (`approval_refusals`): reviewer, approver team, independence from the work;
- the request state machine (`next_state`);
- which policy governs a promotion (`select_policy`) and what an alias held at a time (`holder_at`).

The services in `mlgov/governance/services.py` build these inputs from the database and act on the results.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# ---------------------------------------------------------------------------------------------------------
# The metric expression language
#
#   expr       := or_expr
#   or_expr    := and_expr ("or" and_expr)*
#   and_expr   := not_expr ("and" not_expr)*
#   not_expr   := "not" not_expr | primary
#   primary    := "(" expr ")" | "true" | "false" | comparison
#   comparison := value OP value            OP: < <= > >= == !=
#   value      := NUMBER | STRING | NAME
#   NAME       := ("metrics" | "params") "." KEY   |   ("metrics" | "params") "[" STRING "]"
#
# e.g. `metrics.auc >= 0.85 and metrics.latency_p95_ms < 50 and not params.model_type == "experimental"`.
# Missing values make a comparison unknown; `and`/`or`/`not` follow three-valued (Kleene) logic, and an
# expression that ends unknown fails its gate, naming what was missing.
# ---------------------------------------------------------------------------------------------------------

MAX_EXPRESSION_LENGTH = 2000
MAX_NESTING = 32
NAMESPACES = ("metrics", "params")
COMPARATORS = ("<=", ">=", "==", "!=", "<", ">")
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-/@]*")
_NUMBER = re.compile(r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class ExpressionError(ValueError):
    """A syntax error or an unknown name in a gate expression. `column` is 1-based."""

    def __init__(self, message: str, column: int) -> None:
        super().__init__(f"column {column}: {message}")
        self.message = message
        self.column = column


@dataclass(frozen=True)
class Token:
    kind: str  # number, string, name, op, lparen, rparen, word, end
    text: str
    value: Any
    column: int


@dataclass(frozen=True)
class Literal:
    value: float | str | bool

    def text(self) -> str:
        if isinstance(self.value, bool):
            return "true" if self.value else "false"
        if isinstance(self.value, str):
            return '"' + self.value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return _fmt(self.value)


@dataclass(frozen=True)
class Name:
    namespace: str  # "metrics" or "params"
    key: str

    def text(self) -> str:
        return f"{self.namespace}.{self.key}" if _KEY.fullmatch(self.key) else f'{self.namespace}["{self.key}"]'


@dataclass(frozen=True)
class Compare:
    op: str
    left: Literal | Name
    right: Literal | Name

    def text(self) -> str:
        return f"{self.left.text()} {self.op} {self.right.text()}"


@dataclass(frozen=True)
class BoolOp:
    op: str  # "and" / "or"
    items: tuple[Expr, ...]

    def text(self) -> str:
        return f" {self.op} ".join(_wrapped(i, self.op) for i in self.items)


@dataclass(frozen=True)
class Not:
    item: Expr

    def text(self) -> str:
        return f"not {_wrapped(self.item, 'not')}"


@dataclass(frozen=True)
class Constant:
    value: bool

    def text(self) -> str:
        return "true" if self.value else "false"


Expr = Compare | BoolOp | Not | Constant


def _wrapped(item: Expr, parent: str) -> str:
    if isinstance(item, BoolOp) and (parent == "not" or item.op != parent):
        return f"({item.text()})"
    return item.text()


def _fmt(value: float) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        col = i + 1
        if ch.isspace():
            i += 1
            continue
        if ch == "(":
            tokens.append(Token("lparen", ch, None, col))
            i += 1
            continue
        if ch == ")":
            tokens.append(Token("rparen", ch, None, col))
            i += 1
            continue
        if ch == "[" or ch == "]":
            tokens.append(Token(ch, ch, None, col))
            i += 1
            continue
        op = next((o for o in COMPARATORS if text.startswith(o, i)), None)
        if op is not None:
            tokens.append(Token("op", op, op, col))
            i += len(op)
            continue
        if ch == "=":
            raise ExpressionError("'=' is not an operator; compare with '=='", col)
        if ch in "\"'":
            j, out = i + 1, []
            while j < n and text[j] != ch:
                if text[j] == "\\" and j + 1 < n:
                    j += 1
                out.append(text[j])
                j += 1
            if j >= n:
                raise ExpressionError("unterminated string", col)
            tokens.append(Token("string", text[i : j + 1], "".join(out), col))
            i = j + 1
            continue
        number = _NUMBER.match(text, i)
        if number and (ch != "-" or not tokens or tokens[-1].kind in ("op", "lparen", "word")):
            raw = number.group()
            value = float(raw)
            if not math.isfinite(value):
                raise ExpressionError(f"number {raw} is out of range", col)
            tokens.append(Token("number", raw, value, col))
            i = number.end()
            continue
        word = _WORD.match(text, i)
        if word:
            name = word.group()
            if name in NAMESPACES and word.end() < n and text[word.end()] == ".":
                key = _KEY.match(text, word.end() + 1)
                if not key:
                    raise ExpressionError(f"expected a name after '{name}.'", word.end() + 2)
                tokens.append(Token("name", text[i : key.end()], (name, key.group()), col))
                i = key.end()
                continue
            if name in NAMESPACES and word.end() < n and text[word.end()] == "[":
                tokens.append(Token("namespace", name, name, col))
                i = word.end()
                continue
            if name in ("and", "or", "not", "true", "false"):
                tokens.append(Token("word", name, name, col))
                i = word.end()
                continue
            # Anything else that looks like a name is refused by name, with the fix.
            end = word.end()
            while end < n and (text[end].isalnum() or text[end] in "._"):
                end += 1
            raise ExpressionError(f"unknown name {text[i:end]!r}: names are metrics.<name> or params.<name>", col)
        raise ExpressionError(f"unexpected character {ch!r}", col)
    tokens.append(Token("end", "", None, n + 1))
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.pos = 0
        self.depth = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.pos]

    def take(self) -> Token:
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def is_word(self, word: str) -> bool:
        return self.tok.kind == "word" and self.tok.value == word

    def parse(self) -> Expr:
        expr = self.or_expr()
        if self.tok.kind != "end":
            raise ExpressionError(f"unexpected {self.describe(self.tok)}", self.tok.column)
        return expr

    def or_expr(self) -> Expr:
        items = [self.and_expr()]
        while self.is_word("or"):
            self.take()
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else BoolOp("or", tuple(items))

    def and_expr(self) -> Expr:
        items = [self.not_expr()]
        while self.is_word("and"):
            self.take()
            items.append(self.not_expr())
        return items[0] if len(items) == 1 else BoolOp("and", tuple(items))

    def not_expr(self) -> Expr:
        if self.is_word("not"):
            column = self.take().column
            with self.nested(column):
                return Not(self.not_expr())
        return self.primary()

    def primary(self) -> Expr:
        tok = self.tok
        if tok.kind == "lparen":
            self.take()
            with self.nested(tok.column):
                expr = self.or_expr()
            if self.tok.kind != "rparen":
                raise ExpressionError(f"expected ')' but found {self.describe(self.tok)}", self.tok.column)
            self.take()
            return expr
        if tok.kind == "word" and tok.value in ("true", "false"):
            self.take()
            if self.tok.kind == "op":
                raise ExpressionError("true and false cannot be compared", self.tok.column)
            return Constant(tok.value == "true")
        left = self.value()
        if self.tok.kind != "op":
            raise ExpressionError(
                f"expected a comparison operator (<, <=, >, >=, ==, !=) after {tok.text} but found "
                f"{self.describe(self.tok)}",
                self.tok.column,
            )
        op = self.take().value
        right = self.value()
        if self.tok.kind == "op":
            raise ExpressionError("comparisons cannot be chained; join them with 'and'", self.tok.column)
        if isinstance(left, Literal) and isinstance(right, Literal):
            raise ExpressionError("a comparison needs a metrics.<name> or params.<name> on one side", tok.column)
        for side in (left, right):
            if isinstance(side, Literal) and isinstance(side.value, str) and op not in ("==", "!="):
                raise ExpressionError(f"text can only be compared with == or !=, not {op}", tok.column)
        return Compare(op, left, right)

    def value(self) -> Literal | Name:
        tok = self.take()
        if tok.kind == "number":
            return Literal(tok.value)
        if tok.kind == "string":
            return Literal(tok.value)
        if tok.kind == "name":
            return Name(*tok.value)
        if tok.kind == "namespace":
            if self.tok.kind != "[":
                raise ExpressionError(f"expected '[' after {tok.text}", self.tok.column)
            self.take()
            key = self.take()
            if key.kind != "string" or not key.value:
                raise ExpressionError(f'expected a quoted name, as in {tok.text}["val auc"]', key.column)
            if self.tok.kind != "]":
                raise ExpressionError("expected ']'", self.tok.column)
            self.take()
            return Name(tok.value, key.value)
        raise ExpressionError(f"expected a number, a string or a name but found {self.describe(tok)}", tok.column)

    def nested(self, column: int) -> _Depth:
        return _Depth(self, column)

    @staticmethod
    def describe(tok: Token) -> str:
        return "the end of the expression" if tok.kind == "end" else repr(tok.text)


class _Depth:
    def __init__(self, parser: _Parser, column: int) -> None:
        self.parser = parser
        self.column = column

    def __enter__(self) -> None:
        self.parser.depth += 1
        if self.parser.depth > MAX_NESTING:
            raise ExpressionError(f"nested more than {MAX_NESTING} levels deep", self.column)

    def __exit__(self, *exc: object) -> None:
        self.parser.depth -= 1


def parse_expression(text: str) -> Expr:
    """Parse a gate expression. Raises ExpressionError (with the column) on a syntax error or unknown name."""
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError("the expression is empty", 1)
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(f"the expression is longer than {MAX_EXPRESSION_LENGTH} characters", 1)
    return _Parser(text).parse()


def expression_names(expr: Expr) -> tuple[Name, ...]:
    """Every name an expression reads, in order of appearance, without repeats."""
    out: list[Name] = []

    def walk(node: Expr) -> None:
        if isinstance(node, Compare):
            for side in (node.left, node.right):
                if isinstance(side, Name) and side not in out:
                    out.append(side)
        elif isinstance(node, BoolOp):
            for item in node.items:
                walk(item)
        elif isinstance(node, Not):
            walk(node.item)

    walk(expr)
    return tuple(out)


@dataclass(frozen=True)
class Evaluation:
    """The outcome of an expression: True, False or None (unknown: a name had no value)."""

    value: bool | None
    values: dict[str, Any]  # every name read -> its value (None when missing)
    failed: tuple[str, ...]  # the comparisons that made it false or unknown, as text
    missing: tuple[str, ...]
    errors: tuple[str, ...] = ()


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(float(value)) else None
    if isinstance(value, str):
        try:
            parsed = float(value.strip())
        except ValueError:
            return None
        return parsed if math.isfinite(parsed) else None
    return None


def evaluate_expression(expr: Expr, *, metrics: Mapping[str, Any], params: Mapping[str, Any]) -> Evaluation:
    """Evaluate with three-valued logic. Params are text; a param that reads as a number compares as one."""
    sources = {"metrics": metrics, "params": params}

    def read(side: Literal | Name) -> Any:
        return side.value if isinstance(side, Literal) else sources[side.namespace].get(side.key)

    def compare(node: Compare) -> tuple[bool | None, str]:
        """The comparison's value, and an error when a side is not a number where one is needed."""
        left, right = read(node.left), read(node.right)
        if left is None or right is None:
            return None, ""
        if any(isinstance(s, Literal) and isinstance(s.value, str) for s in (node.left, node.right)):
            a: Any = str(left)
            b: Any = str(right)
        else:
            a, b = _number(left), _number(right)
            if a is None or b is None:
                bad, raw = (node.left, left) if a is None else (node.right, right)
                return None, f"{bad.text()} is {raw!r}, not a number"
        ops = {
            "<": a < b if not isinstance(a, str) else None,
            "<=": a <= b if not isinstance(a, str) else None,
            ">": a > b if not isinstance(a, str) else None,
            ">=": a >= b if not isinstance(a, str) else None,
            "==": a == b,
            "!=": a != b,
        }
        return ops[node.op], ""

    def ev(node: Expr) -> bool | None:
        if isinstance(node, Constant):
            return node.value
        if isinstance(node, Compare):
            return compare(node)[0]
        if isinstance(node, Not):
            inner = ev(node.item)
            return None if inner is None else not inner
        results = [ev(item) for item in node.items]
        if node.op == "and":
            return False if False in results else (None if None in results else True)
        return True if True in results else (None if None in results else False)

    failed: list[str] = []
    errors: list[str] = []

    def blame(node: Expr, want: bool) -> None:
        """Collect the comparisons that kept `node` from being `want`."""
        if isinstance(node, Compare):
            result, error = compare(node)
            if error:
                errors.append(error)
            if result is not want:
                failed.append(node.text() if want else f"not {node.text()}")
        elif isinstance(node, Not):
            blame(node.item, not want)
        elif isinstance(node, BoolOp):
            for item in node.items:
                blame(item, want)
        elif node.value is not want:
            failed.append(node.text())

    value = ev(expr)
    names = expression_names(expr)
    values = {n.text(): read(n) for n in names}
    missing = tuple(k for k, v in values.items() if v is None)
    if value is not True:
        blame(expr, True)
    return Evaluation(value, values, tuple(dict.fromkeys(failed)), missing, tuple(dict.fromkeys(errors)))


# ---------------------------------------------------------------------------------------------------------
# Policies and gates
# ---------------------------------------------------------------------------------------------------------

GATE_METRICS = "metric_gate"
GATE_CI = "green_ci"
GATE_LINEAGE = "dataset_lineage"
GATE_MATURITY = "min_maturity"
GATE_REGRESSION = "no_regression"
GATES: dict[str, str] = {
    GATE_METRICS: "Metric gate on the source run",
    GATE_CI: "A green CI run for the version's commit",
    GATE_LINEAGE: "Dataset lineage recorded",
    GATE_MATURITY: "Minimum maturity level of the project",
    GATE_REGRESSION: "No regression against the current holder",
}

INDEPENDENCE_REQUESTER = "requester"
INDEPENDENCE_AUTHOR = "author"
INDEPENDENCE_STRICT = "strict"
INDEPENDENCE: dict[str, str] = {
    INDEPENDENCE_REQUESTER: "The requester may not approve",
    INDEPENDENCE_AUTHOR: "The requester and the source run's author may not approve",
    INDEPENDENCE_STRICT: "The requester, the run's author and the code's last committers may not approve",
}
HIGHER, LOWER = "higher", "lower"


@dataclass(frozen=True)
class Policy:
    """What a promotion to `target` needs. Gates left at their defaults are not checked."""

    target: str
    approvals_required: int = 1
    approver_team_id: int | None = None
    approver_team: str = ""
    independence: str = INDEPENDENCE_STRICT
    min_maturity_level: int | None = None
    metric_gate: str = ""
    require_green_ci: bool = False
    require_dataset_lineage: bool = False
    no_regression: tuple[tuple[str, str], ...] = ()  # (metric, "higher" | "lower"): which way is better
    max_age_hours: int | None = None

    @property
    def gates(self) -> tuple[str, ...]:
        wanted = (
            (GATE_METRICS, bool(self.metric_gate.strip())),
            (GATE_CI, self.require_green_ci),
            (GATE_LINEAGE, self.require_dataset_lineage),
            (GATE_MATURITY, self.min_maturity_level is not None),
            (GATE_REGRESSION, bool(self.no_regression)),
        )
        return tuple(g for g, on in wanted if on)


@dataclass(frozen=True)
class CiRun:
    """A CI run on the candidate's commit."""

    id: int
    pipeline: str
    status: str  # success, failure, cancelled, skipped, running, queued
    url: str = ""
    finished_at: datetime | None = None
    started_at: datetime | None = None


@dataclass(frozen=True)
class DatasetInput:
    name: str
    digest: str
    context: str = ""
    source: str = ""


@dataclass(frozen=True)
class Holder:
    """The version holding the target alias now."""

    version: str
    metrics: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Candidate:
    """The evidence about the version asked for."""

    version: str
    commit: str = ""
    run_id: str = ""
    metrics: Mapping[str, Any] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    datasets: tuple[DatasetInput, ...] = ()
    ci_runs: tuple[CiRun, ...] = ()
    maturity_level: int | None = None
    holder: Holder | None = None


@dataclass(frozen=True)
class GateResult:
    gate: str
    passed: bool
    reason: str
    evidence: Mapping[str, Any] = field(default_factory=dict)
    waived: bool = False
    waiver: str = ""  # who waived it and why

    @property
    def status(self) -> str:
        return "pass" if self.passed else ("waived" if self.waived else "fail")

    @property
    def blocking(self) -> bool:
        return not self.passed and not self.waived

    def as_dict(self) -> dict[str, Any]:
        return {
            "gate": self.gate,
            "title": GATES[self.gate],
            "status": self.status,
            "passed": self.passed,
            "reason": self.reason,
            "evidence": dict(self.evidence),
            "waiver": self.waiver,
        }


_FINISHED = ("success", "failure", "cancelled", "skipped")


def _moment(run: CiRun) -> tuple[int, float, int]:
    when = run.finished_at or run.started_at
    return (1 if when else 0, when.timestamp() if when else 0.0, run.id)


def gate_metric(policy: Policy, c: Candidate) -> GateResult:
    try:
        expr = parse_expression(policy.metric_gate)
    except ExpressionError as exc:
        return GateResult(GATE_METRICS, False, f"the policy's expression is invalid: {exc}", {})
    result = evaluate_expression(expr, metrics=c.metrics, params=c.params)
    evidence = {"expression": policy.metric_gate, "values": result.values, "run_id": c.run_id}
    if result.value is True:
        shown = ", ".join(f"{k} = {_shown(v)}" for k, v in result.values.items())
        return GateResult(GATE_METRICS, True, f"{expr.text()} holds ({shown})", evidence)
    if result.errors:
        return GateResult(GATE_METRICS, False, "; ".join(result.errors), evidence)
    if result.value is None:
        missing = ", ".join(result.missing)
        return GateResult(GATE_METRICS, False, f"not recorded on the source run: {missing}", evidence)
    failing = (
        "; ".join(f"{f} is false" + _values_note(f, result.values) for f in result.failed) or f"{expr.text()} is false"
    )
    return GateResult(GATE_METRICS, False, failing, evidence)


def _shown(value: Any) -> str:
    return _fmt(value) if isinstance(value, float) else repr(value) if isinstance(value, str) else str(value)


def _values_note(text: str, values: Mapping[str, Any]) -> str:
    used = [
        f"{k} = {_shown(v)}"
        for k, v in values.items()
        if v is not None and re.search(re.escape(k) + r"(?![\w.\-/@\]])", text)
    ]
    return f" ({', '.join(used)})" if used else ""


def gate_ci(c: Candidate) -> GateResult:
    if not c.commit:
        return GateResult(GATE_CI, False, "the version records no git commit, so no CI run can be matched", {})
    finished = [r for r in c.ci_runs if r.status in _FINISHED]
    evidence = {"commit": c.commit, "runs": [_run(r) for r in sorted(c.ci_runs, key=_moment, reverse=True)[:5]]}
    if not finished:
        pending = [r for r in c.ci_runs if r.status not in _FINISHED]
        if pending:
            return GateResult(GATE_CI, False, f"CI on {c.commit[:12]} has not finished yet", evidence)
        return GateResult(GATE_CI, False, f"no CI run recorded for commit {c.commit[:12]}", evidence)
    latest = max(finished, key=_moment)
    evidence["run"] = _run(latest)
    if latest.status == "success":
        return GateResult(GATE_CI, True, f"{latest.pipeline} #{latest.id} succeeded on {c.commit[:12]}", evidence)
    return GateResult(
        GATE_CI,
        False,
        f"the latest CI run on {c.commit[:12]} ({latest.pipeline} #{latest.id}) ended {latest.status}",
        evidence,
    )


def _run(r: CiRun) -> dict[str, Any]:
    return {"id": r.id, "pipeline": r.pipeline, "status": r.status, "url": r.url}


def gate_lineage(c: Candidate) -> GateResult:
    with_digest = [d for d in c.datasets if d.digest]
    evidence = {"datasets": [{"name": d.name, "digest": d.digest, "context": d.context} for d in c.datasets]}
    if not c.run_id:
        return GateResult(GATE_LINEAGE, False, "the version has no source run", evidence)
    if not c.datasets:
        return GateResult(GATE_LINEAGE, False, "the source run records no dataset inputs", evidence)
    if not with_digest:
        return GateResult(GATE_LINEAGE, False, "the source run's datasets have no content digest", evidence)
    names = ", ".join(sorted({f"{d.name}@{d.digest[:8]}" for d in with_digest}))
    return GateResult(GATE_LINEAGE, True, f"{len(with_digest)} dataset input(s) with digests: {names}", evidence)


def gate_maturity(policy: Policy, c: Candidate) -> GateResult:
    need = policy.min_maturity_level
    evidence = {"required": need, "level": c.maturity_level}
    if c.maturity_level is None:
        return GateResult(
            GATE_MATURITY, False, f"the project has no maturity assessment (level {need} needed)", evidence
        )
    if c.maturity_level >= (need or 0):
        return GateResult(GATE_MATURITY, True, f"the project is at level {c.maturity_level} (≥ {need})", evidence)
    return GateResult(GATE_MATURITY, False, f"the project is at level {c.maturity_level}, below {need}", evidence)


def gate_regression(policy: Policy, c: Candidate) -> GateResult:
    if c.holder is None:
        return GateResult(GATE_REGRESSION, True, f"nothing holds {policy.target} yet: nothing to compare", {})
    compared, problems = [], []
    for metric, better in policy.no_regression:
        new, old = _number(c.metrics.get(metric)), _number(c.holder.metrics.get(metric))
        compared.append({"metric": metric, "better": better, "candidate": new, "holder": old})
        if old is None:
            continue
        if new is None:
            problems.append(f"{metric} is not recorded for the candidate (v{c.holder.version} has {_fmt(old)})")
        elif (better == HIGHER and new < old) or (better == LOWER and new > old):
            problems.append(
                f"{metric} {_fmt(new)} is worse than v{c.holder.version}'s {_fmt(old)} ({better} is better)"
            )
    evidence = {"holder_version": c.holder.version, "metrics": compared}
    if problems:
        return GateResult(GATE_REGRESSION, False, "; ".join(problems), evidence)
    names = ", ".join(m for m, _ in policy.no_regression)
    return GateResult(GATE_REGRESSION, True, f"no regression in {names} against v{c.holder.version}", evidence)


def evaluate_gates(
    policy: Policy, candidate: Candidate, waivers: Mapping[str, str] | None = None
) -> tuple[GateResult, ...]:
    """Every gate the policy sets, in a fixed order. `waivers` maps a gate to who waived it and why."""
    waivers = waivers or {}
    out = []
    for gate in policy.gates:
        if gate == GATE_METRICS:
            result = gate_metric(policy, candidate)
        elif gate == GATE_CI:
            result = gate_ci(candidate)
        elif gate == GATE_LINEAGE:
            result = gate_lineage(candidate)
        elif gate == GATE_MATURITY:
            result = gate_maturity(policy, candidate)
        else:
            result = gate_regression(policy, candidate)
        if not result.passed and gate in waivers:
            result = GateResult(result.gate, False, result.reason, result.evidence, True, waivers[gate])
        out.append(result)
    return tuple(out)


def blocking_gates(results: Iterable[GateResult]) -> tuple[GateResult, ...]:
    return tuple(r for r in results if r.blocking)


# ---------------------------------------------------------------------------------------------------------
# Who may approve
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    """A would-be reviewer, as the rules see them."""

    user_id: int
    username: str
    email: str = ""
    display_name: str = ""
    is_active: bool = True
    is_service_account: bool = False
    is_reviewer: bool = False
    team_ids: frozenset[int] = frozenset()

    @property
    def identities(self) -> frozenset[str]:
        """Names this person may appear under in MLflow (`mlflow.user`) and in git (author name, email)."""
        names = {self.username, self.email, self.display_name}
        if "@" in self.email:
            names.add(self.email.split("@", 1)[0])
        return frozenset(n.strip().lower() for n in names if n and n.strip())


@dataclass(frozen=True)
class Authorship:
    """Who made the candidate: the requester, the source run's author, the code's last committers."""

    requester_id: int
    run_author: str = ""
    committers: tuple[str, ...] = ()  # names and emails


def committer_matches(person: Person, committers: Iterable[str]) -> tuple[str, ...]:
    """The committer names and emails that are `person` (compared case-insensitively with the person's
    identities): the last-committers rule of `strict` independence, here and in the review queue."""
    mine = person.identities
    return tuple(sorted({c for c in committers if c.strip().lower() in mine}))


def approval_refusals(policy: Policy, authorship: Authorship, person: Person) -> tuple[str, ...]:
    """Why `person` may not review this request (empty: they may). Every reason is listed."""
    reasons = []
    if not person.is_active:
        reasons.append("the account is inactive")
    if person.is_service_account:
        reasons.append("service accounts may not approve promotions")
    if not person.is_reviewer:
        reasons.append("only members of the reviewers group may approve")
    if policy.approver_team_id is not None and policy.approver_team_id not in person.team_ids:
        team = policy.approver_team or f"team {policy.approver_team_id}"
        reasons.append(f"this policy's approvers are the members of {team}")
    if person.user_id == authorship.requester_id:
        reasons.append("you requested this promotion (no self-approval)")
    mine = person.identities
    if policy.independence in (INDEPENDENCE_AUTHOR, INDEPENDENCE_STRICT):
        author = authorship.run_author.strip().lower()
        if author and author in mine:
            reasons.append(f"you are the author of the source run ({authorship.run_author})")
    if policy.independence == INDEPENDENCE_STRICT:
        hits = committer_matches(person, authorship.committers)
        if hits:
            reasons.append(f"you are among the code's last committers ({', '.join(hits)})")
    return tuple(reasons)


# ---------------------------------------------------------------------------------------------------------
# The request state machine
# ---------------------------------------------------------------------------------------------------------

PENDING = "pending"
APPROVED = "approved"
APPLYING = "applying"
APPLIED = "applied"
FAILED = "failed"
REJECTED = "rejected"
CANCELLED = "cancelled"
EXPIRED = "expired"
STATES = (PENDING, APPROVED, APPLYING, APPLIED, FAILED, REJECTED, CANCELLED, EXPIRED)
OPEN_STATES = (PENDING, APPROVED, APPLYING, FAILED)
FINAL_STATES = (APPLIED, REJECTED, CANCELLED, EXPIRED)

APPROVE, REJECT, CANCEL, EXPIRE, START, SUCCEED, FAIL, RETRY = (
    "approve",
    "reject",
    "cancel",
    "expire",
    "start",
    "succeed",
    "fail",
    "retry",
)
TRANSITIONS: dict[tuple[str, str], str] = {
    (PENDING, APPROVE): APPROVED,  # the last required approval
    (PENDING, REJECT): REJECTED,
    (PENDING, CANCEL): CANCELLED,
    (PENDING, EXPIRE): EXPIRED,
    (APPROVED, CANCEL): CANCELLED,
    (APPROVED, START): APPLYING,
    (APPLYING, START): APPLYING,  # a second delivery of the apply task picks up where the first left off
    (APPLYING, SUCCEED): APPLIED,
    (APPLYING, FAIL): FAILED,
    (FAILED, RETRY): APPROVED,
    (FAILED, CANCEL): CANCELLED,
}
_VERBS = {
    APPROVE: "approved",
    REJECT: "rejected",
    CANCEL: "cancelled",
    EXPIRE: "expired",
    START: "applied",
    SUCCEED: "marked applied",
    FAIL: "marked failed",
    RETRY: "retried",
}


class TransitionRefused(ValueError):
    def __init__(self, state: str, event: str) -> None:
        self.state, self.event = state, event
        allowed = sorted(e for (s, e) in TRANSITIONS if s == state)
        hint = f" (it can be {', '.join(_VERBS[e] for e in allowed)})" if allowed else " (it is final)"
        super().__init__(f"A request that is {state} cannot be {_VERBS.get(event, event)}{hint}.")


def next_state(state: str, event: str) -> str:
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        raise TransitionRefused(state, event) from None


def allowed_events(state: str) -> tuple[str, ...]:
    return tuple(e for (s, e) in TRANSITIONS if s == state)


# ---------------------------------------------------------------------------------------------------------
# Which policy applies; what an alias held when
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyScope:
    id: int
    target: str
    team_id: int | None = None
    risk_tier: int | None = None


def select_policy(
    scopes: Sequence[PolicyScope], *, target: str, team_id: int | None, risk_tier: int | None
) -> int | None:
    """The most specific policy for the target: team and tier, then team, then tier, then organisation-wide."""
    best: tuple[int, int] | None = None
    for s in scopes:
        if s.target != target:
            continue
        if s.team_id is not None and s.team_id != team_id:
            continue
        if s.risk_tier is not None and s.risk_tier != risk_tier:
            continue
        rank = (2 if s.team_id is not None else 0) + (1 if s.risk_tier is not None else 0)
        if best is None or rank > best[0] or (rank == best[0] and s.id < best[1]):
            best = (rank, s.id)
    return best[1] if best else None


@dataclass(frozen=True)
class HistoryEntry:
    """From `started_at` on, `version` held the alias (None: nobody did)."""

    started_at: datetime
    version: str | None
    approved: bool = True
    seq: int = 0


def holder_at(entries: Iterable[HistoryEntry], at: datetime) -> HistoryEntry | None:
    """The entry in force at `at`: the latest that started at or before it (ties: the later entry)."""
    best = None
    for e in entries:
        if e.started_at <= at and (best is None or (e.started_at, e.seq) >= (best.started_at, best.seq)):
            best = e
    return best


def approved_holder(entries: Iterable[HistoryEntry]) -> HistoryEntry | None:
    """The last approved entry: what mlgov says the alias should point at."""
    approved = [e for e in entries if e.approved]
    return max(approved, key=lambda e: (e.started_at, e.seq)) if approved else None
