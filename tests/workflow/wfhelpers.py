"""Helpers shared by the workflow and ranking tests: principals and an event recorder."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from talents.kernel.events import Event, subscribe, unsubscribe
from talents.kernel.principal import ADMIN, AGENT, LEAD, REVIEWER, Principal

LEAD_EMAIL = "lead@numerique.gouv.fr"
REVIEWER_P = Principal(email="revue@numerique.gouv.fr", roles=frozenset({REVIEWER}))
LEAD_P = Principal(email=LEAD_EMAIL, roles=frozenset({LEAD}))
OTHER_LEAD_P = Principal(email="autre.lead@numerique.gouv.fr", roles=frozenset({LEAD}))
ADMIN_P = Principal(email="admin@numerique.gouv.fr", roles=frozenset({ADMIN}))


def agent_principal(ext: str) -> Principal:
    return Principal(email=f"{ext}@agents.gouv.fr", roles=frozenset({AGENT}))


class EventLog(list[Event]):
    def kinds(self) -> list[str]:
        return [e.kind for e in self]

    def last(self, kind: str) -> Event:
        return next(e for e in reversed(self) if e.kind == kind)


@pytest.fixture
def events() -> Iterator[EventLog]:
    log = EventLog()

    def _record(_session: object, event: Event) -> None:
        log.append(event)

    subscribe(_record)
    yield log
    unsubscribe(_record)
