"""Read your own writes where reads may lag: who wrote through this process lately, and when.

The rankings a project lead sees may be up to ``ranking_lag_s`` late on others' profile edits (one refresh of the
index then brings a while's edits at once, see :meth:`talents.ranking_index.RankingCache.current`). A caller who
has just written — proposed an agent, edited a profile, imported agents — must see it at once: the auth middleware
marks each write request of a caller from its gate to after its commit (:func:`writing`), and notes on the
request's database session whom it serves (:func:`serve`); a lagging read asks :func:`wrote_since` whether its
caller wrote since its data was last known up to date.

Per process: another worker's writes reach the reads of this one within the lag, as anybody else's.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the command line ranks without loading the ORM
    from sqlmodel import Session

__all__ = ["caller_of", "serve", "writing", "wrote_since"]

_CALLER = "talents.caller_email"  # in a session's info: whom the request's session serves
_KEPT_S = 5.0  # a write older than this is known to every read (the lag is at most 2 s)

_lock = threading.Lock()
_writing: dict[str, int] = {}  # callers with a write under way, and how many
_wrote: dict[str, float] = {}  # when each caller's last write ended (time.monotonic)


def serve(session: Session, email: str) -> None:
    """Note that ``session`` serves ``email``'s request (nothing for an anonymous caller)."""
    if email:
        session.info[_CALLER] = email


def caller_of(session: object) -> str | None:
    """Whom ``session`` serves (None: not a request's session, or anonymous)."""
    info = getattr(session, "info", None)
    return info.get(_CALLER) if isinstance(info, dict) else None


@contextmanager
def writing(email: str) -> Iterator[None]:
    """Around a write request of ``email``, from its gate to after its commit (nothing for an anonymous one)."""
    if not email:
        yield
        return
    with _lock:
        _writing[email] = _writing.get(email, 0) + 1
    try:
        yield
    finally:
        now = time.monotonic()
        with _lock:
            left = _writing.pop(email) - 1
            if left:
                _writing[email] = left
            _wrote[email] = now
            if len(_wrote) > 4096:  # forget the writes every read knows of
                for key in [k for k, at in _wrote.items() if now - at > _KEPT_S]:
                    del _wrote[key]


def wrote_since(email: str | None, since: float) -> bool:
    """``email`` has a write under way, or one that ended at ``since`` (time.monotonic) or later."""
    if not email:
        return False
    with _lock:
        return email in _writing or _wrote.get(email, float("-inf")) >= since
