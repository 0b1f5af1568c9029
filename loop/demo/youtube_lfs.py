"""Labeling functions for the YouTube comment spam demo (ham = 0, spam = 1).

Keyword, regex and length heuristics in the spirit of the Snorkel spam
tutorial. Each LF reads ``x.text`` (the comment) and votes or abstains; none
looks at the gold ``CLASS`` column.
"""

from __future__ import annotations

import re
from typing import Any

from loop import ABSTAIN, labeling_function

HAM = 0
SPAM = 1
LABELS = ["ham", "spam"]

_LINK = re.compile(r"https?://|www\.|\.com\b|\.net\b|bit\.ly", re.IGNORECASE)
_MY_STUFF = re.compile(r"\bmy\s+(new\s+)?(channel|video|vid|music|page|song|cover|account)\b", re.I)
_CHECK = re.compile(r"\bcheck\s*(it\s*)?out\b|\bcheck\s+my\b", re.IGNORECASE)
_SUB = re.compile(r"\bsub(scribe|scribed|scribing|s)?\b|\bsub\s*4\s*sub\b", re.IGNORECASE)
_PLEASE = re.compile(r"\b(please|plz|pls|plese)\b", re.IGNORECASE)
_MONEY = re.compile(r"\b(free|money|earn|cash|\$\d+|gift ?card|giveaway|win)\b", re.IGNORECASE)
_SONG = re.compile(r"\b(song|songs|music|beat|lyrics|voice|dance|dancing)\b", re.IGNORECASE)
_LOVE = re.compile(r"\b(love|beautiful|amazing|awesome|best|great|nice|cool|perfect)\b", re.I)
_VIEWS = re.compile(r"\b(\d+(\.\d+)?\s*(billion|million|b|m)\s*views?|views)\b", re.IGNORECASE)


def _text(x: Any) -> str:
    """The comment text, whether the record names it ``text`` or ``CONTENT``."""
    for key in ("text", "CONTENT", "content"):
        try:
            value = x[key]
        except (KeyError, TypeError):
            continue
        if value is not None:
            return str(value)
    return ""


@labeling_function()
def check_out(x: Any) -> int:
    """Says "check out" or "check my": spammers point at their own content."""
    return SPAM if _CHECK.search(_text(x)) else ABSTAIN


@labeling_function()
def subscribe(x: Any) -> int:
    """Asks for subscriptions ("subscribe", "sub4sub")."""
    return SPAM if _SUB.search(_text(x)) else ABSTAIN


@labeling_function()
def has_link(x: Any) -> int:
    """Contains a URL or a bare domain."""
    return SPAM if _LINK.search(_text(x)) else ABSTAIN


@labeling_function()
def my_channel(x: Any) -> int:
    """Mentions "my channel", "my video", "my new song"..."""
    return SPAM if _MY_STUFF.search(_text(x)) else ABSTAIN


@labeling_function()
def please(x: Any) -> int:
    """Begging: "please", "plz", "pls"."""
    return SPAM if _PLEASE.search(_text(x)) else ABSTAIN


@labeling_function()
def money(x: Any) -> int:
    """Money, prizes and free stuff."""
    return SPAM if _MONEY.search(_text(x)) else ABSTAIN


@labeling_function()
def mentions_song(x: Any) -> int:
    """Talks about the song or music and asks for nothing: usually a real fan."""
    t = _text(x)
    if _SONG.search(t) and not (_LINK.search(t) or _SUB.search(t) or _MY_STUFF.search(t)):
        return HAM
    return ABSTAIN


@labeling_function()
def short_comment(x: Any) -> int:
    """Very short comments ("so good", "lol") are rarely spam."""
    return HAM if len(_text(x).split()) <= 5 and not _LINK.search(_text(x)) else ABSTAIN


@labeling_function()
def love_words(x: Any) -> int:
    """Praise ("love", "beautiful", "amazing") without a link or a request."""
    t = _text(x)
    if _LOVE.search(t) and not (_LINK.search(t) or _PLEASE.search(t) or _CHECK.search(t)):
        return HAM
    return ABSTAIN


@labeling_function()
def view_count(x: Any) -> int:
    """Remarks on the view count ("2 billion views") are fan chatter."""
    t = _text(x)
    return HAM if _VIEWS.search(t) and not _LINK.search(t) else ABSTAIN


@labeling_function()
def shouting(x: Any) -> int:
    """Long comments mostly in capitals or full of "!!!" tend to be promotion."""
    t = _text(x)
    letters = [c for c in t if c.isalpha()]
    if len(letters) >= 30 and sum(c.isupper() for c in letters) / len(letters) > 0.6:
        return SPAM
    return SPAM if t.count("!") >= 4 and len(t) > 60 else ABSTAIN


LFS = [
    check_out,
    subscribe,
    has_link,
    my_channel,
    please,
    money,
    mentions_song,
    short_comment,
    love_words,
    view_count,
    shouting,
]

__all__ = ["HAM", "LABELS", "LFS", "SPAM"] + [lf.name for lf in LFS]
