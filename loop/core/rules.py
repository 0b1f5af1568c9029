"""Rules as data: labeling functions written as keywords, a regular expression or a
condition on a field, never as code.

A :class:`Rule` votes its ``label`` on the items it matches and abstains on the
rest. Keyword and regex rules read an item's text as the labeling page shows it
(HTML entities decoded, ``<br>`` a line break, formatting tags dropped:
:func:`loop.core.text.readable`), so a rule matches what its author sees.
Regular expressions (and keywords, compiled into one) run on RE2 (``google-re2``):
matching takes linear time whatever the pattern, so a rule cannot hang a worker or
the web process. :meth:`Rule.match` checks many texts at
once (one scan of their concatenation, then each candidate row on its own), fast
enough for a live preview over 100,000 items.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import itertools
import json
import math
import re
import time
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import re2

from loop.core.lf import ABSTAIN, LabelingFunction
from loop.core.regex_words import IN_WORD, TAKEN, in_word, unicode_words
from loop.core.relations import between, mention
from loop.core.text import hidden_char, nfc, plain_quotes, readable

KINDS = ("keywords", "regex", "field")
OPS = ("==", "!=", ">", ">=", "<", "<=", "in")
#: Most values an ``in`` rule may list.
MAX_VALUES = 1000
#: The keys of a rule's JSON form (:meth:`Rule.to_dict`).
FIELDS = ("name", "label", "kind", "keywords", "whole_word", "case_sensitive",
          "ignore_accents", "pattern", "field", "op", "value", "conditions", "reads")
#: The keys of one of a rule's extra conditions (:meth:`Condition.to_dict`): what a
#: rule's own condition takes, and ``not``.
CONDITION_FIELDS = ("kind", "keywords", "whole_word", "case_sensitive", "ignore_accents",
                    "pattern", "field", "op", "value", "reads", "not")
#: What a keyword or regex rule reads by default (:attr:`Rule.reads`): the item's text.
TEXT = "text"
#: What it reads of a relation item to read the words between its two entities
#: (:func:`loop.core.relations.between`).
BETWEEN = "between"
#: How the words between a relation's entities are found (:func:`~loop.core.relations.between`);
#: in the fingerprint of a rule that reads them, so a change of it re-applies those rules.
PAIRS = "1: at spans, else first occurrences; first entity's end to second's start"
#: Longest field name a rule may read.
MAX_READS = 200
#: Most extra conditions one rule may carry (:attr:`Rule.conditions`).
MAX_CONDITIONS = 5
#: The name of the rule a condition tests with (:attr:`Condition.test`).
CONDITION_NAME = "condition"
#: The comparisons a value must be a number or a date for.
ORDERED_OPS = (">", ">=", "<", "<=")
#: The fields of each kind of rule that no other kind takes.
KIND_FIELDS = {"keywords": ("keywords", "ignore_accents"), "regex": ("pattern",),
               "field": ("field", "op", "value")}
#: Longest pattern (or keyword list, joined) a rule may have.
MAX_PATTERN = 2000
#: What a rule's name may not hold (it names an LF column and a URL path segment).
_BAD_NAME = re.compile(r"[\s/\\\x00-\x1f\x7f]")
#: Character between items when a rule scans many texts at once.
_SEP = "\x00"
#: What keyword and regex rules read: the text as the labeling page shows it
#: (:func:`loop.core.text.readable`). Part of every rule's fingerprint, so a change
#: of it re-applies every rule.
MATCHES = "readable-4"
#: How keyword rules find whole words (:func:`_whole_words`); in their fingerprint.
WHOLE_WORDS = "2: n't and symbol edges"
#: What ``\b`` and ``\w`` mean in a regex rule (:mod:`loop.core.regex_words`); in the fingerprint
#: of a regex rule that has one.
REGEX_BOUNDARIES = "2: words of any script, at the ends"
#: Matches running on past their text's end that a scan of joined texts takes before
#: it searches the texts left one by one (see :meth:`Rule.match`): each read on to
#: the end of all the texts ("(.*)(.*)(.*)(.*)(.*)x": 0.8 s on 100,000 texts), where
#: the texts one by one take 0.2 s in all.
MAX_CROSSINGS = 0
#: Texts one search of the joined texts reads at most (see :meth:`Rule.match`): a
#: pattern that runs on over the separators with a large program (a large repetition
#: of ``.+``) costs its program's size per byte it reads.
WINDOW = 64
#: ... and bytes, past the text it starts in (a deadline is checked between searches).
WINDOW_BYTES = 1 << 16

#: Line or text anchors, whose meaning a scan of joined texts would change.
_ANCHORS = re2.compile(r"\^|\$|\\A|\\z|\\Z|\(\?[a-zA-Z]*m")


@dataclass(frozen=True)
class Rule:
    """One declarative labeling function.

    Parameters
    ----------
    name
        Unique name (its column in ``L``).
    label
        The class index it votes.
    kind
        ``"keywords"``: any of ``keywords`` (words or phrases) occurs, as whole
        words unless ``whole_word`` is False, ignoring case unless
        ``case_sensitive``, and reading every accented letter as its plain one
        (and the other way round) if ``ignore_accents``; ``"regex"``: ``pattern``
        (RE2 syntax) matches somewhere in the text; ``"field"``: ``field op
        value`` holds for an uploaded field (numbers compared as numbers; ``in``:
        equal to one of a list of values, given as a list or comma-separated).
    reads
        What a keyword or regex rule (or condition) reads: ``"text"`` (the default)
        the item's text; ``"between"`` the words between a relation item's two
        entities (fields ``entity1``, ``entity2`` with ``span1``, ``span2``:
        :func:`~loop.core.relations.between`), which an item without such a pair
        does not have; any other name the uploaded field of that name (nested:
        ``data.entity2``), which an item without it does not have. A rule matches
        no item that lacks what it reads (even ``^$``); an "and not" condition
        holds on it. Left out of the rule's JSON form when ``"text"``, so rules
        written before it mean what they meant, and keep their fingerprints. (An
        uploaded field named ``text`` or ``between`` is read by a field rule only.)
    conditions
        Up to :data:`MAX_CONDITIONS` more conditions that must all hold too
        (:class:`Condition`, or its JSON form: a rule's own fields without name
        and label, and ``"not": true`` for "and not"); each of any kind. An OR is
        two rules of one label.

    >>> r = Rule("says_free", 1, "keywords", keywords=("free", "win money"))
    >>> r.match(["FREE stuff", "freedom", "you win money"]).tolist()
    [True, False, True]
    >>> free = Rule("free", 1, "keywords", keywords=("free",), conditions=[
    ...     {"kind": "keywords", "keywords": ["free of charge"], "not": True},
    ...     {"kind": "field", "field": "source", "op": "==", "value": "sms"}])
    >>> free.match(["free now", "free of charge", "free now"],
    ...            [{"source": "sms"}, {"source": "sms"}, {"source": "web"}]).tolist()
    [True, False, False]
    >>> Rule("ng", 0, "keywords", keywords=("Naijiria",), ignore_accents=True).match(
    ...     ["Nàìjíríà ni", "Naijiria", "Naija"]).tolist()
    [True, True, False]
    >>> blocks = Rule("blocks", 1, "keywords", keywords=("blocks",), reads="between")
    >>> blocks.match(["Aspirin blocks COX-1.", "Aspirin blocks COX-1.", "no pair"], [
    ...     {"entity1": "Aspirin", "entity2": "COX-1"},
    ...     {"entity1": "COX-1", "entity2": "blocks"}, {}]).tolist()
    [True, False, False]
    """

    name: str
    label: int
    kind: str
    keywords: tuple[str, ...] = ()
    whole_word: bool = True
    case_sensitive: bool = False
    ignore_accents: bool = False
    pattern: str = ""
    field: str = ""
    op: str = "=="
    value: Any = None
    conditions: tuple[Condition, ...] = ()
    reads: str = TEXT
    _compiled: Any = dc_field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        # Rules made in Python (the README's library use) never pass through
        # from_dict; unchecked, a typo voted silently on the wrong items: kind
        # "keyword" was an empty regex that matched every item, keywords="win" the
        # letters w, i and n as words (no item), label "spam" an error per item
        if self.kind not in KINDS:
            raise ValueError(f"rule {self.name!r}: kind must be one of {list(KINDS)}, "
                             f"got {self.kind!r}")
        if (isinstance(self.label, bool) or not isinstance(self.label, int | np.integer)
                or self.label < 0):
            raise ValueError(f"rule {self.name!r}: label must be a class index (0, 1, ...), "
                             f"got {self.label!r}; map label names to their indices")
        object.__setattr__(self, "label", int(self.label))
        if isinstance(self.keywords, str):
            raise ValueError(f"rule {self.name!r}: keywords must be a tuple or list of words "
                             f"or phrases, got the string {self.keywords!r}: write "
                             f"keywords=({self.keywords!r},)")
        if not isinstance(self.keywords, tuple):  # a list: a rule is hashable
            object.__setattr__(self, "keywords", tuple(self.keywords))
        if self.kind == "keywords" and not any(str(w).strip() for w in self.keywords):
            raise ValueError(f"rule {self.name!r}: a keywords rule needs keywords=(...) "
                             "with 1 or more words or phrases")
        if self.kind == "regex" and not self.pattern:
            raise ValueError(f"rule {self.name!r}: a regex rule needs a pattern= (an empty "
                             "one matches every item)")
        if self.kind == "field" and (not self.field or self.op not in OPS):
            raise ValueError(f"rule {self.name!r}: a field rule needs field= naming a field "
                             f"and op= one of {list(OPS)}, got field={self.field!r}, "
                             f"op={self.op!r}")
        if self.kind == "field" and self.op == "in" and isinstance(self.value, str | list):
            # "box, bottle" was compared letter by letter, a list was unhashable
            # (README audit): the values as from_dict reads them
            object.__setattr__(self, "value", tuple(_value_list(self.value)))
        if (not isinstance(self.reads, str) or not self.reads.strip()
                or len(self.reads) > MAX_READS or hidden_char(self.reads)):
            raise ValueError(f"rule {self.name!r}: reads must be {TEXT!r} (the item's text), "
                             f"{BETWEEN!r} (the words between a relation's two entities) or "
                             f"the name of an uploaded field, got {self.reads!r}")
        if self.kind == "field" and self.reads != TEXT:
            raise ValueError(f"rule {self.name!r}: a field rule compares its field= with its "
                             f"value; reads={self.reads!r} is for keyword and regex rules")
        if self.conditions:  # checked; a tuple of Conditions (a rule is hashable) from
            # a list, or from their JSON form (library use)
            object.__setattr__(self, "conditions", _conditions(self.conditions, self.name))

    # -- checking and (de)serialising ----------------------------------------------------
    @classmethod
    def from_dict(cls, d: Any, n_classes: int, also: Sequence[str] = ()) -> Rule:
        """A rule from JSON-like data; ``ValueError`` naming what is wrong. Keys
        other than a rule's fields (:data:`FIELDS`) and ``also`` are refused: a
        misspelt ``"case_sensitve"`` silently ignored would be a rule that does
        not do what its author asked."""
        if not isinstance(d, dict):
            raise ValueError("a rule must be an object")
        unknown = sorted(set(map(str, d)) - set(FIELDS) - set(also))
        if unknown:
            raise ValueError(f"rule: unknown key{'s' if len(unknown) > 1 else ''} "
                             f"{', '.join(map(repr, unknown))}; a rule has "
                             f"{', '.join([*FIELDS, *also])}")
        name = d.get("name")
        if not isinstance(name, str) or not good_name(name):
            raise ValueError("rule name must be 1 to 100 characters with no '/', spaces, "
                             f"control or invisible characters; got {name!r}")
        label = d.get("label")
        if not isinstance(label, int) or isinstance(label, bool) or not 0 <= label < n_classes:
            raise ValueError(f"rule label must be a class index 0..{n_classes - 1}, "
                             f"got {label!r}")
        kw = _test_fields(d)
        rule = cls(name=name.strip(), label=label, **kw,
                   conditions=_conditions(d.get("conditions"), name.strip()))
        rule.compiled()  # a bad pattern fails here, as a ValueError
        return rule

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "label": self.label, "kind": self.kind,
                "keywords": list(self.keywords), "whole_word": self.whole_word,
                "case_sensitive": self.case_sensitive, "ignore_accents": self.ignore_accents,
                "pattern": self.pattern,
                "field": self.field, "op": self.op,
                "value": list(self.value) if isinstance(self.value, tuple) else self.value,
                "conditions": [c.to_dict() for c in self.conditions],
                # (what it read before rules read anything else: left out)
                **({"reads": self.reads} if self.reads != TEXT else {})}

    def fingerprint(self) -> str:
        """What decides its votes, hashed (see :meth:`LabelingFunction.fingerprint`).
        A rule without conditions has the fingerprint it had before rules took them
        (its saved LF column stays); each condition adds its own, and ``not``. So
        has one that reads the text (:attr:`reads`); reading anything else changes it."""
        what = {**self.to_dict(), "matches": MATCHES}
        del what["conditions"]
        if self.conditions:
            what["conditions"] = [[c.negate, c.test.fingerprint()] for c in self.conditions]
        if not self.ignore_accents:  # rules saved before the flag keep their columns
            del what["ignore_accents"]
        if self.kind == "keywords" and self.whole_word:
            what["whole_words"] = WHOLE_WORDS
        if self.kind == "regex" and unicode_words(self.pattern)[1]:
            what["boundaries"] = REGEX_BOUNDARIES
        if self.kind != "field" and self.reads == BETWEEN:
            what["pairs"] = PAIRS
        return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:16]

    # -- matching --------------------------------------------------------------------------
    def compiled(self, as_bytes: bool = False) -> Any:
        """The RE2 pattern of a keyword or regex rule (None for a field rule), for
        ``str`` texts or (``as_bytes``) UTF-8 ``bytes``."""
        if self.kind == "field":
            return None
        if self._compiled is None:
            key = self._compile_key()
            kept = _KEPT.get(key)
            object.__setattr__(self, "_compiled", kept if kept is not None else _compile(*key))
        return self._compiled[1 if as_bytes else 0]

    def _options(self) -> Any:
        return _options(bool(self.case_sensitive))

    def _compile_key(self) -> tuple[Any, ...]:
        return (self.kind, tuple(self.keywords or ()), self.pattern or "",
                bool(self.whole_word), bool(self.ignore_accents), bool(self.case_sensitive))

    def tests(self) -> list[tuple[Rule, bool]]:
        """What it checks: ``(rule, negate)`` for its own condition (itself: its
        ``_own_*`` methods), then each of its :attr:`conditions`."""
        return [(self, False), *((c.test, c.negate) for c in self.conditions)]

    @property
    def reads_text(self) -> bool:
        """Whether its own condition or one of its conditions reads the item's text
        (the words between a relation's entities are read in it)."""
        return any(t.kind != "field" and t.reads in (TEXT, BETWEEN) for t, _ in self.tests())

    @property
    def reads_pair(self) -> bool:
        """Whether its own condition or one of its conditions reads the words between
        a relation item's entities (:data:`BETWEEN`): it needs every field naming them."""
        return any(t.kind != "field" and t.reads == BETWEEN for t, _ in self.tests())

    @property
    def fields(self) -> tuple[str, ...]:
        """The fields its own condition and its conditions read (compare, or search:
        :attr:`reads`), each once."""
        return tuple(dict.fromkeys(
            t.field if t.kind == "field" else t.reads for t, _ in self.tests()
            if t.kind == "field" or t.reads not in (TEXT, BETWEEN)))

    def _read(self, text: str, record: Any) -> tuple[str, int] | None:
        """What a keyword or regex test reads of one item whose text, as read
        (:func:`shown`), is ``text``: that part of it (or the field's value, as read)
        and where it starts in ``text`` (-1: not in it), or None where the item has
        none (no such field, no pair of entities)."""
        if self.reads == TEXT:
            return text, 0
        if self.reads == BETWEEN:
            at = between(text, record)
            return None if at is None else (text[at[0]:at[1]], at[0])
        value = _field_text(record, self.reads)
        if value is None:
            return None
        at = mention(text, record, self.reads)
        return value, (at[0] if at is not None and text[at[0]:at[1]] == value else -1)

    def matches(self, text: Any, record: Any = None) -> bool:
        """Does the rule match one item (its text, or its fields for a field
        condition)? Its own condition and each of its conditions (or not) hold."""
        return all(t._own_matches(text, record) != neg for t, neg in self.tests())

    def _own_matches(self, text: Any, record: Any) -> bool:
        if self.kind == "field":
            return _compare(field_value(record, self.field), self.op, self.value)
        read = self._read(shown(text), record)
        return read is not None and self.compiled().search(read[0]) is not None

    def spans(self, text: Any, limit: int = 100,
              record: Any = None) -> list[tuple[int, int]]:
        """Where a keyword or regex rule matches ``text``: up to ``limit`` ``(start,
        end)`` character offsets into the text as read (:func:`shown`), in order and
        not overlapping, each a keyword (never its word boundaries) or a non-empty
        regex match; ``[]`` for a field rule. For highlighting what a rule found.
        A rule with conditions: the matches of its own condition and of those that
        are no ``not`` (spans that overlap are joined). One that reads the words
        between a relation's entities (:attr:`reads`) marks its matches there; one
        that reads a field, in the entity of that field where it is in the text,
        else nothing (``record``: the item's fields)."""
        if not self.conditions:
            return self._own_spans(text, limit, record)
        found = sorted(sp for t, neg in self.tests() if not neg
                       for sp in t._own_spans(text, limit, record))
        out: list[tuple[int, int]] = []
        for s, e in found:
            if out and s <= out[-1][1]:
                out[-1] = (out[-1][0], max(out[-1][1], e))
            else:
                out.append((s, e))
        return out[:limit]

    def _own_spans(self, text: Any, limit: int, record: Any = None) -> list[tuple[int, int]]:
        if self.kind == "field":
            return []
        read = self._read(shown(text), record)
        if read is None or read[1] < 0:  # (a field's value that is not in the text)
            return []
        at = read[1]
        return [(s + at, e + at) for s, e in self._find(read[0], limit)]

    def _find(self, t: str, limit: int) -> list[tuple[int, int]]:
        """Where its pattern matches ``t``, as :meth:`spans` says."""
        out: list[tuple[int, int]] = []
        pat, words = self.compiled(), self._compiled[2]
        if words:  # the keyword is the group between the boundaries a match takes up
            pat = re2.compile(self._compiled[3], self._options())
        pos = 0
        while len(out) < limit and pos <= len(t):
            m = pat.search(t, pos)
            if m is None:
                break
            s, e = m.span()
            if words:  # the one group (of up to four) that took part
                s, e = next(sp for g in range(1, len(m.groups()) + 1)
                            if (sp := m.span(g))[0] >= 0)
            if self._compiled[4]:  # not the characters a \b took up around a word
                for name, g in pat.groupindex.items():
                    a, b = m.span(g) if name.startswith(TAKEN) else (-1, -1)
                    if a >= 0 and a == s:
                        s = b
                    elif a >= 0 and b == e:
                        e = a
            if e > s:
                out.append((s, e))
            pos = e if e > pos else pos + 1  # a trailing boundary starts the next word
        return out

    def match(self, texts: Sequence[str] | TextBatch,
              records: Sequence[Any] | None = None,
              deadline: float | None = None, failed: np.ndarray | None = None) -> np.ndarray:
        """(n,) bool: which of ``texts`` (or ``records``, for a field rule) it matches.

        One scan over the texts joined by NUL (:class:`TextBatch`; pass one to
        match many rules against the same texts), then a check of each row that
        scan hit (so a match can never span two items). With ``deadline`` (a
        :func:`time.perf_counter` value), :class:`RuleTooSlow` once it has passed,
        checked between searches, each of :data:`WINDOW` texts at most. Each of
        its :attr:`conditions` is matched so in turn, over the rows every condition
        before it matched (:meth:`TextBatch.take`: no text is read again), so each
        one reads fewer (a keyword rule with 5 conditions at 100,000 items: 850 ms
        when each read every item, a fraction of that so). ``failed``, an (n,) int
        array, is filled with the test (:meth:`tests`: 0 its own condition, k its
        k-th condition) each item failed, -1 where it matches (:func:`uncomparable`
        reads no test before that one again)."""
        try:
            out = self._own_match(texts, records, deadline)
        except RuleTooSlow as exc:
            raise RuleTooSlow(exc.done, exc.n, 0) from None
        n = len(out)
        if failed is not None:
            failed[:] = np.where(out, -1, 0)
        for k, c in enumerate(self.conditions, 1):
            rows = np.flatnonzero(out).tolist()
            if not rows:
                break
            some = len(rows) < n
            sub_texts = (texts.take(rows) if isinstance(texts, TextBatch) else
                         [texts[i] for i in rows]) if some else texts
            sub_records = ([records[i] for i in rows] if some and records is not None
                           else records)
            try:
                hit = c.test._own_match(sub_texts, sub_records, deadline)
            except RuleTooSlow as exc:  # said of all the items, not of the rows left
                raise RuleTooSlow(rows[min(max(exc.done, 0), len(rows) - 1)], n, k) from None
            held = hit != c.negate
            if failed is not None:
                failed[np.asarray(rows)[~held]] = k
            out[rows] = held
        return out

    def _own_match(self, texts: Sequence[str] | TextBatch,
                   records: Sequence[Any] | None = None,
                   deadline: float | None = None) -> np.ndarray:
        """:meth:`match` of its own condition alone."""
        if self.kind == "field":
            n = len(texts) if records is None else len(records)
            out = np.zeros(n, dtype=bool)
            recs = records if records is not None else [{}] * n
            # each distinct value compared once: a field's values repeat (authors,
            # dates, categories), and comparing parses both sides (a date rule on
            # 100,000 YouTube comments: 0.55 s, its preview over the 300 ms aim)
            hits = _per_value(lambda v: _compare(v, self.op, self.value))
            for i, r in enumerate(recs):
                out[i] = hits(field_value(r, self.field))
            return out
        if self.reads != TEXT:  # the part of each item it reads, as a batch of its own
            if records is None:
                raise ValueError(f"rule {self.name!r} reads {self.reads!r}: pass the items' "
                                 "fields as records (match(texts, records))")
            batch, present = self._read_batch(texts, records)
            return self._scan(batch, deadline) & present
        return self._scan(texts if isinstance(texts, TextBatch) else TextBatch(texts),
                          deadline)

    def _read_batch(self, texts: Sequence[str] | TextBatch,
                    records: Sequence[Any]) -> tuple[TextBatch, np.ndarray]:
        """What it reads of each item (:meth:`_read`) as a :class:`TextBatch`, and
        which items have it. Kept with ``texts`` (a :class:`TextBatch`) for the next
        rule reading the same of the same ``records`` (the same object: an apply
        run's, a preview's): finding each pair of entities again took 0.6 s for
        100,000 items, the scan of what it found 0.03 s."""
        kept = texts.read_parts.get(self.reads) if isinstance(texts, TextBatch) else None
        if kept is not None and kept[0] is records and len(records) == len(texts):
            return kept[1], kept[2]
        present = np.zeros(len(records), dtype=bool)
        parts: list[str] = []
        for i, rec in enumerate(records):
            read: str | None
            if self.reads == BETWEEN:
                t = texts.texts[i].decode() if isinstance(texts, TextBatch) else shown(texts[i])
                at = between(t, rec)
                read = None if at is None else t[at[0]:at[1]]
            else:  # (a field's value alone: where it is in the text is not needed here)
                read = _field_text(rec, self.reads)
            present[i] = read is not None
            parts.append(read or "")
        out = TextBatch(parts, as_read=True)
        if isinstance(texts, TextBatch):
            texts.read_parts[self.reads] = (records, out, present)
        return out, present

    def _scan(self, batch: TextBatch, deadline: float | None) -> np.ndarray:
        """Which of ``batch`` its pattern matches (:meth:`match`'s scan)."""
        out = np.zeros(batch.n, dtype=bool)
        pat = self.compiled(as_bytes=True)
        words = self._compiled[2]  # whole words: a match takes up its boundaries
        late = _late(deadline, batch.n)
        if self.kind == "regex" and (_ANCHORS.search(self.pattern) or self._compiled[4]):
            # ^ and $ mean the ends of each text (a \b reads them): one by one
            for i, t in enumerate(batch.texts):
                late(i)
                out[i] = pat.search(t) is not None
            return out
        # Search from the start of a text; a match inside that text marks it and
        # the search goes on at the next text (one search per matching text). A
        # match across a separator is checked against its first text alone.
        starts, joined, n = batch.starts, batch.joined, batch.n
        search = _span_search(pat)
        pos, end = 0, len(joined)
        crossed = 0
        while pos <= end:
            late(bisect.bisect_right(starts, pos) - 1)  # (between searches: one is never cut)
            # a regex: within WINDOW texts at a time, so a match that runs on over the
            # separators reads to the window's end, not to the end of all the texts
            # (rule author's trial: "(.+\s?){1,300}x" took 9.6 s on sms's 4,571 texts
            # that way, its texts one by one 0.4 s); whole words never run on
            first = bisect.bisect_right(starts, pos) - 1
            last = min(n, first + WINDOW, bisect.bisect_right(starts, pos + WINDOW_BYTES))
            stop = end if words else min(end, starts[max(first + 1, last)])
            span = search(joined, pos, stop)
            if span is None:
                if stop >= end:
                    break
                pos = stop
                continue
            i = bisect.bisect_right(starts, span[0]) - 1
            if words and joined[span[0]] == 0:
                i += 1  # the separator was the boundary before a word of the next text
            # a whole-word match may take up the separator after its text as its end
            inside = span[1] <= starts[i + 1] if words else span[1] < starts[i + 1]
            out[i] = inside or pat.search(batch.texts[i]) is not None
            # whole words: the next text's separator is the boundary before its start
            pos = starts[i + 1] - 1 if words else starts[i + 1]
            crossed += not inside
            if crossed > MAX_CROSSINGS and not words:
                # A pattern whose matches run on over the separators (".*", "a.*b")
                # reads on to the end of all the texts at every search, once per
                # matching text: quadratic (operator's trial: a rule preview of
                # "(.*)(.*)(.*)(.*)(.*)x" took 118 s on 4,571 texts and held a web
                # worker). The texts left are searched one by one, in linear time
                # (each within its own bytes of the joined texts: no Match object).
                for j in range(i + 1, n):
                    late(j)
                    out[j] = search(joined, starts[j], starts[j + 1] - 1) is not None
                break
        return out

    def as_lf(self) -> LabelingFunction:
        """The rule as a labeling function (``fingerprint`` is the rule's)."""
        rule = self

        def vote(x: Any) -> int:
            text = x.get("text") if hasattr(x, "get") else None
            return rule.label if rule.matches(text, x) else ABSTAIN

        def batch(records: Sequence[Any], shared: dict[Any, Any]) -> np.ndarray:
            if not rule.reads_text:
                hit = rule.match(records, records)
            else:  # the texts joined once for every rule of the call
                if "rules.texts" not in shared:
                    shared["rules.texts"] = TextBatch(
                        [(x.get("text") if hasattr(x, "get") else None) or "" for x in records])
                hit = rule.match(shared["rules.texts"],
                                 records if rule.fields or rule.reads_pair else None)
            return np.where(hit, rule.label, ABSTAIN)

        lf = LabelingFunction(self.name, vote, batch=batch)
        lf.fingerprint = self.fingerprint  # type: ignore[method-assign]
        return lf


@dataclass(frozen=True)
class Condition:
    """One more condition of a rule (:attr:`Rule.conditions`): ``test`` must match
    too, or with ``negate`` must not. ``test`` is a rule of its own condition only
    (named :data:`CONDITION_NAME`, label 0: neither is used), so a condition is
    matched, highlighted and fingerprinted as a rule is.

    >>> c = Condition.from_dict({"kind": "regex", "pattern": "of charge", "not": True})
    >>> c.negate, c.test.pattern, Condition.from_dict(c.to_dict()) == c
    (True, 'of charge', True)
    """

    test: Rule
    negate: bool = False

    @classmethod
    def from_dict(cls, d: Any, where: str = "condition") -> Condition:
        """A condition from its JSON form: the fields of a rule's own condition and
        ``not``; ``ValueError`` starting with ``where`` ("condition 2") and naming
        what is wrong, as for a rule (:func:`_test_fields`)."""
        if not isinstance(d, dict):
            raise ValueError(f"{where}: must be an object such as {{\"kind\": \"keywords\", "
                             f"\"keywords\": [\"free of charge\"], \"not\": true}}")
        unknown = sorted(set(map(str, d)) - set(CONDITION_FIELDS))
        if unknown:
            raise ValueError(f"{where}: unknown key{'s' if len(unknown) > 1 else ''} "
                             f"{', '.join(map(repr, unknown))}; a condition has "
                             f"{', '.join(CONDITION_FIELDS)}")
        negate = d.get("not", False)
        if not isinstance(negate, bool):
            raise ValueError(f"{where}: not must be true or false, got "
                             f"{json.dumps(negate, default=repr)}")
        try:
            test = Rule(CONDITION_NAME, 0, **_test_fields(
                {k: v for k, v in d.items() if k != "not"}, "condition"))
            test.compiled()  # a bad pattern fails here
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
        return cls(test, negate)

    def to_dict(self) -> dict[str, Any]:
        """Its JSON form: its kind, that kind's fields, the flags, and ``not``."""
        t = self.test
        d = {k: v for k, v in t.to_dict().items()
             if k in ("kind", "whole_word", "case_sensitive", "reads", *KIND_FIELDS[t.kind])}
        if t.kind == "field":
            d["op"] = t.op
        return {**d, "not": self.negate}


def _conditions(given: Any, rule: str) -> tuple[Condition, ...]:
    """A rule's conditions as given (a list of :class:`Condition` or of their JSON
    form, or None), checked: at most :data:`MAX_CONDITIONS`, each one's error named
    by its place ("condition 2: ..."), no condition of a condition."""
    if given is None:
        return ()
    if not isinstance(given, list | tuple):
        raise ValueError("conditions must be a list of conditions, each "
                         '{"kind": ..., its fields, "not": true or false}')
    if len(given) > MAX_CONDITIONS:
        raise ValueError(f"conditions: a rule takes at most {MAX_CONDITIONS} beside its "
                         f"own, got {len(given)}; write an LF module for more")
    out = []
    for i, c in enumerate(given, 1):
        if not isinstance(c, Condition):
            c = Condition.from_dict(c, f"condition {i}")
        elif (not isinstance(c.test, Rule) or not isinstance(c.negate, bool)
              or c.test.conditions):
            raise ValueError(f"rule {rule!r}: condition {i} must test a rule without "
                             "conditions of its own, and negate must be true or false")
        out.append(c)
    return tuple(out)


#: Words are of any script (``IN_WORD``: RE2's \b knows ASCII letters only, "café"
#: ended a word at "é").
#: Before a whole word: a text's start or a character outside words.
_LEAD = rf"(?:^|[^{IN_WORD}])"
#: After one: a text's end, or a character outside words, but not the apostrophe of
#: "n't" ("won" is no word of "won't", nor "don" of "don't": new-user trial); a
#: possessive or an elision stays a boundary ("apple's", "l'amour").
_TRAIL = rf"(?:$|[^{IN_WORD}']|'(?:$|[^tT]|[tT][{IN_WORD}]))"


class RuleTooSlow(ValueError):
    """:meth:`Rule.match` passed its deadline: ``done`` of ``n`` texts were read;
    ``condition``: which one was being matched (0 the rule's own, 1 its first of
    :attr:`Rule.conditions`, ...; None: not known), so that the author is told which
    pattern to change."""

    def __init__(self, done: int, n: int, condition: int | None = None) -> None:
        at = f" (condition {condition})" if condition else ""
        super().__init__(f"the rule{at} ran out of time after {done:,} of {n:,} texts")
        self.done, self.n, self.condition = done, n, condition


def _late(deadline: float | None, n: int) -> Any:
    """``late(i)``: raise :class:`RuleTooSlow` at text ``i`` once ``deadline`` passed."""
    def late(i: int) -> None:
        if deadline is not None and time.perf_counter() > deadline:
            raise RuleTooSlow(max(i, 0), n)
    return late


def _test_fields(d: dict[str, Any], what: str = "rule") -> dict[str, Any]:
    """The fields of a rule's own condition (or of one of its :class:`Condition` s)
    in its JSON form ``d``: the kind, the flags and the kind's own fields, checked
    (``ValueError`` naming what is wrong; ``what``: what the messages call it, "rule"
    or "condition"). Rules and their conditions are checked by this one reading."""
    kind = d.get("kind")
    if kind not in KINDS:
        raise ValueError(f"{'rule kind' if what == 'rule' else 'kind'} must be one of "
                         f"{list(KINDS)}, got {kind!r}")
    flags = {"whole_word": d.get("whole_word", True),
             "case_sensitive": d.get("case_sensitive", False),
             "ignore_accents": d.get("ignore_accents", False)}
    for flag, v in flags.items():
        if not isinstance(v, bool):  # "false" would be truthy
            raise ValueError(f"{flag} must be true or false, got {json.dumps(v, default=repr)}")
    if flags["ignore_accents"] and kind != "keywords":
        raise ValueError(f"ignore_accents is for keyword {what}s; a {kind} {what} "
                         + ("lists the letters it takes ([eéè])" if kind == "regex"
                            else "compares the field's value as it is"))
    kw: dict[str, Any] = {"kind": kind, **flags}
    reads = d.get("reads", TEXT)
    if not isinstance(reads, str) or not reads.strip() or len(reads) > MAX_READS:
        raise ValueError(f"reads must be {TEXT!r} (the item's text, as when it is left out), "
                         f"{BETWEEN!r} (the words between a relation item's two entities) or "
                         f"the name of an uploaded field, got {json.dumps(reads, default=repr)}")
    if kind == "field" and reads.strip() != TEXT:
        raise ValueError(f"a field {what} compares the value of its field; reads is for "
                         f"keyword and regex {what}s: leave it out, or set kind to keywords "
                         f"to look for words in {reads!r}")
    if kind != "field":
        kw["reads"] = reads.strip()
    # the other kinds' fields (an op has a default; ignore_accents is checked above)
    other = [f for k, fs in KIND_FIELDS.items() if k != kind for f in fs
             if f not in ("op", "ignore_accents")]
    stray = [f for f in other if not _absent(f, d.get(f))]
    if stray:  # a pattern sent with a keywords rule was dropped without a word
        raise ValueError(f"a {kind} {what} takes no {', '.join(stray)}; set kind to the "
                         f"{what}'s kind or leave those out")
    if kind == "keywords":
        words = d.get("keywords")
        if isinstance(words, str):
            words = [w for w in words.split(",")]
        if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
            raise ValueError("keywords must be a list of words or phrases")
        odd = next((c for c in map(hidden_char, words) if c), None)
        if odd:  # a NUL or an escape sequence is no word anyone sees or types
            raise ValueError(f"keywords hold the control or invisible character {odd}; "
                             "write them without")
        words = [" ".join(w.split()) for w in words if w.strip()]
        if not words or sum(map(len, words)) > MAX_PATTERN:
            raise ValueError(f"keywords: give 1 or more words or phrases (at most "
                             f"{MAX_PATTERN} characters in all)")
        kw["keywords"] = tuple(dict.fromkeys(words))
    elif kind == "regex":
        pattern = d.get("pattern")
        if not isinstance(pattern, str) or not pattern or len(pattern) > MAX_PATTERN:
            raise ValueError(f"pattern must be a regular expression of 1 to {MAX_PATTERN} "
                             "characters")
        kw["pattern"] = pattern
    else:
        fld, op = d.get("field"), d.get("op", "==")
        if not isinstance(fld, str) or not fld:
            raise ValueError("field must name an uploaded field")
        if op not in OPS:
            raise ValueError(f"op must be one of {list(OPS)}, got {op!r}")
        value = d.get("value")
        if op == "in":
            value = tuple(_value_list(value))  # a tuple: a rule is hashable
        elif not isinstance(value, str | int | float) or isinstance(value, bool):
            raise ValueError("value must be a string or a number")
        if op not in ("==", "!=", "in") and _ordered(value) is None:
            raise ValueError(f"{op} needs a number or a date (ISO 8601: 2015-01-31, "
                             f"2015-01-31T12:00), got {value!r}")
        kw.update(field=fld, op=op, value=value)
    return kw


def _whole_words(keywords: Sequence[str],
                 source: Any = re2.escape) -> tuple[str, str]:
    """The patterns of keywords as whole words: for matching, and with the keyword
    as a group (one of four) for highlighting. A match takes up the boundaries
    around it (see :meth:`Rule.match` for the scan over joined texts). A keyword
    that starts or ends with a symbol ("<script>", "£", "c++") is its own boundary
    there (new-user trial: "£" matched no price, "£5" has a digit after it).
    ``source(keyword)``: the pattern of one keyword."""
    groups: dict[tuple[bool, bool], list[str]] = {}
    for w in filter(None, keywords):
        groups.setdefault((in_word(w[0]), in_word(w[-1])), []).append(source(w))
    plain, captured = [], []
    for (lead, trail), ws in sorted(groups.items(), reverse=True):
        a, b = (_LEAD if lead else ""), (_TRAIL if trail else "")
        alt = "|".join(ws)
        plain.append(f"{a}(?:{alt}){b}")
        captured.append(f"{a}({alt}){b}")
    return "|".join(plain), "|".join(captured)


def _accent_free_source(keyword: str) -> str:
    """The RE2 pattern of ``keyword`` with its accents ignored: each letter is any
    letter with the same base (``e``: ``e``, ``é``, ``è``, ``ẹ`` ...), followed by any
    combining marks (``ẹ́`` is ``ẹ`` and a separate acute even composed). Yoruba
    writes tones and under-dots that headlines and users often leave out
    (new-user trial: ``Naijiria`` on 18 items, ``Nàìjíríà`` on 84)."""
    out = []
    for ch in _strip_accents(keyword):
        same = _accent_variants().get(ch)
        out.append(f"[{''.join(same)}]\\pM*" if same else re2.escape(ch))
    return "".join(out)


def _strip_accents(text: str) -> str:
    """``text`` without combining marks, after splitting each letter from its marks."""
    return "".join(c for c in unicodedata.normalize("NFD", text)
                   if not unicodedata.combining(c))


@functools.cache
def _accent_variants() -> dict[str, tuple[str, ...]]:
    """Each letter that carries accents in some composed character, with them all
    (itself first): ``{"e": ("e", "è", "é", ...), ...}``. Only letters: ``≠`` is
    ``=`` and a mark, but no keyword's ``=`` means it."""
    variants: dict[str, list[str]] = {}
    for code in range(0xC0, 0x3000):
        ch = chr(code)
        base = _strip_accents(ch)
        if len(base) == 1 and base != ch and unicodedata.category(base).startswith("L"):
            variants.setdefault(base, [base]).append(ch)
    return {b: tuple(v) for b, v in variants.items()}


def _span_search(pat: Any) -> Any:
    """``search(data, pos, end) -> (start, end) | None`` over bytes: RE2's own
    match call when this google-re2 exposes it (no Match object per hit, several
    times faster), else the public ``search``."""
    low = getattr(pat, "_regexp", None)
    anchor = getattr(getattr(re2, "_Anchor", None), "UNANCHORED", None)
    if low is not None and anchor is not None and hasattr(low, "Match"):
        def fast(data: bytes, pos: int, end: int) -> tuple[int, int] | None:
            span = low.Match(anchor, data, pos, end)[0]
            return None if span[0] < 0 else (span[0], span[1])

        return fast

    def slow(data: bytes, pos: int, end: int) -> tuple[int, int] | None:
        m = pat.search(data, pos, end)
        return None if m is None else (m.start(), m.end())

    return slow


def field_value(record: Any, field: str) -> Any:
    """The value of ``field`` in ``record``, or None: a field stored under its dotted
    name (the service flattens an upload's nested objects: ``data.entity1``) or, in
    a record still nested (WRENCH's rows as ``json.load`` reads them, in the library),
    ``record["data"]["entity1"]``, as :class:`~loop.core.lf.Record` reads LFs' fields
    (a data scientist's trial: a field rule on ``data.entity1`` matched no nested row).

    >>> field_value({"data": {"entity1": "canons"}}, "data.entity1")
    'canons'
    >>> field_value({"data.entity1": "canons"}, "data.entity1"), field_value({}, "x")
    ('canons', None)
    """
    if not isinstance(record, Mapping):
        return None
    if field in record:
        return record[field]
    dot = field.find(".")
    while dot > 0:  # "a.b.c": {"a": {"b.c": ..}}, {"a": {"b": {"c": ..}}}, {"a.b": {"c": ..}}
        inner = record.get(field[:dot])
        if isinstance(inner, Mapping):
            found = field_value(inner, field[dot + 1:])
            if found is not None:
                return found
        dot = field.find(".", dot + 1)
    return None


def _field_text(record: Any, field: str) -> str | None:
    """The value of ``field`` in ``record`` as a keyword or regex rule reads it
    (:func:`shown`; a number as written), or None: no such field, or a list or an
    object, which has no one text.

    >>> _field_text({"data": {"entity2": "D2 receptor"}}, "data.entity2")
    'D2 receptor'
    >>> _field_text({"n": 0}, "n"), _field_text({"n": [1]}, "n"), _field_text({}, "n")
    ('0', None, None)
    """
    v = field_value(record, field)
    if v is None or isinstance(v, Mapping | list | tuple):
        return None
    return shown(str(v))


def _absent(key: str, value: Any) -> bool:
    """Whether a rule field's value means "not given": None, or empty of a type the
    field takes (a pattern of ``[]`` was read as none: security trial)."""
    empty: tuple[Any, ...] = ("", []) if key in ("keywords", "value") else ("",)
    return value is None or any(value == e and type(value) is type(e) for e in empty)


def good_name(name: str) -> bool:
    """Whether ``name`` (stripped of surrounding spaces) can name an LF: a column of
    ``L`` and a URL path segment. 1 to 100 characters with no spaces, ``/``, ``\\``,
    control or invisible characters (``\\u200b``), and not dots alone.

    >>> good_name("says_free"), good_name("a/b"), good_name(".."), good_name("x\u200b")
    (True, False, False, False)
    """
    n = name.strip()
    return bool(n) and len(n) <= 100 and not _BAD_NAME.search(n) and bool(
        n.strip(".").strip()) and hidden_char(name, ("Cf",)) is None


def good_lf_name(name: str) -> bool:
    """Whether an LF of a module or of uploaded votes may be called ``name``: as
    :func:`good_name`, but with spaces (an LF can be switched off by its name in a
    URL path segment; one with a ``/`` could not be)."""
    return good_name(name.replace(" ", "_"))


def safe_name(text: str) -> str:
    """``text`` made into a valid rule name (runs of other characters become ``_``)."""
    return "_".join(x for x in _BAD_NAME.split(text) if x)[:100] or "rule"


def shown(text: Any) -> str:
    """What a keyword or regex rule matches: ``text`` as the labeling page shows it,
    with no separator character of a joined scan in it (:meth:`Rule.spans` are
    offsets into it)."""
    return readable(str(text or "")).replace(_SEP, " ")


class TextBatch:
    """Texts prepared for :meth:`Rule.match`: as people read them
    (:func:`~loop.core.text.readable`), UTF-8, joined once by NUL, with the byte
    offset where each starts (and one past the end)."""

    def __init__(self, texts: Sequence[str], as_read: bool = False) -> None:
        # (as_read: texts read already, by shown(); read twice, "&amp;lt;" would be "<")
        self.texts = [(t if as_read else shown(t)).encode() for t in texts]
        self.n = len(self.texts)
        self.starts = [0, *itertools.accumulate(len(t) + 1 for t in self.texts)]
        self.joined = _SEP.encode().join(self.texts)
        #: what rules reading something else than the text read of these texts' items,
        #: by :attr:`Rule.reads`: ``(records, batch, present)`` (:meth:`Rule._read_batch`)
        self.read_parts: dict[str, tuple[Any, TextBatch, np.ndarray]] = {}

    def __len__(self) -> int:
        return self.n

    def take(self, rows: Sequence[int] | np.ndarray) -> TextBatch:
        """The batch of the texts at ``rows`` (as read already: nothing is read again).

        >>> b = TextBatch(["a", "b&amp;c", "d"]).take([1, 2])
        >>> b.texts, b.starts, b.joined
        ([b'b&c', b'd'], [0, 4, 6], b'b&c\\x00d')
        """
        out = TextBatch([])  # (what rules read of them is not kept: other records)
        out.texts = [self.texts[i] for i in rows]
        out.n = len(out.texts)
        out.starts = [0, *itertools.accumulate(len(t) + 1 for t in out.texts)]
        out.joined = _SEP.encode().join(out.texts)
        return out


def _number(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?"
                       r"(Z|[+-]\d{2}:?\d{2})?")


def _ordered(v: Any) -> tuple[int, float] | None:
    """``v`` as something ``<`` and ``>`` can compare: ``(0, number)``, ``(1, epoch
    seconds)`` for an ISO 8601 date or date-time (no zone: UTC), else None.

    >>> _ordered("2015-01-31") < _ordered("2015-02-01T08:00"), _ordered("soon")
    (True, None)
    """
    n = _number(v)
    if n is not None:
        return (0, n)
    if isinstance(v, date):  # a date or date-time object (a pandas Timestamp is one),
        # as a DataFrame's date column gives them: they never compared, so a rule
        # on such a field never fired
        d = v if isinstance(v, datetime) else datetime(v.year, v.month, v.day)
        try:
            return (1, (d if d.tzinfo else d.replace(tzinfo=UTC)).timestamp())
        except ValueError:  # pandas' NaT, a missing date
            return None
    if isinstance(v, str) and _ISO_DATE.fullmatch(v.strip()):
        try:
            d = datetime.fromisoformat(v.strip())
        except ValueError:
            return None
        return (1, (d if d.tzinfo else d.replace(tzinfo=UTC)).timestamp())
    return None


def _options(case_sensitive: bool) -> Any:
    opts = re2.Options()
    opts.case_sensitive = case_sensitive
    opts.max_mem = 64 << 20
    opts.log_errors = False
    return opts


#: Compiled patterns kept in this process (:func:`keep_compiled`), by what they
#: are compiled from.
_KEPT: dict[tuple[Any, ...], tuple[Any, ...]] = {}


def keep_compiled(rules: Sequence[Rule]) -> int:
    """Keep the compiled patterns of ``rules`` in this process, and only theirs, for
    the rules built later from the same fields (:meth:`Rule.compiled`): a worker
    compiles an apply run's rules before it forks the units' work horses, which
    then find them compiled (speed trial: each unit compiled every rule again, 0.1 s
    of 0.33 s for 25 rules over 10,000 items). Not a cache of every pattern seen: a
    web process previews one pattern per keystroke. Returns how many are kept."""
    kept = {}
    for rule in rules:
        for test, _ in rule.tests():  # (and its conditions')
            if test.kind != "field":
                test.compiled()  # (one kept already, or compiled now: once either way)
                kept[test._compile_key()] = test._compiled
    _KEPT.clear()
    _KEPT.update(kept)
    return len(kept)


def _compile(kind: str, keywords: tuple[str, ...], pattern: str, whole_word: bool,
             ignore_accents: bool, case_sensitive: bool) -> tuple[Any, ...]:
    """A keyword or regex rule's RE2 patterns (for ``str`` and for UTF-8 ``bytes``)
    and how to read their matches."""
    opts = _options(case_sensitive)
    words, per_text = False, False
    keyword_src = None  # whole words: the keyword alone as group 1 (spans()
    # compiles it when asked: not on the matching path)
    if kind == "keywords":
        kws = [plain_quotes(nfc(w)) for w in keywords]
        source = _accent_free_source if ignore_accents else re2.escape
        alt = "|".join(source(w) for w in kws)
        src = f"(?:{alt})"
        if whole_word:
            words = True
            src, keyword_src = _whole_words(kws, source)
    else:
        # the texts have plain quotes only, in composed form (NFC)
        src, _, per_text = unicode_words(plain_quotes(nfc(pattern)))
    try:
        return (re2.compile(src, opts), re2.compile(src.encode(), opts), words,
                keyword_src, per_text)
    except re2.error as exc:
        why = exc.args[0] if exc.args else exc
        why = why.decode(errors="replace") if isinstance(why, bytes) else str(why)
        raise ValueError(f"pattern does not compile: {why} (RE2 syntax: no "
                         "look-around or backreferences)") from None


def _value_list(value: Any) -> list[Any]:
    """The values of an ``in`` rule: a list of strings and numbers, or one string of
    them separated by commas (as the editor sends it), trimmed, without repeats."""
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list) or not all(
            isinstance(v, str | int | float) and not isinstance(v, bool) for v in value):
        raise ValueError("an 'in' rule's value is a list of strings and numbers, or one "
                         "string of them separated by commas")
    out = list(dict.fromkeys(v.strip() if isinstance(v, str) else v for v in value))
    out = [v for v in out if v != ""]
    if not out or len(out) > MAX_VALUES:
        raise ValueError(f"an 'in' rule lists 1 to {MAX_VALUES} values")
    return out


def uncomparable(rule: Rule, records: Sequence[Any], n_examples: int = 3,
                 hit: Sequence[bool] | np.ndarray | None = None,
                 texts: Sequence[str] | TextBatch | None = None,
                 deadline: float | None = None,
                 failed: Sequence[int] | np.ndarray | None = None) -> tuple[int, list[str]]:
    """How many of ``records`` hold a value of the field of a ``<``, ``<=``, ``>`` or
    ``>=`` condition (the rule's own or one of its :attr:`~Rule.conditions`) that is
    no number or date it can compare (such a comparison never holds: ``1,234``,
    ``12k``, ``05/20/2015``, or a date against a number), and the first
    ``n_examples`` distinct such values; ``(0, [])`` for rules without one. With
    ``hit`` (which records the rule matches), only the records where that decided
    the vote: of an "and not" condition, those it matches; else those it does not
    match only because of such values, every other condition holding on them (read
    in ``texts``, one a record, else in each record's ``text``; ``deadline`` as for
    :meth:`Rule.match`; with the ``failed`` that match filled, only the tests after
    the one each item failed are read): "free" and "views > 1000" counted every
    item without "free" whose views read "1,234", though it never fired on them.

    >>> r = Rule("many_views", 1, "field", field="views", op=">", value=1000)
    >>> uncomparable(r, [{"views": "1,234"}, {"views": "999"}, {"views": ""}, {}])
    (1, ['1,234'])
    """
    tests = rule.tests()
    checks = []
    for j, (t, _) in enumerate(tests):
        if t.kind == "field" and t.op in ORDERED_OPS:
            target = _ordered(t.value)

            def unreadable(v: Any, target: Any = target) -> bool:
                x = _ordered(v)
                return x is None or target is None or x[0] != target[0]

            # each distinct value read once, as match() does: parsing every unmatched
            # one again took 0.25-0.5 s at 100,000 items, the match itself 0.05-0.13 s
            checks.append((j, _per_value(unreadable)))
    if not checks:
        return 0, []
    bad = np.zeros((len(tests), len(records)), dtype=bool)  # test j cannot compare item i
    for j, bad_value in checks:
        t, neg = tests[j]
        for i, rec in enumerate(records):
            if hit is not None and bool(hit[i]) != neg:
                continue
            v = field_value(rec, t.field)
            if v is not None and not (isinstance(v, str) and not v.strip()) and bad_value(v):
                bad[j, i] = True
    if hit is not None and len(tests) > 1:
        # an item it does not match: only if every other condition holds on it (an
        # uncomparable value of another "and" comparison counts as holding here)
        rows = np.flatnonzero(bad[[j for j, _ in checks if not tests[j][1]]].any(axis=0))
        if failed is not None:  # the tests before the one it failed held; that one
            first = np.asarray(failed)[rows]  # must be a comparison it cannot read
            ok = bad[first, rows]
        else:
            first, ok = np.full(len(rows), -1), np.ones(len(rows), dtype=bool)
        for j, (t, neg) in enumerate(tests):
            ask = ok & (first < j)
            left = rows[ask]
            if not len(left):
                continue
            sub_records = [records[i] for i in left]
            sub_texts = (sub_records if t.kind == "field" else texts.take(left)
                         if isinstance(texts, TextBatch)
                         else [texts[i] for i in left] if texts is not None
                         else [(r.get("text") if hasattr(r, "get") else None) or ""
                               for r in sub_records])
            try:
                held = t._own_match(sub_texts, sub_records, deadline) != neg
            except RuleTooSlow as exc:  # said of all the items, as match() does
                raise RuleTooSlow(int(left[min(max(exc.done, 0), len(left) - 1)]),
                                  len(records), j) from None
            ok[ask] = held | bad[j, left]
        bad[:, rows[~ok]] = False
    examples = list[str]()
    for i in np.flatnonzero(bad.any(axis=0)).tolist():
        if len(examples) >= n_examples:
            break
        v = str(field_value(records[i], tests[int(bad[:, i].argmax())][0].field))
        if v not in examples:
            examples.append(v)
    return int(bad.any(axis=0).sum()), examples


def _per_value(fn: Callable[[Any], bool]) -> Callable[[Any], bool]:
    """``fn``, computed once per distinct value: a field's values repeat over the
    items. Values are told apart by type too (1, 1.0 and True are equal keys, not
    equal values); a value that cannot be a key (a list, a dict) is computed each time.

    >>> calls = []
    >>> f = _per_value(lambda v: calls.append(v) or type(v) is int)
    >>> [f(v) for v in (1, 1, True, [1], [1])], len(calls)
    ([True, True, False, False, False], 4)
    """
    seen: dict[tuple[type, Any], bool] = {}

    def once(v: Any) -> bool:
        try:
            return seen[(type(v), v)]
        except KeyError:
            out = seen[(type(v), v)] = fn(v)
            return out
        except TypeError:  # unhashable
            return fn(v)
    return once


def _compare(value: Any, op: str, target: Any) -> bool:
    if value is None or value == "":
        return False
    if op == "in":
        return any(_compare(value, "==", t) for t in target)
    if op in ("==", "!="):
        a, b = _number(value), _number(target)
        same = (a == b) if a is not None and b is not None else str(value) == str(target)
        if isinstance(value, date):  # a date object against the rule's ISO date
            x, y = _ordered(value), _ordered(target)
            if x is None:
                return False
            same = y is not None and x == y
        return same if op == "==" else not same
    x, y = _ordered(value), _ordered(target)
    if x is None or y is None or x[0] != y[0]:  # a number and a date do not compare
        return False
    a, b = x[1], y[1]
    return bool({">": a > b, ">=": a >= b, "<": a < b, "<=": a <= b}[op])
