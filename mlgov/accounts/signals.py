"""Login failures have no service to call, so this one signal records them as security events."""

from django.contrib.auth.signals import user_login_failed
from django.dispatch import receiver

from mlgov.audit.services import audit_record


@receiver(user_login_failed)
def record_login_failure(sender, credentials, request=None, **kwargs):
    username = str(credentials.get("username", ""))[:150]
    audit_record(
        actor=None,
        action="security.login_failed",
        target_type="user",
        target_repr=username,
        after={"username": username, "remote_addr": request.META.get("REMOTE_ADDR", "") if request else ""},
    )
