"""The ranking indexes kept on disk between processes (see :mod:`talents.ranking`)."""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import hmac
import io
import os
import pickle  # nosec B403 - only files this app wrote and signed are read back
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, make_url

from matching import types as matching_types
from talents.kernel.settings import get_settings

__all__ = ["IndexStore"]

_FORMAT = b"talents-ranking-index-4"  # the layout of the pickled index: bump when it changes

# The profiles' dataclasses (frozen, with slots) are pickled as a call of their constructor: unpickled by
# default, each one goes through dataclasses' __setstate__, which looks their fields up again every time.
_FIELDS = {
    cls: tuple(f.name for f in dataclasses.fields(cls))
    for cls in vars(matching_types).values()
    if isinstance(cls, type) and dataclasses.is_dataclass(cls) and cls.__module__ == matching_types.__name__
}


def _by_constructor(obj: Any) -> tuple[Any, tuple[Any, ...]]:
    return type(obj), tuple(getattr(obj, name) for name in _FIELDS[type(obj)])


_DISPATCH = dict.fromkeys(_FIELDS, _by_constructor)


class IndexStore:
    """One file holding a database's ranking indexes, signed (HMAC-SHA256 with the app's secret key) so
    that only what this app wrote is ever unpickled; written atomically (temporary file, then rename)."""

    def __init__(self, path: Path, secret: str) -> None:
        self.path = path
        self._key = hashlib.sha256(secret.encode() + _FORMAT).digest()

    @classmethod
    def for_engine(cls, engine: Engine) -> IndexStore | None:
        """The store of this database per the settings, or ``None`` when indexes are not kept."""
        settings = get_settings()
        where = settings.matching.ranking_index_dir
        if where == "":
            return None
        url = engine.url.render_as_string(hide_password=False)
        name = hashlib.sha256(url.encode()).hexdigest()[:16] + ".ranking"
        parsed = make_url(url)
        if where:
            path = Path(where) / name
        elif parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
            path = Path(parsed.database).with_name(Path(parsed.database).name + ".ranking")
        else:
            path = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "talents" / name
        return cls(path, settings.app.secret_key)

    def save(self, state: dict[str, Any]) -> None:
        buffer = io.BytesIO()
        pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
        pickler.dispatch_table = _DISPATCH
        pickler.dump(state)
        payload = buffer.getvalue()
        mac = hmac.new(self._key, payload, hashlib.sha256).digest()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name, suffix=".tmp")
            with os.fdopen(fd, "wb") as f:
                f.write(_FORMAT + mac + payload)
            os.replace(tmp, self.path)
        except OSError:  # a read-only place: the index is simply rebuilt next time
            return

    def load(self) -> dict[str, Any] | None:
        try:
            data = self.path.read_bytes()
        except OSError:
            return None
        head, mac, payload = data[: len(_FORMAT)], data[len(_FORMAT) : len(_FORMAT) + 32], data[len(_FORMAT) + 32 :]
        if head != _FORMAT or not hmac.compare_digest(mac, hmac.new(self._key, payload, hashlib.sha256).digest()):
            return None
        # Tens of thousands of objects come out at once: the cyclic collector, left on, would walk the whole
        # heap several times over while they do (most of the time of reading the file in a new process).
        collecting = gc.isenabled()
        gc.disable()
        try:
            state = pickle.loads(payload)  # noqa: S301  # nosec B301 - signed by this app, checked just above
        except Exception:  # noqa: BLE001 - an unreadable copy (another version of the code): rebuild
            return None
        finally:
            if collecting:
                gc.enable()
        return state if isinstance(state, dict) else None
