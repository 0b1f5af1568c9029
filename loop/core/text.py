"""Item text as people read it.

Uploaded text often carries HTML (``<br />``, ``&#39;``, ``&amp;``). The labeling
page shows it as plain text: line breaks for ``<br>`` and block ends, formatting
tags dropped, entities decoded; any other tag stays the text it is
(``loop/web/static/api.js`` ``plainText``). :func:`readable` is the same
transformation, so that rules (written by people looking at that page) match what
they see and rule suggestions are made of words they can read. Python LFs and
exports get the text as uploaded.
"""

from __future__ import annotations

import html
import re

_BREAK = re.compile(r"<\s*br\s*/?\s*>|<\s*/\s*(?:p|div|li|h[1-6])\s*>", re.IGNORECASE)
_FORMAT = re.compile(r"</?(?:a|b|i|u|s|em|strong|span|p|div|font|small|big|sub|sup|li|ul|ol|"
                     r"h[1-6]|blockquote|code|pre|wbr)(?:\s[^<>]*)?/?>", re.IGNORECASE)
_BLANK_LINES = re.compile(r"\n{3,}")


def readable(text: str) -> str:
    """``text`` as the labeling page shows it.

    >>> readable("Don&#39;t <b>miss</b> it<br />now &amp; then")
    "Don't miss it\\nnow & then"
    >>> readable("<img src=x onerror=alert(1)>")
    '<img src=x onerror=alert(1)>'
    """
    if "<" not in text and "&" not in text:
        return text
    s = _FORMAT.sub("", _BREAK.sub("\n", text))
    return _BLANK_LINES.sub("\n\n", html.unescape(s)).strip()
