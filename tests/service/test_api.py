"""API: auth, projects, uploads (all-or-nothing), OpenAPI coverage."""

from __future__ import annotations

import json
import re
import time

import pytest
from svc_helpers import ADMIN, apply_lfs_in_process, auth, youtube_csv


def test_healthz_and_openapi_need_no_key(client):
    assert client.get("/healthz").json == {"ok": True, "redis": "ok", "workers": 0}
    # a probe that needs the loop served: no worker alive is a 503 that says so
    r = client.get("/healthz?workers=1")
    assert r.status_code == 503 and r.json["workers"] == 0 and "1 workers" in r.json["error"]
    assert "do not reach the models" in r.json["error"]  # none alive (some: "more slowly")
    assert client.get("/healthz?workers=0").status_code == 200
    # a typo is a 400 naming what it takes, not a 200 whatever the workers (new-user trial)
    r = client.get("/healthz?worker=2")
    assert r.status_code == 400 and r.json["error"] == (
        "unknown query parameter 'worker'; this request takes workers"), r.json
    for bad in ("x", "-1", "1.5", "\u00b2", "9" * 40):
        r = client.get("/healthz", query_string={"workers": bad})
        assert r.status_code == 400 and "whole number" in r.json["error"], bad
    assert client.get("/openapi.json").status_code == 200


def test_every_route_is_documented(app, client):
    spec = client.get("/openapi.json").json["paths"]
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(("/api/", "/healthz", "/openapi.json")):
            continue  # HTML pages and static files are not part of the JSON API
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        assert path in spec, f"{rule.rule} missing from /openapi.json"
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert method.lower() in spec[path], f"{method} {rule.rule} undocumented"


def test_requests_without_a_valid_key_get_401(client, project):
    assert client.get("/api/projects").status_code == 401
    r = client.get("/api/projects", headers=auth("wrong"))
    assert r.status_code == 401 and "error" in r.json
    assert client.post(f"/api/projects/{project}/queue/next").status_code == 401
    assert client.get("/api/projects", headers=auth()).status_code == 200


def test_annotator_token_is_limited_to_its_project_queue(client, project):
    tok = client.post(f"/api/projects/{project}/annotators", headers=auth(),
                      json={"name": "ann"}).json["token"]
    # "Ann" beside "ann" would be one person in two rows of the export, or two
    # people the export cannot tell apart; the same name again is a new token
    r = client.post(f"/api/projects/{project}/annotators", headers=auth(), json={"name": "Ann"})
    assert r.status_code == 409 and "only in case" in r.json["error"], r.json
    assert [a["name"] for a in client.get(f"/api/projects/{project}/annotators",
                                          headers=auth()).json["annotators"]] == ["ann"]
    assert client.get("/api/projects", headers=auth(tok)).status_code == 403
    assert client.get(f"/api/projects/{project}/queue/me", headers=auth(tok)).status_code == 200
    other = client.post("/api/projects", headers=auth(), json={
        "name": "b", "labels": ["x", "y"], "lf_module": "lfs_youtube"}).json["id"]
    assert client.post(f"/api/projects/{other}/queue/next", headers=auth(tok)).status_code == 403


def test_an_annotator_token_set_to_expire_stops_working_then(client, store, project):
    """Tokens worked until revoked, whoever had a copy of one: an admin can now give
    one a lifetime; past it the token is refused, saying so (not "mistyped"), and
    is not counted as a guess."""
    url = f"/api/projects/{project}/annotators"
    for bad in (0, -1, "7", True, 3651, [1]):
        r = client.post(url, headers=auth(), json={"name": "t", "expires_in_days": bad})
        assert r.status_code == 400 and "expires_in_days" in r.json["error"], (bad, r.json)
    # Infinity is no JSON: refused with the body (security trial; the test client
    # writes JSON as the app does, inf as null, so it is sent as written)
    r = client.post(url, headers=auth(), content_type="application/json",
                    data='{"name": "t", "expires_in_days": Infinity}')
    assert r.status_code == 400 and "finite number" in r.json["error"], r.json
    assert client.get(url, headers=auth()).json["annotators"] == []
    forever = client.post(url, headers=auth(), json={"name": "f", "expires_in_days": None}).json
    assert forever["expires_at"] is None
    t0 = time.time()
    short = client.post(url, headers=auth(), json={"name": "t", "expires_in_days": 1.5 / 86400})
    assert short.status_code == 201, short.json
    assert t0 < short.json["expires_at"] <= time.time() + 1.5
    rows = {a["name"]: a for a in client.get(url, headers=auth()).json["annotators"]}
    assert rows["t"]["expires_at"] == short.json["expires_at"] and rows["f"]["expires_at"] is None
    tok = short.json["token"]
    assert client.get(f"/api/projects/{project}/queue/me", headers=auth(tok)).status_code == 200
    time.sleep(max(0.0, short.json["expires_at"] - time.time()) + 0.05)
    for _ in range(2):  # cached or not
        r = client.post(f"/api/projects/{project}/queue/next", headers=auth(tok))
        assert r.status_code == 401 and "'t' expired on" in r.json["error"], r.json
        assert "admin for a new one" in r.json["error"]
        client.application.extensions["loop"]["store"]._tokens.clear()
    assert not store.r.keys("loop:refused:*")
    assert client.get(f"/api/projects/{project}/queue/me",
                      headers=auth(forever["token"])).status_code == 200
    # the name added again: a new token (until revoked, unless asked otherwise); an
    # expired token is no working one that "replace": false would keep
    again = client.post(url, headers=auth(), json={"name": "t", "replace": False})
    assert again.status_code == 201, again.json
    again = again.json
    assert again["expires_at"] is None
    assert client.get(f"/api/projects/{project}/queue/me",
                      headers=auth(again["token"])).status_code == 200


def test_a_name_added_with_replace_false_never_revokes_a_working_token(app, client, project):
    """Concurrency trial: two admins adding one name at once each got a 201 and a
    token, and the first token was dead on arrival (the page asks before it replaces
    a name it lists, but neither page listed it yet). With ``"replace": false``, the
    page's request for a name it believes new, a working token is a 409 instead."""
    from concurrent.futures import ThreadPoolExecutor

    url = f"/api/projects/{project}/annotators"

    def add(name, **body):
        return app.test_client().post(url, headers=auth(), json={"name": name, **body})

    with ThreadPoolExecutor(4) as ex:
        out = list(ex.map(lambda _: add("pat", replace=False), range(4)))
    assert sorted(r.status_code for r in out) == [201, 409, 409, 409], [r.json for r in out]
    made = next(r.json["token"] for r in out if r.status_code == 201)
    for r in out:
        if r.status_code == 409:
            assert r.json["code"] == "token_exists" and "'pat' has a working token" in \
                r.json["error"], r.json
    assert client.get("/api/me", headers=auth(made)).json["name"] == "pat"
    assert add("pat", replace="no").status_code == 400
    # revoked, the name is free again; and replace (the default) revokes as before
    assert client.delete(f"{url}/pat", headers=auth()).status_code == 200
    again = add("pat", replace=False)
    assert again.status_code == 201, again.json
    newest = add("pat", replace=True)
    assert newest.status_code == 201
    assert client.get("/api/me", headers=auth(again.json["token"])).status_code == 401
    assert client.get("/api/me", headers=auth(newest.json["token"])).status_code == 200
    # replacing the token one saw (its created_at) refuses to revoke a newer one
    seen = {a["name"]: a for a in client.get(url, headers=auth()).json["annotators"]}["pat"]
    other = add("pat")  # another admin, meanwhile
    r = add("pat", replace=True, replaces_made_at=seen["created_at"])
    assert r.status_code == 409 and "got another token" in r.json["error"], r.json
    assert client.get("/api/me", headers=auth(other.json["token"])).status_code == 200
    assert add("pat", replaces_made_at="x").status_code == 400
    now = {a["name"]: a for a in client.get(url, headers=auth()).json["annotators"]}["pat"]
    assert add("pat", replace=True, replaces_made_at=now["created_at"]).status_code == 201


def test_a_revoke_sent_again_or_late_never_revokes_the_token_made_since(client, project):
    """Client's retry trial (a flaky network between a script and the service): a
    revoke of ``pat`` timed out, was sent again (revoked), a new token was made for
    the name, and then the first revoke, held in the network, arrived: it revoked
    the new token. With ``made_at``, the ``created_at`` of the token meant (as its
    creation answered, or as listed), a revoke takes only that token: sent again
    it is ``revoked: false``, and against a token made since it is a 409."""
    url = f"/api/projects/{project}/annotators"
    first = client.post(url, headers=auth(), json={"name": "pat"}).json
    assert isinstance(first["created_at"], float)
    listed = {a["name"]: a for a in client.get(url, headers=auth()).json["annotators"]}
    assert listed["pat"]["created_at"] == first["created_at"]
    revoke = {"made_at": first["created_at"]}
    r = client.delete(f"{url}/pat", headers=auth(), json=revoke)
    assert r.status_code == 200 and r.json["revoked"] is True, r.json
    again = client.delete(f"{url}/pat", headers=auth(), json=revoke)
    assert again.status_code == 200 and again.json["revoked"] is False, again.json
    assert "works no more" in again.json["note"]
    new = client.post(url, headers=auth(), json={"name": "pat"}).json
    late = client.delete(f"{url}/pat", headers=auth(), json=revoke)
    assert late.status_code == 409 and late.json["code"] == "token_exists", late.json
    assert "got another token" in late.json["error"]
    nxt = f"/api/projects/{project}/queue/next"
    assert client.post(nxt, headers=auth(new["token"]), json={}).status_code in (200, 204)
    # the new token's own revoke takes it; a made_at that is no number is a 400
    for bad in ("yesterday", True):
        r = client.delete(f"{url}/pat", headers=auth(), json={"made_at": bad})
        assert r.status_code == 400 and "made_at" in r.json["error"], bad
    assert client.delete(f"{url}/pat", headers=auth(), json={"made_at": new["created_at"]}
                         ).json["revoked"] is True
    assert client.post(nxt, headers=auth(new["token"]), json={}).status_code == 401
    # without made_at, as before: the name's working token, else a 404
    assert client.delete(f"{url}/pat", headers=auth()).status_code == 404
    assert client.delete(f"{url}/nobody", headers=auth(), json=revoke).status_code == 404


def test_create_project_validates(client):
    bad = [{"name": "", "labels": ["a", "b"], "lf_module": "lfs_youtube"},
           {"name": "x", "labels": ["a"], "lf_module": "lfs_youtube"},
           {"name": "x", "labels": ["a", "a"], "lf_module": "lfs_youtube"},
           {"name": "x", "labels": ["a", "b"], "lf_module": "no.such.module"}]
    for body in bad:
        r = client.post("/api/projects", headers=auth(), json=body)
        assert r.status_code == 400, body
        assert r.json["error"]
    # labels that read alike (a new user's "africa" and "Africa"; an operator's
    # "spam " and NFD "café"): uploads and exports tell labels apart by name
    for labels, said in ((["africa", "Africa"], "differ only in case"),
                         (["caf\u00e9", "cafe\u0301"], "differ only in case"),
                         (["spam", "spam "], "starts or ends with a space"),
                         (["a\u00a0", "b"], "starts or ends with a space"),
                         # a data scientist's class ids were told the names were empty
                         ([0, 1], "labels are names (strings), got the number 0")):
        r = client.post("/api/projects", headers=auth(), json={"name": "x", "labels": labels})
        assert r.status_code == 400 and said in r.json["error"], (labels, r.json)
    assert client.get("/api/projects/nope", headers=auth()).status_code == 404
    assert client.get("/api/projects", headers=auth()).json == {"projects": []}
    # an emoji sequence's joiner is no hidden character
    r = client.post("/api/projects", headers=auth(), json={
        "name": "Family 👨\u200d👩\u200d👧", "labels": ["👍", "👎\u200d🔥"]})
    assert r.status_code == 201, r.json
    # at the limits: 100 labels, a 200-character text field, guidelines with line
    # breaks and tabs
    r = client.post("/api/projects", headers=auth(), json={
        "name": "Many", "labels": [f"c{i}" for i in range(100)], "text_field": "t" * 200,
        "guidelines": "# Classes\n\n- c0:\tthe first\r\n"})
    assert r.status_code == 201, r.json
    # keys after 1..9 and 0 are letters, not the page's own (s, u, g, h, m) nor one another
    # label asks for; colours are not the first ones again (new-user trial: an 11th
    # label had no key and the 1st's colour)
    style = r.json["label_style"]
    assert [x["key"] for x in style[8:14]] == ["9", "0", "a", "b", "c", "d"]
    assert [x["key"] for x in style[14:20]] == ["e", "f", "i", "j", "k", "l"]
    assert [x["key"] for x in style[20:22]] == ["n", "o"]
    assert len({x["color"] for x in style[:20]}) == 20 and style[30]["key"] == "z"
    assert style[31]["key"] is None
    r = client.post("/api/projects", headers=auth(), json={
        "name": "Mine", "labels": ["x", {"name": "y", "key": "M"}]})
    assert r.status_code == 400 and "m: my answers" in r.json["error"], r.json
    r2 = client.post("/api/projects", headers=auth(), json={
        "name": "Asked", "labels": ["x", "y", {"name": "z", "key": "1"}]})
    assert [x["key"] for x in r2.json["label_style"]] == ["2", "3", "1"], r2.json
    r = client.post("/api/projects", headers=auth(), json={
        "name": "Too many", "labels": [f"c{i}" for i in range(101)]})
    assert r.status_code == 400 and "at most 100 labels, got 101" in r.json["error"]


def _upload(client, pid, data, ctype="text/csv", **q):
    qs = "&".join(f"{k}={v}" for k, v in q.items())
    return client.post(f"/api/projects/{pid}/items?{qs}", data=data, headers={
        **auth(), "Content-Type": ctype})


def test_upload_csv_and_jsonl(client, project):
    r = _upload(client, project, youtube_csv(), id_field="COMMENT_ID", gold_field="CLASS")
    assert r.status_code == 201, r.json
    assert r.json["n_items"] == 350 and r.json["n_gold"] == 350
    jl = b'{"id": "a", "CONTENT": "hello"}\n{"id": "b", "CONTENT": "check out my channel"}\n'
    r = _upload(client, project, jl, "application/x-ndjson", id_field="id")
    assert r.status_code == 201 and r.json["n_items"] == 2
    m = client.get(f"/api/projects/{project}/metrics", headers=auth()).json
    assert m["n_items"] == 352


def test_per_class_numbers_and_fields_come_in_the_projects_and_files_order(client):
    """API reader's trial: Flask wrote every JSON object with its keys sorted, so a
    ``spam, ham`` project's ``gold_counts`` and ``class_balance`` came ``ham`` first
    and an item's fields by name; they come in the labels' and the file's order."""
    pid = client.post("/api/projects", headers=auth(), json={
        "name": "order", "labels": ["spam", "ham"]}).json["id"]
    rows = "".join(f"{i},{'spam' if i % 3 else 'ham'},msg {i} here,x,y\n" for i in range(12))
    r = _upload(client, pid, f"id,label,text,zeta,alpha\n{rows}".encode(), id_field="id",
                gold_field="label", eval_fraction="0")
    assert r.status_code == 201, r.json
    assert list(r.json["gold_counts"]) == ["spam", "ham"]
    assert r.get_data(as_text=True).index('"spam"') < r.get_data(as_text=True).index('"ham"')
    m = client.get(f"/api/projects/{pid}/metrics", headers=auth()).json
    assert list(m["class_balance"]) == ["spam", "ham"], m["class_balance"]
    _upload(client, pid, b"text,zeta,alpha\nnew one,1,2\n")
    tok = client.post(f"/api/projects/{pid}/annotators", headers=auth(),
                      json={"name": "ann"}).json["token"]
    item = client.post(f"/api/projects/{pid}/queue/next", headers=auth(tok)).json["item"]
    assert list(item["fields"]) == item["field_order"] == ["zeta", "alpha"]


def test_a_wrench_file_uploads_as_it_is(client, project, store):
    """New-user trial: WRENCH's ``train.json`` (one object of rows keyed by id, the
    text nested in ``data``) was "JSONL line 1: invalid JSON"; as an array, its
    ``data`` column was ``[object Object]`` and could not be the text."""
    rows = {"17": {"label": 1, "data": {"text": "check out my channel", "meta": {"n": 2}},
                   "weak_labels": [1, -1]},
            "4": {"label": 0, "data": {"text": "great song"}, "weak_labels": [-1, 0]}}
    body = json.dumps(rows, indent=4).encode()  # pretty-printed, over many lines
    r = client.post(f"/api/projects/{project}/items/preview", headers=auth(),
                    content_type="application/json", data=body)
    assert r.status_code == 200, r.json
    assert r.json["columns"] == ["id", "label", "data.text", "data.meta.n", "weak_labels"]
    assert r.json["rows"][0]["data.text"] == "check out my channel"
    # rows with a value per column: the Data page does not pick a label column that
    # fills every row as known labels (nothing would be left to label)
    assert r.json["filled"] == {"id": 2, "label": 2, "data.text": 2, "data.meta.n": 1,
                                "weak_labels": 2}
    r = _upload(client, project, body, "application/json", id_field="id",
                text_field="data.text", gold_field="label")
    assert r.status_code == 201 and r.json["n_items"] == 2 and r.json["n_gold"] == 2, r.json
    # as it is, without gold_field: the label would be shown to annotators; said so
    fresh = json.dumps({f"d{k}": v for k, v in rows.items()}, indent=4).encode()
    r = _upload(client, project, fresh, "application/json", id_field="id",
                text_field="data.text", dry_run="1", allow_duplicate="1")
    assert r.json["note"].startswith("the column 'label' is kept as a field, which the "
                                     "labeling page shows beside the text; pass "
                                     "gold_field=label"), r.json
    got = {i["id"]: i for i in store.items(project)}
    assert got["17"]["text"] == "check out my channel"
    assert got["17"]["fields"] == {"data.meta.n": 2, "weak_labels": [1, -1]}
    # to label them yourself: no known labels, and the label column left out, or it
    # is shown to the annotators beside the text (re-trial)
    again = json.dumps({f"n{k}": v for k, v in rows.items()}).encode()
    r = client.post(f"/api/projects/{project}/items?id_field=id&text_field=data.text"
                    "&drop=label&drop=weak_labels&allow_duplicate=1", data=again,
                    headers={**auth(), "Content-Type": "application/json"})
    assert r.status_code == 201 and r.json["n_gold"] == 0, r.json
    assert {i["id"]: i["fields"] for i in store.items(project)}["n17"] == {"data.meta.n": 2}
    for bad, why in (("drop=nope", "no column 'nope' to leave out"),
                     ("drop=data.text", "cannot be left out")):
        r = client.post(f"/api/projects/{project}/items?id_field=id&text_field=data.text&{bad}",
                        data=again, headers={**auth(), "Content-Type": "application/json"})
        assert r.status_code == 400 and why in r.json["error"], r.json
    # the same rows as an array, and as JSON lines: the nested text is a column too
    arr = json.dumps([{"k": "a", **rows["17"]}]).encode()
    r = client.post(f"/api/projects/{project}/items/preview", headers=auth(),
                    content_type="application/json", data=arr)
    assert r.json["columns"] == ["k", "label", "data.text", "data.meta.n", "weak_labels"]
    r = client.post(f"/api/projects/{project}/items/preview", headers=auth(),
                    content_type="application/x-ndjson", data=arr[1:-1] + b"\n")
    assert r.json["columns"] == ["k", "label", "data.text", "data.meta.n", "weak_labels"]
    # one object per line whose values are not all rows stays JSON lines
    r = client.post(f"/api/projects/{project}/items/preview", headers=auth(),
                    content_type="application/json", data=b'{"text": "a", "x": {"y": 1}}\n')
    assert r.json["columns"] == ["text", "x.y"] and r.json["n_rows"] == 1, r.json
    for one_line in (b'{"data": {"text": "a"}, "meta": {"n": 1}}', b'{"data": {"text": "a"}}'):
        r = client.post(f"/api/projects/{project}/items/preview", headers=auth(),
                        content_type="application/json", data=one_line)
        assert r.json["n_rows"] == 1 and "data.text" in r.json["columns"], r.json
    r = client.post(f"/api/projects/{project}/items/preview", headers=auth(),
                    content_type="application/json", data=json.dumps(rows).encode())
    assert r.json["n_rows"] == 2 and r.json["columns"][:3] == ["id", "label", "data.text"]


def test_a_text_or_id_column_beside_the_ones_used_is_said_to_be_out_of_rules_reach(
        client, project):
    """New-user trial: a file's own "text" and "id" columns, beside the columns
    uploaded as the items' text and ids, were kept as fields that a field rule could
    not read (its "text" and "id" are the item's own): a rule on them matched nothing,
    with nothing to say why."""
    data = (b"row,Comment,text,id\r\nr1,hello there,bonjour,A\r\n"
            b"r2,check out my channel,regarde,B\r\n")
    r = _upload(client, project, data, id_field="row", text_field="Comment")
    assert r.status_code == 201, r.json
    assert r.json["note"] == (
        "the column 'text' is kept as a field, which the labeling page shows, but a field "
        "rule's 'text' reads the items' own text (the column 'Comment'): rename the column "
        "in the file to write rules on it; the column 'id' is kept as a field, which the "
        "labeling page shows, but a field rule's 'id' reads the items' own ids (the column "
        "'row'): rename the column in the file to write rules on it"), r.json
    r = client.post(f"/api/projects/{project}/rules/preview", headers=auth(), json={
        "name": "t", "label": 1, "kind": "field", "field": "text", "op": "==",
        "value": "regarde"})
    assert r.status_code == 200 and r.json["matched"] == 0, r.json  # as the note says


def test_a_column_of_label_names_under_another_name_is_pointed_out(client, project):
    """New-user trial: a "reviewed" column with Spam / OK on one row in twenty, left
    unpicked as the known labels on the Data page, passed Check without a word: it
    would have been shown to annotators beside each text, the answer with it."""
    rows = "".join(f"c{i},comment number {i},{('Spam' if i % 2 else 'HAM') if i % 4 == 0 else ''}"
                   f",{i % 3}\n" for i in range(40))
    rows += "c40,comment number 40,not sure,1\n"
    data = f"id,CONTENT,reviewed,stars\n{rows}".encode()
    r = _upload(client, project, data, id_field="id", dry_run="1")
    assert r.status_code == 200 and r.json["note"] == (
        "the column 'reviewed' holds label names on 10 rows and is kept as a field, which "
        "the labeling page shows beside the text; pass gold_field=reviewed to import them "
        "as known labels, or drop=reviewed to leave it out"), r.json
    r = _upload(client, project, data, id_field="id", drop="reviewed")
    assert r.status_code == 201 and "note" not in r.json, r.json


def test_after_an_import_the_note_on_a_label_column_says_what_still_works(client, project):
    """Multi-class trial: imported with its "known_label" column unpicked, the Data
    page said again "pick it under Known labels to import them as known labels"; the
    file sent again so was refused (409: its items are stored, and an upload never
    changes them)."""
    rows = "".join(f"c{i},comment number {i},{'Spam' if i % 4 == 0 else ''}\n" for i in range(20))
    data = f"id,CONTENT,known_label\n{rows}".encode()
    r = _upload(client, project, data, id_field="id")
    assert r.status_code == 201 and r.json["note"] == (
        "the column 'known_label' holds label names on 5 rows and was kept as a field, "
        "which the labeling page shows beside the text; to import them as known labels "
        "of these items, upload the file again with gold_field=known_label and "
        "stored_labels=1 (on the Data page: Give rows whose id is stored already their "
        "known labels)"), r.json
    r = _upload(client, project, data, id_field="id", gold_field="known_label")
    assert r.status_code == 409, r.json  # what the note does not advise
    r = _upload(client, project, data, id_field="id", gold_field="known_label",
                stored_labels="1")  # what it does
    assert r.status_code == 201 and r.json["stored_labels"]["n_labeled"] == 5, r.json
    # without an id column the same rows would be new items: a new project it is
    r = _upload(client, project, data.replace(b"comment number", b"remark"))
    assert "upload the file to a new project" in r.json["note"], r.json


def test_a_column_of_flags_is_no_column_of_label_names_when_the_labels_are_numerals(client):
    """Left from session 64: with labels named "0" and "1" (a WRENCH-style project), a
    column of 0/1 flags ("verified") was said to hold label names."""
    r = client.post("/api/projects", headers=auth(), json={
        "name": "digits", "labels": ["0", "1"], "text_field": "CONTENT"})
    assert r.status_code == 201, r.json
    data = "id,CONTENT,verified\n" + "".join(f"c{i},comment {i},{i % 2}\n" for i in range(20))
    r = _upload(client, r.json["id"], data.encode(), id_field="id", dry_run="1")
    assert r.status_code == 200 and "note" not in r.json, r.json


def test_an_id_column_not_named_as_the_id_field_is_pointed_out(client, project):
    r = _upload(client, project, b"id,CONTENT\nA,hello there\nB,check out my channel\n")
    assert r.status_code == 201 and r.json["note"] == (
        "the column 'id' is kept as a field and the items are numbered by row; pass "
        "id_field=id to use it as their ids"), r.json
    r = _upload(client, project, b"id,CONTENT\nC,hello again\n", id_field="id")
    assert r.status_code == 201 and "note" not in r.json
    # every item with a known label: nothing will be left to label, said before import
    r = _upload(client, project, b"CONTENT,CLASS\nfresh text,ham\nmore text,spam\n",
                gold_field="CLASS", dry_run="1")
    assert r.json["note"] == ("every row of this file has a known label ('CLASS'), so none "
                              "of its items is put in the queue; to label them yourself, "
                              "upload without known labels")
    # ... unless they are all held out to score the models: a scoring set, said so
    r = _upload(client, project, b"CONTENT,CLASS\nfresh text,ham\nmore text,spam\n",
                gold_field="CLASS", dry_run="1", eval_fraction="1")
    n = client.get(f"/api/projects/{project}", headers=auth()).json["remaining"]
    assert n > 0 and r.json["note"] == (  # the project's other items are to label
        "all 2 known labels ('CLASS') are held out to score the models, so none of these "
        f"items is put in the queue (the project's {n} items to label are)")
    empty = client.post("/api/projects", headers=auth(), json={
        "name": "scoring only", "labels": ["ham", "spam"], "text_field": "CONTENT"}).json["id"]
    r = _upload(client, empty, b"CONTENT,CLASS\nfresh text,ham\nmore text,spam\n",
                gold_field="CLASS", dry_run="1", eval_fraction="1")
    assert r.json["note"] == (  # nothing else to label: say what to upload
        "all 2 known labels ('CLASS') are held out to score the models, so none of these "
        "items is put in the queue: upload the items to label without known labels")


def test_multipart_upload(client, project):
    import io

    r = client.post(f"/api/projects/{project}/items", headers=auth(), data={
        "file": (io.BytesIO(b"CONTENT\nhi\nthere\n"), "x.csv")},
        content_type="multipart/form-data")
    assert r.status_code == 201 and r.json["n_items"] == 2


def test_a_multipart_uploads_parameters_may_be_form_fields(client, project):
    """New-user trial: ``curl -F file=@x.csv -F id_field=id`` (or requests' ``data=``
    beside ``files=``) stored the items numbered by row, the gold labels as a field,
    with no word that the parameters were not read."""
    import io

    def send(fields, query=""):
        return client.post(f"/api/projects/{project}/items?dry_run=1{query}", headers=auth(),
                           data={"file": (io.BytesIO(b"id,CONTENT,CLASS,x\na7,hi,1,3\n"
                                                     b"b8,there,,4\n"), "x.csv"), **fields},
                           content_type="multipart/form-data")

    r = send({"id_field": "id", "gold_field": "CLASS", "drop": "x"})
    assert r.status_code == 200 and r.json["n_gold"] == 1 and "note" not in r.json, r.json
    r = send({"gold_field": "CLASS"}, "&gold_field=CLASS&id_field=id")  # the same, twice
    assert r.status_code == 200 and r.json["n_gold"] == 1, r.json
    r = send({"gold_field": "x"}, "&gold_field=CLASS")
    assert r.status_code == 400 and "given twice" in r.json["error"], r.json
    r = send({"idfield": "id"})
    assert r.status_code == 400 and "unknown form field 'idfield'" in r.json["error"], r.json


def test_a_multipart_upload_without_a_file_says_so(client, project):
    r = client.post(f"/api/projects/{project}/items", headers=auth(), data={"x": "1"},
                    content_type="multipart/form-data")
    assert r.status_code == 400 and "field named 'file'" in r.json["error"], r.json


def test_a_json_body_with_a_lone_surrogate_is_rejected(client, project):
    body = b'{"name": "a\\udc00", "label": 1, "kind": "keywords", "keywords": ["x"]}'
    r = client.post(f"/api/projects/{project}/rules", headers={
        **auth(), "Content-Type": "application/json"}, data=body)
    assert r.status_code == 400 and "\\udc00" in r.json["error"], r.json
    assert client.get(f"/api/projects/{project}/rules", headers=auth()).json["rules"] == []


def test_malformed_uploads_are_rejected_and_change_nothing(client, project, rconn):
    before = sorted(rconn.keys("*"))
    cases = [
        (b"", "text/csv", {}),
        (b"\xff\xfe\x00bad", "text/csv", {}),
        (b"a,b\n1,2\n", "text/csv", {}),  # no CONTENT column
        (b"CONTENT,x\nhi,1\nthere\n", "text/csv", {}),  # short row
        (b"id,CONTENT\n1,a\n1,b\n", "text/csv", {"id_field": "id"}),  # duplicate id
        (b"CONTENT,CLASS\nhi,0\nyo,7\n", "text/csv", {"gold_field": "CLASS"}),  # unknown label
        (b"CONTENT,x\nhi,1\n  ,2\n", "text/csv", {}),  # empty text
        # operator's trial: a text of a NUL, and the texts read as their own labels
        (b"CONTENT,x\nhi,1\n\x00,2\n", "text/csv", {}),
        (b"CONTENT,x\nham,1\n", "text/csv", {"gold_field": "CONTENT"}),
        (b'{"CONTENT": ""}\n', "application/x-ndjson", {}),  # empty text
        (b'{"CONTENT": "a"}\nnot json\n', "application/x-ndjson", {}),
        (b'[1, 2]\n', "application/x-ndjson", {}),
        (b"CONTENT\nhi\n", "application/pdf", {}),
        (b"id,CONTENT\nc2,hi\n", "text/csv", {"idfield": "id"}),  # a typo'd parameter
        # a lone surrogate is no character: every CSV export and rule scan would fail
        (b'{"id": "s1", "CONTENT": "a\\ud800b"}\n', "application/x-ndjson", {"id_field": "id"}),
        (b'{"id": {"a": 1}, "CONTENT": "x"}\n', "application/x-ndjson", {"id_field": "id"}),
        (b'{"id": 1.0, "CONTENT": "x"}\n', "application/x-ndjson", {"id_field": "id"}),
        (b'{"id": true, "CONTENT": "x"}\n', "application/x-ndjson", {"id_field": "id"}),
        (b'{"id": "n\\n1", "CONTENT": "x"}\n', "application/x-ndjson", {"id_field": "id"}),
        (b'{"id": "fr\\u200bee", "CONTENT": "x"}\n', "application/x-ndjson", {"id_field": "id"}),
        (b"id,CONTENT\n11,a\n 11,b\n", "text/csv", {"id_field": "id"}),  # the same id
        # a repeated column: the csv module kept the last one, so the text stored was
        # another column's
        (b"id,CONTENT,x,CONTENT\nA,the comment,1,\n", "text/csv", {"id_field": "id"}),
        # these were 500s: "\u00b2".isdigit() but int() refuses it; an integer longer
        # than Python reads
        (b"CONTENT,CLASS\nhi,\xc2\xb2\n", "text/csv", {"gold_field": "CLASS"}),
        (b'{"id": ' + b"1" * 5000 + b', "CONTENT": "x"}\n', "application/x-ndjson",
         {"id_field": "id"}),
    ]
    for data, ctype, q in cases:
        r = _upload(client, project, data, ctype, **q)
        assert r.status_code in (400, 415), (data, r.json)
        assert r.json["error"], data
        if data in (b"CONTENT,x\nhi,1\n  ,2\n", b'{"CONTENT": ""}\n'):
            assert "is empty; fill it or leave the row out" in r.json["error"]
    # new-user trial: a header and no rows previewed as "0 rows, columns ."
    r = client.post(f"/api/projects/{project}/items/preview", headers=auth(),
                    content_type="text/csv", data=b"CONTENT,x\n")
    assert r.status_code == 400 and r.json["error"] == (
        "the file has its header line ('CONTENT', 'x') and no rows below it: nothing to "
        "import"), r.json
    # a problem says which item and where the file shows it: the header is line 1, a
    # quoted text may span lines, blank JSON lines are skipped
    for data, ctype, where in [
            (b'CONTENT,x\n"two\nlines",1\n  ,2\n', "text/csv", "item 2 (line 4)"),
            (b'{"CONTENT": "a"}\n\n{"CONTENT": " "}\n', "application/x-ndjson",
             "item 2 (line 3)")]:
        r = _upload(client, project, data, ctype)
        assert r.json["error"].startswith(where + ": text field"), r.json
        if b"ud800" in data:
            assert "\\ud800 is half of a UTF-16 surrogate pair" in r.json["error"], r.json
        if b"u200b" in data:
            assert "invisible character \\u200b" in r.json["error"], r.json
        if data.startswith(b"id,CONTENT,x,CONTENT"):
            assert "'CONTENT' more than once" in r.json["error"], r.json
    r = _upload(client, project, b"id,CONTENT\n" + b"7" * 100_000 + b",a\n", id_field="id")
    assert r.status_code == 400 and "id of 100,000 characters" in r.json["error"], r.json
    r = _upload(client, project, b"doc_id\n17\n18\n19\n", text_field="doc_id")
    assert r.status_code == 400 and "is a number: is it the text" in r.json["error"], r.json
    wide_json = json.dumps({"CONTENT": "a", **{f"c{i}": 1 for i in range(1500)}}).encode()
    r = _upload(client, project, wide_json + b"\n", "application/x-ndjson")
    assert r.status_code == 400 and "item 1 has 1,501 fields" in r.json["error"], r.json
    # a header of 200,000 columns held a web worker two minutes (operator's trial)
    wide = (",".join(f"c{i}" for i in range(200_000)) + ",CONTENT\n").encode()
    r = _upload(client, project, wide + b"," * 200_000 + b"a\n")
    assert r.status_code == 400 and "200,001 columns" in r.json["error"], r.json
    assert sorted(rconn.keys("*")) == before
    r = _upload(client, project, b"id,CONTENT\n1,a\n", id_field="id")
    assert r.status_code == 201
    r = _upload(client, project, b"id,CONTENT\n2,a\n1,b\n", id_field="id")
    assert r.status_code == 400 and "already exist" in r.json["error"]
    r = _upload(client, project, b"id,CONTENT\n9,b\n", id_field="id", dry_run="maybe")
    assert r.status_code == 400 and "dry_run must be" in r.json["error"], r.json
    # without id_field an item's id is its row number: 1 here, taken by the upload
    # above, so the file's items are row-<n> (new-user trial: it was refused, and so
    # was "import anyway")
    for dry in ("1", "true"):
        assert _upload(client, project, b"CONTENT\nb\n", dry_run=dry).status_code == 200
    # ... and that its gold numbers were read as class indices is still said (the
    # renamed upload dropped the count, and the Data page its warning)
    r = _upload(client, project, b"CONTENT,g\nb,1\n", dry_run="1", gold_field="g")
    assert r.status_code == 200 and r.json["gold_by_index"] == 1, r.json
    assert client.get(f"/api/projects/{project}/metrics", headers=auth()).json["n_items"] == 1
    assert _upload(client, project, b"CONTENT\nb\n").status_code == 201
    assert rconn.hget(f"loop:p:{project}:row", "row-1") == b"1"


def test_an_upload_with_many_bad_rows_counts_them_all(client, project):
    """The message counted only the rows it lists (20)."""
    from loop.errors import MAX_ROW_ERRORS

    rows = "".join(f"t{i},{'maybe' if i % 2 else 'spam'}\n" for i in range(100))
    r = _upload(client, project, ("CONTENT,CLASS\n" + rows).encode(), gold_field="CLASS")
    assert r.status_code == 400
    assert f"50 problems in the file (first {MAX_ROW_ERRORS} shown)" in r.json["error"]
    assert len(r.json["errors"]) == MAX_ROW_ERRORS
    assert r.json["summary"] == (f"50 problems in the file (first {MAX_ROW_ERRORS} shown), "
                                 "nothing was stored")
    assert r.json["error"] == r.json["errors"][0] + "; " + r.json["summary"]


def test_texts_any_reader_takes_are_taken(client, project, store):
    """JSON lines may hold U+2028, U+2029 and U+0085 raw (str.splitlines split the
    line there: a 400 "invalid JSON"); a CSV field may be longer than the csv
    module's default 131,072 characters, as a JSON line's may."""
    odd = "one\u2028two\u2029three\x85four"
    long = "word " * 40_000
    data = (json.dumps({"id": "u", "CONTENT": odd}, ensure_ascii=False) + "\n").encode()
    r = _upload(client, project, data, "application/x-ndjson", id_field="id")
    assert r.status_code == 201, r.json
    r = _upload(client, project, f"id,CONTENT\nlong,{long}\n".encode(), id_field="id")
    assert r.status_code == 201, r.json
    texts = {i["id"]: i["text"] for i in store.items(project)}
    assert texts == {"u": odd, "long": long}


def test_the_files_spreadsheets_and_scripts_write_are_read(client, project, store):
    """New-user trial: a ';'-separated CSV was read as one column (its whole lines
    stored as texts), a .json file was refused as an unknown content type, a .txt of
    JSON lines was read as CSV."""
    import io

    def send(data, name):
        return client.post(f"/api/projects/{project}/items?id_field=id&gold_field=gold",
                           headers=auth(), content_type="multipart/form-data",
                           data={"file": (io.BytesIO(data), name)})

    files = [(b"id;CONTENT;gold\ns1;free money, now;spam\n", "europe.csv"),
             (b"id\tCONTENT\tgold\nt1\thello; there\tham\n", "sheet.tsv"),
             (b'[{"id": "a1", "CONTENT": "win", "gold": "spam"},\n {"id": "a2", '
              b'"CONTENT": "hi mum", "gold": ""}]', "array.json"),
             (b'{"id": "j1", "CONTENT": "lines", "gold": "ham"}\n', "lines.json"),
             (b'{"id": "x1", "CONTENT": "in a txt", "gold": "ham"}\n', "lines.txt")]
    for data, name in files:
        r = send(data, name)
        assert r.status_code == 201, (name, r.json)
    texts = {i["id"]: i["text"] for i in store.items(project)}
    assert texts == {"s1": "free money, now", "t1": "hello; there", "a1": "win",
                     "a2": "hi mum", "j1": "lines", "x1": "in a txt"}
    assert store.uploaded_gold(project) == {"s1": 1, "t1": 0, "a1": 1, "j1": 0, "x1": 0}
    r = _upload(client, project, b'[{"id": "b1", "CONTENT": "x"}, 5]', "application/json",
                id_field="id")
    assert r.status_code == 400 and r.json["error"] == (
        "JSON array element 2: expected an object, got int"), r.json
    r = _upload(client, project, b'[{"id": "b1", "CONTENT": " "}]', "application/json",
                id_field="id")
    assert r.json["error"].startswith("item 1 (id 'b1'): text field"), r.json
    # a label misspelt: which row, by its id, and what was meant (in another case
    # it is the label: labels never differ only in case)
    r = _upload(client, project, b"id,CONTENT,gold\nc1,x,spamm\n", id_field="id",
                gold_field="gold")
    assert r.status_code == 400 and r.json["error"].startswith(
        "item 1 (line 2) (id 'c1'): gold label 'spamm' is not one of ['ham', 'spam']; "
        "did you mean 'spam'?"), r.json
    r = _upload(client, project, b"id,CONTENT,gold\nc1,x,spma\n", id_field="id",
                gold_field="gold")  # two letters swapped (re-trial)
    assert "'spma' is not one of ['ham', 'spam']; did you mean 'spam'?" in r.json["error"], r.json


def test_a_raw_tab_separated_file_without_an_extension_is_read(client, project, store):
    """New-user trial with UCI's SMSSpamCollection (no extension, tab-separated, texts
    that start with a quote they do not close, a comma in the first line): the page
    got "unsupported content type 'application/octet-stream'", then, renamed,
    "malformed CSV: ',' expected after '\"'" with no line, and without a header line
    no word about one."""
    import io

    def send(data, name, **q):
        query = "&".join(f"{k}={v}" for k, v in q.items())
        return client.post(f"/api/projects/{project}/items?{query}", headers=auth(),
                           content_type="multipart/form-data",
                           data={"file": (io.BytesIO(data), name)})

    body = (b'ham\tOk, see you at 5\nspam\tWIN a prize, txt 80082\n'
            b'ham\t"Wen u miss someone, the person is special" gdeve..\n')
    r = client.post(f"/api/projects/{project}/items/preview", headers=auth(),
                    content_type="multipart/form-data",
                    data={"file": (io.BytesIO(body), "SMSSpamCollection")})
    assert r.status_code == 200 and r.json["columns"] == ["ham", "Ok, see you at 5"], r.json
    assert "warning" not in r.json  # short enough to be column names
    r = send(body, "SMSSpamCollection", text_field="CONTENT")
    assert r.status_code == 400 and "no text field 'CONTENT'" in r.json["error"], r.json
    long = b"ham\tGo until jurong point, crazy.. Available only in bugis n great world\n"
    r = send(long + body, "SMSSpamCollection", text_field="CONTENT")
    assert r.json["error"].endswith("add a line of column names at the top, separated as "
                                    "the rows are (label and text with a tab between them "
                                    "in a tab-separated file; label,text in a "
                                    "comma-separated one)"), r.json
    r = send(b"CLASS\tCONTENT\n" + body, "SMSSpamCollection", gold_field="CLASS")
    assert r.status_code == 201, r.json
    texts = sorted(i["text"] for i in store.items(project))
    assert texts[0] == '"Wen u miss someone, the person is special" gdeve..'  # as written
    assert sorted(store.uploaded_gold(project).values()) == [0, 0, 1]
    # a quote in a comma-separated file: where, and what to do
    r = _upload(client, project, b'id,CONTENT\n1,a\n2,"ab"c\n', id_field="id")
    assert r.status_code == 400 and r.json["error"].startswith(
        "malformed CSV at line 3: ',' expected after '\"' (a field that starts with a "
        "quote must end with one"), r.json
    r = send(b"PK\x03\x04", "labels.xlsx")
    assert r.status_code == 400 and r.json["error"] == (
        "a .xlsx file is not read: save it as CSV (UTF-8) or JSON lines and upload that")


def test_upload_size_limit(app, client, project):
    from svc_helpers import configure

    configure(app, MAX_UPLOAD_BYTES=10)
    r = _upload(client, project, b"CONTENT\nhello world\n")
    assert r.status_code == 413 and "limit of 10 bytes (LOOP_MAX_UPLOAD_BYTES)" in r.json["error"]
    app.config["MAX_CONTENT_LENGTH"] = 2000  # what the web server refuses to read
    r = _upload(client, project, b"CONTENT\n" + b"x" * 3000 + b"\n")
    assert r.status_code == 413 and "limit of 10 bytes (LOOP_MAX_UPLOAD_BYTES)" in r.json["error"]
    assert "split it into smaller files" in r.json["error"]
    # any other request that big: the same limit, without the advice about files
    r = client.post(f"/api/projects/{project}/jobs", headers=auth(),
                    json={"type": "export", "pad": "x" * 3000})
    assert r.status_code == 413 and "request body is over the limit" in r.json["error"]
    assert "files" not in r.json["error"]
    # ... and whatever the upload limit, at most 1 MB (operator's trial: any
    # annotator could send 20 MB to /queue/answer, and it was read in full)
    app.config["MAX_CONTENT_LENGTH"] = 100 << 20
    r = client.post(f"/api/projects/{project}/queue/answer", headers=auth(),
                    json={"item_id": "x" * (2 << 20), "lease_id": "l", "label": 0})
    assert r.status_code == 413, r.json
    assert "limit of 1,048,576 bytes; an API request other than an upload" in r.json["error"]
    # ... sent chunked (no length): the same 413, not "invalid JSON" of the cut body
    import io

    big = json.dumps({"item_id": "x" * (2 << 20), "lease_id": "l", "label": 0}).encode()
    r = client.post(f"/api/projects/{project}/queue/answer", input_stream=io.BytesIO(big),
                    headers={**auth(), "Content-Type": "application/json",
                             "Transfer-Encoding": "chunked"},
                    environ_overrides={"wsgi.input_terminated": True})
    assert r.status_code == 413, r.json
    # a path that ends like the upload's is no upload (operator's trial: .../rules/items)
    r = client.put(f"/api/projects/{project}/rules/items", data=b"x" * (2 << 20),
                   headers={**auth(), "Content-Type": "application/json"})
    assert r.status_code == 413, r.json


def test_unknown_job_type_and_job(client, project):
    r = client.post(f"/api/projects/{project}/jobs", headers=auth(), json={"type": "nope"})
    assert r.status_code == 400
    for empty in ({}, None):  # no body at all: say what to send, not "type None"
        r = client.post(f"/api/projects/{project}/jobs", headers=auth(), json=empty)
        assert r.status_code == 400 and "say which job to run" in r.json["error"], r.json
    assert client.get("/api/jobs/nope", headers=auth()).status_code == 404
    r = client.post(f"/api/projects/{project}/jobs", headers=auth(), json={"type": "apply_lfs"})
    assert r.status_code == 409  # no items yet
    _upload(client, project, b"CONTENT\nhi\nthere\n")
    for kind in ("recalibrate", "fit_label_model", "train_end_model", "refill_queue"):
        r = client.post(f"/api/projects/{project}/jobs", headers=auth(), json={"type": kind})
        assert r.status_code == 409, kind  # the LFs were never applied
        assert '{"type": "apply_lfs", "recalibrate": true}' in r.json["error"]


def test_project_lists_the_lfs_as_last_applied(client, store, tmp_path, monkeypatch):
    """Editing the LF module and re-applying is the LF-development loop: the project
    then reports the LFs that produced ``L``, not those it was created with."""
    import os
    import sys

    lf = "from loop import labeling_function\n\n@labeling_function()\ndef {0}(x):\n    return 1\n"
    mod = tmp_path / "lfs_growing.py"
    mod.write_text(lf.format("first"))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", f"{tmp_path}{os.pathsep}{os.environ['PYTHONPATH']}")
    pid = client.post("/api/projects", headers=auth(), json={
        "name": "g", "labels": ["a", "b"], "lf_module": "lfs_growing"}).json["id"]
    _upload(client, pid, b"text\nx\ny\n")
    mod.write_text(lf.format("first") + "\n" + lf.format("second"))
    sys.modules.pop("lfs_growing", None)  # as in a fresh worker process
    apply_lfs_in_process(store, pid)
    assert client.get(f"/api/projects/{pid}", headers=auth()).json["lfs"] == ["first", "second"]
    names = [r["name"] for r in client.get(f"/api/projects/{pid}/lfs", headers=auth()).json["lfs"]]
    assert names == ["first", "second"]


def test_lf_stats_count_the_known_labels_before_the_lfs_are_applied(client, project):
    r = _upload(client, project, b"id,CONTENT,label\n1,free money,spam\n2,hi mum,ham\n3,see,\n",
                id_field="id", gold_field="label", eval_fraction="0")
    assert r.status_code == 201, r.json
    got = client.get(f"/api/projects/{project}/lfs", headers=auth()).json
    assert got == {"lfs": [], "n_gold": 2}  # was 0: "accuracy on 0 known labels"
    # held-out labels score the models; LFs are not judged (nor tuned) on them
    r = _upload(client, project, b"id,CONTENT,label\n4,win cash,spam\n", id_field="id",
                gold_field="label", eval_fraction="1")
    assert r.status_code == 201 and r.json["n_eval"] == 1, r.json
    assert client.get(f"/api/projects/{project}/lfs", headers=auth()).json["n_gold"] == 2


def test_bad_input_gets_a_4xx_with_a_reason_and_changes_nothing(client, project, rconn):
    before = sorted(rconn.keys("*"))
    cases = [
        ("get", "/api/jobs/%C3%A9t%C3%A9", None, 404),
        ("get", "/api/jobs/" + "x" * 300, None, 404),
        ("post", "/api/jobs/nope/cancel", None, 404),
        ("get", "/api/projects/%00", None, 404),
        ("post", f"/api/projects/{project}/jobs", {"type": ["apply_lfs"]}, 400),
        ("post", f"/api/projects/{project}/jobs", {"type": "apply_lfs", "recalibrate": 1}, 400),
        ("post", f"/api/projects/{project}/jobs", {"type": "export", "recalibrate": True}, 400),
        ("post", f"/api/projects/{project}/annotators", {"name": ""}, 400),
        ("post", f"/api/projects/{project}/annotators", {"name": "admin"}, 400),
        ("post", f"/api/projects/{project}/annotators", {"name": " ADMIN"}, 400),
        ("post", f"/api/projects/{project}/annotators", {"name": "\uff41dmin"}, 400),
        ("delete", f"/api/projects/{project}/annotators/nobody", None, 404),
        ("put", f"/api/projects/{project}/guidelines", {"guidelines": 5}, 400),
        # a misspelt key used to be ignored: the guidelines were wiped, the project
        # got one answer per item, the export came as JSON lines
        ("put", f"/api/projects/{project}/guidelines", {"guideline": "x"}, 400),
        ("put", f"/api/projects/{project}/guidelines", {}, 400),
        ("post", "/api/projects", {"name": "x", "labels": ["a", "b"], "answer_per_item": 3},
         400),
        ("post", f"/api/projects/{project}/jobs", {"type": "export", "fromat": "csv"}, 400),
        ("post", f"/api/projects/{project}/annotators", {"nmae": "bob"}, 400),
        ("post", f"/api/projects/{project}/queue/next", {"shwon": []}, 400),
        ("post", f"/api/projects/{project}/queue/answer",
         {"item_id": "1", "label": 0, "lease": "x"}, 400),
        # the name is a path segment: "team/alice" could never be revoked
        ("post", f"/api/projects/{project}/annotators", {"name": "team/alice"}, 400),
        ("post", f"/api/projects/{project}/annotators", {"name": ".."}, 400),
        ("post", f"/api/projects/{project}/annotators", {"name": "al\u200bice"}, 400),
        ("get", f"/api/projects/{project}/export?format=xml", None, 400),
        # fault trial: null wiped the guidelines; NUL, BEL, a right-to-left override
        # or a zero-width space went into names, labels and export headers; any key
        # was "rejected"
        ("put", f"/api/projects/{project}/guidelines", {"guidelines": None}, 400),
        ("post", "/api/projects", {"name": "a\x00b", "labels": ["a", "b"]}, 400),
        ("post", "/api/projects", {"name": "x", "labels": ["a\x07", "b"]}, 400),
        ("post", "/api/projects", {"name": "x", "labels": ["a", "b\u202e"]}, 400),
        ("post", "/api/projects", {"name": "x", "labels": [{"name": "\u200bham"}, "b"]}, 400),
        ("post", "/api/projects", {"name": "x\u2028y", "labels": ["a", "b"]}, 400),
        # operator's trial: accepted as they came, shown or used as something else
        ("post", "/api/projects", {"name": "x", "labels": ["a", "b"], "text_field": "t\x00"},
         400),
        ("post", "/api/projects", {"name": "x", "labels": ["a", "b"],
                                   "text_field": "\u202etxet"}, 400),
        ("post", "/api/projects", {"name": "x", "labels": ["a", "b"], "text_field": "t" * 201},
         400),
        ("post", "/api/projects", {"name": "x", "labels": ["a", "b"], "text_field": " "}, 400),
        ("post", "/api/projects", {"name": "x", "labels": [f"c{i}" for i in range(5000)]}, 400),
        ("put", f"/api/projects/{project}/guidelines", {"guidelines": "a\x00b"}, 400),
        ("put", f"/api/projects/{project}/guidelines", {"guidelines": "\x1b[31mred"}, 400),
        ("post", f"/api/projects/{project}/rules/suggestions/reject", {"key": "nope"}, 400),
        ("post", f"/api/projects/{project}/rules/suggestions/reject",
         {"key": "keywords:free:7"}, 400),  # no label 7
        # multi-annotator trial: a name the CSV export would read as two annotators;
        # a keyword of a NUL; a pattern sent with a keywords rule, dropped unsaid
        ("post", f"/api/projects/{project}/annotators", {"name": "x: spam; y"}, 400),
        ("get", f"/api/projects/{project}/queue/me?history=0", None, 400),
        ("get", f"/api/projects/{project}/queue/me?history=501", None, 400),
        ("get", f"/api/projects/{project}/queue/me?history=-3", None, 400),
        ("post", f"/api/projects/{project}/rules", {"name": "r", "label": 1, "kind": "keywords",
                                                    "keywords": ["\x00"]}, 400),
        ("post", f"/api/projects/{project}/rules", {"name": "r", "label": 1, "kind": "keywords",
                                                    "keywords": ["free"], "pattern": "win"},
         400),
    ]
    # security trial: a label object's misspelt "colour" stored the default colour; a
    # pattern list sent with a keywords rule was taken as no pattern
    cases += [
        ("post", "/api/projects", {"name": "x", "labels": [{"name": "a", "colour": "#ff0000"},
                                                           "b"]}, 400),
        ("post", f"/api/projects/{project}/rules", {"name": "r", "label": 1, "kind": "keywords",
                                                    "keywords": ["free"], "pattern": []}, 400),
    ]
    for lf_module in (".", "../x", "a..b", "x/y", 5, "no_such_module_here"):  # ""/None: rules only
        cases.append(("post", "/api/projects", {"name": "x", "labels": ["a", "b"],
                                                "lf_module": lf_module}, 400))
    for method, url, body, code in cases:
        r = getattr(client, method)(url, headers=auth(), json=body)
        assert r.status_code == code, (url, body, r.status_code)
        assert r.json["error"] and "\n" not in r.json["error"], (url, body)
    deep = b'{"CONTENT": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n"
    r = _upload(client, project, deep, "application/x-ndjson")
    assert r.status_code == 400 and "nested too deeply" in r.json["error"]
    r = client.post("/api/projects", headers={**auth(), "Content-Type": "application/json"},
                    data=b"[" * 100_000 + b"]" * 100_000)
    assert r.status_code == 400 and r.json["error"]
    r = client.post("/api/projects", headers={**auth(), "Content-Type": "application/json"},
                    data=b"null")
    assert r.status_code == 400 and r.json["error"] == "body must be a JSON object, got null"
    # security trial: of a key given twice the second was stored without a word
    r = client.put(f"/api/projects/{project}/guidelines",
                   headers={**auth(), "Content-Type": "application/json"},
                   data=b'{"guidelines": "first", "guidelines": "second"}')
    assert r.status_code == 400 and "'guidelines' is given twice" in r.json["error"], r.json
    assert sorted(rconn.keys("*")) == before


def test_deleting_a_project_takes_all_of_it_and_nothing_else(client, project, rconn, store):
    """New-user trial: a project made by mistake (a test, a file uploaded twice)
    stayed on the home page for good: there was no way to delete one."""
    from rq.registry import ScheduledJobRegistry
    from svc_helpers import annotator_token

    other = client.post("/api/projects", headers=auth(), json={
        "name": "keep me", "labels": ["a", "b"]}).json["id"]
    for pid in (project, other):
        assert _upload(client, pid, b"CONTENT,text\nhello,hello\nwin cash,win cash\n"
                       ).status_code == 201
        client.put(f"/api/projects/{pid}/guidelines", headers=auth(), json={"guidelines": "g"})
    token = annotator_token(client, project, "ann")
    # an export file lives outside the project's keys (operator's trial: downloaded
    # whole after the delete)
    from loop.service.export import export_key
    store.keep_export(project, export_key("job-x"), b"id,label\n", keep=3, ttl=600)
    kept = sorted(k for k in rconn.keys("*") if other.encode() in k)
    url = f"/api/projects/{project}"
    name = client.get(url, headers=auth()).json["name"]
    before = sorted(rconn.keys("*"))
    for body in (None, {}, {"confirm": project}, {"confirm": name.upper()},
                 {"confirm": name, "force": True}):
        r = client.delete(url, headers=auth(), json=body)
        assert r.status_code == 400 and "confirm" in r.json["error"], (body, r.json)
    assert client.delete(url, headers=auth(token), json={"confirm": name}).status_code == 403
    assert sorted(rconn.keys("*")) == before  # nothing changed
    r = client.delete(url, headers=auth(), json={"confirm": name})
    assert r.status_code == 200 and r.json == {"deleted": project, "name": name}, r.json
    assert client.get(url, headers=auth()).status_code == 404
    assert client.delete(url, headers=auth(), json={"confirm": name}).status_code == 404
    assert client.post(f"{url}/queue/next", headers=auth(token)).status_code == 401
    assert [p["id"] for p in client.get("/api/projects", headers=auth()).json["projects"]] == [
        other]
    assert not [k for k in rconn.keys("*") if project.encode() in k and b"rq:" not in k]
    assert not rconn.exists(export_key("job-x"))
    assert sorted(k for k in rconn.keys("*") if other.encode() in k) == kept
    # what a request or job racing the delete would still write is refused
    from loop.errors import ProjectNotFound
    with pytest.raises(ProjectNotFound):
        store.keep_export(project, export_key("job-y"), b"late", keep=3, ttl=600)
    with pytest.raises(ProjectNotFound):
        store.add_annotator(project, "late")
    assert not rconn.exists(export_key("job-y"))
    assert not [v for v in rconn.hvals("loop:tokens") if project.encode() in v]
    # swept again later, for what a job running at the deletion wrote after it
    q = ScheduledJobRegistry("loop", connection=rconn)
    assert len(q.get_job_ids()) == 1
    rconn.set(f"loop:p:{project}:late", b"x")
    assert store.purge_project_keys(project) == 1
    with pytest.raises(ValueError, match="exists"):
        store.purge_project_keys(other)


def test_an_annotator_is_refused_from_the_moment_a_delete_commits(client, project, store,
                                                                     rconn, monkeypatch):
    """Concurrency trial: annotators leasing while their project was deleted took
    leases after the sweep had listed the project's keys and before it unlinked them
    (the annotators hash went with that same unlink), leaving ``leaseh``, ``leasez``
    and ``mine:<a>`` behind. The delete's transaction drops the annotators too, so
    the queue's scripts refuse them from the commit, before any sweep."""
    from svc_helpers import annotator_token

    from loop.errors import ProjectNotFound
    from loop.storage.projects import token_hash

    assert _upload(client, project, b"CONTENT\nhello there\nwin cash now\nnice song\n"
                   ).status_code == 201
    token = annotator_token(client, project, "ann")
    first = store.lease_next_full(project, "ann", 300, token=token_hash(token))
    assert first is not None  # leasing works before the delete
    during = []
    purge = store.purge_project_keys

    def racing_purge(pid):  # an annotator's /next lands between commit and sweep
        try:
            during.append(store.lease_next_full(pid, "ann", 300, shown=[first["item_id"]],
                                                token=token_hash(token)))
        except ProjectNotFound as exc:
            during.append(exc)
        return purge(pid)

    monkeypatch.setattr(store, "purge_project_keys", racing_purge)
    store.delete_project(project)
    assert len(during) == 1 and isinstance(during[0], ProjectNotFound), during
    assert not [k for k in rconn.keys("*") if project.encode() in k and b"rq:" not in k]


def test_writes_and_reads_just_after_a_delete_in_another_worker_are_404s(
        app, client, project, redis_url, store, rconn):
    """Operator's trial: a rule or guidelines saved through another web worker just
    after a delete (its project cache still held the project) got 201 / 200 and were
    lost with the project; its metrics and export were a 200 with nothing in them."""
    from loop.web import create_app

    other = create_app({"TESTING": True, "REDIS_URL": redis_url, "API_KEYS": ADMIN})
    oc = other.test_client()
    url = f"/api/projects/{project}"
    name = oc.get(url, headers=auth()).json["name"]  # in that worker's cache now
    assert oc.get(f"{url}/metrics", headers=auth()).status_code == 200
    tok = client.post(f"{url}/annotators", headers=auth(), json={"name": "ann"}).json["token"]
    assert oc.get(f"{url}/queue/me", headers=auth(tok)).status_code == 200  # token cached
    assert client.delete(url, headers=auth(), json={"confirm": name}).status_code == 200
    # an annotator's request is told the project is gone, not that the token was
    # "revoked or replaced (its name was added again)" (operator's trial)
    r = oc.post(f"{url}/queue/next", headers=auth(tok), json={})
    assert r.status_code == 404 and "was deleted" in r.json["error"], r.json
    r = client.post(f"{url}/queue/next", headers=auth(tok), json={})
    assert r.status_code == 401 and "its project was deleted" in r.json["error"], r.json
    rule = {"name": "late", "label": "spam", "kind": "keywords", "keywords": ["hello"]}
    for method, path, body in [("post", "/rules", rule),
                               ("put", "/guidelines", {"guidelines": "g"}),
                               ("post", "/rules/suggestions/reject", {"key": "k"}),
                               ("get", "/metrics", None), ("get", "/export", None),
                               ("get", "/annotators", None), ("get", "/rules", None)]:
        r = getattr(oc, method)(url + path, headers=auth(), json=body)
        assert r.status_code == 404 and "no project" in r.json["error"], (path, r.json)
    other.extensions["loop"]["redis"].close()
    assert not [k for k in rconn.keys("*") if project.encode() in k and b"rq:" not in k]
    # and in the store itself, for a write that passed the check a moment before
    from loop.errors import ProjectNotFound
    for write in (lambda: store.set_guidelines(project, "g"),
                  lambda: store.write_rule(project, "late", {"enabled": True}, None),
                  lambda: store.reject_suggestion(project, "k"),
                  lambda: store.add_items(project, [{"id": "1", "text": "t"}], {}, [], 0)):
        with pytest.raises(ProjectNotFound):
            write()
    assert not [k for k in rconn.keys("*") if project.encode() in k and b"rq:" not in k]


def test_security_headers_on_every_response(client, project):
    for url in ("/healthz", "/openapi.json", "/api/projects", "/signin", "/nope"):
        r = client.get(url, headers=auth())
        assert r.headers["X-Content-Type-Options"] == "nosniff", url
        assert "default-src 'self'" in r.headers["Content-Security-Policy"], url
        # the API's answers (tokens, answers, exports) are never cached
        assert (r.headers.get("Cache-Control") == "no-store") == url.startswith("/api/"), url
    r = client.post(f"/api/projects/{project}/annotators", headers=auth(), json={"name": "t"})
    assert r.status_code == 201 and r.headers["Cache-Control"] == "no-store"


def test_an_unreachable_redis_is_a_503_with_retry_after():
    from loop.web import create_app

    app = create_app({"TESTING": True, "REDIS_URL": "redis://127.0.0.1:1/0", "API_KEYS": ADMIN})
    r = app.test_client().post("/api/projects/abc/queue/next", headers=auth(), json={})
    assert r.status_code == 503, r.json
    assert r.headers["Retry-After"] == "1"
    assert "database is unavailable (ConnectionError)" in r.json["error"]
    assert "answer" not in r.json["error"]  # operator's trial: "a repeated answer ..."
    r = app.test_client().post("/api/projects/abc/queue/answer", headers=auth(), json={})
    assert r.json["error"].endswith("(a repeated answer is stored once)"), r.json
    assert app.test_client().get("/healthz").status_code == 503


def test_an_upload_whose_connection_is_lost_is_a_503_and_stores_nothing(
        client, project, rconn, monkeypatch):
    """Redis restarting inside the upload's transaction: redis-py reports the lost
    connection as a WatchError, which was answered 409 "another upload was written
    at the same time". Here every client connection is killed (CLIENT KILL) between
    the transaction's WATCH and its EXEC."""
    from loop.storage import RedisStore

    real = RedisStore._watch_project

    def then_kill(self, p, *args, **kw):
        out = real(self, p, *args, **kw)
        rconn.client_kill_filter(_type="normal", skipme=True)
        return out

    monkeypatch.setattr(RedisStore, "_watch_project", then_kill)
    r = _upload(client, project, youtube_csv(), id_field="COMMENT_ID")
    assert r.status_code == 503 and r.headers["Retry-After"] == "1", r.json
    monkeypatch.setattr(RedisStore, "_watch_project", real)
    m = client.get(f"/api/projects/{project}/metrics", headers=auth()).json
    assert m["n_items"] == 0
    assert _upload(client, project, youtube_csv(), id_field="COMMENT_ID").status_code == 201


def test_a_body_with_nan_or_infinity_is_refused_and_stores_nothing(client, project):
    """Security trial: NaN, Infinity and 1e999 (read as inf) were taken in API bodies;
    a field rule of value NaN, or one of [1e999, 2], was stored and every later
    /rules answer held NaN or Infinity, which JSON.parse refuses: the dashboard's
    rule table said "Unexpected token 'N'" and no rule could be managed there."""
    url = f"/api/projects/{project}/rules"
    for op, value in [("==", "NaN"), ("==", "Infinity"), ("!=", "-Infinity"), ("==", "1e999"),
                      ("in", "[1e999, 2]"), ("in", "[NaN]"), ("==", "-1E400")]:
        r = client.post(url, headers=auth(), content_type="application/json",
                        data='{"name": "n", "label": 0, "kind": "field", "field": "AUTHOR", '
                             f'"op": "{op}", "value": {value}}}')
        assert r.status_code == 400, (value, r.json)
        assert "not valid JSON" in r.json["error"] and "finite" in r.json["error"], r.json
    assert client.get(url, headers=auth()).json["rules"] == []
    ok = client.post(url, headers=auth(), content_type="application/json",
                     data='{"name": "n", "label": 0, "kind": "field", "field": "AUTHOR", '
                          '"op": ">", "value": 1.5e300}')
    assert ok.status_code == 201, ok.json


def test_an_answer_writes_nan_or_infinity_stored_before_as_null(client, store, project):
    """Security trial: a value no JSON has (NaN, or inf, as an upload's 1e999 was
    stored) that a project holds from before the checks on the way in was written
    into every answer carrying it, which JSON.parse refuses: a labeling page whose
    next item held one said "not valid JSON" and retried the same item for good,
    and the dashboard could show no rule. Answers write such a value as null."""
    url = f"/api/projects/{project}/rules"
    r = client.post(url, headers=auth(), json={"name": "n", "label": 0, "kind": "field",
                                               "field": "AUTHOR", "op": "in",
                                               "value": [1, 2]})
    assert r.status_code == 201, r.json
    key = store._k(project, "rules")
    record = json.loads(store.r.hget(key, "n"))
    record["rule"]["value"] = [float("inf"), float("nan"), 2]  # as stored before
    store.r.hset(key, "n", json.dumps(record))
    r = client.get(url, headers=auth())

    def refuse(name: str) -> None:
        raise AssertionError(f"{name} in an answer")

    got = json.loads(r.get_data(as_text=True), parse_constant=refuse)
    assert got["rules"][0]["rule"]["value"] == [None, None, 2]
    assert client.get(f"/api/projects/{project}", headers=auth()).status_code == 200


def test_the_json_lines_export_writes_infinity_stored_before_as_null(client, store, project):
    """Security trial: an item field stored as inf (an uploaded 1e999, before the
    upload's check) reached the JSON lines export as Infinity, which no strict JSON
    reader takes (as NaN did before a fault trial's fix on the way in)."""
    r = client.post(f"/api/projects/{project}/items", headers=auth(), content_type="text/csv",
                    data=b"CONTENT,n\nfirst text,1\nsecond text,2\n")
    assert r.status_code == 201, r.json
    key = store._k(project, "items")
    item_id = store.item_ids(project)[0]
    item = json.loads(store.r.hget(key, item_id))
    item["fields"]["n"] = float("inf")  # as stored before
    store.r.hset(key, item_id, json.dumps(item))
    r = client.get(f"/api/projects/{project}/export?format=jsonl", headers=auth())
    assert r.status_code == 200

    def refuse(name: str) -> None:
        raise AssertionError(f"{name} in the export")

    rows = [json.loads(line, parse_constant=refuse)
            for line in r.get_data(as_text=True).splitlines()]
    assert [row["fields"]["n"] for row in rows] == [None, "2"]


def test_a_body_that_is_not_json_says_what_is_wrong(client, project):
    url = f"/api/projects/{project}/queue/answer"
    r = client.post(url, headers=auth(), data='{"item_id": "x"}', content_type="text/plain")
    assert r.status_code == 400 and "Content-Type: application/json" in r.json["error"]
    r = client.post(url, headers=auth(), data='{"item_id": ', content_type="application/json")
    assert r.status_code == 400, r.json
    assert r.json["error"] == "body is not valid JSON: Expecting value: line 1 column 13 (char 12)"
    # fault trial: a 5000-digit number was "not valid JSON" with no reason
    r = client.post(url, headers=auth(), data='{"label": ' + "9" * 5000 + "}",
                    content_type="application/json")
    assert r.status_code == 400
    assert r.json["error"] == "body is not valid JSON: a number in it has more than 4300 digits"
    r = client.post(url, headers=auth(), json=["a"])
    assert r.status_code == 400 and r.json["error"] == "body must be a JSON object"
    # operator's trial: the deletes that take no body went ahead with a broken one
    tok = client.post(f"/api/projects/{project}/annotators", headers=auth(),
                      json={"name": "victim"}).json["token"]
    client.post(f"/api/projects/{project}/rules", headers=auth(),
                json={"name": "r9", "label": "ham", "kind": "keywords", "keywords": ["nice"]})
    for path in ("annotators/victim", "rules/r9"):
        for data, ctype in (("this is not json", "text/plain"), ("{broken", "application/json"),
                            ('{"confirm": "x"}', "application/json")):
            r = client.delete(f"/api/projects/{project}/{path}", headers=auth(), data=data,
                              content_type=ctype)
            assert r.status_code == 400, (path, data, r.json)
    assert client.get(f"/api/projects/{project}/queue/me", headers=auth(tok)).status_code == 200
    assert "r9" in [x["name"] for x in client.get(f"/api/projects/{project}/rules",
                                                  headers=auth()).json["rules"]]
    assert client.delete(f"/api/projects/{project}/annotators/victim",
                         headers=auth()).status_code == 200


def test_a_project_redis_lost_is_a_404_not_served_from_memory(app, client, project, rconn):
    """Operator trial: after a FLUSHALL the web processes kept answering for the
    project from their cache (200, zero metrics) and an upload wrote keys for it."""
    import time

    app.extensions["loop"]["store"].project_cache_seconds = 0.2
    assert client.get(f"/api/projects/{project}", headers=auth()).status_code == 200
    rconn.delete(f"loop:project:{project}")  # what a FLUSHALL does to it
    rconn.srem("loop:projects", project)
    time.sleep(0.3)
    assert client.get(f"/api/projects/{project}", headers=auth()).status_code == 404
    before = set(rconn.keys(f"loop:p:{project}:*"))
    r = _upload(client, project, b"CONTENT\nhello\n")
    assert r.status_code == 404 and "no project" in r.json["error"]
    assert set(rconn.keys(f"loop:p:{project}:*")) == before  # nothing written


def test_refused_tokens_are_counted_over_the_last_60_seconds(store, monkeypatch):
    """Counted per clock minute, twice the limit got through across a minute's end,
    and weighing the previous minute as if spread over it (re-trial) did too: a
    burst at :58 was mostly forgotten at :02. Each token now counts for 60 s from
    when it was last sent, and the wait says when the count is under the limit."""
    from loop.storage import projects

    now = [100_000 * 60 + 58.5]  # a burst just before a minute's end
    monkeypatch.setattr(projects.time, "time", lambda: now[0])
    for i in range(10):
        store.note_refused_token("10.9.9.9", 60, f"guess-{i}")
    assert store.refused_tokens("10.9.9.9", 60, 8) == (10, 60)
    now[0] += 2.0  # the next minute: all 10 still count
    assert store.refused_tokens("10.9.9.9", 60, 8) == (10, 58)
    now[0] += 57.5
    assert store.refused_tokens("10.9.9.9", 60, 8) == (10, 1)
    now[0] += 0.6  # 60.1 s after the burst: out of the window
    assert store.refused_tokens("10.9.9.9", 60, 8) == (0, 0)
    store.note_refused_token("10.9.9.9", 60, "guess-0")  # sent again: counts anew, once
    store.note_refused_token("10.9.9.9", 60, "guess-0")
    assert store.refused_tokens("10.9.9.9", 60, 8) == (1, 0)
    assert store.refused_tokens("10.9.9.8", 60, 8) == (0, 0)  # per address


def test_refused_tokens_from_one_address_are_limited(app, client, store, monkeypatch):
    """Wrong keys were answered several hundred a second, as fast as a guesser could
    send them: past the limit an address gets 429 for its unknown tokens for the rest
    of the minute, and other addresses go on. An annotator's token is never held up
    (under docker compose every client has the Docker gateway's address: one
    client's stale token held up every annotator); an admin key from that address
    is (security trial: the right key among 800 guesses got 200 during the limit,
    so the limit did not slow a guesser down). Different tokens are counted: a
    client retrying one stale token guesses nothing, and holds nobody up."""

    from svc_helpers import configure

    configure(app, REFUSED_TOKENS_PER_MINUTE=5)
    for _ in range(20):  # one stale token, again and again
        assert client.get("/api/projects", headers=auth("a-revoked-token")).status_code == 401
    assert client.get("/api/projects", headers=auth()).status_code == 200
    for i in range(4):  # 5 different ones in all
        assert client.get("/api/projects", headers=auth(f"guess-{i}")).status_code == 401
    r = client.get("/api/projects", headers=auth("not-a-key-at-all"))
    assert r.status_code == 429, r.json
    assert "LOOP_REFUSED_TOKENS_PER_MINUTE" in r.json["error"]
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    assert client.get("/api/me", headers=auth("not-a-key-at-all")).status_code == 429
    for url in ("/api/me", "/api/projects"):  # the right key is not told from a wrong one
        r = client.get(url, headers=auth())
        assert r.status_code == 429 and "admin keys from this address wait" in r.json["error"]
    # ... nor by its time: a key and a guess take the same steps to their 429 (re-trial:
    # the key skipped the token lookup, and its 429 came sooner; 1 of 1,000 by time)
    steps: list[str] = []
    served = app.extensions["loop"]["store"]  # the web app's own
    for name in ("annotator_for_token", "refused_tokens", "note_refused_token"):
        real = getattr(served, name)
        monkeypatch.setattr(served, name, lambda *a, _n=name, _f=real: (steps.append(_n),
                                                                          _f(*a))[1])
    taken = {}
    for key in (ADMIN, "not-a-key-at-all"):
        steps.clear()
        r = client.get("/api/projects", headers=auth(key))
        taken[key] = (r.status_code, r.json["error"], list(steps))
    assert taken[ADMIN] == taken["not-a-key-at-all"], taken
    assert taken[ADMIN][0] == 429 and "annotator_for_token" in taken[ADMIN][2]
    monkeypatch.undo()
    other = {"REMOTE_ADDR": "10.0.0.2"}
    pid = client.post("/api/projects", headers=auth(), json={
        "name": "x", "labels": ["a", "b"]}, environ_base=other).json["id"]
    token = client.post(f"/api/projects/{pid}/annotators", headers=auth(),
                        json={"name": "ann"}, environ_base=other).json["token"]
    assert client.get("/api/me", headers=auth(token)).status_code == 200  # an annotator
    assert client.post(f"/api/projects/{pid}/queue/next", headers=auth(token),
                       json={}).status_code in (200, 204)
    assert client.get("/api/projects", headers=auth("not-a-key-at-all"),
                      environ_base=other).status_code == 401
    configure(app, REFUSED_TOKENS_PER_MINUTE=0)  # no limit
    assert client.get("/api/projects", headers=auth()).status_code == 200


def test_no_redirect_is_built_from_the_host_header(client):
    """Security trial: ``Host: evil.com`` on ``/p//evil.com`` got Werkzeug's
    redirect to the merged path, ``Location: http://evil.com/p/evil.com``."""
    for path in ("/p//evil.com", "/api//projects", "/static//app.js"):
        r = client.get("/", environ_overrides={"PATH_INFO": path},
                       headers={"Host": "evil.com"})
        assert r.status_code == 404 and "Location" not in r.headers, (path, r.status_code)


def test_every_query_argument_and_body_key_a_route_reads_is_documented(app, client):
    """README audit: /openapi.json, "the full schema", left out ?history, ?done,
    ?workers, and the body keys if_unchanged_since and examples. Each API view's own
    reads of query arguments (``whole_arg``, ``_bool_arg``, ``_float_arg``,
    ``request.args``) and body keys (``_body(...)``) are found in its source."""
    import inspect

    spec = client.get("/openapi.json").json["paths"]
    read_arg = re.compile(r'(?:whole_arg|_bool_arg|_float_arg|request\.args\.get(?:list)?)'
                          r'\(\s*"(\w+)"')
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(("/api/", "/healthz")):
            continue
        src = inspect.getsource(app.view_functions[rule.endpoint])
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            op = spec[path][method.lower()]
            params = {p["name"] for p in op.get("parameters", [])}
            for arg in read_arg.findall(src):
                assert arg in params, f"{method} {path}: ?{arg} not in /openapi.json"
            body = (op.get("requestBody", {}).get("content", {}).get("application/json", {})
                    .get("schema", {}).get("properties", {}))
            for keys in re.findall(r"_body\(([^)]+)\)", src):
                for key in re.findall(r'"(\w+)"', keys):
                    assert key in body, f"{method} {path}: body key {key!r} not in /openapi.json"


def test_the_other_success_statuses_a_route_answers_are_in_openapi(client):
    """API audit: /openapi.json listed only 200 for /queue/next (204 when nothing is
    left), 201 for an upload (200 for a dry run) and no 503 for /healthz, so a client
    made from it took those replies for errors."""
    spec = client.get("/openapi.json").json["paths"]
    assert "204" in spec["/api/projects/{pid}/queue/next"]["post"]["responses"]
    assert {"200", "201"} <= set(spec["/api/projects/{pid}/items"]["post"]["responses"])
    assert "503" in spec["/healthz"]["get"]["responses"]


def test_a_project_of_the_old_schema_says_so_and_can_be_deleted(client, rconn):
    """Upgrade trial: a project made before the service redesign (storage schema 1,
    not migrated) answered 500 on its pages' requests and called its tokens
    revoked. Now its requests get a 409 saying what it is, the home page lists it
    with that, and it can be deleted."""
    import json

    old = {"id": "0ld5c4e4a1", "name": "from 2026-11", "labels": ["a", "b"],
           "created_at": 1.0}  # no "schema": version 1
    rconn.set("loop:project:0ld5c4e4a1", json.dumps(old))
    rconn.sadd("loop:projects", "0ld5c4e4a1")
    rconn.set("loop:p:0ld5c4e4a1:L", b"not what this version reads")
    for url in ("/api/projects/0ld5c4e4a1", "/api/projects/0ld5c4e4a1/lfs",
                "/api/projects/0ld5c4e4a1/metrics"):
        r = client.get(url, headers=auth())
        assert r.status_code == 409 and r.json["code"] == "old_project", (url, r.json)
        assert "storage schema 1" in r.json["error"] and "not migrated" in r.json["error"]
    listed = client.get("/api/projects", headers=auth()).json["projects"]
    assert [p["id"] for p in listed] == ["0ld5c4e4a1"] and "schema 1" in listed[0]["old_schema"]
    r = client.delete("/api/projects/0ld5c4e4a1", headers=auth(),
                      json={"confirm": "from 2026-11"})
    assert r.status_code == 200, r.json
    assert client.get("/api/projects", headers=auth()).json["projects"] == []
    assert not rconn.keys("loop:p:0ld5c4e4a1:*")


def test_data_a_newer_version_wrote_is_refused(redis_url, rconn):
    """Upgrade trial: an older version started on a newer one's data served 500s and
    failed every apply run of the newer one's rules. The data's format is marked
    (``loop:format``), and a version older than the mark refuses to start."""
    from loop.storage.base import FORMAT, NewerData
    from loop.web import create_app

    create_app({"TESTING": True, "REDIS_URL": redis_url, "API_KEYS": ADMIN})
    assert int(rconn.get("loop:format")) == FORMAT  # marked by the first start
    rconn.set("loop:format", FORMAT + 1)  # as a newer version would leave it
    with pytest.raises(NewerData, match=f"newer loop \\(data format {FORMAT + 1}"):
        create_app({"TESTING": True, "REDIS_URL": redis_url, "API_KEYS": ADMIN})
    assert int(rconn.get("loop:format")) == FORMAT + 1  # left as it was


def test_healthz_counts_workers_of_an_older_version(client, rconn):
    """Compose upgrade trial: `docker compose up -d --build web` (the web app upgraded,
    its workers not) left the old workers taking the new version's jobs, and /healthz
    counted them alive like any other (nothing tells them to stop without a worker of
    this version); each that restarted refused the data. /healthz says so."""
    from loop.service.worker import alive_key

    rconn.sadd("loop:workers", "old", "new")
    rconn.set(alive_key("old"), "1", ex=12)  # as the versions before wrote it
    rconn.set(alive_key("new"), "4", ex=12)
    body = client.get("/healthz").json
    assert body["workers"] == 2 and body["older_workers"] == 1, body
    assert "older version" in body["note"] and "--build" in body["note"], body
    rconn.delete(alive_key("old"))
    assert "older_workers" not in client.get("/healthz").json


def test_data_with_token_lifetimes_is_kept_from_versions_that_ignore_them(client, rconn,
                                                                        project):
    """Upgrade trial: a version of data format 3 (before token lifetimes), started on
    this version's data, let a token past its lifetime work again (200, not 401), and
    failed every apply-run job of several units with a TypeError. This version marks
    its data 4, which those versions refuse to start on."""
    r = client.post(f"/api/projects/{project}/annotators", headers=auth(),
                    json={"name": "t", "expires_in_days": 1})
    assert r.status_code == 201, r.json
    assert int(rconn.get("loop:format")) >= 4


def test_metrics_carry_a_thinned_history_and_the_latest_scores(client, store, project):
    """Soak trial: a point every few answers, each one sent by every /metrics and read
    whole by every home-page line: 3 MB of them after a day at 4 answers a second."""
    for i in range(1500):
        store.append_metric(project, {"id": str(i), "n_gold": i, "label_model": i / 1500,
                                      "end_model": None, "at": float(i)})
    hist = client.get(f"/api/projects/{project}/metrics", headers=auth()).json["history"]
    assert len(hist) == 1000 and hist[0]["n_gold"] == 0
    assert [h["n_gold"] for h in hist[-200:]] == list(range(1300, 1500))  # newest: all
    gaps = {b["n_gold"] - a["n_gold"] for a, b in zip(hist[:800], hist[1:801], strict=True)}
    assert max(gaps) <= 2  # the older ones evenly spaced
    (line,) = client.get("/api/projects", headers=auth()).json["projects"]
    assert line["label_model"] == 1499 / 1500


def test_openapi_lists_a_rules_conditions_and_the_items_pages_parameters(client):
    """Data scientist's trial: /openapi.json, "the full schema", had no ``conditions``
    in a rule's body (POST and PUT /rules, /rules/preview), though the routes take it
    and the README shows it, and none of GET /items' query parameters (q, label, ...,
    limit), read through ``browse`` rather than the view: a client generated from it
    could not send either."""
    from loop.core.rules import CONDITION_FIELDS, FIELDS
    from loop.service.browse import PARAMS

    spec = client.get("/openapi.json").json["paths"]
    for path, method in (("/api/projects/{pid}/rules", "post"),
                         ("/api/projects/{pid}/rules/{name}", "put"),
                         ("/api/projects/{pid}/rules/preview", "post")):
        body = spec[path][method]["requestBody"]["content"]["application/json"]["schema"]
        body = body["oneOf"][0] if "oneOf" in body else body  # POST /rules: one, or a file
        assert set(FIELDS) <= set(body["properties"]), (path, set(FIELDS) - set(body["properties"]))
        cond = body["properties"]["conditions"]["items"]["properties"]
        assert set(cond) == set(CONDITION_FIELDS), (path, set(cond) ^ set(CONDITION_FIELDS))
    params = {p["name"] for p in spec["/api/projects/{pid}/items"]["get"]["parameters"]}
    assert set(PARAMS) <= params, set(PARAMS) - params


def test_an_unknown_query_parameter_is_a_400_naming_what_the_route_takes(client, project):
    """Data scientist's trial: ``/export?fromat=jsonl`` (a typo) sent CSV without a
    word, which ``pd.read_json(..., lines=True)`` then failed on; ``/queue/me?histroy=5``
    and ``/metrics?x=1`` were answered as if the parameter were not there. Uploads and
    /items refused an unknown parameter already; now every API route does, and
    changes nothing."""
    pid = project
    r = client.get(f"/api/projects/{pid}/export?fromat=jsonl", headers=auth())
    assert r.status_code == 400, r.data[:200]
    assert r.json["error"] == "unknown query parameter 'fromat'; this request takes format"
    r = client.get(f"/api/projects/{pid}/metrics?x=1&y=2", headers=auth())
    assert r.status_code == 400 and r.json["error"] == (
        "unknown query parameters 'x', 'y'; this request takes no query parameters")
    r = client.get(f"/api/projects/{pid}/jobs?limit=5", headers=auth())
    assert r.status_code == 400 and "takes auto" in r.json["error"]
    r = client.post("/api/projects?name=x", headers=auth(),
                    json={"name": "q", "labels": ["a", "b"]})
    assert r.status_code == 400 and "'name'" in r.json["error"]
    assert len(client.get("/api/projects", headers=auth()).json["projects"]) == 1
    # what the routes take still goes through, pages too
    for url in (f"/api/projects/{pid}/export?format=jsonl", f"/api/projects/{pid}/jobs?auto=true",
                f"/api/projects/{pid}/rules/suggestions?k=3", f"/api/projects/{pid}/items?limit=5",
                "/healthz?workers=0"):
        assert client.get(url, headers=auth()).status_code in (200, 503), url


def test_openapi_json_is_openapi_3_0_as_it_says(client):
    """Data scientist's trial: /openapi.json says "openapi": "3.0.3" but wrote three
    schemas in 3.1's words (``"type": ["number", "null"]``, ``{"type": "null"}``, a
    number for ``exclusiveMinimum``), which a 3.0 validator (openapi-spec-validator)
    refused, and so would a client generator: 3.0 says ``nullable: true`` and a
    boolean ``exclusiveMinimum``."""
    spec = client.get("/openapi.json").json
    assert spec["openapi"].startswith("3.0.")
    types = {"string", "number", "integer", "boolean", "array", "object"}

    def walk(node, where):
        if isinstance(node, dict):
            if "type" in node and not isinstance(node["type"], dict):
                assert node["type"] in types, (where, node["type"])
            for key in ("exclusiveMinimum", "exclusiveMaximum", "nullable"):
                assert isinstance(node.get(key, False), bool), (where, key, node[key])
            for k, v in node.items():
                walk(v, f"{where}/{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{where}/{i}")

    walk(spec["paths"], "")
    body = spec["paths"]["/api/projects/{pid}/annotators"]["post"]["requestBody"]
    days = body["content"]["application/json"]["schema"]["properties"]["expires_in_days"]
    assert days["nullable"] and days["exclusiveMinimum"] is True and days["minimum"] == 0


def test_a_jobs_format_goes_with_an_export_only(client, project):
    """Data scientist's trial: ``{"type": "recalibrate", "format": "csv"}`` was taken,
    its format dropped without a word, where ``recalibrate: true`` with any type but
    apply_lfs is a 400."""
    url = f"/api/projects/{project}/jobs"
    r = client.post(url, headers=auth(), json={"type": "recalibrate", "format": "csv"})
    assert r.status_code == 400, r.json
    assert r.json["error"].startswith("format goes with type export only")
    assert client.get(url, headers=auth()).json["jobs"] == []
    assert client.post(url, headers=auth(), json={"type": "export", "format": "csv"}
                       ).status_code == 202
