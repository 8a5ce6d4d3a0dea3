"""Per-request (or per-task) context: who is acting, from where, under which request id.

The audit trail reads these defaults so that services do not need the request passed down.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from contextvars import ContextVar

request_id_var: ContextVar[str | None] = ContextVar("mlgov_request_id", default=None)
source_var: ContextVar[str | None] = ContextVar("mlgov_source", default=None)


def new_request_id() -> str:
    return uuid.uuid4().hex


def current_request_id() -> str:
    rid = request_id_var.get()
    return rid or ""


def current_source(default: str = "cli") -> str:
    return source_var.get() or default


@contextlib.contextmanager
def acting(*, source: str, request_id: str | None = None) -> Iterator[str]:
    """Run a block under a source (web/api/sync/task/cli) and a request id."""
    rid = request_id or new_request_id()
    t1 = request_id_var.set(rid)
    t2 = source_var.set(source)
    try:
        yield rid
    finally:
        request_id_var.reset(t1)
        source_var.reset(t2)
