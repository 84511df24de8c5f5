"""HTTP API of the ranking: ranked candidates of a role, and a team proposal for a need."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import get
from litestar.params import Parameter
from sqlmodel import Session

from needs.models import Need
from talents.auth.principal import LEAD, REVIEWER, Principal, require
from talents.errors import NotFoundError
from talents.ranking import RankingService

__all__ = ["route_handlers"]


def _need(session: Session, need_id: int) -> Need:
    need = session.get(Need, need_id)
    if need is None:
        raise NotFoundError(f"need {need_id} not found", field="need_id")
    return need


@get(
    "/api/v1/needs/{need_id:int}/roles/{position:int}/candidates",
    sync_to_thread=True,
    tags=["ranking"],
    summary="Ranked eligible candidates of a role, with explanations and near misses",
)
def role_candidates(
    db_session: Session,
    principal: Principal,
    need_id: int,
    position: int,
    top: Annotated[int, Parameter(ge=1, le=500, description="How many candidates")] = 20,
    near: Annotated[int, Parameter(ge=0, le=100, description="How many near misses")] = 10,
) -> dict[str, Any]:
    require(principal, LEAD, REVIEWER)
    service = RankingService(db_session)
    need = _need(db_session, need_id)
    return service.rank(need, service.role_at(need, position), top=top, near_misses=near)


@get(
    "/api/v1/needs/{need_id:int}/team",
    sync_to_thread=True,
    tags=["ranking"],
    summary="A team proposal for every open seat of the need",
)
def need_team(db_session: Session, principal: Principal, need_id: int) -> dict[str, Any]:
    require(principal, LEAD, REVIEWER)
    service = RankingService(db_session)
    return service.team(_need(db_session, need_id))


route_handlers = [role_candidates, need_team]
