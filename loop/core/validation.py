"""Input checks shared by the label models, samplers and analysis."""

from __future__ import annotations

from typing import Any

import numpy as np

from loop.core.types import GoldVector, LabelMatrix


def check_n_classes(n_classes: Any) -> int:
    """``n_classes`` as an int, or a ValueError: a whole number >= 2 (2.5 or 0 would
    otherwise surface later as a confusing vote range)."""
    if (isinstance(n_classes, bool) or not isinstance(n_classes, int | np.integer)
            or n_classes < 2):
        raise ValueError(f"n_classes must be a whole number >= 2 (the size of the label "
                         f"space), got {n_classes!r}")
    return int(n_classes)


def _missing(v: Any) -> bool:
    """None, NaN or pandas' NA (whose ``!=`` is NA, not a bool)."""
    return v is None or type(v).__name__ == "NAType" or (isinstance(v, float) and v != v)


def _whole_numbers(arr: np.ndarray, missing: str) -> np.ndarray:
    """An object array (pandas' nullable ``Int64`` comes out so) as int64 when it
    holds whole numbers only; a ValueError saying ``missing`` when it holds a missing
    value; else as it is, for the caller's own checks."""
    values = arr.ravel().tolist()
    if any(_missing(v) for v in values):
        raise ValueError(missing)
    if values and all(isinstance(v, int | np.integer) and not isinstance(v, bool)
                      for v in values):
        return arr.astype(np.int64)
    return arr


def check_label_matrix(L: Any, *, n_classes: int | None = None, name: str = "L") -> LabelMatrix:
    """Validate an (n_items, n_lfs) vote matrix and return it as a compact int array."""
    if n_classes is not None:
        n_classes = check_n_classes(n_classes)
    if hasattr(L, "toarray"):
        raise ValueError(f"{name} must be a dense (n_items, n_lfs) array, not a sparse matrix")
    try:
        arr = np.asarray(L)
    except ValueError:  # numpy's "inhomogeneous shape": rows of different lengths
        lengths = [len(r) if hasattr(r, "__len__") else 1 for r in L]
        first = next((i for i, n in enumerate(lengths) if n != lengths[0]), None)
        if first is None:
            raise
        raise ValueError(
            f"{name} has rows of different lengths (row 0 has {lengths[0]} votes, row "
            f"{first} has {lengths[first]}): give every item one vote per LF, -1 where "
            "the LF abstains") from None
    if arr.dtype.kind == "O":  # pandas' nullable Int64 columns come out as objects
        arr = _whole_numbers(arr, f"{name} holds missing values (None, NaN or pandas' NA): "
                                  f"use -1 where an LF abstains (with pandas: "
                                  f"{name}.fillna(-1).astype(int))")
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_items, n_lfs), got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape}): need at least one item and one LF")
    if arr.dtype.kind == "f":
        if np.isnan(arr).any():  # a pandas frame of votes with missing cells
            raise ValueError(f"{name} holds NaN: use -1 where an LF abstains (with pandas: "
                             f"{name}.fillna(-1).astype(int))")
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise ValueError(f"{name} must hold integer class ids or -1, found non-integers")
    elif arr.dtype.kind not in "iu":
        raise ValueError(f"{name} must hold integers (class ids, -1 = abstain), got {arr.dtype}")
    lo, hi = int(arr.min()), int(arr.max())
    if lo < -1:
        raise ValueError(f"{name} holds {lo}; votes must be -1 (abstain) or a class id >= 0")
    if n_classes is not None and hi >= n_classes:
        raise ValueError(
            f"{name} holds class {hi} but n_classes={n_classes}; "
            f"votes must be in -1..{n_classes - 1}"
        )
    dtype = np.int8 if hi <= 127 else (np.int16 if hi <= 32767 else np.int32)
    return np.ascontiguousarray(arr, dtype=dtype)


def check_gold(y: Any, n_items: int, n_classes: int | None = None, against: str = "L"
               ) -> GoldVector:
    """Validate a gold vector: one entry per item (of ``against``), a class id or -1
    (unknown)."""
    arr = np.asarray(y)
    if arr.dtype.kind == "O":  # pandas' nullable Int64: objects, pd.NA where unknown
        if any(v is None for v in arr.ravel().tolist()):  # [1, None, 0]: as in LFs
            raise ValueError("y holds None: use -1 for rows without a gold label")
        arr = _whole_numbers(arr, "y holds NaN or pandas' NA: use -1 for rows without a "
                                  "gold label (with pandas: y.fillna(-1).astype(int))")
    if arr.ndim != 1 or arr.shape[0] != n_items:
        raise ValueError(f"y must have shape ({n_items},) to match {against}, got {arr.shape}")
    if arr.dtype.kind == "f":
        if np.isnan(arr).any():  # a pandas column with missing labels (a user's df["label"])
            raise ValueError("y holds NaN: use -1 for rows without a gold label (with "
                             "pandas: y.fillna(-1).astype(int))")
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise ValueError("y must hold integer class ids or -1 (unlabeled)")
    elif arr.dtype.kind not in "iu":
        values = arr.tolist()
        first = next((v for v in values if isinstance(v, str)), None)
        raise ValueError(f"y must hold integers (class ids, -1 = unlabeled), got {arr.dtype}"
                         + ("" if first is None else f" values such as {first!r}: map label "
                            "names to their ids first"))
    arr = arr.astype(np.int64)
    if arr.size and arr.min() < -1:
        raise ValueError(f"y holds {arr.min()}; use -1 for rows without a gold label")
    if n_classes is not None and arr.size and arr.max() >= n_classes:
        raise ValueError(
            f"y holds class {arr.max()} but n_classes={n_classes}; gold labels must be "
            f"in 0..{n_classes - 1} (or -1)"
        )
    return arr


def check_random_gold(random_gold: Any, n_items: int) -> np.ndarray:
    """``random_gold`` as an (n_items,) bool mask (which gold rows were drawn at random)."""
    arr = np.asarray(random_gold, dtype=bool)
    if arr.shape != (n_items,):
        raise ValueError(f"random_gold must have shape ({n_items},) to match L, got {arr.shape}")
    return arr


def check_rows(rows: Any, n_items: int, name: str) -> np.ndarray:
    """``rows`` (an (n_items,) bool mask, or indices into the items) as a bool mask;
    a clear error for indices out of range or a mask of another length (it was a
    bare IndexError)."""
    arr = np.asarray(rows)
    if arr.dtype == bool:
        if arr.shape != (n_items,):
            raise ValueError(f"{name} as a mask must have shape ({n_items},), got {arr.shape}")
        return arr.copy()
    if arr.size == 0:
        return np.zeros(n_items, dtype=bool)
    if arr.dtype.kind not in "iu" or arr.ndim != 1:
        raise ValueError(f"{name} must be a bool mask of the {n_items} items or a list of "
                         f"their indices, got {arr.dtype} of shape {arr.shape}")
    bad = arr[(arr < -n_items) | (arr >= n_items)]
    if bad.size:
        raise ValueError(f"{name} holds index {int(bad[0])}, out of range for {n_items} items "
                         f"(0..{n_items - 1})")
    out = np.zeros(n_items, dtype=bool)
    out[arr] = True
    return out


def infer_n_classes(L: LabelMatrix, y: GoldVector | None, n_classes: int | None) -> int:
    """``n_classes`` if given, else the largest class seen plus one (at least 2)."""
    if n_classes is not None:
        return check_n_classes(n_classes)
    hi = int(L.max())
    if y is not None and y.size:
        hi = max(hi, int(y.max()))
    return max(2, hi + 1)


def as_texts(X: Any) -> list[str] | None:
    """``X`` as a list of texts if it is one (a list or tuple, or a one-dimensional
    array or pandas Series of strings); None for a feature matrix or None."""
    if X is None:
        return None
    if isinstance(X, str):
        raise ValueError("X is one string; pass one text per item (a list of strings)")
    if isinstance(X, list | tuple):
        return check_strings(list(X))
    shape = getattr(X, "shape", None)
    if shape is not None and len(shape) == 2 and not hasattr(X, "tocsr"):
        # the columns' kinds, without copying a DataFrame of features to find them
        dtypes = getattr(X, "dtypes", None)
        kinds = ({d.kind for d in dtypes} if dtypes is not None
                 else {np.asarray(X).dtype.kind})
        texts = bool(kinds & set("OUS"))
        if texts and shape[1] == 1:
            col = np.asarray(X)[:, 0]  # one column of texts (a DataFrame's [["text"]])
            X, shape = col, col.shape
        elif texts:
            cols = list(getattr(X, "columns", []))
            raise ValueError(
                f"X has {shape[1]} columns, not all numbers"
                + (f" ({', '.join(map(repr, cols[:5]))})" if cols else "")
                + "; pass the items' texts (one column, e.g. X=df['text']) or a "
                "feature matrix of numbers")
    if shape is not None and len(shape) == 1:
        a = np.asarray(X)
        if a.dtype.kind in "OUS":
            return check_strings(a.tolist())
        raise ValueError(
            f"X is one {a.dtype} value per item; pass the items' texts (strings) or a "
            "2-D feature matrix of shape (n_items, n_features)")
    return None


def check_strings(texts: list[Any]) -> list[str]:
    """``texts`` as strings; a ValueError naming the rows with no text (None or
    NaN, a pandas column's missing value), which would otherwise be read as the
    words "None" and "nan"."""
    missing = [i for i, t in enumerate(texts)
               if t is None or (isinstance(t, float) and t != t)
               or type(t).__name__ == "NAType"]  # pandas.NA
    if missing:
        rows = ", ".join(map(str, missing[:5])) + (", ..." if len(missing) > 5 else "")
        raise ValueError(
            f"X has no text (None or NaN) at {len(missing)} row"
            f"{'s' if len(missing) > 1 else ''} (position {rows}); give those items "
            "a text, or an empty one (with pandas: df['text'].fillna(''))")
    return [str(t) for t in texts]
