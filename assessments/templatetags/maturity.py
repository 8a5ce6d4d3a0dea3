"""Template helpers for the scorecard pages."""

from typing import Any

from django import template

register = template.Library()


@register.filter
def get(mapping: Any, key: Any) -> Any:
    """`{{ row.dimensions|get:dimension_id }}`."""
    try:
        return mapping.get(key, "")
    except AttributeError:
        return ""
