"""An operator's soak trial: does ``loop serve`` keep closing the loop for an hour
without leaking?

Starts ``loop serve --workers 2`` (credentials on, not the demo) on a data directory of
its own, creates a project through the API from a WRENCH dataset (``train.json``
unlabeled, to be answered; ``valid.json`` uploaded as held-out labels to score the
models on), adds keyword rules, and drives it through the HTTP API only:

* ``--annotators`` simulated annotators (threads, each its own token) take items
  from the queue and answer with the dataset's label, one answer every 1-3 s each
  (a skip now and then);
* a dashboard tab: ``/metrics``, ``/lfs``, ``/jobs`` and the project every 3 s,
  ``/healthz?workers=2`` every 5 s;
* a rule added or switched off/on every ~4 minutes, ``test.json`` uploaded as more
  items halfway, an export (a job and its download, and ``/export``) every 10 min;
* faults an operator meets, one every ~10 minutes: kill -9 a worker, the web server,
  the whole ``loop serve`` (then started again as before), Redis, a worker's work
  horse.

Every minute it samples, into ``<dir>/soak.csv`` (one row a minute, also
``<dir>/soak.jsonl`` with the key counts by prefix): RSS and open fds of the web
server, each worker and Redis (each with its child processes) and of ``loop serve``;
the service's processes; Redis ``used_memory``, ``DBSIZE``, keys without a TTL and
keys by prefix; RQ's queue length and registries (started, finished, failed,
scheduled, deferred, canceled) and job hashes; replies kept for retries
(``Idempotency-Key``) and the workers listed in ``loop:workers``; files and bytes in the data
directory; entries in the service's ``TMPDIR`` and new entries in ``/tmp``; the log's
size; the p50/p95 latency of ``next``, ``answer`` and ``/metrics`` over the minute
and the errors; how long the answers of two minutes earlier took to be in a
recalibration (the first metrics point, ``/metrics`` ``history``, whose ``n_gold``
counts them) and the oldest answer not in one yet; whether ``/healthz`` or
``/metrics`` (``loop.overdue``) said something was wrong. At the end it waits for
the last answers to be taken in and checks every acknowledged answer is in the
export once, with its label (``<dir>/summary.json``).

Run (about 65 minutes; the service's log is ``<dir>/serve.log``)::

    python bench/soak.py --dir /tmp/soak --port 8871 --minutes 60 --data ../shared/data/sms

``--minutes 5 --fault-every 1`` is a quick check of the script itself. With three
annotators sms's 5,071 items are all answered after about 55 minutes; the last
measured run is written up in ``docs/soak.md``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

KEY = "soak-admin-key-0123456789"
RULES = [  # (name, label, keywords): the first six at the start, the rest added later
    ("free", "spam", ["free"]), ("prize", "spam", ["prize", "winner", "won"]),
    ("txt", "spam", ["txt", "text", "reply"]), ("claim", "spam", ["claim", "urgent"]),
    ("later", "ham", ["later", "lol", "ok", "home"]), ("love", "ham", ["love", "sorry", "miss"]),
    ("cash", "spam", ["cash", "£"]), ("mobile", "spam", ["mobile", "ringtone"]),
    ("ill", "ham", ["i'll", "i'm", "you"]), ("call_now", "spam", ["call now", "stop"]),
    ("tonight", "ham", ["tonight", "tomorrow", "dinner"]), ("offer", "spam", ["offer", "cost"]),
]


class Api:
    """HTTP calls that ride out a restarting service: writes carry an Idempotency-Key
    and are retried on no reply, 429, 503 and 409 ``request_in_progress``."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.lock = threading.Lock()
        self.lat: dict[str, list[float]] = {}
        self.errors: dict[str, int] = {}

    def _note(self, kind: str, what: str, value: float | None = None) -> None:
        with self.lock:
            if value is None:
                self.errors[f"{kind}:{what}"] = self.errors.get(f"{kind}:{what}", 0) + 1
            else:
                self.lat.setdefault(kind, []).append(value)

    def take(self) -> tuple[dict[str, list[float]], dict[str, int]]:
        with self.lock:
            out = self.lat, self.errors
            self.lat, self.errors = {}, {}
        return out

    def call(self, method: str, path: str, token: str = KEY, body: Any = None,
             data: bytes | None = None, ctype: str | None = None, kind: str = "other",
             give_up: float = 180.0) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"}
        if method != "GET":
            headers["Idempotency-Key"] = str(uuid.uuid4())
        if body is not None:
            data, ctype = json.dumps(body).encode(), "application/json"
        if ctype:
            headers["Content-Type"] = ctype
        end = time.monotonic() + give_up
        while True:
            t0 = time.monotonic()
            try:
                req = urllib.request.Request(self.base + path, data, headers, method=method)
                with urllib.request.urlopen(req, timeout=60) as res:
                    raw = res.read()
                    self._note(kind, "", time.monotonic() - t0)
                    if res.status == 204:
                        return 204, None
                    is_json = res.headers.get_content_type() == "application/json"
                    return res.status, json.loads(raw) if is_json else raw
            except urllib.error.HTTPError as e:
                raw = e.read()
                try:
                    err = json.loads(raw)
                except ValueError:
                    err = {"error": raw[:200].decode(errors="replace")}
                busy = e.code == 409 and err.get("code") == "request_in_progress"
                self._note(kind, str(e.code))
                if not (busy or e.code in (429, 502, 503)) or time.monotonic() > end:
                    return e.code, err
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as e:
                self._note(kind, type(getattr(e, "reason", e)).__name__)
                if time.monotonic() > end:
                    raise
            time.sleep(1.0)


def multipart(name: str, content: bytes) -> tuple[bytes, str]:
    b = uuid.uuid4().hex
    body = (f"--{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode() + content + \
        f"\r\n--{b}--\r\n".encode()
    return body, f"multipart/form-data; boundary={b}"


def wrench_rows(path: Path, prefix: str, labels: list[str], gold: bool) -> list[dict[str, Any]]:
    rows = []
    for k, v in json.loads(path.read_text()).items():
        row = {"id": f"{prefix}{k}", "text": v["data"]["text"]}
        if gold:
            row["label"] = labels[v["label"]]
        rows.append(row)
    return rows


# -- the service and its processes --------------------------------------------------------------
class Service:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args, self.dir = args, Path(args.dir)
        self.data = self.dir / "data"
        self.tmp = self.dir / "tmp"
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.log = open(self.dir / "serve.log", "ab")  # noqa: SIM115 (kept open: restarts)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "LOOP_API_KEYS": KEY, "TMPDIR": str(self.tmp),
               "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "loop", "serve", "--workers", "2", "--port",
             str(self.args.port), "--data-dir", str(self.data)],
            env=env, stdout=self.log, stderr=self.log, start_new_session=True)
        end = time.monotonic() + 60
        while time.monotonic() < end:
            try:
                with urllib.request.urlopen(f"{self.url}/healthz?workers=2", timeout=5):
                    return
            except (urllib.error.URLError, OSError):
                time.sleep(0.5)
        raise RuntimeError("loop serve did not come up in 60 s; see serve.log")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.args.port}"

    def children(self) -> dict[str, int]:
        try:
            return {k: v for k, v in json.loads(
                (self.data / "serve.json").read_text())["children"].items() if v}
        except (OSError, ValueError, KeyError):
            return {}

    def redis_url(self) -> str | None:
        try:
            return str(json.loads((self.data / "serve.json").read_text())["redis_url"])
        except (OSError, ValueError, KeyError):
            return None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            self.proc.wait(timeout=60)


def tree(pid: int) -> list[int]:
    """``pid`` and its descendants."""
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                ppid = int(Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def horse(children: dict[str, int]) -> int | None:
    """A worker's work horse (RQ forks it into a process group of its own; the
    scheduler, the worker's other child, stays in the worker's), if one runs."""
    for name, pid in children.items():
        if name.startswith("worker"):
            for kid in tree(pid)[1:]:
                try:
                    if os.getpgid(kid) == kid:
                        return kid
                except ProcessLookupError:
                    pass
    return None


def rss_fds(pids: list[int]) -> tuple[float, int]:
    rss, fds = 0.0, 0
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss += int(line.split()[1]) / 1024
            fds += len(os.listdir(f"/proc/{p}/fd"))
        except OSError:
            pass
    return round(rss, 1), fds


def service_procs(marker: str) -> int:
    """Processes whose environment holds ``marker`` (the service's ``TMPDIR``): every
    process of the service but Redis (started with an environment of its own),
    orphans of a killed one too."""
    n, mark = 0, marker.encode()
    for d in os.listdir("/proc"):
        if d.isdigit() and int(d) != os.getpid():
            try:
                if mark in Path(f"/proc/{d}/environ").read_bytes().split(b"\0"):
                    n += 1
            except OSError:
                continue
    return n


_ID = re.compile(r"^([0-9a-f]{8,}|[0-9a-f-]{32,}|\d+|[A-Za-z0-9_-]{20,})$")


def prefix(key: str) -> str:
    parts = [("*" if _ID.match(s) else s) for s in key.split(":")]
    return ":".join(parts[:5])


def redis_sample(url: str) -> dict[str, Any]:
    import redis

    r = redis.Redis.from_url(url, socket_timeout=10)
    try:
        out: dict[str, Any] = {"redis_used_mb": round(r.info("memory")["used_memory"] / 2**20, 2),
                               "dbsize": r.dbsize()}
        by: dict[str, int] = {}
        noexp: dict[str, int] = {}
        keys = list(r.scan_iter(count=2000))
        with r.pipeline(transaction=False) as p:
            for k in keys:
                p.ttl(k)
            ttls = p.execute()
        for k, ttl in zip(keys, ttls, strict=True):
            pre = prefix(k.decode(errors="replace"))
            by[pre] = by.get(pre, 0) + 1
            if ttl == -1:
                noexp[pre] = noexp.get(pre, 0) + 1
        out["keys_no_ttl"] = sum(noexp.values())
        out["rq_job_hashes"] = by.get("rq:job:*", 0)
        out["idem_keys"] = by.get("loop:idem:*:*", 0)  # replies kept for retries (a day)
        out["loop_workers"] = r.scard("loop:workers")  # LoopWorkers listed, live or dead
        q = "loop"
        out["rq_queue_len"] = r.llen(f"rq:queue:{q}")
        for reg, key in (("started", "wip"), ("finished", "finished"), ("failed", "failed"),
                         ("scheduled", "scheduled"), ("deferred", "deferred"),
                         ("canceled", "canceled")):
            out[f"rq_{reg}"] = r.zcard(f"rq:{key}:{q}")
        out["_prefixes"] = by
        out["_no_ttl"] = noexp
        return out
    finally:
        r.close()


def dir_stats(path: Path) -> tuple[int, int]:
    n = size = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                size += os.path.getsize(os.path.join(root, f))
                n += 1
            except OSError:
                pass
    return n, size


def pct(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    v = sorted(xs)[min(len(xs) - 1, int(q * len(xs)))]
    return round(v, 4) if v < float("inf") else None  # None: not recalibrated (yet)


# -- the trial ------------------------------------------------------------------------------
class Soak:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.svc = Service(args)
        self.api = Api(self.svc.url)
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.acked: dict[str, str] = {}  # item id -> label, acknowledged (2xx)
        self.answers: list[tuple[float, int]] = []  # (ack time, answers acked by then)
        self.points: dict[str, tuple[float, int]] = {}  # recalibration points: id -> (at, n_gold)
        self.flags = {"healthz_bad": 0, "overdue": 0, "polls": 0}
        self.events: list[str] = []
        self.rows: list[dict[str, Any]] = []
        self.t0 = time.time()
        self.tmp_before = set(os.listdir("/tmp"))
        self.gold: dict[str, str] = {}

    def say(self, msg: str) -> None:
        line = f"{time.strftime('%H:%M:%S')} [{(time.time() - self.t0) / 60:5.1f} min] {msg}"
        print(line, flush=True)
        self.events.append(line)

    # set-up
    def setup(self) -> None:
        data = Path(self.args.data)
        labels = [v for _, v in sorted(json.loads((data / "label.json").read_text()).items(),
                                       key=lambda kv: int(kv[0]))]
        self.labels = labels
        train = wrench_rows(data / "train.json", "tr-", labels, gold=True)
        self.gold.update({r["id"]: r.pop("label") for r in train})
        valid = wrench_rows(data / "valid.json", "va-", labels, gold=True)
        self.later = wrench_rows(data / "test.json", "te-", labels, gold=True)
        self.gold.update({r["id"]: r.pop("label") for r in self.later})
        _, p = self.api.call("POST", "/api/projects", body={
            "name": f"soak-{data.name}", "labels": labels, "text_field": "text"})
        self.pid = p["id"]
        self.upload(train, "")
        self.upload(valid, "&gold_field=label&eval_fraction=1")
        _, out = self.api.call("POST", f"/api/projects/{self.pid}/rules", body={"rules": [
            {"name": n, "label": lab, "kind": "keywords", "keywords": kw}
            for n, lab, kw in RULES[:6]]})
        self.wait_job(out["job_id"])
        self.tokens = []
        for i in range(self.args.annotators):
            _, a = self.api.call("POST", f"/api/projects/{self.pid}/annotators",
                                 body={"name": f"ann{i}"})
            self.tokens.append(a["token"])
        self.say(f"project {self.pid}: {len(train)} items to answer, {len(valid)} held out")

    def upload(self, rows: list[dict[str, Any]], query: str) -> None:
        body, ctype = multipart("items.jsonl", "\n".join(json.dumps(r) for r in rows).encode())
        st, out = self.api.call("POST", f"/api/projects/{self.pid}/items?id_field=id{query}",
                                data=body, ctype=ctype)
        if st >= 300 and not (st == 409 and out.get("code") == "duplicate_upload"):
            raise RuntimeError(f"upload: {st} {out}")

    def wait_job(self, job_id: str | None, limit: float = 600) -> dict[str, Any] | None:
        end = time.monotonic() + limit
        while job_id and time.monotonic() < end:
            st, j = self.api.call("GET", f"/api/jobs/{job_id}")
            if st == 200 and j["status"] == "finished":
                res = j.get("result") or {}
                nxt = res.get("recalibrate_job") or res.get("reapplied_as")
                if not nxt:
                    return res  # type: ignore[no-any-return]
                job_id = nxt
            elif st == 200 and j["status"] in ("failed", "canceled", "stopped"):
                self.say(f"job {job_id} {j['status']}: {j.get('error')}")
                return None
            time.sleep(1)
        return None

    # load
    def annotator(self, i: int) -> None:
        tok, rnd = self.tokens[i], random.Random(i)
        path = f"/api/projects/{self.pid}/queue"
        while not self.stop.is_set():
            st, out = self.api.call("POST", f"{path}/next", tok, body={"shown": []}, kind="next")
            if st == 204:
                self.stop.wait(5)
                continue
            if st != 200:
                self.say(f"ann{i} next: {st} {out}")
                self.stop.wait(5)
                continue
            item, lease = out["item"]["id"], out["lease"]["id"]
            self.stop.wait(rnd.uniform(1, 3))
            if rnd.random() < 0.02:
                self.api.call("POST", f"{path}/skip", tok, kind="skip",
                              body={"item_id": item, "lease_id": lease})
                continue
            label = self.gold[item]
            st, out = self.api.call("POST", f"{path}/answer", tok, kind="answer",
                                    body={"item_id": item, "lease_id": lease, "label": label})
            if st == 200:
                with self.lock:
                    if item not in self.acked:
                        self.acked[item] = label
                        self.answers.append((time.time(), len(self.acked)))
            else:
                self.say(f"ann{i} answer {item}: {st} {out}")

    def dashboard(self) -> None:
        base = f"/api/projects/{self.pid}"
        n = 0
        while not self.stop.is_set():
            try:
                st, m = self.api.call("GET", f"{base}/metrics", kind="metrics", give_up=5)
                if st == 200:
                    with self.lock:
                        self.flags["polls"] += 1
                        if (m.get("loop") or {}).get("overdue"):
                            self.flags["overdue"] += 1
                        for p in m.get("history") or []:
                            if p.get("label_model") is not None:
                                self.points[p["id"]] = (p["at"], p["n_gold"])
                for path in (f"{base}/lfs", f"{base}/jobs", base):
                    self.api.call("GET", path, kind="dashboard", give_up=5)
                if n % 2 == 0:
                    try:
                        with urllib.request.urlopen(f"{self.svc.url}/healthz?workers=2",
                                                    timeout=10):
                            pass
                    except urllib.error.HTTPError:
                        with self.lock:
                            self.flags["healthz_bad"] += 1
            except (urllib.error.URLError, OSError):
                pass
            n += 1
            self.stop.wait(3)

    def operator(self) -> None:
        """Rules every ~4 min, more items halfway, an export every 10 min."""
        rnd, base = random.Random(7), f"/api/projects/{self.pid}"
        added, off = 6, set()
        last_rule = last_export = time.time()
        uploaded = False
        while not self.stop.wait(5):
            el = time.time() - self.t0
            if time.time() - last_rule > rnd.uniform(180, 300):
                last_rule = time.time()
                if added < len(RULES) and rnd.random() < 0.5:
                    n, lab, kw = RULES[added]
                    added += 1
                    st, out = self.api.call("POST", f"{base}/rules", body={
                        "name": n, "label": lab, "kind": "keywords", "keywords": kw})
                    self.say(f"rule {n} added: {st}")
                else:
                    n = RULES[rnd.randrange(added)][0]
                    st, out = self.api.call("PUT", f"{base}/rules/{n}",
                                            body={"enabled": n in off})
                    self.say(f"rule {n} {'on' if n in off else 'off'}: {st} {out.get('error', '')}")
                    if st == 200:
                        off ^= {n}
            if not uploaded and el > self.args.minutes * 30:
                uploaded = True
                self.upload(self.later, "")
                self.say(f"uploaded {len(self.later)} more items")
            if time.time() - last_export > 600:
                last_export = time.time()
                t = time.monotonic()
                _, job = self.api.call("POST", f"{base}/jobs", body={"type": "export",
                                                                     "format": "csv"})
                res = self.wait_job(job.get("job_id"))
                size = -1
                if res and res.get("download"):
                    st, raw = self.api.call("GET", res["download"])
                    size = len(raw) if st == 200 else -st
                st, raw = self.api.call("GET", f"{base}/export?format=jsonl")
                self.say(f"export: job + download {size} bytes, /export {st} "
                         f"{len(raw) if st == 200 else raw}; {time.monotonic() - t:.1f} s")

    def faults(self) -> None:
        plan = ["worker-1", "web", "serve", "redis", "horse"]
        every = self.args.fault_every * 60
        for i, what in enumerate(plan):
            if self.stop.wait(max(0.0, self.t0 + every * (i + 1) - time.time())):
                return
            kids = self.svc.children()
            if what == "serve":
                assert self.svc.proc is not None
                os.kill(self.svc.proc.pid, signal.SIGKILL)
                self.svc.proc.wait()
                t = time.monotonic()
                time.sleep(2)
                self.svc.start()
                self.say(f"kill -9 loop serve; started again, /healthz?workers=2 ok "
                         f"{time.monotonic() - t:.1f} s later")
                continue
            pid = kids.get(what)
            if what == "horse":  # a work horse mid-job, as an out-of-memory kill: within a minute
                end = time.monotonic() + 60
                while not (pid := horse(kids)) and time.monotonic() < end:
                    time.sleep(0.2)
                    kids = self.svc.children()
                if not pid:
                    what, pid = "worker-2 (no job ran for a minute)", kids.get("worker-2")
            if pid:
                os.kill(pid, signal.SIGKILL)
                self.say(f"kill -9 {what} (pid {pid})")
            else:
                self.say(f"no {what} to kill: {kids}")

    # sampling
    def sample(self, minute: int) -> None:
        now = time.time()
        row: dict[str, Any] = {"minute": minute, "time": time.strftime("%H:%M:%S")}
        kids = self.svc.children()
        for name in ("web", "worker-1", "worker-2", "redis"):
            pid = kids.get(name)
            rss, fds = rss_fds(tree(pid)) if pid else (None, None)
            row[f"rss_mb_{name}"], row[f"fds_{name}"] = rss, fds
        sp = self.svc.proc.pid if self.svc.proc else None
        row["rss_mb_serve"], row["fds_serve"] = rss_fds([sp]) if sp else (None, None)
        row["service_procs"] = service_procs(f"TMPDIR={self.svc.tmp}")
        url, extra = self.svc.redis_url(), {}
        if url:
            try:
                extra = redis_sample(url)
            except Exception as exc:  # noqa: BLE001 (Redis restarting: a gap, said)
                row["redis_error"] = type(exc).__name__
        row.update({k: v for k, v in extra.items() if not k.startswith("_")})
        row["data_files"], row["data_bytes"] = dir_stats(self.svc.data)
        row["tmpdir_entries"] = len(os.listdir(self.svc.tmp))
        row["tmp_new_entries"] = len(set(os.listdir("/tmp")) - self.tmp_before)
        row["log_bytes"] = os.path.getsize(self.svc.dir / "serve.log")
        lat, errs = self.api.take()
        for kind in ("next", "answer", "metrics"):
            row[f"{kind}_p50_ms"] = (p := pct(lat.get(kind, []), 0.5)) and round(p * 1000, 1)
            row[f"{kind}_p95_ms"] = (p := pct(lat.get(kind, []), 0.95)) and round(p * 1000, 1)
        row["requests"] = sum(len(v) for v in lat.values())
        row["errors"] = sum(errs.values())
        row["error_kinds"] = " ".join(f"{k}={v}" for k, v in sorted(errs.items()))
        with self.lock:
            row["answers_acked"] = len(self.acked)
            pts = sorted(self.points.values())
            answers = list(self.answers)
            row["recal_points"] = len(pts)
            row["healthz_bad"], row["overdue_polls"] = (self.flags["healthz_bad"],
                                                         self.flags["overdue"])
        # answer -> the first recalibration point at or after it that counts it
        lags, oldest = [], 0.0
        for t_ack, c in answers:
            hit = next((at for at, n in pts if at >= t_ack and n >= c), None)
            if hit is None:
                oldest = max(oldest, now - t_ack)
            elif now - 180 <= t_ack < now - 120:
                lags.append(hit - t_ack)
        row["answers_2min_ago"] = len(lags)
        row["recal_lag_p50_s"] = pct(lags, 0.5)
        row["recal_lag_p95_s"] = pct(lags, 0.95)
        row["recal_lag_max_s"] = round(max(lags), 2) if lags else None
        row["oldest_unrecalibrated_s"] = round(oldest, 1)
        self.rows.append(row)
        with open(self.svc.dir / "soak.jsonl", "a") as f:
            f.write(json.dumps({**row, "prefixes": extra.get("_prefixes"),
                                "no_ttl": extra.get("_no_ttl")}) + "\n")
        cols: list[str] = []
        for r in self.rows:
            cols += [k for k in r if k not in cols]
        with open(self.svc.dir / "soak.csv", "w", newline="") as f:
            w = csv.DictWriter(f, cols)
            w.writeheader()
            w.writerows(self.rows)
        print(" ".join(f"{k}={row[k]}" for k in ("minute", "answers_acked", "rss_mb_web",
                                                   "rss_mb_redis", "redis_used_mb", "dbsize",
                                                   "recal_lag_p95_s", "oldest_unrecalibrated_s",
                                                   "answer_p95_ms") if k in row), flush=True)

    def check(self) -> dict[str, Any]:
        """Wait for the last answers to be recalibrated, then compare the export."""
        end = time.monotonic() + 240
        n = len(self.acked)
        last_n = -1
        while time.monotonic() < end:
            st, m = self.api.call("GET", f"/api/projects/{self.pid}/metrics")
            hist = [p for p in m.get("history") or [] if p.get("label_model") is not None]
            with self.lock:
                self.points.update({p["id"]: (p["at"], p["n_gold"]) for p in hist})
            last_n = max((p["n_gold"] for p in hist), default=-1)
            if last_n >= n:
                break
            time.sleep(5)
        st, raw = self.api.call("GET", f"/api/projects/{self.pid}/export?format=jsonl")
        rows = [json.loads(x) for x in raw.decode().splitlines() if x.strip()]
        ids = [r["id"] for r in rows]
        answered = {r["id"]: r for r in rows if r.get("annotator")}
        wrong = [i for i, lab in self.acked.items() if i in answered
                 and answered[i]["gold"] != lab]
        with self.lock:
            pts = sorted(self.points.values())
            answers = list(self.answers)
        lags = [(next((at for at, g in pts if at >= t and g >= c), float("inf")) - t, t)
                for t, c in answers]
        worst = max(lags, default=(0.0, self.t0))
        return {"answers_acked": n, "answered_in_export": len(answered),
                "recal_lag_s": {"p50": pct([x for x, _ in lags], 0.5),
                                "p95": pct([x for x, _ in lags], 0.95),
                                "max": round(worst[0], 2) if worst[0] < float("inf") else None,
                                "max_at_minute": round((worst[1] - self.t0) / 60, 1),
                                "never": sum(x == float("inf") for x, _ in lags)},
                "missing": sorted(set(self.acked) - set(answered))[:20],
                "extra": sorted(set(answered) - set(self.acked))[:20],
                "wrong_label": wrong[:20], "duplicate_ids": len(ids) - len(set(ids)),
                "metrics_n_answers": m.get("n_answers"), "metrics_n_gold": m.get("n_gold"),
                "last_recalibration_n_gold": last_n, "events": self.events}

    def run(self) -> int:
        self.svc.start()
        self.say(f"loop serve up on {self.svc.url}, data in {self.svc.data}")
        try:
            self.setup()
            self.t0 = time.time()
            threads = [threading.Thread(target=self.annotator, args=(i,), daemon=True)
                       for i in range(self.args.annotators)]
            threads += [threading.Thread(target=f, daemon=True)
                        for f in (self.dashboard, self.operator, self.faults)]
            for t in threads:
                t.start()
            self.sample(0)
            for minute in range(1, self.args.minutes + 1):
                if self.stop.wait(max(0.0, self.t0 + 60 * minute - time.time())):
                    break
                self.sample(minute)
            self.stop.set()
            for t in threads:
                t.join(timeout=70)
            summary = self.check()
            self.sample(self.args.minutes + 1)
            (self.svc.dir / "summary.json").write_text(json.dumps(summary, indent=2))
            print(json.dumps({k: v for k, v in summary.items() if k != "events"}, indent=2))
            return 0
        finally:
            self.stop.set()
            self.svc.stop()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dir", default="/tmp/loop-soak", help="data, log and results")
    p.add_argument("--port", type=int, default=8871)
    p.add_argument("--minutes", type=int, default=60)
    p.add_argument("--fault-every", type=float, default=10.0, help="minutes between faults")
    p.add_argument("--annotators", type=int, default=3)
    p.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared/data/sms"),
                   help="a WRENCH dataset folder (train, valid, test, label.json)")
    return Soak(p.parse_args()).run()


if __name__ == "__main__":
    sys.exit(main())
