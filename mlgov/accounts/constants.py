"""Org-wide groups and the audit actions of this app."""

MANAGERS = "managers"
REVIEWERS = "reviewers"
ADMINS = "admins"
ORG_GROUPS = (MANAGERS, REVIEWERS, ADMINS)

TOKEN_PREFIX = "mlg_"
TOKEN_LAST_USED_RESOLUTION_SECONDS = 60

AUDIT_ACTIONS = {
    "user.created": "A user or service account was created",
    "user.groups_changed": "A user's org-wide groups changed",
    "user.updated": "A user's account, groups or permissions were changed in the admin",
    "user.password_changed": "A user's password was set in the admin",
    "user.deleted": "A user was deleted in the admin",
    "membership.created": "A user joined a team",
    "membership.updated": "A member's role in a team changed",
    "membership.deleted": "A user left a team",
    "api_token.created": "An API token was issued",
    "api_token.revoked": "An API token was revoked",
}
