"""Helpers for the browser tests and the UI benchmark (importable: conftest puts this
folder on sys.path)."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "service"))

from svc_helpers import ADMIN, run_burst  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
DOCS_IMG = HERE.parents[1] / "docs" / "img"
XSS_TEXTS = [
    "<img src=x onerror=alert(1)>",
    "nice song <script>alert(1)</script> check it",
    "fun &lt;3<br /><b>bold</b> &amp; <a href=\"javascript:alert(3)\">link</a>",
    # a direction override: "cod.exe" would read as "exe.doc" (new-user trials)
    "invoice \u202eexe.doc",
    # control characters a browser shows as nothing
    "ring\u0007 then \u001b[2J clear",
]
#: What the labeling page shows for each: entities decoded, <br> a line break,
#: formatting tags dropped, anything else shown as the text it is; a direction
#: control as its code.
XSS_SHOWN = [
    "<img src=x onerror=alert(1)>",
    "nice song <script>alert(1)</script> check it",
    "fun <3\nbold & link",
    "invoice [U+202E]exe.doc",
    "ring[U+0007] then [U+001B][2J clear",
]


class LiveServer:
    """The Flask app served by werkzeug in a thread, plus an admin API client."""

    def __init__(self, app: Any) -> None:
        from werkzeug.serving import make_server

        from loop.demo.client import ApiClient

        self.app = app
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.admin = ApiClient(self.url, ADMIN)
        self.rconn = app.extensions["loop"]["redis"]

    def run_jobs(self) -> None:
        """Work the job queue in this process (a real rq SimpleWorker, burst mode)."""
        run_burst(self.rconn)

    def close(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=5)


def sign_in(page: Any, base_url: str, token: str, pid: str, target: str = "label") -> None:
    """Use the sign-in page like a person: type the token, press Enter.

    ``target`` is the page after ``/p/<pid>/``, optionally with a query string."""
    from urllib.parse import quote

    dest = f"/p/{pid}/{target}"
    page.goto(f"{base_url}/signin?next={quote(dest, safe='/')}")
    page.fill("#token", token)
    page.keyboard.press("Enter")
    # the sign-in page's own URL ends with its ?next=<dest> too: wait until it is left
    page.wait_for_url(lambda url: url.endswith(dest) and "/signin" not in url)
    page.wait_for_load_state("load")


def press(page: Any, key: str) -> None:
    """Press an answer or skip key as a person does: once the item on screen has been
    there long enough to be read (the page ignores a key pressed sooner: the second
    half of a double press, meant for the item before), or while nothing is shown."""
    page.wait_for_function("window.loopLabel && (window.loopLabel.currentId() === null"
                           " || window.loopLabel.shownFor() >= 300)")
    page.keyboard.press(key)


def answer_next(client: Any, pid: str, label: str) -> dict[str, Any] | None:
    """Lease the queue's next item as ``client`` and answer it ``label``: the item, or
    None when nothing is left to answer."""
    nxt = client.call("POST", f"/api/projects/{pid}/queue/next")
    if nxt is None:
        return None
    client.call("POST", f"/api/projects/{pid}/queue/answer", {
        "item_id": nxt["item"]["id"], "label": label, "lease_id": nxt["lease"]["id"]})
    return nxt["item"]  # type: ignore[no-any-return]


def answered_twice(live: LiveServer, name: str, texts: list[str],
                   answers: dict[str, list[str]]) -> str:
    """A project of ``texts``, two answers an item, answered by each annotator of
    ``answers`` in the queue's order: its labels one by one, the last one again for
    the items after."""
    from loop.demo.client import LF_MODULE, ApiClient, add_annotator

    api = live.admin
    pid = str(api.call("POST", "/api/projects", {"name": name, "labels": ["ham", "spam"],
                                                 "lf_module": LF_MODULE,
                                                 "answers_per_item": 2})["id"])
    data = ("text\n" + "\n".join(texts) + "\n").encode()
    api.call("POST", f"/api/projects/{pid}/items", data=data, content_type="text/csv")
    for job in ("apply_lfs", "fit_label_model", "refill_queue"):
        api.run_job(pid, job, on_idle=live.run_jobs)
    for ann, labels in answers.items():
        expert = ApiClient(live.url, add_annotator(api, pid, ann))
        n = 0
        while answer_next(expert, pid, labels[min(n, len(labels) - 1)]) is not None:
            n += 1
    return pid


def all_tied(live: LiveServer, name: str, texts: list[str]) -> str:
    """A project of ``texts``, two answers an item, where two annotators tie on every one."""
    return answered_twice(live, name, texts, {"ann1": ["spam"], "ann2": ["ham"]})
