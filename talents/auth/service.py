"""Users, API tokens and server-side sessions, and how a request's credentials become a Principal."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import Session, col, func, select

from profiles.models import Agent
from talents.auth.models import ApiToken, ApiTokenPublic, User, UserSession
from talents.kernel.db import as_utc, utcnow
from talents.kernel.errors import NotFoundError, ValidationFailedError
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
    "principal_for",
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
        """The principal of a live token, or ANONYMOUS."""
        if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
            return ANONYMOUS
        row = self.session.exec(select(ApiToken).where(ApiToken.token_hash == digest(token))).first()
        if row is None or row.revoked_at is not None:
            return ANONYMOUS
        user = self.session.get(User, row.user_id)
        if user is None or not user.active:
            return ANONYMOUS
        now = utcnow()
        # Writing on every request would serialise readers on SQLite: a minute's precision is enough.
        if row.last_used_at is None or now - as_utc(row.last_used_at) > timedelta(minutes=1):
            row.last_used_at = now
            self.session.add(row)
        # Tokens are issued by an administrator to a named person or integration: they count as strong.
        return principal_for(self.session, user, mfa=True, via="token")


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

    def find(self, sid: str) -> UserSession | None:
        """The live session of cookie value ``sid`` (idle and absolute timeouts applied), touched."""
        if not sid or len(sid) > 200:
            return None
        row = self.session.exec(select(UserSession).where(UserSession.session_hash == digest(sid))).first()
        if row is None or row.ended_at is not None:
            return None
        now = utcnow()
        idle = timedelta(minutes=self.settings.session_idle_minutes)
        if as_utc(row.expires_at) <= now or now - as_utc(row.last_seen_at) > idle:
            row.ended_at = now
            self.session.add(row)
            return None
        if now - as_utc(row.last_seen_at) > timedelta(seconds=30):
            row.last_seen_at = now
            self.session.add(row)
        return row

    def end(self, sid: str) -> UserSession | None:
        row = self.session.exec(select(UserSession).where(UserSession.session_hash == digest(sid))).first()
        if row is not None and row.ended_at is None:
            row.ended_at = utcnow()
            self.session.add(row)
            self.session.flush()
        return row

    def principal(self, row: UserSession) -> Principal:
        user = self.session.get(User, row.user_id)
        if user is None or not user.active:
            return ANONYMOUS
        return principal_for(self.session, user, mfa=row.mfa, via="session")


def principal_for(session: Session, user: User, *, mfa: bool, via: str = "") -> Principal:
    """The Principal of ``user``: roles needing MFA are withheld unless ``mfa``; agent linked by e-mail."""
    agent_id = session.exec(
        select(Agent.id).where(func.lower(Agent.email) == user.email_key, col(Agent.erased_at).is_(None))
    ).first()
    roles = frozenset(user.roles)
    mfa_roles = frozenset(get_settings().auth.mfa_roles)
    withheld = frozenset() if mfa else roles & mfa_roles
    return Principal(email=user.email, roles=roles - withheld, user_id=user.id, agent_id=agent_id, mfa=mfa,
                     withheld=withheld, via=via)


def same_secret(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))
