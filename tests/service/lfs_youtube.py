"""Keyword LFs for the YouTube spam collection (labels: ham=0, spam=1)."""

from loop.core.lf import ABSTAIN, labeling_function

HAM, SPAM = 0, 1


@labeling_function()
def check_out(x):
    return SPAM if "check out" in x.text.lower() else ABSTAIN


@labeling_function()
def subscribe(x):
    return SPAM if "subscribe" in x.text.lower() else ABSTAIN


@labeling_function()
def link(x):
    return SPAM if "http" in x.text.lower() else ABSTAIN


@labeling_function()
def my_channel(x):
    return SPAM if "my channel" in x.text.lower() else ABSTAIN


@labeling_function()
def short(x):
    return HAM if len(x.text.split()) < 5 else ABSTAIN


@labeling_function()
def song_or_love(x):
    t = x.text.lower()
    return HAM if "song" in t or "love" in t else ABSTAIN


LFS = [check_out, subscribe, link, my_channel, short, song_or_love]
