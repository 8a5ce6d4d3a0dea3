"""Benchmark fixtures.

On SQLite, Django's test database is in memory by default, which would flatter SQLite: a real
deployment reads a file. Benchmarks therefore put the SQLite test database in a file under var/
(deleted again when the session ends, like any test database), one per process so that benchmark
sessions running at the same time do not delete each other's database. PostgreSQL is left as it is.
"""

from __future__ import annotations

import os

import pytest
from django.conf import settings


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix: None) -> None:
    db = settings.DATABASES["default"]
    if db["ENGINE"] == "django.db.backends.sqlite3":
        db.setdefault("TEST", {})["NAME"] = str(settings.BASE_DIR / "var" / f"bench_test_{os.getpid()}.sqlite3")
