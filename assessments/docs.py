"""docs/rubric.md, generated from the rubric files, the detectors and the evidence catalogue (pure Python).

`python manage.py rubric_docs --write` rewrites it; tests/assessments/test_rubric.py fails when it is stale.
"""

from __future__ import annotations

from collections.abc import Iterable

from assessments.detectors import DETECTORS, EVIDENCE_KINDS, Detector
from assessments.rubric import Rubric

_METHOD = {"detected": "detected", "attested": "attested", "either": "detected or attested"}


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _requires(detector: Detector) -> str:
    parts = []
    for clause in detector.clauses:
        alts = " or ".join(
            f"`{a.kind}`" + (f" ≥ {a.min_count}" if a.min_count > 1 else "") for a in clause.alternatives
        )
        parts.append(alts if len(clause.alternatives) == 1 else f"({alts})")
    return " and ".join(parts)


_STATUSES = [
    (
        "met",
        "the criterion's detector holds over evidence observed within its freshness window (`fresh_days`, else "
        "`MLGOV_EVIDENCE_FRESH_DAYS`, 180 days)",
    ),
    (
        "attested",
        "the criterion may be attested (method *attested* or *either*) and a current attestation confirms it: "
        "not revoked, not expired, and verified by a reviewer when a manager requires verification for that criterion",
    ),
    ("waived", "a current waiver (granted by a manager, with a justification and an expiry) exempts the project"),
    ("stale", "the detector holds only over older evidence; it does not count"),
    ("unmet", "none of these; an expired attestation or waiver leaves the criterion unmet and says so"),
]
STATUS_TABLE = "\n".join(["| Status | When |", "|---|---|", *(f"| **{s}** | {w} |" for s, w in _STATUSES)])

INTRO = """# Maturity rubrics

<!-- Generated from assessments/rubrics/*.yaml, assessments/detectors.py and assessments/docs.py by
     `python manage.py rubric_docs --write`. Do not edit by hand: tests/assessments/test_rubric.py fails
     when this file is out of date. -->

mlgov scores each project against a rubric: levels, dimensions, and for each dimension and level the
criteria to meet. Rubrics are data (`assessments/rubrics/<id>.yaml`) and versioned: every scorecard
records the rubric id and version it was computed with, so history stays comparable. The organisation
scores against `MLGOV_RUBRIC` (default `azure-mlops`); `manage.py score --rubric google-mlops` scores
against another.

## How a scorecard is computed

The engine (`assessments/engine.py`, pure Python) takes a rubric and one project's evidence and gives
each criterion a status, with the evidence and the reason:

{statuses}

A dimension's level is the highest level whose criteria, and those of every level below it, are met,
attested or waived; a level with no criteria of its own ("as level 2") adds nothing to pass. The
project's level is the **lowest** of its dimensions: the weakest area decides. The *next steps* are the
criteria still missing for the next level, with their guidance.

A detector is a conjunction of clauses, each a choice of evidence kinds with a minimum count, so more
evidence never turns a met criterion unmet. Attestations last `MLGOV_ATTESTATION_DAYS` (180) unless the
criterion (`attestation_days`) or a manager's attestation rule says less; waivers last at most
`MLGOV_WAIVER_MAX_DAYS` (365).
"""

PROVIDERS = """## Evidence from other apps

An app above assessments adds evidence by registering a provider in its `AppConfig.ready()`:

```python
from assessments.contracts import Evidence
from assessments.hooks import register_evidence_provider


def governance_evidence(project_ids, now):  # a fixed number of queries for all of project_ids
    return {
        project_id: [
            Evidence(
                kind="promotion.governed",
                source="mlgov:governance",
                observed_at=applied_at,
                link="/promotions/12/",
                count=3,
                summary="3 promotions approved through gates",
                facts={"gates": ["min_maturity", "tests_passed"]},
            )
        ]
    }


register_evidence_provider(governance_evidence)
```

`Evidence` (`assessments/contracts.py`, a frozen dataclass with no Django) has: `kind` (from the
catalogue above), `source`, `observed_at` (timezone-aware), `link` (a URL, or ""), `count` (how many
observations the record sums up; detectors compare it with their minimum), `summary` (one line for
people) and `facts` (JSON-serialisable details). Records only ever say that something holds: to say
"aliases were moved by hand", a provider leaves `alias.governed` out. Until the governance app
registers its provider, `promotion.governed` and `alias.governed` have no evidence, and the level-4
release criteria can only be attested or waived.
"""


def rubric_markdown(rubrics: Iterable[Rubric]) -> str:
    lines = [INTRO.replace("{statuses}", STATUS_TABLE)]
    rubrics = list(rubrics)
    for rubric in rubrics:
        lines += [
            f"## {rubric.name}",
            "",
            f"Id `{rubric.id}`, version `{rubric.version}`. Source: <{rubric.source}>." if rubric.source else "",
            "",
            _cell(rubric.description),
            "",
            "| Level | Name | Summary |",
            "|---|---|---|",
            *(f"| {lv.level} | {_cell(lv.name)} | {_cell(lv.summary)} |" for lv in rubric.levels),
            "",
        ]
        for dim in rubric.dimensions:
            lines += [f"### {dim.name} (`{dim.id}`)", "", _cell(dim.description), ""]
            for dim_level in dim.levels:
                lines.append(f"**Level {dim_level.level}.** {_cell(dim_level.description)}")
                lines.append("")
                if not dim_level.criteria:
                    lines += ["No criteria of its own.", ""]
                    continue
                lines += ["| Criterion | Title | Method | Detector |", "|---|---|---|---|"]
                for c in dim_level.criteria:
                    detector = f"`{c.detector}`" if c.detector else "—"
                    extras = []
                    if c.fresh_days:
                        extras.append(f"fresh {c.fresh_days} d")
                    if c.attestation_days:
                        extras.append(f"attestation {c.attestation_days} d")
                    method = _METHOD[c.method] + (f" ({', '.join(extras)})" if extras else "")
                    lines.append(f"| `{c.id}` | {_cell(c.title)} | {method} | {detector} |")
                lines.append("")
                for c in dim_level.criteria:
                    lines.append(f"- `{c.id}`: {_cell(c.guidance)}")
                lines.append("")
    used = {c.detector for r in rubrics for c in r.criteria if c.detector}
    lines += [
        "## Detectors",
        "",
        "| Detector | What it checks | Requires |",
        "|---|---|---|",
        *(
            f"| `{d.name}` | {_cell(d.description)} | {_requires(d)} |"
            for d in sorted(DETECTORS.values(), key=lambda d: d.name)
            if d.name in used
        ),
        "",
        "## Evidence kinds",
        "",
        "`assessments/evidence.py` builds every kind except the governance ones, for all projects at once. Each",
        "record summarises: its `count` and its link to the newest observation.",
        "",
        "| Kind | From | What it means | Source, link, count, facts |",
        "|---|---|---|---|",
        *(
            f"| `{k.kind}` | {k.producer} | {_cell(k.description)} | {_cell(k.fields)} |"
            for k in sorted(EVIDENCE_KINDS.values(), key=lambda k: (k.producer, k.kind))
        ),
        "",
        PROVIDERS,
    ]
    text = "\n".join(lines)
    # One blank line between blocks, except inside code fences (Python wants two before a def).
    parts = text.split("```")
    for i in range(0, len(parts), 2):
        while "\n\n\n" in parts[i]:
            parts[i] = parts[i].replace("\n\n\n", "\n\n")
    return "```".join(parts).rstrip() + "\n"
