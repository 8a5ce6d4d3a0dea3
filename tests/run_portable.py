"""Run the database-portable tests (marker `portable`) against the backend the main run did not use.

Called by `make test`. If DATABASE_URL is PostgreSQL, the portable tests run again on SQLite;
otherwise on the local PostgreSQL when it answers. Under CI=true an unreachable PostgreSQL fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

PG_URL = os.environ.get("MLGOV_PORTABLE_PG_URL", "postgresql://postgres@127.0.0.1:5432/mlgov_portable")


def pg_reachable(url: str) -> bool:
    try:
        import psycopg

        with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", connect_timeout=2):
            return True
    except Exception:
        return False


def main() -> int:
    current = os.environ.get("DATABASE_URL", "")
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as tmp:
        if current.startswith("postgres"):
            env["DATABASE_URL"] = f"sqlite:///{tmp}/portable.sqlite3"
            label, marker = "SQLite", "portable and not postgres"
        elif pg_reachable(PG_URL):
            env["DATABASE_URL"] = PG_URL
            label, marker = "PostgreSQL", "portable"
        else:
            msg = f"portable tests on PostgreSQL skipped: {PG_URL} is not reachable"
            if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
                print(f"FAIL: {msg}")
                return 1
            print(f"SKIP: {msg}")
            return 0
        print(f"== portable tests again on {label} ==", flush=True)
        cmd = [sys.executable, "-m", "pytest", "-m", marker, "-q", "--create-db"]
        return subprocess.call(cmd, env=env)


if __name__ == "__main__":
    sys.exit(main())
