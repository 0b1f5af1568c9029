"""Item text as people read it.

Uploaded text often carries HTML (``<br />``, ``&#39;``, ``&amp;``). The labeling
page shows it as plain text: line breaks for ``<br>`` and block ends, formatting
tags dropped, entities decoded; any other tag stays the text it is
(``loop/web/static/api.js`` ``plainText``); typographic quotes are read as plain
ones. :func:`readable` is the same
transformation, so that rules (written by people looking at that page) match what
they see and rule suggestions are made of words they can read. Python LFs and
exports get the text as uploaded.
"""

from __future__ import annotations

import html
import re
import sys
import unicodedata
from collections.abc import Iterable, Sequence
from functools import lru_cache

_BREAK = re.compile(r"<\s*br\s*/?\s*>|<\s*/\s*(?:p|div|li|h[1-6])\s*>", re.IGNORECASE)
_FORMAT = re.compile(r"</?(?:a|b|i|u|s|em|strong|span|p|div|font|small|big|sub|sup|li|ul|ol|"
                     r"h[1-6]|blockquote|code|pre|wbr)(?:\s[^<>]*)?/?>", re.IGNORECASE)
_BLANK_LINES = re.compile(r"\n{3,}")
#: Typographic quotes (what phones and smart punctuation type) as plain ones.
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})
_CURLY = frozenset("\u2018\u2019\u201c\u201d")


def plain_quotes(text: str) -> str:
    """``text`` with typographic quotes as plain ones: ``don’t`` -> ``don't``."""
    return text.translate(_QUOTES) if _CURLY.intersection(text) else text


@lru_cache(maxsize=1024)
def readable(text: str) -> str:
    """``text`` as the labeling page shows it (remembered for the last texts seen:
    every rule reads an item's text, one after the other, in an apply run).

    >>> readable("Don&#39;t <b>miss</b> it<br />now &amp; then")
    "Don't miss it\\nnow & then"
    >>> readable("<img src=x onerror=alert(1)>")
    '<img src=x onerror=alert(1)>'

    Typographic quotes become plain ones (:func:`plain_quotes`), in texts and in
    rules alike, so ``don’t`` and ``don't`` match each other.
    """
    if "<" in text or "&" in text:
        text = _FORMAT.sub("", _BREAK.sub("\n", text))
        text = _BLANK_LINES.sub("\n\n", html.unescape(text)).strip()
    return plain_quotes(nfc(text))


def nfc(text: str) -> str:
    """``text`` in Unicode's composed form (NFC): an accent typed as a letter plus a
    combining mark (``i`` + U+0300) and the same accent as one character (``ì``)
    are then the same text, for rules and the words suggestions are made of.

    >>> nfc("i\u0300") == "\u00ec"
    True
    """
    return text if unicodedata.is_normalized("NFC", text) else unicodedata.normalize("NFC", text)


def name_key(name: str) -> str:
    """What two names are told apart by: case and how characters are written
    (composed or not, full-width or not) do not count. ``"Spam"`` and ``"spam"``
    read as one name on every page and in an export, so a project's labels, rules
    and annotators may not differ only in that.

    >>> name_key("Spam") == name_key("spam"), name_key("\uff33pam") == name_key("spam")
    (True, True)
    """
    return unicodedata.normalize("NFKC", name).casefold()


def alike(name: str, names: Iterable[str]) -> str | None:
    """The first of ``names`` that reads as ``name`` (the same :func:`name_key`),
    or None.

    >>> alike("SPAM", ["ham", "spam"]), alike("eggs", ["ham"])
    ('spam', None)
    """
    key = name_key(name)
    return next((x for x in names if name_key(x) == key), None)


def hidden_char(text: str, categories: tuple[str, ...] = ("Cc", "Cf")) -> str | None:
    """The first character of ``text`` in one of the Unicode ``categories`` (by
    default control and format characters, which no one sees: ``\\u200b``), as its
    escape, or None.

    >>> print(hidden_char("fr\u200bee"), hidden_char("free"))
    \\u200b None
    """
    for ch in text:
        if unicodedata.category(ch) in categories:
            return f"\\u{ord(ch):04x}"
    return None


@lru_cache(maxsize=1)
def _mark_class() -> str:
    """The combining marks of every script (Unicode category M), as the body of a
    regex character class."""
    out, start, prev = [], None, None
    for c in range(sys.maxunicode + 1):
        if unicodedata.category(chr(c))[0] == "M":
            if start is None:
                start = c
            prev = c
        elif start is not None:
            out.append(f"\\U{start:08x}-\\U{prev:08x}")
            start = None
    return "".join(out)


@lru_cache(maxsize=1)
def word_token_pattern() -> str:
    """A token pattern (scikit-learn's ``token_pattern``) for words of 2+ characters
    in any script. The default, ``\\b\\w\\w+\\b``, ends a word at a combining mark:
    Yoruba's ``rẹ̀`` became ``rẹ`` and Hindi's ``हिंदी`` no word at all."""
    w = rf"[\w{_mark_class()}]"
    return rf"(?<!{w}){w}{w}+(?!{w})"


#: scikit-learn's default token pattern (words of 2+ ``\w`` characters).
DEFAULT_TOKEN_PATTERN = r"(?u)\b\w\w+\b"
#: :func:`token_pattern_for` switches to :func:`word_token_pattern` when the default
#: pattern leaves more than this share of the letters of words out of every token.
#: Hindi loses about half (a vowel sign cuts a word into one-letter pieces, which
#: the default drops); yoruba 0.8% (its tone marks only shorten words), English 0.
MAX_LOST_LETTERS = 0.1


def token_pattern_for(texts: Sequence[str], sample: int = 2000) -> str:
    """The token pattern for an end model on ``texts``: scikit-learn's default,
    unless it would lose the words of the language (more than
    :data:`MAX_LOST_LETTERS` of their letters, on up to ``sample`` texts spread
    over ``texts``); then :func:`word_token_pattern`, which keeps a word whole with
    its combining marks. On yoruba the default stayed better from 100 answers on
    (``docs/benchmarks_loop.md``, "The end model's words"), so only a language the
    default cannot read at all switches.

    >>> token_pattern_for(["so sweet", "so bad"]) == DEFAULT_TOKEN_PATTERN
    True
    >>> token_pattern_for(["यह किताब बहुत अच्छी है"]) == word_token_pattern()
    True
    """
    if not len(texts):
        return DEFAULT_TOKEN_PATTERN
    step = max(1, len(texts) // sample)
    default, words = re.compile(DEFAULT_TOKEN_PATTERN), re.compile(word_token_pattern())
    letters = lost = 0
    for text in list(texts[::step])[:sample]:
        text = str(text)
        kept = bytearray(len(text))
        for m in default.finditer(text):
            kept[m.start():m.end()] = b"\1" * (m.end() - m.start())
        for m in words.finditer(text):
            for i in range(m.start(), m.end()):
                if unicodedata.category(text[i])[0] == "L":
                    letters += 1
                    lost += not kept[i]
    return word_token_pattern() if lost > MAX_LOST_LETTERS * letters else DEFAULT_TOKEN_PATTERN
