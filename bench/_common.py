"""Shared helpers for the label-model benchmarks (run with .venv-bench/bin/python)."""

from __future__ import annotations

import os
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")

from loop.core.datasets import load_wrench  # noqa: E402

DATA = Path(os.environ.get("LOOP_BENCH_DATA", "/work/shared/data"))
DATASETS = [
    "youtube", "sms", "semeval", "chemprot_partial", "hausa", "yoruba",
    "crowd_bluebirds", "crowd_face", "crowd_product",
]


@dataclass
class Task:
    """What each system sees: fit rows, scoring rows and optional gold rows."""

    name: str
    k: int
    L_train: np.ndarray       # unlabeled fit rows
    L_valid: np.ndarray | None
    y_valid: np.ndarray | None
    L_test: np.ndarray        # scored rows
    y_test: np.ndarray
    y_train: np.ndarray       # gold of the fit rows (only for analysis, never for fitting)
    transductive_test: bool   # test rows are the fit rows (crowd sets)

    @property
    def metric_name(self) -> str:
        return "F1(spam)" if self.name == "sms" else "acc"


def load_task(name: str) -> Task:
    ds = load_wrench(DATA / name)
    k = ds.n_classes
    if ds.single_file:
        s = ds.splits["all"]
        return Task(name, k, s.L, None, None, s.L, s.y, s.y, True)
    if "train" not in ds.splits:  # chemprot_partial: valid is the unlabeled train
        v, t = ds.splits["valid"], ds.splits["test"]
        return Task(name, k, v.L, None, None, t.L, t.y, v.y, False)
    tr, v, t = ds.splits["train"], ds.splits["valid"], ds.splits["test"]
    return Task(name, k, tr.L, v.L, v.y, t.L, t.y, tr.y, False)


def score(name: str, y: np.ndarray, pred: np.ndarray) -> float:
    y = np.asarray(y)
    pred = np.asarray(pred)
    if name == "sms":
        tp = np.sum((pred == 1) & (y == 1))
        fp = np.sum((pred == 1) & (y != 1))
        fn = np.sum((pred != 1) & (y == 1))
        return float(2 * tp / max(2 * tp + fp + fn, 1))
    return float(np.mean(pred == y))


def argmax_first(proba: np.ndarray) -> np.ndarray:
    return np.asarray(proba).argmax(axis=1)


# -- baselines -------------------------------------------------------------------------
def snorkel_fit_predict(L_fit: np.ndarray, L_pred: np.ndarray, k: int) -> np.ndarray:
    """Snorkel 0.10 LabelModel with the tutorial settings; returns proba for L_pred."""
    import logging

    logging.getLogger().setLevel(logging.WARNING)
    from snorkel.labeling.model import LabelModel as SnorkelLM

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lm = SnorkelLM(cardinality=k, verbose=False)
        lm.fit(L_fit.astype(np.int64), n_epochs=500, log_freq=100, seed=123, progress_bar=False)
        return lm.predict_proba(L_pred.astype(np.int64))


_HLM = None


def hyperlm_infer(L: np.ndarray, k: int, gold_idx=None, gold_val=None) -> np.ndarray:
    """hyperlm on the whole matrix L (transductive); returns hard labels (n,).

    hyperlm drops trailing rows with no vote (its sparse input loses them), so a
    covered row is swapped to the end and the permutation undone afterwards. It
    infers the number of classes from the largest vote (or gold label) it sees.
    """
    global _HLM
    import torch

    torch.set_num_threads(1)
    from hyperlm import HyperLabelModel

    if _HLM is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _HLM = HyperLabelModel(device="cpu")
    L = np.asarray(L, dtype=np.int64)
    n = L.shape[0]
    covered = np.flatnonzero((L >= 0).any(axis=1))
    order = np.arange(n)
    last = covered[-1]
    order[[last, n - 1]] = order[[n - 1, last]]
    inv = np.argsort(order)  # position of original row i in the permuted matrix
    Lp = L[order]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if gold_idx is None:
            pred = _HLM.infer(Lp)
        else:
            pred = _HLM.infer(Lp, inv[np.asarray(gold_idx)], np.asarray(gold_val))
    return np.asarray(pred)[inv]


def timed(fn, *a, **kw):
    t0 = time.perf_counter()
    r = fn(*a, **kw)
    return r, time.perf_counter() - t0
