"""Which labels should the items a user exports carry: the label model's where an LF
votes (the export's rule until session 49) or the end model's?

The loop as it runs (``LabelingLoop``, its sampler, a simulated expert answering
with the train split's labels, batches of 10) on each set's train split; at 0, 50,
100, 200 and 300 answers, the accuracy of each model's labels on the train items
without an answer (the items an export labels by a model), on those an LF votes on
(where the two rules differ) and on all of them (sms: F1 of spam). Scores on the
pool itself, not on test: the export labels the pool.

    .venv-bench/bin/python bench/export_labels.py --datasets youtube sms --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from loop.core.datasets import load_wrench  # noqa: E402
from loop.core.labeling_loop import LabelingLoop  # noqa: E402
from loop.core.metrics import score  # noqa: E402

CHECKS = (0, 50, 100, 200, 300)


def run(name: str, seed: int, data: Path) -> dict[int, dict[str, float]]:
    ds = load_wrench(data / name)
    train = ds.splits["train"]
    metric = "f1" if name == "sms" else "acc"
    y = train.y
    loop = LabelingLoop(train.L, train.texts, n_classes=ds.n_classes, random_state=seed)
    covered = (train.L >= 0).any(axis=1)
    out: dict[int, dict[str, float]] = {}
    while True:
        n = loop.n_gold
        if n in CHECKS:
            loop.fit()
            rest = loop.y < 0
            lm, em = loop.lm_proba_.argmax(1), loop.end_proba_.argmax(1)
            old = np.where(covered, lm, em)  # the label model where an LF votes
            out[n] = {"covered_lm": float((lm == y)[rest & covered].mean()),
                      "covered_end": float((em == y)[rest & covered].mean()),
                      "all_old": score(metric, y[rest], old[rest]),
                      "all_end": score(metric, y[rest], em[rest])}
            print(name, seed, n, {k: round(v, 4) for k, v in out[n].items()}, flush=True)
        if n >= max(CHECKS):
            return out
        ask = loop.query(10)
        loop.teach(ask, y[ask])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", nargs="+",
                    default=["youtube", "sms", "yoruba", "hausa", "semeval"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    args = ap.parse_args()
    print("| set | answers | LF-voted items: label model / end model | all items: "
          "label model where an LF votes / end model |")
    print("|---|---:|---|---|")
    for name in args.datasets:
        runs = [run(name, s, args.data) for s in args.seeds]
        for n in CHECKS:
            m = {k: np.mean([r[n][k] for r in runs]) for k in runs[0][n]}
            print(f"| {name} | {n} | {m['covered_lm']:.3f} / {m['covered_end']:.3f} | "
                  f"{m['all_old']:.3f} / {m['all_end']:.3f} |", flush=True)


if __name__ == "__main__":
    main()
