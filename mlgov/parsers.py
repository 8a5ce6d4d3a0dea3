"""The API's request parsers. A module of its own, importing nothing of ours: DRF's `APIView` reads
`DEFAULT_PARSER_CLASSES` when `rest_framework.views` is first imported, and `mlgov.api` imports that
module, so a parser defined in `mlgov.api` could be asked for while `mlgov.api` is half imported."""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions, parsers


class JSONParser(parsers.JSONParser):
    """JSON bodies without NUL bytes anywhere, keys included.

    PostgreSQL cannot store or even compare text holding NUL (psycopg raises DataError: a 500), and no
    field of ours wants one, so it is refused once here, before any serializer field or lookup
    (SlugRelatedField's `team`, `user`...) carries it into a query. The 400 names the top-level field.
    """

    def parse(self, stream, media_type=None, parser_context=None):  # type: ignore[no-untyped-def]
        data = super().parse(stream, media_type, parser_context)
        if isinstance(data, dict):
            bad = {}
            for key, value in data.items():
                if "\x00" in key:
                    bad["non_field_errors"] = ["NUL bytes are not allowed in field names."]
                elif _has_nul(value):
                    bad[key] = ["NUL bytes are not allowed."]
            if bad:
                raise exceptions.ValidationError(bad)
        elif _has_nul(data):
            raise exceptions.ValidationError({"non_field_errors": ["NUL bytes are not allowed."]})
        return data


def _has_nul(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False
