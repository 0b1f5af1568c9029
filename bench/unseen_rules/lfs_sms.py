"""New keyword/regex LFs for SMS spam (0 ham, 1 spam),
written by an independent evaluator (session 58)."""
import re


def prep(d):
    t = d["text"]
    return {"t": t, "lo": t.lower()}


def K(pat, flags=0):
    r = re.compile(pat, flags)
    return lambda x: bool(r.search(x["lo"]))


def R(pat):
    r = re.compile(pat)
    return lambda x: bool(r.search(x["t"]))


LFS = [
    # spam (1)
    ("sp_free", 1, K(r"\bfree\b")),
    ("sp_txt", 1, K(r"\b(txt|text) [a-z0-9]+ to \d")),
    ("sp_shortcode", 1, K(r"\b\d{5}\b")),
    ("sp_phone", 1, K(r"\b0\d{9,10}\b")),
    ("sp_win", 1, K(r"\b(win|won|winner|prize|award(ed)?)\b")),
    ("sp_claim", 1, K(r"\b(claim|redeem)\b")),
    ("sp_urgent", 1, K(r"\burgent\b")),
    ("sp_pounds", 1, K(r"£|\$\d|\bcash\b")),
    ("sp_url", 1, K(r"www\.|http|\.com\b|\.net\b")),
    ("sp_stop", 1, K(r"\bstop\b|\bunsubscribe\b|\bopt ?out\b")),
    ("sp_mobile", 1, K(r"\b(mobile|ringtone|tone|polyphonic|video phone)\b")),
    ("sp_caps", 1, R(r"\b[A-Z]{4,}\b.*\b[A-Z]{4,}\b")),
    ("sp_offer", 1, K(r"\b(offer|discount|guaranteed|bonus|voucher)\b")),
    ("sp_call_now", 1, K(r"\bcall (now|free|\d)")),
    ("sp_per_msg", 1, K(r"\b\d+p\b|per (min|msg|week)|/msg|150p")),
    ("sp_chat", 1, K(r"\b(chat|dating|sexy|xxx|singles)\b")),
    ("sp_reply", 1, K(r"\breply\b")),
    ("sp_congrats", 1, K(r"congratulations|congrats")),
    ("sp_customer", 1, K(r"\bcustomer\b|\bservice\b")),
    ("sp_uk", 1, K(r"\buk\b|\bnokia\b")),
    ("sp_now", 1, K(r"\bnow\b")),
    ("sp_number", 1, K(r"\d{3,}")),
    # ham (0)
    ("hm_i_am", 0, K(r"\b(i'm|im|i am|i'll|i've|i'd)\b")),
    ("hm_ok", 0, K(r"^\s*(ok|okay|k|kk|yup|yeah|ya|yes|no|hmm+)\b")),
    ("hm_lol", 0, K(r"\b(lol|haha+|hehe|:\)|;\)|:-\))")),
    ("hm_love", 0, K(r"\b(love|miss|dear|babe|baby|sweet)\b")),
    ("hm_home", 0, K(r"\b(home|sleep|dinner|lunch|class|work|bus|later|tonight)\b")),
    ("hm_sorry", 0, K(r"\b(sorry|thanks|thank you|thanx|pls|plz|please)\b")),
    ("hm_u", 0, K(r"\b(u|ur|r|n|da|wat|wan|dun|lor|lar|leh|la)\b")),
    ("hm_short", 0, lambda x: len(x["t"].split()) <= 6),
    ("hm_question", 0, K(r"\b(where|when|what time|how are|are you|r u|did you|do you)\b")),
    ("hm_family", 0, K(r"\b(mum|mom|dad|bro|sis|friend|he|she|him|her)\b")),
    ("hm_gonna", 0, K(r"\b(gonna|wanna|gotta|going to)\b")),
    ("hm_you", 0, K(r"\byou\b")),
    ("hm_me", 0, K(r"\bme\b|\bmy\b")),
]
