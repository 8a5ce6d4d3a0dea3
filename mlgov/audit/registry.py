"""Every audit action is registered once, with a description (after Sentry's audit_log manager)."""

from __future__ import annotations

_ACTIONS: dict[str, str] = {}


class UnknownAuditAction(LookupError):
    pass


def register_actions(actions: dict[str, str]) -> None:
    for name, description in actions.items():
        if name in _ACTIONS and _ACTIONS[name] != description:
            raise ValueError(f"audit action {name!r} registered twice with different descriptions")
        _ACTIONS[name] = description


def ensure_registered(action: str) -> None:
    if action not in _ACTIONS:
        raise UnknownAuditAction(f"audit action {action!r} is not registered")


def registered_actions() -> dict[str, str]:
    return dict(sorted(_ACTIONS.items()))


register_actions(
    {
        "security.permission_denied": "A request was refused by a permission check",
        "security.authentication_failed": "Credentials were presented and rejected",
        "security.login_failed": "A page login failed",
        "security.csrf_failed": "A page request was refused by the CSRF check",
    }
)
