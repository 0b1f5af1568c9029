"""The Items page's API: items searched and filtered, a page at a time."""

from __future__ import annotations

import json

import pytest
from svc_helpers import annotator_token, answer_n, auth, prepare_project

from loop.service import browse
from loop.service.export import export_rows


@pytest.fixture
def ready(store, client, project):
    """The first YouTube CSV (350 items, 105 held-out known labels), LFs applied,
    the label model and the end model fitted, 5 answers of "spam"."""
    pid = prepare_project(store, client, project, end_model=True)
    answer_n(client, pid, annotator_token(client, pid, "ann"), 5, "spam")
    return pid


def _get(client, pid, token=None, **params):
    return client.get(f"/api/projects/{pid}/items", query_string=params,
                      headers=auth() if token is None else auth(token))


def test_every_item_a_page_at_a_time_as_the_export_labels_it(client, store, ready):
    first = _get(client, ready).json
    assert first["total"] == 350 and first["offset"] == 0 and first["limit"] == 50
    assert len(first["items"]) == 50 and first["labels"] == ["ham", "spam"]
    ids = store.item_ids(ready)
    assert [x["id"] for x in first["items"]] == ids[:50]  # in import order
    last = _get(client, ready, offset=300, limit=200).json
    assert [x["id"] for x in last["items"]] == ids[300:]
    exported = {r["id"]: r for r in export_rows(store, ready)}
    for x in first["items"] + last["items"]:
        row = exported[x["id"]]
        assert (x["label"], x["source"], x["known"], x["model_label"], x["held_out"]) == (
            row["label"], row["source"], row["gold"], row["model_label"], row["held_out"])
        assert x["confidence"] == row[f"p_{row['label']}"]
    L, meta = store.load_L(ready)
    votes = first["items"][0]["votes"]
    row0 = L[0]
    assert [v["lf"] for v in votes] == [meta["lf_names"][j] for j in range(L.shape[1])
                                        if row0[j] >= 0]


def test_filters_each_narrow_to_what_they_say(client, store, ready):
    L, meta = store.load_L(ready)
    lf = meta["lf_names"][int((L >= 0).sum(axis=0).argmax())]
    col = meta["lf_names"].index(lf)
    got = _get(client, ready, lf=lf, limit=200).json
    assert got["total"] == int((L[:, col] >= 0).sum()) > 0
    assert all(any(v["lf"] == lf for v in x["votes"]) for x in got["items"])
    known = _get(client, ready, known="yes", limit=200).json
    assert known["total"] == 105 + 5 and all(x["known"] is not None for x in known["items"])
    assert _get(client, ready, known="no").json["total"] == 350 - 110
    answered = [x for x in known["items"] if x["source"] == "gold"]
    assert len(answered) == 5 and all(x["known"] == "spam" for x in answered)
    spam = _get(client, ready, label="spam", limit=200).json
    assert spam["total"] > 0 and all(x["label"] == "spam" for x in spam["items"])
    wrong = _get(client, ready, disagree="1", limit=200).json
    assert all(x["known"] is not None and x["model_label"] not in (None, x["known"])
               for x in wrong["items"])
    assert wrong["total"] == sum(
        1 for r in export_rows(store, ready)
        if r["gold"] is not None and r["model_label"] not in (None, r["gold"]))
    some = store.items(ready)[7]
    word = some["text"].split()[0]
    found = _get(client, ready, q=word.upper(), limit=200).json  # any case
    assert some["id"] in [x["id"] for x in found["items"]]
    assert all(word.casefold() in x["text"].casefold() or x["id"].casefold() == word.casefold()
               for x in found["items"])
    by_id = _get(client, ready, q=some["id"]).json
    assert some["id"] in [x["id"] for x in by_id["items"]]
    both = _get(client, ready, lf=lf, known="yes", limit=200).json
    assert both["total"] == sum(1 for r, x in enumerate(export_rows(store, ready))
                                if L[r, col] >= 0 and x["gold"] is not None)


def test_items_no_lf_votes_on_and_the_least_sure_first(client, store, ready):
    """Where a new rule could help: the items no LF votes on; and the items the
    models are least sure of, first."""
    L, _ = store.load_L(ready)
    silent = _get(client, ready, covered="no", limit=200).json
    assert silent["total"] == int((~(L >= 0).any(axis=1)).sum()) > 0
    assert all(x["votes"] == [] for x in silent["items"])
    voted = _get(client, ready, covered="yes").json
    assert voted["total"] + silent["total"] == 350
    rows = list(export_rows(store, ready))
    conf = [(2.0 if r["label"] is None else r[f"p_{r['label']}"], i) for i, r in enumerate(rows)]
    want = [rows[i]["id"] for _, i in sorted(conf)]
    first = _get(client, ready, sort="confidence").json
    second = _get(client, ready, sort="confidence", offset=50).json
    assert [x["id"] for x in first["items"] + second["items"]] == want[:100]
    c = [x["confidence"] for x in first["items"]]
    assert c == sorted(c) and first["total"] == 350
    for x in first["items"]:  # the same rows as unsorted, only in another order
        assert x == next(y for y in _get(client, ready, q=x["id"], limit=200).json["items"]
                         if y["id"] == x["id"])
    both = _get(client, ready, sort="confidence", covered="no", limit=200).json
    assert {x["id"] for x in both["items"]} == {x["id"] for x in silent["items"]}


def test_bad_parameters_are_a_400_naming_them_and_annotators_are_refused(client, ready):
    for bad, says in (({"label": "eggs"}, "label must be one of"),
                      ({"known": "maybe"}, "known must be"),
                      ({"disagree": "yes"}, "disagree must be"),
                      ({"lf": "no_such_lf"}, "no LF 'no_such_lf'"),
                      ({"limit": "0"}, "limit must be"), ({"limit": "201"}, "limit must be"),
                      ({"offset": "-1"}, "offset must be"), ({"offset": "x"}, "offset must be"),
                      ({"q": "x" * 201}, "at most 200"),
                      ({"covered": "some"}, "covered must be"),
                      ({"sort": "newest"}, "sort must be"),
                      ({"lables": "spam"},
                       "unknown query parameter 'lables'; this request takes q,")):
        r = _get(client, ready, **bad)
        assert r.status_code == 400 and says in r.json["error"], (bad, r.json)
    tok = annotator_token(client, ready, "nosy")
    assert _get(client, ready, token=tok).status_code == 403
    assert client.get(f"/api/projects/{ready}/items").status_code == 401
    assert _get(client, "nope").status_code == 404


def test_a_long_text_is_cut_and_says_so(client, store, project):
    r = client.post(f"/api/projects/{project}/items",
                    data=("CONTENT\n" + "a" * (browse.MAX_TEXT + 10) + "\nshort\n").encode(),
                    headers={**auth(), "Content-Type": "text/csv"})
    assert r.status_code == 201, r.json
    got = _get(client, project).json
    assert got["total"] == 2 and got["lfs"] == []  # no LFs applied: no votes, no LF filter
    long, short = got["items"]
    assert len(long["text"]) == browse.MAX_TEXT and long["text_truncated"]
    assert short["text"] == "short" and not short["text_truncated"] and short["votes"] == []
    assert short["label"] is None and short["model_label"] is None
    r = _get(client, project, lf="anything")
    assert r.status_code == 400 and "apply the LFs first" in r.json["error"]



def test_a_search_finds_a_text_as_the_page_shows_it(client, project):
    """New-user trial: the Items page showed "I'm A SUBSCRIBER" (uploaded as
    ``I&#39;m``), "Café" (an e and a combining accent) and a text of two lines on one,
    and searching for what it showed found none of them."""
    texts = ["I&#39;m A SUBSCRIBER", "Cafe\u0301 au lait", "line one\r\nline two",
             "<b>bold</b> &amp; <a href='x'>link</a>", "don\u2019t stop", "plain text"]
    body = "\n".join(json.dumps({"id": f"t{i}", "CONTENT": t})
                      for i, t in enumerate(texts)).encode()
    r = client.post(f"/api/projects/{project}/items?id_field=id", headers=auth(),
                    data=body, content_type="application/x-ndjson")
    assert r.status_code == 201, r.json
    for q, ids in [("i'm a subscriber", ["t0"]), ("I&#39;m", ["t0"]), ("Caf\u00e9", ["t1"]),
                   ("line one line two", ["t2"]), ("bold & link", ["t3"]),
                   ("don't", ["t4"]), ("don\u2019t", ["t4"]), ("t5", ["t5"]),
                   ("nothing", []), ("<b>", ["t3"]), ("<br>", [])]:
        got = _get(client, project, q=q).json
        assert [x["id"] for x in got["items"]] == ids, (q, got)
