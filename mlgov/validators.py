"""Input rules shared by every app (no app imports: any layer may use them)."""

from __future__ import annotations

import unicodedata

from django.core.exceptions import ValidationError


def validate_no_control_chars(value: str) -> None:
    """Refuse control characters (NUL, escape, newlines in names...): they break logs, CSV and terminals."""
    bad = sorted({f"U+{ord(c):04X}" for c in value if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co")})
    if bad:
        raise ValidationError(f"Control characters are not allowed: {', '.join(bad[:5])}.", code="control_chars")
