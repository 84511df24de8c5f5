"""The Litestar application factory: controllers, dependencies, error handling, OpenAPI, logs."""

from __future__ import annotations

import gc
import sys
from pathlib import Path
from typing import Any

from litestar import Litestar
from litestar.contrib.jinja import JinjaTemplateEngine
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig
from sqlmodel import Session

from needs.controllers import NeedController, ProjectController
from needs.models import RoleSkill
from notifications import routes as notification_routes
from profiles.controllers import AgentController, TaxonomyController
from profiles.taxonomy import SkillResolver, TaxonomyService
from talents import __version__, ranking_routes, scheduler, web
from talents.auth import routes as auth_routes
from talents.health import healthz, readyz
from talents.http_errors import exception_handlers
from talents.kernel.api import guard_input, provide_db_session, size_request_threads
from talents.kernel.db import get_engine, migrate, session_scope
from talents.kernel.logs import configure_logging, dump_stacks_on_sigusr1, get_logger
from talents.kernel.settings import get_settings
from talents.metrics import metrics
from talents.openapi_page import OfflineSwagger
from talents.request_log import RequestLogMiddleware
from talents.security_headers import add_security_headers
from talents.web.filters import install as install_filters
from talents.workflow import routes as workflow_routes

__all__ = ["create_app"]

STATIC_DIR = Path(__file__).parent / "static"
log = get_logger("talents.http")




def _provide_skill_port(db_session: Session) -> SkillResolver:
    return SkillResolver(db_session)


def _provide_skill_port_factory() -> Any:
    return SkillResolver


def _provide_skill_references() -> Any:
    # Tables outside profiles/ that hold skill ids, so that curation merges follow them.
    return [(RoleSkill, "role_id")]


def _on_startup() -> None:
    migrate()
    with session_scope() as session:
        TaxonomyService(session).ensure_default()


# How the interpreter serves (see _settle_the_interpreter): the collector's thresholds and the switch interval.
SERVING_GC_THRESHOLD = (20_000, 10, 10)
SERVING_SWITCH_INTERVAL_S = 0.001
_interpreter_before: list[tuple[tuple[int, int, int], float]] = []


def _settle_the_interpreter() -> None:
    """Set the interpreter for serving, once start-up is done.

    What start-up made (the modules, the app, the taxonomy) lives as long as the process: frozen, it is left out of
    the collector's full passes, which walked it all for 100-300 ms while every request in progress waited.

    The collector's young generation is collected every 20 000 new objects instead of 700: at the default, a request
    in progress was caught by a young collection so often that its objects reached the oldest generation, which was
    then walked in full every 3 s (20-120 ms each, under ``python -m bench.load``; the p99 of the simple reads).

    The interpreter's switch interval is 1 ms instead of 5: a thread that lets go of the interpreter for a
    statement (SQLite, PostgreSQL) or an array operation waits up to the interval to take it back from the
    threads that keep it, and a ranking or a page lets go of it once for each of its statements."""
    _interpreter_before.append((gc.get_threshold(), sys.getswitchinterval()))
    gc.freeze()
    gc.set_threshold(*SERVING_GC_THRESHOLD)
    sys.setswitchinterval(SERVING_SWITCH_INTERVAL_S)


def _restore_the_interpreter() -> None:
    # An app stopped (a test's, say) leaves its objects to the collector again, as it was before.
    gc.unfreeze()
    if _interpreter_before:
        threshold, switch_interval = _interpreter_before.pop()
        gc.set_threshold(*threshold)
        sys.setswitchinterval(switch_interval)


def _openapi() -> OpenAPIConfig:
    vendor = "/static/vendor/swagger-ui"
    return OpenAPIConfig(
        title="Talents — API",
        version=__version__,
        description="Partagez vos talents numériques : profils, besoins, équipes flash, appariement et allocation.",
        path="/schema",
        components=Components(
            security_schemes={
                "BearerToken": SecurityScheme(
                    type="http", scheme="bearer", description="An API token (talents tokens create)"
                ),
                "SessionCookie": SecurityScheme(
                    type="apiKey",
                    security_scheme_in="cookie",
                    name="talents_session",
                    description="The session of a signed-in user (ProConnect)",
                ),
            }
        ),
        security=[{"BearerToken": []}, {"SessionCookie": []}],
        render_plugins=[
            OfflineSwagger(vendor=vendor, spec_url="/schema/openapi.json", init_js_url="/static/js/swagger-init.js"),
        ],
    )


def _set_up_templates(engine: JinjaTemplateEngine) -> None:
    install_filters(engine.engine)
    # Read once, as the code is (a change needs a restart either way): Jinja otherwise asks the file system for
    # each template's time of change at every page (2 to 3 templates a page).
    engine.engine.auto_reload = False


def create_app(extra_route_handlers: list[Any] | None = None) -> Litestar:
    """Build the application. Every piece is wired here and only here."""
    settings = get_settings()
    configure_logging(settings.app.log_level, settings.app.log_json)
    dump_stacks_on_sigusr1()
    get_engine()
    STATIC_DIR.mkdir(exist_ok=True)
    dependencies: dict[str, Provide] = {
        "db_session": Provide(provide_db_session),
        "skill_port": Provide(_provide_skill_port, sync_to_thread=False),
        "skill_port_factory": Provide(_provide_skill_port_factory, sync_to_thread=False),
        "skill_references": Provide(_provide_skill_references, sync_to_thread=False),
        **auth_routes.dependencies,
    }
    return Litestar(
        route_handlers=[
            healthz,
            readyz,
            metrics,
            AgentController,
            TaxonomyController,
            ProjectController,
            NeedController,
            create_static_files_router(path="/static", directories=[STATIC_DIR], include_in_schema=False,
                                       opt={"database": False}),
            *auth_routes.route_handlers,
            *ranking_routes.route_handlers,
            *workflow_routes.route_handlers,
            *notification_routes.route_handlers,
            *web.route_handlers,
            *(extra_route_handlers or []),
        ],
        dependencies=dependencies,
        exception_handlers=exception_handlers(),
        before_send=[add_security_headers],
        middleware=[RequestLogMiddleware(), *auth_routes.middleware],
        # What starts with the app stops with it: the in-app scheduler's thread is stopped at shutdown.
        on_startup=[
            _on_startup,
            size_request_threads,
            *workflow_routes.on_startup,
            *ranking_routes.on_startup,
            *notification_routes.on_startup,
            *scheduler.on_startup,
            _settle_the_interpreter,  # last: after everything start-up keeps
        ],
        on_shutdown=[*scheduler.on_shutdown, *ranking_routes.on_shutdown, _restore_the_interpreter],
        openapi_config=_openapi(),
        template_config=TemplateConfig(
            directory=Path(__file__).parent / "templates",
            engine=JinjaTemplateEngine,
            engine_callback=_set_up_templates,
        ),
        request_max_body_size=settings.app.max_body_bytes,
        before_request=guard_input,
        logging_config=None,
        debug=False,
    )
