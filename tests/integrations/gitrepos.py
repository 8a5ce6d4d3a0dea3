"""Real Git repositories for tests, built with GitPython in tmp_path (no mocks).

`RepoBuilder` writes files and commits them with chosen authors and dates; `bare_remote` makes a bare
repository to clone by path or file:// URL, which a builder can push to. The `builder` and `git_cache`
fixtures are in tests/integrations/conftest.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import git

ADA = ("Ada Lovelace", "ada@example.com")
GRACE = ("Grace Hopper", "grace@example.com")


class RepoBuilder:
    """A working repository on branch `main` (or `branch`)."""

    def __init__(self, path: Path, branch: str = "main") -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.repo = git.Repo.init(path, initial_branch=branch)
        self.branch = branch
        self._clock = datetime.now(UTC) - timedelta(days=30)

    def commit(
        self,
        files: dict[str, str | bytes | None],
        message: str = "change",
        *,
        author: tuple[str, str] = ADA,
        when: datetime | None = None,
    ) -> str:
        """Write (or, for None, delete) files and commit them. Returns the commit sha."""
        added, removed = [], []
        for rel, content in files.items():
            target = self.path / rel
            if content is None:
                if target.exists():
                    removed.append(rel)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                target.write_bytes(content)
            else:
                target.write_text(content)
            added.append(rel)
        if added:
            self.repo.index.add(added)
        if removed:
            self.repo.index.remove(removed, working_tree=True)
        if when is None:
            self._clock += timedelta(hours=1)
            when = self._clock
        stamp = f"{int(when.timestamp())} +0000"
        actor = git.Actor(*author)
        commit = self.repo.index.commit(message, author=actor, committer=actor, author_date=stamp, commit_date=stamp)
        return commit.hexsha

    @property
    def head(self) -> str:
        return self.repo.head.commit.hexsha

    def push(self, remote: Path) -> None:
        self.repo.git.push(str(remote), f"{self.branch}:{self.branch}")


def bare_remote(path: Path, source: RepoBuilder) -> Path:
    """A bare repository holding `source`'s branch, as a server would."""
    git.Repo.init(path, bare=True, initial_branch=source.branch)
    source.push(path)
    return path
