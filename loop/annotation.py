"""Expert-facing use cases: lease the next item, answer, skip, undo; reports and export."""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any

import numpy as np

from loop.agreement import fleiss, item_agreement
from loop.core.analysis import lf_summary
from loop.errors import BadRequest, UnknownLabel
from loop.storage.redis import RedisStore


def parse_label(labels: list[str], label: Any) -> int:
    """A label given by name or index -> its index."""
    if isinstance(label, str) and label in labels:
        return labels.index(label)
    if isinstance(label, int) and not isinstance(label, bool) and 0 <= label < len(labels):
        return label
    raise UnknownLabel(f"unknown label {label!r}; labels are {labels}")


def _guess(proba: dict[str, np.ndarray | None], labels: list[str]) -> dict[str, Any] | None:
    for name in ("end_model", "label_model"):
        p = proba.get(name)
        if p is not None:
            c = int(np.argmax(p))
            return {"label": labels[c], "confidence": float(p[c]), "source": name}
    return None


def lease_item(
    store: RedisStore, pid: str, annotator: str, lease_seconds: float
) -> tuple[dict[str, Any] | None, int]:
    """:func:`next_item` plus the queue length left after the lease (0 when empty).

    One Redis round trip (the lease script returns the item, row, reason, votes
    and model rows); the project and the LF names come from per-process caches.
    """
    project = store.get_project(pid)
    labels = project["labels"]
    got = store.lease_next_full(pid, annotator, lease_seconds, len(labels))
    if got is None:
        return None, 0
    item = got["item"] or {"text": None, "fields": {}}
    row, L_row = got["row"], got["L_row"]
    votes = []
    if row is not None and L_row is not None:
        names = store.L_meta_cached(pid, got["L_version"]).get("lf_names", [])
        votes = [{"lf": n, "label": labels[int(v)]}
                 for n, v in zip(names, L_row, strict=False) if v >= 0]
    out = {
        "item": {"id": got["item_id"], "text": item["text"], "fields": item["fields"],
                 "votes": votes,
                 "guess": None if row is None else _guess(got["proba"], labels),
                 "reason": got["reason"] or "model_uncertain"},
        "lease": {"id": got["lease_id"], "expires_at": got["expires_at"]},
    }
    return out, got["remaining"]


def next_item(
    store: RedisStore, pid: str, annotator: str, lease_seconds: float
) -> dict[str, Any] | None:
    """Lease the best free item for ``annotator`` (None when the queue is empty)."""
    return lease_item(store, pid, annotator, lease_seconds)[0]


def answer(store: RedisStore, pid: str, annotator: str, item_id: Any, label: Any,
           lease_id: Any) -> dict[str, Any]:
    """Store a gold label once; ``since_recal`` counts answers since the last recalibration.

    One Redis round trip: the answer script checks the lease (a valid lease
    implies the item exists) and reports unknown items itself.
    """
    project = store.get_project(pid)
    if not isinstance(item_id, str) or not isinstance(lease_id, str):
        raise BadRequest("item_id and lease_id must be strings")
    c = parse_label(project["labels"], label)
    duplicate, since = store.store_answer(pid, annotator, item_id, c, lease_id)
    return {"stored": True, "duplicate": duplicate, "since_recal": since}


def skip(
    store: RedisStore, pid: str, annotator: str, item_id: Any, lease_id: Any
) -> dict[str, Any]:
    store.get_project(pid)
    if not isinstance(item_id, str) or not isinstance(lease_id, str):
        raise BadRequest("item_id and lease_id must be strings")
    store.skip(pid, annotator, item_id, lease_id)
    return {"skipped": True}


def undo(store: RedisStore, pid: str, annotator: str) -> dict[str, Any]:
    store.get_project(pid)
    item_id = store.undo(pid, annotator)
    if item_id is None:
        raise BadRequest("nothing to undo")
    return {"item_id": item_id}


def me(store: RedisStore, pid: str, annotator: str) -> dict[str, Any]:
    store.get_project(pid)
    return {**store.annotator_stats(pid, annotator), "remaining": store.queue_size(pid)}


def _nan_none(x: Any) -> Any:
    return None if isinstance(x, float) and math.isnan(x) else x


def lf_stats(store: RedisStore, pid: str) -> dict[str, Any]:
    """Per-LF coverage, overlaps, conflicts, accuracy against all known gold."""
    project = store.get_project(pid)
    L, meta = store.load_L(pid)
    if L is None:
        return {"lfs": []}
    ids = store.item_ids(pid)[: L.shape[0]]
    row = {i: r for r, i in enumerate(ids)}
    y = np.full(len(ids), -1, dtype=np.int64)
    for iid, c in store.uploaded_gold(pid).items():  # held out or fitted on: both known
        if iid in row:
            y[row[iid]] = c
    for iid, g in store.gold(pid).items():
        if iid in row:
            y[row[iid]] = g["label"]
    lm = store.load_model(pid, "label_model")
    acc = getattr(lm, "accuracy_", None) if lm is not None else None
    if acc is not None and len(acc) != L.shape[1]:
        acc = None
    errs = {e["lf"]: e for e in meta.get("errors", [])}
    rows = lf_summary(L, meta["lf_names"], y=y, learned_accuracy=acc,
                      errors={n: e["count"] for n, e in errs.items()})
    for r in rows:
        r["polarity"] = [project["labels"][c] for c in r["polarity"]]
        r.setdefault("learned_accuracy", None)
        r["learned_accuracy"] = _nan_none(r["learned_accuracy"])
        e = errs.get(r["name"])
        r["error_example"] = None if e is None else {"item_id": e["example_id"],
                                                     "error": e["example_error"]}
    return {"lfs": rows}


def metrics(store: RedisStore, pid: str) -> dict[str, Any]:
    project = store.get_project(pid)
    labels, k = project["labels"], len(project["labels"])
    gold = store.gold(pid)
    balance = dict.fromkeys(labels, 0)
    for g in gold.values():
        balance[labels[g["label"]]] += 1
    lm, em = store.load_proba(pid, "label_model", k), store.load_proba(pid, "end_model", k)
    agreement = None
    if lm is not None and em is not None and lm.shape == em.shape and len(lm):
        agreement = float((lm.argmax(1) == em.argmax(1)).mean())
    # Between annotators, over items with >= 2 answers (answers_per_item > 1):
    # observed pairwise agreement and Fleiss' kappa (see loop.agreement).
    multi = fleiss(([a["label"] for a in ans] for ans in store.answers(pid).values()), k)
    n_eval = store.n_eval(pid)
    return {"n_items": store.n_items(pid), "n_gold": len(gold), "n_eval": n_eval,
            "n_uploaded_gold": store.n_uploaded_gold(pid) - n_eval,
            "queue_size": store.queue_size(pid), "class_balance": balance,
            "history": store.metrics_history(pid), "agreement": agreement,
            "answers_per_item": store.answers_per_item(pid),
            "annotator_agreement": multi,
            "n_items_multi": 0 if multi is None else multi["n_items_multi"],
            "last_recalibrated_at": store.get_value(pid, "last_recalibrated_at")}


def export_rows(store: RedisStore, pid: str) -> list[dict[str, Any]]:
    """One row per item: id, text, p_<label> per class, label, gold, source, and
    (JSON lines only) the item's other uploaded ``fields``.

    With ``answers_per_item`` > 1 also ``answers`` ``{annotator: label}``,
    ``n_answers`` and ``agreement`` (share of agreeing pairs of answers, None
    below two answers); ``gold`` is then the majority answer.
    """
    project = store.get_project(pid)
    labels, k = project["labels"], len(project["labels"])
    ids = store.item_ids(pid)
    items = {it["id"]: it for it in store.items(pid, ids)}
    gold = store.gold(pid)
    uploaded = store.uploaded_gold(pid)
    multi = store.answers_per_item(pid) > 1
    answers = store.answers(pid) if multi else {}
    L, _ = store.load_L(pid)
    lm, em = store.load_proba(pid, "label_model", k), store.load_proba(pid, "end_model", k)
    covered: np.ndarray | None = None
    if L is not None and L.shape[0] == len(ids):
        covered = np.asarray((L >= 0).any(axis=1))
    out = []
    for r, iid in enumerate(ids):
        g = gold.get(iid)
        known = g["label"] if g is not None else uploaded.get(iid)  # answers win
        if known is not None:
            p, source = np.eye(k)[known], "gold" if g is not None else "uploaded"
        elif lm is not None and len(lm) > r and (em is None or covered is None or covered[r]):
            p, source = lm[r], "label_model"
        elif em is not None and len(em) > r:
            p, source = em[r], "end_model"
        else:
            p, source = None, None
        item = items.get(iid, {})
        row: dict[str, Any] = {"id": iid, "text": item.get("text")}
        for c, name in enumerate(labels):
            row[f"p_{name}"] = None if p is None else round(float(p[c]), 6)
        row["label"] = None if p is None else labels[int(np.argmax(p))]
        row["gold"] = None if known is None else labels[known]
        row["source"] = source
        row["fields"] = item.get("fields") or {}
        if multi:
            ans = answers.get(iid, [])
            row["answers"] = {a["annotator"]: labels[a["label"]] for a in ans}
            row["n_answers"] = len(ans)
            ag = item_agreement(a["label"] for a in ans)
            row["agreement"] = None if ag is None else round(ag, 6)
        out.append(row)
    return out


def export_bytes(store: RedisStore, pid: str, fmt: str) -> bytes:
    rows = export_rows(store, pid)
    if fmt == "jsonl":
        return "".join(json.dumps(r) + "\n" for r in rows).encode()
    if fmt != "csv":
        raise BadRequest(f"format must be csv or jsonl, got {fmt!r}")
    buf = io.StringIO()
    labels = store.get_project(pid)["labels"]
    cols = ["id", "text", *[f"p_{x}" for x in labels], "label", "gold", "source"]
    if store.answers_per_item(pid) > 1:
        cols += ["n_answers", "agreement"]
    w = csv.DictWriter(buf, cols, extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({a: "" if b is None else b for a, b in r.items()})
    return buf.getvalue().encode()
