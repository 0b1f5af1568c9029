"""The offline loop: evaluate label models and simulate an expert on a dataset.

:func:`evaluate` scores majority vote and the label model (with and without
gold labels) on a WRENCH-format dataset. :func:`simulate` runs the closed loop
with a simulated expert who answers with the train split's gold labels.
"""

from __future__ import annotations

import time
from collections.abc import Callable
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


def evaluate(ds: Dataset, metric: str, random_state: int = 0) -> dict[str, Any]:
    """Score majority vote, the label model and the gold-anchored label model."""
    train, test = train_test(ds)
    k = ds.n_classes
    models: dict[str, dict[str, float]] = {}

    def run(name: str, model: Any, L: np.ndarray, y: np.ndarray | None) -> None:
        t0 = time.perf_counter()
        model.fit(L, y)
        pred = model.predict(test.L)
        models[name] = {
            "score": score(metric, test.y, pred),
            "seconds": time.perf_counter() - t0,
        }

    run("majority_vote", MajorityVote(n_classes=k, random_state=random_state), train.L, None)
    run("label_model", LabelModel(n_classes=k, random_state=random_state), train.L, None)
    if not ds.single_file and "train" in ds.splits and "valid" in ds.splits:
        valid = ds.splits["valid"]
        L = np.vstack([train.L, valid.L])
        y = np.concatenate([np.full(len(train.y), -1), valid.y])
        run("label_model_gold", LabelModel(n_classes=k, random_state=random_state), L, y)
    return {
        "dataset": ds.name,
        "metric": metric,
        "n_train": len(train.y),
        "n_test": len(test.y),
        "models": models,
    }


def simulate(
    ds: Dataset,
    *,
    budget: int,
    batch_size: int = 10,
    seed: int = 0,
    metric: str = "acc",
    strategy: str = "loop",
    log: Log | None = None,
) -> dict[str, Any]:
    """Run the loop with a simulated expert; return the learning curve.

    Each round the strategy picks ``batch_size`` train items, the expert reveals
    their gold labels, the label model is refit with all gold so far, the end
    model retrained, and both are scored on the test split. ``end_model`` is
    ``None`` for sets without text.
    """
    if budget < 0:
        raise ValueError(f"budget must be >= 0, got {budget}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    train, test = train_test(ds)
    k = ds.n_classes
    # The simulated expert can only answer items whose gold label the file has.
    unknown = train.y < 0
    n_known = int(np.count_nonzero(~unknown))
    if budget > 0 and n_known == 0:
        raise DatasetError(
            f"{ds.name}: the fit split has no gold labels (all -1), so no expert can be "
            "simulated; use 'loop evaluate', or add gold labels to train.json"
        )
    texts, test_texts = train.texts, test.texts
    X_feat = X_test = None
    if texts is not None and test_texts is not None:
        X_feat, X_test = make_text_features(texts, test_texts)
    loop = LabelingLoop(train.L, X_feat, n_classes=k, random_state=seed,
                        sampler=make_sampler(strategy, batch_size=batch_size, random_state=seed))
    curve: list[dict[str, Any]] = []
    while True:
        loop.fit()
        point: dict[str, Any] = {
            "n_gold": loop.n_gold,
            "label_model": score(metric, test.y, loop.label_model_.predict(test.L)),
            "end_model": None,
        }
        if loop.end_model_ is not None:
            point["end_model"] = score(metric, test.y, loop.end_model_.predict(X_test))
        curve.append(point)
        if log is not None:
            log(
                f"n_gold={point['n_gold']} label_model={point['label_model']:.4f} "
                f"end_model={point['end_model']}"
            )
        if loop.n_gold >= budget or loop.n_gold >= n_known:
            break
        batch = loop.query(min(batch_size, budget - loop.n_gold), exclude=unknown)
        if batch.size == 0:
            break
        loop.teach(batch, train.y[batch], refit=False)  # the simulated expert answers
    return {
        "dataset": ds.name,
        "metric": metric,
        "strategy": strategy,
        "seed": seed,
        "curve": curve,
    }
