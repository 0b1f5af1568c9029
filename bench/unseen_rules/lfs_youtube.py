"""New keyword/regex LFs for YouTube comment spam (0 ham, 1 spam),
written by an independent evaluator (session 58)."""
import re


def prep(d):
    t = d["text"]
    return {"t": t, "lo": t.lower()}


def K(pat):
    r = re.compile(pat)
    return lambda x: bool(r.search(x["lo"]))


LFS = [
    ("sp_check_out", 1, K(r"check (it )?out|checkout")),
    ("sp_subscribe", 1, K(r"subscri")),
    ("sp_my_channel", 1, K(r"my (channel|page|videos?|music|song|youtube)")),
    ("sp_link", 1, K(r"http|www\.|\.com\b|\.ly\b")),
    ("sp_money", 1, K(r"\b(money|cash|earn|\$|paypal|free|gift ?card|win)\b")),
    ("sp_please", 1, K(r"\bplease\b|\bplz\b|\bpls\b")),
    ("sp_like", 1, K(r"\b(like|thumbs up)\b.*\b(comment|this|so)\b")),
    ("sp_visit", 1, K(r"\b(visit|go to|click|follow me|add me|watch my)\b")),
    ("sp_facebook", 1, K(r"facebook|instagram|twitter|soundcloud")),
    ("sp_long", 1, lambda x: len(x["t"]) > 200),
    ("sp_support", 1, K(r"\b(support|help me|share|promote|views)\b")),
    ("sp_new", 1, K(r"\bnew\b")),
    ("sp_guys", 1, K(r"\b(guys|hey|hi)\b")),
    # ham
    ("hm_love_song", 0, K(r"\blove (this|the|it|her|him|shakira|eminem|katy)\b")),
    ("hm_best", 0, K(r"\b(best|awesome|amazing|beautiful|great) (song|video)\b")),
    ("hm_short", 0, lambda x: len(x["t"].split()) <= 5),
    ("hm_heart", 0, K(r"<3|❤|♥|:\)|:d\b|lol")),
    ("hm_billion", 0, K(r"billion|\bviews\b.*(wow|omg)"
                        r"|who('s| is) (still )?(listening|watching)|2014|2015")),
    ("hm_artist", 0, K(r"\b(psy|katy|perry|eminem|rihanna|lmfao|shakira|gangnam)\b")),
    ("hm_song", 0, K(r"\bsong\b")),
    ("hm_fuck", 0, K(r"\b(fuck|shit|hate|sucks|stupid|ugly)")),
    ("hm_dance", 0, K(r"\b(dance|dancing|party|waka|monster|roar)\b")),
    ("hm_i", 0, K(r"\bi\b")),
]
