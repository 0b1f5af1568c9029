"""Use cases of the service. Collaborators (the store, LFs) come in as arguments.

Queue use cases (next, answer, skip, undo, export) live in
:mod:`loop.annotation` and are re-exported here.
"""

from __future__ import annotations

import importlib
import random
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from loop.core.apply import LFErrorSummary, apply_lfs, merge_errors
from loop.core.end_model import EndModel, make_classifier, make_text_features
from loop.core.label_model import LabelModel
from loop.core.lf import LabelingFunction, Record
from loop.core.metrics import score
from loop.core.sampling import LoopSampler
from loop.errors import BadRequest, NotReady
from loop.storage.redis import RedisStore
from loop.uploads import parse_items

Progress = Callable[[int, int], None]


def load_lfs(module_path: str) -> list[LabelingFunction]:
    """The LFs of a module: its ``LFS`` list, else every LabelingFunction it defines."""
    try:
        mod = importlib.import_module(module_path)
    except ImportError as exc:
        raise BadRequest(f"cannot import lf_module {module_path!r}: {exc}") from None
    lfs = getattr(mod, "LFS", None)
    if lfs is None:
        lfs = [v for v in vars(mod).values() if isinstance(v, LabelingFunction)]
    if not lfs:
        raise BadRequest(f"lf_module {module_path!r} defines no labeling functions")
    return list(lfs)


#: Upper bound on a project's ``answers_per_item``.
MAX_ANSWERS_PER_ITEM = 20


def create_project(
    store: RedisStore, name: Any, labels: Any, lf_module: Any, text_field: Any = "text",
    answers_per_item: Any = 1,
) -> dict[str, Any]:
    """Create a project. ``answers_per_item`` (k): how many different annotators
    answer each queued item (1: one answer, the default). Arguments come from a
    request body and are validated here (400 with what to send instead)."""
    if not isinstance(name, str) or not name.strip():
        raise BadRequest("name must be a non-empty string")
    if (not isinstance(labels, list) or len(labels) < 2
            or not all(isinstance(x, str) and x for x in labels)):
        raise BadRequest("labels must be a list of at least two non-empty strings")
    if len(set(labels)) != len(labels):
        raise BadRequest(f"labels must be unique, got {labels}")
    if not isinstance(text_field, str) or not text_field:
        raise BadRequest("text_field must be a non-empty string")
    if not isinstance(lf_module, str):
        raise BadRequest("lf_module must be a dotted module path")
    if (not isinstance(answers_per_item, int) or isinstance(answers_per_item, bool)
            or not 1 <= answers_per_item <= MAX_ANSWERS_PER_ITEM):
        raise BadRequest(f"answers_per_item must be an integer from 1 to "
                         f"{MAX_ANSWERS_PER_ITEM}, got {answers_per_item!r}")
    lfs = load_lfs(lf_module)
    return store.create_project({"name": name.strip(), "labels": labels, "lf_module": lf_module,
                                 "text_field": text_field, "lfs": [lf.name for lf in lfs],
                                 "answers_per_item": answers_per_item})


def import_items(
    store: RedisStore, pid: str, data: bytes, fmt: str, *, id_field: str | None = None,
    text_field: str | None = None, gold_field: str | None = None, eval_fraction: float = 0.3,
    max_bytes: int | None = None, max_items: int | None = None,
) -> dict[str, Any]:
    """Validate the whole file, then append every item in one transaction.

    Of the uploaded gold labels (``gold_field``), a seeded ``eval_fraction`` is
    held out to score the models (never queued, never fitted on); the rest are
    gold like an expert's answers: the models are fitted on them, and, being a
    sample nobody's sampler picked, they also re-estimate LF precisions.
    """
    if not 0.0 <= eval_fraction <= 1.0:
        raise BadRequest(f"eval_fraction must be between 0 and 1, got {eval_fraction}")
    project = store.get_project(pid)
    start = store.n_items(pid)
    parsed = parse_items(data, fmt, project["labels"], id_field=id_field,
                         text_field=text_field or project["text_field"], gold_field=gold_field,
                         first_row=start, max_bytes=max_bytes, max_items=max_items)
    dup = store.existing_ids(pid, [i["id"] for i in parsed.items])
    if dup:
        raise BadRequest(f"{len(dup)} item ids already exist in the project, e.g. {dup[0]!r}")
    gold_ids = sorted(parsed.gold)
    rng = random.Random(f"{pid}:{start}")
    eval_ids = rng.sample(gold_ids, int(round(eval_fraction * len(gold_ids))))
    store.add_items(pid, parsed.items, parsed.gold, eval_ids)
    return {"n_items": len(parsed.items), "n_gold": len(parsed.gold), "n_eval": len(eval_ids),
            "n_fit_gold": len(parsed.gold) - len(eval_ids)}


# -- labeling functions -------------------------------------------------------------------
def plan_apply(store: RedisStore, pid: str, chunk_size: int) -> list[tuple[int, int, int]]:
    from loop.core.apply import chunk_bounds

    n = store.n_items(pid)
    if n == 0:
        raise NotReady("upload items before applying LFs")
    store.reset_apply(pid)
    return [(c, a, b) for c, (a, b) in enumerate(chunk_bounds(n, chunk_size))]


def apply_lfs_chunk(
    store: RedisStore, pid: str, chunk: int, start: int, stop: int,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Apply the project's LFs to rows ``[start, stop)`` and store that chunk of ``L``."""
    project = store.get_project(pid)
    lfs = load_lfs(project["lf_module"])
    ids = store.item_ids(pid)[start:stop]
    items = store.items(pid, ids)
    recs = [Record({**i["fields"], "id": i["id"], "text": i["text"],
                    project["text_field"]: i["text"]}) for i in items]

    def report(done: int, total: int) -> None:
        store.set_apply_progress(pid, chunk, done)
        if progress is not None:
            progress(done, total)

    res = apply_lfs(lfs, recs, n_classes=len(project["labels"]), ids=ids, progress=report,
                    progress_every=200)
    store.save_L_chunk(pid, chunk, res.L)
    store.set_value(pid, f"lferr:{chunk}", res.errors_as_dicts())
    return {"chunk": chunk, "n_items": stop - start, "n_errors": sum(
        e.count for e in res.errors.values())}


def merge_lfs(store: RedisStore, pid: str, n_chunks: int, chunk_size: int) -> dict[str, Any]:
    """Check every chunk is there and publish ``L`` (its meta makes it visible)."""
    project = store.get_project(pid)
    names = [lf.name for lf in load_lfs(project["lf_module"])]
    parts = []
    for c in range(n_chunks):
        errs = store.get_value(pid, f"lferr:{c}")
        if errs is None:
            raise NotReady(f"chunk {c} of the LF run is missing")
        parts.append({e["lf"]: LFErrorSummary(e["lf"], e["count"], e["example_id"],
                                              e["example_error"]) for e in errs})
    errors = [e.to_dict() for e in merge_errors(parts).values()]
    meta = {"n_lfs": len(names), "lf_names": names, "chunk_size": chunk_size,
            "n_chunks": n_chunks, "n_items": store.n_items(pid), "errors": errors,
            "applied_at": time.time()}
    store.save_L_meta(pid, meta)
    L, _ = store.load_L(pid)
    assert L is not None
    if L.shape[0] != meta["n_items"]:
        raise NotReady(f"L has {L.shape[0]} rows for {meta['n_items']} items; re-apply LFs")
    return {"n_items": int(L.shape[0]), "n_lfs": len(names),
            "coverage": float((L >= 0).any(axis=1).mean()) if L.size else 0.0}


# -- models ---------------------------------------------------------------------------------
#: Rank at most this many unlabeled rows (a uniform random sample, plus every gold
#: row) when re-ranking the queue; keeps the fast recalibration path < 1 s at 1M.
RANK_MAX_ROWS = 200_000
#: Train the end model on at most this many soft-labeled rows (uniform sample;
#: every gold row is always used); it still predicts every item.
END_MODEL_MAX_ROWS = 100_000


class State:
    """What the model steps share, read once: project, ``L``, gold vector ``y``.

    Built from row lookups of the (small) gold / eval / audit / leased sets: no
    list of every item id is loaded and no Python loop runs over every item.
    """

    def __init__(self, store: RedisStore, pid: str) -> None:
        self.store, self.pid = store, pid
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
        #: Rows whose gold came from an upload (a sample no sampler picked).
        self.uploaded = np.zeros(n, dtype=bool)
        self.uploaded[urows[fresh]] = True
        self._eval: tuple[np.ndarray, np.ndarray] | None = None

    def rows(self, ids: set[str] | list[str]) -> np.ndarray:
        r = self.store.rows_of(self.pid, list(ids))
        return r[r >= 0]

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

    def eval_score(self, proba: np.ndarray | None) -> float | None:
        return _eval_score(self, proba)


def _eval_score(state: State, proba: np.ndarray | None) -> float | None:
    rows, y_true = state.eval_rows()
    if proba is None or rows.size == 0:
        return None
    return score("acc", y_true.tolist(), np.asarray(proba)[rows].argmax(axis=1))


def fit_label_model(store: RedisStore, pid: str, state: State | None = None) -> dict[str, Any]:
    """Fit the label model on ``L`` and all gold; store it and its proba."""
    st = state or State(store, pid)
    # Only answers to items the queue drew at random ("exploration") and uploaded
    # gold re-estimate LF precisions; the rest were picked where the models are
    # unsure, a biased sample (LabelModel.fit, random_gold).
    random_gold = st.uploaded.copy()
    random_gold[st.rows(store.audit_ids(pid))] = True
    random_gold &= st.y >= 0
    lm = LabelModel(n_classes=st.k, random_state=0).fit(st.L, st.y, random_gold=random_gold)
    proba = lm.predict_proba(st.L)
    store.save_model(pid, "label_model", lm)
    store.save_proba(pid, "label_model", proba)
    return {"n_gold": int((st.y >= 0).sum()), "label_model": st.eval_score(proba)}


def text_features(store: RedisStore, pid: str, n: int) -> Any:
    """TF-IDF features of every item, built once per item set and kept in Redis.

    Items are append-only, so ``n_items`` identifies the item set; a new upload
    makes the next end-model training rebuild them.
    """
    version = str(n)
    X = store.load_features(pid, version)
    if X is None:
        texts = [i["text"] for i in store.items(pid)]
        (X,) = make_text_features(texts)
        X = store.save_features(pid, version, X)
    return X


def train_end_model(store: RedisStore, pid: str, state: State | None = None,
                    max_rows: int | None = None) -> dict[str, Any]:
    """Train the text classifier on label-model soft labels plus gold answers.

    At most ``max_rows`` (default :data:`END_MODEL_MAX_ROWS`) soft-labeled rows,
    drawn uniformly, are used for the fit; every gold row is.
    """
    st = state or State(store, pid)
    lm_proba = store.load_proba(pid, "label_model", st.k)
    if lm_proba is None or lm_proba.shape[0] != st.n:
        raise NotReady("fit the label model first")
    soft = lm_proba.astype(np.float64)
    soft[~(st.L >= 0).any(axis=1)] = np.nan
    cap = END_MODEL_MAX_ROWS if max_rows is None else max_rows
    soft_rows = np.flatnonzero(~np.isnan(soft[:, 0]) & (st.y < 0))
    if soft_rows.size > cap:
        rng = np.random.default_rng(int((st.y >= 0).sum()))
        drop = np.ones(st.n, dtype=bool)
        drop[rng.choice(soft_rows, size=cap, replace=False)] = False
        drop[st.y >= 0] = False
        soft[drop] = np.nan
        fit_rows = np.flatnonzero(~drop)
    else:
        fit_rows = None
    X = text_features(store, pid, st.n)
    em = EndModel(estimator=make_classifier(random_state=0), n_classes=st.k)
    if fit_rows is None:
        em.fit(X, soft, st.y)
    else:
        em.fit(X[fit_rows], soft[fit_rows], st.y[fit_rows])
    proba = em.predict_proba(X)
    store.save_proba(pid, "end_model", proba)
    return {"n_gold": int((st.y >= 0).sum()), "end_model": st.eval_score(proba)}


def reason_for(votes: np.ndarray) -> str:
    fired = votes[votes >= 0]
    if fired.size == 0:
        return "no_lf_fired"
    return "lfs_conflict" if np.unique(fired).size > 1 else "model_uncertain"


def refill_queue(store: RedisStore, pid: str, size: int = 100, state: State | None = None,
                 max_rows: int | None = None) -> dict[str, Any]:
    """Rank unlabeled items with :class:`LoopSampler` and replace the queue.

    Uses the stored label-model and end-model proba (no model is fitted: cheap).
    Above ``max_rows`` (default :data:`RANK_MAX_ROWS`) unlabeled rows, a uniform
    random sample of them (plus every gold row, for the per-pattern statistics)
    is ranked.
    """
    st = state or State(store, pid)
    lm_proba = store.load_proba(pid, "label_model", st.k)
    if lm_proba is None or lm_proba.shape[0] != st.n:
        raise NotReady("fit the label model first")
    em_proba = store.load_proba(pid, "end_model", st.k)
    if em_proba is not None and em_proba.shape[0] != st.n:
        em_proba = None
    exclude = st.y >= 0
    exclude[st.eval_rows()[0]] = True
    exclude[st.rows(store.leased_ids(pid))] = True
    pool = np.flatnonzero(~exclude)
    if pool.size == 0:
        store.replace_queue(pid, {}, {})
        return {"queue_size": 0}
    cap = RANK_MAX_ROWS if max_rows is None else max_rows
    if pool.size > cap:
        rng = np.random.default_rng(int((st.y >= 0).sum()))
        sub = np.union1d(rng.choice(pool, size=cap, replace=False), np.flatnonzero(st.y >= 0))
    else:
        sub = np.arange(st.n)
    L, y, ex = st.L[sub], st.y[sub], exclude[sub]
    lm = lm_proba[sub].astype(np.float64)
    em = None if em_proba is None else em_proba[sub].astype(np.float64)
    sampler = LoopSampler(batch_size=min(size, int((~ex).sum())), random_state=0)
    chosen = sampler.select(em, L=L, lm_proba=lm, y=y, exclude=ex)
    scores, _ = sampler.scores(em, L, lm, y)
    n = len(chosen)
    ids = store.ids_at(pid, sub[chosen])
    # Keep the sampler's order (it enforces diversity), scores break nothing.
    prio = {iid: float(n - rank) + float(scores[i]) / 1e3
            for rank, (iid, i) in enumerate(zip(ids, chosen, strict=True))}
    reasons = {iid: reason_for(L[i]) for iid, i in zip(ids, chosen, strict=True)}
    picked = set(sampler.random_picks_.tolist())
    explore = [iid for iid, i in zip(ids, chosen, strict=True) if int(i) in picked]
    reasons.update({i: "exploration" for i in explore})
    store.add_audit(pid, explore)
    store.replace_queue(pid, prio, reasons)
    return {"queue_size": n}


def recalibrate(store: RedisStore, pid: str, queue_size: int = 100,
                progress: Progress | None = None, end_model: bool = False) -> dict[str, Any]:
    """Refit the label model with all gold and re-rank the queue (the fast path).

    The queue is ranked with the newest end-model proba there is, and the point
    added to the metrics history scores that end model. Retraining the end model
    is :func:`retrain_end_model`: run right after when ``end_model`` is true,
    else (the automatic trigger) a separate coalesced job. State is read from
    Redis once for both steps of the fast path.
    """
    store.take_since_recal(pid)
    steps = 3 if end_model else 2
    st = State(store, pid)
    out = fit_label_model(store, pid, st)
    if progress is not None:
        progress(1, steps)
    out.update(refill_queue(store, pid, queue_size, st))
    if progress is not None:
        progress(2, steps)
    em = store.load_proba(pid, "end_model", st.k)
    point = {"n_gold": out["n_gold"], "label_model": out.get("label_model"),
             "end_model": st.eval_score(em) if em is not None and len(em) == st.n else None,
             "at": time.time()}
    store.append_metric(pid, point)
    store.set_value(pid, "last_recalibrated_at", point["at"])
    if end_model:
        em_out = retrain_end_model(store, pid, queue_size, state=st)
        point["end_model"] = em_out["end_model"]
        out["queue_size"] = em_out["queue_size"]
        if progress is not None:
            progress(3, steps)
    return {**point, "queue_size": out["queue_size"]}


def retrain_end_model(store: RedisStore, pid: str, queue_size: int = 100,
                      progress: Progress | None = None,
                      state: State | None = None) -> dict[str, Any]:
    """Slow path after :func:`recalibrate`: retrain the end model, re-rank the queue,
    and record its eval score on the newest metrics point."""
    st = state or State(store, pid)
    out = train_end_model(store, pid, st)
    if progress is not None:
        progress(1, 2)
    out.update(refill_queue(store, pid, queue_size, st))
    if progress is not None:
        progress(2, 2)
    store.update_last_metric(pid, {"end_model": out["end_model"]})
    return out


from loop.annotation import (  # noqa: E402  (re-exported use cases)
    answer,
    export_bytes,
    export_rows,
    lease_item,
    lf_stats,
    me,
    metrics,
    next_item,
    parse_label,
    skip,
    undo,
)

__all__ = [
    "answer", "apply_lfs_chunk", "create_project", "export_bytes", "export_rows",
    "lease_item",
    "fit_label_model", "import_items", "lf_stats", "load_lfs", "me", "merge_lfs", "metrics",
    "next_item", "parse_label", "plan_apply", "recalibrate", "refill_queue",
    "retrain_end_model", "skip", "train_end_model", "undo",
]
