"""Benchmark: syncing 10,000 MLflow model versions (1,000 registered models, a run behind each version).

The issue: seed 10k model versions into a loopback MLflow server and measure, in one run, (a) the raw
MLflow client paging through the same objects, (b) mlgov's full sync, (c) a no-change resync.
Targets: (b) <= 2x (a); (c) <= 1.2x (a) with zero writes; peak memory flat in the number of objects.

It runs on whatever DATABASE_URL points at (SQLite by default):

    make bench BENCH_ARGS=tests/benchmarks/bench_mlflow_sync.py
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/mlgov_bench make bench BENCH_ARGS=...
    MLGOV_BENCH_VERSIONS=2000 make bench BENCH_ARGS=...      # a quick run

The MLflow side: a SQLite store seeded by tests/benchmarks/mlflow_store_seed.py (100 experiments,
1,000 registered models with tags and aliases, 10 versions each, each version's run with 5 params,
4 metrics of 3 steps, 6 tags and 2 dataset inputs), cached under var/bench-cache/ and copied for each
run, served by a real `mlflow server` subprocess (tests.integrations.mlflow_server) on 127.0.0.1: every
read is an HTTP request, as in production. The runs started days ago, so the incremental resync's
window (the last sync's watermark less MLGOV_SYNC_OVERLAP_MINUTES) holds none of them.

(a) is MlflowClient alone, making the calls the full sync makes (the same methods, filters, ordering
and page sizes; the benchmark checks the two call lists are equal), median of MLGOV_BENCH_REPEAT passes
after one warm-up pass. (b) is `mlflow_sync_now(mode="full")` into an empty inventory, committing page
by page as in production. (c) is `mlflow_sync_now(mode="incremental")` right after; (c') a full
resync with nothing changed, which reads everything as (a) does and compares it all. For each pass the
client's calls are timed (the wall time in MLflow calls: request, server, response parsing), so the
rest is mlgov's own (mapping, fingerprints, audit events, database); the CPU of the server's processes
and of this one, and the time in Python's garbage collector, are measured too. Client and server take
turns, so on an idle machine wall time is about their CPU added up: the "CPU ratio" (server + this
process, against the same for (a)) is the ratio with other jobs' load taken out, for shared machines.
Statements are counted with a connection execute_wrapper.

Timings are printed, never asserted. Asserted: the sync's counts equal the seed; the resyncs leave the
inventory tables identical (every column of every row) and write nothing but their own SyncRun row
and its two audit events (sync.started, sync.succeeded).

Peak memory: the full sync of MLGOV_BENCH_MEMORY_VERSIONS (default a fifth of the size) and of the full
size, each under tracemalloc (Python allocations; peak since the sync started), into an empty
inventory; plus the process's resident-set peak (sampled every 10 ms) during the untraced sync (b).

Results are recorded in docs/performance.md.
"""

from __future__ import annotations

import cProfile
import gc
import hashlib
import inspect
import os
import platform
import pstats
import re
import resource
import shutil
import sqlite3
import threading
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter, process_time
from typing import Any

import django
import mlflow
import pytest
from django.conf import settings
from django.db import connection
from mlflow import MlflowClient
from mlflow.entities import ViewType

from integrations import mlflow as mf
from integrations.models import MlflowConnection, SyncRun
from integrations.sync import EXPERIMENT_CHUNK, mlflow_sync_now
from mlgov.audit.models import AuditEvent
from mlgov.inventory.models import (
    Dataset,
    Experiment,
    Feature,
    ModelAlias,
    ModelVersion,
    Project,
    RegisteredModel,
    RunInput,
    Team,
    TrainingRun,
)
from tests.benchmarks.mlflow_store_seed import DB_FILE, Shape, model_aliases, project_slug, seeded_store
from tests.integrations.mlflow_server import MlflowServer, mlflow_executable

# --- Scale ---
VERSIONS = int(os.environ.get("MLGOV_BENCH_VERSIONS", "10000"))
MEMORY_VERSIONS = int(os.environ.get("MLGOV_BENCH_MEMORY_VERSIONS", str(max(VERSIONS // 5, 30))))
REPEAT = int(os.environ.get("MLGOV_BENCH_REPEAT", "3"))
PROFILE = os.environ.get("MLGOV_BENCH_PROFILE", "")  # a path prefix: profile the full syncs with cProfile
CACHE = Path(settings.BASE_DIR) / "var" / "bench-cache"

# --- The page sizes the sync uses: MlflowSource's default (model versions are read 10 pages at a time) ---
PAGE_SIZE = inspect.signature(mf.MlflowSource).parameters["page_size"].default
VERSION_PAGE_SIZE = PAGE_SIZE * 10

# --- Targets named in the issue, as ratios to (a) ---
FULL_TARGET = 2.0
RESYNC_TARGET = 1.2

INVENTORY = (
    Experiment,
    TrainingRun,
    RegisteredModel,
    ModelVersion,
    ModelAlias,
    Dataset,
    Feature,
    RunInput,
    TrainingRun.features.through,
)
RESULTS: dict[str, Any] = {"rows": [], "memory": {}}

# A real mlflow server; commits as in production (each page of a sync is its own transaction).
pytestmark = [pytest.mark.mlflow, pytest.mark.django_db(transaction=True)]


def _backend() -> str:
    if connection.vendor == "postgresql":
        major, rest = divmod(connection.pg_version, 10000)
        return f"PostgreSQL {major}.{rest % 100}"
    if connection.vendor == "sqlite":
        name = connection.settings_dict["NAME"]
        where = "in memory" if "memory" in str(name) else f"file {os.path.basename(str(name))}"
        return f"SQLite {sqlite3.sqlite_version} ({where})"
    return connection.vendor


def _mb(n: float) -> str:
    return f"{n / 2**20:,.1f} MB"


# --------------------------------------------------------------------------------------------------
# Fixtures: the seeded MLflow stores, a server on a copy of one, mlgov's projects
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stores(django_db_setup: None) -> Iterator[dict[int, Path]]:
    if mlflow_executable() is None:
        pytest.skip("the mlflow executable is not installed")
    out = {}
    lines = []
    for versions in sorted({MEMORY_VERSIONS, VERSIONS}):
        shape = Shape(versions)
        path, seconds = seeded_store(CACHE, shape)
        out[versions] = path
        how = f"seeded in {seconds:.1f} s" if seconds is not None else "from the cache"
        lines.append(
            f"store     {versions:,} versions, {shape.models:,} models, {shape.experiments:,} experiments: "
            f"{how} ({_mb((path / DB_FILE).stat().st_size)}, var/bench-cache/{path.name})"
        )
    print(
        f"\n=== mlgov benchmark: MLflow sync ===\n"
        f"backend   {_backend()}\n"
        f"machine   {os.cpu_count()} CPUs, load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}, "
        f"Python {platform.python_version()}, Django {django.get_version()}, MLflow {mlflow.__version__}\n"
        + "\n".join(lines)
        + f"\nmeasure   (a) median of {REPEAT} raw passes after 1 warm-up; page sizes {PAGE_SIZE} "
        f"(versions {VERSION_PAGE_SIZE}), runs read {EXPERIMENT_CHUNK} experiments at a time; "
        f"targets (b)/(a) <= {FULL_TARGET}, (c)/(a) <= {RESYNC_TARGET}",
        flush=True,
    )
    yield out
    _print_table()


@contextmanager
def serving(store: Path, tmp: Path) -> Iterator[MlflowServer]:
    """`mlflow server` on a copy of the cached store (the server never writes to the cache)."""
    root = tmp / "mlflow"
    root.mkdir()
    shutil.copy2(store / DB_FILE, root / DB_FILE)
    server = MlflowServer(root).start(timeout=120)
    try:
        yield server
    finally:
        server.stop()


def _projects(shape: Shape) -> None:
    """The projects the seeded experiments and models name in their mlgov.project tag."""
    team = Team.objects.create(slug="sync-bench", name="Sync benchmark")
    Project.objects.bulk_create(
        Project(team=team, slug=project_slug(i), name=f"Sync benchmark project {i}") for i in range(shape.projects)
    )


def _connection(name: str, url: str) -> MlflowConnection:
    return MlflowConnection.objects.create(name=name, tracking_uri=url)


# --------------------------------------------------------------------------------------------------
# Instruments
# --------------------------------------------------------------------------------------------------


class TimedClient:
    """An MlflowClient that adds up the time spent in its calls and counts them by (method, max_results)."""

    def __init__(self, client: MlflowClient) -> None:
        self._client = client
        self.seconds = 0.0
        self.cpu = 0.0  # this process's CPU inside the calls: the client's request and response parsing
        self.calls: Counter[tuple[str, int | None]] = Counter()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if not callable(attr):
            return attr

        def timed(*args: Any, **kwargs: Any) -> Any:
            started, cpu_started = perf_counter(), process_time()
            try:
                return attr(*args, **kwargs)
            finally:
                self.seconds += perf_counter() - started
                self.cpu += process_time() - cpu_started
                self.calls[(name, kwargs.get("max_results"))] += 1

        return timed


_WRITE = re.compile(r'^\s*(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+"?(\w+)"?', re.IGNORECASE)


class Statements:
    """A connection execute_wrapper: every statement counted, writes by (verb, table)."""

    def __init__(self) -> None:
        self.total = 0
        self.writes: Counter[tuple[str, str]] = Counter()

    def __call__(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        self.total += 1
        match = _WRITE.match(sql)
        if match:
            self.writes[(match.group(1).split()[0].upper(), match.group(2))] += 1
        return execute(sql, params, many, context)


def _rss() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


class PeakRss:
    """The process's resident set size, sampled every 10 ms in a thread while the block runs."""

    def __enter__(self) -> PeakRss:
        self.start = self.peak = _rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, _rss())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss())


def server_cpu(server: MlflowServer) -> float:
    """CPU seconds used so far by the server's processes (`mlflow server` and its uvicorn worker: the
    session it was started in)."""
    total = 0
    ticks = os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if server.proc is not None and int(fields[3]) == server.proc.pid:  # field 6, the session id
            total += int(fields[11]) + int(fields[12])  # fields 14 and 15, utime and stime
    return total / ticks


class GcTime:
    """Time spent in the cyclic garbage collector while the block runs (it walks every live container,
    so its cost grows with what the process holds)."""

    def __enter__(self) -> GcTime:
        self.seconds, self.collections, self._started = 0.0, Counter(), 0.0
        gc.callbacks.append(self._callback)
        return self

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = perf_counter()
        else:
            self.seconds += perf_counter() - self._started
            self.collections[info["generation"]] += 1

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._callback)


def inventory_digest() -> dict[str, tuple[int, str]]:
    """Per inventory table: (rows, SHA-1 of every column of every row in id order)."""
    out = {}
    for model in INVENTORY:
        digest, n = hashlib.sha1(usedforsecurity=False), 0
        columns = [f.attname for f in model._meta.concrete_fields]
        for row in model.objects.order_by("pk").values_list(*columns).iterator(chunk_size=2000):
            digest.update(repr(row).encode())
            n += 1
        out[model._meta.db_table] = (n, digest.hexdigest())
    return out


# --------------------------------------------------------------------------------------------------
# (a) the raw client
# --------------------------------------------------------------------------------------------------


def _pages(call: Callable[..., Any], *args: Any, **kwargs: Any) -> Iterator[Any]:
    token = None
    while True:
        page = call(*args, page_token=token, **kwargs)
        yield page
        token = page.token
        if not token:
            return


def raw_pass(client: TimedClient) -> Counter[str]:
    """Page through what the full sync reads, with MlflowClient alone (see integrations/mlflow.py and
    MlflowSync.run: experiments, then runs EXPERIMENT_CHUNK experiments at a time, models, versions)."""
    seen: Counter[str] = Counter()
    ids = []
    for page in _pages(client.search_experiments, view_type=ViewType.ALL, max_results=PAGE_SIZE):
        ids += [e.experiment_id for e in page if e.lifecycle_stage != "deleted"]
    seen["experiments"] = len(ids)
    ids.sort()
    for i in range(0, len(ids), EXPERIMENT_CHUNK):
        for page in _pages(
            client.search_runs,
            ids[i : i + EXPERIMENT_CHUNK],
            filter_string="",
            run_view_type=ViewType.ACTIVE_ONLY,
            max_results=PAGE_SIZE,
            order_by=["attributes.start_time ASC"],
        ):
            seen["runs"] += len(page)
            seen["dataset inputs"] += sum(len(r.inputs.dataset_inputs) for r in page)
    for page in _pages(client.search_registered_models, max_results=PAGE_SIZE, order_by=["name ASC"]):
        seen["models"] += len(page)
        seen["aliases"] += sum(len(m.aliases) for m in page)
    for page in _pages(client.search_model_versions, None, max_results=VERSION_PAGE_SIZE, order_by=["name ASC"]):
        seen["versions"] += len(page)
    return seen


# --------------------------------------------------------------------------------------------------
# (b), (c): mlgov's syncs
# --------------------------------------------------------------------------------------------------


@dataclass
class Timing:
    """One measured pass. `mlflow` is the wall time inside MLflow client calls: the server's work, the
    client's request and response handling (`mlflow_cpu`, this process) and the loopback transfer."""

    label: str
    seconds: float = 0.0
    cpu: float = 0.0  # this process
    mlflow: float = 0.0
    mlflow_cpu: float = 0.0
    server_cpu: float = 0.0  # the mlflow server's processes
    gc: float = 0.0  # this process's cyclic garbage collector
    calls: Counter[tuple[str, int | None]] = field(default_factory=Counter)
    # syncs only
    run: SyncRun | None = None
    statements: int = 0
    writes: Counter[tuple[str, str]] = field(default_factory=Counter)
    rss_start: int = 0
    rss_peak: int = 0

    @property
    def total_cpu(self) -> float:
        """CPU of both processes: on an idle machine the wall time, since client and server take turns."""
        return self.server_cpu + self.cpu

    @property
    def mlgov(self) -> float:
        """Wall time outside MLflow calls: mlgov's mapping, fingerprints, audit events and database."""
        return self.seconds - self.mlflow


@contextmanager
def timing(label: str, client: TimedClient, server: MlflowServer) -> Iterator[Timing]:
    t = Timing(label)
    client.seconds, client.cpu, client.calls = 0.0, 0.0, Counter()
    server_started = server_cpu(server)
    with GcTime() as gc_time:
        started, cpu_started = perf_counter(), process_time()
        yield t
        t.seconds, t.cpu = perf_counter() - started, process_time() - cpu_started
    t.server_cpu = server_cpu(server) - server_started
    t.gc = gc_time.seconds
    t.mlflow, t.mlflow_cpu, t.calls = client.seconds, client.cpu, Counter(client.calls)


def raw_sample(label: str, client: TimedClient, server: MlflowServer) -> tuple[Timing, Counter[str]]:
    with timing(label, client, server) as t:
        seen = raw_pass(client)
    return t, seen


def measure_sync(label: str, conn: MlflowConnection, mode: str, server: MlflowServer) -> Timing:
    """One sync through mlflow_sync_now, its client timed and its statements counted. With
    MLGOV_BENCH_PROFILE=<file> a full sync runs under cProfile (its time is then not comparable)."""
    source = mf.MlflowSource(conn.tracking_uri)
    client = TimedClient(source.client)
    source.client = client
    statements = Statements()
    profile = cProfile.Profile() if PROFILE and mode == "full" else None
    with connection.execute_wrapper(statements), PeakRss() as rss, timing(label, client, server) as t:
        call = (lambda f, **kw: profile.runcall(f, **kw)) if profile else (lambda f, **kw: f(**kw))
        run = call(mlflow_sync_now, connection=conn, mode=mode, triggered_by="bench", source=source)
    assert run.status == "succeeded", run.errors
    assert run.mode == mode
    t.run, t.statements, t.writes = run, statements.total, statements.writes
    t.rss_start, t.rss_peak = rss.start, rss.peak
    if profile:
        path = f"{PROFILE}.{label.split()[0].strip('()')}.prof"
        profile.dump_stats(path)
        print(f"\n--- cProfile of {label} (saved to {path}), by own time ---", flush=True)
        pstats.Stats(profile).sort_stats("tottime").print_stats(25)
        pstats.Stats(profile).sort_stats("cumulative").print_stats(40)
    return t


def _bookkeeping(writes: Counter[tuple[str, str]]) -> tuple[dict[str, int], dict[str, int]]:
    """Split writes into (the SyncRun row and audit events, everything else)."""
    own = {SyncRun._meta.db_table, AuditEvent._meta.db_table}
    book = {f"{verb} {table}": n for (verb, table), n in sorted(writes.items()) if table in own}
    other = {f"{verb} {table}": n for (verb, table), n in sorted(writes.items()) if table not in own}
    return book, other


def _report(t: Timing, ref: Timing, target: float | None, note: str = "") -> None:
    ratio, cpu_ratio = t.seconds / ref.seconds, t.total_cpu / ref.total_cpu
    verdict = ""
    if target is not None:
        verdict = f" (target <= {target}: {'meets target' if ratio <= target else 'MISSES TARGET'})"
    print(
        f"{t.label:<28} {t.seconds:7.1f} s | in {sum(t.calls.values())} MLflow calls {t.mlflow:6.1f} s "
        f"(server CPU {t.server_cpu:5.1f} s, client CPU {t.mlflow_cpu:5.1f} s) | outside them {t.mlgov:6.1f} s "
        f"(CPU {t.cpu - t.mlflow_cpu:5.1f} s) | GC {t.gc:4.1f} s | ratio to (a) {ratio:.2f}{verdict}; "
        f"CPU (server + this process) {t.total_cpu:.1f} s, ratio {cpu_ratio:.2f}{note}",
        flush=True,
    )
    row = {
        "label": t.label,
        "seconds": t.seconds,
        "mlflow": t.mlflow,
        "server_cpu": t.server_cpu,
        "client_cpu": t.mlflow_cpu,
        "mlgov": t.mlgov,
        "mlgov_cpu": t.cpu - t.mlflow_cpu,
        "gc": t.gc,
        "ratio": ratio,
        "total_cpu": t.total_cpu,
        "cpu_ratio": cpu_ratio,
        "target": target,
        "statements": "-",
        "writes": "-",
    }
    if t.run is not None:
        book, other = _bookkeeping(t.writes)
        counts = ", ".join(
            f"{kind} {c['created']}+{c['updated']}~{c['unchanged']}" for kind, c in sorted(t.run.counts.items())
        )
        print(
            f"{'':<28} {t.statements:,} SQL statements, {sum(t.writes.values()):,} of them writes: "
            f"bookkeeping {book or '{}'}; inventory and other {other or '{}'}\n"
            f"{'':<28} counts (created+updated~unchanged): {counts}",
            flush=True,
        )
        row["statements"], row["writes"] = f"{t.statements:,}", f"{sum(t.writes.values()):,}"
    RESULTS["rows"].append(row)


# --------------------------------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------------------------------


def test_sync_against_raw_client(stores: dict[int, Path], tmp_path: Path) -> None:
    shape = Shape(VERSIONS)
    _projects(shape)
    expected = {
        "experiments": shape.experiments + 1,  # and MLflow's Default experiment
        "runs": VERSIONS,
        "dataset inputs": 2 * VERSIONS,
        "models": shape.models,
        "aliases": sum(len(model_aliases(shape, m, shape.versions_per_model)) for m in range(shape.models)),
        "versions": VERSIONS,
    }
    with serving(stores[VERSIONS], tmp_path) as server:
        raw = TimedClient(MlflowClient(tracking_uri=server.url, registry_uri=server.url))
        warm, seen = raw_sample("(a) warm-up", raw, server)
        assert dict(seen) == expected
        samples = sorted((raw_sample("(a) raw MlflowClient", raw, server)[0] for _ in range(REPEAT)), key=_seconds)
        ref = samples[(len(samples) - 1) // 2]
        print(
            f"(a) reads {', '.join(f'{n:,} {k}' for k, n in seen.items())} in {sum(ref.calls.values())} calls: "
            + ", ".join(f"{name} x{n} (max_results={size})" for (name, size), n in sorted(ref.calls.items()))
            + f"\n(a) passes: warm-up {warm.seconds:.1f} s, then {', '.join(f'{x.seconds:.1f}' for x in samples)} s; "
            f"the median is the reference",
            flush=True,
        )
        _report(ref, ref, None)

        conn = _connection("bench", server.url)
        full = measure_sync("(b) full sync", conn, "full", server)
        counts = full.run.counts
        assert counts["modelversion"]["created"] == VERSIONS
        assert counts["trainingrun"]["created"] == VERSIONS
        assert counts["registeredmodel"]["created"] == shape.models
        assert counts["experiment"]["created"] == shape.experiments + 1
        assert counts["modelalias"]["created"] == expected["aliases"]
        assert ModelVersion.objects.filter(training_run__isnull=True).count() == 0
        assert full.calls == ref.calls, f"the raw pass does not make the sync's calls: {full.calls} != {ref.calls}"
        _report(full, ref, FULL_TARGET, " [under cProfile]" if PROFILE else "")
        RESULTS["rss"] = (full.rss_start, full.rss_peak)
        print(
            f"{'':<28} resident set during (b): {_mb(full.rss_start)} at the start, peak {_mb(full.rss_peak)} "
            f"(+{_mb(full.rss_peak - full.rss_start)})",
            flush=True,
        )

        for label, mode, target in (
            ("(c) incremental resync", "incremental", RESYNC_TARGET),
            ("(c') full resync", "full", None),
        ):
            before = inventory_digest()
            last_event = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first()
            resync = measure_sync(label, conn, mode, server)
            assert inventory_digest() == before, f"{label} changed the inventory"
            events = list(
                AuditEvent.objects.filter(seq__gt=last_event).order_by("seq").values_list("action", flat=True)
            )
            assert events == ["sync.started", "sync.succeeded"], events
            _, other = _bookkeeping(resync.writes)
            assert other == {}, f"{label} wrote outside its bookkeeping: {other}"
            assert all(c["created"] == c["updated"] == c["removed"] == 0 for c in resync.run.counts.values())
            _report(resync, ref, target, " [under cProfile]" if PROFILE and mode == "full" else "")

        # The machine's load drifts: one more raw pass after the syncs shows how far.
        again, _ = raw_sample("(a) again, after the syncs", raw, server)
        _report(again, ref, None, f" (load average {', '.join(f'{x:.2f}' for x in os.getloadavg())})")


def _seconds(t: Timing) -> float:
    return t.seconds


@pytest.mark.parametrize("versions", sorted({MEMORY_VERSIONS, VERSIONS}))
def test_full_sync_peak_memory(stores: dict[int, Path], tmp_path: Path, versions: int) -> None:
    """A full sync into an empty inventory under tracemalloc: the peak of Python allocations."""
    shape = Shape(versions)
    _projects(shape)
    with serving(stores[versions], tmp_path) as server:
        raw_pass(TimedClient(MlflowClient(tracking_uri=server.url, registry_uri=server.url)))  # client imports
        conn = _connection(f"memory-{versions}", server.url)
        peaks: list[tuple[int, str, tracemalloc.Snapshot | None]] = []

        def watch(**progress: Any) -> None:
            """At each progress report: keep a snapshot when traced memory is the highest so far."""
            current = tracemalloc.get_traced_memory()[0]
            if not peaks or current > peaks[-1][0]:
                peaks[:] = [(current, progress.get("phase", "?"), tracemalloc.take_snapshot())]

        tracemalloc.start(1)
        try:
            started = perf_counter()
            run = mlflow_sync_now(connection=conn, mode="full", triggered_by="bench", on_progress=watch)
            seconds = perf_counter() - started
            current, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert run.status == "succeeded", run.errors
    assert run.counts["modelversion"]["created"] == versions
    at, phase, snapshot = peaks[-1] if peaks else (0, "?", None)
    RESULTS["memory"][versions] = {
        "peak": peak,
        "after": current,
        "seconds": seconds,
        "snapshot": snapshot,
        "at": at,
        "phase": phase,
    }
    print(
        f"{'memory, full sync':<28} {versions:>6,} versions: peak {_mb(peak)} of Python allocations "
        f"({peak / versions / 1024:.1f} KB a version), {_mb(current)} still allocated after; "
        f"largest at a progress report {_mb(at)} (phase {phase}); {seconds:.1f} s under tracemalloc",
        flush=True,
    )


# --------------------------------------------------------------------------------------------------
# Summary
# --------------------------------------------------------------------------------------------------


def _print_table() -> None:
    rows = RESULTS["rows"]
    if rows:
        print(f"\nFor docs/performance.md ({_backend()}, {VERSIONS:,} versions):\n")
        print(
            "| Measure | Seconds | In MLflow calls s | Server CPU s | Client CPU s | Outside calls s | mlgov CPU s "
            "| GC s | Ratio to (a) | Target | CPU s (both) | CPU ratio | SQL statements | Writes |"
        )
        print("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
        for r in rows:
            target = f"<= {r['target']}" if r["target"] else "-"
            print(
                f"| {r['label']} | {r['seconds']:.1f} | {r['mlflow']:.1f} | {r['server_cpu']:.1f} "
                f"| {r['client_cpu']:.1f} | {r['mlgov']:.1f} | {r['mlgov_cpu']:.1f} | {r['gc']:.1f} "
                f"| {r['ratio']:.2f} | {target} | {r['total_cpu']:.1f} | {r['cpu_ratio']:.2f} "
                f"| {r['statements']} | {r['writes']} |"
            )
        if "rss" in RESULTS:
            start, peak = RESULTS["rss"]
            print(f"\nResident set during (b): {_mb(start)} at the start, peak {_mb(peak)} (+{_mb(peak - start)})")
    memory = RESULTS["memory"]
    if len(memory) >= 2:
        (small, s), (big, b) = sorted(memory.items())[0], sorted(memory.items())[-1]
        growth = b["peak"] / s["peak"]
        flat = "flat" if growth < 1.25 else "NOT FLAT"
        note = ""
        if small < PAGE_SIZE:
            note = (
                f"; {small:,} runs are less than one page ({PAGE_SIZE}), and memory grows until a page is full: "
                f"compare sizes of at least {PAGE_SIZE:,} versions"
            )
        print(
            f"\nPeak memory: {_mb(s['peak'])} at {small:,} versions, {_mb(b['peak'])} at {big:,} "
            f"({big / small:.1f}x the objects, {growth:.2f}x the peak: {flat}{note})"
        )
        if b["snapshot"] is not None and s["snapshot"] is not None:
            print(
                f"Allocations alive at the largest progress report ({b['phase']} at {big:,}, {_mb(b['at'])}; "
                f"{s['phase']} at {small:,}, {_mb(s['at'])}), the lines that grew most:"
            )
            for stat in b["snapshot"].compare_to(s["snapshot"], "lineno")[:10]:
                frame = stat.traceback[0]
                print(
                    f"  {_mb(stat.size_diff):>10} more ({_mb(stat.size):>9} in {stat.count:>7,} blocks)  "
                    f"{_short(frame.filename)}:{frame.lineno}"
                )
    if rows or memory:
        rusage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        print(f"\nProcess maximum resident set: {_mb(rusage)}")
    RESULTS["rows"].clear()
    RESULTS["memory"].clear()
    RESULTS.pop("rss", None)


def _short(filename: str) -> str:
    for marker in ("site-packages/", str(settings.BASE_DIR) + "/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename
