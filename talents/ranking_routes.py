"""HTTP API of the ranking: ranked candidates of a role, and a team proposal for a need."""

from __future__ import annotations

import gc
import threading
from typing import Annotated, Any

from litestar import Request, get
from litestar.params import Parameter
from sqlmodel import Session

from needs.models import Need
from needs.policy import need_writer
from profiles.policy import log_profile_reads
from talents.kernel.access import GATE_AT_READ, caller_of, rule
from talents.kernel.api import read_now
from talents.kernel.db import get_engine, session_scope
from talents.kernel.errors import NotFoundError
from talents.kernel.logs import get_logger
from talents.kernel.principal import LEAD, REVIEWER, Principal
from talents.ranking import RankingService, get_ranking_cache

__all__ = ["on_shutdown", "on_startup", "route_handlers"]

log = get_logger("talents.ranking")

# Ranked candidates name agents and their availability: the need's lead and reviewers only.
_NEED_LEADS = rule(LEAD, REVIEWER, check=need_writer, why="the need's lead, or a reviewer")


def _need(session: Session, need_id: int) -> Need:
    need = session.get(Need, need_id)
    if need is None:
        raise NotFoundError(f"need {need_id} not found", field="need_id")
    return need


@get(
    "/api/v1/needs/{need_id:int}/roles/{position:int}/candidates",
    tags=["ranking"],
    summary="Ranked eligible candidates of a role, with explanations and near misses",
    opt={**_NEED_LEADS, **GATE_AT_READ},
)
async def role_candidates(
    request: Request,
    need_id: int,
    position: int,
    top: Annotated[int, Parameter(ge=1, le=500, description="How many candidates")] = 20,
    near: Annotated[int, Parameter(ge=0, le=100, description="How many near misses")] = 10,
) -> dict[str, Any]:
    # The caller's gate, the ranking, its access-log lines and the end of the transaction: one trip to a thread.
    def read(db: Session) -> dict[str, Any]:
        ranked = RankingService(db).rank_at(need_id, position, top=top, near_misses=near)
        shown = [c["agent_id"] for c in (*ranked["candidates"], *ranked["near_misses"])]
        log_profile_reads(db, caller_of(request.scope).principal, shown, request.url.path, action="candidates")
        return ranked

    return await read_now(request, read, may_take_long=True)


@get(
    "/api/v1/needs/{need_id:int}/team",
    sync_to_thread=True,
    tags=["ranking"],
    summary="A team proposal for every open seat of the need",
    opt=_NEED_LEADS,
)
def need_team(request: Request, db_session: Session, principal: Principal, need_id: int) -> dict[str, Any]:
    team = RankingService(db_session).team(_need(db_session, need_id))
    log_profile_reads(db_session, principal, [s["agent_id"] for s in team["seats"]], request.url.path,
                      action="candidates")
    return team


_warming: list[threading.Thread] = []


def _warm_up() -> None:
    """Build the ranking index in the background at start-up, so the first request does not pay for it."""

    def build() -> None:
        try:
            engine = get_engine()
            with session_scope(engine, read_only=True) as session:  # a read: SQLite writers need not wait
                get_ranking_cache(engine).refresh(session)
            # The index's base lives as long as the process (every later state shares it): left out of the
            # collector's full passes, which would otherwise walk its million objects while requests wait.
            gc.freeze()
        except Exception as exc:  # noqa: BLE001 - a warm-up failure only means a slower first request
            log.warning("ranking_warm_up_failed", error=str(exc)[:300])

    thread = threading.Thread(target=build, name="ranking-warm-up", daemon=True)
    _warming.append(thread)
    thread.start()


def _wait_warm_up() -> None:
    """At shutdown, let a warm-up still running finish: nothing of the app runs once it has stopped."""
    while _warming:
        _warming.pop().join(timeout=60)


route_handlers = [role_candidates, need_team]
on_startup = [_warm_up]
on_shutdown = [_wait_warm_up]
