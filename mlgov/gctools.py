"""The cyclic garbage collector around long batch jobs (syncs, scoring runs).

A worker process holds some 300 MB of objects once Django, DRF, MLflow and Plotly are imported. Every full
collection walks all of them, and a batch job that allocates millions of short-lived objects triggers
many: in a 10,000-version MLflow sync they took 8 of its 40 seconds (docs/performance.md).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic collection at all inside the block: for jobs that build objects without reference cycles
    (reference counting frees them), so nothing accumulates."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@contextmanager
def gc_frozen() -> Iterator[None]:
    """Collections inside the block only look at objects created inside it: what existed before (the
    imported modules, the app's caches) is moved to the permanent generation and given back afterwards.
    Cycles the block creates are still collected, so its memory stays flat."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
