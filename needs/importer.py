"""Bulk import of needs (JSON Lines), upsert by ``external_id``; each need written whole or not at all."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import sqlalchemy as sa
from pydantic import Field, ValidationError
from sqlalchemy import Engine
from sqlmodel import Session

from needs.models import NeedCreate, NeedUpdate
from needs.service import NeedService, SkillPort
from talents.kernel.bulk import ImportReport, LineError, Progress, batched, describe_validation_error
from talents.kernel.db import session_scope
from talents.kernel.errors import DomainError

__all__ = ["NeedImportLine", "NeedImporter"]


class NeedImportLine(NeedCreate):
    """One need of an import document; ``external_id`` is the upsert key."""

    external_id: str = Field(min_length=1, max_length=200)  # type: ignore[assignment]


class NeedImporter:
    def __init__(self, engine: Engine, skill_port: Callable[[Session], SkillPort], batch_size: int = 200) -> None:
        self.engine = engine
        self.skill_port = skill_port
        self.batch_size = batch_size

    def run(
        self, records: Iterable[tuple[int, dict[str, Any] | None, str | None]], progress: Progress | None = None
    ) -> ImportReport:
        report = ImportReport()
        for batch in batched(records, self.batch_size):
            report.lines += len(batch)
            with session_scope(self.engine) as session:
                service = NeedService(session, self.skill_port(session))
                for number, doc, error in batch:
                    self._one(session, service, number, doc, error, report)
            if progress:
                progress(len(batch))
        return report

    def _one(
        self,
        session: Session,
        service: NeedService,
        number: int,
        doc: dict[str, Any] | None,
        error: str | None,
        report: ImportReport,
    ) -> None:
        ext = doc.get("external_id") if isinstance(doc, dict) and isinstance(doc.get("external_id"), str) else None
        if error or doc is None:
            report.errors.append(LineError(number, error or "empty line", ext))
            return
        try:
            line = NeedImportLine.model_validate(doc)
        except ValidationError as exc:
            report.errors.append(LineError(number, describe_validation_error(exc), ext))
            return
        savepoint = session.begin_nested()  # a bad need rolls back alone; its batch goes on
        service.warnings.clear()
        try:
            existing = service.get_by_external_id(line.external_id)
            if existing is None:
                service.create(line)
                report.created += 1
            else:
                fields = line.model_dump(include=set(NeedUpdate.model_fields) - {"project_id"})
                fields["project_id"] = service._project_id(line)
                service.update(existing.id, NeedUpdate.model_validate(fields))  # type: ignore[arg-type]
                service.replace_roles(existing, line.roles)
                report.updated += 1
            savepoint.commit()
            report.warnings.extend(LineError(number, w, line.external_id) for w in service.warnings)
        except (DomainError, sa.exc.IntegrityError, sa.exc.DataError) as exc:
            savepoint.rollback()
            reason = exc.message if isinstance(exc, DomainError) else f"rejected by the database: {exc.orig}"
            report.errors.append(LineError(number, reason, line.external_id))
