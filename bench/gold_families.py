"""Does random gold ever hurt the label model? Synthetic families and the shared sets.

Run: .venv-bench/bin/python bench/gold_families.py [--families 40] [--draws 2] [--no-hyperlm]
Writes its section of docs/label_model_design.md.

* Synthetic families (``loop.core.synthetic.rules_task``): 2-10 classes, 10-200
  one-sided rules with confusable class pairs and correlated rules, 6,000 items
  (4,000 fit, 2,000 scored). For each: the label model without gold, with 100,
  200, 500 and 1,000 random gold labels drawn from the fit rows, and hyperlm with
  the same gold (transductive: fit + scored rows stacked). Accuracy on the scored
  rows.
* Shared sets: fit on ``train``, scored on ``test``; gold = the ``valid`` split's
  labels (``loop evaluate``'s ``label_model_gold``), and random gold of 100 and
  500 labels drawn from ``train`` itself (3 draws each).
* Leave one dataset out: the three ways gold can enter the fit
  (``LabelModel.GOLD_USES``, forced instead of checked) are scored by the mean
  gain of gold over no gold on the train->valid splits of the other shared sets
  plus the synthetic families; the way the other sets choose is reported on the
  held-out set's test split.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from _report import write_section  # noqa: E402

from loop.core.datasets import load_wrench  # noqa: E402
from loop.core.label_model import LabelModel  # noqa: E402
from loop.core.metrics import score  # noqa: E402
from loop.core.synthetic import rules_task  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
DOC = ROOT / "docs" / "label_model_design.md"
GOLD = (100, 200, 500, 1000)
#: hyperlm's scores, keyed by a hash of exactly what it was given and scored on:
#: it is a fixed pretrained model, deterministic, and takes minutes per family on
#: two cores, so a re-run after a change of ours only runs ours.
HYPERLM_CACHE = ROOT / "bench" / "cache" / "hyperlm_scores.json"
SETS = {"youtube": "acc", "sms": "f1", "semeval": "acc", "hausa": "acc", "yoruba": "acc"}


def gold_sample(y: np.ndarray, n: int, seed: int) -> np.ndarray:
    out = np.full(len(y), -1)
    idx = np.random.default_rng(seed).choice(len(y), min(n, len(y)), replace=False)
    out[idx] = y[idx]
    return out


def fit_use(k: int, L: np.ndarray, y: np.ndarray | None, use: str | None) -> LabelModel:
    """The label model; ``use`` forces one way of :data:`LabelModel.GOLD_USES`."""
    lm = LabelModel(n_classes=k, random_state=0, gold_check=use is None)
    if use is None or y is None:
        return lm.fit(L, y)
    rg = y >= 0
    return lm._fit_use(use, L, y, rg)


def hyperlm_score(L: np.ndarray, k: int, gi: np.ndarray, gv: np.ndarray,
                  scored: slice, y: np.ndarray, metric: str = "acc") -> float:
    """hyperlm's score on rows ``scored`` of ``L`` given gold ``gv`` at rows ``gi``
    (cached in :data:`HYPERLM_CACHE`)."""
    h = hashlib.sha256()
    for a in (np.asarray(L, np.int64), np.asarray(gi, np.int64), np.asarray(gv, np.int64),
              np.asarray(y, np.int64)):
        h.update(a.tobytes())
        h.update(str(a.shape).encode())
    key = f"{k}:{scored.start}:{scored.stop}:{metric}:{h.hexdigest()[:32]}"
    cache = json.loads(HYPERLM_CACHE.read_text()) if HYPERLM_CACHE.exists() else {}
    if key not in cache:
        from _common import hyperlm_infer

        pred = hyperlm_infer(L, k, gi, gv)[scored]
        cache[key] = float(score(metric, y, pred))
        HYPERLM_CACHE.parent.mkdir(exist_ok=True)
        HYPERLM_CACHE.write_text(json.dumps(cache, indent=0, sort_keys=True) + "\n")
    return float(cache[key])


def families(n_families: int, with_hyperlm: bool, draws: int = 1) -> list[dict]:
    """One row per family and gold draw (draw ``d`` samples gold with seed f + 100 d)."""
    rows = []
    for f, d in [(f, d) for f in range(n_families) for d in range(draws)]:
        rng = np.random.default_rng(1000 + f)
        k = int(rng.integers(2, 11))
        m = int(rng.integers(10, 201))
        L, y, _ = rules_task(n=6000, k=k, m=m, seed=f)
        tr, te = slice(0, 4000), slice(4000, 6000)
        base = float((fit_use(k, L[tr], None, None).predict(L[te]) == y[te]).mean())
        row = {"family": f, "draw": d, "k": k, "m": m, "no_gold": base, "gold": {},
               "uses": {}, "hyperlm": {}}
        for g in GOLD:
            yy = gold_sample(y[tr], g, f + 100 * d)
            lm = fit_use(k, L[tr], yy, None)
            row["gold"][g] = float((lm.predict(L[te]) == y[te]).mean())
            for use in LabelModel.GOLD_USES:
                row["uses"].setdefault(use, {})[g] = float(
                    (fit_use(k, L[tr], yy, use).predict(L[te]) == y[te]).mean())
            if with_hyperlm:
                gi = np.flatnonzero(yy >= 0)
                row["hyperlm"][g] = hyperlm_score(L, k, gi, yy[gi], te, y[te])
        rows.append(row)
        print(f"family {f} draw {d}: k={k} m={m} no gold {base:.3f} gold "
              f"{[round(row['gold'][g], 3) for g in GOLD]} hyperlm "
              f"{[round(row['hyperlm'].get(g, np.nan), 3) for g in GOLD]}",
              file=sys.stderr, flush=True)
    return rows


def shared(with_hyperlm: bool) -> list[dict]:
    rows = []
    for d, metric in SETS.items():
        ds = load_wrench(DATA / d)
        tr, va, te = ds.splits["train"], ds.splits["valid"], ds.splits["test"]
        k = ds.n_classes

        def sc(lm: LabelModel, L: np.ndarray, y: np.ndarray, metric: str = metric) -> float:
            return float(score(metric, y, lm.predict(L)))

        row = {"set": d, "metric": metric, "no_gold": sc(fit_use(k, tr.L, None, None), te.L,
                                                          te.y)}
        Lg = np.vstack([tr.L, va.L])
        yg = np.concatenate([np.full(len(tr.y), -1), va.y])
        row["valid_gold"] = sc(fit_use(k, Lg, yg, None), te.L, te.y)
        for g in (100, 500):
            row[f"train_gold_{g}"] = float(np.mean([
                sc(fit_use(k, tr.L, gold_sample(tr.y, g, s), None), te.L, te.y)
                for s in range(3)]))
        if with_hyperlm:
            both = np.vstack([tr.L, va.L, te.L])
            gi = np.arange(len(tr.y), len(tr.y) + len(va.y))
            row["hyperlm_valid_gold"] = hyperlm_score(
                both, k, gi, va.y, slice(len(tr.y) + len(va.y), len(both)), te.y, metric)
        # for leave-one-out selection: train -> valid gains of each forced way
        row["select"] = {}
        base_v = sc(fit_use(k, tr.L, None, None), va.L, va.y)
        for use in LabelModel.GOLD_USES:
            gains = [sc(fit_use(k, tr.L, gold_sample(tr.y, g, s), use), va.L, va.y) - base_v
                     for g in (100, 500) for s in range(2)]
            row["select"][use] = float(np.mean(gains))
        row["test_by_use"] = {use: sc(fit_use(k, Lg, yg, use), te.L, te.y)
                              for use in LabelModel.GOLD_USES}
        rows.append(row)
        print(row, file=sys.stderr, flush=True)
    return rows


def report(fam: list[dict], sh: list[dict], cmd: str) -> str:
    lines = ["## Does gold hurt? Synthetic families and the shared sets", "",
             f"Written by `{cmd}` (`bench/gold_families.py`).", ""]
    deltas = np.array([[r["gold"][g] - r["no_gold"] for g in GOLD] for r in fam])
    worst = deltas.min(axis=1)
    n_fam = len({r["family"] for r in fam})
    n_draws = len(fam) // max(n_fam, 1)
    lines += [f"**{n_fam} synthetic families** (`rules_task`: 2-10 classes, 10-200 one-sided "
              "rules with confusable pairs and correlated rules; 4,000 fit rows, 2,000 "
              f"scored), {n_draws} random gold draw(s) each: label model with random gold "
              "minus without, in accuracy points; worst and counts over every family and "
              "draw.", "",
              "| gold labels | " + " | ".join(f"{g:,}" for g in GOLD) + " |",
              "|---|" + "---:|" * len(GOLD),
              "| mean | " + " | ".join(f"{100 * d:+.1f}" for d in deltas.mean(axis=0)) + " |",
              "| worst cell | " + " | ".join(f"{100 * d:+.1f}" for d in deltas.min(axis=0))
              + " |",
              "| (family, draw) cells below -0.5 | " + " | ".join(
                  str(int((deltas[:, i] < -0.005).sum())) for i in range(len(GOLD))) + " |"]
    if fam and fam[0]["hyperlm"]:
        vs = np.array([[r["gold"][g] - r["hyperlm"][g] for g in GOLD] for r in fam])
        lines += ["| ours+gold minus hyperlm+gold, mean | " + " | ".join(
                      f"{100 * d:+.1f}" for d in vs.mean(axis=0)) + " |",
                  "| cells where ours+gold is below hyperlm+gold by > 0.5 | " + " | ".join(
                      str(int((vs[:, i] < -0.005).sum())) for i in range(len(GOLD))) + " |"]
    w = fam[int(np.argmin(worst))]
    lines += ["", f"Worst cell over all gold sizes: {100 * worst.min():+.1f} points "
              f"(family {w['family']}, draw {w['draw']}: {w['k']} classes, {w['m']} rules).", "",
              "**Shared sets** (test split; sms: F1 of spam):", "",
              "| set | no gold | valid gold | hyperlm + valid gold | 100 random train gold "
              "| 500 random train gold |", "|---|---:|---:|---:|---:|---:|"]
    for r in sh:
        hl = f"{r['hyperlm_valid_gold']:.3f}" if "hyperlm_valid_gold" in r else "–"
        lines.append(f"| {r['set']} | {r['no_gold']:.3f} | {r['valid_gold']:.3f} | {hl} | "
                     f"{r['train_gold_100']:.3f} | {r['train_gold_500']:.3f} |")
    # leave one dataset out
    uses = LabelModel.GOLD_USES
    fam_gain = {u: float(np.mean([[r["uses"][u][g] - r["no_gold"] for g in GOLD] for r in fam]))
                for u in uses}
    lines += ["", "**Leave one dataset out** (the way gold enters the fit, forced; chosen by "
              "the mean gain over no gold on the other sets' train->valid splits plus the "
              "synthetic families, reported on the held-out set's test split with its valid "
              "gold):", "", "| held out | chosen on the others | its test score | "
              + " | ".join(f"{u} (test)" for u in uses) + " |",
              "|---|---|---:|" + "---:|" * len(uses)]
    for r in sh:
        others = [o for o in sh if o is not r]
        crit = {u: float(np.mean([o["select"][u] for o in others])) + fam_gain[u] for u in uses}
        pick = max(uses, key=lambda u: crit[u])
        lines.append(f"| {r['set']} | {pick} | {r['test_by_use'][pick]:.3f} | "
                     + " | ".join(f"{r['test_by_use'][u]:.3f}" for u in uses) + " |")
    lines += ["", "Mean gain over no gold on the synthetic families, per way: "
              + ", ".join(f"{u} {100 * fam_gain[u]:+.1f}" for u in uses) + " points.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--families", type=int, default=40)
    ap.add_argument("--draws", type=int, default=2, help="random gold draws per family")
    ap.add_argument("--no-hyperlm", action="store_true")
    ap.add_argument("--no-doc", action="store_true")
    args = ap.parse_args(argv)
    fam = families(args.families, not args.no_hyperlm, args.draws)
    sh = shared(not args.no_hyperlm)
    text = report(fam, sh, "bench/gold_families.py " + " ".join(argv or sys.argv[1:]))
    print(text)
    if not args.no_doc:
        write_section(DOC, "gold_families", text, head="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
