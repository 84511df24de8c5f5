"""The first run as a newcomer meets it: the README's commands, the venv's console script, a fresh directory."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.integration

TALENTS = Path(sys.executable).parent / "talents"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _newcomer_env(**extra: str) -> dict[str, str]:
    """The environment of someone who just cloned the project: no TALENTS_* variable but the ones given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TALENTS_")}
    return {**env, **extra}


@pytest.fixture
def demo_server(tmp_path: Path) -> Iterator[str]:
    """``talents serve --demo`` (what ``make run`` runs) in an empty directory: the default ./talents.db."""
    port = _free_port()
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(  # noqa: S603 - our own console script
        [str(TALENTS), "serve", "--demo"], cwd=tmp_path, env=_newcomer_env(TALENTS_PORT=str(port)),
        stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        while True:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text(errors="replace")[-3000:]
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.5)
        yield base
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    assert (tmp_path / "talents.db").is_file()


@pytest.mark.slow
def test_make_run_serves_a_demo_one_can_sign_in_to(demo_server: str) -> None:
    with httpx.Client(base_url=demo_server, timeout=30) as web:
        # A visitor is sent from a signed-in page to the sign-in, which offers the demo's form.
        assert web.get("/besoins").headers["location"].startswith("/auth/login")
        login = web.get("/auth/login?next=/besoins")
        assert login.status_code in (302, 303) and login.headers["location"].startswith("/auth/demo")
        form = web.get("/auth/demo?next=/besoins")
        assert form.status_code == 200 and 'action="/auth/demo"' in form.text
        signed = web.post("/auth/demo", data={"email": "camille.martin@numerique.gouv.fr", "role": "agent",
                                              "next": "/besoins"})
        assert signed.status_code == 303 and signed.headers["location"] == "/besoins"
        page = web.get("/besoins")
        assert page.status_code == 200 and "Besoins et équipes flash" in page.text
        me = web.get("/api/v1/me").json()
        assert me["email"] == "camille.martin@numerique.gouv.fr" and "agent" in me["roles"]


@pytest.mark.slow
def test_an_idle_connection_is_kept_open_for_the_clients_next_request(demo_server: str) -> None:
    """A connection idle for 6 s (uvicorn's own default closes it after 5) still answers: a server that closes a
    kept-alive connection just as the client, or the proxy in front, sends on it fails that request."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", int(demo_server.rsplit(":", 1)[1]), timeout=10)
    try:
        conn.request("GET", "/healthz")
        first = conn.getresponse()
        assert first.status == 200 and first.read()
        kept = conn.sock
        time.sleep(6)
        conn.request("GET", "/healthz")  # on the same socket: a closed one fails here or at the answer
        again = conn.getresponse()
        assert again.status == 200 and again.read()
        assert conn.sock is kept, "answered on the connection kept open, not a new one"
    finally:
        conn.close()


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own console script
        [str(TALENTS), *args], cwd=cwd, env=_newcomer_env(TALENTS_DATABASE_URL=f"sqlite:///{cwd / 'fresh.db'}"),
        capture_output=True, text=True, timeout=180,
    )


def test_commands_print_no_library_chatter(tmp_path: Path) -> None:
    # A fresh database: the command migrates it first, which is where Alembic talks.
    result = _run(["allocate", "--dry-run", "--json"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr
    assert result.stdout.lstrip().startswith("{")


def test_verbose_shows_the_library_logs(tmp_path: Path) -> None:
    result = _run(["--verbose", "allocate", "--dry-run", "--json"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Running upgrade" in result.stderr
