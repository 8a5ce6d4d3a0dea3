"""Input rules shared by every name-like field (they live in `mlgov.validators`, which lower layers use too;
migrations name this path)."""

from __future__ import annotations

from mlgov.validators import validate_no_control_chars

__all__ = ["validate_no_control_chars"]
