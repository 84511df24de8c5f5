"""HTTP side of auth: the ``principal`` dependency, the auth middleware, ``/api/v1/me`` and token admin.

Sign-in pages and the OpenID Connect flow live in :mod:`talents.auth.web`; GDPR routes in
:mod:`talents.auth.gdpr`. :mod:`talents.app` wires what this module exports.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, delete, get, post, put
from litestar.di import Provide
from litestar.params import Parameter
from litestar.status_codes import HTTP_201_CREATED
from pydantic import BaseModel, Field
from sqlmodel import Session

from talents.auth import gdpr, web
from talents.auth.middleware import AuthMiddleware
from talents.auth.models import ApiTokenPublic, UserPublic, UtcDatetime
from talents.auth.service import TokenService, UserService
from talents.kernel.access import caller_of
from talents.kernel.principal import ADMIN, ROLES, Principal

__all__ = ["dependencies", "middleware", "provide_principal", "route_handlers"]


def provide_principal(request: Request[Any, Any, Any]) -> Principal:
    """The principal of the request (resolved once by :class:`AuthMiddleware`), ANONYMOUS if none."""
    return caller_of(request.scope).principal


class MePublic(BaseModel):
    email: str
    roles: list[str]
    withheld_roles: list[str]
    agent_id: int | None
    mfa: bool
    via: str
    csrf_token: str | None = Field(None, description="Send it as X-CSRF-Token on unsafe requests (sessions)")


class TokenCreate(BaseModel):
    email: str = Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")
    roles: list[str] = Field(default_factory=list, max_length=len(ROLES))
    name: str = Field("", max_length=200)


class TokenIssued(BaseModel):
    token: str = Field(description="Shown once, never again: store it now")
    id: int
    prefix: str
    email: str
    roles: list[str]
    name: str
    created_at: UtcDatetime


class RolesUpdate(BaseModel):
    roles: list[str] = Field(max_length=len(ROLES))


@get("/api/v1/me", tags=["me"], summary="Who am I: e-mail, roles, linked agent", opt={"authenticated": True},
     sync_to_thread=False)
def whoami(request: Request[Any, Any, Any], principal: Principal) -> MePublic:
    caller = caller_of(request.scope)
    return MePublic(email=principal.email, roles=sorted(principal.roles),
                    withheld_roles=sorted(principal.withheld), agent_id=principal.agent_id, mfa=principal.mfa,
                    via=principal.via, csrf_token=caller.csrf_token)


class AdminController(Controller):
    """Users and API tokens (admins only). A token is shown once, when created."""

    path = "/api/v1/admin"
    tags = ["admin"]
    opt = {"roles": (ADMIN,)}

    @post("/tokens", sync_to_thread=True, status_code=HTTP_201_CREATED,
          summary="Create an API token (the user is created if needed and given the roles)")
    def create_token(self, db_session: Session, data: TokenCreate) -> TokenIssued:
        user = UserService(db_session).ensure(data.email, data.roles)
        issued = TokenService(db_session).create(user, data.name)
        row = issued.row
        return TokenIssued(token=issued.token, id=row.id or 0, prefix=row.prefix, email=user.email,
                           roles=list(user.roles), name=row.name, created_at=row.created_at)

    @get("/tokens", sync_to_thread=True, summary="List API tokens (never their values)")
    def list_tokens(self, db_session: Session,
                    email: Annotated[str | None, Parameter(max_length=254)] = None) -> list[ApiTokenPublic]:
        return TokenService(db_session).list(email)

    @delete("/tokens/{token_id:int}", sync_to_thread=True, summary="Revoke an API token")
    def revoke_token(self, db_session: Session, token_id: int) -> None:
        TokenService(db_session).revoke(token_id)

    @get("/users", sync_to_thread=True, summary="List users and their roles")
    def list_users(self, db_session: Session) -> list[UserPublic]:
        return [UserPublic.model_validate(u, from_attributes=True) for u in UserService(db_session).list()]

    @put("/users/{user_id:int}/roles", sync_to_thread=True, summary="Replace a user's roles")
    def set_roles(self, db_session: Session, user_id: int, data: RolesUpdate) -> UserPublic:
        service = UserService(db_session)
        user = service.set_roles(service.get(user_id), data.roles)
        return UserPublic.model_validate(user, from_attributes=True)


route_handlers: list[Any] = [whoami, AdminController, *gdpr.route_handlers, *web.route_handlers]
dependencies: dict[str, Provide] = {"principal": Provide(provide_principal, sync_to_thread=False)}
middleware: list[Any] = [AuthMiddleware()]
