"""Label models on the real WRENCH / crowd sets: scores and seconds side by side.

Run: .venv-bench/bin/python bench/label_models.py
Writes docs/benchmarks_label_models.md and docs/img/label_models.png.

Protocol (the same rows for every system):
* fit rows: ``train`` (youtube/sms keep their appended gold dev rows as ordinary
  unlabeled rows); chemprot_partial has no train, so ``valid`` is the unlabeled
  fit set; crowd sets fit and score on ``all``.
* scored rows: ``test`` (``all`` for crowd sets); metric acc, sms F1 of class 1.
* MV, ours, Snorkel: fit on the fit rows, predict the scored rows. hyperlm is
  transductive: it infers on fit rows + scored rows stacked, and only the scored
  rows are read.
* gold variants: fit rows + valid rows with valid gold known (y=-1 elsewhere);
  hyperlm gets the same matrix plus test rows and the valid gold.
  Skipped for crowd sets and chemprot_partial (no separate valid split).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    DATASETS,
    ROOT,
    hyperlm_infer,
    load_task,
    score,
    snorkel_fit_predict,
)

from loop.core.label_model import LabelModel, MajorityVote, vote_counts  # noqa: E402

SYSTEMS = ["MV", "Snorkel", "hyperlm", "ours", "hyperlm+gold", "ours+gold"]


def run_one(name: str) -> tuple[dict[str, tuple[float, float]], dict[str, dict]]:
    """Scores and seconds per system, and the per-row-kind breakdown (see ``breakdown``)."""
    t = load_task(name)
    out: dict[str, tuple[float, float]] = {}
    preds: dict[str, np.ndarray] = {}  # scored rows
    fit_preds: dict[str, np.ndarray] = {}  # fit rows (train), for the breakdown only
    n1 = len(t.L_train)
    both = t.L_train if t.transductive_test else np.vstack([t.L_train, t.L_test])

    def rec(key, fn):
        t0 = time.perf_counter()
        pred = fn()
        out[key] = (score(name, t.y_test, pred), time.perf_counter() - t0)
        preds[key] = pred

    mv = MajorityVote(n_classes=t.k, random_state=0)
    rec("MV", lambda: mv.fit(t.L_train).predict(t.L_test))
    ours = LabelModel(n_classes=t.k, random_state=0)
    rec("ours", lambda: ours.fit(t.L_train).predict(t.L_test))
    rec("Snorkel", lambda: snorkel_fit_predict(t.L_train, t.L_test, t.k).argmax(axis=1))
    hl_both = {}

    def hyperlm():
        hl_both["pred"] = hyperlm_infer(both, t.k)
        return hl_both["pred"] if t.transductive_test else hl_both["pred"][n1:]

    rec("hyperlm", hyperlm)
    fit_preds["MV"] = mv.predict(t.L_train)
    fit_preds["ours"] = ours.predict(t.L_train)
    fit_preds["hyperlm"] = hl_both["pred"][:n1]
    if t.L_valid is not None:
        n2 = n1 + len(t.L_valid)
        Lg = np.vstack([t.L_train, t.L_valid])
        yg = np.r_[np.full(n1, -1), t.y_valid]
        rec(
            "ours+gold",
            lambda: LabelModel(n_classes=t.k, random_state=0).fit(Lg, yg).predict(t.L_test),
        )
        rec(
            "hyperlm+gold",
            lambda: hyperlm_infer(np.vstack([Lg, t.L_test]), t.k, np.arange(n1, n2), t.y_valid)[
                n2:
            ],
        )
    split = "all" if t.transductive_test else "test"
    parts = {split: breakdown(t.L_test, t.y_test, preds, t.k)}
    if not t.transductive_test:
        parts["train"] = breakdown(t.L_train, t.y_train, fit_preds, t.k)
    return out, parts


ROW_KINDS = ("unique", "tie", "uncovered")


def breakdown(L: np.ndarray, y: np.ndarray, preds: dict, k: int) -> dict:
    """Rows by how majority vote sees them (one class has the most votes / a tie
    for the most / no vote at all): row counts, and correct predictions per system."""
    counts = vote_counts(L, k)
    top = counts.max(axis=1)
    n_top = (counts == top[:, None]).sum(axis=1)
    masks = {
        "unique": (top > 0) & (n_top == 1),
        "tie": (top > 0) & (n_top > 1),
        "uncovered": top == 0,
    }
    return {
        "rows": {kind: int(m.sum()) for kind, m in masks.items()},
        "correct": {
            s: {kind: int((p[m] == y[m]).sum()) for kind, m in masks.items()}
            for s, p in preds.items()
        },
    }


def main() -> None:
    results = {}
    parts = {}
    for name in DATASETS:
        results[name], parts[name] = run_one(name)
        print(name, {k: round(v[0], 4) for k, v in results[name].items()}, flush=True)

    def cell(r, key, i):
        return f"{r[key][i]:.3f}" if key in r else "–"

    lines = [
        "| dataset | metric | "
        + " | ".join(SYSTEMS)
        + " | ours / best baseline | ours+gold / hyperlm+gold |",
        "|---|---|" + "---|" * (len(SYSTEMS) + 2),
    ]
    tlines = ["| dataset | " + " | ".join(SYSTEMS) + " |", "|---|" + "---|" * len(SYSTEMS)]
    sums = {s: [] for s in SYSTEMS}
    for name, r in results.items():
        best = max(r[s][0] for s in ("MV", "Snorkel", "hyperlm"))
        ratio = r["ours"][0] / best if best > 0 else float("nan")
        gr = (
            f"{r['ours+gold'][0] / r['hyperlm+gold'][0]:.3f}"
            if "ours+gold" in r and r["hyperlm+gold"][0] > 0
            else "–"
        )
        metric = "F1(spam)" if name == "sms" else "acc"
        lines.append(
            f"| {name} | {metric} | "
            + " | ".join(cell(r, s, 0) for s in SYSTEMS)
            + f" | {ratio:.3f} | {gr} |"
        )
        tlines.append(f"| {name} | " + " | ".join(cell(r, s, 1) for s in SYSTEMS) + " |")
        for s in SYSTEMS:
            if s in r:
                sums[s].append(r[s][0])
    mean4 = {s: np.mean([results[n][s][0] for n in results]) for s in SYSTEMS[:4]}
    lines.append(
        "| **mean (9 sets)** | | "
        + " | ".join(f"{mean4[s]:.3f}" if s in mean4 else "" for s in SYSTEMS)
        + " | | |"
    )
    table = "\n".join(lines)
    ttable = "\n".join(tlines)
    print(table)
    print(ttable)

    img = ROOT / "docs" / "img" / "label_models.png"
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(12, 4.5))
        names = list(results)
        width = 0.13
        for i, s in enumerate(SYSTEMS):
            vals = [results[n][s][0] if s in results[n] else 0.0 for n in names]
            ax.bar(np.arange(len(names)) + (i - 2.5) * width, vals, width, label=s)
        ax.set_xticks(np.arange(len(names)))
        ax.set_xticklabels(names, rotation=20)
        ax.set_ylabel("test score (acc; sms: F1 spam)")
        ax.legend(ncol=6, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, 1.12))
        fig.tight_layout()
        fig.savefig(img, dpi=110)
    except ImportError:  # pragma: no cover
        pass

    md = ROOT / "docs" / "benchmarks_label_models.md"
    md.write_text(
        "# Label models on real weak-supervision data\n\n"
        "Generated by `.venv-bench/bin/python bench/label_models.py` (protocol in the script's "
        "docstring). Scores are on the test split (crowd sets: all rows, fit unsupervised on the "
        "same rows); sms is F1 of the spam class, everything else accuracy. Uncovered rows: MV "
        "and ours predict their class prior, Snorkel its `predict_proba` argmax, hyperlm its own "
        "output. Snorkel: `LabelModel(cardinality=k).fit(L, n_epochs=500, log_freq=100, "
        "seed=123)`. hyperlm 0.0.5: `HyperLabelModel().infer(L[, y_indices, y_vals])`.\n\n"
        "## Test scores\n\n" + table + "\n\n"
        "## Seconds (fit + predict; hyperlm includes inference on the stacked matrix)\n\n"
        + ttable
        + "\n\n![test scores](img/label_models.png)\n\n"
        "## Goals, checked by this run\n\n"
        + goal_notes(results)
        + "\n## Where the differences come from\n\n"
        + breakdown_section(parts)
        + "\n## Notes\n\n"
        + NOTES
    )
    print(f"wrote {md} and {img}")


def breakdown_section(parts: dict) -> str:
    """Correct predictions per kind of row, scored split and (where there is one) train."""
    head = (
        "Rows split by how majority vote sees them: one class has the most votes "
        "(`unique`), several classes tie for the most (`tie`), or no LF votes (`uncovered`, "
        "where a label model can only guess a class balance). On the sets whose LFs each vote "
        "one class, ours and hyperlm predict the MV winner on (almost) every `unique` row "
        "(Snorkel on most), so their scores differ on ties and uncovered rows. Correct "
        "rows per kind, on the "
        "scored rows and, for the sets with a separate train split, on the train (fit) "
        "rows, which every system also labels.\n\n"
    )
    lines = [
        "| dataset | rows | kind | n | " + " | ".join(SYSTEMS) + " |",
        "|---|---|---|---|" + "---|" * len(SYSTEMS),
    ]
    for name, by_split in parts.items():
        for split, b in by_split.items():
            for kind in ROW_KINDS:
                if b["rows"][kind] == 0:
                    continue
                cells = [
                    str(b["correct"][s][kind]) if s in b["correct"] else "–"
                    for s in SYSTEMS
                ]
                lines.append(
                    f"| {name} | {split} | {kind} | {b['rows'][kind]} | " + " | ".join(cells) + " |"
                )
    return head + "\n".join(lines) + "\n"


def goal_notes(results: dict) -> str:
    """The issue's goals, evaluated on this run's numbers (nothing hand-written)."""
    out = []
    short = []
    for name, r in results.items():
        best_name = max(("MV", "Snorkel", "hyperlm"), key=lambda s: r[s][0])
        gap = r["ours"][0] - r[best_name][0]
        if gap < -0.005:
            short.append(f"{name} ({gap * 100:+.1f} pt vs {best_name})")
    n = len(results)
    out.append(
        f"* `ours` within 0.5 pt of the best baseline or above: {n - len(short)} of {n} "
        "sets" + (f"; short on {', '.join(short)}." if short else ".")
    )
    means = {
        s: float(np.mean([r[s][0] for r in results.values()]))
        for s in ("MV", "Snorkel", "hyperlm", "ours")
    }
    best_base = max(("MV", "Snorkel", "hyperlm"), key=means.get)
    out.append(
        f"* mean over the {n} sets: ours {means['ours']:.3f}, best baseline "
        f"{best_base} {means[best_base]:.3f} ("
        + ("higher" if means["ours"] > means[best_base] else "NOT higher")
        + ")."
    )
    g1, g2 = [], []
    for name, r in results.items():
        if "ours+gold" not in r:
            continue
        if r["ours+gold"][0] < r["ours"][0] - 1e-9:
            g1.append(f"{name} ({r['ours+gold'][0]:.3f} < {r['ours'][0]:.3f})")
        if r["ours+gold"][0] < r["hyperlm+gold"][0] - 1e-9:
            g2.append(f"{name} ({r['ours+gold'][0]:.3f} < {r['hyperlm+gold'][0]:.3f})")
    out.append(
        "* `ours+gold` >= `ours` on every set with a valid split: "
        + ("yes." if not g1 else "no: " + ", ".join(g1) + ".")
    )
    out.append(
        "* `ours+gold` >= `hyperlm+gold`: "
        + ("yes on every set." if not g2 else "no on " + ", ".join(g2) + ".")
    )
    return "\n".join(out) + "\n"


NOTES = """\
* Design choices for `LabelModel` were made on train/valid only (valid gold split
  at random into a fitting and a scoring half for the gold variant); test is only
  read by this script.
* What mattered on train/valid: treating a one-sided LF (one that only ever votes
  one class) as a constant-precision rule whose weight is P(Y=c | fires) / P(Y=c)
  beat every EM variant that learns per-LF precisions without gold (they drift to
  spurious modes on sparse one-sided sets: youtube, sms, chemprot, hausa, yoruba).
  Two-sided LFs and crowd workers keep a Dawid-Skene confusion matrix.
* Read with the breakdown above: hyperlm's lead on youtube and sms test comes from
  the uncovered rows, where it predicts the spam class for every row (youtube test:
  10 of 18 right against our 8; sms: 41 of 302 against 261). The same rule on the
  train rows gets 39 of 180 (youtube) and 318 of 2719 (sms) right, against 141 and
  2401 for the class prior we predict. sms's F1 of 0.232 is close to that of calling
  every row spam (0.236).
* Where we really lose is MV ties: chemprot (MV's random tie break is right more
  often than any label model on both its splits) and yoruba (hyperlm resolves a few
  more ties). A one-sided LF has a constant precision here, so a vote for a rare
  class outweighs one for a common class; that wins most ties on youtube, semeval
  and hausa and loses on chemprot, whose rare-class LFs are the least precise.
* sms: the test split's spam votes are mostly wrong (21% precision, against 96% on
  train), so every system's F1 is low. The valid split is the same (1 of its 26 rows
  with a spam vote is spam), so `ours+gold`, taught by the valid gold, predicts no
  spam on test: its accuracy rises (0.844 -> 0.866) and its F1 of spam is 0, since
  41 of test's 67 spam rows have no vote and get the class balance.
"""


if __name__ == "__main__":
    main()
