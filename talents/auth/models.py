"""Tables of sign-in and data protection: users, API tokens, sessions, sign-in flows, rate counters,
and the purge gate of the access log (the log itself is ``profiles.models.AccessLog``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import sqlalchemy as sa
from pydantic import AfterValidator, BaseModel
from sqlmodel import Field, SQLModel

from talents.kernel.db import UTCDateTime, as_utc, utcnow

__all__ = [
    "AccessLogPurge",
    "ApiToken",
    "ApiTokenPublic",
    "LoginFlow",
    "RateBucket",
    "User",
    "UserPublic",
    "UserSession",
    "UtcDatetime",
]


UtcDatetime = Annotated[datetime, AfterValidator(as_utc)]



class User(SQLModel, table=True):
    """Someone who can sign in. Matched on the work e-mail (case-insensitive), never on an OIDC ``sub``."""

    __tablename__ = "auth_user"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254)
    # Lower-cased copy: the unique key, so that Jean.Dupont@ and jean.dupont@ are one account.
    email_key: str = Field(max_length=254, unique=True)
    name: str = Field(default="", max_length=200)
    roles: list[str] = Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False))
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_login_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class UserPublic(BaseModel):
    id: int
    email: str
    name: str
    roles: list[str]
    active: bool
    created_at: UtcDatetime
    last_login_at: UtcDatetime | None


class ApiToken(SQLModel, table=True):
    """An API token. Only the SHA-256 of the token is stored; ``prefix`` helps people tell tokens apart."""

    __tablename__ = "auth_token"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="auth_user.id", index=True, ondelete="CASCADE")
    token_hash: str = Field(max_length=64, unique=True)
    prefix: str = Field(max_length=16)
    name: str = Field(default="", max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ApiTokenPublic(BaseModel):
    id: int
    user_id: int
    email: str
    prefix: str
    name: str
    created_at: UtcDatetime
    revoked_at: UtcDatetime | None
    last_used_at: UtcDatetime | None


class UserSession(SQLModel, table=True):
    """A server-side browser session; the cookie carries a random id, the table only its SHA-256."""

    __tablename__ = "auth_session"

    id: int | None = Field(default=None, primary_key=True)
    session_hash: str = Field(max_length=64, unique=True)
    user_id: int = Field(foreign_key="auth_user.id", index=True, ondelete="CASCADE")
    csrf_token: str = Field(max_length=128)
    mfa: bool = False
    method: str = Field(default="oidc", max_length=20)
    # Kept server-side only, for the end-session request (``id_token_hint``).
    id_token: str = Field(default="", sa_column=sa.Column(sa.Text, nullable=False, server_default=""))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_seen_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class LoginFlow(SQLModel, table=True):
    """An OpenID Connect sign-in in progress: ``state``, ``nonce`` and PKCE verifier, used once."""

    __tablename__ = "auth_login_flow"

    id: int | None = Field(default=None, primary_key=True)
    flow_hash: str = Field(max_length=64, unique=True)
    state: str = Field(max_length=128)
    nonce: str = Field(max_length=128)
    code_verifier: str = Field(max_length=128)
    next_url: str = Field(default="/", max_length=500)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)


class RateBucket(SQLModel, table=True):
    """A fixed-window counter shared by every worker: (key, window start) → hits."""

    __tablename__ = "auth_rate_bucket"

    key: str = Field(primary_key=True, max_length=200)
    window_start: int = Field(primary_key=True, sa_type=sa.BigInteger)  # type: ignore[call-overload]
    hits: int = 0


class AccessLogPurge(SQLModel, table=True):
    """The only way past the access log's delete trigger: the retention purge writes its cut-off here,
    deletes older rows and removes the cut-off, in one transaction."""

    __tablename__ = "access_log_purge"

    id: int | None = Field(default=None, primary_key=True)
    before: datetime = Field(sa_type=UTCDateTime)
