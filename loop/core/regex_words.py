r"""Words of any script in RE2 patterns: ``\b``, ``\w`` and ``\W`` as Python reads them.

RE2 (the engine of regex rules: linear time whatever the pattern) knows ASCII letters
only in ``\b`` and ``\w``, so ``\bọmọ\b`` found none of 31 Yoruba headlines Python's
``re`` found (new-user trial), and it has no look-around to say "a word character
before, none after" without taking up a character. :func:`unicode_words` rewrites a
pattern so that it matches where Python's would:

* ``\w`` / ``\W`` become the classes of word characters of any script (letters,
  combining marks, digits, ``_``) and their complement: exact.
* A ``\b`` where nothing before it in the pattern can need the character before it
  (the pattern's start, an alternative's start, a group opened there) takes up that
  character instead: a text's start or a character outside words (before a word) is
  ``(?:^|[^...])``; one at the pattern's end likewise takes up the character after.
  Searched text by text, that is exact; the character taken up is a named group, so
  a highlight leaves it out.
* A ``\b`` between a character written in the pattern inside words and one outside
  (``x\b-``) always holds and is left out: exact.
* A pattern with any other ``\b`` (after ``.*``, before ``\s*``...), or a ``\B``, is
  left to RE2 whole: right next to ASCII letters, not next to others. A trial found
  taking up a character there lost matches (``\bcheck\b.*\bout\b`` missed "Check
  out"), and a mix of both readings in one pattern was worse than either.
  :func:`ascii_words` says so, for the rule editor to tell.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import re2

#: A character inside a word: a letter, a combining mark (Yoruba's tone marks, Hindi's
#: vowel signs), a digit or _, in any script (keyword rules' whole words too).
IN_WORD = r"\pL\pM\pN_"
_WORD_CHAR = re2.compile(rf"[{IN_WORD}]")
#: Named groups of the characters a rewritten ``\b`` takes up start with this.
TAKEN = "_loop_b"


def in_word(ch: str) -> bool:
    """Whether the character ``ch`` is inside words (:data:`IN_WORD`)."""
    return _WORD_CHAR.fullmatch(ch) is not None


@dataclass
class _Tok:
    kind: str  # lit esc class open flags close alt quant anchor dot
    text: str


def _tokens(pattern: str) -> list[_Tok]:
    r"""The pattern's tokens: a literal character, an escape (``\p{Greek}`` whole), a
    class ``[...]``, a group's opening (``(``, ``(?:``, ``(?P<n>``, ``(?i:``), inline
    flags ``(?i)``, ``)``, ``|``, a quantifier (``{2,3}?`` whole), ``^`` / ``$``, ``.``."""
    out: list[_Tok] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\" and i + 1 < n:
            j = i + 2
            if pattern[i + 1] in "pPx" and j < n and pattern[j] == "{":
                j = pattern.find("}", j) + 1 or n
            elif pattern[i + 1] in "pP":
                j = min(n, j + 1)
            out.append(_Tok("esc", pattern[i:j]))
            i = j
        elif c == "[":
            j = i + 1
            if j < n and pattern[j] == "^":
                j += 1
            if j < n and pattern[j] == "]":
                j += 1
            while j < n and pattern[j] != "]":
                j += 2 if pattern[j] == "\\" else 1
                if j > n:  # "[\\" at the end: RE2 says why it does not compile (security
                    break  # trial: an IndexError, a 500 on the rule preview)
                if pattern[j - 1] == "[" and pattern[j:j + 1] == ":":  # [:alpha:]
                    # no ":]" after it: to the end (security trial: find()'s -1 + 2 sent
                    # j back to 1, and "[[:", typed on the way to "[[:alpha:]]" and
                    # previewed, spun a web thread at 100% CPU for ever)
                    end = pattern.find(":]", j)
                    j = end + 2 if end >= 0 else n
            out.append(_Tok("class", pattern[i:j + 1]))
            i = j + 1
        elif c == "(":
            j = i + 1
            if pattern[j:j + 1] == "?":
                k = j + 1
                if pattern[k:k + 2] in ("P<",) or pattern[k:k + 1] == "<":
                    j = pattern.find(">", k) + 1 or n
                else:
                    while k < n and pattern[k] not in ":)":
                        k += 1
                    if pattern[k:k + 1] == ")":
                        out.append(_Tok("flags", pattern[i:k + 1]))
                        i = k + 1
                        continue
                    j = k + 1
            out.append(_Tok("open", pattern[i:j]))
            i = j
        elif c in "*+?{":
            j = i + 1
            if c == "{":
                j = pattern.find("}", i) + 1 or n
            if pattern[j:j + 1] == "?":
                j += 1
            out.append(_Tok("quant", pattern[i:j]))
            i = j
        else:
            kind = {")": "close", "|": "alt", "^": "anchor", "$": "anchor", ".": "dot"}.get(
                c, "lit")
            out.append(_Tok(kind, c))
            i += 1
    return out


def _word(t: _Tok | None) -> bool:
    """A token that is one character inside words."""
    if t is None:
        return False
    if t.kind == "lit":
        return in_word(t.text)
    return t.kind == "esc" and t.text in (r"\w", r"\d")


def _outside(t: _Tok | None) -> bool:
    """A token that is one character outside words."""
    if t is None:
        return False
    if t.kind == "lit":
        return not in_word(t.text)
    return t.kind == "esc" and (t.text in (r"\s", r"\W", r"\n", r"\t", r"\r", r"\f", r"\v")
                                or (len(t.text) == 2 and not t.text[1].isalnum()))


def _least(quant: str) -> int:
    """The fewest repeats a quantifier allows."""
    if quant[0] == "{":
        head = quant[1:].split(",")[0].split("}")[0]
        return int(head) if head.isdigit() else 0
    return 1 if quant[0] == "+" else 0


def _side(toks: list[_Tok], i: int, step: int) -> str | None:
    """What the character on one side of the ``\b`` at token ``i`` is, when the
    pattern fixes it: ``"word"``, ``"outside"``, or None (a class, a group, a token
    that may be skipped, the pattern's end)."""
    j = i + step
    if step < 0 and 0 <= j < len(toks) and toks[j].kind == "quant":
        if _least(toks[j].text) < 1:
            return None
        j -= 1
    if not 0 <= j < len(toks):
        return None
    if step > 0 and j + 1 < len(toks) and toks[j + 1].kind == "quant" and \
            _least(toks[j + 1].text) < 1:
        return None
    t = toks[j]
    if t.kind == ("open" if step > 0 else "close"):  # a group: every alternative's edge
        end = _group_of(toks, j, step)
        if end is None:
            return None
        a, b = (j, end) if step > 0 else (end, j)
        edges, depth = [], 0
        for k in range(a + 1, b):
            kind = toks[k].kind
            if kind in ("open", "close"):
                depth += 1 if kind == "open" else -1
            elif kind == "alt" and depth == 0:
                edges.append(k)
        sides = {_side(toks, k, step) for k in ([a, *edges] if step > 0 else [*edges, b])}
        return sides.pop() if len(sides) == 1 else None
    if t.kind == "class":  # only letters, digits and \w: a word character
        inner = t.text[1:-1].replace(r"\w", "a").replace(r"\d", "0")
        ranges = inner[1:-1].replace("-", "")  # a-z: a hyphen between two characters
        return "word" if inner and not inner.startswith("^") and all(
            in_word(c) for c in inner[:1] + ranges + inner[-1:]) else None
    return "word" if _word(t) else "outside" if _outside(t) else None


def _once(toks: list[_Tok], i: int) -> bool:
    """Token ``i`` is matched exactly once (no quantifier after it may skip it)."""
    nxt = toks[i + 1] if i + 1 < len(toks) else None
    return nxt is None or nxt.kind != "quant"


def _group_of(toks: list[_Tok], i: int, step: int) -> int | None:
    """The index of the unmatched opening (``step`` -1) or closing (+1) token of the
    group around token ``i``; None at the top level."""
    depth, j = 0, i + step
    inc, dec = ("close", "open") if step < 0 else ("open", "close")
    while 0 <= j < len(toks):
        k = toks[j].kind
        if k == inc:
            depth += 1
        elif k == dec:
            if depth == 0:
                return j
            depth -= 1
        j += step
    return None


def _at_start(toks: list[_Tok], i: int) -> bool:
    """Nothing before token ``i`` can need a character: only openings, flags and
    ``^`` back to the pattern's start or to an alternative's start whose group is
    itself at the start."""
    j = i - 1
    while j >= 0 and (toks[j].kind in ("open", "flags") or toks[j].text == "^"):
        j -= 1
    if j < 0:
        return True
    if toks[j].kind != "alt":
        return False
    g = _group_of(toks, j, -1)
    return g is None or _at_start(toks, g)


def _at_end(toks: list[_Tok], i: int) -> bool:
    """Nothing after token ``i`` can need a character: only closings (not repeated)
    and ``$`` to the pattern's end or to an alternative's end whose group is itself
    at the end."""
    j = i + 1
    while j < len(toks) and (toks[j].kind == "close" or toks[j].text == "$"):
        if toks[j].kind == "close" and not _once(toks, j):
            return False
        j += 1
    if j >= len(toks):
        return True
    if toks[j].kind != "alt":
        return False
    g = _group_of(toks, j, 1)
    return g is None or (_once(toks, g) and _at_end(toks, g))


def unicode_words(pattern: str) -> tuple[str, bool, bool]:
    r"""``(rewritten, changed, takes_up)``: ``pattern`` with ``\b``, ``\w`` and ``\W``
    read as words of any script (see the module), whether anything changed, and
    whether a ``\b`` takes up a character (then search each text alone: the
    rewrite holds ``^`` and ``$``).

    >>> unicode_words(r"\bọmọ\b")[0] == (r"(?:^|(?P<_loop_b0>[^\pL\pM\pN_]))ọmọ"
    ...                                  r"(?:$|(?P<_loop_b1>[^\pL\pM\pN_]))")
    True
    >>> unicode_words(r"\bcheck\b.*\bout")[0] == r"\bcheck\b.*\bout"
    True
    """
    toks = _tokens(pattern)
    out: list[str] = []
    taken = 0
    for i, t in enumerate(toks):
        if t.kind == "esc" and t.text in (r"\w", r"\W"):
            out.append(("[^" if t.text == r"\W" else "[") + IN_WORD + "]")
        elif t.kind == "class" and r"\w" in t.text:
            out.append(t.text.replace(r"\w", IN_WORD))
        elif t.kind == "esc" and t.text == r"\b":
            before, after = _side(toks, i, -1), _side(toks, i, 1)
            if {before, after} == {"word", "outside"}:
                continue  # always a boundary there
            if _at_start(toks, i) and after == "word":
                out.append(f"(?:^|(?P<{TAKEN}{taken}>[^{IN_WORD}]))")
                taken += 1
            elif _at_end(toks, i) and before == "word":
                out.append(f"(?:$|(?P<{TAKEN}{taken}>[^{IN_WORD}]))")
                taken += 1
            else:  # none of those: the pattern is left to RE2 whole (a mix of
                return pattern, False, False  # both readings was worse than either)
        elif t.kind == "esc" and t.text == r"\B":
            return pattern, False, False
        else:
            out.append(t.text)
    new = "".join(out)
    return new, new != pattern, taken > 0


def ascii_words(pattern: str) -> bool:
    r"""Whether RE2 reads ``pattern``'s ``\b``, ``\B`` or ``\w`` by ASCII letters only
    (:func:`unicode_words` left it as it is)."""
    return (not unicode_words(pattern)[1]
            and any(t.kind == "esc" and t.text in (r"\b", r"\B", r"\w", r"\W")
                    or (t.kind == "class" and r"\w" in t.text) for t in _tokens(pattern)))


#: A range of letters in a class (``A-Z``, ``À-Ö``) or the class of capitals by name.
_CAPITALS = re.compile(r"(?:[^\W\d_]-[^\W\d_]|\[:upper:\])")
#: Inline flags that set case folding either way (``(?-i)``, ``(?s-i:``, ``(?i)``).
_FLAG_I = re.compile(r"\(\?[a-zA-Z-]*i")


def folds_capitals(pattern: str) -> bool:
    r"""Whether ``pattern`` names capital letters (``[A-Z]``, ``[[:upper:]]``,
    ``\p{Lu}``) that a rule ignoring case reads as any letter: ``\b[A-Z]{4,}\b``, meant
    for shouting, matched 1,661 of youtube's 1,686 comments (293 with case). A pattern
    that sets folding itself (``(?-i)``, ``(?i)``) or a class of small letters too
    (``[A-Za-z]``) does not.

    >>> [folds_capitals(p) for p in (r"\b[A-Z]{4,}\b", r"[A-Za-z]+", r"(?-i)[A-Z]")]
    [True, False, False]
    """
    if _FLAG_I.search(pattern):
        return False
    for t in _tokens(pattern):
        ranges = _CAPITALS.findall(t.text) if t.kind == "class" else []
        if (any(map(_capitals, ranges)) and "[:lower:]" not in t.text
                and not any(r[0].islower() for r in ranges)):
            return True
        if t.kind == "esc" and t.text in (r"\p{Lu}", r"\p{Upper}"):
            return True
    return False


def _capitals(found: str) -> bool:
    """A class's ``[:upper:]``, or a range of capitals wider than hex digits' ``A-F``."""
    if found == "[:upper:]":
        return True
    a, b = found[0], found[2]
    return a.isupper() and b.isupper() and ord(b) - ord(a) > 5
