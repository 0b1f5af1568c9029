"""The running service against the in-memory loop: does ``loop serve`` close the loop
``bench/loop_curves.py`` measures, and keep closing it?

Not a test. For each data set (WRENCH format, ``/work/shared/data/<set>``):

* **service**: starts a real ``loop serve`` (the CLI, embedded Redis in a temporary
  data dir, ``--workers`` rq workers, one web worker, a port of ``--port``) and, through
  the HTTP API only, creates a project with the set's label names and no LF module,
  uploads the train split as JSON lines with WRENCH's own LF votes
  (``votes_field=weak_labels``) and no gold column, then the test split with its labels
  held out (``gold_field=label&eval_fraction=1``): the session-48 trial of
  ``docs/benchmarks_loop.md``. One annotator (a token from ``/annotators``) answers
  ``/queue/next`` -> ``/queue/answer`` with the train split's true label, one answer
  every ``--think`` seconds, up to ``--budget`` answers. At each checkpoint (0 and
  ``--checkpoints``) it stops answering and waits until the service has caught up:
  every answer stored (``n_gold``), none since the last recalibration
  (``since_recalibration`` 0), no recalibration waiting (``loop.waiting_since``) or
  running, no job queued, started or deferred (``/jobs``), and an end-model score
  point (``history``) fitted on every answer. It records the end model's held-out
  score from ``/metrics`` (youtube: accuracy, the history point's; sms: F1 of spam,
  ``held_out_by_class``), the answers the newest end model and label model were
  fitted on, and the seconds the catch-up took (wall clock on shared cores: noisy).
* **in memory**: ``LabelingLoop`` (``loop.core.step.loop_step``'s steps) on the same
  rows in the same order (train, then test), TF-IDF on all of them as the service
  builds it, the test rows passed as ``held_out`` (never asked, never fitted by the
  end model; the label model reads their votes, as the service's does), seed 0 (the
  service's), ``query(10)`` -> ``teach`` with the true labels, batches cut at the
  checkpoints (``loop.core.simulation.next_batch``); its end model's score on the test
  rows at the same checkpoints. Also with seeds 0 .. ``--spread-seeds`` - 1 (how far
  the loop itself moves when other items are asked), and once more with the
  service's answers taught in the service's order instead of its own queries, in the
  same batches, the service's exploration picks (the export's ``random_gold``) as
  random gold: where that replay scores as the service does, the two fit the same
  models, and a difference is in which items were asked.

The two are not expected to be identical: the service ranks a queue of
``LOOP_QUEUE_SIZE`` (1,000) items and serves it one at a time while answers arrive
during its re-ranks (a recalibration every 10 answers, at most one per 5 s), where the
in-memory loop asks for exactly 10 items from models fitted on every answer before.

Rewrites its section of ``docs/benchmarks_service.md``.
Run: ``.venv/bin/python bench/service_loop.py [--datasets youtube sms] [--budget 100]
[--port 8970] [--workers 2]``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DOC = ROOT / "docs" / "benchmarks_service.md"
sys.path.insert(0, str(ROOT / "bench"))
from _report import write_section  # noqa: E402

ADMIN = "bench-service-loop-key"
DATA = Path(os.environ.get("LOOP_BENCH_DATA", "/work/shared/data"))
METRIC = {"sms": "f1"}  # F1 of class 1 (spam); accuracy elsewhere, as loop_curves
BUSY = ("queued", "started", "deferred")


# -- the data ----------------------------------------------------------------------------
def load(name: str) -> dict[str, Any]:
    """The train and test splits, their rows as the service gets them (JSON lines)."""
    from loop.core.datasets import load_wrench

    ds = load_wrench(DATA / name)
    train, test = ds.splits["train"], ds.splits["test"]
    labels = json.loads((DATA / name / "label.json").read_text())
    labels = [labels[str(c)] for c in range(len(labels))]

    def jsonl(split: Any, prefix: str, gold: bool) -> bytes:
        rows = []
        for i, (text, votes, y) in enumerate(zip(split.texts, split.L.tolist(), split.y.tolist(),
                                                 strict=True)):
            row = {"id": f"{prefix}{i}", "text": text, "weak_labels": votes}
            if gold:
                row["label"] = int(y)
            rows.append(json.dumps(row))
        return ("\n".join(rows) + "\n").encode()

    return {"name": name, "labels": labels, "train": train, "test": test,
            "train_jsonl": jsonl(train, "tr", False), "test_jsonl": jsonl(test, "te", True)}


def checkpoints(budget: int, stops: list[int]) -> list[int]:
    """0, the stops within the budget, and the budget: the answer counts scored at.

    >>> checkpoints(100, [25, 50, 100, 200])
    [0, 25, 50, 100]
    >>> checkpoints(60, [25, 50])
    [0, 25, 50, 60]
    """
    return sorted({0, budget, *[s for s in stops if 0 < s <= budget]})


# -- the service -------------------------------------------------------------------------
def start_service(tmp: str, port: int, workers: int, env_extra: dict[str, str]) -> dict[str, Any]:
    """``loop serve`` in a session of its own (so that it, and only it, can be stopped)."""
    exe = str(Path(sys.executable).parent / "loop")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOP_")}
    env.update({"LOOP_API_KEYS": ADMIN, "PYTHONPATH": str(ROOT), **env_extra})
    log = open(Path(tmp) / "serve.log", "wb")  # noqa: SIM115 (closed in stop_service)
    proc = subprocess.Popen(
        [exe, "serve", "--workers", str(workers), "--web-workers", "1", "--port", str(port),
         "--data-dir", str(Path(tmp) / "var")],
        cwd=tmp, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{url}/healthz?workers={workers}", timeout=5) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"loop serve did not come up; see {log.name}")
        time.sleep(0.5)
    return {"proc": proc, "log": log, "url": url}


def stop_service(info: dict[str, Any]) -> None:
    proc = info["proc"]
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    info["log"].close()


def newest_end_point(history: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The history point of the newest end model (points are in the order runs ended).

    >>> newest_end_point([{"n_gold": 0, "end_model": .9}, {"n_gold": 10, "end_model": None}])
    {'n_gold': 0, 'end_model': 0.9}
    """
    scored = [p for p in history if p.get("end_model") is not None]
    return scored[-1] if scored else None


def behind(m: dict[str, Any], jobs: list[dict[str, Any]], n_answers: int) -> list[str]:
    """What the service still has to do before its models reflect ``n_answers``
    answers (empty: caught up)."""
    why = []
    if m["n_gold"] != n_answers:
        why.append(f"n_gold {m['n_gold']} of {n_answers}")
    if m.get("since_recalibration"):
        why.append(f"{m['since_recalibration']} answers since the recalibration")
    if m["loop"].get("waiting_since") is not None:
        why.append("a recalibration waits")
    if m["recalibration"].get("running") or m["end_model_training"].get("running"):
        why.append("a model job runs")
    busy = [j for j in jobs if j.get("status") in BUSY]
    if busy:
        why.append(f"{len(busy)} jobs {sorted({j['status'] for j in busy})}")
    pt = newest_end_point(m["history"])
    if pt is None or pt["n_gold"] != n_answers:
        why.append(f"end model fitted on {None if pt is None else pt['n_gold']}")
    return why


def service_score(m: dict[str, Any], metric: str, positive: str) -> float | None:
    if metric == "f1":
        rep = (m.get("held_out_by_class") or {}).get("end_model")
        f1 = None if rep is None else rep["classes"][positive]["f1"]
        return None if f1 is None else float(f1)  # null: no held-out item of it
    pt = newest_end_point(m["history"])
    return None if pt is None else float(pt["end_model"])


def run_service(data: dict[str, Any], args: argparse.Namespace, say: Any) -> dict[str, Any]:
    from loop.demo.client import ApiClient

    metric = METRIC.get(data["name"], "acc")
    y_train = data["train"].y
    stops = checkpoints(args.budget, args.checkpoints)
    out: dict[str, Any] = {"points": {}, "errors": [], "asked": []}
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        t_start = time.monotonic()
        info = start_service(tmp, args.port, args.workers, {})
        try:
            api = ApiClient(info["url"], ADMIN, timeout=300)
            pid = api.call("POST", "/api/projects", {"name": data["name"],
                                                     "labels": data["labels"]})["id"]
            up = api.call("POST", f"/api/projects/{pid}/items?id_field=id&votes_field=weak_labels",
                          data=data["train_jsonl"], content_type="application/x-ndjson")
            say(f"train: {up.get('n_items', up)} items, votes {up.get('votes', {}).get('n')}")
            up = api.call("POST", f"/api/projects/{pid}/items?id_field=id&gold_field=label"
                          "&eval_fraction=1&votes_field=weak_labels",
                          data=data["test_jsonl"], content_type="application/x-ndjson")
            say(f"test: {up.get('n_items', up)} items held out")
            token = api.call("POST", f"/api/projects/{pid}/annotators", {"name": "expert"})["token"]
            ann = ApiClient(info["url"], token, timeout=300)
            seen: dict[str, dict[str, Any]] = {}  # every job seen in /jobs, by id: its last state

            def jobs_now() -> list[dict[str, Any]]:
                got = api.call("GET", f"/api/projects/{pid}/jobs")["jobs"]
                seen.update({j["id"]: j for j in got})
                return list(got)

            n = 0
            for stop in stops:
                while n < stop:
                    nxt = ann.call("POST", f"/api/projects/{pid}/queue/next", {})
                    if nxt is None:
                        out["errors"].append(f"queue empty (204) after {n} answers")
                        break
                    item = nxt["item"]["id"]
                    label = int(y_train[int(item[2:])])
                    out["asked"].append(int(item[2:]))
                    ann.call("POST", f"/api/projects/{pid}/queue/answer",
                             {"item_id": item, "lease_id": nxt["lease"]["id"], "label": label})
                    n += 1
                    out.setdefault("answered_at", []).append(time.time())
                    if n % 10 == 0:  # /jobs lists the last 50 automatic jobs: read it often
                        jobs_now()
                    if args.think and n < stop:  # the catch-up is timed from the last answer
                        time.sleep(args.think)
                t0 = time.monotonic()
                first: list[str] | None = None
                while True:
                    m = api.call("GET", f"/api/projects/{pid}/metrics")
                    why = behind(m, jobs_now(), n)
                    first = why if first is None else first
                    if not why or time.monotonic() - t0 > args.catch_up_timeout:
                        break
                    time.sleep(0.5)
                waited = time.monotonic() - t0
                lm_pts = [p for p in m["history"] if p.get("label_model") is not None]
                pt = newest_end_point(m["history"])
                out["points"][n] = {
                    "score": service_score(m, metric, data["labels"][1]),
                    "end_n_gold": None if pt is None else pt["n_gold"],
                    "lm_n_gold": lm_pts[-1]["n_gold"] if lm_pts else None,
                    "catch_up_s": waited, "behind": why, "first_behind": first,
                    "remaining": m["remaining"], "n_eval": m["n_eval"]}
                say(f"{n} answers: {out['points'][n]}")
                if why:
                    out["errors"].append(f"not caught up {args.catch_up_timeout:.0f} s after "
                                         f"{n} answers: {why}")
            # which answers the label model takes as random gold (exploration picks)
            req = urllib.request.Request(f"{info['url']}/api/projects/{pid}/export?format=jsonl",
                                         headers={"Authorization": f"Bearer {ADMIN}"})
            with urllib.request.urlopen(req, timeout=300) as res:  # JSON lines: not api.call's
                rows = [json.loads(x) for x in res.read().decode().splitlines() if x.strip()]
            out["random_gold"] = sorted(int(r["id"][2:]) for r in rows
                                        if r.get("random_gold") and r["id"].startswith("tr"))
            jobs_now()
            jobs = list(seen.values())
            out["job_list"] = sorted(
                ({k: j.get(k) for k in ("id", "type", "status", "auto", "created_at",
                                        "enqueued_at", "started_at", "ended_at", "attempts",
                                        "result")} for j in jobs),
                key=lambda j: j["created_at"] or "")
            out["jobs"] = {"n": len(jobs),
                           "failed": sum(j.get("status") == "failed" for j in jobs),
                           "retried": sum((j.get("attempts") or 1) > 1 for j in jobs),
                           "by_status": {s: sum(j.get("status") == s for j in jobs)
                                         for s in sorted({j.get("status") for j in jobs})}}
            m = api.call("GET", f"/api/projects/{pid}/metrics")
            out["end_model_fits"] = sum(p.get("end_model") is not None for p in m["history"])
            out["label_model_fits"] = sum(p.get("label_model") is not None for p in m["history"])
            out["seconds"] = time.monotonic() - t_start
        finally:
            stop_service(info)
            out["log_tail"] = (Path(tmp) / "serve.log").read_text(errors="replace")[-3000:]
    return out


# -- in memory ---------------------------------------------------------------------------
def run_memory(data: dict[str, Any], args: argparse.Namespace, seed: int,
               replay: dict[str, Any] | None = None) -> dict[str, Any]:
    """The in-memory loop's end-model score at each checkpoint, and the train rows it
    asked about, in order. ``replay``: the service's run (``asked``, ``random_gold``)
    taught in its order instead of the loop's own queries, in the same batches, its
    random picks as random gold: what the in-memory models make of the service's
    answers."""
    from loop.core.labeling_loop import LabelingLoop
    from loop.core.metrics import score
    from loop.core.simulation import next_batch

    tr, te = data["train"], data["test"]
    L = np.vstack([tr.L, te.L])
    texts = list(tr.texts) + list(te.texts)
    test_rows = np.arange(len(tr.y), len(tr.y) + len(te.y))
    held = np.zeros(len(texts), dtype=bool)
    held[test_rows] = True
    metric = METRIC.get(data["name"], "acc")
    loop = LabelingLoop(L, texts, n_classes=len(data["labels"]), random_state=seed,
                        held_out=held)
    loop.fit()
    stops = checkpoints(args.budget, args.checkpoints)
    curve: dict[int, float] = {}
    asked: list[int] = []
    n = 0
    while True:
        if n in stops:
            pred = loop.end_proba_[test_rows].argmax(axis=1)
            curve[n] = score(metric, te.y, pred)
        if n >= args.budget:
            return {"points": curve, "asked": asked}
        size = next_batch(n, args.budget, args.batch_size, stops)
        if replay is None:
            ask = loop.query(size)
            loop.teach(ask, tr.y[ask])
        else:
            ask = np.asarray(replay["asked"][n:n + size], dtype=np.intp)
            if ask.size == 0:  # the service's run stopped short
                return {"points": curve, "asked": asked}
            rnd = np.isin(ask, replay["random_gold"])
            loop.teach(ask[~rnd], tr.y[ask[~rnd]], refit=False)
            loop.teach(ask[rnd], tr.y[ask[rnd]], random=True)
        asked += [int(i) for i in ask]
        n += len(ask)


# -- report ------------------------------------------------------------------------------
def report(results: list[dict[str, Any]], args: argparse.Namespace, cmdline: str,
           head: str) -> str:
    lines = [
        "## The service closes the loop the benchmarks measure (`bench/service_loop.py`)",
        "",
        f"Command: `{cmdline}` (git `{head}`). Protocol: the script's docstring. "
        f"Seed {args.seed}; {args.workers} rq workers, 1 web worker; the annotator answers "
        f"one item every {args.think:g} s between checkpoints and stops at each until the "
        "service has caught up. Score: the end model's on the test split (held out: "
        "never asked, never fitted), accuracy, sms F1 of spam; service from `/metrics`, "
        "in memory `LabelingLoop(held_out=)` with batches of "
        f"{args.batch_size}. Catch-up: seconds from the checkpoint's last answer to a "
        "state with nothing pending (2 shared cores: noisy).",
        "",
        "| set | answers | service | in memory | service - memory | in memory, "
        f"seeds 0-{max(args.spread_seeds - 1, 0)} | in memory, the service's answers "
        "| end model fitted on | label model fitted on | catch-up (s) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        for n, p in r["service"]["points"].items():
            mem = r["memory"]["points"].get(n)
            s = p["score"]
            diff = "" if s is None or mem is None else f"{s - mem:+.3f}"
            every = [mem, *[c.get(n) for c in r["memory"].get("spread", [])]]
            every = [v for v in every if v is not None]
            spread = f"{min(every):.3f}-{max(every):.3f}" if len(every) > 1 else ""
            lines.append(f"| {r['name']} | {n} | {'-' if s is None else f'{s:.3f}'} | "
                         f"{'-' if mem is None else f'{mem:.3f}'} | {diff} | {spread} | "
                         f"{_num(r.get('replay', {}).get('points', {}).get(n))} | "
                         f"{p['end_n_gold']} | "
                         f"{p['lm_n_gold']} | {p['catch_up_s']:.1f} |")
    lines += ["", "Items asked by both: of the service's answers, those the in-memory loop "
              f"(seed {args.seed}) asked about too, in any order. Jobs: every job of the "
              "project `/jobs` listed, read every 10 answers and at each checkpoint; "
              "retried: more than one attempt. Fits: the score points of `/metrics` "
              "(`history`) with an end-model score / a label-model score.", "",
              "| set | items asked by both | jobs | failed | retried | end-model fits "
              "| label-model fits | longest catch-up (s) | service run (s) | problems |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in results:
        sv = r["service"]
        j = sv.get("jobs", {})
        longest = max((p["catch_up_s"] for p in sv["points"].values()), default=float("nan"))
        both = len(set(sv["asked"]) & set(r["memory"]["asked"]))
        lines.append(f"| {r['name']} | {both} of {len(sv['asked'])} | {j.get('n', '-')} | "
                     f"{j.get('failed', '-')} | {j.get('retried', '-')} | "
                     f"{sv.get('end_model_fits', '-')} | {sv.get('label_model_fits', '-')} | "
                     f"{longest:.1f} | "
                     f"{sv.get('seconds', 0):.0f} | "
                     f"{'; '.join(sv['errors']) or 'none'} |")
    return "\n".join(lines)


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


def git_head() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                              capture_output=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="+", default=["youtube", "sms"])
    ap.add_argument("--budget", type=int, default=100)
    ap.add_argument("--checkpoints", type=int, nargs="+", default=[25, 50, 100, 200, 300])
    ap.add_argument("--batch-size", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0, help="the in-memory loop's (the service's is 0)")
    ap.add_argument("--spread-seeds", type=int, default=5,
                    help="also run the in-memory loop with seeds 0 .. N-1, for its spread")
    ap.add_argument("--think", type=float, default=1.0, help="seconds between two answers")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--port", type=int, default=8970)
    ap.add_argument("--catch-up-timeout", type=float, default=600.0)
    ap.add_argument("--tmp", default=None, help="parent of the temporary data dir")
    ap.add_argument("--no-doc", action="store_true")
    ap.add_argument("--json", help="also dump raw results here")
    args = ap.parse_args(argv)
    cmdline = ".venv/bin/python bench/service_loop.py " + " ".join(
        argv if argv is not None else sys.argv[1:])
    results = []
    for name in args.datasets:
        say = lambda m, name=name: print(f"  [{name}] {m}", file=sys.stderr, flush=True)  # noqa: E731
        data = load(name)
        t0 = time.monotonic()
        memory = run_memory(data, args, args.seed)
        say(f"in memory: {memory['points']} ({time.monotonic() - t0:.0f} s)")
        # how far the in-memory loop itself moves with another seed (other random picks)
        memory["spread"] = [run_memory(data, args, s)["points"] for s in range(args.spread_seeds)
                            if s != args.seed]
        service = run_service(data, args, say)
        replay = run_memory(data, args, args.seed, replay=service)
        say(f"in memory, the service's answers replayed: {replay['points']}")
        results.append({"name": name, "service": service, "memory": memory, "replay": replay})
        if service["errors"]:
            say("serve.log tail:\n" + service["log_tail"])
    text = report(results, args, cmdline.strip(), git_head())
    print(text)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str))
    if not args.no_doc:
        write_section(DOC, "service_loop", text)
    return 0 if not any(r["service"]["errors"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
