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


def create_project(
    store: RedisStore, name: str, labels: list[str], lf_module: str, text_field: str = "text"
) -> dict[str, Any]:
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
    lfs = load_lfs(lf_module)
    return store.create_project({"name": name.strip(), "labels": labels, "lf_module": lf_module,
                                 "text_field": text_field, "lfs": [lf.name for lf in lfs]})


def import_items(
    store: RedisStore, pid: str, data: bytes, fmt: str, *, id_field: str | None = None,
    text_field: str | None = None, gold_field: str | None = None, eval_fraction: float = 0.3,
    max_bytes: int | None = None, max_items: int | None = None,
) -> dict[str, Any]:
    """Validate the whole file, then append every item in one transaction."""
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
    return {"n_items": len(parsed.items), "n_gold": len(parsed.gold), "n_eval": len(eval_ids)}


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
def _state(store: RedisStore, pid: str) -> tuple[dict[str, Any], np.ndarray, list[str], np.ndarray]:
    """Project, current ``L``, item ids and the gold vector y (-1 = unknown)."""
    project = store.get_project(pid)
    L, meta = store.load_L(pid)
    ids = store.item_ids(pid)
    if L is None or L.shape[0] != len(ids):
        raise NotReady("apply the LFs to every item first (job type apply_lfs)")
    row = {i: r for r, i in enumerate(ids)}
    y = np.full(len(ids), -1, dtype=np.int64)
    for iid, g in store.gold(pid).items():
        if iid in row:
            y[row[iid]] = g["label"]
    return project, L, ids, y


def _eval_score(
    store: RedisStore, pid: str, ids: list[str], proba: np.ndarray | None
) -> float | None:
    ev = store.eval_ids(pid)
    if proba is None or not ev:
        return None
    ugold = store.uploaded_gold(pid)
    rows = [r for r, i in enumerate(ids) if i in ev]
    y_true = [ugold[ids[r]] for r in rows]
    return score("acc", y_true, np.asarray(proba)[rows].argmax(axis=1))


def fit_label_model(store: RedisStore, pid: str) -> dict[str, Any]:
    """Fit the label model on ``L`` and all gold answers; store it and its proba."""
    project, L, ids, y = _state(store, pid)
    k = len(project["labels"])
    # Only answers to items the queue drew at random ("exploration") re-estimate
    # LF precisions; the rest were picked where the models are unsure, a biased
    # sample (LabelModel.fit, random_gold).
    audit = store.audit_ids(pid)
    random_gold = np.array([i in audit for i in ids], dtype=bool) & (y >= 0)
    lm = LabelModel(n_classes=k, random_state=0).fit(L, y, random_gold=random_gold)
    proba = lm.predict_proba(L)
    store.save_model(pid, "label_model", lm)
    store.save_proba(pid, "label_model", proba)
    return {"n_gold": int((y >= 0).sum()), "label_model": _eval_score(store, pid, ids, proba)}


def train_end_model(store: RedisStore, pid: str) -> dict[str, Any]:
    """Train the text classifier on label-model soft labels plus gold answers."""
    project, L, ids, y = _state(store, pid)
    k = len(project["labels"])
    lm_proba = store.load_proba(pid, "label_model", k)
    if lm_proba is None or lm_proba.shape[0] != len(ids):
        raise NotReady("fit the label model first")
    soft = lm_proba.astype(np.float64)
    soft[~(L >= 0).any(axis=1)] = np.nan
    texts = [i["text"] for i in store.items(pid, ids)]
    (X,) = make_text_features(texts)
    em = EndModel(estimator=make_classifier(random_state=0), n_classes=k).fit(X, soft, y)
    proba = em.predict_proba(X)
    store.save_proba(pid, "end_model", proba)
    return {"n_gold": int((y >= 0).sum()), "end_model": _eval_score(store, pid, ids, proba)}


def reason_for(votes: np.ndarray) -> str:
    fired = votes[votes >= 0]
    if fired.size == 0:
        return "no_lf_fired"
    return "lfs_conflict" if np.unique(fired).size > 1 else "model_uncertain"


def refill_queue(store: RedisStore, pid: str, size: int = 100) -> dict[str, Any]:
    """Rank unlabeled items with :class:`LoopSampler` and replace the queue."""
    project, L, ids, y = _state(store, pid)
    k = len(project["labels"])
    lm_proba = store.load_proba(pid, "label_model", k)
    if lm_proba is None or lm_proba.shape[0] != len(ids):
        raise NotReady("fit the label model first")
    em_proba = store.load_proba(pid, "end_model", k)
    if em_proba is not None and em_proba.shape[0] != len(ids):
        em_proba = None
    skip = set(store.eval_ids(pid)) | store.leased_ids(pid)
    exclude = (y >= 0) | np.array([i in skip for i in ids], dtype=bool)
    n_pool = int((~exclude).sum())
    if n_pool == 0:
        store.replace_queue(pid, {}, {})
        return {"queue_size": 0}
    sampler = LoopSampler(batch_size=min(size, n_pool), random_state=0)
    lm = lm_proba.astype(np.float64)
    em = None if em_proba is None else em_proba.astype(np.float64)
    chosen = sampler.select(em, L=L, lm_proba=lm, y=y, exclude=exclude)
    scores, _ = sampler.scores(em, L, lm, y)
    n = len(chosen)
    # Keep the sampler's order (it enforces diversity), scores break nothing.
    prio = {ids[i]: float(n - rank) + float(scores[i]) / 1e3 for rank, i in enumerate(chosen)}
    reasons = {ids[i]: reason_for(L[i]) for i in chosen}
    explore = [ids[i] for i in sampler.random_picks_]
    reasons.update({i: "exploration" for i in explore})
    store.add_audit(pid, explore)
    store.replace_queue(pid, prio, reasons)
    return {"queue_size": n}


def recalibrate(store: RedisStore, pid: str, queue_size: int = 100,
                progress: Progress | None = None) -> dict[str, Any]:
    """Refit the label model with all gold, retrain the end model, re-rank the queue."""
    store.take_since_recal(pid)
    steps: list[Callable[[], dict[str, Any]]] = [
        lambda: fit_label_model(store, pid), lambda: train_end_model(store, pid),
        lambda: refill_queue(store, pid, queue_size)]
    out: dict[str, Any] = {}
    for n, step in enumerate(steps, start=1):
        out.update(step())
        if progress is not None:
            progress(n, len(steps))
    point = {"n_gold": out["n_gold"], "label_model": out.get("label_model"),
             "end_model": out.get("end_model"), "at": time.time()}
    store.append_metric(pid, point)
    store.set_value(pid, "last_recalibrated_at", point["at"])
    return {**point, "queue_size": out["queue_size"]}


from loop.annotation import (  # noqa: E402  (re-exported use cases)
    answer,
    export_bytes,
    export_rows,
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
    "fit_label_model", "import_items", "lf_stats", "load_lfs", "me", "merge_lfs", "metrics",
    "next_item", "parse_label", "plan_apply", "recalibrate", "refill_queue", "skip",
    "train_end_model", "undo",
]
