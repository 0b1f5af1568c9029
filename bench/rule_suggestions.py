"""Rule suggestions in the loop: the end model with and without `--suggest-rules K`.

Run: .venv/bin/python bench/rule_suggestions.py [--seeds 3] [--k 5] [--budget 100]
Writes its section of docs/benchmarks_loop.md.

Each run is `loop simulate DIR --budget B --suggest-rules K` (and the same with K=0):
after each batch of 10 answers the loop mines up to K rules from the gold so far;
the simulated expert accepts a rule when its precision on the train split's gold is
at least 0.8 (an oracle on rules, as it is on items) and rejects it otherwise. The
end model is scored on the test split at 50 and 100 answers; mean of the seeds.
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from _report import write_section  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
DOC = ROOT / "docs" / "benchmarks_loop.md"
SETS = {"youtube": "acc", "sms": "f1", "semeval": "acc", "yoruba": "acc"}
AT = (50, 100)


def run(args: tuple[str, int, int, int]) -> dict:
    import warnings

    warnings.simplefilter("ignore")
    from loop.core.datasets import load_wrench
    from loop.core.simulation import simulate

    name, seed, k, budget = args
    t = time.perf_counter()
    out = simulate(load_wrench(DATA / name), budget=budget, seed=seed, metric=SETS[name],
                   suggest_rules=k)
    pts = {p["n_gold"]: p for p in out["curve"]}
    return {"set": name, "seed": seed, "k": k, "seconds": time.perf_counter() - t,
            "end": {n: pts[n]["end_model"] for n in AT if n in pts},
            "lm": {n: pts[n]["label_model"] for n in AT if n in pts},
            "rules": {n: pts[n].get("rules_accepted", 0) for n in AT if n in pts}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--budget", type=int, default=100)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--sets", nargs="*", default=list(SETS))
    a = ap.parse_args()
    tasks = [(s, seed, k, a.budget) for s in a.sets for seed in range(a.seeds)
             for k in (0, a.k)]
    with ProcessPoolExecutor(a.jobs) as ex:
        res = list(ex.map(run, tasks))
    rows = []
    for s in a.sets:
        r0 = [r for r in res if r["set"] == s and r["k"] == 0]
        rk = [r for r in res if r["set"] == s and r["k"] == a.k]
        cells = []
        for n in AT:
            base = float(np.mean([r["end"][n] for r in r0]))
            sug = float(np.mean([r["end"][n] for r in rk]))
            rules = float(np.mean([r["rules"][n] for r in rk]))
            lm0 = float(np.mean([r["lm"][n] for r in r0]))
            lmk = float(np.mean([r["lm"][n] for r in rk]))
            cells.append(f"{base:.3f} | {sug:.3f} | **{100 * (sug - base):+.1f}** | "
                         f"{rules:.1f} | {lm0:.3f} -> {lmk:.3f}")
            print(f"{s} @{n}: end {base:.3f} -> {sug:.3f} ({100 * (sug - base):+.1f} pts), "
                  f"rules {rules:.1f}, label model {lm0:.3f} -> {lmk:.3f}", flush=True)
        rows.append(f"| {s} ({SETS[s]}) | " + " | ".join(cells) + " |")
    body = "\n".join([
        "## Rule suggestions in the loop",
        "",
        f"Command: `.venv/bin/python bench/rule_suggestions.py --seeds {a.seeds} --k {a.k}`",
        "",
        f"`loop simulate DIR --budget {a.budget}` with and without `--suggest-rules {a.k}`: "
        "after each batch of 10 answers up to "
        f"{a.k} rules are mined from the gold so far (`loop.core.suggest`); the simulated "
        "expert accepts a rule when its precision on the train split's gold is >= 0.8 (an "
        "oracle on rules as on items) and rejects it otherwise (never proposed again). "
        f"End model on the test split, mean of {a.seeds} seeds; rules = accepted so far; "
        "last column: the label model without -> with the rules.",
        "",
        "| set | @50 without | @50 with | gain | rules | label model @50 | "
        "@100 without | @100 with | gain | rules | label model @100 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        *rows,
    ])
    write_section(DOC, "rule_suggestions", body, head="# Loop benchmarks\n")
    print(f"wrote {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
