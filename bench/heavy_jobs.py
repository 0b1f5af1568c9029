"""Each heavy job of the service against the core call it wraps, on the same inputs.

Not a test. Drives a running ``loop serve`` through its API (``--url``, ``--key``,
``--data-dir`` for its Redis) on the WRENCH sets' train splits (chemprot: valid),
uploaded as they are with their LF votes (``votes_field=weak_labels``, no gold), and
on a synthetic upload of ``--synthetic`` short texts with 20 keyword rules and 3
regular expressions. Per set: ``--repeats`` projects of the same file (the upload's
apply run timed in each), a recalibration, ``--answers`` answers through the queue
(the label from the file), then each model job and both exports ``--repeats`` times.
A job is timed from its record (``/api/jobs/<id>``): created -> ended and first
started -> ended. Then, in this process on the state read back from Redis, the core
calls the job wraps (``loop.core``: ``apply_lfs``, ``loop_step``, ``rank``,
``update_gold_weight`` + ``fit_end_model`` + predict + ``rank``, a CSV / JSON-lines
writer over the arrays in memory), median of ``--repeats``.

Run: ``.venv/bin/python bench/heavy_jobs.py --url http://127.0.0.1:8000 --key KEY
--data-dir var [--sets sms semeval chemprot_partial youtube synthetic]``.
Prints a markdown table and rewrites its section of ``docs/benchmarks_service.md``
(``--no-write``: print only). The machine is shared: read single runs as such.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import platform
import statistics
import sys
import time
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from _report import write_section  # noqa: E402

DOC = ROOT / "docs" / "benchmarks_service.md"

DATA = Path("/work/shared/data")
JOBS = ["fit_label_model", "refill_queue", "train_end_model", "recalibrate",
        "export_csv", "export_jsonl"]
WORDS = {0: "refund broken late never awful", 1: "great love perfect thanks fast",
         2: "price order ship track when"}
FILLER = ("the a it was is and to of my this that on in for with not".split()
          + [f"w{i}" for i in range(3000)])


class Api:
    def __init__(self, url: str, key: str) -> None:
        self.url, self.key = url.rstrip("/"), key

    def call(self, method: str, path: str, body: Any = None, raw: bytes | None = None,
             ctype: str = "application/json") -> Any:
        data = raw if raw is not None else None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, method=method, data=data, headers={
            "Authorization": f"Bearer {self.key}", "Content-Type": ctype})
        with urllib.request.urlopen(req, timeout=600) as r:
            return json.load(r) if r.status != 204 else None

    def wait(self, jid: str) -> dict[str, Any]:
        while True:
            st = self.call("GET", f"/api/jobs/{jid}")
            if st["status"] in ("finished", "failed", "canceled", "stopped"):
                if st["status"] != "finished":
                    raise RuntimeError(f"job {jid} {st['status']}: {st.get('error')}")
                return st
            time.sleep(0.05)


def _t(s: str) -> float:
    return datetime.fromisoformat(s).timestamp()


def spans(st: dict[str, Any]) -> tuple[float, float]:
    """(created -> ended, first started -> ended) of a finished job's record."""
    end = _t(st["ended_at"])
    return end - _t(st["created_at"]), end - _t(st["first_started_at"] or st["started_at"])


def wrench(name: str) -> tuple[list[str], bytes, list[int]]:
    d = DATA / name
    labels = json.loads((d / "label.json").read_text())
    labels = [labels[str(i)] for i in range(len(labels))]
    raw = (d / ("valid.json" if name == "chemprot_partial" else "train.json")).read_bytes()
    gold = [int(r["label"]) for r in json.loads(raw).values()]
    return labels, raw, gold


def synthetic(n: int) -> tuple[list[str], bytes, list[int]]:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, n)
    lines = []
    for i in range(n):
        words = list(rng.choice(FILLER, rng.integers(5, 12)))
        if rng.random() < 0.6:  # a class word in 60% of the texts (right 80% of the time)
            c = int(y[i]) if rng.random() < 0.8 else int(rng.integers(0, 3))
            words.insert(int(rng.integers(0, len(words))), str(rng.choice(WORDS[c].split())))
        if rng.random() < 0.05:
            words.append(f"order #{rng.integers(1000, 99999)}")
        lines.append(json.dumps({"id": f"s{i}", "text": " ".join(words)}))
    return ["complaint", "praise", "question"], "\n".join(lines).encode(), [int(c) for c in y]


def rules() -> list[dict[str, Any]]:
    out = [{"name": f"kw_{w}", "label": c, "kind": "keywords", "keywords": [w]}
           for c, ws in WORDS.items() for w in ws.split()[:4]]
    out += [{"name": "kw_two_0", "label": 0, "kind": "keywords", "keywords": ["never", "awful"]},
            {"name": "kw_two_1", "label": 1, "kind": "keywords", "keywords": ["love", "thanks"]},
            {"name": "kw_two_2", "label": 2, "kind": "keywords", "keywords": ["when", "track"]},
            {"name": "kw_the", "label": 2, "kind": "keywords", "keywords": ["w17", "w99"]},
            {"name": "kw_my", "label": 0, "kind": "keywords", "keywords": ["w5", "w1234"]},
            {"name": "kw_ok", "label": 1, "kind": "keywords", "keywords": ["w42"]},
            {"name": "kw_nine", "label": 2, "kind": "keywords", "keywords": ["w9"]},
            {"name": "kw_ten", "label": 0, "kind": "keywords", "keywords": ["w10"]},
            {"name": "re_order", "label": 2, "kind": "regex", "pattern": r"order #\d+"},
            {"name": "re_w1xx", "label": 1, "kind": "regex", "pattern": r"\bw1\d\d\b"},
            {"name": "re_long", "label": 0, "kind": "regex", "pattern": r"^(\S+ ){11,}"}]
    return out


def make_project(api: Api, name: str, labels: list[str], raw: bytes, syn: bool) -> dict[str, Any]:
    p = api.call("POST", "/api/projects", {"name": name, "labels": labels})
    pid = p["id"]
    if syn:
        for r in rules():
            api.call("POST", f"/api/projects/{pid}/rules", r)
        q = "id_field=id&allow_duplicate=1"
        ctype = "application/x-ndjson"
    else:
        q = ("id_field=id&text_field=data.text&votes_field=weak_labels&drop=label"
             "&allow_duplicate=1")
        ctype = "application/json"
    t0 = time.perf_counter()
    up = api.call("POST", f"/api/projects/{pid}/items?{q}", raw=raw, ctype=ctype)
    t_upload = time.perf_counter() - t0
    st = api.wait(up["apply_job"])  # its record ends with its merge
    idle(api, pid)  # the recalibration it asks for, so the next project's run has both workers
    return {"pid": pid, "upload": t_upload, "apply": spans(st),
            "apply_wall": time.perf_counter() - t0 - t_upload}


def idle(api: Api, pid: str) -> None:
    """Wait until none of the project's jobs is queued or running."""
    live = ("queued", "started", "deferred", "scheduled")
    time.sleep(0.5)
    while any(j["status"] in live
              for j in api.call("GET", f"/api/projects/{pid}/jobs")["jobs"]):
        time.sleep(0.2)


def answer(api: Api, pid: str, gold: dict[str, int], labels: list[str], n: int) -> int:
    done = 0
    while done < n:
        nx = api.call("POST", f"/api/projects/{pid}/queue/next", {})
        if nx is None:
            break
        iid = nx["item"]["id"]
        api.call("POST", f"/api/projects/{pid}/queue/answer",
                 {"item_id": iid, "lease_id": nx["lease"]["id"], "label": gold[iid]})
        done += 1
    return done


def service_jobs(api: Api, pid: str, repeats: int) -> dict[str, list[tuple[float, float]]]:
    out: dict[str, list[tuple[float, float]]] = {j: [] for j in JOBS}
    for _ in range(repeats):
        for j in JOBS:
            body = ({"type": "export", "format": j.split("_")[1]} if j.startswith("export")
                    else {"type": j})
            jid = api.call("POST", f"/api/projects/{pid}/jobs", body)["job_id"]
            out[j].append(spans(api.wait(jid)))
            idle(api, pid)  # an automatic retrain a job asked for, if any, goes first
    return out


def _med(f: Any, repeats: int) -> float:
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def core_jobs(store: Any, pid: str, repeats: int) -> dict[str, float]:
    """The core calls each job wraps, on the project's state as stored."""
    from loop.core.apply import apply_lfs
    from loop.core.end_model import make_text_features
    from loop.core.lf import Record
    from loop.core.step import fit_end_model, loop_step, rank, update_gold_weight
    from loop.service.rules import project_lfs
    from loop.service.state import State

    st = State(store, pid)
    project = store.get_project(pid)
    items = store.items(pid, store.item_ids(pid))
    tf, spec = project["text_field"], store.votes_spec(pid)
    recs = [Record({**i["fields"], **({spec["field"]: i.get("votes")} if spec else {}),
                    "id": i["id"], "text": i["text"], tf: i["text"]}) for i in items]
    lfs = project_lfs(store, pid)
    texts = [i["text"] for i in items]
    (X,) = make_text_features(texts)
    em, gp = store.load_probas(pid, ["end_model", "gold_view"], st.k)
    lm = store.load_proba(pid, "label_model", st.k)
    last = store.model_summary(pid, "label_model") or {}
    ex, held = st.exclude(), st.eval_rows()[0]
    qs = 1000

    def fit_lm() -> Any:
        return loop_step(st.L, st.y, st.random_gold, qs, n_classes=st.k, end_proba=em, X=X,
                         exclude=ex, checked=last.get("gold_check"), gold_proba=gp)

    was = store.model_summary(pid, "end_model") or {}  # its gold weight kept, as the job's

    def end_model(lm_proba: Any = lm) -> None:
        w, _ = update_gold_weight(X, lm_proba, st.L, st.y, n_classes=st.k,
                                  current=was.get("gold_weight"),
                                  chosen_at=int(was.get("gold_weight_at", 0)),
                                  judge=st.random_gold, leave_out=held)
        m = fit_end_model(X, lm_proba, st.L, st.y, n_classes=st.k, gold_weight=w,
                          leave_out=held)
        p = m.predict_proba(X)
        rank(st.L, lm_proba, st.y, qs, end_proba=p, X=X, exclude=ex,
             gold_proba=m.gold_view_proba(X))

    cols = ["id", "text", *[f"p_{x}" for x in project["labels"]], "label"]
    P = np.round(em if em is not None else lm, 6)

    def export(fmt: str) -> None:
        buf = io.StringIO()
        top = P.argmax(1)
        if fmt == "csv":
            w = csv.writer(buf)
            w.writerow(cols)
            for r, it in enumerate(items):
                w.writerow([it["id"], it["text"], *P[r].tolist(), project["labels"][top[r]]])
        else:
            for r, it in enumerate(items):
                vals = [it["id"], it["text"], *P[r].tolist(), project["labels"][top[r]]]
                buf.write(json.dumps(dict(zip(cols, vals, strict=True))) + "\n")
        buf.getvalue().encode()

    return {
        "apply": _med(lambda: apply_lfs(lfs, recs, n_classes=st.k), repeats),
        "features": _med(lambda: make_text_features(texts), 1),
        "fit_label_model": _med(fit_lm, repeats),
        "refill_queue": _med(lambda: rank(st.L, lm, st.y, qs, end_proba=em, X=X, exclude=ex,
                                          gold_proba=gp), repeats),
        "train_end_model": _med(end_model, repeats),
        "recalibrate": _med(lambda: end_model(fit_lm().lm_proba), repeats),
        "export_csv": _med(lambda: export("csv"), repeats),
        "export_jsonl": _med(lambda: export("jsonl"), repeats),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--sets", nargs="+",
                    default=["sms", "semeval", "chemprot_partial", "youtube", "synthetic"])
    ap.add_argument("--synthetic", type=int, default=100_000)
    ap.add_argument("--answers", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    import redis

    from loop.storage import RedisStore

    api = Api(a.url, a.key)
    url = json.loads((Path(a.data_dir) / "serve.json").read_text())["redis_url"]
    store = RedisStore(redis.Redis.from_url(url))
    rows = []
    for name in a.sets:
        syn = name == "synthetic"
        labels, raw, gold = synthetic(a.synthetic) if syn else wrench(name)
        ids = ([f"s{i}" for i in range(len(gold))] if syn
               else [str(k) for k in json.loads(raw)])
        by_id = dict(zip(ids, gold, strict=True))
        made = [make_project(api, f"heavy-{name}-{time.time():.0f}-{r}", labels, raw, syn)
                for r in range(a.repeats)]
        pid = made[-1]["pid"]
        api.wait(api.call("POST", f"/api/projects/{pid}/jobs", {"type": "recalibrate"})["job_id"])
        n_ans = answer(api, pid, by_id, labels, a.answers)
        idle(api, pid)
        svc = service_jobs(api, pid, a.repeats)
        core = core_jobs(store, pid, a.repeats)
        n = len(gold)
        rows.append((name, n, "upload (request)", None,
                     statistics.median(m["upload"] for m in made), None))
        rows.append((name, n, "apply (upload's run)", core["apply"],
                     statistics.median(m["apply"][0] for m in made),
                     statistics.median(m["apply"][1] for m in made)))
        for j in JOBS:
            rows.append((name, n, j, core[j], statistics.median(s[0] for s in svc[j]),
                         statistics.median(s[1] for s in svc[j])))
        rows.append((name, n, "(core: TF-IDF build, once)", core["features"], None, None))
        print(f"{name}: {n} items, {n_ans} answers", file=sys.stderr, flush=True)

    def f(x: float | None) -> str:
        return "" if x is None else f"{x:.2f}"

    lines = ["| set | items | job | core (s) | service queued->ended (s) | started->ended (s)"
             " | ratio (queued) | ratio (started) |", "|---|---:|---|---:|---:|---:|---:|---:|"]
    for name, n, j, c, q, s in rows:
        rq = f"{q / c:.1f}x" if c and q else ""
        rs = f"{s / c:.1f}x" if c and s else ""
        lines.append(f"| {name} | {n:,} | {j} | {f(c)} | {f(q)} | {f(s)} | {rq} | {rs} |")
    table = "\n".join(lines)
    print(table)
    if a.no_write:
        return
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    write_section(DOC, "heavy_jobs", f"""## Heavy jobs: each service job against the core call

Command: `.venv/bin/python bench/heavy_jobs.py --url ... --sets {' '.join(a.sets)} \
--synthetic {a.synthetic} --answers {a.answers} --repeats {a.repeats}` against a `loop serve`
with 2 workers, `LOOP_RECALIBRATE_EVERY` 10^9 and `LOOP_RECALIBRATE_SECONDS` 0 (no
automatic run between the timed ones).

Machine: {os.cpu_count()} cores (shared), {platform.machine()}, Python \
{platform.python_version()}; load average at the end {load}. Medians of {a.repeats}. WRENCH
train splits (chemprot: valid) uploaded with their LF votes, no gold; the synthetic set
is 3 classes of short texts with 20 keyword rules and 3 regular expressions. After
{a.answers} answers through the queue, each job is asked for through the API and timed
from its record; the core column runs, in the bench's process on the state read back
from Redis, what the job wraps: `apply_lfs` over records in memory, `loop_step`,
`rank`, `update_gold_weight` + `fit_end_model` + predict + `rank` (features built),
both for `recalibrate`, and a CSV / JSON-lines writer over the arrays in memory (id,
text, probabilities, label: fewer columns than the service's export). A job's time
includes RQ's hop and the work horse's fork; apply's is the whole run (plan, unit jobs
on both workers, merge).

{table}
""")
if __name__ == "__main__":
    main()
