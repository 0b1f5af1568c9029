"""``loop demo``: the whole service on the bundled YouTube Spam Collection.

Starts embedded Redis, rq workers and the web app on 127.0.0.1, creates the
demo project (LFs from :mod:`loop.demo.youtube_lfs`), uploads the comments
with ``CLASS`` kept on 30% of them as held-out gold for evaluation only (the rest
go up unlabeled, for the expert), runs apply LFs ->
fit -> train end model -> refill queue, creates an annotator token and prints
where to go. Serves until Ctrl-C. Re-running with the same ``--data-dir``
reuses the project, the admin key and the token.
"""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.error
import urllib.request
import webbrowser
from pathlib import Path
from typing import Any

from loop.demo.client import (
    GUIDELINES,
    ApiClient,
    ApiError,
    add_annotator,
    create_demo_project,
)
from loop.service.supervisor import say
from loop.storage.projects import SCHEMA

__all__ = ["run_demo"]


def _log(msg: str) -> None:
    say(msg, who="loop demo")


def _wait_healthy(url: str, procs: list[Any], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            raise RuntimeError("a service process exited during start-up (port in use?)")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as res:
                if res.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{url} did not become healthy within {timeout:.0f} s")


def _load_state(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return {}


def run_demo(args: Any) -> int:
    """Run the demo; ``args`` has ``port``, ``workers``, ``data_dir``, ``no_browser``."""
    from loop.service_cli import run_service, stop_service

    data_dir = Path(getattr(args, "data_dir", None) or "var/demo")
    data_dir.mkdir(parents=True, exist_ok=True)
    state_file = data_dir / "demo.json"
    state = _load_state(state_file)

    def _stop(*_: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)  # until the supervisor takes over
    # LOOP_API_KEYS, when set, replaces the key the last run saved (a key rotated)
    info = run_service(workers=int(getattr(args, "workers", 2)), host="127.0.0.1",
                       port=int(getattr(args, "port", 8000)), data_dir=str(data_dir),
                       api_keys=os.environ.get("LOOP_API_KEYS") or state.get("admin_key"),
                       env={"LOOP_WORKER_LOG_LEVEL": os.environ.get("LOOP_WORKER_LOG_LEVEL",
                                                                    "WARNING")},
                       wait=False)
    try:
        _wait_healthy(info["url"], info["processes"])
        admin_key = str(info["api_keys"]).split(",")[0]
        api = ApiClient(info["url"], admin_key, timeout=60)
        pid, token = state.get("pid"), state.get("token")
        if pid:
            try:
                if api.call("GET", f"/api/projects/{pid}").get("schema") != SCHEMA:
                    _log("the saved demo project is from an older version; making a new one")
                    pid = token = None
            except ApiError:
                pid = token = None
        if not pid:
            _log("creating the demo project (1,956 YouTube comments) ...")
            pid = create_demo_project(api, log=_log, guidelines=GUIDELINES)
            token = add_annotator(api, pid, "expert")
        state = {"pid": pid, "token": token, "admin_key": admin_key}
        state_file.write_text(json.dumps(state, indent=2))
        state_file.chmod(0o600)
        base = info["url"]
        print(f"""
loop demo is running. Press Ctrl-C to stop.

  Start here:       {base}/#token={admin_key}
                    (signs you in as admin: projects, new project, data, annotators)
  Labeling page:    {base}/p/{pid}/label
  Dashboard:        {base}/p/{pid}/dashboard
  Annotator token:  {token}
  Admin API key:    {admin_key}

  One-click sign-in for the annotator (token in the URL fragment, never sent to
  the server): {base}/signin?next=/p/{pid}/label#token={token}
""", flush=True)
        if not getattr(args, "no_browser", False):
            webbrowser.open(f"{base}/#token={admin_key}")
        # From here the supervisor owns the processes: restarts any that die,
        # stops them all on Ctrl-C / SIGTERM and says "stopped".
        return int(info["supervisor"].run())
    except KeyboardInterrupt:  # Ctrl-C while the demo project was being set up
        stop_service(info)
        _log("stopped")
        return 0
    except BaseException:
        stop_service(info)
        raise
