"""The ``talents`` command line: serve, migrate, import, seed demo data, match and allocate."""

from __future__ import annotations

import gc
import importlib
import json
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from typer.core import TyperGroup

from talents.cli_support import err, existing, prepare, print_report, progress_bar
from talents.kernel.db import current_revision, downgrade, get_engine, head_revision, migrate, session_scope
from talents.kernel.logs import configure_logging, dump_stacks_on_sigusr1, set_verbose
from talents.kernel.settings import get_settings, reset_settings

__all__ = ["app", "main"]

# The commands of the features, each from its own package; and the one command that writes no domain
# row. ``talents match`` imports only its own package and skips the write hooks: importing everything
# (the web server, the importers, the allocation engine, e-mail rendering, the scheduler) took longer
# than the ranking itself.
_FEATURES = (
    "talents.ranking_cli",
    "talents.workflow.cli",
    "notifications.cli",
    "talents.auth.cli",
    "talents.scheduler",
)
_READ_ONLY = {"match": "talents.ranking_cli"}
_loaded: set[str] = set()


class _Commands(TyperGroup):
    """The root group: a feature's commands are registered when a command line first needs them — every
    feature for any command but ``match`` (their start-up hooks, such as the outbox, go with them)."""

    def _load(self, modules: tuple[str, ...]) -> None:
        todo = [m for m in modules if m not in _loaded]
        for module in todo:
            importlib.import_module(module).register(app)
            _loaded.add(module)
        if todo:
            self.commands.update(typer.main.get_command(app).commands)  # type: ignore[attr-defined]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:  # click's types, as typer vendors them
        if cmd_name in _READ_ONLY:
            _collector_off_until_done(ctx)
        self._load((_READ_ONLY[cmd_name],) if cmd_name in _READ_ONLY else _FEATURES)
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: Any) -> list[str]:
        self._load(_FEATURES)
        return super().list_commands(ctx)


def _collector_off_until_done(ctx: Any) -> None:
    """The cyclic garbage collector off until the command is done, then as it was. A read-only command lives a
    second, and makes hundreds of thousands of objects that live as long as it does (the modules it loads, the
    kept index): the collector, left on, walks them again and again while they are made (a tenth of a repeat
    ``talents match``); reference counting still frees everything else."""
    if gc.isenabled():
        gc.disable()
        ctx.call_on_close(_collector_on)


def _collector_on() -> None:
    # What was made meanwhile goes to the oldest generation at once (freeze, then unfreeze): turned back on
    # as it is, the collector would first walk all of it as young objects, for nothing if the process ends.
    gc.freeze()
    gc.unfreeze()
    gc.enable()


app = typer.Typer(
    help="Talents — partagez vos talents numériques.", no_args_is_help=True, add_completion=False, cls=_Commands
)
db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
taxonomy_app = typer.Typer(help="The skill taxonomy.", no_args_is_help=True)
agents_app = typer.Typer(help="Agents and their profiles.", no_args_is_help=True)
needs_app = typer.Typer(help="Needs (équipes flash) and their roles.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(taxonomy_app, name="taxonomy")
app.add_typer(agents_app, name="agents")
app.add_typer(needs_app, name="needs")


@app.callback()
def _options(
    ctx: typer.Context,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Also show the libraries' log lines")] = False,
) -> None:
    """A command prints what it did; the libraries' informational lines only with --verbose."""
    if ctx.invoked_subcommand not in _READ_ONLY:
        # imported here: they bring the workflow and the allocation engine, which `match` does not need
        from talents.workflow.allocation_job import install_triggers
        from talents.workflow.audit import install as install_audit

        install_audit()  # a priority changed by an import is traced like one changed on a page
        install_triggers()  # needs imported or created at priority 1 trigger their allocation run, as in the app
    set_verbose(verbose)
    if verbose:
        settings = get_settings()
        configure_logging(settings.app.log_level, settings.app.log_json)


FileArg = Annotated[Path, typer.Argument(help="The document to import", callback=existing)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the report as JSON")]


# --------------------------------------------------------------------------- serve
@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="Port")] = None,
    workers: Annotated[int, typer.Option(help="Worker processes")] = 1,
    demo: Annotated[bool, typer.Option("--demo", help="Seed demo data first when the database is empty")] = False,
) -> None:
    """Run the web service (migrates the database first)."""
    with _metrics_dir():
        _serve(host, port, workers, demo)


@contextmanager
def _metrics_dir() -> Iterator[None]:
    """Where every worker writes its metrics, and /metrics, in whichever worker answers, reads them all: a directory
    of the service's own, removed as it stops — unless ``PROMETHEUS_MULTIPROC_DIR`` names one already."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        yield
        return
    made = os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="talents-metrics-")
    try:
        yield
    finally:
        os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
        shutil.rmtree(made, ignore_errors=True)


def _serve(host: str | None, port: int | None, workers: int, demo: bool) -> None:
    if demo:
        # Before anything reads the settings: they are read once per process and cached, and the
        # app (and any worker process, which inherits the environment) must see the demo on.
        os.environ["TALENTS_DEMO"] = "true"
        reset_settings()
    prepare()
    if demo:
        from talents.demo import seed_demo

        with progress_bar("Demo data", None) as advance:
            seed_demo(if_empty=True, progress=advance)
    import uvicorn  # the web server: only `serve` needs it

    settings = get_settings()
    config = uvicorn.Config(
        "talents.app:create_app",
        factory=True,
        host=host or settings.app.host,
        port=port or settings.app.port,
        workers=workers,
        access_log=False,
        log_config=None,
        # On SIGTERM, requests in progress finish (the database timeouts bound them), then the process stops.
        timeout_graceful_shutdown=settings.app.shutdown_grace_s,
        timeout_keep_alive=settings.app.keep_alive_s,
        # A worker answers the supervisor's ping only once it has imported the app: on a busy machine
        # that takes longer than uvicorn's 5 s, and the workers were killed and restarted for ever.
        timeout_worker_healthcheck=60,
    )
    if workers > 1:
        dump_stacks_on_sigusr1()  # the supervisor's own; each worker's is set up with its app
        _supervisor(config).run()
        return
    # Once its graceful shutdown is over, uvicorn raises the SIGTERM again for the process to die of it (status
    # 143, as if killed): a stop that went as asked exits 0, for supervisors that read the status.
    signal.signal(signal.SIGTERM, _stopped)
    server = uvicorn.Server(config)
    server.run()
    if not server.started:
        raise typer.Exit(3)  # the app did not start (uvicorn's status for it)


def _supervisor(config: Any) -> Any:
    """uvicorn's supervisor of worker processes, which also stops listening when told to stop: its copy of the
    listening socket would otherwise accept, for the whole grace period, connections no worker ever reads."""
    from uvicorn.supervisors import Multiprocess  # the web server: only `serve` needs it

    class Supervisor(Multiprocess):
        def terminate_all(self) -> None:
            for sock in self.sockets:
                sock.close()
            super().terminate_all()

    return Supervisor(config, sockets=[config.bind_socket()])


def _stopped(_signum: int, _frame: Any) -> None:
    raise SystemExit(0)


# --------------------------------------------------------------------------- db
@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Upgrade the schema to REVISION (default: the latest)."""
    migrate(revision=revision)
    typer.echo(f"database at {revision}")


@db_app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument()]) -> None:
    """Downgrade the schema to REVISION ("base" drops everything)."""
    downgrade(revision=revision)
    typer.echo(f"database at {revision}")


@db_app.command("current")
def db_current() -> None:
    """Show the schema revision of the database and the latest one."""
    typer.echo(f"current: {current_revision()}  head: {head_revision()}")


# --------------------------------------------------------------------------- taxonomy
@taxonomy_app.command("import")
def taxonomy_import(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="ESCO skills_fr.csv / skills_en.csv, or the project's CSV/JSON taxonomy",
            callback=lambda v: [existing(p) for p in v],
        ),
    ],
    as_json: JsonOpt = False,
) -> None:
    """Import skills: the official ESCO CSV layout (French and English files merged) or the project's format."""
    from needs.models import RoleSkill  # the importers' modules: imported by the commands that use them
    from profiles.taxonomy import TaxonomyService
    from profiles.taxonomy_files import detect_and_read

    prepare()
    skills, errors = detect_and_read(files)
    with progress_bar("Skills", len(skills)) as advance, session_scope() as session:
        report = TaxonomyService(session).reconcile(skills, referencing=[(RoleSkill, "role_id")])
        advance(len(skills))
    result = {
        "created": len(report.added),
        "updated": len(report.updated),
        "merged": report.merged,
        "ambiguous": report.ambiguous,
        "errors": [{"line": n, "reason": r} for n, r in errors],
    }
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        err.print(
            f"{len(skills)} skills: {len(report.added)} created, {len(report.updated)} updated, "
            f"{len(report.merged)} merged into skills in place, {len(report.ambiguous)} ambiguous "
            f"(pending curation), {len(errors)} rejected"
        )
        for m in report.merged[:200]:
            err.print(f"  merged {m['skill_id']} into {m['into']} (by {m['by']})", markup=False)
        for a in report.ambiguous[:200]:
            err.print(f"  ambiguous {a['skill_id']} « {a['label']} »: {', '.join(a['candidates'])}", markup=False)
        for n, r in errors[:200]:
            err.print(f"  line {n}: {r}", markup=False)


@taxonomy_app.command("suggest")
def taxonomy_suggest(text: str, limit: int = 10) -> None:
    """Show the taxonomy skills closest to TEXT (what autocomplete offers)."""
    from profiles.taxonomy import TaxonomyService

    prepare()
    with session_scope() as session:
        service = TaxonomyService(session)
        res = service.resolve(text)
        typer.echo(f"{text!r} → {res.skill_id or 'pending'} ({res.confidence:.2f})")
        for s in service.suggest(text, limit=limit):
            typer.echo(f"  {s.score:5.1f}  {s.skill_id:30} {s.label_fr}")


# --------------------------------------------------------------------------- agents and needs
@agents_app.command("import")
def agents_import(
    file: FileArg, as_json: JsonOpt = False, batch_size: Annotated[int, typer.Option(min=1, max=100_000)] = 1000
) -> None:
    """Import agents from JSON Lines (or CSV with a "skills" column like "Python:4; Django:3"),
    upsert by external_id. Bad lines are reported with their numbers; good lines go in."""
    from profiles.importer import AgentImporter
    from talents.kernel.bulk import count_lines, read_records

    prepare()
    with progress_bar("Agents", count_lines(file)) as advance:
        report = AgentImporter(get_engine(), batch_size=batch_size).run(
            read_records(file), advance, csv_rows=file.suffix.lower() == ".csv"
        )
    print_report(report, as_json)
    if report.errors and not report.imported:
        raise typer.Exit(1)


@needs_app.command("import")
def needs_import(file: FileArg, as_json: JsonOpt = False) -> None:
    """Import needs from JSON Lines, upsert by external_id (unknown projects are created)."""
    from needs.importer import NeedImporter
    from profiles.taxonomy import SkillResolver
    from talents.kernel.bulk import count_lines, read_records

    prepare()
    with progress_bar("Needs", count_lines(file)) as advance:
        report = NeedImporter(get_engine(), SkillResolver).run(read_records(file), advance)
    print_report(report, as_json)
    if report.errors and not report.imported:
        raise typer.Exit(1)


# --------------------------------------------------------------------------- demo
@app.command()
def demo(
    agents: Annotated[int, typer.Option(min=0, max=1_000_000, help="How many agents")] = 3000,
    seed: Annotated[int, typer.Option(help="Random seed")] = 2020,
) -> None:
    """Seed plausible demo data: agents of several ministries and the projects of the TECH.GOUV programme."""
    from talents.demo import seed_demo

    prepare()
    with progress_bar("Demo data", agents) as advance:
        summary = seed_demo(agents=agents, seed=seed, progress=advance)
    typer.echo(json.dumps(summary, ensure_ascii=False))




def main() -> Any:
    try:
        return app()
    except ValidationError as exc:
        # Settings that break a rule (demo mode in production, a default secret): one line, not a traceback.
        reasons = "; ".join(str(e.get("msg", "")).removeprefix("Value error, ") for e in exc.errors())
        typer.echo(f"Error: invalid settings: {reasons}", err=True)
        raise SystemExit(2) from None
    finally:
        # The process ends here: the interpreter's last collection would walk every object still alive (for
        # `talents match`, the kept index: a quarter of the command's time) only for the memory to be let go
        # whole. Frozen, they are left out of it; their files and connections are closed as before.
        gc.freeze()


if __name__ == "__main__":
    main()
