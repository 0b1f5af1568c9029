"""Rule suggestions mined from gold labels (Snuba / interactive weak supervision,
in a small, explainable form).

Candidates are words and two-word phrases of the gold items' texts (and, where
items have fields, ``field == value`` for fields with few distinct values). Each
candidate and label is scored by

* its smoothed precision on the gold: ``(n_right + 1) / (n_fires + 2)`` (one
  Beta(1, 1) pseudo-vote each way), kept only above ``min_precision``, with at
  least ``min_support`` gold items behind it, and credibly above its class's share
  of the gold (:func:`above_share`: a word as precise as guessing the commonest
  class is no rule);
* how many unlabeled items it covers; how many of those no LF covers yet ("new
  coverage"); and how many no LF votes its label on yet ("fresh": new coverage
  plus the items where the LFs vote another class).

and ranked by ``precision * log(1 + coverage) * (1 + new share)``. (Ranking by
``precision * log(1 + fresh)`` instead, dropping candidates with no fresh item, was
measured with ``bench/rule_suggestions.py`` and not kept: sms +3.4 / +4.1 points F1
at 50 / 100 answers against +7.4 / +8.8, yoruba -1.0 / -2.5 against +0.1 / -0.4.)
A candidate is skipped when its unlabeled items mostly (more than half) already
have a vote for its label, from an LF or from a suggestion ranked above it
(``min_fresh``): the label model counts LFs as independent, so a dozen accepted
words that fire together ("com", "www", "check out" on youtube) were counted as a
dozen pieces of evidence (``bench/rule_suggestions.py``, 3 seeds, gain in end-model
points at 50 / 100 answers, without -> with the filter: youtube -2.8 / -1.2 -> -0.1 /
+0.5, yoruba -1.6 / -1.6 -> 0.0 / +0.2, sms +4.9 / +4.6 -> +2.2 / +4.1, semeval +0.7 /
+0.8 -> 0.0 / 0.0; 0.5 was set once, not tuned). Each suggestion carries its
evidence: the gold items that support it and those that contradict it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import CountVectorizer

from loop.core.rules import Rule, safe_name
from loop.core.text import readable, word_token_pattern

#: English function words, too common to make a rule of on their own (a phrase with
#: another word may use them). Not a general stop list such as scikit-learn's: that one
#: holds "call", "now", "please" and "get", words SMS and comment spam is made of.
STOP = frozenset(
    "a an the and or but if of to in on at by for with from as is are was were be been "
    "it its this that these those i you he she we they me my your our their them his her "
    "not no so do does did have has had will would can could should just very all any "
    # function words a new user saw suggested on SMS ("how", "what", "when", "there",
    # "then", "up" -> ham: as precise as guessing the commonest class, near enough)
    "how what when where why who whom which whose there then than here up down out off "
    "over under again also too only about into onto am im ll ve re s t d m".split())


#: Default share of a candidate's unlabeled items that must lack a vote for its label
#: (see :func:`suggest_rules`).
MIN_FRESH = 0.5
#: Default least precision of a candidate over every item it covers, as the models
#: read the unlabeled ones (see :func:`suggest_rules`). Chosen on sms (3 seeds) and
#: yoruba (2 seeds) from 0.5 / 0.6 / 0.7, in the loop (LoopSampler, 20 / 50 / 100
#: answers, 10 suggestions each time): the suggestions whose true precision on the
#: whole train split is below 0.6, and those at 0.7 or more, summed over the runs:
#: without the check 46 / 20 of 77 -> 0.7: 0 / 36 of 40 (0.5: 23 / 23 of 58, 0.6:
#: 6 / 26 of 43). Held out, hausa and semeval (2 seeds): 22 / 3 of 26 -> 0 / 0 of 0
#: (0.5 would have kept the 3 good ones). Fewer suggestions where the models are
#: weak, rather than a list most of which is wrong.
MIN_MODEL_PRECISION = 0.7


@dataclass
class Suggestion:
    """A candidate rule and the gold behind it."""

    rule: Rule
    precision: float
    n_gold: int
    n_right: int
    coverage: int
    new_coverage: int
    score: float
    fresh: int = 0
    #: Unlabeled items it covers where an LF votes another label (it would conflict).
    against: int = 0
    #: Its precision over every item it covers, the unlabeled ones read by the
    #: models' probabilities (None without them; see :func:`suggest_rules`).
    model_precision: float | None = None
    support: list[int] = field(default_factory=list)
    contradict: list[int] = field(default_factory=list)

    @property
    def key(self) -> str:
        """Identifies the candidate (a rejected one is never proposed again)."""
        return rule_key(self.rule)

    def to_dict(self, labels: Sequence[str] | None = None) -> dict[str, Any]:
        d = {"key": self.key, "rule": self.rule.to_dict(), "precision": self.precision,
             "n_gold": self.n_gold, "n_right": self.n_right, "coverage": self.coverage,
             "new_coverage": self.new_coverage, "fresh": self.fresh, "against": self.against,
             "model_precision": self.model_precision, "score": self.score,
             "support": self.support, "contradict": self.contradict}
        if labels is not None:
            d["label_name"] = labels[self.rule.label]
        return d


def rule_key(r: Rule) -> str:
    """What a rule matches and votes, whatever its name (see :attr:`Suggestion.key`)."""
    what = {"keywords": "|".join(r.keywords), "regex": r.pattern,
            "field": f"{r.field}{r.op}{r.value}"}[r.kind]
    # (one that reads something else than the text, "between": no suggestion's key)
    reads = f"@{r.reads}" if r.kind != "field" and r.reads != "text" else ""
    return f"{r.kind}:{what.lower()}{reads}:{r.label}"


class TermIndex:
    """Binary word / two-word-phrase occurrences of a set of texts (built once)."""

    def __init__(self, texts: Sequence[str], min_df: int = 2) -> None:
        self.vec = CountVectorizer(ngram_range=(1, 2), binary=True, min_df=min_df,
                                   token_pattern=word_token_pattern(), lowercase=True,
                                   dtype=np.int8)
        try:
            self.X = self.vec.fit_transform([readable(str(t or "")) for t in texts]).tocsc()
            self.terms = self.vec.get_feature_names_out()
        except ValueError:  # no term occurs min_df times
            import scipy.sparse as sp

            self.X = sp.csc_matrix((len(texts), 0), dtype=np.int8)
            self.terms = np.array([], dtype=object)


def suggest_rules(
    texts: Sequence[str], y: np.ndarray, L: np.ndarray, n_classes: int, *, k: int = 10,
    index: TermIndex | None = None, records: Sequence[dict[str, Any]] | None = None,
    exclude: set[str] | frozenset[str] = frozenset(), min_precision: float = 0.7,
    min_support: int = 3, n_evidence: int = 5, name_prefix: str = "sug",
    min_fresh: float = MIN_FRESH, proba: np.ndarray | None = None,
    min_model_precision: float = MIN_MODEL_PRECISION, held_out: np.ndarray | None = None,
) -> list[Suggestion]:
    """The ``k`` best rule candidates from the gold labels ``y`` (-1 = unknown).

    ``L`` says which items some LF already covers; ``exclude`` holds the keys
    (:attr:`Suggestion.key`) never to propose again (rejected, already rules).
    ``min_fresh``: a candidate is skipped unless at least this share of its
    unlabeled items has no vote for its label yet, from an LF or a suggestion
    ranked above it (0 keeps every candidate).

    ``proba``: the models' (n, n_classes) class probabilities (NaN rows: none). The
    gold a loop has is mostly the sampler's picks, items where the LFs conflict or
    the models are unsure, so a word's precision on it can be far from its precision
    on the items it covers (new-user trial: "love" -> spam, 7 of 8 answered items
    right, on a set where 28% of its 189 items are spam). With ``proba`` a candidate
    is also scored on every item it covers, its answered items by their gold and the
    others by the models' probability of its label (``model_precision``), and
    dropped below ``min_model_precision``.

    >>> texts = ["free money now", "free money", "hello friend", "free money here",
    ...          "hi there", "win free money", "see you soon", "how are you",
    ...          "free money today", "see you", "free cash"]
    >>> y = np.array([1, 1, 0, 1, 0, 1, 0, 0, -1, -1, -1])
    >>> L = np.full((11, 1), -1)
    >>> best = suggest_rules(texts, y, L, 2, k=1, min_support=2)[0]
    >>> best.rule.keywords, best.rule.label, best.coverage
    (('free',), 1, 2)
    """
    if not 0.0 <= min_fresh <= 1.0:
        raise ValueError(f"min_fresh must be in [0, 1], got {min_fresh}")
    y = np.asarray(y, dtype=np.int64)
    n = len(texts)
    index = index or TermIndex(texts)
    gold = np.flatnonzero(y >= 0)
    if gold.size == 0 or index.X.shape[1] == 0:
        return []
    unl = y < 0
    if held_out is not None:
        if np.shape(held_out) != (n,):
            raise ValueError(f"held_out must have shape ({n},), got {np.shape(held_out)}")
        unl &= ~np.asarray(held_out, dtype=bool)
    votes_for = _votes_for(L, n, n_classes)
    covered = votes_for.any(axis=0)
    X = index.X
    Xg = X[gold]
    fires = np.asarray(Xg.sum(axis=0)).ravel()
    cov = np.asarray(X[np.flatnonzero(unl)].sum(axis=0)).ravel()
    new = np.asarray(X[np.flatnonzero(unl & ~covered)].sum(axis=0)).ravel()
    by_class = np.stack([np.asarray(Xg[y[gold] == c].sum(axis=0)).ravel()
                         for c in range(n_classes)])  # [c, term]
    fresh_rows = (unl[None, :] & ~votes_for).T.astype(np.float64)  # [item, c]
    fresh_by = np.asarray(X.T @ fresh_rows).T  # [c, term]
    others = _votes_against(votes_for)
    against_by = np.asarray(X.T @ (unl[None, :] & others).T.astype(np.float64)).T  # [c, term]
    share = class_shares(y[gold], n_classes)
    read = _model_reading(proba, unl, X, n_classes)
    out: list[Suggestion] = []
    terms: dict[str, int] = {}
    cand = np.flatnonzero(fires >= min_support)
    for t in cand:
        term = str(index.terms[t])
        words = term.split()
        if all(w in STOP for w in words):
            continue
        c = int(np.argmax(by_class[:, t]))
        right = int(by_class[c, t])
        prec = (right + 1) / (int(fires[t]) + 2)
        if prec < min_precision or cov[t] == 0:
            continue
        if not above_share(right, int(fires[t]), share[c]):
            continue
        mprec = None
        if read is not None:
            mass, n_read = read
            mprec = float((right + mass[c, t]) / max(int(fires[t]) + n_read[t], 1))
            if mprec < min_model_precision:
                continue
        rule = Rule(f"{name_prefix}_{'_'.join(words)}_{c}", c, "keywords", keywords=(term,))
        s = Suggestion(rule, float(prec), int(fires[t]), right, int(cov[t]), int(new[t]),
                       float(prec * np.log1p(cov[t]) * (1 + new[t] / max(cov[t], 1))),
                       int(fresh_by[c, t]), int(against_by[c, t]), mprec)
        if s.key not in exclude:
            out.append(s)
            terms[s.key] = int(t)
    if records is not None:
        out += _field_candidates(records, y, unl, votes_for, n_classes, min_precision,
                                 min_support, exclude, name_prefix, proba, min_model_precision)
    out.sort(key=lambda s: -s.score)
    out = _non_redundant(_dedupe(out), index, terms, votes_for, unl, min_fresh, k)
    for s in out:  # evidence: the gold rows behind it
        gl = [int(i) for i in gold]
        hit = s.rule.match([texts[i] for i in gl],
                           None if records is None else [records[i] for i in gl])
        rows = gold[hit]
        s.support = [int(i) for i in rows[y[rows] == s.rule.label][:n_evidence]]
        s.contradict = [int(i) for i in rows[y[rows] != s.rule.label][:n_evidence]]
    return out


def _model_reading(proba: np.ndarray | None, unl: np.ndarray, X: Any, n_classes: int,
                   ) -> tuple[np.ndarray, np.ndarray] | None:
    """Per class and term, the models' probability mass of the class over the
    term's unlabeled items, and how many such items the models read."""
    if proba is None:
        return None
    P = np.asarray(proba, dtype=np.float64)
    if P.shape != (len(unl), n_classes):
        raise ValueError(f"proba must have shape ({len(unl)}, {n_classes}), got {P.shape}")
    ok = unl & np.isfinite(P).all(axis=1)
    Pm = np.where(ok[:, None], P, 0.0)
    mass = np.asarray(X.T @ Pm).T  # [c, term]
    n_read = np.asarray(X.T @ ok.astype(np.float64)).ravel()
    return mass, n_read


def class_shares(y_gold: np.ndarray, n_classes: int) -> np.ndarray:
    """Each class's share of the gold, smoothed by one pseudo-label per class."""
    counts = np.bincount(np.asarray(y_gold, dtype=np.int64), minlength=n_classes)
    return (counts + 1.0) / (counts.sum() + n_classes)


def above_share(right: int, fires: int, share: float, level: float = 0.05) -> bool:
    """Whether a candidate right on ``right`` of the ``fires`` gold items it fires on
    is credibly more precise than the class's ``share`` of the gold: the ``level``
    quantile of its precision's Beta(1 + right, 1 + wrong) posterior is above it.

    A word on 90% ham items where 87% of the gold is ham ("how", "what", "like" on
    SMS; new-user trial) tells the label model nothing guessing the class would not,
    and counted as an independent LF it pulls every item it fires on to the class.

    >>> above_share(27, 30, 0.87), above_share(20, 21, 0.13), above_share(9, 10, 0.5)
    (False, True, True)
    """
    from scipy.stats import beta

    return bool(beta.ppf(level, 1 + right, 1 + fires - right) > share)


def _votes_against(votes_for: np.ndarray) -> np.ndarray:
    """(n_classes, n) bool: some LF votes a class other than c on the item."""
    n_votes = votes_for.sum(axis=0)
    return (n_votes[None, :] - votes_for) > 0


def _votes_for(L: Any, n: int, n_classes: int) -> np.ndarray:
    """(n_classes, n) bool: some LF votes class c on the item."""
    L = np.asarray(L)
    if not L.size:
        return np.zeros((n_classes, n), dtype=bool)
    return np.stack([(L == c).any(axis=1) for c in range(n_classes)])


def _non_redundant(sugs: list[Suggestion], index: TermIndex, terms: dict[str, int],
                   votes_for: np.ndarray, unl: np.ndarray, min_fresh: float, k: int,
                   ) -> list[Suggestion]:
    """The first ``k`` suggestions, best first, skipping one where fewer than a
    share ``min_fresh`` of its unlabeled items lack a vote for its label (from an
    LF or from a suggestion kept above it): such a rule mostly repeats evidence
    the label model already has, and counted as independent it overweighs it."""
    voted = votes_for & unl[None, :]
    kept: list[Suggestion] = []
    for s in sugs:
        if len(kept) >= k:
            break
        c = s.rule.label
        t = terms.get(s.key)
        if t is None:  # a field rule: checked against the LFs only
            if s.fresh < min_fresh * s.coverage:
                continue
            kept.append(s)
            continue
        rows = index.X[:, t].indices
        rows = rows[unl[rows]]
        if rows.size and np.count_nonzero(~voted[c, rows]) < min_fresh * rows.size:
            continue
        voted[c, rows] = True
        kept.append(s)
    return kept


def _dedupe(sugs: list[Suggestion]) -> list[Suggestion]:
    """Drop a phrase when one of its words (same label) is already higher up."""
    kept: list[Suggestion] = []
    seen: set[tuple[str, int]] = set()
    for s in sugs:
        words = s.rule.keywords[0].split() if s.rule.kind == "keywords" else []
        if any((w, s.rule.label) in seen for w in words):
            continue
        kept.append(s)
        if s.rule.kind == "keywords":
            seen.add((s.rule.keywords[0], s.rule.label))
    return kept


def _field_candidates(records: Sequence[dict[str, Any]], y: np.ndarray, unl: np.ndarray,
                      votes_for: np.ndarray, n_classes: int, min_precision: float, min_support: int,
                      exclude: set[str] | frozenset[str], prefix: str,
                      proba: np.ndarray | None = None,
                      min_model_precision: float = 0.0) -> list[Suggestion]:
    out: list[Suggestion] = []
    covered = votes_for.any(axis=0)
    others = _votes_against(votes_for)
    share = class_shares(y[y >= 0], n_classes)
    fields = {f for r in records[:200] for f in r}
    P = None if proba is None else np.asarray(proba, dtype=np.float64)
    readable_rows = None if P is None else unl & np.isfinite(P).all(axis=1)
    for f in sorted(fields):
        vals = [str(r.get(f, "")) for r in records]
        distinct = set(vals)
        if not 2 <= len(distinct) <= 50:
            continue
        arr = np.array(vals)
        for v in distinct:
            if v == "":
                continue
            hit = arr == v
            g = hit & (y >= 0)
            n_f = int(g.sum())
            if n_f < min_support:
                continue
            counts = np.bincount(y[g], minlength=n_classes)
            c = int(np.argmax(counts))
            prec = (int(counts[c]) + 1) / (n_f + 2)
            if not above_share(int(counts[c]), n_f, share[c]):
                continue
            cov, new = int((hit & unl).sum()), int((hit & unl & ~covered).sum())
            fresh = int((hit & unl & ~votes_for[c]).sum())
            against = int((hit & unl & others[c]).sum())
            if prec < min_precision or cov == 0:
                continue
            mprec = None
            if P is not None and readable_rows is not None:
                r = hit & readable_rows
                mprec = float((counts[c] + P[r, c].sum()) / max(n_f + int(r.sum()), 1))
                if mprec < min_model_precision:
                    continue
            rule = Rule(safe_name(f"{prefix}_{f}_{v}_{c}"), c, "field", field=f, op="==",
                        value=v)
            s = Suggestion(rule, float(prec), n_f, int(counts[c]), cov, new,
                           float(prec * np.log1p(cov) * (1 + new / max(cov, 1))), fresh,
                           against, mprec)
            if s.key not in exclude:
                out.append(s)
    return out


@dataclass
class Exclusion:
    """An "and not" keyword that would make a rule more precise on the gold: of the
    answered items the rule matches, ``wrong`` it gets wrong and ``right`` it gets
    right hold ``keyword``; ``precision`` is the rule's on its answered items once
    they are left out (``before``: as it is)."""

    keyword: str
    wrong: int
    right: int
    precision: float
    before: float

    def to_dict(self) -> dict[str, Any]:
        return {"condition": {"kind": "keywords", "keywords": [self.keyword], "not": True},
                "keyword": self.keyword, "wrong": self.wrong, "right": self.right,
                "precision": self.precision, "before": self.before}


def suggest_exclusions(texts: Sequence[str], y: Sequence[int] | np.ndarray, label: int, *,
                       k: int = 3, min_wrong: int = 3, max_right_share: float = 0.25,
                       skip: Sequence[str] = ()) -> list[Exclusion]:
    """Up to ``k`` words or two-word phrases whose "and not" would leave out mostly
    items a rule gets wrong: ``texts`` and ``y`` are the answered items it matches
    and their known labels, ``label`` the class it votes. A candidate holds in at
    least ``min_wrong`` of the wrong ones and in at most half of all, of the items it
    holds in at most a share ``max_right_share`` are right ones; it must keep some
    right item, and ``skip`` (the rule's own keywords, any case) is never proposed
    (``bench/rule_exclusions.py`` measures them beyond the answers). Counted with the
    condition itself (whole words, case and accents as a keyword rule reads them),
    ranked by wrong items left out less right ones, then fewer right ones; of those
    that leave out the same items, only the first is kept.

    Few answers make a weak case: a candidate is evidence to look at (the preview
    lists the items), not a rule to take on trust.

    >>> texts = ["free gift", "free entry win", "free of charge help", "is it free of charge",
    ...          "free of charge, ask me", "free prize", "totally free of charge",
    ...          "free ringtones", "win a free phone", "free cash"]
    >>> best = suggest_exclusions(texts, [1, 1, 0, 0, 0, 1, 0, 1, 1, 1], 1, skip=["free"])[0]
    >>> best.keyword, best.wrong, best.right, best.before, best.precision
    ('of charge', 4, 0, 0.6, 1.0)
    """
    y = np.asarray(y, dtype=np.int64)
    if len(texts) != len(y):
        raise ValueError(f"texts and y differ in length: {len(texts)} and {len(y)}")
    wrong = y != label
    if int(wrong.sum()) < min_wrong or not (~wrong).any():
        return []
    index = TermIndex(texts, min_df=min_wrong)
    if index.X.shape[1] == 0:
        return []
    X = index.X
    w_by = np.asarray(X[np.flatnonzero(wrong)].sum(axis=0)).ravel()
    r_by = np.asarray(X[np.flatnonzero(~wrong)].sum(axis=0)).ravel()
    own = {s.casefold() for s in skip}
    # a word in most of them is the bulk of what the rule matches, no exception to it
    # (Hausa's "da", "and": no English stop word, and it lowered a rule's precision)
    cands = [t for t in np.flatnonzero(w_by >= min_wrong)
             if r_by[t] <= max_right_share * (w_by[t] + r_by[t])
             and w_by[t] + r_by[t] <= 0.5 * len(y)
             and not all(w in STOP for w in str(index.terms[t]).split())
             and str(index.terms[t]).casefold() not in own]
    # at equal counts a phrase before its word ("of charge" is safer on the unanswered
    # items than "charge"), and one without the rule's own words first
    words_of = {t: str(index.terms[t]).casefold().split() for t in cands}
    cands.sort(key=lambda t: (-(w_by[t] - r_by[t]), r_by[t],
                              any(w in own for w in words_of[t]), -len(words_of[t])))
    n_right = int((~wrong).sum())
    before = n_right / len(y)
    out: list[Exclusion] = []
    seen: set[bytes] = set()
    for t in cands[:4 * k]:  # the counts as the condition itself reads the texts
        term = str(index.terms[t])
        hit = Rule("exclusion", 0, "keywords", keywords=(term,)).match(list(texts))
        w, r = int((hit & wrong).sum()), int((hit & ~wrong).sum())
        key = np.packbits(hit).tobytes()  # "of charge" leaves out what "charge" does
        if (w < min_wrong or r > max_right_share * (w + r) or r >= n_right
                or w + r > 0.5 * len(y) or key in seen):
            continue
        seen.add(key)
        left = len(y) - w - r
        out.append(Exclusion(term, w, r, (n_right - r) / left, before))
    out.sort(key=lambda e: (-(e.wrong - e.right), e.right))
    return out[:k]
