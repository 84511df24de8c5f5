"""Users, API tokens and server-side sessions, and how a request's credentials become a Principal."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from profiles.models import Agent
from talents.auth.models import ApiToken, ApiTokenPublic, User, UserSession
from talents.kernel.db import after_commit, as_utc, utcnow
from talents.kernel.errors import NotFoundError, ValidationFailedError
from talents.kernel.prepared import Prepared
from talents.kernel.principal import ANONYMOUS, ROLES, Principal
from talents.kernel.settings import get_settings

__all__ = [
    "TOKEN_PREFIX",
    "IssuedToken",
    "SessionService",
    "TokenService",
    "UserService",
    "digest",
    "email_key",
]

TOKEN_PREFIX = "tal_"  # noqa: S105 - a public marker, not a secret


def digest(secret: str) -> str:
    """SHA-256 hex of a high-entropy secret (tokens, session ids): enough, no salt or stretching needed."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def email_key(email: str) -> str:
    return email.strip().lower()


def _check_roles(roles: Iterable[str]) -> list[str]:
    roles = list(dict.fromkeys(roles))
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        raise ValidationFailedError(f"unknown role(s) {', '.join(unknown)}; known: {', '.join(ROLES)}",
                                    field="roles")
    return roles


class UserService:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, user_id: int) -> User:
        user = self.session.get(User, user_id)
        if user is None:
            raise NotFoundError(f"user {user_id} not found", field="user_id")
        return user

    def by_email(self, email: str) -> User | None:
        return self.session.exec(select(User).where(User.email_key == email_key(email))).first()

    def ensure(self, email: str, roles: Iterable[str] = (), name: str = "") -> User:
        """The user of ``email`` (created if needed), holding at least ``roles``."""
        email = email.strip()
        if "@" not in email or len(email) > 254:
            raise ValidationFailedError("a valid e-mail address is required", field="email")
        wanted = _check_roles(roles)
        user = self.by_email(email)
        if user is None:
            user = User(email=email, email_key=email_key(email), name=name, roles=wanted)
            self.session.add(user)
        else:
            merged = list(dict.fromkeys([*user.roles, *wanted]))
            if merged != user.roles:
                user.roles = merged
            if name and not user.name:
                user.name = name
            self.session.add(user)
        self.session.flush()
        return user

    def set_roles(self, user: User, roles: Iterable[str]) -> User:
        user.roles = _check_roles(roles)
        self.session.add(user)
        self.session.flush()
        return user

    def list(self) -> Sequence[User]:
        return self.session.exec(select(User).order_by(col(User.id))).all()


@dataclass(frozen=True)
class IssuedToken:
    """A token just created: ``token`` is shown once and never stored."""

    token: str
    row: ApiToken


class TokenService:
    def __init__(self, session: Session) -> None:
        self.session = session

    def create(self, user: User, name: str = "") -> IssuedToken:
        assert user.id is not None
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        row = ApiToken(user_id=user.id, token_hash=digest(token), prefix=token[: len(TOKEN_PREFIX) + 6],
                       name=name[:200])
        self.session.add(row)
        self.session.flush()
        return IssuedToken(token=token, row=row)

    def revoke(self, token_id: int) -> ApiToken:
        row = self.session.get(ApiToken, token_id)
        if row is None:
            raise NotFoundError(f"token {token_id} not found", field="token_id")
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            self.session.add(row)
            self.session.flush()
        return row

    def revoke_value(self, token: str) -> ApiToken:
        row = self.session.exec(select(ApiToken).where(ApiToken.token_hash == digest(token))).first()
        if row is None or row.id is None:
            raise NotFoundError("no such token", field="token")
        return self.revoke(row.id)

    def list(self, email: str | None = None) -> list[ApiTokenPublic]:
        query = select(ApiToken, User).where(ApiToken.user_id == User.id).order_by(col(ApiToken.id))
        if email:
            query = query.where(User.email_key == email_key(email))
        return [ApiTokenPublic(id=t.id or 0, user_id=t.user_id, email=u.email, prefix=t.prefix, name=t.name,
                               created_at=t.created_at, revoked_at=t.revoked_at, last_used_at=t.last_used_at)
                for t, u in self.session.exec(query).all()]

    def resolve(self, token: str) -> Principal:
        """The principal of a live token, or ANONYMOUS (one query: the token, its user, their agent)."""
        if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
            return ANONYMOUS
        row = _TOKEN_PRINCIPAL.first(self.session.connection(), {"digest": digest(token)})
        if row is None or row["revoked_at"] is not None or not row["active"]:
            return ANONYMOUS
        now = utcnow()
        # Writing on every request would serialise readers on SQLite: a minute's precision is enough. Written
        # after the request's transaction, which stays a read.
        if row["last_used_at"] is None or now - as_utc(row["last_used_at"]) > timedelta(minutes=1):
            _touch_later(self.session, ApiToken, row["id"], last_used_at=now)
        # Tokens are issued by an administrator to a named person or integration: they count as strong.
        return _principal(row, mfa=True, via="token")


class SessionService:
    """Server-side sessions in the database, so that every worker and instance sees the same ones."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.settings = get_settings().auth

    def start(self, user: User, *, mfa: bool, method: str, id_token: str = "") -> tuple[str, UserSession]:
        """A new session (always a new id: sign-in rotates it). Returns the cookie value and the row."""
        assert user.id is not None
        sid = secrets.token_urlsafe(32)
        now = utcnow()
        row = UserSession(session_hash=digest(sid), user_id=user.id, csrf_token=secrets.token_urlsafe(32),
                          mfa=mfa, method=method, id_token=id_token, created_at=now, last_seen_at=now,
                          expires_at=now + timedelta(hours=self.settings.session_absolute_hours))
        user.last_login_at = now
        self.session.add_all([row, user])
        self.session.flush()
        return sid, row

    def resolve(self, sid: str) -> tuple[Principal, str | None]:
        """The principal of a live session and its CSRF token, or (ANONYMOUS, None) — in one query."""
        if not sid or len(sid) > 200:
            return ANONYMOUS, None
        row = _SESSION_PRINCIPAL.first(self.session.connection(), {"digest": digest(sid)})
        if row is None or not self._live(row["id"], row["ended_at"], row["expires_at"], row["last_seen_at"]) or \
                not row["active"]:
            return ANONYMOUS, None
        return _principal(row, mfa=bool(row["mfa"]), via="session"), row["csrf_token"]

    def _live(self, row_id: int | None, ended_at: Any, expires_at: Any, last_seen_at: Any) -> bool:
        if ended_at is not None:
            return False
        now = utcnow()
        idle = timedelta(minutes=self.settings.session_idle_minutes)
        if as_utc(expires_at) <= now or now - as_utc(last_seen_at) > idle:
            _touch_later(self.session, UserSession, row_id, ended_at=now)
            return False
        if now - as_utc(last_seen_at) > timedelta(seconds=30):
            _touch_later(self.session, UserSession, row_id, last_seen_at=now)
        return True

    def end(self, sid: str) -> UserSession | None:
        row = self.session.exec(select(UserSession).where(UserSession.session_hash == digest(sid))).first()
        if row is not None and row.ended_at is None:
            row.ended_at = utcnow()
            self.session.add(row)
            self.session.flush()
        return row


def _with_user(query: Any, user_id: Any) -> Any:
    """``query`` joined to the user of ``user_id``, with what a Principal needs (their agent's id included)."""
    u = User.__table__  # type: ignore[attr-defined]
    a = Agent.__table__  # type: ignore[attr-defined]
    # lower() on both sides: SQLite uses the lower(email) index only against an expression, not a text column.
    # The e-mail is the only condition, so that the unique lower(email) index is the one way to the row: beside
    # "erased_at IS NULL", a planner without statistics (a database just loaded) went through the erased_at
    # index instead, reading every agent on every request. An erased agent's id is left out by the CASE.
    agent_id = (sa.select(sa.case((a.c.erased_at.is_(None), a.c.id)))
                .where(func.lower(a.c.email) == func.lower(u.c.email_key)).limit(1).scalar_subquery())
    return query.add_columns(u.c.id.label("user_id"), u.c.email, u.c.roles, u.c.active,
                             agent_id.label("agent_id")).join(u, user_id == u.c.id)


# Built once, run on the driver's cursor: every request with credentials runs one of them.
_t, _s = ApiToken.__table__, UserSession.__table__  # type: ignore[attr-defined]
_TOKEN_PRINCIPAL = Prepared(_with_user(sa.select(_t.c.id, _t.c.revoked_at, _t.c.last_used_at), _t.c.user_id).where(
    _t.c.token_hash == sa.bindparam("digest")))
_SESSION_PRINCIPAL = Prepared(_with_user(
    sa.select(_s.c.id, _s.c.ended_at, _s.c.expires_at, _s.c.last_seen_at, _s.c.mfa, _s.c.csrf_token), _s.c.user_id
).where(_s.c.session_hash == sa.bindparam("digest")))


def _principal(row: Mapping[str, Any], *, mfa: bool, via: str) -> Principal:
    """The Principal of a row of :func:`_with_user`: roles needing MFA are withheld unless ``mfa``."""
    roles = frozenset(row["roles"] or ())
    withheld = frozenset() if mfa else roles & frozenset(get_settings().auth.mfa_roles)
    return Principal(email=row["email"], roles=roles - withheld, user_id=row["user_id"], agent_id=row["agent_id"],
                     mfa=mfa, withheld=withheld, via=via)


def _touch_later(session: Session, model: Any, row_id: int | None, **values: Any) -> None:
    """Set ``values`` on the row once the request's transaction committed (see ``after_commit``)."""
    table = model.__table__
    after_commit(session, lambda db: db.execute(sa.update(table).where(table.c.id == row_id).values(**values)))


def same_secret(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))
