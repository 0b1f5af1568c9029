"""The Lua scripts in ``lua/``, registered once per client.

Each script runs atomically in Redis; with ``appendfsync always`` Redis fsyncs
a script's writes before it replies, so an acknowledged write survives kill -9.
Files starting with ``_`` hold shared Lua functions, prepended to the scripts
that use them.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

#: script -> the shared files it needs, in order.
SCRIPTS: dict[str, tuple[str, ...]] = {
    "lease": ("_payload", "_revoked"),
    "answer": ("_majority", "_revoked"),
    "undo": ("_majority", "_revoked"),
    "relabel": ("_majority", "_revoked"),
    "resolve": ("_majority",),
    "discard": ("_majority",),
    "skip": ("_revoked",),
    "release": (),
    "renew": ("_revoked",),
    "replace_queue": (),
    "append_metric": (),
    "update_metric": (),
    "apply_progress": (),
    "add_labels": (),
}


@cache
def source(name: str) -> str:
    """The full Lua text of script ``name`` (shared parts first)."""
    files = resources.files("loop.storage") / "lua"
    parts = [(files / f"{p}.lua").read_text() for p in (*SCRIPTS[name], name)]
    return "\n".join(parts)


class Scripts:
    """Registered scripts of one Redis client: ``scripts.lease(keys, args)``."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._cache: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in SCRIPTS:
            raise AttributeError(name)
        script = self._cache.get(name)
        if script is None:
            script = self._cache[name] = self._client.register_script(source(name))
        return script
