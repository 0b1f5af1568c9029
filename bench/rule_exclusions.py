"""The rule preview's "and not" offers (`exclusions`): do they hold beyond the answers?

Run: .venv/bin/python bench/rule_exclusions.py [--seeds 3] [--budgets 100 300] [--no-write]
Writes its section of docs/benchmarks_loop.md.

A rule a user might write and get partly wrong: each of the 15 commonest single words
of a train split (in 40 items or more, no English function word) whose items are of
one class 50-85% of the time (and more than 1.5 times that class's chance), as a
keyword rule voting that class. The answers: a random sample of `budget` train items
with their labels. The preview's first offer (`suggest_exclusions` on the answered
items the rule matches, as `POST /rules/preview` reads them) is added as "and not";
the rule is then scored on the whole train split, answered or not: its precision
before and after, and the share of its items it no longer votes on.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from _report import write_section  # noqa: E402

from loop.core.rules import Rule  # noqa: E402
from loop.core.suggest import STOP, TermIndex, suggest_exclusions  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
DOC = ROOT / "docs" / "benchmarks_loop.md"
SETS = ("youtube", "sms", "semeval", "hausa", "yoruba")
N_RULES = 15


def rules_of(texts: list[str], y: np.ndarray) -> list[Rule]:
    """The partly-wrong keyword rules described above."""
    k = int(y.max()) + 1
    index = TermIndex(texts, min_df=40)
    out = []
    for t in range(index.X.shape[1]):
        term = str(index.terms[t])
        if " " in term or term in STOP:
            continue
        rows = index.X[:, t].indices
        counts = np.bincount(y[rows], minlength=k)
        c = int(counts.argmax())
        p = counts[c] / len(rows)
        if 0.5 <= p <= 0.85 and p > 1.5 / k:
            out.append((len(rows), term, c))
    out.sort(reverse=True)
    return [Rule(f"says_{term}", c, "keywords", keywords=(term,))
            for _, term, c in out[:N_RULES]]


def trial(name: str, seeds: int, budgets: list[int]) -> list[dict]:
    rows = json.loads((DATA / name / "train.json").read_text()).values()
    texts = [r["data"]["text"] for r in rows]
    y = np.array([r["label"] for r in rows])
    rules = rules_of(texts, y)
    out = []
    for seed in range(seeds):
        for budget in budgets:
            gold = np.full(len(y), -1)
            pick = np.random.default_rng(seed).choice(len(y), budget, replace=False)
            gold[pick] = y[pick]
            for rule in rules:
                hit = rule.match(texts)
                answered = np.flatnonzero(hit & (gold >= 0))
                offers = suggest_exclusions([texts[i] for i in answered], gold[answered],
                                            rule.label, skip=rule.keywords)
                if not offers:
                    continue
                sharper = Rule(rule.name, rule.label, "keywords", keywords=rule.keywords,
                               conditions=[offers[0].to_dict()["condition"]])
                hit2 = sharper.match(texts)
                out.append({"set": name, "seed": seed, "budget": budget,
                            "rule": rule.keywords[0], "not": offers[0].keyword,
                            "before": float((y[hit] == rule.label).mean()),
                            "after": float((y[hit2] == rule.label).mean()),
                            "lost": 1 - hit2.sum() / hit.sum()})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--budgets", type=int, nargs="+", default=[100, 300])
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args()
    lines = ["## The rule preview's \"and not\" offers beyond the answers",
             "",
             "`bench/rule_exclusions.py`: the 15 commonest words of each train split that "
             "are right 50-85% of the time, each as a keyword rule; random answers; the "
             "preview's first \"and not\" offer added; the rule scored on the whole train "
             f"split (answered or not). {args.seeds} seeds; precision in points.",
             "",
             "| set | answers | offers | precision gain (mean) | lower after "
             "| items left out (mean) | example |",
             "|---|---:|---:|---:|---:|---:|---|"]
    worse = []
    for name in SETS:
        res = trial(name, args.seeds, args.budgets)
        for b in args.budgets:
            sel = [r for r in res if r["budget"] == b]
            if not sel:
                lines.append(f"| {name} | {b} | 0 | | | | |")
                continue
            gain = 100 * np.mean([r["after"] - r["before"] for r in sel])
            down = [r for r in sel if r["after"] < r["before"]]
            worse += down
            ex = sel[0]
            lines.append(f"| {name} | {b} | {len(sel)} | {gain:+.1f} | {len(down)} | "
                         f"{100 * np.mean([r['lost'] for r in sel]):.0f}% | "
                         f"`{ex['rule']}` and not `{ex['not']}`: "
                         f"{ex['before']:.3f} -> {ex['after']:.3f} |")
        print("\n".join(lines[-len(args.budgets):]), flush=True)
    if worse:
        lines += ["", "Offers that lowered the precision: " + "; ".join(
            f"{r['set']} at {r['budget']} answers, `{r['rule']}` and not `{r['not']}` "
            f"{r['before']:.3f} -> {r['after']:.3f}" for r in worse) + "."]
    body = "\n".join(lines)
    print(body)
    if not args.no_write:
        write_section(DOC, "rule-exclusions", body)


if __name__ == "__main__":
    main()
