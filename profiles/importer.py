"""Bulk import of agents (JSON Lines or CSV), upsert by ``external_id``, batch by batch.

Each batch is one transaction: an agent, its skills and its availability are written together or
not at all. A bad line is reported with its number and the good lines of its batch still go in.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from pydantic import Field, ValidationError
from sqlalchemy import Engine
from sqlmodel import Session, func

from matching.normalise import Resolution
from profiles.models import Agent, AgentCreate, AgentSkill, Availability
from profiles.policy import MANAGER_IS_SOMEONE_ELSE
from profiles.service import merge_agent_skills
from profiles.taxonomy import SkillResolver
from talents.kernel.bulk import ImportReport, LineError, Progress, batched, describe_validation_error
from talents.kernel.db import refresh_statistics, session_scope, utcnow
from talents.kernel.errors import DomainError
from talents.kernel.fields import same_email
from talents.kernel.policy import check_share_above_floor

__all__ = ["AgentImportLine", "AgentImporter", "csv_row_to_document"]

_SKILL_ITEM = re.compile(r"^\s*(?P<name>.+?)\s*(?::\s*(?P<level>\d))?\s*$")
_WINDOW_ITEM = re.compile(
    r"^\s*(?P<start>\d{4}-\d{2}-\d{2})\s*(?:/|\.\.|→|to)\s*(?P<end>\d{4}-\d{2}-\d{2})\s*[:@]\s*(?P<share>[\d.,]+)\s*$"
)


class AgentImportLine(AgentCreate):
    """One agent of an import document; ``external_id`` is the upsert key."""

    external_id: str = Field(min_length=1, max_length=200)  # type: ignore[assignment]


def csv_row_to_document(row: dict[str, str]) -> dict[str, Any]:
    """A CSV row (``skills`` like ``Python:4; Django:3``, ``availability`` like
    ``2026-01-05/2026-06-30:0.6; …`` or columns ``start``, ``end``, ``share``) as an import document."""
    doc: dict[str, Any] = {k.strip(): v.strip() for k, v in row.items() if k and v is not None and v.strip()}
    skills = []
    for item in filter(None, (p.strip() for p in doc.pop("skills", "").split(";"))):
        m = _SKILL_ITEM.match(item)
        if not m:
            raise ValueError(f"skills: cannot read {item!r} (expected Name:level)")
        skills.append({"name": m["name"], "level": int(m["level"]) if m["level"] else 3})
    windows = []
    for item in filter(None, (p.strip() for p in doc.pop("availability", "").split(";"))):
        m = _WINDOW_ITEM.match(item)
        if not m:
            raise ValueError(f"availability: cannot read {item!r} (expected START/END:SHARE)")
        windows.append({"start": m["start"], "end": m["end"], "share": float(m["share"].replace(",", "."))})
    if {"start", "end", "share"} <= doc.keys():
        windows.append(
            {"start": doc.pop("start"), "end": doc.pop("end"), "share": float(doc.pop("share").replace(",", "."))}
        )
    if "languages" in doc:
        doc["languages"] = [x.strip() for x in re.split(r"[;,]", doc["languages"]) if x.strip()]
    if "remote" in doc:
        doc["remote"] = doc["remote"].lower() in ("1", "true", "oui", "yes", "vrai")
    doc["skills"], doc["availability"] = skills, windows
    return doc


_AGENT_COLUMNS = (
    "name",
    "email",
    "ministry",
    "service",
    "grade",
    "location",
    "remote",
    "manager_email",
    "visibility",
    "bio",
    "languages",
)


class AgentImporter:
    """Upserts agents by external id in batches; reports bad lines; never half-writes an agent."""

    def __init__(self, engine: Engine, batch_size: int = 1000) -> None:
        self.engine = engine
        self.batch_size = batch_size
        self._memo: dict[str, Resolution] = {}

    def run(
        self,
        records: Iterable[tuple[int, dict[str, Any] | None, str | None]],
        progress: Progress | None = None,
        *,
        csv_rows: bool = False,
    ) -> ImportReport:
        report = ImportReport()
        analysed_at = 0  # agents written when the planner's statistics were last refreshed
        for batch in batched(records, self.batch_size):
            report.lines += len(batch)
            good: list[tuple[int, AgentImportLine]] = []
            for number, doc, error in batch:
                line = self._validate(number, doc, error, csv_rows, report)
                if line is not None:
                    good.append((number, line))
            if good:
                self._write_batch(good, report)
            # Each batch looks its agents up by e-mail and external id: with statistics of a table that has since
            # doubled, PostgreSQL's planner would scan it whole for each batch (an import quadratic in its size).
            if report.imported >= max(2 * analysed_at, self.batch_size):
                self._refresh_statistics()
                analysed_at = report.imported
            if progress:
                progress(len(batch))
        if report.imported > analysed_at:
            self._refresh_statistics()
        return report

    def _refresh_statistics(self) -> None:
        refresh_statistics(self.engine, (m.__tablename__ for m in (Agent, AgentSkill, Availability)))

    def _validate(
        self, number: int, doc: dict[str, Any] | None, error: str | None, csv_rows: bool, report: ImportReport
    ) -> AgentImportLine | None:
        ext = doc.get("external_id") if isinstance(doc, dict) else None
        ext = ext if isinstance(ext, str) else None
        if error or doc is None:
            report.errors.append(LineError(number, error or "empty line", ext))
            return None
        try:
            if csv_rows:
                doc = csv_row_to_document(doc)
            line = AgentImportLine.model_validate(doc)
            for i, window in enumerate(line.availability):
                check_share_above_floor(window.share, f"availability.{i}.share")
            return line
        except ValidationError as exc:
            report.errors.append(LineError(number, describe_validation_error(exc), ext))
        except ValueError as exc:
            report.errors.append(LineError(number, str(exc), ext))
        except DomainError as exc:
            report.errors.append(LineError(number, exc.message, ext))
        return None

    def _write_batch(self, good: list[tuple[int, AgentImportLine]], report: ImportReport) -> None:
        outcome = ImportReport()
        try:
            with session_scope(self.engine) as session:
                self._upsert(session, good, outcome)
        except (sa.exc.IntegrityError, sa.exc.DataError):
            # Something the checks did not foresee (a concurrent writer, a value the database refuses):
            # isolate line by line.
            outcome = ImportReport()
            for number, line in good:
                one = ImportReport()
                try:
                    with session_scope(self.engine) as session:
                        self._upsert(session, [(number, line)], one)
                except (sa.exc.IntegrityError, sa.exc.DataError) as exc:
                    one = ImportReport(
                        errors=[LineError(number, f"rejected by the database: {exc.orig}", line.external_id)]
                    )
                outcome.merge(one)
        report.merge(outcome)

    def _upsert(self, session: Session, good: list[tuple[int, AgentImportLine]], report: ImportReport) -> None:
        resolver = SkillResolver(session)
        resolver._memo = self._memo  # the answers hold across batches
        # Later lines for the same external id win, as a later upsert would.
        by_ext: dict[str, tuple[int, AgentImportLine]] = {}
        for number, line in good:
            by_ext[line.external_id] = (number, line)
        existing = {
            ext: (aid, email)
            for aid, ext, email in session.execute(
                sa.select(Agent.id, Agent.external_id, Agent.email).where(Agent.external_id.in_(list(by_ext)))  # type: ignore[union-attr]
            ).all()
        }
        email_owner: dict[str, str | None] = {
            email.lower(): ext
            for ext, email in session.execute(
                sa.select(Agent.external_id, Agent.email).where(
                    func.lower(Agent.email).in_([str(line.email).lower() for _, line in by_ext.values()])
                )
            ).all()
        }
        accepted: list[tuple[int, AgentImportLine]] = []
        for number, line in by_ext.values():
            email = str(line.email).lower()
            owner = email_owner.get(email, line.external_id)
            if owner != line.external_id:
                report.errors.append(
                    LineError(
                        number,
                        f"email: {line.email} already belongs to another agent "
                        f"({owner or 'created without external_id'})",
                        line.external_id,
                    )
                )
                continue
            if same_email(str(line.manager_email or ""), str(line.email)):
                report.errors.append(LineError(number, MANAGER_IS_SOMEONE_ELSE, line.external_id))
                continue
            email_owner[email] = line.external_id
            accepted.append((number, line))
        if not accepted:
            return
        now = utcnow()
        agent_table = Agent.__table__  # type: ignore[attr-defined]
        new_rows, upd_rows = [], []
        for _, line in accepted:
            row = line.model_dump(include=set(_AGENT_COLUMNS))
            row["email"] = str(line.email)
            row["manager_email"] = str(line.manager_email) if line.manager_email else None
            row["updated_at"] = now
            if line.external_id in existing:
                upd_rows.append({"b_id": existing[line.external_id][0], **{f"b_{k}": v for k, v in row.items()}})
            else:
                new_rows.append({**row, "external_id": line.external_id, "created_at": now})
        ids = {ext: aid for ext, (aid, _) in existing.items()}
        if new_rows:
            # A plain executemany then one lookup: RETURNING would make SQLite run one statement a row.
            session.execute(sa.insert(agent_table), new_rows)
            ids.update(
                session.execute(
                    sa.select(agent_table.c.external_id, agent_table.c.id).where(
                        agent_table.c.external_id.in_([r["external_id"] for r in new_rows])
                    )
                )
                .tuples()
                .all()
            )
        if upd_rows:
            stmt = (
                sa.update(agent_table)
                .where(agent_table.c.id == sa.bindparam("b_id"))
                .values({k: sa.bindparam(f"b_{k}") for k in (*_AGENT_COLUMNS, "email", "updated_at")})
            )
            session.connection().execute(stmt, upd_rows)
            old_ids = [r["b_id"] for r in upd_rows]
            session.execute(sa.delete(AgentSkill).where(AgentSkill.agent_id.in_(old_ids)))  # type: ignore[attr-defined]
            session.execute(sa.delete(Availability).where(Availability.agent_id.in_(old_ids)))  # type: ignore[attr-defined]
        skill_rows, window_rows = [], []
        for number, line in accepted:
            aid = ids[line.external_id]
            merged, warnings = merge_agent_skills([(*resolver.skill_id_for(s.name), s) for s in line.skills])
            report.warnings.extend(LineError(number, w, line.external_id) for w in warnings)
            for skill_id, confidence, s in merged:
                skill_rows.append(
                    {
                        "agent_id": aid,
                        "skill_id": skill_id,
                        "typed": s.name.strip()[:200],
                        "confidence": confidence,
                        "level": s.level,
                        "years": s.years,
                        "last_used": s.last_used,
                        "interest": s.interest,
                        "endorsements": 0,
                    }
                )
            for w in line.availability:
                window_rows.append({"agent_id": aid, "start_date": w.start, "end_date": w.end, "share": w.share})
        _insert_many(session, "agent_skill", skill_rows)
        _insert_many(session, "availability", window_rows)
        report.created += len(new_rows)
        report.updated += len(upd_rows)


def _insert_many(session: Session, table: str, rows: list[dict[str, Any]]) -> None:
    """Insert plain rows through the driver's executemany: the child rows of an import are most of
    its volume, and building SQLAlchemy parameters for each costs more than the database write."""
    if not rows:
        return
    columns = list(rows[0])
    connection = session.connection()
    marker = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    # Table and column names come from this module, never from the document being imported.
    placeholders = ", ".join([marker] * len(columns))
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})"  # noqa: S608  # nosec B608
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(sql, [tuple(r[c] for c in columns) for r in rows])
    finally:
        cursor.close()
