"""LF votes that come with the data: one column per LF, computed elsewhere.

WRENCH's ``weak_labels``, the output of a Snorkel ``LFApplier`` or of an in-house
pipeline: each item carries a list of votes, one per LF, a class index from 0 or
``-1`` to abstain. :func:`read_votes` checks one item's list, and
:func:`votes_lfs` turns the columns into :class:`~loop.core.lf.LabelingFunction`
objects that read them back, so the label model, the LF table and the loop treat
them as any other LF (an LF that votes several classes, a crowd worker say, is
modelled with its own confusion matrix).
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from loop.core.lf import ABSTAIN, LabelingFunction

#: Most LF columns one votes field may hold.
MAX_VOTES = 1000
#: How the columns are read; in every votes LF's fingerprint.
READS = "votes-1"


def read_votes(value: Any, labels: Sequence[str], n: int | None = None) -> list[int] | None:
    """One item's votes as class indices (``-1``: abstain), or None when the item
    has none (no value: every LF abstains on it). ``value`` is a list (or the text
    of a JSON list, as a CSV cell holds it) of class indices from 0, ``-1`` or
    ``null`` to abstain, or class names. ``n``: the number of LFs it must hold.
    ``ValueError`` saying what is wrong.

    >>> read_votes([-1, 0, 1, None, "spam"], ["ham", "spam"])
    [-1, 0, 1, -1, 1]
    >>> read_votes("[1, -1]", ["ham", "spam"], n=2)
    [1, -1]
    """
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ValueError(f"votes must be a list such as [-1, 0, 1], got {value[:40]!r}"
                             ) from None
    if not isinstance(value, list):
        raise ValueError(f"votes must be a list such as [-1, 0, 1], one per LF; got "
                         f"{_json_kind(value)}")
    if not value or len(value) > MAX_VOTES:
        raise ValueError(f"votes must list 1 to {MAX_VOTES} LFs' votes, got {len(value)}")
    if n is not None and len(value) != n:
        raise ValueError(f"votes must list {n} LFs' votes, got {len(value)}")
    index = {name: i for i, name in enumerate(labels)}
    folded = {name.casefold(): i for i, name in enumerate(labels)}
    out = []
    for j, v in enumerate(value):
        if isinstance(v, float) and v.is_integer():  # 1.0: numpy's or pandas' output
            v = int(v)
        if v is None or v == ABSTAIN:
            out.append(ABSTAIN)
        elif isinstance(v, int) and not isinstance(v, bool) and 0 <= v < len(labels):
            out.append(v)
        elif isinstance(v, str) and v.strip().casefold() in folded:
            out.append(index.get(v.strip(), folded[v.strip().casefold()]))
        else:
            raise ValueError(f"vote {j} (counted from 0) is {json.dumps(v, default=repr)}; a "
                             f"vote is a class index 0..{len(labels) - 1}, -1 or null to "
                             f"abstain, or one of {list(labels)}")
    return out


def _json_kind(value: Any) -> str:
    """What a JSON value is, in JSON's words (a CSV cell "null" is JSON's null, not
    Python's ``NoneType``).

    >>> _json_kind(None), _json_kind(3), _json_kind({"a": 1})
    ('null', 'the number 3', 'an object')
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, int | float):
        return f"the number {str(value)[:40]}"
    if isinstance(value, dict):
        return "an object"
    return f"the text {str(value)[:40]!r}" if isinstance(value, str) else type(value).__name__


def votes_count(values: Sequence[Any]) -> int | None:
    """How many LFs' votes most of ``values`` list (lists, or JSON lists as text;
    anything else is not counted), or None when none is a list: the number a
    file's odd rows are checked against.

    >>> votes_count([[0, 1, -1], "[1, 1, 1]", [0], None, "x"])
    3
    """
    sizes: dict[int, int] = {}
    for v in values:
        if isinstance(v, str) and v.lstrip().startswith("["):
            try:
                v = json.loads(v)
            except ValueError:
                continue
        if isinstance(v, list) and v:
            sizes[len(v)] = sizes.get(len(v), 0) + 1
    return max(sizes, key=lambda k: (sizes[k], -k)) if sizes else None


def votes_names(field: str, n: int, names: Sequence[str] | None = None) -> list[str]:
    """The LF names of a votes field's columns: ``names`` if given (the LFs' own,
    see :func:`check_names`), else ``weak_labels[0]`` ...

    >>> votes_names("weak_labels", 2)
    ['weak_labels[0]', 'weak_labels[1]']
    """
    return list(names) if names else [f"{field}[{j}]" for j in range(n)]


def check_names(names: Any, n: int) -> list[str]:
    """The names of ``n`` uploaded LF columns, in order: a list of strings, or one
    string of them separated by commas; each a good rule name
    (:func:`~loop.core.rules.good_name`), none twice. ``ValueError``.

    >>> check_names("has_link, short", 2)
    ['has_link', 'short']
    """
    from loop.core.rules import good_name  # the rules' own test of a name
    from loop.core.text import name_key

    if isinstance(names, str):
        names = names.split(",")
    if not isinstance(names, list) or not all(isinstance(x, str) for x in names):
        raise ValueError("votes_names must be a list of names, or one string of them "
                         "separated by commas")
    names = [x.strip() for x in names]
    if len(names) != n:
        raise ValueError(f"votes_names gives {len(names)} names for {n} LFs' votes; name "
                         "each, in the order of the votes")
    bad = next((x for x in names if not good_name(x)), None)
    if bad is not None:
        raise ValueError(f"an LF name must be 1 to 100 characters with no '/', spaces, "
                         f"control or invisible characters; got {bad!r}")
    keys = [name_key(x) for x in names]  # "Spam" and "spam" read as one name
    twice = sorted({x for x, k in zip(names, keys, strict=True) if keys.count(k) > 1})
    if twice:
        raise ValueError(f"LF names must differ (in more than case); given twice: "
                         f"{twice[0]!r}")
    return names


def votes_lfs(field: str, n: int, names: Sequence[str] | None = None,
              ) -> list[LabelingFunction]:
    """LFs that read the ``n`` columns of the votes stored in field ``field`` of
    each record (as :func:`read_votes` left them), named by :func:`votes_names`:
    an item without votes, or with a shorter list, abstains."""
    def columns(records: Sequence[Any], shared: dict[Any, Any]) -> np.ndarray:
        """Every record's votes as one (n, n_lfs) matrix, made once per call."""
        key = ("votes", field, n)
        if key not in shared:
            out = np.full((len(records), n), ABSTAIN, dtype=np.int64)
            for i, x in enumerate(records):
                got = x.get(field) if hasattr(x, "get") else None
                if isinstance(got, list) and got:
                    out[i, :min(n, len(got))] = got[:n]
            shared[key] = out
        return shared[key]  # type: ignore[no-any-return]

    lfs = []
    for j, name in enumerate(votes_names(field, n, names)):
        def vote(x: Any, j: int = j) -> int:
            got = x.get(field) if hasattr(x, "get") else None
            return int(got[j]) if isinstance(got, list) and j < len(got) else ABSTAIN

        def batch(records: Sequence[Any], shared: dict[Any, Any], j: int = j) -> np.ndarray:
            return columns(records, shared)[:, j]

        lf = LabelingFunction(name, vote, batch=batch)
        digest = hashlib.sha256(json.dumps([READS, field, j]).encode()).hexdigest()[:16]
        lf.fingerprint = functools.partial(str, digest)  # type: ignore[method-assign]
        lfs.append(lf)
    return lfs
