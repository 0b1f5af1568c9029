"""The Items page: a project's items searched and filtered, a page at a time.

Each item comes with what the export says of it (its label and where that label
comes from, its known label, the models' label) and the LF votes on it, so an
admin can look at the data behind the numbers: where an LF votes, where the
models contradict the answers, what a class's items look like.
"""

from __future__ import annotations

import heapq
import unicodedata
from collections.abc import Mapping
from typing import Any

from loop.core.relations import entities
from loop.core.text import readable
from loop.errors import BadRequest
from loop.service.export import export_rows
from loop.storage import RedisStore

#: Items one request returns at most, and by default.
MAX_LIMIT = 200
DEFAULT_LIMIT = 50
#: Characters of an item's text returned (``text_truncated`` says when cut).
MAX_TEXT = 2000
#: Characters the page shows as others (typographic quotes as plain ones).
_PLAIN = frozenset("\u2018\u2019\u201c\u201d")
#: Longest search string.
MAX_QUERY = 200
#: The query parameters taken, and the values of the two-way ones.
PARAMS = ("q", "label", "known", "disagree", "lf", "covered", "sort", "offset", "limit")
KNOWN = ("", "yes", "no")
#: ``sort``: the order items were imported in, or the least sure label first.
SORTS = ("", "confidence")


def _int(args: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = args.get(name, "")
    if raw == "":
        return default
    try:
        v = int(raw)
    except ValueError:
        v = low - 1
    if not low <= v <= high:
        raise BadRequest(f"{name} must be a whole number from {low} to {high}, got {raw[:40]!r}")
    return v


def _choice(args: Mapping[str, str], name: str, choices: tuple[str, ...], say: str) -> str:
    """Query parameter ``name``: one of ``choices`` ("" when left out), else a 400."""
    v = args.get(name, "")
    if v not in choices:
        raise BadRequest(f"{name} must be {say}, got {v[:40]!r}")
    return v


def _filters(args: Mapping[str, str], labels: list[str], lf_names: list[str]
             ) -> dict[str, Any]:
    unknown = sorted(set(args) - set(PARAMS))
    if unknown:
        raise BadRequest(f"unknown query parameter{'s' if len(unknown) > 1 else ''} "
                         f"{', '.join(map(repr, unknown))}; this request takes "
                         f"{', '.join(PARAMS)}")
    q = args.get("q", "").strip()
    if len(q) > MAX_QUERY:
        raise BadRequest(f"q (the text searched for) is at most {MAX_QUERY} characters")
    label = args.get("label", "")
    if label and label not in labels:
        raise BadRequest(f"label must be one of the project's labels {labels}, got "
                         f"{label[:100]!r}")
    known = _choice(args, "known", KNOWN, "yes (items with a known label: an answer or an "
                    "uploaded label) or no")
    disagree = _choice(args, "disagree", ("", "0", "1"),
                       "1 (items whose known label the models contradict) or 0")
    lf = args.get("lf", "")
    if lf and lf not in lf_names:
        raise BadRequest(f"no LF {lf[:100]!r} in the LFs last applied"
                         + (f" ({', '.join(lf_names[:20])}{', ...' if len(lf_names) > 20 else ''})"
                            if lf_names else " (none yet: apply the LFs first)"))
    covered = _choice(args, "covered", KNOWN, "yes (items some LF votes on) or no (items no "
                      "LF votes on: where a new rule could help)")
    sort = _choice(args, "sort", SORTS, "confidence (the least sure label first) or left out "
                   "(the order the items were imported in)")
    # a search for markup alone ("<b>", "<br>") shows as nothing: it is searched as typed
    return {"q": q.casefold(), "q_shown": _as_shown(q) or q.casefold(), "label": label,
            "known": known,
            "disagree": disagree == "1",
            "lf": lf_names.index(lf) if lf else None, "covered": covered, "sort": sort,
            "offset": _int(args, "offset", 0, 0, 10**9),
            "limit": _int(args, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)}


def _as_shown(text: str) -> str:
    """``text`` as the page shows it (:func:`readable`: entities decoded, tags
    dropped, accents composed, typographic quotes plain), in any case, with each
    run of white space one space, as a table cell shows it."""
    return " ".join(readable(text).casefold().split())


def _found(q: str, q_shown: str, text: str) -> bool:
    """Whether the search ``q`` (``q_shown``: :func:`_as_shown`) is in ``text`` as
    uploaded or as the page shows it (new-user trial: the page showed "I'm A
    SUBSCRIBER" and "Café", and searching for them found nothing, the texts holding
    "I&#39;m" and an e + combining accent)."""
    low = text.casefold()
    if q in low or q_shown in low:
        return True
    if "<" in text or "&" in text or not _PLAIN.isdisjoint(text) or not (
            unicodedata.is_normalized("NFC", text)):
        return q_shown in _as_shown(text)
    # shown as uploaded but for white space (readable on every item of 100,000
    # took 1.5 s, ten times the search itself)
    return " " in q_shown and q_shown in " ".join(low.split())


def _keep(row: dict[str, Any], f: dict[str, Any], votes: Any) -> bool:
    # the text search last: it reads the whole text, the other filters one value
    if f["label"] and row["label"] != f["label"]:
        return False
    if f["known"] and (row["gold"] is not None) != (f["known"] == "yes"):
        return False
    if f["disagree"] and (row["gold"] is None or row["model_label"] is None
                          or row["model_label"] == row["gold"]):
        return False
    if f["covered"] and (votes is not None and bool((votes >= 0).any())) != (
            f["covered"] == "yes"):
        return False
    if f["lf"] is not None and (votes is None or int(votes[f["lf"]]) < 0):
        return False
    return not f["q"] or _found(f["q"], f["q_shown"], row["text"] or "") or (
        f["q"] == row["id"].casefold())


def browse(store: RedisStore, pid: str, args: Mapping[str, str]) -> dict[str, Any]:
    """The items matching ``args`` (query parameters, all optional): ``q`` text in the
    item (any case) or its whole id, ``label`` the item's label (as exported),
    ``known`` yes / no (an answer or uploaded label), ``disagree=1`` the models' label
    is not the known one, ``lf`` the LF votes on it, ``covered`` yes / no (some LF
    votes on it / none does); ``sort=confidence`` the least sure label first (else
    the order the items were imported in); ``offset`` and ``limit`` (1 to
    :data:`MAX_LIMIT`) the page. ``total``: how many match; ``items``: the page."""
    labels = store.get_project(pid)["labels"]
    L, meta = store.load_L(pid)
    lf_names = list(meta.get("lf_names", [])) if L is not None else []
    f = _filters(args, labels, lf_names)
    start, stop = f["offset"], f["offset"] + f["limit"]
    total, page = 0, []
    # sort=confidence: the ``stop`` least sure matches so far, as a heap whose top is
    # the surest of them (keys negated): one pass, its memory bounded by the page
    least: list[tuple[float, int, dict[str, Any]]] = []
    for r, row in enumerate(export_rows(store, pid)):
        votes = L[r] if L is not None and r < L.shape[0] else None
        if not _keep(row, f, votes):
            continue
        total += 1
        if f["sort"]:  # no label at all: last; ties in import order
            c = _confidence(row)
            key = (-(2.0 if c is None else c), -r)
            if len(least) < stop:
                heapq.heappush(least, (*key, _item(row, votes, lf_names, labels)))
            elif key > least[0][:2]:
                heapq.heapreplace(least, (*key, _item(row, votes, lf_names, labels)))
        elif start < total <= stop:
            page.append(_item(row, votes, lf_names, labels))
    if f["sort"]:
        page = [x[2] for x in sorted(least, key=lambda x: (-x[0], -x[1]))][start:stop]
    return {"total": total, "offset": start, "limit": f["limit"], "items": page,
            "labels": labels, "lfs": lf_names}


def _confidence(row: dict[str, Any]) -> float | None:
    """The probability of an exported row's label (None without one)."""
    return None if row["label"] is None else float(row[f"p_{row['label']}"])


def _item(row: dict[str, Any], votes: Any, lf_names: list[str], labels: list[str]
          ) -> dict[str, Any]:
    text = row["text"] or ""
    label = row["label"]
    return {"id": row["id"], "text": text[:MAX_TEXT], "text_truncated": len(text) > MAX_TEXT,
            "label": label, "source": row["source"],
            "confidence": _confidence(row),
            "known": row["gold"], "model_label": row["model_label"],
            "held_out": row["held_out"], "entities": entities(row.get("fields")),
            "votes": [] if votes is None else [
                {"lf": lf_names[j], "label": labels[int(v)]}
                for j, v in enumerate(votes) if 0 <= int(v) < len(labels)]}
