"""The ranking index kept on disk: a new process loads it and catches up instead of rebuilding."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from factories import make_agent, make_need

from talents import ranking_index
from talents.kernel.db import session_scope
from talents.kernel.settings import get_settings, reset_settings
from talents.ranking import RankingService, get_ranking_cache, resolve_need
from talents.ranking_store import IndexStore

pytestmark = pytest.mark.integration


@pytest.fixture
def store_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("TALENTS_RANKING_INDEX_DIR", str(tmp_path))
    reset_settings()
    ranking_index._caches.clear()  # a new process: no index in memory
    yield tmp_path
    ranking_index._caches.clear()
    monkeypatch.undo()
    reset_settings()


def _rank(engine):
    with session_scope(engine) as s:
        service = RankingService(s)
        need = resolve_need(s, "n1")
        out = service.rank(need, service.role_at(need, 0))
        return [(c["agent"], c["score"]) for c in out["candidates"]]


def test_a_new_process_loads_the_kept_index_and_sees_later_changes(engine, store_dir):
    make_agent(engine, "a", skills=[("python", 4)])
    make_agent(engine, "b", skills=[("python", 5)])
    make_need(engine, "n1")
    first = _rank(engine)
    assert [a for a, _ in first] == ["b", "a"] and get_ranking_cache(engine).builds == 1
    assert list(store_dir.glob("*.ranking"))
    ranking_index._caches.clear()
    make_agent(engine, "c", skills=[("python", 5)])  # after the index was kept
    again = _rank(engine)
    cache = get_ranking_cache(engine)
    assert cache.builds == 0 and cache.upserts == 1, "loaded and caught up, not rebuilt"
    assert sorted(a for a, _ in again) == ["a", "b", "c"]
    assert dict(again)["b"] == dict(first)["b"]


def test_a_kept_index_that_was_altered_is_never_read(engine, store_dir):
    make_agent(engine, "a", skills=[("python", 4)])
    make_need(engine, "n1")
    _rank(engine)
    (path,) = store_dir.glob("*.ranking")
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    assert IndexStore(path, get_settings().app.secret_key).load() is None
    ranking_index._caches.clear()
    assert [a for a, _ in _rank(engine)] == ["a"] and get_ranking_cache(engine).builds == 1


def test_an_empty_setting_keeps_nothing(engine, store_dir, monkeypatch):
    monkeypatch.setenv("TALENTS_RANKING_INDEX_DIR", "")
    reset_settings()
    make_agent(engine, "a", skills=[("python", 4)])
    make_need(engine, "n1")
    assert [a for a, _ in _rank(engine)] == ["a"]
    assert not list(store_dir.glob("*")) and get_ranking_cache(engine).store is None


def test_a_second_talents_match_loads_what_the_first_kept(engine, store_dir):
    make_agent(engine, "a", skills=[("python", 4)])
    make_agent(engine, "b", skills=[("python", 5)])
    make_need(engine, "n1")
    env = {
        **os.environ,
        "TALENTS_DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "TALENTS_RANKING_INDEX_DIR": str(store_dir),
    }
    cmd = [sys.executable, "-m", "talents.cli", "match", "n1", "--json"]
    first = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, check=True).stdout
    (path,) = store_dir.glob("*.ranking")
    kept = path.stat().st_mtime_ns
    second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, check=True).stdout
    assert json.loads(second) == json.loads(first) and [d["agent"] for d in json.loads(second)] == ["b", "a"]
    assert path.stat().st_mtime_ns == kept, "nothing changed: read, not rebuilt and written again"


def test_the_kept_profiles_come_back_equal_and_the_collector_stays_on(engine, store_dir):
    import gc

    make_agent(engine, "a", skills=[("python", 4), ("sql", 2)])
    make_need(engine, "n1")
    _rank(engine)
    built = get_ranking_cache(engine).interactive
    state = IndexStore.for_engine(engine).load()
    assert state is not None and gc.isenabled()
    assert state["interactive"].profiles_ == built.profiles_
    assert state["taxonomy_key"] == get_ranking_cache(engine).taxonomy_key


def test_a_repeat_talents_match_reads_without_the_models(engine, store_dir):
    make_agent(engine, "a", skills=[("python", 4)])
    make_need(engine, "n1")
    env = {
        **os.environ,
        "TALENTS_DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "TALENTS_RANKING_INDEX_DIR": str(store_dir),
    }
    # The command runs in a fresh interpreter, which then names the heavy modules it imported.
    script = (
        "import json, runpy, sys\n"
        "sys.argv = ['talents', 'match', 'n1', '--json']\n"
        "try:\n"
        "    runpy.run_module('talents.cli', run_name='__main__')\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "heavy = ('sqlmodel', 'sqlalchemy.orm', 'litestar', 'profiles.models', 'needs.models', 'alembic')\n"
        "print(json.dumps(sorted(m for m in heavy if m in sys.modules)), file=sys.stderr)\n"
    )
    cmd = [sys.executable, "-c", script]
    first = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(first.stderr.splitlines()[-1]), "the first call builds the index from the models' rows"
    second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(second.stdout) == json.loads(first.stdout)
    assert json.loads(second.stderr.splitlines()[-1]) == []
