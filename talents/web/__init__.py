"""The web pages (French, State design system), one module per user: agent, lead, manager, DINUM review;
and the e-mails' unsubscribe link.

Pages are thin: they call the same services as the API, and each is in the navigation of the users allowed to
use it. Wired by :mod:`talents.app`.
"""

from __future__ import annotations

from typing import Any

from talents.web import agent, home, lead, manager, review, unsubscribe
from talents.web.filters import install as install_filters

__all__ = ["install_filters", "route_handlers"]

route_handlers: list[Any] = [*home.route_handlers, *agent.route_handlers, *lead.route_handlers,
                             *manager.route_handlers, *review.route_handlers, *unsubscribe.route_handlers]
