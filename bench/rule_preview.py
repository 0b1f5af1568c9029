"""How fast is the rule editor? The preview and the suggestions at 100,000 items.

Run: .venv/bin/python bench/rule_preview.py [--n 100000] [--repeats 20]
Writes its section of docs/benchmarks_service.md.

A project of N items (the bundled YouTube comments repeated, 20 synthetic LFs
published, 1,000 held-out items with their class and 300 answered) in an
embedded Redis; the requests go through the Flask app (``create_app``, test
client: no network), so the times are what a web worker spends per request.
The first preview of a process also loads and caches the items' texts (items are
only appended, so later previews read only new rows); it is reported apart.
"""

from __future__ import annotations

import argparse
import csv
import io
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from _report import SERVICE_DOC_HEAD, percentile, write_section  # noqa: E402

DOC = ROOT / "docs" / "benchmarks_service.md"
KEY = "bench-admin-key"
RULES = [
    {"name": "r_kw", "label": 1, "kind": "keywords", "keywords": ["check out", "subscribe"]},
    {"name": "r_url", "label": 1, "kind": "regex", "pattern": r"https?://\S+"},
    {"name": "r_love", "label": 0, "kind": "keywords", "keywords": ["love", "best song"]},
    {"name": "r_caps", "label": 1, "kind": "regex", "pattern": r"[A-Z]{6,}"},
    {"name": "r_anchor", "label": 0, "kind": "regex", "pattern": r"^.{0,20}$"},
    # conditions on the comments' uploaded fields (their dates, ISO 8601, and authors)
    {"name": "r_date", "label": 1, "kind": "field", "field": "DATE", "op": ">=",
     "value": "2014-11-01"},
    {"name": "r_author", "label": 1, "kind": "field", "field": "AUTHOR", "op": "in",
     "value": ["Psy", "Katy Perry", "M.E.S"]},
    # rules with conditions: each reads the items the ones before it left
    {"name": "r_and_not", "label": 0, "kind": "keywords", "keywords": ["song"],
     "conditions": [{"kind": "keywords", "keywords": ["check out"], "not": True}]},
    {"name": "r_three", "label": 1, "kind": "regex", "pattern": r"https?://\S+",
     "conditions": [{"kind": "keywords", "keywords": ["love"], "not": True},
                    {"kind": "field", "field": "DATE", "op": ">=", "value": "2014-11-01"},
                    {"kind": "regex", "pattern": "[A-Z]{6,}", "not": True}]},
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=20)
    a = ap.parse_args()
    from loop.demo.client import demo_csv
    from loop.redis_server import connect
    from loop.service.synthetic import write_project
    from loop.storage import RedisStore
    from loop.web import create_app

    rows_ = list(csv.DictReader(io.StringIO(demo_csv().decode())))
    texts = [r["CONTENT"] for r in rows_]
    fields = [{"AUTHOR": r["AUTHOR"], "DATE": r["DATE"]} for r in rows_]
    with tempfile.TemporaryDirectory() as tmp:
        conn = connect(None, data_dir=tmp)
        store = RedisStore(conn.client)
        pid, y = write_project(store, a.n, n_eval=1000, texts=texts, fields=fields,
                               classes=[int(r["CLASS"]) for r in rows_])
        for i in range(300):  # answers: gold the suggestions mine
            store.r.hset(f"loop:p:{pid}:gold", str(1000 + i),
                         f'{{"label": {int(y[1000 + i])}, "annotator": "b", "at": 0}}')
        app = create_app({"TESTING": True, "REDIS_URL": conn.url, "API_KEYS": KEY})
        c = app.test_client()
        h = {"Authorization": f"Bearer {KEY}"}
        url = f"/api/projects/{pid}/rules/preview"
        t = time.perf_counter()
        r = c.post(url, headers=h, json=RULES[0])
        cold = time.perf_counter() - t
        assert r.status_code == 200, r.json
        rows = []
        for rule in RULES:
            ts = []
            for _ in range(a.repeats):
                t = time.perf_counter()
                r = c.post(url, headers=h, json=rule)
                ts.append(time.perf_counter() - t)
                assert r.status_code == 200, r.json
            rows.append((rule, r.json["matched"], statistics.median(ts), percentile(ts, 0.95)))
            print(f"{rule['name']}: matched {r.json['matched']:,} median "
                  f"{1000 * statistics.median(ts):.0f} ms p95 {1000 * percentile(ts, 0.95):.0f}"
                  " ms", flush=True)
        # suggestions are checked against the models' labels: the label model first
        # (without one the endpoint waits for it and suggests nothing)
        from loop.service.models import recalibrate

        recalibrate(store, pid, 100)
        t = time.perf_counter()
        r = c.get(f"/api/projects/{pid}/rules/suggestions?k=10", headers=h)
        sug_cold = time.perf_counter() - t
        assert not r.json["waiting_for_models"], r.json
        t = time.perf_counter()
        r = c.get(f"/api/projects/{pid}/rules/suggestions?k=10", headers=h)
        sug_warm = time.perf_counter() - t
        n_sug, n_redundant = len(r.json["suggestions"]), len(r.json["redundant"])
        print(f"cold preview {cold:.2f} s; suggestions cold {sug_cold:.2f} s warm "
              f"{sug_warm:.2f} s ({len(r.json['suggestions'])} suggestions)")
        conn.shutdown()
    what = {"keywords": lambda x: "keywords " + ", ".join(x["keywords"]),
            "regex": lambda x: f"regex `{x['pattern']}`",
            "field": lambda x: f"field `{x['field']} {x['op']} {x['value']}`"}

    def rule_text(x: dict) -> str:  # its own condition, then each more one
        return what[x["kind"]](x) + "".join(
            f" and{' not' if c.get('not') else ''} {what[c['kind']](c)}"
            for c in x.get("conditions", ()))

    table = "\n".join(f"| {rule_text(x)} | {m:,} | {1000 * med:.0f} | {1000 * p95:.0f} |"
                      for x, m, med, p95 in rows)
    body = f"""## Rule editor: preview and suggestions at {a.n:,} items

Command: `.venv/bin/python bench/rule_preview.py --n {a.n} --repeats {a.repeats}`

Machine: {platform.machine()}, Python {platform.python_version()}, 2 shared cores. The
bundled YouTube comments repeated to {a.n:,} items (with their AUTHOR and DATE
fields), 20 synthetic LFs voting on their own classes published, 1,000 held-out
and 300 answered items; each request through the Flask app (no network). A preview
matches the rule (RE2) against every item, compares it with every LF column and the
gold, and picks matched examples with the model's guess. Target: 300 ms.

| rule | items matched | median ms | p95 ms |
|---|---:|---:|---:|
{table}

The first preview in a web process also loads the items' texts: {cold:.2f} s (later
previews read only rows uploaded since). Suggestions (10, mined from the gold): first
call {sug_cold:.2f} s (builds the word/phrase index of every item), then
{sug_warm:.2f} s, after the label model was fitted (without a model the endpoint waits
and suggests nothing): {n_sug} suggested, {n_redundant} candidates listed as repeating
the votes of LFs (the 20 synthetic LFs vote on most items, so few items are new to a
rule; the time is the search either way).
"""
    write_section(DOC, "rule_preview", body, head=SERVICE_DOC_HEAD)
    print(f"wrote {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
