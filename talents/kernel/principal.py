"""Who is making a request, and the role names. Services take a Principal; handlers get it injected."""

from __future__ import annotations

from dataclasses import dataclass, field

from talents.kernel.errors import PermissionDeniedError

__all__ = ["ADMIN", "AGENT", "ANONYMOUS", "LEAD", "MANAGER", "REVIEWER", "ROLES", "Principal", "require"]

AGENT = "agent"
MANAGER = "manager"
LEAD = "lead"  # project lead
REVIEWER = "reviewer"  # DINUM reviewer
ADMIN = "admin"
ROLES: tuple[str, ...] = (AGENT, MANAGER, LEAD, REVIEWER, ADMIN)


@dataclass(frozen=True)
class Principal:
    """The signed-in person (or integration token) behind a request."""

    email: str
    roles: frozenset[str] = field(default_factory=frozenset)
    user_id: int | None = None
    agent_id: int | None = None
    mfa: bool = False
    # Roles the user holds but may not use now (e.g. reviewer without multi-factor sign-in).
    withheld: frozenset[str] = field(default_factory=frozenset)
    via: str = ""  # "token", "session" or "" (anonymous)

    @property
    def authenticated(self) -> bool:
        return bool(self.email)

    def has(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))


ANONYMOUS = Principal(email="")


def require(principal: Principal, *roles: str) -> None:
    """Deny unless the principal holds one of ``roles`` (admins hold every right)."""
    if not principal.has(*roles, ADMIN):
        if principal.withheld.intersection((*roles, ADMIN)):
            raise PermissionDeniedError("this requires signing in with multi-factor authentication")
        raise PermissionDeniedError("you do not have the right to do this")
