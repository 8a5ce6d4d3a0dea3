"""A small JSON-over-HTTP client for the CI APIs, with typed errors. Standard library only, no Django.

- http(s) base URLs only (a `file:` URL would read local files);
- redirects are followed only within the base URL's origin, so a token never travels to another host;
- responses are capped (`max_bytes`) and must be JSON;
- errors are typed: `CiUnreachable` (network, timeout, 5xx; retry), `CiRateLimited` (a kind of unreachable,
  with the wait the server asked for), `CiAuthError` (401/403), `CiNotFound` (404), `CiBadResponse`.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any

DEFAULT_TIMEOUT = 20.0
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
USER_AGENT = "mlgov-ci-client/1"


class CiClientError(Exception):
    """Base class of every error the CI clients raise."""

    retryable = False


class CiConfigError(CiClientError):
    """The source is configured wrongly (a bad base URL, a missing token variable)."""


class CiUnreachable(CiClientError):
    """The server did not answer usefully: connection refused, timeout, 5xx. Worth retrying."""

    retryable = True


class CiRateLimited(CiUnreachable):
    """429, or GitHub's 403 with X-RateLimit-Remaining: 0. `retry_after` is the wait the server asked for."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class CiAuthError(CiClientError):
    """401 or 403: the token is missing, wrong, or lacks a scope."""


class CiNotFound(CiClientError):
    """404: no such project, repository or job (or the token may not see it)."""


class CiBadResponse(CiClientError):
    """An answer that is not the JSON the API documents, is too large, or redirects elsewhere."""


@dataclass(frozen=True)
class HttpResponse:
    status: int
    url: str
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    data: Any = None


def _origin(url: str) -> tuple[str, str]:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def check_base_url(url: str) -> str:
    """An http(s) URL with a host; anything else is a CiConfigError."""
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise CiConfigError(f"The base URL must be http(s)://host[/path], got {url!r}.")
    if parts.username or parts.password:
        raise CiConfigError("The base URL must not carry credentials; name an environment variable instead.")
    return url.strip().rstrip("/")


class _SameOriginRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        if _origin(newurl) != _origin(req.full_url):
            return None  # urllib then raises HTTPError with the 3xx, which we report
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class JsonHttpClient:
    """GET JSON from one API base URL."""

    def __init__(
        self,
        base_url: str,
        *,
        headers: dict[str, str] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self.base_url = check_base_url(base_url)
        self.headers = {"User-Agent": USER_AGENT, "Accept": "application/json", **(headers or {})}
        self.timeout = timeout
        self.max_bytes = max_bytes
        self._opener = urllib.request.build_opener(_SameOriginRedirects())
        self.requests = 0  # how many requests this client made (tests and progress)

    def url_for(self, path_or_url: str, params: dict[str, Any] | None = None) -> str:
        if path_or_url.startswith(("http://", "https://")):
            url = path_or_url
            if _origin(url) != _origin(self.base_url):
                raise CiBadResponse(f"Refusing to follow a link to another host: {url}")
        else:
            url = f"{self.base_url}/{path_or_url.lstrip('/')}"
        if params:
            query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None}, safe=",[]{}")
            url = f"{url}{'&' if '?' in url else '?'}{query}"
        return url

    def get(self, path_or_url: str, params: dict[str, Any] | None = None) -> HttpResponse:
        url = self.url_for(path_or_url, params)
        request = urllib.request.Request(url, headers=self.headers, method="GET")  # noqa: S310 (scheme checked)
        self.requests += 1
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                body = response.read(self.max_bytes + 1)
                status = response.status
                headers = {k.lower(): v for k, v in response.headers.items()}
                final_url = response.geturl()
        except urllib.error.HTTPError as exc:
            raise self._http_error(exc, url) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise CiUnreachable(f"{url}: {reason}") from None
        if len(body) > self.max_bytes:
            raise CiBadResponse(f"{url}: the response is larger than {self.max_bytes} bytes.")
        try:
            data = json.loads(body) if body else None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CiBadResponse(f"{url}: the response is not JSON ({exc}).") from None
        return HttpResponse(status=status, url=final_url, headers=headers, data=data)

    def _http_error(self, exc: urllib.error.HTTPError, url: str) -> CiClientError:
        code = exc.code
        headers = {k.lower(): v for k, v in (exc.headers or {}).items()}
        try:
            detail = exc.read(2000).decode("utf-8", "replace").strip()
        except OSError:
            detail = ""
        finally:
            exc.close()
        message = f"{url}: HTTP {code}" + (f" {detail[:300]}" if detail else "")
        if code == 429 or (code == 403 and headers.get("x-ratelimit-remaining") == "0"):
            return CiRateLimited(message, retry_after=_retry_after(headers))
        if code in (401, 403):
            return CiAuthError(message)
        if code == 404:
            return CiNotFound(message)
        if 300 <= code < 400:
            return CiBadResponse(
                f"{url}: redirected to another host ({headers.get('location', '?')}); "
                "set the base URL to the final address."
            )
        if code >= 500:
            return CiUnreachable(message)
        return CiBadResponse(message)


def _retry_after(headers: dict[str, str]) -> float | None:
    raw = headers.get("retry-after")
    if raw and raw.isdigit():
        return float(raw)
    reset = headers.get("x-ratelimit-reset")
    if reset and reset.isdigit():
        return max(0.0, float(reset) - time.time())
    return None


def next_link(link_header: str | None) -> str | None:
    """The rel="next" URL of an RFC 8288 Link header (GitHub's pagination)."""
    if not link_header:
        return None
    for part in link_header.split(","):
        section = part.split(";")
        if len(section) < 2:
            continue
        url = section[0].strip()
        if not (url.startswith("<") and url.endswith(">")):
            continue
        if any(p.strip().replace(" ", "") in ('rel="next"', "rel=next") for p in section[1:]):
            return url[1:-1]
    return None
