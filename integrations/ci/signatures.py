"""Webhook authenticity checks, in constant time. No Django.

- GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body, keyed with the webhook secret>`;
- Jenkins (mlgov's own convention, same scheme): `X-Mlgov-Signature-256: sha256=<hex HMAC-SHA256>`;
- GitLab: `X-Gitlab-Token: <the secret token>`, compared as a whole.
"""

from __future__ import annotations

import hashlib
import hmac

PREFIX = "sha256="


def hmac_sha256_signature(secret: str, body: bytes) -> str:
    """The header value a sender puts on `body`: `sha256=` and the hex digest."""
    return PREFIX + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def signature_matches(secret: str, body: bytes, header: str) -> bool:
    """Whether `header` is the HMAC-SHA256 signature of `body` under `secret` (compared in constant time)."""
    if not secret or not header:
        return False
    expected = hmac_sha256_signature(secret, body).encode("ascii")
    try:
        given = header.strip().encode("ascii")
    except UnicodeEncodeError:
        return False
    return hmac.compare_digest(expected, given)


def token_matches(secret: str, header: str) -> bool:
    """Whether a shared token equals the configured one (constant time for equal lengths)."""
    if not secret or not header:
        return False
    return hmac.compare_digest(secret.encode("utf-8"), header.encode("utf-8", "surrogateescape"))
