"""`Authorization: Bearer mlg_<prefix>_<secret>` for scripts and CI."""

from __future__ import annotations

import hmac

from rest_framework import authentication, exceptions

from mlgov.accounts.constants import TOKEN_LAST_USED_RESOLUTION_SECONDS, TOKEN_PREFIX
from mlgov.accounts.selectors import api_token_active
from mlgov.accounts.services import api_token_touch, hash_token


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        parts = header.split()
        if parts[0].lower() != self.keyword.lower():
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header: expected 'Bearer <token>'.")
        raw = parts[1]
        if not raw.startswith(TOKEN_PREFIX) or raw.count("_") < 2:
            raise exceptions.AuthenticationFailed("Invalid token.")
        prefix = raw[len(TOKEN_PREFIX) :].split("_", 1)[0]
        token = api_token_active(key_prefix=prefix)
        if token is None or not hmac.compare_digest(token.key_hash, hash_token(raw)):
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked token.")
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("The token's user is inactive.")
        api_token_touch(token=token, resolution_seconds=TOKEN_LAST_USED_RESOLUTION_SECONDS)
        return token.user, token

    def authenticate_header(self, request):
        return self.keyword
