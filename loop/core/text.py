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
    return plain_quotes(text)
