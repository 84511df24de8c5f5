"""Signed, expiring, single-use links for managers: approve or refuse the release of an agent's time.

The token carries the assignment id, its version when the link was made, and the expiry; it is signed
with the app's secret (itsdangerous). Single use is enforced by the database: using a link inserts the
SHA-256 of the token into ``approval_link_use`` (primary key), and a decision also bumps the assignment's
version, which every older link names.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from itsdangerous import BadSignature, URLSafeSerializer

from talents.kernel.errors import ExpiredLinkError, InvalidLinkError
from talents.kernel.settings import get_settings

__all__ = ["ApprovalClaim", "approval_url", "make_approval_token", "read_approval_token", "token_hash"]

_SALT = "talents.manager-approval.v1"


@dataclass(frozen=True)
class ApprovalClaim:
    assignment_id: int
    version: int
    expires_at: datetime


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(get_settings().app.secret_key, salt=_SALT)


def make_approval_token(assignment_id: int, version: int, expires_at: datetime) -> str:
    return _serializer().dumps({"a": int(assignment_id), "v": int(version), "e": int(expires_at.timestamp())})


def read_approval_token(token: str, now: datetime | None = None) -> ApprovalClaim:
    """The claim of a valid link; 404 for a forged or damaged one, 409 for an expired one."""
    try:
        payload = _serializer().loads(token)
        claim = ApprovalClaim(
            int(payload["a"]), int(payload["v"]), datetime.fromtimestamp(int(payload["e"]), UTC)
        )
    except (BadSignature, KeyError, TypeError, ValueError) as exc:
        raise InvalidLinkError("this approval link is not valid") from exc
    if (now or datetime.now(UTC)) >= claim.expires_at:
        raise ExpiredLinkError("this approval link has expired; ask the project lead for a new one")
    return claim


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def approval_url(token: str) -> str:
    return f"{get_settings().app.base_url.rstrip('/')}/manager/approvals/{token}"
