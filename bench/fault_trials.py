"""Fault trials: what a careful operator does to a running service, repeated and measured.

Not a test (the tests in ``tests/service/test_faults.py``, ``test_supervisor.py``,
``test_job_limits.py`` and ``tests/test_compose.py`` check the same behaviour once
each). This runs the real ``loop serve`` (a subprocess, embedded Redis), puts
annotators on it, and then:

* kills each child with SIGKILL ``--repeats`` times while the annotators keep
  answering: seconds until ``/healthz`` reports Redis and every worker again;
* kills the worker that runs a recalibration, and the one that runs an end-model
  retrain, in the middle of it (150,000-item synthetic project): seconds until a
  recalibration and a retrain have completed again, with answers still coming;
  then kills only a recalibration's work horse (its worker lives on), and cancels a
  running one through the API: seconds until a recalibration completed again;
* feeds it bad input: LF modules that exit, raise, hang or define nothing; an LF
  that never returns; malformed uploads; the same upload three times at once;
* stops it with Ctrl-C (SIGINT) after the load: seconds, exit code, leftovers;
* with ``--compose`` and a Docker engine: ``docker compose`` up, answers, SIGKILL of
  every container, up again.

Every acknowledged answer is then looked for in the export. Writes
``docs/fault_trials.md``. Run: ``.venv/bin/python bench/fault_trials.py [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "service"))  # lfs_hang, lfs_slow (LF modules)
DOC = ROOT / "docs" / "fault_trials.md"
KEY = "fault-trials-key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Api:
    def __init__(self, base: str, token: str = KEY) -> None:
        self.base, self.token = base, token

    def call(self, method: str, path: str, body: Any = None, data: bytes | None = None,
             ctype: str = "application/json", token: str | None = None) -> tuple[int, Any]:
        req = urllib.request.Request(
            self.base + path, method=method, data=data if data is not None else (
                None if body is None else json.dumps(body).encode()),
            headers={"Authorization": f"Bearer {token or self.token}", "Content-Type": ctype})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                raw = r.read()
                js = r.headers.get("Content-Type", "").startswith("application/json")
                return r.status, (json.loads(raw) if raw and js else raw)
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                return e.code, json.loads(raw)
            except ValueError:
                return e.code, raw

    def health(self) -> dict[str, Any] | None:
        try:
            with urllib.request.urlopen(self.base + "/healthz", timeout=2) as r:
                return dict(json.load(r))
        except (urllib.error.URLError, OSError, ValueError):
            return None

    def job(self, pid: str, kind: str, timeout: float = 300) -> dict[str, Any]:
        _, j = self.call("POST", f"/api/projects/{pid}/jobs", {"type": kind})
        end = time.time() + timeout
        while time.time() < end:
            _, st = self.call("GET", f"/api/jobs/{j['job_id']}")
            if st["status"] in ("finished", "failed", "stopped", "canceled"):
                return dict(st)
            time.sleep(0.2)
        raise TimeoutError(f"{kind} did not end")


def wait(pred: Any, timeout: float, every: float = 0.1) -> bool:
    end = time.time() + timeout
    while time.time() < end:
        try:
            if pred():
                return True
        except (urllib.error.URLError, OSError, ValueError, KeyError, TypeError):
            pass
        time.sleep(every)
    return False


class Annotators:
    """Threads that lease and answer until stopped; they remember every answer the
    service acknowledged (2xx)."""

    def __init__(self, api: Api, pid: str, tokens: list[str],
                 labels: tuple[str, ...] = ("ham", "spam")) -> None:
        self.api, self.pid, self.tokens, self.labels = api, pid, tokens, labels
        self.acked: dict[str, str] = {}
        self.errors = 0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(t,)) for t in tokens]

    def _run(self, token: str) -> None:
        while not self._stop.is_set():
            try:
                st, got = self.api.call("POST", f"/api/projects/{self.pid}/queue/next",
                                        token=token)
                if st != 200:
                    time.sleep(0.2)
                    continue
                item = got["item"]["id"]
                label = self.labels[len(self.acked) % len(self.labels)]
                st, _ = self.api.call("POST", f"/api/projects/{self.pid}/queue/answer", {
                    "item_id": item, "label": label, "lease_id": got["lease"]["id"]},
                    token=token)
                if 200 <= st < 300:
                    self.acked[item] = label
                time.sleep(0.2)  # about five answers a second each
            except (urllib.error.URLError, OSError, ValueError, KeyError, TypeError):
                self.errors += 1
                time.sleep(0.2)  # a process is being restarted

    def __enter__(self) -> Annotators:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=60)

    def lost(self, api: Api) -> int:
        _, raw = api.call("GET", f"/api/projects/{self.pid}/export?format=jsonl")
        gold = {r["id"]: r["gold"] for r in map(json.loads, raw.decode().splitlines())
                if r["source"] == "gold"}
        return sum(1 for i, lab in self.acked.items() if gold.get(i) != lab)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (ProcessLookupError, FileNotFoundError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def serve(tmp: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "LOOP_API_KEYS": KEY,
           "PYTHONPATH": os.pathsep.join([str(ROOT / "tests" / "service"), str(ROOT)])}
    env.pop("LOOP_REDIS_URL", None)
    log = open(Path(tmp) / "serve.log", "wb")  # noqa: SIM115
    return subprocess.Popen([sys.executable, "-m", "loop.cli", "serve", "--port", str(port),
                             "--data-dir", tmp, "--workers", str(workers), "--web-workers", "2"],
                            env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)


def demo_project(api: Api, n_annotators: int) -> tuple[str, list[str]]:
    from loop.demo.client import demo_csv

    _, p = api.call("POST", "/api/projects", {"name": "faults", "labels": ["ham", "spam"],
                                              "lf_module": "loop.demo.youtube_lfs",
                                              "text_field": "CONTENT"})
    pid = p["id"]
    for _ in range(3):  # 5,868 comments: enough for the annotators of a whole trial
        api.call("POST", f"/api/projects/{pid}/items", data=demo_csv(), ctype="text/csv")
    for kind in ("apply_lfs", "recalibrate"):
        assert api.job(pid, kind)["status"] == "finished"
    toks = [api.call("POST", f"/api/projects/{pid}/annotators", {"name": f"a{i}"})[1]["token"]
            for i in range(n_annotators)]
    return pid, toks


# -- the trials -----------------------------------------------------------------------------
def trial_children(args: argparse.Namespace, rows: list[dict[str, Any]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        proc = serve(tmp, port, args.workers)
        api = Api(f"http://127.0.0.1:{port}")
        state = Path(tmp) / "serve.json"
        try:
            assert wait(lambda: api.health()["workers"] == args.workers, 90), "not up"
            pid, toks = demo_project(api, args.annotators)
            with Annotators(api, pid, toks) as ann:
                for name in ("worker-1", "web", "redis"):
                    secs = []
                    for _ in range(args.repeats):
                        time.sleep(2)
                        victim = json.loads(state.read_text())["children"][name]
                        before = len(ann.acked)
                        os.kill(victim, signal.SIGKILL)
                        t0 = time.time()
                        ok = wait(lambda v=victim, n=name, b=before: json.loads(
                            state.read_text())["children"][n] != v
                            and api.health()["workers"] == args.workers
                            and len(ann.acked) > b, 120)
                        secs.append(time.time() - t0 if ok else float("nan"))
                    rows.append({"trial": f"kill -9 `loop serve`'s {name.split('-')[0]} "
                                          "(annotators answering)",
                                 "times": args.repeats, "seconds": secs})
                time.sleep(3)
            lost = ann.lost(api)
            for r in rows[-3:]:
                r["acked"], r["lost"] = len(ann.acked), lost
            # Ctrl-C after the load
            children = json.loads(state.read_text())["children"]
            t0 = time.time()
            os.killpg(proc.pid, signal.SIGINT)
            code = proc.wait(timeout=30)
            took = time.time() - t0
            left = [p for p in children.values() if alive(p)]
            rows.append({"trial": "Ctrl-C (SIGINT) to `loop serve` after the kills above",
                         "times": 1, "seconds": [took],
                         "note": f"exit code {code}; processes left {len(left)}; log ends "
                                 f"with {Path(tmp, 'serve.log').read_text().split()[-1]!r}"})
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def trial_mid_job(args: argparse.Namespace, rows: list[dict[str, Any]]) -> None:
    import redis as redis_py

    from loop.service import models
    from loop.service.synthetic import write_project
    from loop.storage import RedisStore

    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        proc = serve(tmp, port, args.workers)
        api = Api(f"http://127.0.0.1:{port}")
        state = Path(tmp) / "serve.json"
        try:
            assert wait(lambda: api.health()["workers"] == args.workers, 90), "not up"
            store = RedisStore(redis_py.Redis.from_url(json.loads(state.read_text())[
                "redis_url"]))
            pid, _ = write_project(store, args.synthetic, n_eval=500)
            models.recalibrate(store, pid, 100)
            models.retrain_end_model(store, pid, 100)
            toks = [api.call("POST", f"/api/projects/{pid}/annotators",
                             {"name": f"a{i}"})[1]["token"] for i in range(2)]

            def closed_since(t: float) -> bool:
                _, m = api.call("GET", f"/api/projects/{pid}/metrics")
                oks = [m[k]["last_ok_at"] for k in ("recalibration", "end_model_training")]
                return all(x is not None and x > t for x in oks)

            with Annotators(api, pid, toks, labels=("neg", "pos")) as ann:
                for lock, label in (("recal", "a recalibration"),
                                    ("end_model", "an end-model retrain")):
                    secs = []
                    for _ in range(args.repeats):
                        if not wait(lambda lk=lock: store.is_locked(pid, lk), 120, 0.002):
                            secs.append(float("nan"))
                            continue
                        # the worker holding it: whichever runs a job of this project now
                        pids = [json.loads(state.read_text())["children"][f"worker-{i + 1}"]
                                for i in range(args.workers)]
                        busy = [p for p in pids if any(
                            alive(int(c)) for c in Path(f"/proc/{p}/task/{p}/children")
                            .read_text().split())]
                        for p in busy or pids:
                            os.kill(p, signal.SIGKILL)
                        t0 = time.time()
                        ok = wait(lambda t=t0: closed_since(t), 120, 0.5)
                        secs.append(time.time() - t0 if ok else float("nan"))
                    rows.append({"trial": f"kill -9 the worker running {label} "
                                          f"({args.synthetic:,} items, annotators answering)",
                                 "times": args.repeats, "seconds": secs,
                                 "note": "seconds until a recalibration and a retrain "
                                         "completed again"})
                # Redis itself, while a worker runs a recalibration: the worker must
                # outlive the outage (RQ quits it when its job ends without Redis)
                secs, restarted = [], 0
                for _ in range(args.repeats):
                    if not wait(lambda: store.is_locked(pid, "recal"), 120, 0.002):
                        secs.append(float("nan"))
                        continue
                    children = json.loads(state.read_text())["children"]
                    workers_before = {children[f"worker-{i + 1}"] for i in range(args.workers)}
                    os.kill(children["redis"], signal.SIGKILL)
                    t0 = time.time()
                    ok = wait(lambda t=t0: closed_since(t), 120, 0.5)
                    secs.append(time.time() - t0 if ok else float("nan"))
                    children = json.loads(state.read_text())["children"]
                    restarted += len(workers_before - {children[f"worker-{i + 1}"]
                                                       for i in range(args.workers)})
                rows.append({"trial": f"kill -9 `loop serve`'s redis while a recalibration runs "
                                      f"({args.synthetic:,} items, annotators answering)",
                             "times": args.repeats, "seconds": secs,
                             "note": "seconds until a recalibration and a retrain completed "
                                     f"again; workers that had to be restarted: {restarted}"})

                # the work horse only (the kernel's OOM killer's pick), and a cancel
                def recal_since(t: float) -> bool:
                    _, m = api.call("GET", f"/api/projects/{pid}/metrics")
                    x = m["recalibration"]["last_ok_at"]
                    return x is not None and x > t

                for label in ("kill -9 only the work horse of", "cancel (API) of"):
                    secs = []
                    for _ in range(args.repeats):
                        if not wait(lambda: store.is_locked(pid, "recal"), 120, 0.002):
                            secs.append(float("nan"))
                            continue
                        t0 = time.time()
                        if label.startswith("kill"):
                            horses = [int(c) for i in range(args.workers)
                                      for w in [json.loads(state.read_text())["children"][
                                          f"worker-{i + 1}"]]
                                      for c in Path(f"/proc/{w}/task/{w}/children")
                                      .read_text().split()
                                      if alive(int(c)) and os.getpgid(int(c)) == int(c)]
                            for h in horses:
                                os.kill(h, signal.SIGKILL)
                        else:
                            _, js = api.call("GET", f"/api/projects/{pid}/jobs")
                            for j in js["jobs"]:
                                if j["type"] == "recalibrate" and j["status"] == "started":
                                    api.call("POST", f"/api/jobs/{j['id']}/cancel")
                        ok = wait(lambda t=t0: recal_since(t), 120, 0.1)
                        secs.append(time.time() - t0 if ok else float("nan"))
                        time.sleep(3)  # the next one is a fresh run
                    rows.append({"trial": f"{label} a running recalibration ({args.synthetic:,} "
                                          "items, annotators answering)",
                                 "times": args.repeats, "seconds": secs,
                                 "note": "seconds until a recalibration completed again"})
            lost = ann.lost(api)
            for r in rows[-5:]:
                r["acked"], r["lost"] = len(ann.acked), lost
        finally:
            os.killpg(proc.pid, signal.SIGINT)
            proc.wait(timeout=30)


def descendants(root: int) -> list[int]:
    """Every live process below ``root`` (children, their work horses, Redis)."""
    parent: dict[int, int] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                parent[int(d.name)] = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        kids = [c for c, pp in parent.items() if pp == p]
        out += kids
        todo += kids
    return out


def trial_plug(args: argparse.Namespace, rows: list[dict[str, Any]]) -> None:
    """Pull the plug: SIGKILL `loop serve` and every process below it at once (web,
    workers, their work horses, Redis), then start `loop serve` again on the same data
    directory, while annotators keep answering."""
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        proc = serve(tmp, port, args.workers)
        api = Api(f"http://127.0.0.1:{port}")
        secs, closed = [], []
        try:
            assert wait(lambda: api.health()["workers"] == args.workers, 90), "not up"
            pid, toks = demo_project(api, args.annotators)
            with Annotators(api, pid, toks) as ann:
                for _ in range(args.repeats):
                    time.sleep(4)
                    before = len(ann.acked)
                    victims = [proc.pid, *descendants(proc.pid)]
                    for v in victims:
                        try:
                            os.kill(v, signal.SIGKILL)
                        except ProcessLookupError:
                            pass
                    proc.wait()
                    wait(lambda vs=victims: not any(alive(v) for v in vs), 30)
                    t0 = time.time()
                    proc = serve(tmp, port, args.workers)
                    ok = wait(lambda b=before: (api.health() or {}).get("workers")
                              == args.workers and len(ann.acked) > b, 180)
                    secs.append(time.time() - t0 if ok else float("nan"))
                time.sleep(2)
            # every acknowledged answer in the models: the label model's last fit counts them
            want = len(ann.acked)

            def fitted() -> bool:
                _, m = api.call("GET", f"/api/projects/{pid}/metrics")
                return max((int(h["n_gold"]) for h in m["history"]), default=0) >= want

            t0 = time.time()
            in_models = wait(fitted, 180, every=1.0)
            closed.append(time.time() - t0)
            rows.append({"trial": "pull the plug: SIGKILL `loop serve` and every process "
                                  "below it at once, start it again (annotators answering)",
                         "times": args.repeats, "seconds": secs, "acked": want,
                         "lost": ann.lost(api),
                         "note": "seconds from the restart until healthy and answering "
                                 "again; every answer in the models "
                                 + (f"{closed[0]:.0f} s after the last" if in_models
                                    else "NOT within 180 s")})
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def trial_fed(args: argparse.Namespace, rows: list[dict[str, Any]]) -> None:
    from loop.demo.client import demo_csv

    with tempfile.TemporaryDirectory() as tmp:
        mods = {"exits": "import sys\nsys.exit(3)\n", "raises": "raise RuntimeError('x')\n",
                "hangs": "import time\ntime.sleep(3600)\n", "empty": "X = 1\n",
                "hard_exit": "import os\nos._exit(9)\n"}
        lfdir = Path(tmp) / "lfs"
        lfdir.mkdir()
        for name, src in mods.items():
            (lfdir / f"fed_{name}.py").write_text(src)
        port = free_port()
        env_path = os.environ.get("PYTHONPATH", "")
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(lfdir), env_path]))
        os.environ["LOOP_LF_IMPORT_TIMEOUT"] = "3"
        os.environ["LOOP_LF_CHUNK_TIMEOUT"] = "5"
        proc = serve(tmp, port, args.workers)
        api = Api(f"http://127.0.0.1:{port}")
        try:
            assert wait(lambda: api.health()["workers"] == args.workers, 90), "not up"
            codes = []
            for name in mods:
                for _ in range(args.repeats):
                    codes.append(api.call("POST", "/api/projects", {
                        "name": "x", "labels": ["a", "b"], "lf_module": f"fed_{name}"})[0])
            healthy = api.health() is not None
            rows.append({"trial": "create projects naming LF modules that exit, os._exit, "
                                  "raise, hang or define no LFs", "times": len(codes),
                         "note": f"answers {sorted(set(codes))}; web still healthy: {healthy}"})
            _, p = api.call("POST", "/api/projects", {"name": "hang", "labels": ["ham", "spam"],
                                                      "lf_module": "lfs_hang",
                                                      "text_field": "CONTENT"})
            api.call("POST", f"/api/projects/{p['id']}/items", data=demo_csv(limit=600),
                     ctype="text/csv")
            secs, msgs = [], set()
            for _ in range(args.repeats):
                t0 = time.time()
                st = api.job(p["id"], "apply_lfs", timeout=120)
                secs.append(time.time() - t0)
                msgs.add(st["status"])
            rows.append({"trial": "apply LFs where one LF never returns (LOOP_LF_CHUNK_TIMEOUT"
                                  "=5)", "times": args.repeats, "seconds": secs,
                         "note": f"run status {sorted(msgs)}, naming the LF and item; "
                                 "seconds until the run failed"})
            bad = [(b"", "text/csv"), (b"\xff\xfe", "text/csv"), (b"a,b\n1,2\n", "text/csv"),
                   (b'{"CONTENT": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n",
                    "application/x-ndjson"), (b"CONTENT\nx\n", "application/pdf")]
            pid = p["id"]
            before = api.call("GET", f"/api/projects/{pid}")[1]["n_items"]
            codes = [api.call("POST", f"/api/projects/{pid}/items", data=d, ctype=c)[0]
                     for d, c in bad for _ in range(args.repeats)]
            after = api.call("GET", f"/api/projects/{pid}")[1]["n_items"]
            rows.append({"trial": "malformed uploads (empty, not UTF-8, no text column, JSON "
                                  "nested 100,000 deep, wrong type)", "times": len(codes),
                         "note": f"answers {sorted(set(codes))}; items before/after "
                                 f"{before}/{after}"})
            data = ("id,CONTENT\n" + "".join(f"u{i},t{i}\n" for i in range(20_000))).encode()
            outcomes = []
            for _ in range(args.repeats):
                _, q = api.call("POST", "/api/projects", {
                    "name": "u", "labels": ["ham", "spam"], "lf_module": "loop.demo.youtube_lfs",
                    "text_field": "CONTENT"})
                res: list[int] = []
                ts = [threading.Thread(target=lambda q=q, res=res: res.append(api.call(
                    "POST", f"/api/projects/{q['id']}/items?id_field=id", data=data,
                    ctype="text/csv")[0])) for _ in range(3)]
                for t in ts:
                    t.start()
                for t in ts:
                    t.join()
                n = api.call("GET", f"/api/projects/{q['id']}")[1]["n_items"]
                outcomes.append((tuple(sorted(res)), n))
            rows.append({"trial": "the same 20,000-row upload three times at once",
                         "times": args.repeats,
                         "note": "; ".join(f"answers {list(c)}, items stored {n:,}"
                                           for c, n in outcomes)})
        finally:
            os.killpg(proc.pid, signal.SIGINT)
            proc.wait(timeout=30)
            os.environ.pop("LOOP_LF_IMPORT_TIMEOUT")
            os.environ.pop("LOOP_LF_CHUNK_TIMEOUT")
            os.environ["PYTHONPATH"] = env_path


def trial_compose(args: argparse.Namespace, rows: list[dict[str, Any]]) -> None:
    import shutil

    if not shutil.which("docker-compose") or subprocess.run(
            ["docker", "info"], capture_output=True).returncode != 0:
        rows.append({"trial": "docker compose: kill -9 every container", "times": 0,
                     "note": "skipped: no Docker engine"})
        return
    port = free_port()
    project = "loopfaults"
    env = {**os.environ, "LOOP_API_KEYS": KEY, "LOOP_REDIS_PASSWORD": "faults",
           "LOOP_PORT": str(port)}
    dc = ["docker-compose", "-f", str(ROOT / "docker-compose.yml"), "-p", project]
    api = Api(f"http://127.0.0.1:{port}")
    try:
        subprocess.run([*dc, "up", "-d", "--build", "--scale", "worker=2"], cwd=ROOT, env=env,
                       check=True, capture_output=True, timeout=1800)
        assert wait(lambda: api.health()["workers"] == 2, 180)
        pid, toks = demo_project(api, 4)
        secs = []
        with Annotators(api, pid, toks) as ann:
            for _ in range(args.repeats):
                time.sleep(3)
                before = len(ann.acked)
                subprocess.run([*dc, "kill", "-s", "SIGKILL"], cwd=ROOT, env=env, check=True,
                               capture_output=True)
                t0 = time.time()
                subprocess.run([*dc, "up", "-d", "--scale", "worker=2"], cwd=ROOT, env=env,
                               check=True, capture_output=True)
                ok = wait(lambda b=before: api.health()["workers"] == 2
                          and len(ann.acked) > b, 180)
                secs.append(time.time() - t0 if ok else float("nan"))
            time.sleep(2)
        rows.append({"trial": "docker compose: SIGKILL every container, then `up` again "
                              "(annotators answering)", "times": args.repeats, "seconds": secs,
                     "acked": len(ann.acked), "lost": ann.lost(api),
                     "note": "seconds from the kill until healthy and answering again"})
    finally:
        subprocess.run([*dc, "down", "-v"], cwd=ROOT, env=env, capture_output=True)


def report(rows: list[dict[str, Any]], cmd: str, load: float) -> str:
    lines = ["# Fault trials", "",
             f"Written by `bench/fault_trials.py` (`{cmd}`), "
             f"{time.strftime('%Y-%m-%d')}, on {os.cpu_count()} shared cores (load average "
             f"{load:.1f} at the start: other work on the machine slows the restarts), "
             f"{platform.machine()}, Python {platform.python_version()}. `loop serve` ran "
             "as a subprocess (embedded Redis, 2 RQ workers, 2 gunicorn workers) with "
             "annotator threads answering through the API while processes were killed; every "
             "acknowledged (2xx) answer was then looked for in the export.", "",
             "| what was killed or fed | times | answers acknowledged / lost | seconds until "
             "healthy again (each time) | notes |", "|---|---:|---:|---|---|"]
    for r in rows:
        secs = ", ".join(f"{s:.1f}" for s in r.get("seconds", [])) or "–"
        acked = f"{r['acked']:,} / {r['lost']}" if "acked" in r else "–"
        lines.append(f"| {r['trial']} | {r['times']} | {acked} | {secs} | {r.get('note', '')} |")
    lines += ["", "The same behaviours are checked once each by the tests: "
              "`tests/service/test_supervisor.py` (each child killed, Ctrl-C), "
              "`tests/service/test_faults.py` (a worker killed mid-chunk, mid-recalibration, "
              "mid-retrain; Redis killed), `tests/service/test_job_limits.py` (a hanging LF, "
              "cancel), `tests/service/test_lf_modules.py`, `tests/service/test_items.py` "
              "(concurrent uploads), `tests/test_compose.py` (compose, every container "
              "killed).", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--annotators", type=int, default=4)
    ap.add_argument("--synthetic", type=int, default=150_000)
    ap.add_argument("--compose", action="store_true", help="also the docker compose trial")
    ap.add_argument("--no-doc", action="store_true")
    ap.add_argument("--only", nargs="*", help="run only these trials (e.g. trial_mid_job)")
    args = ap.parse_args(argv)
    rows: list[dict[str, Any]] = []
    load = os.getloadavg()[0]
    for trial in (trial_children, trial_plug, trial_mid_job, trial_fed):
        if args.only and trial.__name__ not in args.only:
            continue
        print(f"== {trial.__name__}", file=sys.stderr, flush=True)
        trial(args, rows)
    if args.compose:
        trial_compose(args, rows)
    text = report(rows, "bench/fault_trials.py " + " ".join(argv or sys.argv[1:]), load)
    print(text)
    if not args.no_doc:
        DOC.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
