"""Does gold hurt the label model on rules nobody on the project chose? A held-out test.

Run: .venv/bin/python bench/unseen_rules.py [--seeds 8] [--subsets 10] [--sizes 30 50 100 200]
Writes its section of docs/label_model_design.md.

The shared sets' own weak labels have been looked at while the label model was
built, so this benchmark brings rules of its own: keyword and regex LFs written
by an independent evaluator over the raw text (``bench/unseen_rules/lfs_*.py``,
session 58; the evaluator looked at train labels, as an expert with a few
examples would, never at test, and had not seen the project's choices), mostly
one-sided, of every quality: semeval (56 rules, 9 classes), semeval_b (a second,
lazier set of 37), chemprot (52 rules, 10 classes; train is 1,107 rows of
chemprot_partial's valid split, valid the other 500), sms and youtube (35 and 23
rules over the UCI raw collections, split 60 / 20 / 20 with a fixed seed).

For each set, the rule set as written and ``--subsets - 1`` random halves of it
(more sets of rules, as different experts would write); for each, gold of each
size drawn at random ``--seeds`` times, from the valid split (the label model
fitted on train plus those rows) and from train itself (those rows taken out of
the unlabeled ones). Scored: test accuracy (sms: F1 of spam) of the label model
without gold, with gold, and majority vote, as ``loop evaluate`` fits them.
A cell is hurt where gold costs more than 0.5 point.
"""

from __future__ import annotations

import argparse
import csv
import glob
import importlib
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "bench" / "unseen_rules"))
from _report import write_section  # noqa: E402

from loop.core.label_model import LabelModel, MajorityVote  # noqa: E402
from loop.core.metrics import score  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
DOC = ROOT / "docs" / "label_model_design.md"
SETS = {"semeval": "acc", "semeval_b": "acc", "chemprot": "acc", "sms": "f1", "youtube": "acc"}


def _json(path: Path) -> dict:
    return json.loads(path.read_text())


def _split3(rows: list, seed: int) -> dict[str, list]:
    perm = np.random.RandomState(seed).permutation(len(rows))
    a, b = int(0.6 * len(rows)), int(0.8 * len(rows))
    return {"train": [rows[i] for i in perm[:a]], "valid": [rows[i] for i in perm[a:b]],
            "test": [rows[i] for i in perm[b:]]}


def splits(name: str) -> dict[str, list[tuple[int, dict]]]:
    """(label, data) rows of each split."""
    if name in ("semeval", "semeval_b"):
        return {s: [(v["label"], v["data"]) for v in _json(DATA / "semeval" / f"{s}.json").values()]
                for s in ("train", "valid", "test")}
    if name == "chemprot":  # no train split: 1,107 rows of valid are train
        v = [(x["label"], x["data"])
             for x in _json(DATA / "chemprot_partial" / "valid.json").values()]
        perm = np.random.RandomState(12345).permutation(len(v))
        return {"train": [v[i] for i in perm[500:]], "valid": [v[i] for i in perm[:500]],
                "test": [(x["label"], x["data"])
                         for x in _json(DATA / "chemprot_partial" / "test.json").values()]}
    if name == "sms":
        lines = (DATA / "sms_spam_collection_uci" / "SMSSpamCollection").read_text(
            encoding="utf-8").splitlines()
        rows = [(1 if lab == "spam" else 0, {"text": txt})
                for lab, txt in (line.split("\t", 1) for line in lines if line)]
        return _split3(rows, 777)
    rows = []
    for f in sorted(glob.glob(str(DATA / "youtube_spam_collection_uci" / "*.csv"))):
        with open(f, newline="", encoding="utf-8-sig") as fh:
            rows += [(int(r["CLASS"]), {"text": r["CONTENT"]}) for r in csv.DictReader(fh)]
    return _split3(rows, 778)


def votes(name: str) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], int, int]:
    """Each split's ``(L, y)`` under the set's rules, the number of classes and rules."""
    mod = importlib.import_module(f"lfs_{name}")
    out = {}
    for s, rows in splits(name).items():
        recs = [mod.prep(d) for _, d in rows]
        L = np.full((len(recs), len(mod.LFS)), -1, dtype=np.int8)
        for j, (_, c, fn) in enumerate(mod.LFS):
            L[[i for i, r in enumerate(recs) if fn(r)], j] = c
        out[s] = (L, np.array([y for y, _ in rows]))
    k = int(max(y.max() for _, y in out.values())) + 1
    return out, k, len(mod.LFS)


def sweep(name: str, metric: str, subsets: int, seeds: int, sizes: list[int]) -> list[dict]:
    sp, k, m = votes(name)
    (Ltr0, ytr), (Lva0, yva), (Lte0, yte) = sp["train"], sp["valid"], sp["test"]

    def sc(model: object, L: np.ndarray, y: np.ndarray = yte) -> float:
        return float(score(metric, y, model.predict(L)))  # type: ignore[attr-defined]

    rows = []
    for sub in range(subsets):
        cols = (np.arange(m) if sub == 0 else
                np.sort(np.random.RandomState(500 + sub).choice(m, m // 2, replace=False)))
        Ltr, Lva, Lte = Ltr0[:, cols], Lva0[:, cols], Lte0[:, cols]
        mv = sc(MajorityVote(n_classes=k, random_state=0).fit(Ltr), Lte)
        lm_model = LabelModel(n_classes=k, random_state=0).fit(Ltr)
        lm, lm_pool = sc(lm_model, Lte), sc(lm_model, Ltr, ytr)
        for kind in ("valid", "train"):
            for n in sizes:
                if kind == "valid" and n >= len(yva):
                    continue
                for s in range(seeds):
                    rng = np.random.RandomState(7919 * s + n + (0 if kind == "valid" else 17))
                    if kind == "valid":
                        pick = rng.choice(len(yva), n, replace=False)
                        Lt, yt, Lg, yg = Ltr, ytr, Lva[pick], yva[pick]
                        mv_, lm_, lm_pool_ = mv, lm, lm_pool
                    else:
                        pick = rng.choice(len(ytr), n, replace=False)
                        keep = np.setdiff1d(np.arange(len(ytr)), pick)
                        Lt, yt, Lg, yg = Ltr[keep], ytr[keep], Ltr[pick], ytr[pick]
                        mv_ = sc(MajorityVote(n_classes=k, random_state=0).fit(Lt), Lte)
                        base = LabelModel(n_classes=k, random_state=0).fit(Lt)
                        lm_, lm_pool_ = sc(base, Lte), sc(base, Lt, yt)
                    gm = LabelModel(n_classes=k, random_state=0).fit(
                        np.vstack([Lt, Lg]), np.r_[np.full(len(Lt), -1), yg])
                    # scored on test, and on the unlabeled train rows the model
                    # labels (what a user exports; no split's sampling noise)
                    rows.append({"set": name, "subset": sub, "kind": kind, "n_gold": n,
                                 "seed": s, "mv": mv_, "lm": lm_, "lm_gold": sc(gm, Lte),
                                 "lm_pool": lm_pool_, "lm_gold_pool": sc(gm, Lt, yt)})
        print(f"{name} subset {sub}: MV {mv:.3f} LM {lm:.3f}", file=sys.stderr, flush=True)
    return rows


def report(rows: list[dict], rules: dict[str, int], cmd: str, seconds: float) -> str:
    lines = ["## Rules nobody on the project chose: does gold hurt?", "",
             f"Written by `{cmd}` in {seconds:.0f} s (`bench/unseen_rules.py`; protocol in its "
             "docstring). Test split; sms: F1 of spam. Per set and gold size, over every rule set "
             "(as written and its random halves), gold draw and source (valid or train rows): the "
             "label model with gold minus without (mean, worst), the cells where gold costs more "
             "than 0.5 point, and where the label model with gold is more than 0.5 point below "
             "majority vote. The last three columns score the same fits on the rows they label "
             "(the unlabeled train rows, a few thousand: what a user exports), where a test "
             "split's own sampling (a few hundred rows) does not enter.", "",
             "| set (rules) | gold | cells | LM | LM + gold | gain, mean | worst | hurt "
             "| below MV | labeled rows: gain | worst | hurt |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name in SETS:
        mine = [r for r in rows if r["set"] == name]
        for n in sorted({r["n_gold"] for r in mine}):
            c = [r for r in mine if r["n_gold"] == n]
            d = np.array([r["lm_gold"] - r["lm"] for r in c]) * 100
            below = int(sum((r["lm_gold"] - r["mv"]) * 100 < -0.5 for r in c))
            dp = np.array([r["lm_gold_pool"] - r["lm_pool"] for r in c]) * 100
            lines.append(f"| {name} ({rules[name]}) | {n} | {len(c)} | "
                         f"{np.mean([r['lm'] for r in c]):.3f} | "
                         f"{np.mean([r['lm_gold'] for r in c]):.3f} | {d.mean():+.1f} | "
                         f"{d.min():+.1f} | {int((d < -0.5).sum())} | {below} | {dp.mean():+.1f} | "
                         f"{dp.min():+.1f} | {int((dp < -0.5).sum())} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    ap.add_argument("--subsets", type=int, default=10)
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--sizes", type=int, nargs="+", default=[30, 50, 100, 200])
    ap.add_argument("--jobs", type=int, default=2, help="sets swept at once (processes)")
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    rules = {name: len(importlib.import_module(f"lfs_{name}").LFS) for name in a.sets}
    work = [(name, SETS[name], a.subsets, a.seeds, a.sizes) for name in a.sets]
    if a.jobs > 1:
        from multiprocessing import Pool

        with Pool(a.jobs) as pool:
            parts = pool.starmap(sweep, work)
    else:
        parts = [sweep(*w) for w in work]
    rows = [r for part in parts for r in part]
    cmd = "python bench/unseen_rules.py " + " ".join(argv if argv is not None else sys.argv[1:])
    body = report(rows, rules, cmd.strip(), time.perf_counter() - t0)
    print(body)
    if not a.no_write:
        write_section(DOC, "unseen_rules", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
