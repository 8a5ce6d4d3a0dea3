"""What the three CI providers share: run statuses, time parsing, the ordering rule, job merging. No Django."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

# The inventory's RunStatus values (mlgov.inventory.choices.RunStatus; a test keeps them equal).
QUEUED, RUNNING, SUCCESS, FAILURE, CANCELLED, SKIPPED = (
    "queued",
    "running",
    "success",
    "failure",
    "cancelled",
    "skipped",
)
STATUSES = (QUEUED, RUNNING, SUCCESS, FAILURE, CANCELLED, SKIPPED)
TERMINAL = frozenset({SUCCESS, FAILURE, CANCELLED, SKIPPED})
_RANK = {QUEUED: 0, RUNNING: 1}

MAX_JOBS = 500  # jobs kept per run; a matrix of thousands of jobs is cut, not stored whole
MAX_TEXT = 255

_GITLAB_UTC = re.compile(r"^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2}(?:\.\d+)?) ?UTC$")


class PayloadError(ValueError):
    """A payload that is well-formed JSON but not the shape a provider documents."""


def rank(status: str) -> int:
    return 2 if status in TERMINAL else _RANK.get(status, 0)


def parse_time(value: Any) -> datetime | None:
    """ISO 8601 (`2020-10-05T16:33:24Z`), GitLab's `2016-08-12 15:23:28 UTC`, or epoch milliseconds (Jenkins).

    Returns an aware UTC datetime, or None for a missing or unreadable value.
    """
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        if value <= 0:
            return None
        try:
            return datetime.fromtimestamp(value / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str) or len(value) > 64:
        return None
    text = value.strip()
    match = _GITLAB_UTC.match(text)
    if match:
        text = f"{match.group(1)}T{match.group(2)}+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def text(value: Any, limit: int = MAX_TEXT) -> str:
    """A bounded string without NUL bytes (PostgreSQL refuses them); None and non-strings become ''."""
    if value is None or isinstance(value, dict | list):
        return ""
    return str(value).replace("\x00", "")[:limit]


def obj(value: Any) -> Mapping[str, Any]:
    """A JSON object, or an empty one when the payload holds something else there."""
    return value if isinstance(value, Mapping) else {}


def require(payload: Mapping[str, Any], *path: str) -> Any:
    """The value at `path`, or PayloadError naming the missing key."""
    cur: Any = payload
    for i, key in enumerate(path):
        if not isinstance(cur, Mapping) or cur.get(key) in (None, ""):
            raise PayloadError(f"missing {'.'.join(path[: i + 1])}")
        cur = cur[key]
    return cur


def supersedes(
    new_status: str,
    new_started: datetime | None,
    new_finished: datetime | None,
    old_status: str | None,
    old_started: datetime | None,
    old_finished: datetime | None,
) -> bool:
    """Whether a newly reported state replaces the stored one.

    Events arrive out of order (webhooks are retried, polls overlap them). The rule:

    - a finished state is replaced only by an event that happened after it finished: a re-run of the same run
      (GitHub keeps the run id across attempts) starts after the previous attempt finished; a late
      "in_progress" from before the finish is dropped;
    - an unfinished state is replaced by anything at least as far along (queued < running < finished), unless
      the event belongs to an earlier attempt (it happened before the stored attempt started).
    """
    if old_status is None:
        return True
    new_time = new_finished if new_status in TERMINAL else new_started
    if old_status in TERMINAL:
        return bool(new_time and old_finished and new_time > old_finished)
    if new_time and old_started and new_time < old_started:
        return False
    return rank(new_status) >= rank(old_status)


def job_key(job: Mapping[str, Any]) -> str:
    return str(job.get("id") or f"name:{job.get('name', '')}")


def merge_jobs(current: Iterable[Mapping[str, Any]], incoming: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Merge reported jobs into the stored list, keyed by job id; a stale report never regresses a job."""
    merged: dict[str, dict[str, Any]] = {job_key(j): dict(j) for j in current if isinstance(j, Mapping)}
    for job in incoming:
        key = job_key(job)
        old = merged.get(key)
        if old is None:
            if len(merged) < MAX_JOBS:
                merged[key] = dict(job)
            continue
        if supersedes(
            job.get("status", QUEUED),
            parse_time(job.get("started_at")),
            parse_time(job.get("finished_at")),
            old.get("status", QUEUED),
            parse_time(old.get("started_at")),
            parse_time(old.get("finished_at")),
        ):
            merged[key] = {**old, **{k: v for k, v in job.items() if v not in (None, "")}, "status": job["status"]}
            if job.get("status") not in TERMINAL:
                merged[key]["finished_at"] = None
    return list(merged.values())


def job_dict(
    *,
    job_id: Any,
    name: Any,
    status: str,
    stage: Any = "",
    started_at: datetime | None = None,
    finished_at: datetime | None = None,
    url: Any = "",
) -> dict[str, Any]:
    """The shape of one entry of PipelineRun.jobs."""
    return {
        "id": text(job_id, 64),
        "name": text(name),
        "stage": text(stage, 100),
        "status": status,
        "started_at": iso(started_at),
        "finished_at": iso(finished_at) if status in TERMINAL else None,
        "url": text(url, 1000),
    }


def split_config_path(path: str) -> str:
    """GitHub reports `.github/workflows/build.yml@main` in the REST API: the path is before the `@`."""
    return path.split("@", 1)[0] if path else path
