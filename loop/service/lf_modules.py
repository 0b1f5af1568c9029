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

import importlib
import json
import os
import re
import socket
import subprocess
import sys
from typing import Any

from loop.core.lf import LabelingFunction
from loop.errors import BadRequest, LFModuleNotOnWorker

_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def check_module_name(module: Any) -> str:
    """``module`` if it is a dotted module path, else :class:`BadRequest`."""
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
                "on the project's Rules page instead") from None
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
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise BadRequest(f"lf_module {module!r}: LF names must be unique, repeated: {dup}")
    return lfs


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
