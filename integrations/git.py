"""Git repositories through GitPython: fetch one branch into a cache, list its files, read them, and
summarise its commit activity. Results are frozen dataclasses; errors are typed.

The cache holds one bare repository per GitRepository (`<cache>/<name>-<hash of the URL>.git`). The
first sync is `git init --bare` plus a fetch of the branch (a clone of that branch); later syncs fetch
only what is new. The branch is kept under `refs/mlgov/<branch>`, so nothing else in the cache moves.

Credentials: an https token reaches git through GIT_ASKPASS (a small script in the cache reading the
token from the git process's environment). It is never put in a URL, a command line, the cache's
config or a log, and error messages are scrubbed of it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import stat
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import git
from git.exc import GitCommandError, InvalidGitRepositoryError, NoSuchPathError

ACTIVITY_WEEKS = 26
MAX_COMMITTERS = 50
DEFAULT_MAX_FILE_BYTES = 512 * 1024
DEFAULT_MAX_READ_BYTES = 256 * 1024 * 1024  # the most one scan reads from blobs in total

_ASKPASS = """#!/bin/sh
# mlgov: answers git's credential prompts from the git process's environment (never stored).
case "$1" in
  Username*) printf '%s\\n' "$MLGOV_GIT_USERNAME" ;;
  *) printf '%s\\n' "$MLGOV_GIT_PASSWORD" ;;
esac
"""


class GitError(Exception):
    """A git operation failed. `retryable` says whether trying again later may help."""

    retryable = False


class GitUnreachable(GitError):
    """The remote could not be reached (network, DNS, timeout): worth retrying."""

    retryable = True


class GitCacheBusy(GitUnreachable):
    """Another process holds this repository's cache: worth retrying."""


class GitAuthFailed(GitError):
    """The remote refused the credentials (or asked for some and none were given)."""


class GitRefNotFound(GitError):
    """The branch does not exist on the remote."""


class GitRepositoryNotFound(GitError):
    """The URL or path is not a git repository (or the remote says it does not exist)."""


@dataclass(frozen=True)
class TreeFile:
    path: str  # relative to the repository root, "/"-separated
    blob_sha: str
    size: int
    symlink: bool = False


@dataclass(frozen=True)
class WeekCount:
    week: str  # ISO week, "2026-W07"
    commits: int


@dataclass(frozen=True)
class Committer:
    name: str
    email: str
    commits: int


@dataclass(frozen=True)
class Activity:
    """Commit activity of a branch (or of a subdirectory of it) up to a commit."""

    last_commit_sha: str
    last_commit_at: datetime | None
    commits_per_week: tuple[WeekCount, ...]
    committers: tuple[Committer, ...]  # authors of the commits in the window, most commits first
    total_commits: int
    window_weeks: int = ACTIVITY_WEEKS

    def as_json(self) -> dict[str, Any]:
        return {
            "last_commit_sha": self.last_commit_sha,
            "last_commit_at": self.last_commit_at.isoformat() if self.last_commit_at else None,
            "commits_per_week": [{"week": w.week, "commits": w.commits} for w in self.commits_per_week],
            "committers": [{"name": c.name, "email": c.email, "commits": c.commits} for c in self.committers],
            "total_commits": self.total_commits,
            "window_weeks": self.window_weeks,
        }


@dataclass
class BlobReader:
    """Reads text files of one tree by path, through git's persistent `cat-file --batch` process.

    Returns None for what is not text: missing paths, symlinks, files over `max_file_bytes`, binary
    content, and anything once `max_total_bytes` have been read (`exhausted` then says so). Results are
    cached, so detectors reading the same file cost one read.
    """

    repo: git.Repo
    files: dict[str, TreeFile]
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    max_total_bytes: int = DEFAULT_MAX_READ_BYTES
    bytes_read: int = 0
    reads: int = 0
    exhausted: bool = False
    _cache: dict[str, str | None] = field(default_factory=dict)

    def __call__(self, path: str) -> str | None:
        if path in self._cache:
            return self._cache[path]
        text = self._read(path)
        self._cache[path] = text
        return text

    def _readable(self, path: str) -> TreeFile | None:
        entry = self.files.get(path)
        if entry is None or entry.symlink or entry.size > self.max_file_bytes:
            return None
        if self.bytes_read + entry.size > self.max_total_bytes:
            self.exhausted = True
            return None
        return entry

    def _read(self, path: str) -> str | None:
        entry = self._readable(path)
        if entry is None:
            return None
        return self._text(self.repo.odb.stream(bytes.fromhex(entry.blob_sha)).read())

    def _text(self, data: bytes) -> str | None:
        self.bytes_read += len(data)
        self.reads += 1
        if b"\0" in data[:8000]:
            return None
        return data.decode("utf-8", errors="replace")

    def prefetch(self, paths: list[str]) -> None:
        """Read many files in one `git cat-file --batch` call (one round trip instead of one per file).
        Files read later one by one give the same result; this only makes a scan faster."""
        wanted: dict[str, list[str]] = {}
        planned = 0
        for path in paths:
            entry = self.files.get(path)
            if path in self._cache or entry is None or entry.symlink or entry.size > self.max_file_bytes:
                continue
            if entry.blob_sha not in wanted:
                if self.bytes_read + planned + entry.size > self.max_total_bytes:
                    self.exhausted = True
                    break
                planned += entry.size
            wanted.setdefault(entry.blob_sha, []).append(path)
        if not wanted:
            return
        with tempfile.TemporaryFile() as stdin:
            stdin.write("".join(f"{sha}\n" for sha in wanted).encode())
            stdin.seek(0)
            out = self.repo.git.execute(["git", "cat-file", "--batch"], istream=stdin, stdout_as_string=False)
        pos = 0
        while pos < len(out):
            end = out.index(b"\n", pos)
            header = out[pos:end].split()
            pos = end + 1
            if len(header) != 3:  # "<sha> missing"
                continue
            size = int(header[2])
            text = self._text(out[pos : pos + size])
            pos += size + 1
            for path in wanted.get(header[0].decode(), ()):
                self._cache[path] = text


def cache_key(name: str, url: str) -> str:
    digest = hashlib.sha1(url.encode(), usedforsecurity=False).hexdigest()[:12]
    return f"{name}-{digest}"


def _scrub(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    # Userinfo in URLs (https://user:secret@host) is never shown either.
    return re.sub(r"(https?://)[^/@\s]+@", r"\1***@", text)


_UNREACHABLE = (
    "could not resolve host",
    "failed to connect",
    "connection refused",
    "connection timed out",
    "operation timed out",
    "connection reset",
    "network is unreachable",
    "no route to host",
    "the remote end hung up unexpectedly",
    "early eof",
    "timeout:",
    "temporary failure in name resolution",
    "ssl_error",
    "gnutls",
    "http/2 stream",
    "rpc failed",
    "returned error: 5",  # HTTP 5xx
)
_AUTH = (
    "authentication failed",
    "could not read username",
    "could not read password",
    "terminal prompts disabled",
    "permission denied (publickey",
    "http basic: access denied",
    "returned error: 401",
    "returned error: 403",
    "invalid username or password",
    "host key verification failed",
)
_NOT_FOUND = (
    "does not appear to be a git repository",
    "not a git repository",
    "repository not found",
    "returned error: 404",
    "' not found",
    "no such file or directory",
)


def classify(exc: GitCommandError, secrets: tuple[str, ...] = ()) -> GitError:
    """Turn a failed git command into a typed error, with a scrubbed message (no tokens, no command line)."""
    stderr = (exc.stderr or "").strip()
    if isinstance(stderr, bytes):  # pragma: no cover - GitPython decodes by default
        stderr = stderr.decode(errors="replace")
    lines = [line.strip().removeprefix("stderr: ").strip("'").strip() for line in stderr.splitlines()]
    message = _scrub("; ".join(line for line in lines if line)[:1500] or f"git exited with {exc.status}", secrets)
    low = stderr.lower()
    if "couldn't find remote ref" in low:
        return GitRefNotFound(message)
    if any(marker in low for marker in _AUTH):
        return GitAuthFailed(message)
    if any(marker in low for marker in _NOT_FOUND):
        return GitRepositoryNotFound(message)
    if any(marker in low for marker in _UNREACHABLE) or exc.status in (-9, 128 + 9):
        return GitUnreachable(message)
    return GitError(message)


class GitSource:
    """One repository's bare cache. `fetch` brings a branch up to date and returns its head commit."""

    def __init__(self, cache_root: Path | str, key: str, *, timeout: float = 600) -> None:
        self.root = Path(cache_root)
        self.path = self.root / f"{key}.git"
        self.lock_path = self.root / f"{key}.lock"
        self.timeout = timeout
        self._repo: git.Repo | None = None

    # --- the cache ---

    @property
    def repo(self) -> git.Repo:
        if self._repo is None:
            try:
                self._repo = git.Repo(self.path)
            except (InvalidGitRepositoryError, NoSuchPathError):
                self.path.mkdir(parents=True, exist_ok=True)
                self._repo = git.Repo.init(self.path, bare=True)
        return self._repo

    def close(self) -> None:
        if self._repo is not None:
            self._repo.close()
            self._repo = None

    @contextlib.contextmanager
    def locked(self) -> Iterator[GitSource]:
        """Hold the cache for this process (fetch and scan), so two processes never share it."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                raise GitCacheBusy(f"the cache {self.path.name} is in use by another sync") from exc
            try:
                yield self
            finally:
                self.close()
                fcntl.flock(handle, fcntl.LOCK_UN)

    def remove(self) -> bool:
        """Delete the cache (its repository was deleted). False, leaving it, when a sync holds it."""
        try:
            with self.locked():
                shutil.rmtree(self.path, ignore_errors=True)
        except GitCacheBusy:
            return False
        self.lock_path.unlink(missing_ok=True)
        return True

    def _askpass(self) -> str:
        script = self.root / ".mlgov-askpass.sh"
        if not script.exists() or script.read_text() != _ASKPASS:
            tmp = script.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(_ASKPASS)
            tmp.chmod(stat.S_IRWXU)
            tmp.replace(script)
        return str(script)

    def _env(self, token: str | None, username: str | None) -> dict[str, str]:
        env = {"GIT_TERMINAL_PROMPT": "0", "GIT_PROTOCOL_FROM_USER": "1"}
        if "GIT_SSH_COMMAND" not in os.environ:
            env["GIT_SSH_COMMAND"] = "ssh -o BatchMode=yes -o ConnectTimeout=30"
        if token:
            env.update(
                GIT_ASKPASS=self._askpass(),
                MLGOV_GIT_USERNAME=username or "x-access-token",
                MLGOV_GIT_PASSWORD=token,
            )
        return env

    # --- remote ---

    def fetch(self, url: str, branch: str, *, token: str | None = None, username: str | None = None) -> str:
        """Fetch `branch` from `url` into the cache and return the sha of its head commit."""
        ref = f"refs/mlgov/{branch}"
        try:
            self.repo.git.execute(
                [
                    "git",
                    "-c",
                    "protocol.ext.allow=never",
                    "-c",
                    "credential.helper=",
                    "fetch",
                    "--quiet",
                    "--no-tags",
                    "--no-write-fetch-head",
                    "--",
                    url,
                    f"+refs/heads/{branch}:{ref}",
                ],
                env=self._env(token, username),
                kill_after_timeout=self.timeout,
            )
            return self.repo.git.rev_parse("--verify", f"{ref}^{{commit}}")
        except GitCommandError as exc:
            raise classify(exc, secrets=(token or "",)) from None

    # --- one commit ---

    def files(self, sha: str) -> list[TreeFile]:
        """Every file of the commit's tree (submodules left out), sorted by path."""
        out = self.repo.git.execute(
            ["git", "ls-tree", "-r", "-z", "--long", "--full-tree", sha], stdout_as_string=False
        )
        files = []
        for record in out.split(b"\0"):
            if not record:
                continue
            meta, _, raw_path = record.partition(b"\t")
            mode, kind, blob, size = meta.split(None, 3)
            if kind != b"blob":
                continue
            path = raw_path.decode("utf-8", errors="replace")  # stored in the database: valid text only
            files.append(
                TreeFile(
                    path=path,
                    blob_sha=blob.decode(),
                    size=int(size) if size.strip().isdigit() else 0,
                    symlink=mode == b"120000",
                )
            )
        return sorted(files, key=lambda f: f.path)

    def reader(self, files: list[TreeFile], *, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES) -> BlobReader:
        return BlobReader(self.repo, {f.path: f for f in files}, max_file_bytes=max_file_bytes)

    def activity(
        self, sha: str, *, subdirectory: str = "", now: datetime | None = None, weeks: int = ACTIVITY_WEEKS
    ) -> Activity:
        """The last commit, commits per ISO week over `weeks` weeks up to `now`, and who made them.

        Times are commit times (when a change landed on the branch); people are the commits' authors
        (after .mailmap). With a subdirectory, only commits touching it count.
        """
        now = now or datetime.now(UTC)
        pathspec = ["--", subdirectory] if subdirectory else []
        since = _week_start(now) - timedelta(weeks=weeks - 1)
        log = self.repo.git.execute(
            ["git", "log", "--format=%H%x1f%ct%x1f%aN%x1f%aE", f"--since={since.isoformat()}", sha, *pathspec]
        )
        last = self.repo.git.execute(["git", "log", "-1", "--format=%H%x1f%ct", sha, *pathspec])
        total = int(self.repo.git.execute(["git", "rev-list", "--count", sha, *pathspec]) or 0)
        labels = [_iso_week(_week_start(now) - timedelta(weeks=i)) for i in reversed(range(weeks))]
        per_week: Counter[str] = Counter()
        people: Counter[tuple[str, str]] = Counter()
        for line in log.splitlines():
            parts = line.split("\x1f")
            if len(parts) != 4:
                continue
            _, ts, name, email = parts
            moment = datetime.fromtimestamp(int(ts), UTC)
            if moment > now:
                continue
            per_week[_iso_week(moment)] += 1
            people[(name, email.lower())] += 1
        last_sha, last_at = "", None
        if last.strip():
            last_sha, ts = last.strip().split("\x1f")
            last_at = datetime.fromtimestamp(int(ts), UTC)
        committers = sorted(people.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_COMMITTERS]
        return Activity(
            last_commit_sha=last_sha,
            last_commit_at=last_at,
            commits_per_week=tuple(WeekCount(w, per_week.get(w, 0)) for w in labels),
            committers=tuple(Committer(name, email, n) for (name, email), n in committers),
            total_commits=total,
            window_weeks=weeks,
        )


def _week_start(moment: datetime) -> datetime:
    day = moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


def _iso_week(moment: datetime) -> str:
    year, week, _ = moment.astimezone(UTC).isocalendar()
    return f"{year}-W{week:02d}"
