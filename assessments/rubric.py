"""Rubrics as data: versioned YAML files in assessments/rubrics/, parsed into frozen dataclasses (no Django).

A rubric has levels (e.g. 0-4, the lowest being the baseline every project starts at), dimensions, and
for each dimension and level above the baseline the criteria to meet. Each criterion has an id, a title,
guidance, a method (`detected`: a detector over the evidence decides; `attested`: a person confirms it;
`either`), and for detected criteria the name of a detector (assessments/detectors.py).

`load_rubric(path)` checks everything a scorecard relies on and raises `RubricError` naming the problem:
unique ids, known detectors, methods, levels in range. `get_rubric(id)` reads assessments/rubrics/<id>.yaml.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from assessments.detectors import DETECTORS

RUBRICS_DIR = Path(__file__).resolve().parent / "rubrics"
METHODS = ("detected", "attested", "either")
_ID = re.compile(r"^[a-z][a-z0-9_.-]{0,119}$")


class RubricError(ValueError):
    """A rubric file that cannot be scored with."""


@dataclass(frozen=True)
class Criterion:
    id: str
    title: str
    guidance: str
    method: str  # detected | attested | either
    dimension: str
    level: int
    detector: str | None = None
    fresh_days: int | None = None  # evidence older than this is stale (None: the organisation's default)
    attestation_days: int | None = None  # attestations last at most this long (None: the default)

    @property
    def detectable(self) -> bool:
        return self.method in ("detected", "either") and self.detector is not None

    @property
    def attestable(self) -> bool:
        return self.method in ("attested", "either")


@dataclass(frozen=True)
class DimensionLevel:
    level: int
    description: str
    criteria: tuple[Criterion, ...]


@dataclass(frozen=True)
class Dimension:
    id: str
    name: str
    description: str
    levels: tuple[DimensionLevel, ...]  # one per rubric level above the baseline, ascending

    def criteria_at(self, level: int) -> tuple[Criterion, ...]:
        return next((dl.criteria for dl in self.levels if dl.level == level), ())


@dataclass(frozen=True)
class Level:
    level: int
    name: str
    summary: str


@dataclass(frozen=True)
class Rubric:
    id: str
    version: str
    name: str
    description: str
    source: str
    levels: tuple[Level, ...]  # ascending; the first is the baseline
    dimensions: tuple[Dimension, ...]
    digest: str  # sha256 of the file's bytes: a changed file with an unchanged version is visible

    @property
    def baseline(self) -> int:
        return self.levels[0].level

    @property
    def top(self) -> int:
        return self.levels[-1].level

    @property
    def level_numbers(self) -> tuple[int, ...]:
        return tuple(level.level for level in self.levels)

    def level_name(self, level: int) -> str:
        return next((lv.name for lv in self.levels if lv.level == level), str(level))

    @property
    def criteria(self) -> tuple[Criterion, ...]:
        """Every criterion, by dimension then level then file order."""
        return tuple(c for d in self.dimensions for dl in d.levels for c in dl.criteria)

    def criterion(self, criterion_id: str) -> Criterion | None:
        return next((c for c in self.criteria if c.id == criterion_id), None)

    def dimension(self, dimension_id: str) -> Dimension | None:
        return next((d for d in self.dimensions if d.id == dimension_id), None)


def _text(raw: Any, where: str, *, required: bool = True) -> str:
    if raw is None and not required:
        return ""
    if not isinstance(raw, str | int | float) or (required and not str(raw).strip()):
        raise RubricError(f"{where}: must be a non-empty string")
    return str(raw).strip()


def _positive(raw: Any, where: str) -> int | None:
    if raw is None:
        return None
    if not isinstance(raw, int) or isinstance(raw, bool) or raw < 1:
        raise RubricError(f"{where}: must be a positive integer")
    return raw


def parse_rubric(data: Any, *, digest: str = "") -> Rubric:
    """Build and check a Rubric from the parsed YAML document."""
    if not isinstance(data, dict):
        raise RubricError("a rubric must be a mapping")
    rubric_id = _text(data.get("id"), "id")
    if not _ID.match(rubric_id):
        raise RubricError(f"id {rubric_id!r}: lowercase letters, digits, '.', '_' and '-' only")
    raw_levels = data.get("levels")
    if not isinstance(raw_levels, list) or len(raw_levels) < 2:
        raise RubricError("levels: a list of at least two levels (the baseline and one above it)")
    levels = []
    for i, raw in enumerate(raw_levels):
        if not isinstance(raw, dict) or not isinstance(raw.get("level"), int):
            raise RubricError(f"levels[{i}]: needs an integer `level`, a `name` and a `summary`")
        levels.append(Level(raw["level"], _text(raw.get("name"), f"levels[{i}].name"), _text(raw.get("summary"), "")))
    numbers = [lv.level for lv in levels]
    if numbers != list(range(numbers[0], numbers[0] + len(numbers))):
        raise RubricError(f"levels: must be consecutive and ascending, got {numbers}")
    raw_dims = data.get("dimensions")
    if not isinstance(raw_dims, list) or not raw_dims:
        raise RubricError("dimensions: a non-empty list")
    seen_ids: set[str] = set()
    dimensions = []
    for d_index, raw_dim in enumerate(raw_dims):
        where = f"dimensions[{d_index}]"
        if not isinstance(raw_dim, dict):
            raise RubricError(f"{where}: must be a mapping")
        dim_id = _text(raw_dim.get("id"), f"{where}.id")
        if not _ID.match(dim_id) or dim_id in {d.id for d in dimensions}:
            raise RubricError(f"{where}.id {dim_id!r}: must be a unique identifier")
        raw_dim_levels = raw_dim.get("levels") or {}
        if not isinstance(raw_dim_levels, dict):
            raise RubricError(f"{where}.levels: a mapping of level -> {{description, criteria}}")
        unknown = sorted(set(raw_dim_levels) - set(numbers[1:]), key=str)
        if unknown:
            raise RubricError(f"{where}.levels: {unknown} are not levels above the baseline {numbers[0]}")
        dim_levels = []
        for level in numbers[1:]:
            raw_level = raw_dim_levels.get(level) or {}
            lwhere = f"{dim_id} level {level}"
            criteria = []
            for c_index, raw_c in enumerate(raw_level.get("criteria") or []):
                cwhere = f"{lwhere} criteria[{c_index}]"
                if not isinstance(raw_c, dict):
                    raise RubricError(f"{cwhere}: must be a mapping")
                cid = _text(raw_c.get("id"), f"{cwhere}.id")
                if not _ID.match(cid) or cid in seen_ids:
                    raise RubricError(f"{cwhere}.id {cid!r}: must be a unique identifier")
                seen_ids.add(cid)
                method = raw_c.get("method")
                if method not in METHODS:
                    raise RubricError(f"{cid}: method must be one of {', '.join(METHODS)}")
                detector = raw_c.get("detector")
                if method == "attested" and detector is not None:
                    raise RubricError(f"{cid}: an attested criterion names no detector")
                if method != "attested":
                    if not detector:
                        raise RubricError(f"{cid}: a {method} criterion must name a detector")
                    if detector not in DETECTORS:
                        raise RubricError(f"{cid}: unknown detector {detector!r}")
                criteria.append(
                    Criterion(
                        id=cid,
                        title=_text(raw_c.get("title"), f"{cid}.title"),
                        guidance=_text(raw_c.get("guidance"), f"{cid}.guidance"),
                        method=method,
                        dimension=dim_id,
                        level=level,
                        detector=detector,
                        fresh_days=_positive(raw_c.get("fresh_days"), f"{cid}.fresh_days"),
                        attestation_days=_positive(raw_c.get("attestation_days"), f"{cid}.attestation_days"),
                    )
                )
            dim_levels.append(
                DimensionLevel(level, _text(raw_level.get("description"), "", required=False), tuple(criteria))
            )
        dimensions.append(
            Dimension(
                id=dim_id,
                name=_text(raw_dim.get("name"), f"{where}.name"),
                description=_text(raw_dim.get("description"), "", required=False),
                levels=tuple(dim_levels),
            )
        )
    return Rubric(
        id=rubric_id,
        version=_text(data.get("version"), "version"),
        name=_text(data.get("name"), "name"),
        description=_text(data.get("description"), "", required=False),
        source=_text(data.get("source"), "", required=False),
        levels=tuple(levels),
        dimensions=tuple(dimensions),
        digest=digest,
    )


def load_rubric(path: Path) -> Rubric:
    raw = path.read_bytes()
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise RubricError(f"{path.name}: not valid YAML: {exc}") from exc
    rubric = parse_rubric(data, digest=hashlib.sha256(raw).hexdigest())
    if rubric.id != path.stem:
        raise RubricError(f"{path.name}: its id is {rubric.id!r}; the file must be named {rubric.id}.yaml")
    return rubric


@cache
def available_rubrics() -> dict[str, Rubric]:
    """Every rubric shipped in assessments/rubrics/, by id (read once per process)."""
    return {r.id: r for r in (load_rubric(p) for p in sorted(RUBRICS_DIR.glob("*.yaml")))}


def get_rubric(rubric_id: str) -> Rubric:
    try:
        return available_rubrics()[rubric_id]
    except KeyError:
        raise RubricError(f"unknown rubric {rubric_id!r}; available: {', '.join(available_rubrics())}") from None
