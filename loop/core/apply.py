"""Apply labeling functions to records and collect the label matrix ``L``.

An LF that raises, or returns something outside the label space, does not stop
the run: that vote becomes ``ABSTAIN`` and the error is counted per LF with one
example, so the person who wrote the LF can fix it.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from loop.core.lf import ABSTAIN, LabelingFunction, Record
from loop.core.types import LabelMatrix

if TYPE_CHECKING:
    from loop.core.rules import Rule

ProgressCallback = Callable[[int, int], None]


@dataclass
class LFErrorSummary:
    """Errors raised by one LF: how many, and the first one seen."""

    lf: str
    count: int = 0
    example_id: Any = None
    example_error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "lf": self.lf,
            "count": self.count,
            "example_id": self.example_id,
            "example_error": self.example_error,
        }


@dataclass
class ApplyResult:
    """What :func:`apply_lfs` returns: the label matrix and the LF errors.

    Unpacks as ``L, errors = apply_lfs(...)``, and indexes as that pair does
    (``apply_lfs(...)[0]`` is ``L``).
    """

    L: LabelMatrix
    errors: dict[str, LFErrorSummary] = field(default_factory=dict)

    def __iter__(self) -> Iterator[Any]:
        return iter((self.L, self.errors))

    def __getitem__(self, i: int) -> Any:
        return (self.L, self.errors)[i]

    def __len__(self) -> int:
        return 2

    def errors_as_dicts(self) -> list[dict[str, Any]]:
        return [e.to_dict() for e in self.errors.values() if e.count]


def label_dtype(n_classes: int | None) -> np.dtype[Any]:
    """Smallest signed integer dtype that holds ``-1 .. n_classes - 1``."""
    if n_classes is None or n_classes <= 127:
        return np.dtype(np.int8)
    if n_classes <= 32767:
        return np.dtype(np.int16)
    return np.dtype(np.int32)


def as_records(records: Any) -> list[Record]:
    """Turn dicts, a list of dicts or a pandas DataFrame into :class:`Record` s."""
    if hasattr(records, "to_dict") and hasattr(records, "columns"):
        return [Record(r) for r in records.to_dict("records")]
    out = []
    for r in records:
        if isinstance(r, Record):
            out.append(r)
        elif isinstance(r, dict):
            out.append(Record(r))
        else:
            raise TypeError(
                f"records must be dicts or a pandas DataFrame, got an item of type "
                f"{type(r).__name__}"
                + ("; for texts alone: [{'text': t} for t in texts], read as x.text"
                   if isinstance(r, str) else "")
            )
    return out


def merge_errors(
    parts: Iterable[dict[str, LFErrorSummary]],
) -> dict[str, LFErrorSummary]:
    """Merge error summaries of several chunks (first example wins)."""
    out: dict[str, LFErrorSummary] = {}
    for part in parts:
        for name, e in part.items():
            if name not in out:
                out[name] = LFErrorSummary(name, e.count, e.example_id, e.example_error)
            else:
                out[name].count += e.count
                if out[name].example_id is None:
                    out[name].example_id = e.example_id
                    out[name].example_error = e.example_error
    return out


class LFInterrupted(BaseException):
    """An exception of ``apply_lfs(interrupts=...)`` (a time limit) stopped LF
    ``lf`` on the record with id ``item``; the original is its ``__cause__``."""

    def __init__(self, lf: str, item: Any) -> None:
        super().__init__(lf, item)
        self.lf, self.item = lf, item


#: An LF failing on this share of the records or more is warned about (a field most
#: records lack: a library trial's LF failed on 74% of them, and only ``errors`` said so).
WARN_FAILING_SHARE = 0.5

#: A TypeError of text used as a number: ``"11" >= 10``, ``"11" + 1``.
_TEXT_AS_NUMBER = re.compile(r"'str' and '(?:int|float)'|'(?:int|float)' and 'str'"
                             r"|concatenate str \(not \"(?:int|float)\"\)")


def _text_number_hint(exc: Exception, x: Record) -> str:
    """What to write when an LF used a field holding a number as text as a number:
    a CSV's cells reach the LFs as text, a DataFrame's int column as ints, so an LF
    tried on a DataFrame failed on every item uploaded as CSV. Names the record's
    first such field; empty for any other error.

    >>> print(_text_number_hint(TypeError("'>=' not supported between instances of "
    ...                                   "'str' and 'int'"), Record({"text": "hi", "n": "3"})))
    ; x.n is text (a CSV's cells are): convert it, e.g. int(x.n)
    """
    if not isinstance(exc, TypeError) or not _TEXT_AS_NUMBER.search(str(exc)):
        return ""
    for name in x:
        value = x[name]
        if not isinstance(value, str):
            continue
        try:
            number = float(value)
        except ValueError:
            continue
        get = f"x.{name}" if str(name).isidentifier() else f"x[{name!r}]"
        cast = "int" if number.is_integer() and "." not in value else "float"
        return f"; {get} is text (a CSV's cells are): convert it, e.g. {cast}({get})"
    return ""


def apply_lfs(
    lfs: Sequence[LabelingFunction | Rule],
    records: Any,
    *,
    n_classes: int | None = None,
    ids: Sequence[Any] | None = None,
    progress: ProgressCallback | None = None,
    progress_every: int = 1000,
    interrupts: tuple[type[BaseException], ...] = (),
    warn: bool = True,
) -> ApplyResult:
    """Apply ``lfs`` to every record.

    Parameters
    ----------
    lfs
        Labeling functions; column ``j`` of ``L`` holds the votes of ``lfs[j]``.
        A rule (:class:`~loop.core.rules.Rule`, rules as data) is one too: it
        votes as :meth:`~loop.core.rules.Rule.as_lf` does.
    records
        Dicts, or a pandas DataFrame (one record per row).
    n_classes
        Size of the label space. Votes outside ``-1 .. n_classes - 1`` count as
        errors of that LF. ``None`` accepts any non-negative integer.
    ids
        Record ids used in error examples (default: a DataFrame's index, so that
        ``df.loc[example_id]`` is the record; else row positions).
    progress
        Called as ``progress(n_done, n_total)`` every ``progress_every`` records
        and at the end.
    interrupts
        Exception types that stop the run instead of counting as an LF's error
        (a job's time limit raised inside an LF): re-raised as
        :class:`LFInterrupted` naming the LF and the record.
    warn
        Warn (``UserWarning``) about each LF that failed on every record, or on
        :data:`WARN_FAILING_SHARE` of them or more: those votes are abstentions,
        which would otherwise look like an LF that rarely fires (a misspelt field
        name, a field most records lack). ``errors`` counts every failure. Also
        about a field rule whose field no record has (it abstains on every one,
        without an error).

    Returns
    -------
    ApplyResult
        ``L``: (n_items, n_lfs) int, -1 = abstain, in the smallest signed dtype
        that holds the label space; ``errors``: per-LF error summaries.

    >>> from loop.core.lf import labeling_function
    >>> @labeling_function()
    ... def short(x):
    ...     return 0 if len(x.text) < 5 else ABSTAIN
    >>> L, errors = apply_lfs([short], [{"text": "hi"}, {"text": "hello world"}])
    >>> L.ravel().tolist(), errors
    ([0, -1], {})
    """
    from loop.core.rules import Rule

    if isinstance(lfs, LabelingFunction | Rule):  # was "object is not iterable"
        raise TypeError(f"lfs must be a list of LFs, got the one LF {lfs.name!r}: pass "
                        f"[{lfs.name}]")
    fns: list[Any] = [lf.as_lf() if isinstance(lf, Rule) else lf for lf in lfs]
    for lf in fns:
        if not isinstance(lf, LabelingFunction):
            raise TypeError(
                f"{getattr(lf, '__name__', repr(lf))} is not a labeling function: wrap "
                "it with @labeling_function() (from loop import labeling_function) "
                "so that it has a name and its own errors")
    names = [lf.name for lf in fns]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"LF names must be unique; repeated: {dup}")
    if ids is None and hasattr(records, "columns") and hasattr(records, "index"):
        # a DataFrame's own row labels: after a filter or shuffle, position 0 is
        # not df.loc[0], and an example named by position sent the user to another row
        ids = records.index.tolist()
    recs = as_records(records)
    n = len(recs)
    if ids is not None and len(ids) != n:
        raise ValueError(f"ids has {len(ids)} entries but there are {n} records")
    dtype = label_dtype(n_classes)
    hi = n_classes if n_classes is not None else int(np.iinfo(dtype).max) + 1
    L = np.full((n, len(fns)), ABSTAIN, dtype=dtype)
    errors: dict[str, LFErrorSummary] = {}

    def record_error(lf: LabelingFunction, i: int, message: str) -> None:
        e = errors.setdefault(lf.name, LFErrorSummary(lf.name))
        e.count += 1
        if e.example_id is None:
            e.example_id = ids[i] if ids is not None else i
            e.example_error = message

    # LFs that vote on every record at once (rules, uploaded votes): one call each;
    # one that fails or votes outside the label space runs record by record, where
    # its errors are counted as any LF's
    one_by_one: list[tuple[int, LabelingFunction]] = []
    shared: dict[Any, Any] = {}
    for j, lf in enumerate(fns):
        col = None
        if lf.batch is not None and n:
            try:
                col = np.asarray(lf.batch(recs, shared))
            except interrupts as exc:
                raise LFInterrupted(lf.name, ids[0] if ids is not None else 0) from exc
            except Exception:  # noqa: BLE001 - record by record says where and why
                col = None
        if col is not None and col.shape == (n,) and col.dtype.kind in "iu" and (
                (col >= ABSTAIN) & (col < hi)).all():
            L[:, j] = col
        elif n:
            one_by_one.append((j, lf))
    for i, x in enumerate(recs if one_by_one else ()):
        for j, lf in one_by_one:
            try:
                v = lf(x)
            except interrupts as exc:
                raise LFInterrupted(lf.name, ids[i] if ids is not None else i) from exc
            except Exception as exc:  # noqa: BLE001 - an LF bug must not stop the run
                record_error(lf, i, f"{type(exc).__name__}: {exc}"
                                    + _text_number_hint(exc, x))
                continue
            if v is None or v == ABSTAIN:
                continue
            if isinstance(v, bool) or not isinstance(v, int | np.integer):
                record_error(lf, i, f"returned {v!r} ({type(v).__name__}); an LF returns an "
                                    f"int class id in 0..{hi - 1} or ABSTAIN (-1)")
                continue
            if not 0 <= v < hi:
                record_error(lf, i, f"returned {v!r}, outside the label space -1..{hi - 1}")
                continue
            L[i, j] = v
        if progress is not None and ((i + 1) % progress_every == 0):
            progress(i + 1, n)
    if progress is not None:
        progress(n, n)
    if warn:
        from loop.core.rules import field_value

        for rule in lfs:
            # a field rule (or a rule's field condition) on a field no record has
            # abstains everywhere without an error (library trial: only an LF that
            # fails is warned about); an "and not" of one excludes nothing
            if not isinstance(rule, Rule) or not n:
                continue
            for k, (t, neg) in enumerate(rule.tests()):
                if t.kind != "field" or any(field_value(x, t.field) is not None for x in recs):
                    continue
                have = sorted(str(f) for f in recs[0])
                warnings.warn(f"rule {rule.name!r}" + (f", condition {k}," if k else "")
                              + f" reads the field {t.field!r}, which none of the {n} records "
                              + "has, so " + ("its 'and not' excludes nothing" if neg
                                              else "it abstains on every one")
                              + f"; the first record's fields: {have[:20]}", UserWarning,
                              stacklevel=2)
        for e in errors.values():
            if e.count == n:
                warnings.warn(f"LF {e.lf!r} failed on all {n} records, so it abstains on "
                              f"every one; first: {e.example_error}", UserWarning,
                              stacklevel=2)
            elif e.count >= WARN_FAILING_SHARE * n:
                warnings.warn(f"LF {e.lf!r} failed on {e.count} of {n} records "
                              f"({e.count / n:.0%}), which count as abstentions; first "
                              f"(record {e.example_id!r}): {e.example_error}", UserWarning,
                              stacklevel=2)
    return ApplyResult(L, errors)


def chunk_bounds(n_items: int, chunk_size: int) -> list[tuple[int, int]]:
    """Split ``range(n_items)`` into ``[start, stop)`` chunks for parallel workers.

    >>> chunk_bounds(5, 2)
    [(0, 2), (2, 4), (4, 5)]
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    return [(a, min(a + chunk_size, n_items)) for a in range(0, n_items, chunk_size)]
