"""Security headers on every response (pages, API, static files, errors).

The Content-Security-Policy allows scripts from the site itself only — no inline script, no ``eval`` — so the
templates and the API explorer load theirs from ``/static``; no page may be framed (clickjacking). HSTS is sent
in production only, where the site is served over HTTPS.
"""

from __future__ import annotations

import functools

from litestar.types import Message, Scope

from talents.kernel.settings import get_settings

__all__ = ["CONTENT_SECURITY_POLICY", "HSTS", "add_security_headers", "security_headers"]

CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    # The design system and the API explorer set style attributes; styles cannot run code.
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "frame-ancestors 'none'",
))
HSTS = "max-age=31536000; includeSubDomains"


def security_headers(production: bool) -> dict[str, str]:
    headers = {
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "strict-origin-when-cross-origin",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    }
    if production:
        headers["Strict-Transport-Security"] = HSTS
    return headers


@functools.cache
def _encoded(production: bool) -> tuple[tuple[bytes, bytes], ...]:
    return tuple((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in security_headers(production).items())


async def add_security_headers(message: Message, scope: Scope) -> None:
    """A ``before_send`` hook: it sees every response, router errors included. Headers a route set (a stricter
    ``Referrer-Policy`` on signed links, say) are kept."""
    if message["type"] != "http.response.start":
        return
    headers = list(message.get("headers") or ())
    present = {name.lower() for name, _ in headers}
    headers.extend(h for h in _encoded(get_settings().app.env == "production") if h[0] not in present)
    message["headers"] = headers

