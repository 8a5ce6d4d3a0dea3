"""Bulk INSERTs without the ORM's per-value statement compilation.

`QuerySet.bulk_create` compiles every value of every row in Python (`field_as_sql`, `prepare_value`,
`pre_save_val`): for the tables a sync writes by the ten thousand (audit events, lineage nodes and edges)
that was most of mlgov's own share of a sync (docs/performance.md). `insert_rows` takes the rows as plain
values, converts only what needs it (JSON to text, datetimes as the backend stores them) and writes them
with `COPY` on PostgreSQL, or multi-row INSERTs sized to the backend's parameter limit elsewhere.

What it does not do, so callers use it only where that is fine: it returns no ids, runs no `pre_save`
(`auto_now` fields must be given), sends no signals, and validates nothing.

Both paths raise Django's database errors (`IntegrityError`, `OperationalError`, ...), so callers' retries
see them, and both are logged like queries, so query counts and `CaptureQueriesContext` see them.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from django.db import connection, models


def max_query_params() -> int:
    """The parameters one statement may bind: SQLite's own limit where it tells (32,766 since 3.32, where
    Django assumes the old 999), else what Django says."""
    raw = getattr(connection, "connection", None)
    if connection.vendor == "sqlite" and hasattr(raw, "getlimit"):
        return raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    return connection.features.max_query_params or 999


def _converter(field: models.Field, postgres: bool) -> Callable[[Any], Any] | None:
    """How a plain value of `field` becomes what the database stores; None where it goes as it is."""
    if isinstance(field, models.JSONField):
        encoder = field.encoder
        return lambda v: None if v is None else json.dumps(v, cls=encoder)
    if isinstance(field, models.DateTimeField):
        # psycopg sends aware datetimes as they are; SQLite stores Django's text form.
        return None if postgres else connection.ops.adapt_datetimefield_value
    if isinstance(
        field, models.CharField | models.TextField | models.IntegerField | models.BooleanField | models.FloatField
    ):
        return None
    if isinstance(field, models.ForeignKey):
        return _converter(field.target_field, postgres)
    return lambda v: field.get_db_prep_save(v, connection)


def insert_rows(
    model: type[models.Model],
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    ignore_conflicts: bool = False,
) -> int:
    """Insert `rows` (one value per name in `columns`, attnames such as `upstream_id`) into `model`'s table.

    With `ignore_conflicts`, rows that would break a unique constraint are skipped (`ON CONFLICT DO
    NOTHING` / `INSERT OR IGNORE`). Returns the number of rows sent."""
    rows = list(rows)
    if not rows:
        return 0
    ops = connection.ops
    postgres = connection.vendor == "postgresql"
    fields = [model._meta.get_field(c) for c in columns]
    converters = [_converter(f, postgres) for f in fields]
    table = ops.quote_name(model._meta.db_table)
    names = ", ".join(ops.quote_name(f.column) for f in fields)

    def values(row: Sequence[Any]) -> list[Any]:
        return [v if conv is None else conv(v) for conv, v in zip(converters, row, strict=True)]

    with connection.cursor() as cursor:
        if postgres and not ignore_conflicts:
            sql = f"COPY {table} ({names}) FROM STDIN"
            started = time.monotonic()
            with connection.wrap_database_errors, cursor.cursor.copy(sql) as copy:
                for row in rows:
                    copy.write_row(values(row))
            if connection.queries_logged:
                elapsed = time.monotonic() - started
                connection.queries_log.append({"sql": f"{sql} -- {len(rows)} rows", "time": f"{elapsed:.3f}"})
            return len(rows)
        if ignore_conflicts:
            head = "INSERT OR IGNORE INTO" if connection.vendor == "sqlite" else "INSERT INTO"
            tail = " ON CONFLICT DO NOTHING" if connection.vendor != "sqlite" else ""
        else:
            head, tail = "INSERT INTO", ""
        batch = max(1, min(1000, max_query_params() // len(columns)))
        one = "(" + ", ".join(["%s"] * len(columns)) + ")"
        for start in range(0, len(rows), batch):
            chunk = rows[start : start + batch]
            params = [value for row in chunk for value in values(row)]
            sql = f"{head} {table} ({names}) VALUES {', '.join([one] * len(chunk))}{tail}"
            cursor.execute(sql, params)
    return len(rows)


def insert_objects(objs: Sequence[models.Model]) -> int:
    """Insert unsaved model instances of one model with `insert_rows`. Fields take what `save` would
    store (`pre_save` fills `auto_now` / `auto_now_add`); the primary key is left to the database, and
    the instances get no ids: read them back by a natural key where they are needed."""
    if not objs:
        return 0
    model = type(objs[0])
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    rows = [[f.pre_save(obj, True) for f in fields] for obj in objs]
    return insert_rows(model, [f.attname for f in fields], rows)
