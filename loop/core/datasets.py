"""Read datasets in the WRENCH format.

A dataset directory holds ``train.json``, ``valid.json``, ``test.json`` and
``label.json`` (or a single ``all.json``/``all.json.gz`` for crowd sets). Each
split is a JSON object keyed by id: ``{"label": int, "weak_labels": [...],
"data": {...}}`` with ``-1`` for abstain.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from loop.core.types import GoldVector, LabelMatrix

SPLITS = ("train", "valid", "test", "all")


class DatasetError(ValueError):
    """The dataset directory is missing, incomplete or malformed."""


@dataclass
class Split:
    """One split: ids, votes ``L``, gold ``y`` and the raw ``data`` fields."""

    ids: list[str]
    L: LabelMatrix
    y: GoldVector
    data: list[dict[str, Any]]

    @property
    def texts(self) -> list[str] | None:
        """The ``text`` field of every row, or ``None`` if the set has no text."""
        if not self.data or not all(isinstance(d.get("text"), str) for d in self.data):
            return None
        return [d["text"] for d in self.data]

    @property
    def model_texts(self) -> list[str] | None:
        """:attr:`texts` as the end model reads them, as the service's does: a
        relation item's entity pair after its text
        (:func:`~loop.core.relations.relation_text`; semeval, chemprot), any other
        text as it is."""
        from loop.core.relations import relation_text

        texts = self.texts
        if texts is None:
            return None
        return [relation_text(t, d) for t, d in zip(texts, self.data, strict=True)]

    def take(self, idx: Any) -> Split:
        idx = np.asarray(idx, dtype=np.intp)
        return Split(
            [self.ids[i] for i in idx], self.L[idx], self.y[idx], [self.data[i] for i in idx]
        )


@dataclass
class Dataset:
    """A WRENCH-format dataset. ``splits`` maps split name to :class:`Split`."""

    name: str
    label_names: list[str]
    splits: dict[str, Split] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def n_classes(self) -> int:
        return len(self.label_names)

    @property
    def single_file(self) -> bool:
        return "all" in self.splits


def _read_json(path: Path) -> Any:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rt", encoding="utf-8") as fh:
                return json.load(fh)
        with path.open(encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot read {path}: {exc}") from exc


def _parse_split(path: Path, n_classes: int) -> Split:
    raw = _read_json(path)
    if not isinstance(raw, dict) or not raw:
        raise DatasetError(f"{path} must be a non-empty JSON object keyed by id")
    ids, votes, gold, data = [], [], [], []
    n_lfs = None
    for key, row in raw.items():
        if not isinstance(row, dict) or "weak_labels" not in row or "label" not in row:
            raise DatasetError(f"{path}: row {key!r} needs 'label' and 'weak_labels'")
        wl = row["weak_labels"]
        if not isinstance(wl, list) or not all(isinstance(v, int) and not isinstance(v, bool)
                                               for v in wl):  # true is no class id
            raise DatasetError(f"{path}: row {key!r} has non-integer weak_labels")
        if n_lfs is None:
            n_lfs = len(wl)
        elif len(wl) != n_lfs:
            raise DatasetError(
                f"{path}: row {key!r} has {len(wl)} weak labels, earlier rows have {n_lfs}"
            )
        lab = -1 if row["label"] is None else row["label"]  # null: gold unknown
        if isinstance(lab, bool) or not isinstance(lab, int):
            raise DatasetError(f"{path}: row {key!r} has label {lab!r}, not a class id (a "
                               "whole number, a key of label.json; -1 or null: unknown)")
        if not -1 <= lab < n_classes:
            raise DatasetError(f"{path}: row {key!r} has label {lab!r} outside 0..{n_classes - 1}")
        ids.append(str(key))
        votes.append(wl)
        gold.append(lab)
        data.append(row.get("data") or {})
    L = np.asarray(votes, dtype=np.int64)
    if n_lfs == 0:
        raise DatasetError(f"{path}: rows have no weak labels")
    bad = np.argwhere((L < -1) | (L >= n_classes))
    if bad.size:
        r, j = (int(v) for v in bad[0])
        raise DatasetError(
            f"{path}: row {ids[r]!r} has weak label {int(L[r, j])} (LF {j}); weak labels "
            f"must be -1 or a class id in 0..{n_classes - 1} (label.json has {n_classes} "
            f"classes), found {int(L.min())}..{int(L.max())}"
        )
    dtype = np.int8 if n_classes <= 127 else np.int16
    return Split(ids, L.astype(dtype), np.asarray(gold, dtype=np.int64), data)


def load_wrench(path: str | Path) -> Dataset:
    """Load a WRENCH-format dataset directory.

    Raises
    ------
    DatasetError
        With a one-line message naming the missing or malformed file.
    """
    root = Path(path)
    if not root.is_dir():
        raise DatasetError(f"{root} is not a directory")
    label_file = root / "label.json"
    if not label_file.exists():
        raise DatasetError(f"{root} has no label.json (class id -> class name)")
    labels = _read_json(label_file)
    if not isinstance(labels, dict) or not labels:
        raise DatasetError(f"{label_file} must map class ids to names")
    try:
        label_names = [str(labels[k]) for k in sorted(labels, key=int)]
        if sorted(int(k) for k in labels) != list(range(len(labels))):
            raise ValueError
    except ValueError:
        raise DatasetError(f"{label_file} keys must be the class ids 0..k-1") from None
    if len(label_names) < 2:  # else the label model's "n_classes must be ... >= 2"
        raise DatasetError(f"{label_file} names {len(label_names)} class; a label space "
                           "needs 2 or more (for spam: {\"0\": \"ham\", \"1\": \"spam\"})")
    ds = Dataset(root.name, label_names)
    for split in SPLITS:
        for name in (f"{split}.json", f"{split}.json.gz"):
            p = root / name
            if p.exists():
                ds.splits[split] = _parse_split(p, len(label_names))
                break
    has_fit = bool({"train", "valid"} & ds.splits.keys())
    if "all" not in ds.splits and ("test" not in ds.splits or not has_fit):
        raise DatasetError(
            f"{root} needs test.json and train.json (or valid.json), or a single all.json"
        )
    n_lfs = {s.L.shape[1] for s in ds.splits.values()}
    if len(n_lfs) > 1:
        raise DatasetError(f"{root}: splits disagree on the number of LFs: {sorted(n_lfs)}")
    extra = root / "labeled_ids.json"
    if extra.exists():
        ds.extra["labeled_ids"] = _read_json(extra)
    return ds
