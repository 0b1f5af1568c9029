"""The offline loop: evaluate label models and simulate an expert on a dataset.

:func:`evaluate` scores majority vote and the label model (with and without
gold labels) on a WRENCH-format dataset. :func:`simulate` runs the closed loop
with a simulated expert who answers with the train split's gold labels.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from loop.core.datasets import Dataset, DatasetError, Split
from loop.core.end_model import make_text_features
from loop.core.label_model import LabelModel, MajorityVote
from loop.core.labeling_loop import LabelingLoop
from loop.core.metrics import score
from loop.core.sampling import make_sampler

Log = Callable[[str], None]


def train_test(ds: Dataset) -> tuple[Split, Split]:
    """The split to fit on and the split to score on.

    Single-file (crowd) sets are fit and scored on the same rows; a set without
    ``train.json`` (chemprot_partial) fits on ``valid``.
    """
    if ds.single_file:
        return ds.splits["all"], ds.splits["all"]
    train = ds.splits["train"] if "train" in ds.splits else ds.splits["valid"]
    return train, ds.splits["test"]


def scored_on(ds: Dataset) -> str:
    """The split :func:`train_test` scores on: ``all`` for a single-file set (the rows
    fitted on), else ``test``."""
    return "all" if ds.single_file else "test"


def scored_rows(ds: Dataset, split: Split) -> np.ndarray:
    """The rows of ``split`` with a gold label (``label`` -1 is unknown: scored as
    wrong it would pull every score down); a DatasetError when there are none."""
    known = split.y >= 0
    if not known.any():
        raise DatasetError(
            f"{ds.name}: the split scored on (test.json; all.json for a single-file set) "
            "has no gold labels (all -1), so nothing can be scored; add the labels of "
            "some of its rows")
    return known


def evaluate(ds: Dataset, metric: str, random_state: int = 0) -> dict[str, Any]:
    """Score majority vote, the label model and the gold-anchored label model on
    the test rows with a gold label (majority vote breaks ties at random, and
    gives a row without votes the class the train split's votes favour)."""
    train, test = train_test(ds)
    known = scored_rows(ds, test)
    k = ds.n_classes
    models: dict[str, dict[str, float]] = {}

    def run(name: str, model: Any, L: np.ndarray, y: np.ndarray | None) -> None:
        t0 = time.perf_counter()
        model.fit(L, y)
        pred = model.predict(test.L)
        models[name] = {
            "score": score(metric, test.y[known], pred[known]),
            "seconds": time.perf_counter() - t0,
        }

    run("majority_vote", MajorityVote(n_classes=k, random_state=random_state), train.L, None)
    run("label_model", LabelModel(n_classes=k, random_state=random_state), train.L, None)
    if (not ds.single_file and "train" in ds.splits and "valid" in ds.splits
            and (ds.splits["valid"].y >= 0).any()):  # a valid split without gold: no row
        valid = ds.splits["valid"]
        L = np.vstack([train.L, valid.L])
        y = np.concatenate([np.full(len(train.y), -1), valid.y])
        run("label_model_gold", LabelModel(n_classes=k, random_state=random_state), L, y)
    out: dict[str, Any] = {
        "dataset": ds.name,
        "metric": metric,
        "n_train": len(train.y),
        "scored_on": scored_on(ds),
        "n_test": int(known.sum()),  # scored: the test rows with a gold label
        "n_test_unlabeled": int((~known).sum()),
        "models": models,
    }
    if "label_model_gold" not in models:  # a trial: it was left out without a word
        out["label_model_gold_skipped"] = (
            "one file (all.json): no valid split to take gold from" if ds.single_file
            else "no valid.json" if "valid" not in ds.splits
            # chemprot_partial was told its valid split had no gold label
            else "no train.json: the valid split is the one fitted on, so its gold "
                 "cannot anchor a fit on other rows" if "train" not in ds.splits
            else "the valid split has no gold label")
    return out


def simulate(
    ds: Dataset,
    *,
    budget: int,
    batch_size: int = 10,
    seed: int = 0,
    metric: str = "acc",
    strategy: str = "loop",
    log: Log | None = None,
    suggest_rules: int = 0,
    rule_precision: float = 0.8,
    stops: Sequence[int] = (),
) -> dict[str, Any]:
    """Run the loop with a simulated expert; return the learning curve.

    Each round the strategy picks ``batch_size`` train items, the expert reveals
    their gold labels, the label model is refit with all gold so far, the end
    model retrained, and both are scored on the test split. ``end_model`` is
    ``None`` for sets without text.

    ``stops``: answer counts a batch never crosses, so the curve has a point at
    each (a batch is cut short there; see :func:`schedule`).

    ``suggest_rules``: after each batch, up to this many rules suggested from the
    gold so far (:func:`~loop.core.suggest.suggest_rules`) are shown to the
    simulated expert, who accepts one when its precision on the train split's
    gold is at least ``rule_precision`` (an oracle on rules, as it is on items)
    and rejects it otherwise; an accepted rule becomes an LF on train and test.
    Each curve point then lists the rules accepted so far.
    """
    if budget < 0:
        raise ValueError(f"budget must be >= 0, got {budget}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    train, test = train_test(ds)
    scored = scored_rows(ds, test)
    k = ds.n_classes
    if ds.single_file and log is not None:
        log(f"loop: {ds.name} is one file (all.json), so the rows fitted on are the rows "
            "scored, answered ones too: the curve flatters the loop (give it a test.json "
            "to score on rows it never sees)")
    # The simulated expert can only answer items whose gold label the file has.
    unknown = train.y < 0
    n_known = int(np.count_nonzero(~unknown))
    if budget > 0 and n_known == 0:
        raise DatasetError(
            f"{ds.name}: the fit split has no gold labels (all -1), so no expert can be "
            "simulated; use 'loop evaluate', or add gold labels to train.json"
        )
    texts, test_texts = train.texts, test.texts  # what rules read
    X_feat = X_test = None
    if texts is not None and test_texts is not None:  # what the end model reads
        X_feat, X_test = make_text_features(train.model_texts or [], test.model_texts or [])
    loop = LabelingLoop(train.L, X_feat, n_classes=k, random_state=seed,
                        sampler=make_sampler(strategy, batch_size=batch_size, random_state=seed))
    curve: list[dict[str, Any]] = []
    test_L = test.L
    rules: list[dict[str, Any]] = []
    seen: set[str] = set()
    index = None
    if suggest_rules and texts is not None:
        from loop.core.rules import TextBatch
        from loop.core.suggest import TermIndex

        index = TermIndex(texts)
        batches = TextBatch(texts), TextBatch(test_texts or [])  # joined once, matched often
    while True:
        if index is not None and loop.n_gold:
            added, votes = _expert_rules(loop, train, batches[0], index, suggest_rules,
                                         rule_precision, seen, k)
            if added:
                loop.add_lfs(votes)
                test_L = np.hstack([test_L, _votes(added, batches[1]).astype(test_L.dtype)])
                rules += [{"n_gold": loop.n_gold, "rule": r.to_dict()} for r in added]
        loop.fit()
        point: dict[str, Any] = {
            "n_gold": loop.n_gold,
            "label_model": score(metric, test.y[scored],
                                 loop.label_model_.predict(test_L)[scored]),
            "end_model": None,
        }
        if suggest_rules:
            point["rules_accepted"] = len(rules)
            point["rules_proposed"] = len(seen)
        if loop.end_model_ is not None:
            point["end_model"] = score(metric, test.y[scored],
                                       loop.end_model_.predict(X_test)[scored])
        curve.append(point)
        if log is not None:
            end = point["end_model"]
            log(
                f"n_gold={point['n_gold']} label_model={point['label_model']:.4f} "
                f"end_model={'-' if end is None else format(end, '.4f')}"
            )
        stopped = None
        if loop.n_gold >= budget:
            break
        if loop.n_gold >= n_known:
            stopped = (f"every item with a gold label in the fit split was answered "
                       f"({n_known})")
            break
        batch = loop.query(next_batch(loop.n_gold, budget, batch_size, stops), exclude=unknown)
        if batch.size == 0:
            stopped = (f"the strategy asked for no more items: the {n_known - loop.n_gold} "
                       "items with a gold label not answered copy the features of answered ones "
                       "(their answers are known)")
            break
        loop.teach(batch, train.y[batch], refit=False)  # the simulated expert answers
    out: dict[str, Any] = {
        "dataset": ds.name,
        "metric": metric,
        "strategy": strategy,
        "seed": seed,
        "scored_on": scored_on(ds),
        "n_test": int(scored.sum()),  # scored: the test rows with a gold label
        "n_test_unlabeled": int((~scored).sum()),
        "curve": curve,
    }
    if stopped is not None:
        out["stopped_before_budget"] = stopped
        if log is not None:
            log(f"loop: stopped at {loop.n_gold} of {budget} answers: {stopped}")
    if suggest_rules:
        out["rules"] = rules
    return out


def next_batch(n_gold: int, budget: int, batch_size: int, stops: Sequence[int] = ()) -> int:
    """Size of the next batch: ``batch_size``, cut at the budget and at the next stop."""
    nxt = min([s for s in stops if s > n_gold] + [budget])
    return max(1, min(batch_size, nxt - n_gold))


def schedule(budget: int, batch_size: int, stops: Sequence[int] = ()) -> list[int]:
    """The answer counts :func:`simulate` scores at (when every item can be asked)."""
    out, n = [0], 0
    while n < budget:
        n += next_batch(n, budget, batch_size, stops)
        out.append(n)
    return out


def _votes(rules: list[Any], texts: Any) -> np.ndarray:
    return np.stack([np.where(r.match(texts), r.label, -1) for r in rules], axis=1)


def _expert_rules(loop: LabelingLoop, train: Any, batch: Any, index: Any, k: int,
                  min_precision: float, seen: set[str], n_classes: int,
                  ) -> tuple[list[Any], np.ndarray]:
    """The suggested rules the simulated expert accepts (see :func:`simulate`) and
    their votes on the train rows (``batch``: the train texts)."""
    from loop.core.suggest import suggest_rules

    known = train.y >= 0
    sugs = suggest_rules(train.texts, loop.y, loop.L, n_classes, k=k, index=index,
                         exclude=seen, name_prefix=f"rule{len(seen)}",
                         proba=loop.end_proba_)  # as the service reads them
    added, votes = [], []
    for s in sugs:
        seen.add(s.key)
        match = s.rule.match(batch)
        hit = match & known
        if hit.any() and float((train.y[hit] == s.rule.label).mean()) >= min_precision:
            added.append(s.rule)
            votes.append(np.where(match, s.rule.label, -1))
    return added, (np.stack(votes, axis=1) if votes else np.zeros((batch.n, 0), np.int64))
