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
