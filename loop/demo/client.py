"""A small HTTP client for the JSON API and the demo project recipe.

Used by ``loop demo``, the browser tests and ``bench/ui_latency.py``: all of them
build the demo project the same way, through the public API.
"""

from __future__ import annotations

import csv
import io
import json
import random
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).resolve().parent / "data"
CSV_FILES = (
    "Youtube01-Psy.csv",
    "Youtube02-KatyPerry.csv",
    "Youtube03-LMFAO.csv",
    "Youtube04-Eminem.csv",
    "Youtube05-Shakira.csv",
)
LF_MODULE = "loop.demo.youtube_lfs"


class ApiError(RuntimeError):
    """A non-2xx answer from the API."""

    def __init__(self, status: int, body: Any, where: str) -> None:
        super().__init__(f"{where}: HTTP {status}: {body}")
        self.status = status
        self.body = body


class ApiClient:
    """Bearer-token JSON client over ``urllib`` (no extra dependency)."""

    def __init__(self, base_url: str, token: str, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def call(self, method: str, path: str, body: Any = None, *, data: bytes | None = None,
             content_type: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        if body is not None:
            data = json.dumps(body).encode()
            content_type = "application/json"
        if content_type:
            headers["Content-Type"] = content_type
        req = urllib.request.Request(self.base_url + path, data=data, method=method,
                                     headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as res:
                raw = res.read()
                if res.status == 204 or not raw:
                    return None
                # a JSON document; JSON lines (application/x-ndjson: an export) come as
                # bytes, as CSV does (a trial's script failed to parse an export as one)
                if res.headers.get_content_type() == "application/json":
                    return json.loads(raw)
                return raw
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                payload: Any = json.loads(raw)
            except ValueError:
                payload = raw[:200]
            raise ApiError(exc.code, payload, f"{method} {path}") from None

    def wait_job(self, job_id: str, timeout: float = 300.0,
                 on_idle: Callable[[], None] | None = None) -> dict[str, Any]:
        """Poll a job until it finishes; raise if it fails or takes too long."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.call("GET", f"/api/jobs/{job_id}")
            if job["status"] == "finished":
                return job  # type: ignore[no-any-return]
            if job["status"] in ("failed", "stopped", "canceled"):
                raise RuntimeError(f"job {job_id} ({job.get('type')}) {job['status']}: "
                                   f"{job.get('error')}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {job['status']} after {timeout:.0f} s")
            if on_idle is not None:
                on_idle()
            time.sleep(0.2)

    def run_job(self, pid: str, job_type: str, on_idle: Callable[[], None] | None = None,
                timeout: float = 300.0) -> dict[str, Any]:
        out = self.call("POST", f"/api/projects/{pid}/jobs", {"type": job_type})
        return self.wait_job(out["job_id"], timeout=timeout, on_idle=on_idle)


def demo_csv(files: Sequence[str] = CSV_FILES, limit: int | None = None) -> bytes:
    """The bundled CSV files concatenated under one header (optionally the first rows)."""
    lines: list[str] = []
    for i, name in enumerate(files):
        text = (DATA_DIR / name).read_bytes().decode("utf-8-sig")
        rows = list(csv.reader(io.StringIO(text, newline="")))
        buf = io.StringIO(newline="")
        w = csv.writer(buf, lineterminator="\n")
        for row in rows if i == 0 else rows[1:]:
            w.writerow(row)
        lines.append(buf.getvalue())
    out = "".join(lines)
    if limit is not None:
        rows = list(csv.reader(io.StringIO(out, newline="")))
        buf = io.StringIO(newline="")
        csv.writer(buf, lineterminator="\n").writerows(rows[: limit + 1])
        out = buf.getvalue()
    return out.encode()


#: Share of the demo comments whose ``CLASS`` is uploaded, all of it held out to
#: score the models; the other comments go up unlabeled, for the expert queue.
EVAL_SHARE = 0.3


def hold_out_gold(data: bytes, column: str, share: float, seed: int = 0) -> bytes:
    """The CSV with ``column`` kept on a seeded ``share`` of rows and blanked elsewhere.

    Upload the result with ``gold_field=column&eval_fraction=1``: the kept labels
    only score the models, and the other rows are unlabeled, as a new project's are.
    """
    rows = list(csv.reader(io.StringIO(data.decode(), newline="")))
    header, body = rows[0], rows[1:]
    col = header.index(column)
    keep = set(random.Random(seed).sample(range(len(body)), round(share * len(body))))
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for i, row in enumerate(body):
        w.writerow(row if i in keep else [*row[:col], "", *row[col + 1:]])
    return buf.getvalue().encode()


# "recalibrate" fits the label model, trains the end model, fills the queue and
# records the first point (0 gold labels) of the dashboard's learning curve.
PIPELINE = ("apply_lfs", "recalibrate")


#: The demo project's labeling guidelines (the labeling page shows them; ``g``).
GUIDELINES = """\
**spam**: the comment advertises something other than the video: it asks you to
check out, subscribe to or visit a channel, a link or an offer, or it is a chain
message or a way to make money.

**ham**: anything else about the video or the song, rude, off-topic or a question
included, as long as it advertises nothing.

Not sure? Press **s** to skip it. **u** undoes your last answer; earlier answers can
be changed under *My answers*.
"""


def create_demo_project(
    api: ApiClient,
    name: str = "YouTube comment spam",
    files: Sequence[str] = CSV_FILES,
    limit: int | None = None,
    on_idle: Callable[[], None] | None = None,
    log: Callable[[str], None] | None = None,
    guidelines: str | None = None,
) -> str:
    """Create the project, upload the comments (``CLASS`` of :data:`EVAL_SHARE` of
    them, as held-out gold only),
    then apply LFs -> recalibrate (fit, train end model, fill the queue). Returns its id."""
    say = log or (lambda _msg: None)
    spec = {"name": name, "labels": ["ham", "spam"], "lf_module": LF_MODULE,
            "text_field": "CONTENT"}
    if guidelines:
        spec["guidelines"] = guidelines
    p = api.call("POST", "/api/projects", spec)
    pid = str(p["id"])
    up = api.call("POST", f"/api/projects/{pid}/items?gold_field=CLASS&eval_fraction=1",
                  data=hold_out_gold(demo_csv(files, limit), "CLASS", EVAL_SHARE),
                  content_type="text/csv")
    say(f"uploaded {up['n_items']} comments ({up.get('n_eval', 0)} held out for evaluation)")
    for job_type in PIPELINE:
        t0 = time.monotonic()
        api.run_job(pid, job_type, on_idle=on_idle)
        say(f"{job_type}: done in {time.monotonic() - t0:.1f} s")
    return pid


def add_annotator(api: ApiClient, pid: str, name: str = "expert") -> str:
    """A new annotator token for the project."""
    return str(api.call("POST", f"/api/projects/{pid}/annotators", {"name": name})["token"])
