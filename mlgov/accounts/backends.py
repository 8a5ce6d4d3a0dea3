"""Members of the `admins` group hold every model permission, as superusers do.

Roles live in org-wide groups (see selectors.user_is_admin), not in Django's per-model permissions, so
without this an admin gets `is_staff` (the services set it) and an empty Django admin. The admin classes
still narrow what may be done: synced objects and the audit trail stay read-only, tokens are revoked
rather than edited, and every change the admin saves is audited.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import BaseBackend

from mlgov.accounts.selectors import user_is_admin


class AdminsGroupBackend(BaseBackend):
    """Authorisation only (authenticate() is BaseBackend's: it never logs anyone in)."""

    def has_perm(self, user_obj: Any, perm: str, obj: Any = None) -> bool:
        return bool(user_obj.is_active) and user_is_admin(user_obj)

    def has_module_perms(self, user_obj: Any, app_label: str) -> bool:
        return bool(user_obj.is_active) and user_is_admin(user_obj)
