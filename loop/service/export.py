"""Exports: one row per item with its best label so far, as CSV or JSON lines."""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import numpy as np

from loop.agreement import item_agreement
from loop.core.metrics import significantly_better
from loop.core.relations import entity_key
from loop.errors import BadRequest, JobNotFound, NotReady, ProjectNotFound
from loop.service.state import known_labels, random_gold_rows
from loop.storage import RedisStore
from loop.uploads import EXPORT_MULTI, EXPORT_OWN

FORMATS = ("csv", "jsonl")
#: Cells starting with these are formulas to a spreadsheet (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


#: A signed number alone in a cell: a spreadsheet reads it as that number, no formula.
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def csv_safe(value: Any) -> Any:
    """A text cell a spreadsheet will not run: a leading ``'`` before ``= + - @``,
    tab or CR (OWASP), unless the cell is just a number such as ``-3``; numbers and
    other values as they are.

    >>> csv_safe("=1+2"), csv_safe("-5 stars"), csv_safe("-3"), csv_safe(0.25), csv_safe("ok")
    ("'=1+2", "'-5 stars", '-3', 0.25, 'ok')
    """
    if (isinstance(value, str) and value.startswith(_FORMULA_START)
            and not _NUMBER.fullmatch(value)):
        return "'" + value
    return value


def finite(obj: Any) -> Any:
    """``obj`` with every NaN or infinite float in it (dict values, list items) None:
    JSON has no such values (security trial: an item field stored as inf, an
    uploaded 1e999 before the upload's check, was written as Infinity, which JSON
    readers and a browser's JSON.parse refuse)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [finite(v) for v in obj]
    return obj


def dumps_finite(obj: Any, dumps: Any = json.dumps, **kwargs: Any) -> str:
    """``dumps(obj)`` with NaN and infinities written as null (:func:`finite`, only
    where there are any: the common case is dumped once, unchanged)."""
    try:
        return str(dumps(obj, allow_nan=False, **kwargs))
    except ValueError:  # "Out of range float values are not JSON compliant"
        return str(dumps(finite(obj), **kwargs))


def _iso(t: Any) -> str | None:
    """Unix seconds as ISO 8601 UTC (seconds), None for none."""
    if t is None:
        return None
    return datetime.fromtimestamp(float(t), UTC).isoformat(timespec="seconds")


def label_model_rows(store: RedisStore, pid: str, ids: list[str], uploaded: dict[str, int],
                     held_out: set[str], lm: np.ndarray | None,
                     em: np.ndarray | None) -> np.ndarray | None:
    """The rows the export labels by the label model although an end model is
    there: those an LF votes on, when on the held-out labels where an LF votes the
    label model is right significantly more often than the end model (a sign test,
    :func:`~loop.core.metrics.significantly_better`); else None. The end model's
    labels are the better ones on the five text sets measured, but items whose words
    say little of their class could make them the worse (a guard, per project)."""
    if lm is None or em is None or not held_out:
        return None
    L, _ = store.load_L(pid)
    if L is None or L.shape[0] != len(ids) or len(lm) < len(ids) or len(em) < len(ids):
        return None
    covered = np.asarray((L >= 0).any(axis=1))
    rows = np.array([r for r, iid in enumerate(ids)
                     if iid in held_out and iid in uploaded and covered[r]], dtype=np.int64)
    if not rows.size:
        return None
    truth = np.array([uploaded[ids[r]] for r in rows])
    lm_right, em_right = lm[rows].argmax(1) == truth, em[rows].argmax(1) == truth
    return covered if significantly_better(lm_right, em_right) else None


#: Items an export reads from Redis at a time.
EXPORT_CHUNK = 5000


def export_rows(store: RedisStore, pid: str,
                ids: list[str] | None = None) -> Iterator[dict[str, Any]]:
    """One row per item, in row order, made as they are read: id, text, p_<label>
    per class, label, gold, source, annotator, held_out, and the item's other
    uploaded ``fields`` (in CSV a column each, ``field:<name>`` where the name is
    taken).

    ``source``: ``gold`` (answers), ``uploaded`` (an uploaded label), ``copy``
    (the same text as answered items, which agree: their answer), ``end_model``
    (the others, once an end model is trained: it learns from the label model's
    soft labels and the answers; on five WRENCH sets its labels of the items
    without gold are level with the label model's before any answer and 2 to 15
    points ahead from 100 answers on, also where an LF votes), ``label_model``
    (before then, items uploaded since, a project without texts, and the items an LF
    votes on where the held-out labels say the label model is the better there:
    :func:`label_model_rows`). ``annotator``: who
    gave the answer (``gold`` rows, one answer per item). ``held_out``: an uploaded label kept out
    of every fit to score the models (the dashboard's held-out score).
    ``random_gold``: the known label is random gold to the label model (an answer
    to an item served as an exploration pick, or an uploaded label not held out),
    which re-estimates LF precisions, as ``LabelingLoop.teach(idx, labels,
    random=True)`` takes it. With
    ``answers_per_item`` > 1 also ``answers`` ``{annotator: label}``,
    ``answers_at`` ``{annotator: when}`` (its last change), ``n_answers``,
    ``agreement``, ``disputed`` (answers that tie: no gold) and ``resolved_by``
    (the admin who settled the label); ``gold`` is then the majority answer, or
    the resolution. ``answered_at``: when the gold answer was given (UTC, ISO 8601).
    ``model_label``: the label the models give the item, known label or not (the
    end model's, or the label model's where ``source`` would take it; None before
    any fit): on the ``held_out`` rows, which no model is fitted on, it against
    ``gold`` says how right the exported model labels are (the dashboard's held-out
    score of the end model, where the end model labels the export); on answered
    rows, where the models still disagree with the answers.
    """
    project = store.get_project(pid)
    labels, k = project["labels"], len(project["labels"])
    ids = store.item_ids(pid) if ids is None else ids  # (given: the items as they were)
    gold = store.gold(pid)
    uploaded = store.uploaded_gold(pid)
    held_out = store.eval_ids(pid)
    multi = store.answers_per_item(pid) > 1
    answers = store.answers(pid) if multi else {}
    resolved = store.resolutions(pid) if multi else {}
    lm, em = store.load_probas(pid, ["label_model", "end_model"], k)
    by_lm = label_model_rows(store, pid, ids, uploaded, held_out, lm, em)
    # the known labels the label model takes as random gold (State's): what the
    # answers alone do not say, and the library needs to fit as the service does
    random = random_gold_rows(store, pid, known_labels(store, pid, len(ids), held_out=False))
    # an exact copy of an answered text is never asked about (the sampler skips it):
    # it takes the answer, where the copies answered agree (re-trial: a repeated SMS
    # answered ham was exported as spam from the label model in its copies)
    # (relation data: of the same entity pair too, :func:`entity_key`)
    by_text: dict[tuple[str, str], int | None] = {}
    for one in store.items(pid, list(gold)):
        t, c = one.get("text"), gold[one["id"]]["label"]
        if t is not None:
            key = (t, entity_key(one.get("fields")))
            by_text[key] = c if by_text.get(key, c) == c else None
    # the items are read EXPORT_CHUNK at a time, and their rows made and given out so
    # (speed trial: every item and every row held at once took 686 MB at 200,000
    # items, in a web process for GET /export)
    for a, part, read in _chunks(store, pid, ids):
        items = {it["id"]: it for it in read}
        # each row's class probabilities, chosen per row and then built, rounded and
        # argmaxed all at once (speed trial: numpy called per row and per class)
        n = len(part)
        knowns: list[int | None] = [None] * n
        sources: list[str | None] = [None] * n
        hot_rows: list[int] = []  # rows of a known label, and its class
        hot_classes: list[int] = []
        # every row's model, a known label or not: where none is known it gives the
        # row's label, and it is the row's model_label in any case (new-user trial:
        # held-out rows were exported with their uploaded label only, so the
        # dashboard's held-out score could not be checked from the export)
        models: list[str | None] = [None] * n
        for j, iid in enumerate(part):
            r = a + j
            if em is not None and len(em) > r and not (by_lm is not None and by_lm[r]):
                models[j] = "end_model"
            elif lm is not None and len(lm) > r:
                models[j] = "label_model"
            g = gold.get(iid)
            known = g["label"] if g is not None else uploaded.get(iid)  # answers win
            one = items.get(iid, {})
            copied = (by_text.get((one.get("text") or "", entity_key(one.get("fields"))))
                      if known is None and by_text else None)
            knowns[j] = known
            if known is not None:
                hot_rows.append(j)
                hot_classes.append(known)
                sources[j] = "gold" if g is not None else "uploaded"
            elif copied is not None and iid not in held_out:
                hot_rows.append(j)
                hot_classes.append(copied)
                sources[j] = "copy"
            else:
                sources[j] = models[j]
        M = np.full((n, k), np.nan)
        for name, proba in (("end_model", em), ("label_model", lm)):
            rows = [j for j in range(n) if models[j] == name]
            if rows:
                M[rows] = np.asarray(proba)[[a + j for j in rows]]
        P = M.copy()  # a row without a known label takes its model's (NaN: none)
        P[hot_rows] = 0.0  # a known label: 1 for its class, 0 for the others
        P[hot_rows, hot_classes] = 1.0
        top = np.nan_to_num(P, nan=-1.0).argmax(axis=1).tolist()
        probs = P.tolist()
        mtop = np.nan_to_num(M, nan=-1.0).argmax(axis=1).tolist()
        for j, iid in enumerate(part):
            yield _row(iid, items.get(iid, {}), gold.get(iid), knowns[j], sources[j],
                       probs[j] if sources[j] else None, top[j], labels, held_out, multi,
                       answers, resolved, labels[mtop[j]] if models[j] else None,
                       bool(random[a + j]))


def _row(iid: str, item: dict[str, Any], g: dict[str, Any] | None, known: int | None,
         source: str | None, p: list[float] | None, top: int, labels: list[str],
         held_out: set[str], multi: bool, answers: dict[str, Any],
         resolved: dict[str, Any], model_label: str | None = None,
         random_gold: bool = False) -> dict[str, Any]:
    """One item's row of :func:`export_rows`."""
    row: dict[str, Any] = {"id": iid, "text": item.get("text")}
    for c, name in enumerate(labels):
        row[f"p_{name}"] = None if p is None else round(p[c], 6)
    row["label"] = None if p is None else labels[top]
    row["gold"] = None if known is None else labels[known]
    row["source"] = source
    row["model_label"] = model_label
    # with several answers per item, ``answers`` says who said what
    row["annotator"] = g.get("annotator") if g is not None and not multi else None
    row["answered_at"] = _iso(g.get("at")) if g is not None else None
    row["held_out"] = iid in held_out
    row["random_gold"] = random_gold
    row["fields"] = item.get("fields") or {}
    if multi:
        ans = answers.get(iid, [])
        row["answers"] = {a["annotator"]: labels[a["label"]] for a in ans}
        row["answers_at"] = {a["annotator"]: _iso(a.get("changed_at", a["at"]))
                             for a in ans}
        row["n_answers"] = len(ans)
        ag = item_agreement(a["label"] for a in ans)
        row["agreement"] = None if ag is None else round(ag, 6)
        # answers that tie: no gold label until one more answer or the admin
        row["disputed"] = bool(ans) and g is None
        row["resolved_by"] = resolved[iid]["annotator"] if iid in resolved else None
    return row


#: Export files an export job keeps per project (the newest), and for how long.
EXPORTS_KEPT = 3
EXPORT_TTL = 86400
#: Largest export file a job keeps in Redis (a Redis string holds at most 512 MB).
MAX_EXPORT_BYTES = 256 << 20


def export_key(job_id: str) -> str:
    """Where an export job keeps its file (a day)."""
    return f"loop:export:{job_id}"


def download(connection: Any, job_id: Any) -> tuple[bytes, str, str]:
    """``(file, format, project)`` of a finished export job."""
    from loop.service.jobs import job_status

    st = job_status(connection, job_id)
    if st["type"] != "export":
        raise BadRequest(f"job {job_id} is a {st['type']} job, not an export")
    if st["status"] in ("failed", "canceled", "stopped"):
        raise NotReady(f"export job {job_id} is {st['status']}: it has no file; start another "
                       "export")
    if st["status"] != "finished":
        raise NotReady(f"export job {job_id} is {st['status']}; download it once finished")
    if not connection.exists(RedisStore.project_key(st["project"])):
        raise ProjectNotFound(f"project {st['project']!r} was deleted, and the files of its "
                              "exports with it")
    data = connection.get(export_key(job_id))
    if data is None:
        raise JobNotFound(f"the file of export job {job_id} is gone: a project keeps its "
                          f"{EXPORTS_KEPT} newest export files, for a day; start another export")
    return data, st["result"]["format"], st["project"]


def export_bytes(store: RedisStore, pid: str, fmt: Any) -> bytes:
    """The export as ``csv`` (formula cells escaped) or ``jsonl`` (values as they are)."""
    if fmt not in FORMATS:
        raise BadRequest(f"format must be csv or jsonl, got {fmt!r}")
    ids = store.item_ids(pid)
    rows = export_rows(store, pid, ids)
    raw = io.BytesIO()  # written as UTF-8 as it goes (a str buffer takes up to 4
    buf = io.TextIOWrapper(raw, encoding="utf-8", newline="")  # bytes a character)
    if fmt == "jsonl":
        for r in rows:
            buf.write(dumps_finite(r))
            buf.write("\n")
        buf.flush()
        return raw.getvalue()
    labels = store.get_project(pid)["labels"]
    cols = ["id", "text", *[f"p_{x}" for x in labels], *EXPORT_OWN]
    multi = store.answers_per_item(pid) > 1
    if multi:
        cols += EXPORT_MULTI
    # the other uploaded columns, as uploaded (new-user trial: without an id column
    # the CSV could not be joined back to the user's data); "field:" before a name
    # that is one of the columns above, or that a spreadsheet would run as a formula
    # (security trial: a column named =HYPERLINK(...) reached the header as it was)
    names = _field_names(store, pid, ids)
    as_col = {f: f"field:{f}" if f in cols or f.startswith("field:") or csv_safe(f) != f
              else f for f in names}
    w = csv.writer(buf)
    w.writerow(cols + list(as_col.values()))
    where = {f: len(cols) + i for i, f in enumerate(as_col)}
    for r in rows:
        if multi:  # operator's trial: who said what was in JSON lines only
            # a JSON object: labels may hold "; " or ": " (team lead's trial)
            r = {**r, "annotator": "; ".join(r["answers"]) or None,
                 "answers": json.dumps(r["answers"]) if r["answers"] else None,
                 "answers_at": json.dumps(r["answers_at"]) if r["answers_at"] else None}
        # only text can start a formula (speed trial: every cell was checked)
        out = ["" if (v := r[c]) is None else csv_safe(v) if isinstance(v, str) else v
               for c in cols] + [""] * len(where)
        for f, v in (r.get("fields") or {}).items():
            v = json.dumps(v) if isinstance(v, list | dict) else v
            out[where[f]] = "" if v is None else csv_safe(v)
        w.writerow(out)
    buf.flush()
    return raw.getvalue()


def _field_names(store: RedisStore, pid: str, ids: list[str]) -> list[str]:
    """The names of the uploaded fields of the items ``ids``, in the order first met
    (a CSV's columns, named before its rows are made)."""
    names: dict[str, None] = {}
    for _, _, items in _chunks(store, pid, ids):
        for item in items:
            names.update(dict.fromkeys(item.get("fields") or {}))
    return list(names)


def _chunks(store: RedisStore, pid: str, ids: list[str],
            ) -> Iterator[tuple[int, list[str], list[dict[str, Any]]]]:
    """``(first row, ids, items)`` of ``ids``, :data:`EXPORT_CHUNK` items at a time."""
    for a in range(0, len(ids), EXPORT_CHUNK):
        part = ids[a : a + EXPORT_CHUNK]
        yield a, part, store.items(pid, part)
