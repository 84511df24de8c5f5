"""HTTP API of agents (profiles, skills, availability) and of the skill taxonomy. Thin handlers."""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import anyio
from litestar import Controller, Request, delete, get, patch, post, put
from litestar.params import Parameter
from litestar.status_codes import HTTP_200_OK
from pydantic import BaseModel
from sqlmodel import Session

from matching.normalise import Suggestion
from profiles.importer import AgentImporter
from profiles.models import (
    AgentCreate,
    AgentListed,
    AgentPublic,
    AgentSkillCreate,
    AgentSkillPublic,
    AgentSkillUpdate,
    AgentUpdate,
    AvailabilityCreate,
    AvailabilityPublic,
    SkillCreate,
    SkillPublic,
    SkillUpdate,
)
from profiles.policy import (
    check_agent_create,
    check_agent_update,
    log_profile_reads,
    owner_or_reader,
    owner_or_reviewer,
    sees_everything,
)
from profiles.service import AgentFilters, AgentService
from profiles.taxonomy import TaxonomyService
from profiles.taxonomy_files import detect_and_read
from talents.kernel.access import GATE_AT_READ, ON_THE_LOOP, rule
from talents.kernel.api import Limit, Offset, Page, documented_as, read_now, read_upload_records
from talents.kernel.db import get_engine, session_scope
from talents.kernel.principal import AGENT, LEAD, REVIEWER, Principal

__all__ = ["AgentController", "TaxonomyController"]

# Who may call each route (read by the auth middleware); per-object checks are in profiles.policy.
_READ_PROFILE = rule(check=owner_or_reader, why="the agent, or a lead/reviewer (logged in the access log)")
_WRITE_PROFILE = rule(check=owner_or_reviewer, why="the agent, or a reviewer")
_REVIEWERS = rule(REVIEWER, why="reviewers")
_SIGNED_IN = rule(why="any signed-in principal")


class ImportResult(BaseModel):
    lines: int
    created: int
    updated: int
    imported: int
    rejected: int
    errors: list[dict[str, Any]]
    warnings: list[dict[str, Any]] = []


class AgentController(Controller):
    path = "/api/v1/agents"
    tags = ["agents"]

    @get("/", sync_to_thread=True, summary="List agents (paginated, filterable)",
         opt=rule(LEAD, REVIEWER, why="searching profiles: leads and reviewers"))
    def list_agents(
        self,
        request: Request,
        db_session: Session,
        principal: Principal,
        limit: Limit = 50,
        offset: Offset = 0,
        ministry: str | None = None,
        skill: str | None = None,
        min_level: Annotated[int | None, Parameter(ge=1, le=5)] = None,
        location: str | None = None,
        q: str | None = None,
        available_on: date | None = None,
    ) -> Page[AgentListed]:
        # Leads see public profiles without their personal fields; DINUM sees everything. Each read is logged.
        full = sees_everything(principal)
        service = AgentService(db_session)
        rows, total = service.list(
            AgentFilters(
                ministry=ministry, skill=skill, min_level=min_level, location=location, q=q, available_on=available_on,
                include_private=full, personal=full,
            ),
            limit=limit,
            offset=offset,
        )
        log_profile_reads(db_session, principal, [a.id for a in rows if a.id is not None], request.url.path)
        return Page(data=service.to_listed_many(rows, personal=full), count=total, limit=limit,
                    offset=offset)

    @post("/", sync_to_thread=True, summary="Create an agent with skills and availability",
          opt=rule(AGENT, REVIEWER, why="an agent creates their own profile; reviewers any"))
    def create_agent(self, db_session: Session, principal: Principal, data: AgentCreate) -> AgentPublic:
        check_agent_create(principal, data)
        service = AgentService(db_session)
        return service.to_public(service.create(data))

    @post("/import", status_code=HTTP_200_OK, summary="Import agents (JSON Lines, or CSV with text/csv)",
          opt=_REVIEWERS)
    async def import_agents(self, request: Request) -> ImportResult:
        records, is_csv = await read_upload_records(request)
        report = await anyio.to_thread.run_sync(lambda: AgentImporter(get_engine()).run(records, csv_rows=is_csv))
        return ImportResult(**report.to_dict())

    @get("/{agent_id:int}", opt={**_READ_PROFILE, **GATE_AT_READ}, responses=documented_as(AgentPublic))
    async def get_agent(self, request: Request, agent_id: int) -> dict[str, Any]:
        return await read_now(request, lambda db: AgentService(db).public_view(agent_id))

    @patch("/{agent_id:int}", sync_to_thread=True, opt={**_WRITE_PROFILE, **ON_THE_LOOP})
    def update_agent(self, db_session: Session, principal: Principal, agent_id: int, data: AgentUpdate) -> AgentPublic:
        service = AgentService(db_session)
        agent = service.get(agent_id)  # held here, the policy and the update below find it loaded
        check_agent_update(db_session, principal, agent_id, data)
        return service.to_public(service.update(agent.id, data))  # type: ignore[arg-type]

    @delete("/{agent_id:int}", sync_to_thread=True,
            opt=rule(REVIEWER, why="reviewers (agents erase theirs with DELETE /api/v1/me)"))
    def delete_agent(self, db_session: Session, agent_id: int) -> None:
        AgentService(db_session).delete(agent_id)

    @get("/{agent_id:int}/skills", opt={**_READ_PROFILE, **GATE_AT_READ},
         responses=documented_as(list[AgentSkillPublic]))
    async def list_skills(self, request: Request, agent_id: int) -> list[dict[str, Any]]:
        return await read_now(request, lambda db: AgentService(db).skills_view(agent_id))

    @post("/{agent_id:int}/skills", sync_to_thread=True, summary="Add a skill (free text, normalised)",
          opt={**_WRITE_PROFILE, **ON_THE_LOOP})
    def add_skill(self, db_session: Session, agent_id: int, data: AgentSkillCreate) -> AgentSkillPublic:
        return AgentService(db_session).add_skill(agent_id, data)

    @patch("/{agent_id:int}/skills/{skill_row_id:int}", sync_to_thread=True, opt={**_WRITE_PROFILE, **ON_THE_LOOP})
    def update_skill(
        self, db_session: Session, agent_id: int, skill_row_id: int, data: AgentSkillUpdate
    ) -> AgentSkillPublic:
        return AgentService(db_session).update_skill(agent_id, skill_row_id, data)

    @delete("/{agent_id:int}/skills/{skill_row_id:int}", sync_to_thread=True, opt={**_WRITE_PROFILE, **ON_THE_LOOP})
    def remove_skill(self, db_session: Session, agent_id: int, skill_row_id: int) -> None:
        AgentService(db_session).remove_skill(agent_id, skill_row_id)

    @get("/{agent_id:int}/availability", opt={**_READ_PROFILE, **GATE_AT_READ},
         responses=documented_as(list[AvailabilityPublic]))
    async def list_availability(self, request: Request, agent_id: int) -> list[dict[str, Any]]:
        return await read_now(request, lambda db: AgentService(db).availability_view(agent_id))

    @post("/{agent_id:int}/availability", sync_to_thread=True, opt={**_WRITE_PROFILE, **ON_THE_LOOP})
    def add_availability(self, db_session: Session, agent_id: int, data: AvailabilityCreate) -> AvailabilityPublic:
        return AgentService(db_session).add_availability(agent_id, data)

    @put("/{agent_id:int}/availability/{window_id:int}", sync_to_thread=True, opt={**_WRITE_PROFILE, **ON_THE_LOOP})
    def update_availability(
        self, db_session: Session, agent_id: int, window_id: int, data: AvailabilityCreate
    ) -> AvailabilityPublic:
        return AgentService(db_session).update_availability(agent_id, window_id, data)

    @delete("/{agent_id:int}/availability/{window_id:int}", sync_to_thread=True, opt={**_WRITE_PROFILE, **ON_THE_LOOP})
    def remove_availability(self, db_session: Session, agent_id: int, window_id: int) -> None:
        AgentService(db_session).remove_availability(agent_id, window_id)


class SuggestionPublic(BaseModel):
    skill_id: str
    label_fr: str
    label_en: str
    category: str
    score: float


class ResolutionPublic(BaseModel):
    text: str
    skill_id: str | None
    label: str | None
    confidence: float
    status: str
    alternatives: list[SuggestionPublic]


class MergeRequest(BaseModel):
    target_id: str


def _suggestion(s: Suggestion) -> SuggestionPublic:
    return SuggestionPublic(
        skill_id=s.skill_id, label_fr=s.label_fr, label_en=s.label_en, category=s.category, score=float(s.score)
    )


class TaxonomyController(Controller):
    path = "/api/v1/taxonomy"
    tags = ["taxonomy"]

    @get("/skills", sync_to_thread=True, summary="List skills of the taxonomy", opt=_SIGNED_IN)
    def list_skills(
        self,
        db_session: Session,
        limit: Limit = 50,
        offset: Offset = 0,
        q: str | None = None,
        category: str | None = None,
        status: str | None = None,
    ) -> Page[SkillPublic]:
        rows, total = TaxonomyService(db_session).list(
            q=q, category=category, status=status, limit=limit, offset=offset
        )
        return Page(data=[SkillPublic.model_validate(r) for r in rows], count=total, limit=limit, offset=offset)

    @get("/suggest", sync_to_thread=True, summary="Autocomplete: skills closest to what is typed", opt=_SIGNED_IN)
    def suggest(
        self,
        db_session: Session,
        q: Annotated[str, Parameter(min_length=1, max_length=200)],
        limit: Annotated[int, Parameter(ge=1, le=50)] = 10,
    ) -> list[SuggestionPublic]:
        return [_suggestion(s) for s in TaxonomyService(db_session).suggest(q, limit=limit)]

    @get("/resolve", sync_to_thread=True, summary="Normalise a typed skill: taxonomy skill and confidence",
         opt=_SIGNED_IN)
    def resolve(
        self, db_session: Session, q: Annotated[str, Parameter(min_length=1, max_length=200)]
    ) -> ResolutionPublic:
        r = TaxonomyService(db_session).resolve(q)
        return ResolutionPublic(
            text=r.text,
            skill_id=r.skill_id,
            label=r.label,
            confidence=float(r.confidence),
            status=r.status,
            alternatives=[_suggestion(a) for a in r.alternatives],
        )

    @post("/skills", sync_to_thread=True, opt=_REVIEWERS)
    def create_skill(self, db_session: Session, data: SkillCreate) -> SkillPublic:
        return SkillPublic.model_validate(TaxonomyService(db_session).create(data))

    @get("/skills/{skill_id:str}", sync_to_thread=True, opt=_SIGNED_IN)
    def get_skill(self, db_session: Session, skill_id: str) -> SkillPublic:
        return SkillPublic.model_validate(TaxonomyService(db_session).get(skill_id))

    @patch("/skills/{skill_id:str}", sync_to_thread=True, opt=_REVIEWERS)
    def update_skill(self, db_session: Session, skill_id: str, data: SkillUpdate) -> SkillPublic:
        return SkillPublic.model_validate(TaxonomyService(db_session).update(skill_id, data))

    @delete("/skills/{skill_id:str}", sync_to_thread=True, opt=_REVIEWERS)
    def delete_skill(self, db_session: Session, skill_id: str) -> None:
        TaxonomyService(db_session).delete(skill_id)

    @post(
        "/skills/{skill_id:str}/merge",
        sync_to_thread=True,
        status_code=HTTP_200_OK,
        summary="Curation: fold this (pending) skill into another",
        opt=_REVIEWERS,
    )
    def merge_skill(self, db_session: Session, skill_id: str, data: MergeRequest, skill_references: Any) -> SkillPublic:
        merged = TaxonomyService(db_session).merge(skill_id, data.target_id, referencing=skill_references)
        return SkillPublic.model_validate(merged)

    @post(
        "/import",
        status_code=HTTP_200_OK,
        summary="Import skills: ESCO skills_<lang>.csv layout or the project's CSV/JSON taxonomy",
        opt=_REVIEWERS,
    )
    async def import_taxonomy(self, request: Request, skill_references: Any, lang: str | None = None) -> dict[str, Any]:
        body = await request.body()
        suffix = ".json" if body.lstrip()[:1] in (b"[", b"{") else f"_{lang or 'fr'}.csv"
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"skills{suffix}"
            path.write_bytes(body)

            def load() -> dict[str, Any]:
                skills, errors = detect_and_read([path])
                with session_scope() as session:
                    report = TaxonomyService(session).reconcile(skills, referencing=skill_references)
                return {
                    "created": len(report.added),
                    "updated": len(report.updated),
                    "merged": report.merged,
                    "ambiguous": report.ambiguous,
                    "errors": [{"line": n, "reason": r} for n, r in errors],
                }

            return await anyio.to_thread.run_sync(load)
