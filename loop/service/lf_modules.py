"""LF modules: Python modules of labeling functions, named by a project.

Trust boundary: an LF module is code, run by the workers with their rights. It is
never uploaded through the API; a project only *names* a module that is already
importable on the workers (``PYTHONPATH``, e.g. ``./lfs`` mounted in compose).
So whoever can put files on the workers' path decides what runs, and the API
key decides only which of those modules a project uses. The web process never
imports an LF module: it checks one in a subprocess with a time limit
(:func:`check_lf_module`), so a module that exits, hangs or crashes on import
cannot take a web worker down.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.machinery
import importlib.util
import json
import os
import re
import socket
import subprocess
import sys
import time
from typing import Any

from loop.core.lf import LabelingFunction
from loop.core.rules import good_lf_name
from loop.errors import BadRequest, LFModuleNotOnWorker, LFModulesDiffer, shorten

_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def check_module_name(module: Any) -> str:
    """``module`` if it is a dotted module path, else :class:`BadRequest`."""
    if isinstance(module, str) and module.lower().endswith(".py") and len(module) < 200:
        # new-user trial: "yo_lfs.py" failed on import with "'yo_lfs' is not a package"
        path = module[:-3].replace("\\", "/").strip("/")
        folder, _, name = path.rpartition("/")
        if _DOTTED.match(name):
            raise BadRequest(
                f"lf_module is a module's name, not its file: {name!r} for {module!r}"
                + (f" (with the folder {folder!r} on PYTHONPATH, or "
                   f"{path.replace('/', '.')!r} where it is a package)" if folder else ""))
    if not isinstance(module, str) or not _DOTTED.match(module) or len(module) > 200:
        raise BadRequest(f"lf_module must be a dotted module path such as 'my_lfs' or "
                         f"'team.lfs', got {module!r}")
    return module


def load_lfs(module: str) -> list[LabelingFunction]:
    """The LFs of ``module``: its ``LFS`` list, else every LabelingFunction it defines
    (in definition order). Imports the module: for workers only."""
    check_module_name(module)
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        if isinstance(exc, ModuleNotFoundError) and exc.name and module.startswith(exc.name):
            # a new user tried "my_lfs" against the running demo: say where it looks;
            # on a worker, the module may be on the other machines and not on this one
            path = os.environ.get("PYTHONPATH")
            raise LFModuleNotOnWorker(
                f"cannot import lf_module {module!r} on {socket.gethostname()}: {exc}. "
                f"Modules are imported from the working directory ({os.getcwd()})"
                + (f" and PYTHONPATH ({path})" if path else "") + " of the service and "
                "of every worker: put the module there on each machine that runs workers "
                "(with docker compose, in ./lfs) and restart its workers, or write rules "
                "in the Rules section of the project's dashboard instead.") from None
        raise BadRequest(f"cannot import lf_module {module!r}: {exc}") from None
    except Exception as exc:  # a syntax error, a NameError at import: say where
        raise BadRequest(f"lf_module {module!r} raised {type(exc).__name__} on import: "
                         f"{str(exc)[:300]}") from exc
    lfs = getattr(mod, "LFS", None)
    if lfs is None:
        lfs = [v for v in vars(mod).values() if isinstance(v, LabelingFunction)]
    lfs = list(lfs)
    if not lfs:
        raise BadRequest(f"lf_module {module!r} defines no labeling functions "
                         "(decorate them with @labeling_function())")
    bad = [repr(x) for x in lfs if not isinstance(x, LabelingFunction)]
    if bad:
        raise BadRequest(f"lf_module {module!r}: LFS holds non-LFs, e.g. {bad[0][:80]}")
    names = [lf.name for lf in lfs]
    # an LF's name is an L column and a URL path segment: one with a "/" could not be
    # switched off (security trial); spaces are fine there
    bad_name = next((n for n in names if not good_lf_name(str(n))), None)
    if bad_name is not None:
        raise BadRequest(f"lf_module {module!r}: the LF name {shorten(str(bad_name), 60)!r} "
                         "has a '/', '\\', a control or invisible character, is dots alone "
                         "or is over 100 characters; give it another name "
                         "(@labeling_function(name=...))")
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise BadRequest(f"lf_module {module!r}: LF names must be unique, repeated: {dup}")
    return lfs


#: Seconds between two notes of a worker's LF-module versions (:func:`note_versions`).
NOTE_EVERY = 30.0


def _digest_of(path: str | None) -> str | None:
    """A hash of the file at ``path`` (None: no file)."""
    if not path or not os.path.isfile(path):
        return None
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:16]


def module_version(module: str) -> str | None:
    """A hash of ``module``'s file as this machine would import it, found without
    running it (None where it is not found)."""
    return _digest_of(module_file(module))


def module_file(module: str) -> str | None:
    """The file of ``module``: the one this process imported, else the one it would
    import (:func:`_origin`)."""
    loaded = sys.modules.get(module)
    return getattr(loaded, "__file__", None) if loaded is not None else _origin(module)


def _origin(module: str) -> str | None:
    """The file ``module`` would be imported from, found on ``sys.path`` without
    importing its packages (a worker's own process never runs a project's code:
    an ``__init__`` that exits would take the worker down). A package this process
    has imported already (``loop`` itself) is asked as Python would."""
    parts = module.split(".")
    if parts[0] in sys.modules and len(parts) > 1:
        try:
            spec = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            return None
        return None if spec is None else spec.origin
    path: list[str] | None = None
    spec = None
    for i in range(len(parts)):
        spec = importlib.machinery.PathFinder.find_spec(".".join(parts[:i + 1]), path)
        if spec is None:
            return None
        locations = spec.submodule_search_locations
        path = None if locations is None else list(locations)
        if path is None and i < len(parts) - 1:
            return None
    return None if spec is None else spec.origin


def versions_key(module: str) -> str:
    return f"loop:lf_module_versions:{module}"


def note_versions(connection: Any, worker: str, modules: list[str]) -> dict[str, str | None]:
    """Note, for each of ``modules``, the version this worker's machine has (kept
    two notes' time): the worker that plans an apply run compares them with its
    own (:func:`check_versions_agree`). Returns them (None: not found here)."""
    host, now = socket.gethostname(), time.time()
    versions: dict[str, str | None] = {}
    with connection.pipeline() as p:
        for module in modules:
            path = module_file(module)
            versions[module] = _digest_of(path)
            p.hset(versions_key(module), worker, json.dumps(
                {"host": host, "path": path, "version": versions[module], "at": now}))
            p.expire(versions_key(module), int(4 * NOTE_EVERY))
        p.execute()
    return versions


def check_versions_agree(connection: Any, module: str) -> None:
    """:class:`LFModulesDiffer` when a live worker noted another version of
    ``module`` than the one this worker imported, since this copy was last written
    (a note from before an edit here may be stale; one after it is not; workers
    that read the same file note the same version). Operator's trial: with two
    versions on two machines, each apply run published the version of the machine
    that planned it, and ``L`` flipped between them."""
    from loop.service.worker import alive_key

    path = module_file(module)
    version = _digest_of(path)
    if version is None:
        return
    written = os.path.getmtime(str(path))
    host = socket.gethostname()
    other: dict[str, list[str]] = {}
    for worker, raw in connection.hgetall(versions_key(module)).items():
        note = json.loads(raw)
        name = worker.decode() if isinstance(worker, bytes) else str(worker)
        if (note.get("version") in (None, version) or float(note.get("at", 0)) <= written
                or not connection.exists(alive_key(name))):
            continue
        where = f"{note.get('host')} {note.get('path') or ''}".strip()
        other.setdefault(f"{where} (version {note['version']})", []).append(name)
    if other:
        theirs = "; ".join(f"{k}: worker {', '.join(sorted(v))}" for k, v in sorted(other.items()))
        raise LFModulesDiffer(
            f"the workers have different versions of lf_module {module!r}: {host} {path} "
            f"(version {version}, which planned this run) and {theirs}. Copy one version "
            "to every machine (and directory) workers import it from, restart those "
            "workers, and apply the LFs again.")


def check_lf_module(module: Any, timeout: float = 20.0) -> list[str]:
    """Import ``module`` in a fresh interpreter (never in this process) and return
    its LF names; :class:`BadRequest` naming the cause when it cannot be used
    (not a module path, not importable, raises, exits or hangs on import, no LFs)."""
    name = check_module_name(module)
    cmd = [sys.executable, "-m", "loop.service.lf_modules", name]
    try:
        done = subprocess.run(cmd, capture_output=True, timeout=timeout, text=True,
                              stdin=subprocess.DEVNULL, check=False)
    except subprocess.TimeoutExpired:
        raise BadRequest(f"lf_module {name!r} did not finish importing within "
                         f"{timeout:g} s") from None
    lines = done.stdout.strip().splitlines()
    try:
        result = json.loads(lines[-1]) if lines else None
    except ValueError:
        result = None
    if not isinstance(result, dict):
        raise BadRequest(f"lf_module {name!r} exited with code {done.returncode} while "
                         "being imported")
    if "error" in result:
        raise BadRequest(str(result["error"]))
    return [str(x) for x in result["lfs"]]


def _main(argv: list[str]) -> int:
    """``python -m loop.service.lf_modules MODULE``: print ``{"lfs": [...]}`` or
    ``{"error": ...}`` as the last line of stdout."""
    module = argv[0] if argv else ""
    try:
        out: dict[str, Any] = {"lfs": [lf.name for lf in load_lfs(module)]}
    except BadRequest as exc:
        out = {"error": str(exc)}
    except SystemExit as exc:
        out = {"error": f"lf_module {module!r} called sys.exit({exc.code!r}) on import"}
    except BaseException as exc:  # noqa: B036 - report anything the import raises
        out = {"error": f"lf_module {module!r} raised {type(exc).__name__} on import: "
                        f"{str(exc)[:300]}"}
    sys.stdout.write("\n" + json.dumps(out) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
