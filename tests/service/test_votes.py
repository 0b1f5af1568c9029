"""LF votes uploaded with the items (WRENCH's ``weak_labels``) are LFs of the project."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from svc_helpers import annotator_token, apply_lfs_in_process, auth, run_burst


@pytest.fixture
def rules_project(client):
    r = client.post("/api/projects", headers=auth(), json={"name": "wrench",
                                                           "labels": ["ham", "spam"]})
    assert r.status_code == 201, r.json
    return r.json["id"]


def _upload(client, pid, data: bytes, ctype="application/json", **args):
    query = "&".join(f"{k}={v}" for k, v in args.items())
    return client.post(f"/api/projects/{pid}/items?{query}", data=data,
                       headers={**auth(), "Content-Type": ctype})


def test_a_wrench_file_with_its_weak_labels_is_labelled_by_them_as_the_core_does(
        client, store, rules_project, rconn, shared_data):
    """The service's loop on uploaded votes is the library's: its L is the file's
    weak_labels and its label model the one `LabelModel` fits on them."""
    from loop.core.step import fit_label_model

    pid = rules_project
    raw = (shared_data / "youtube" / "train.json").read_bytes()
    rows = json.loads(raw)
    r = _upload(client, pid, raw, id_field="id", text_field="data.text", drop="label",
                votes_field="weak_labels")
    assert r.status_code == 201, r.json
    assert r.json["votes"]["n"] == 10 and r.json["votes"]["lfs"][-1] == "weak_labels[9]"
    assert r.json["votes"]["n_items_with_votes"] == len(rows)
    voted = sum(any(v >= 0 for v in row["weak_labels"]) for row in rows.values())
    assert r.json["votes"]["n_items_voted"] == voted < len(rows)  # the rest: all abstain
    assert r.json["apply_job"]  # votes are LFs ready to apply: no button to press first
    run_burst(rconn)

    L, meta = store.load_L(pid)
    assert meta["lf_names"] == [f"weak_labels[{j}]" for j in range(10)]
    ids = store.item_ids(pid)
    expected = np.array([rows[i]["weak_labels"] for i in ids])
    assert np.array_equal(L, expected)
    ours = store.load_proba(pid, "label_model", 2)
    core = fit_label_model(expected, np.full(len(ids), -1), n_classes=2).predict_proba(expected)
    assert np.allclose(ours, core, atol=1e-6)

    lfs = client.get(f"/api/projects/{pid}/lfs", headers=auth()).json["lfs"]
    assert {x["source"] for x in lfs} == {"votes"} and len(lfs) == 10
    # annotators never see the uploaded votes: neither as a field nor as LF votes
    # (new-user trial: every item listed them, "weak_labels[136] Member-Collection")
    token = annotator_token(client, pid, "ann")
    for _ in range(5):
        got = client.post(f"/api/projects/{pid}/queue/next", headers=auth(token)).json
        assert "weak_labels" not in got["item"]["fields"], got["item"]
        assert got["item"]["votes"] == [], got["item"]
        # ... only how many there are (re-trial: "No LF fired" beside "LFs conflict")
        row = store.rows_of(pid, [got["item"]["id"]])[0]
        assert got["item"]["uploaded_votes"] == int((expected[row] >= 0).sum())
        assert client.post(f"/api/projects/{pid}/queue/skip", headers=auth(token), json={
            "item_id": got["item"]["id"], "lease_id": got["lease"]["id"]}).status_code == 200
    # a rule may not take a votes LF's name; other rules join the votes
    bad = client.post(f"/api/projects/{pid}/rules", headers=auth(), json={
        "name": "weak_labels[3]", "label": "spam", "kind": "keywords", "keywords": ["x"]})
    assert bad.status_code == 400 and "uploaded" in bad.json["error"]
    ok = client.post(f"/api/projects/{pid}/rules", headers=auth(), json={
        "name": "subscribe", "label": "spam", "kind": "keywords", "keywords": ["subscribe"]})
    assert ok.status_code == 201, ok.json
    apply_lfs_in_process(store, pid)
    L2, meta2 = store.load_L(pid)
    assert meta2["lf_names"][:10] == meta["lf_names"] and meta2["lf_names"][10] == "subscribe"
    assert np.array_equal(L2[:, :10], expected)
    # ... and a rule's votes are shown as before
    seen = []
    for _ in range(30):
        got = client.post(f"/api/projects/{pid}/queue/next", headers=auth(token)).json
        seen += got["item"]["votes"]
        assert client.post(f"/api/projects/{pid}/queue/skip", headers=auth(token), json={
            "item_id": got["item"]["id"], "lease_id": got["lease"]["id"]}).status_code == 200
    assert {v["lf"] for v in seen} <= {"subscribe"}


def test_later_uploads_read_the_same_column_and_items_without_votes_abstain(
        client, store, rules_project, rconn):
    pid = rules_project
    first = [{"id": "a", "text": "check out my channel", "weak_labels": [1, -1, None]},
             {"id": "b", "text": "love this song", "weak_labels": [-1, "ham", 0]}]
    r = _upload(client, pid, json.dumps(first).encode(), id_field="id",
                votes_field="weak_labels")
    assert r.status_code == 201, r.json
    run_burst(rconn)
    # no votes_field: the project's column is read; a row without it abstains
    more = b'{"id": "c", "text": "subscribe pls", "weak_labels": [1, 1, -1]}\n' \
           b'{"id": "d", "text": "no votes here"}\n'
    r = _upload(client, pid, more, "application/x-ndjson", id_field="id")
    assert r.status_code == 201 and r.json["votes"]["n_items_with_votes"] == 1, r.json
    assert r.json["votes"]["n_items_voted"] == 1
    assert r.json["apply_job"]
    run_burst(rconn)
    L, _ = store.load_L(pid)
    assert L.tolist() == [[1, -1, -1], [-1, 0, 0], [1, 1, -1], [-1, -1, -1]]
    assert "weak_labels" not in store.items(pid, ["c"])[0]["fields"]
    # annotators see a rule's votes, never the uploaded ones
    ok = client.post(f"/api/projects/{pid}/rules", headers=auth(), json={
        "name": "subscribe", "label": "spam", "kind": "keywords", "keywords": ["subscribe"]})
    assert ok.status_code == 201, ok.json
    run_burst(rconn)
    token = annotator_token(client, pid, "ann")
    shown = {}
    for _ in range(4):
        got = client.post(f"/api/projects/{pid}/queue/next", headers=auth(token)).json
        shown[got["item"]["id"]] = got["item"]["votes"]
        assert client.post(f"/api/projects/{pid}/queue/skip", headers=auth(token), json={
            "item_id": got["item"]["id"], "lease_id": got["lease"]["id"]}).status_code == 200
    assert shown == {"a": [], "b": [], "c": [{"lf": "subscribe", "label": "spam"}], "d": []}
    # a file without the column is told so (new-user trial: votes in another column
    # were kept as a field, silently)
    r = _upload(client, pid, b'{"id": "f", "text": "other column", "v2": [1, 1, 1]}\n',
                "application/x-ndjson", id_field="id", dry_run="1")
    assert r.status_code == 200 and r.json["votes"]["n_items_with_votes"] == 0
    assert "read from the column 'weak_labels', which no row of this file has (this file " \
           "has a column of lists, 'v2'" in r.json["note"], r.json
    r = _upload(client, pid, b'{"id": "f", "text": "left out", "weak_labels": [1, 1, 1]}\n',
                "application/x-ndjson", id_field="id", dry_run="1", drop="weak_labels")
    assert "'weak_labels', which this upload leaves out (drop)" in r.json["note"], r.json
    # another column is refused: the project's LFs are those of the first
    r = _upload(client, pid, b'{"id": "e", "text": "x y z w v", "v": [1, 1, 1]}\n',
                "application/x-ndjson", id_field="id", votes_field="v")
    assert r.status_code == 400 and "'weak_labels'" in r.json["error"]
    assert store.n_items(pid) == 4


@pytest.mark.parametrize("votes,why", [
    ([1, -1], "must list 3 LFs' votes, got 2, as most rows of this file do"),
    ([1, 2, -1], "vote 1 (counted from 0) is 2; a vote is a class index 0..1"),
    ([1, "eggs", -1], 'vote 1 (counted from 0) is "eggs"'),  # no class of that name
    ("1,0,1", "a list such as"),       # not a list
    ([True, 0, 1], "vote 0 (counted from 0) is true"),     # a boolean is no class
    # an object: read as fields wl.a, wl.b, and so shown to annotators (operator's trial)
    ({"a": 1, "b": 0}, "its LF votes are an object (a, b), not a list"),
])
def test_malformed_votes_are_a_400_that_stores_nothing(client, store, rules_project,
                                                       votes, why):
    # the odd row second: the number of LFs is what most rows list, not the first's
    rows = [{"id": "c", "text": "an item of text", "wl": [1, 1, 1]},
            {"id": "b", "text": "second item text", "wl": votes},
            {"id": "a", "text": "first item text", "wl": [0, 1, -1]}]
    r = _upload(client, rules_project, json.dumps(rows).encode(), id_field="id",
                votes_field="wl")
    assert r.status_code == 400 and why in r.json["error"], r.json
    assert "item 2 (id 'b')" in r.json["error"]
    assert store.n_items(rules_project) == 0 and store.votes_spec(rules_project) is None


def test_a_votes_column_no_row_has_is_a_400(client, store, rules_project):
    r = _upload(client, rules_project, b'[{"text": "an item of text"}]', votes_field="wl")
    assert r.status_code == 400 and "no row has LF votes" in r.json["error"]
    # ... nor one where every vote abstains (operator's trial: accepted, and then every
    # recalibration failed "no LF votes on any item")
    r = _upload(client, rules_project, b'[{"text": "an item", "wl": [-1, null]}, '
                b'{"text": "another", "wl": [null, -1]}]', votes_field="wl")
    assert r.status_code == 400 and "abstains" in r.json["error"], r.json
    r = _upload(client, rules_project, b'[{"text": "an item of text", "wl": [1]}]',
                votes_field="wl", drop="wl")
    assert r.status_code == 400 and "both" in r.json["error"]
    # re-trial: a column "v/x" made the LFs "v/x[0]" .., which no URL could switch off
    rows = b'[{"text": "an item of text", "v/x": [1, 0]}]'
    r = _upload(client, rules_project, rows, votes_field="v%2Fx")
    assert r.status_code == 400 and "'v/x[0]'" in r.json["error"], r.json
    assert "votes_names" in r.json["error"]
    assert store.n_items(rules_project) == 0
    r = _upload(client, rules_project, rows, votes_field="v%2Fx", votes_names="a,b")
    assert r.status_code == 201 and r.json["votes"]["lfs"] == ["a", "b"], r.json


def test_votes_from_a_csv_cell_are_read_as_json(client, store, rules_project, rconn):
    csv = b'text,votes\n"buy now, cheap","[1,-1]"\nnice video,"[0, 0]"\n'
    r = _upload(client, rules_project, csv, "text/csv", votes_field="votes")
    assert r.status_code == 201, r.json
    run_burst(rconn)
    L, _ = store.load_L(rules_project)
    assert L.tolist() == [[1, -1], [0, 0]]


def test_uploaded_lfs_can_be_named_at_their_first_upload(client, store, rules_project, rconn):
    """A Snorkel user's L comes with its LFs' names; the LF table shows them."""
    pid = rules_project
    rows = b'[{"text": "check my channel", "L": [1, -1]}, {"text": "nice song", "L": [-1, 0]}]'
    bad = _upload(client, pid, rows, votes_field="L", votes_names="has_channel")
    assert bad.status_code == 400 and "gives 1 names for 2" in bad.json["error"]
    bad = _upload(client, pid, rows, votes_field="L", votes_names="a,A")
    assert bad.status_code == 400 and "given twice: 'A'" in bad.json["error"]
    assert store.n_items(pid) == 0
    r = _upload(client, pid, rows, votes_field="L", votes_names="has_channel, says_song")
    assert r.status_code == 201 and r.json["votes"]["lfs"] == ["has_channel", "says_song"]
    run_burst(rconn)
    L, meta = store.load_L(pid)
    assert meta["lf_names"] == ["has_channel", "says_song"] and L.tolist() == [[1, -1], [-1, 0]]
    lfs = client.get(f"/api/projects/{pid}/lfs", headers=auth()).json["lfs"]
    assert [(x["name"], x["source"]) for x in lfs] == [("has_channel", "votes"),
                                                       ("says_song", "votes")]
    again = _upload(client, pid, b'[{"text": "more text here", "L": [1, 1]}]',
                    votes_field="L", votes_names="x,y")
    assert again.status_code == 400 and "named already" in again.json["error"]
    rule = client.post(f"/api/projects/{pid}/rules", headers=auth(), json={
        "name": "Says_Song", "label": "ham", "kind": "keywords", "keywords": ["song"]})
    assert rule.status_code == 400 and "uploaded" in rule.json["error"]


def test_a_rule_and_the_first_upload_of_votes_cannot_take_one_name(client, store,
                                                                  rules_project):
    """Operator's trial: a rule and the first votes upload sent at the same moment
    both got a 201 with one name (the rule never applied, and could be neither edited
    nor deleted). Each side's write checks the other's names as they are when it is
    written: here the other side's record lands between the check and the write."""
    from loop.core.rules import Rule
    from loop.errors import Conflict

    pid = rules_project
    rule = {"name": "zz", "label": 1, "kind": "keywords", "keywords": ["x"]}
    # the upload's checks passed, then the rule was saved: the upload is refused
    now = time.time()
    store.write_rule(pid, "zz", {"rule": Rule.from_dict(rule, 2).to_dict(), "enabled": True,
                                 "created_at": now, "updated_at": now, "history": []},
                     expect=None)
    items = [{"id": "a", "text": "t", "fields": {}, "votes": [1, -1]}]
    with pytest.raises(Conflict, match="a rule 'zz' was saved meanwhile"):
        store.add_items(pid, items, {}, [], 0, votes={"field": "L", "n": 2,
                                                      "names": ["ZZ", "b"]})
    assert store.n_items(pid) == 0 and store.votes_spec(pid) is None
    # the rule's checks passed, then the votes were stored: the rule is refused
    store.add_items(pid, items, {}, [], 0, votes={"field": "L", "n": 2, "names": ["q", "b"]})
    with pytest.raises(Conflict, match="taken by an LF whose votes were uploaded"):
        store.write_rule(pid, "Q", {"rule": {**rule, "name": "Q"}, "enabled": True,
                                    "created_at": now, "updated_at": now, "history": []},
                         expect=None)
    assert list(store.rules(pid)) == ["zz"]


def test_the_last_rule_of_a_project_with_votes_can_be_switched_off(client, store,
                                                                   rules_project, rconn):
    """Operator's trial: 409 "the project's only enabled LF" beside 10 uploaded ones."""
    pid = rules_project
    rows = b'[{"text": "check my channel", "L": [1, -1]}, {"text": "nice song", "L": [-1, 0]}]'
    assert _upload(client, pid, rows, votes_field="L").status_code == 201
    run_burst(rconn)
    url = f"/api/projects/{pid}/rules"
    assert client.post(url, headers=auth(), json={
        "name": "song", "label": "ham", "kind": "keywords",
        "keywords": ["song"]}).status_code == 201
    run_burst(rconn)
    r = client.put(f"{url}/song", headers=auth(), json={"enabled": False})
    assert r.status_code == 200, r.json
    r = client.delete(f"{url}/song", headers=auth())
    assert r.status_code in (200, 204), r.json
    assert store.rules(pid) == {}


def test_an_uploaded_lf_is_switched_off_and_on_again(client, store, rules_project, rconn):
    """A bad LF among uploaded votes could only go by uploading the items again: now
    it is switched off (its column is left out at the next apply, the models stop
    reading it; the LF table still lists it to switch it on), and back on."""
    pid = rules_project
    rows = [{"id": "a", "text": "check out my channel", "weak_labels": [1, -1, 0]},
            {"id": "b", "text": "love this song", "weak_labels": [-1, 0, 0]},
            {"id": "c", "text": "subscribe pls", "weak_labels": [1, 1, -1]}]
    r = _upload(client, pid, json.dumps(rows).encode(), id_field="id", votes_field="weak_labels")
    assert r.status_code == 201, r.json
    run_burst(rconn)
    url = f"/api/projects/{pid}/lfs/weak_labels[1]"
    r = client.put(url, headers=auth(), json={"enabled": False})
    assert r.status_code == 200 and r.json["changed"] and r.json["job_id"], r.json
    stats = {x["name"]: x for x in client.get(f"/api/projects/{pid}/lfs",
                                              headers=auth()).json["lfs"]}
    assert stats["weak_labels[1]"]["enabled"] is False and stats["weak_labels[1]"]["leaving"]
    run_burst(rconn)
    L, meta = store.load_L(pid)
    assert meta["lf_names"] == ["weak_labels[0]", "weak_labels[2]"]
    assert L.tolist() == [[1, 0], [-1, 0], [1, -1]]
    stats = {x["name"]: x for x in client.get(f"/api/projects/{pid}/lfs",
                                              headers=auth()).json["lfs"]}
    assert stats["weak_labels[1]"]["enabled"] is False and not stats["weak_labels[1]"]["leaving"]
    assert stats["weak_labels[1]"]["coverage"] is None and stats["weak_labels[0]"]["enabled"]
    # the same again: nothing changes, nothing is applied
    r = client.put(url, headers=auth(), json={"enabled": False})
    assert r.status_code == 200 and not r.json["changed"] and r.json["job_id"] is None
    # bad requests change nothing
    for body, code in [({"enabled": "no"}, 400), ({}, 400), ({"enabled": False, "x": 1}, 400)]:
        assert client.put(url, headers=auth(), json=body).status_code == code
    assert client.put(f"/api/projects/{pid}/lfs/nope", headers=auth(),
                      json={"enabled": False}).status_code == 404
    token = annotator_token(client, pid, "ann")
    assert client.put(url, headers=auth(token), json={"enabled": True}).status_code == 403
    # the last LF still on stays on: the models would have no votes to read
    assert client.put(f"/api/projects/{pid}/lfs/weak_labels[0]", headers=auth(),
                      json={"enabled": False}).status_code == 200
    r = client.put(f"/api/projects/{pid}/lfs/weak_labels[2]", headers=auth(),
                   json={"enabled": False})
    assert r.status_code == 409 and "only LF still on" in r.json["error"], r.json
    # a rule is switched as a rule
    assert client.post(f"/api/projects/{pid}/rules", headers=auth(), json={
        "name": "subscribe", "label": "spam", "kind": "keywords",
        "keywords": ["subscribe"]}).status_code == 201
    r = client.put(f"/api/projects/{pid}/lfs/subscribe", headers=auth(), json={"enabled": False})
    assert r.status_code == 400 and "is a rule" in r.json["error"]
    # with a rule on, the last uploaded LF may go too; then back on, all of them
    assert client.put(f"/api/projects/{pid}/lfs/weak_labels[2]", headers=auth(),
                      json={"enabled": False}).status_code == 200
    run_burst(rconn)
    # ... and then the rule is the last LF on: it stays on as well
    r = client.put(f"/api/projects/{pid}/rules/subscribe", headers=auth(), json={"enabled": False})
    assert r.status_code == 409 and "only enabled LF" in r.json["error"], r.json
    for name in ("weak_labels[0]", "weak_labels[1]", "weak_labels[2]"):
        r = client.put(f"/api/projects/{pid}/lfs/{name}", headers=auth(), json={"enabled": True})
        assert r.status_code == 200 and r.json["changed"], r.json
    # on, not applied yet: listed as arriving (fault trial: they vanished from the table)
    stats = {x["name"]: x for x in client.get(f"/api/projects/{pid}/lfs",
                                              headers=auth()).json["lfs"]}
    assert all(stats[f"weak_labels[{j}]"]["enabled"] and stats[f"weak_labels[{j}]"]["arriving"]
               for j in range(3)), stats
    run_burst(rconn)
    L, meta = store.load_L(pid)
    assert meta["lf_names"] == ["weak_labels[0]", "weak_labels[1]", "weak_labels[2]", "subscribe"]
    assert L[:, :3].tolist() == [[1, -1, 0], [-1, 0, 0], [1, 1, -1]]


def test_the_last_lf_on_stays_on_when_a_switch_and_a_rule_disable_cross(
        client, store, rules_project, rconn):
    """An uploaded LF switched off and the only rule disabled at the same moment: each
    checked the other still on before it wrote. The rule's write checks again in its
    transaction, against the switched-off LFs as they are then."""
    from loop.errors import Conflict
    from loop.service import rules as svc_rules

    pid = rules_project
    rows = b'[{"text": "check my channel", "L": [1]}, {"text": "nice song", "L": [0]}]'
    assert _upload(client, pid, rows, votes_field="L").status_code == 201
    run_burst(rconn)
    assert client.post(f"/api/projects/{pid}/rules", headers=auth(), json={
        "name": "song", "label": "ham", "kind": "keywords",
        "keywords": ["song"]}).status_code == 201
    run_burst(rconn)
    old = store.rules(pid)["song"]
    msg = svc_rules._keep_one(store, pid, "song")  # checked: the uploaded LF is on
    assert msg
    sources = svc_rules.source_lfs(store, pid)
    assert sources == ["L[0]"]
    # meanwhile the uploaded LF is switched off (the rule is on: allowed) ...
    assert store.switch_lf(pid, "L[0]", False, sources, last_one="x")
    # ... so the rule's disable, checked again when it writes, is refused
    with pytest.raises(Conflict, match="only enabled LF"):
        store.write_rule(pid, "song", {**old, "enabled": False}, expect=old, last_one=msg,
                         sources=sources)
    assert store.rules(pid)["song"]["enabled"]
