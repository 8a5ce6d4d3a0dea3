"""Extension points for the apps above integrations (assessments, governance), filled in at start-up.

Integrations never import those apps. An app that must act after a sync succeeded (score the projects
whose sources changed, compare MLflow's aliases with the approved promotions) registers a callback in
its `AppConfig.ready()`. Callbacks run after the finishing transaction commits, with the SyncRun's id,
target (e.g. ``mlflow:prod``, ``git:fraud``) and kind; they should only queue work (a task), not do it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SyncSucceeded:
    """What a callback learns about a sync that has just succeeded."""

    sync_run_id: int
    target: str
    kind: str


SyncSucceededCallback = Callable[[SyncSucceeded], None]
_after_sync: list[SyncSucceededCallback] = []


def register_after_sync(callback: SyncSucceededCallback) -> None:
    if callback not in _after_sync:
        _after_sync.append(callback)


def sync_succeeded(event: SyncSucceeded) -> None:
    """Call every registered callback. One failing callback is logged and does not stop the others."""
    for callback in list(_after_sync):
        try:
            callback(event)
        except Exception:
            logger.exception("after-sync callback %r failed for %s", callback, event)


# --- demo steps: `manage.py seed_demo` runs these after it has seeded and synced the demo sources ---

DemoStep = Callable[[], str]
_demo_steps: list[tuple[str, DemoStep]] = []


def register_demo_step(label: str, step: DemoStep) -> None:
    """Add a step to `seed_demo` (e.g. "score every project"). It must be idempotent; it returns one
    line for the command to print. Steps run in registration order, i.e. the order of INSTALLED_APPS."""
    if all(existing != label for existing, _ in _demo_steps):
        _demo_steps.append((label, step))


def demo_steps() -> list[tuple[str, DemoStep]]:
    return list(_demo_steps)


# --- config sections: apps above integrations add top-level sections to the organisation config file ---


@dataclass(frozen=True)
class ConfigContext:
    """What a section parser may check names against: what the file itself declares (the database is the
    parser's to query for the rest)."""

    teams: frozenset[str]
    users: frozenset[str]
    projects: frozenset[str]


# parse(value of the section, context) -> (parsed value, problems named by path, e.g. "policies[0].target: ...")
ConfigParse = Callable[[object, ConfigContext], tuple[object, list[str]]]
# apply(parsed value, actor) -> how many objects it changed; runs inside `config_apply`'s transaction
ConfigApply = Callable[[object, object], int]
_config_sections: dict[str, tuple[ConfigParse, ConfigApply]] = {}


def register_config_section(name: str, parse: ConfigParse, apply: ConfigApply) -> None:
    """Add a top-level section (e.g. ``policies``) to `manage.py apply_config`. Sections apply after the
    built-in ones (users, teams, projects, integrations), in registration order."""
    _config_sections.setdefault(name, (parse, apply))


def config_sections() -> list[tuple[str, ConfigParse, ConfigApply]]:
    return [(name, parse, apply) for name, (parse, apply) in _config_sections.items()]
