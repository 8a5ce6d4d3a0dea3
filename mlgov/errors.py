"""Domain errors. Services raise these; `mlgov.api.exception_handler` maps them to HTTP codes."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base class: a request that the domain refuses."""

    status_code = 400
    code = "invalid"

    def __init__(self, message: str, *, details: Any = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}
        if code:
            self.code = code


class ValidationFailed(DomainError):
    status_code = 400
    code = "invalid"


class NotFound(DomainError):
    status_code = 404
    code = "not_found"


class PermissionDenied(DomainError):
    status_code = 403
    code = "permission_denied"


class Conflict(DomainError):
    status_code = 409
    code = "conflict"
