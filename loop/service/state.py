"""What the model steps read from Redis, once per step: ``L``, gold, exclusions."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import precision_recall_fscore_support

from loop.core.metrics import score
from loop.errors import NotReady
from loop.storage import RedisStore


def known_labels(store: RedisStore, pid: str, n: int, held_out: bool) -> np.ndarray:
    """Every known class by row (``n`` rows, -1 = unknown): uploaded labels, then
    answers (answers win); ``held_out``: the held-out evaluation items' labels too.
    For reports and rule statistics; the model steps read :class:`State`."""
    y = np.full(n, -1, dtype=np.int64)
    up = store.uploaded_gold(pid)
    if not held_out:
        ev = store.eval_ids(pid)
        up = {i: c for i, c in up.items() if i not in ev}
    gold = {i: g["label"] for i, g in store.gold(pid).items()}
    for src in (up, gold):
        ids = list(src)
        rows = store.rows_of(pid, ids)
        ok = (rows >= 0) & (rows < n)
        y[rows[ok]] = np.array([src[i] for i in ids], dtype=np.int64)[ok]
    return y


def random_gold_rows(store: RedisStore, pid: str, y: np.ndarray,
                     uploaded: np.ndarray | None = None) -> np.ndarray:
    """Which rows of the known labels ``y`` were drawn at random: uploaded labels
    outside the hold-out that no answer replaced (``uploaded``, their rows, when the
    caller has read them already; else read here), and the answers to items served as
    exploration picks (:mod:`loop.storage.queue` ``audit``). The sampler's other picks
    are the hard cases, where an LF is wrong far more often than on its items at large."""
    n = y.size
    ids = list(store.audit_ids(pid))
    if uploaded is None and store.n_uploaded_gold(pid) > store.n_eval(pid):
        skip = store.eval_ids(pid) | set(store.gold(pid))
        ids += [i for i in store.uploaded_gold(pid) if i not in skip]
    rows = store.rows_of(pid, ids)
    if uploaded is not None:
        rows = np.concatenate([rows, uploaded])
    out = np.zeros(n, dtype=bool)
    out[rows[(rows >= 0) & (rows < n)]] = True
    return out & (y >= 0)


class State:
    """A project's ``L``, gold vector ``y`` and which gold was drawn at random.

    ``version`` is the project's state version read *before* everything else, so
    a ranking made from this state is never labeled newer than its data. Built
    from row lookups of the (small) gold, eval, audit and lease sets: no list of
    every item id is loaded and no Python loop runs over every item.
    """

    def __init__(self, store: RedisStore, pid: str) -> None:
        self.store, self.pid = store, pid
        self.version = store.state_version(pid)
        self.project = store.get_project(pid)
        self.k = len(self.project["labels"])
        L, meta = store.load_L(pid)
        n = store.n_items(pid)
        if L is None or L.shape[0] != n:
            raise NotReady("apply the LFs to every item first (job type apply_lfs)")
        self.L, self.meta, self.n = L, meta, n
        gold = store.gold(pid)
        gids = list(gold)
        rows = store.rows_of(pid, gids)
        ok = rows >= 0
        self.y = np.full(n, -1, dtype=np.int64)
        self.y[rows[ok]] = np.array([gold[i]["label"] for i in gids], dtype=np.int64)[ok]
        # Uploaded gold outside the eval hold-out is gold too (answers win). Two
        # counts first: an upload held out whole (eval_fraction=1) reads nothing.
        up: dict[str, int] = {}
        if store.n_uploaded_gold(pid) > store.n_eval(pid):
            held_out = store.eval_ids(pid)
            up = {i: c for i, c in store.uploaded_gold(pid).items() if i not in held_out}
        uids = list(up)
        urows = store.rows_of(pid, uids)
        uok = urows >= 0
        ulabels = np.array([up[i] for i in uids], dtype=np.int64)[uok]
        urows = urows[uok]
        fresh = self.y[urows] < 0
        self.y[urows[fresh]] = ulabels[fresh]
        #: Rows whose gold was drawn at random (:func:`random_gold_rows`).
        self.random_gold = random_gold_rows(store, pid, self.y, uploaded=urows[fresh])
        self._eval: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def n_gold(self) -> int:
        return int((self.y >= 0).sum())

    def rows(self, ids: set[str] | list[str]) -> np.ndarray:
        r = self.store.rows_of(self.pid, list(ids))
        return r[r >= 0]

    def exclude(self) -> np.ndarray:
        """Rows never to rank: held out for evaluation, or leased to someone now."""
        out = np.zeros(self.n, dtype=bool)
        out[self.eval_rows()[0]] = True
        out[self.rows(self.store.leased_ids(self.pid))] = True
        return out

    def eval_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """Rows of the held-out eval items and their uploaded classes."""
        if self._eval is None:
            ev = sorted(self.store.eval_ids(self.pid))
            rows = self.store.rows_of(self.pid, ev)
            y = self.store.uploaded_gold_of(self.pid, ev)
            keep = [i for i, (r, c) in enumerate(zip(rows, y, strict=True))
                    if r >= 0 and c is not None]
            self._eval = (rows[keep], np.array([y[i] for i in keep], dtype=np.int64))
        return self._eval

    def eval_score(self, proba: np.ndarray | None, covered_only: bool = False) -> float | None:
        """Accuracy of ``proba``'s argmax on the held-out items (None without any);
        ``covered_only``: on those some LF votes on (see :meth:`eval_covered`)."""
        got = self._eval_predictions(proba, covered_only)
        return None if got is None else score("acc", got[0].tolist(), got[1])

    def _eval_predictions(self, proba: np.ndarray | None, covered_only: bool,
                          ) -> tuple[np.ndarray, np.ndarray] | None:
        """The held-out items' classes and ``proba``'s argmax on them (only where an
        LF votes with ``covered_only``); None without any."""
        rows, y_true = self.eval_rows()
        if covered_only:
            keep = self.eval_covered()
            rows, y_true = rows[keep], y_true[keep]
        if proba is None or rows.size == 0 or len(proba) != self.n:
            return None
        return y_true, np.asarray(proba)[rows].argmax(axis=1)

    def eval_report(self, proba: np.ndarray | None,
                    covered_only: bool = False) -> dict[str, Any] | None:
        """Precision, recall and F1 of ``proba``'s argmax per class on the held-out
        items (``covered_only`` as in :meth:`eval_score`), their macro mean, and how
        many items: ``{"n", "macro_f1", "classes": {label: {precision, recall, f1,
        support}}}``; None without any. Accuracy hides a rare class (sms: 0.97
        right while a third of the spam is missed)."""
        got = self._eval_predictions(proba, covered_only)
        if got is None:
            return None
        y_true, pred = got
        labels = self.project["labels"]
        p, r, f, n = precision_recall_fscore_support(
            y_true, pred, labels=list(range(self.k)), zero_division=0)
        present = n > 0  # the macro mean over the classes the held-out items have
        predicted = np.bincount(pred, minlength=self.k)

        def score(x: float, defined: bool) -> float | None:
            # 0/0 is no score (a class with no held-out item read F1 0.0)
            return round(float(x), 6) if defined else None

        return {"n": int(y_true.size),
                "macro_f1": float(f[present].mean()) if present.any() else None,
                "classes": {labels[c]: {"precision": score(p[c], predicted[c] > 0),
                                        "recall": score(r[c], n[c] > 0),
                                        "f1": score(f[c], n[c] > 0), "support": int(n[c])}
                            for c in range(self.k)}}

    def eval_covered(self) -> np.ndarray:
        """Bool mask over :meth:`eval_rows`: an LF votes on the item. The label
        model decides only there: elsewhere its output is the class balance, one
        guess for every such item (a balance near even flips them all at once)."""
        rows, _ = self.eval_rows()
        return np.asarray((self.L[rows] >= 0).any(axis=1), dtype=bool)
