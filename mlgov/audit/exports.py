"""CSV and JSON Lines export of audit events, streamed with flat memory."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator

from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import QuerySet
from django.http import StreamingHttpResponse

from mlgov.audit.models import AuditEvent

EXPORT_FIELDS = (
    "seq",
    "timestamp",
    "actor_name",
    "source",
    "action",
    "target_type",
    "target_id",
    "target_repr",
    "before",
    "after",
    "request_id",
    "prev_hash",
    "hash",
)


def _values(qs: QuerySet[AuditEvent]) -> Iterator[dict]:
    return qs.order_by("seq").values(*EXPORT_FIELDS).iterator(chunk_size=2000)


def _csv_rows(qs: QuerySet[AuditEvent]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_FIELDS)
    for row in _values(qs):
        writer.writerow(
            [
                json.dumps(row[f], cls=DjangoJSONEncoder, sort_keys=True) if f in ("before", "after") else row[f]
                for f in EXPORT_FIELDS
            ]
        )
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()


def _jsonl_rows(qs: QuerySet[AuditEvent]) -> Iterator[str]:
    for row in _values(qs):
        yield json.dumps(row, cls=DjangoJSONEncoder, sort_keys=True, ensure_ascii=False) + "\n"


def audit_export_response(qs: QuerySet[AuditEvent], fmt: str) -> StreamingHttpResponse:
    if fmt == "csv":
        body, ctype = _csv_rows(qs), "text/csv; charset=utf-8"
    else:
        body, ctype = _jsonl_rows(qs), "application/x-ndjson; charset=utf-8"
    response = StreamingHttpResponse(body, content_type=ctype)
    response["Content-Disposition"] = f'attachment; filename="audit-events.{fmt}"'
    return response
