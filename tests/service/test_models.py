"""The service runs the loop the benchmarks measure: a project driven through the
service gets the same probabilities and the same ranking as the same data in
``LabelingLoop``. Rankings from older state never replace newer ones; a new L
is published in one switch."""

from __future__ import annotations

import numpy as np
import pytest
from svc_helpers import HELD_OUT_QUERY, apply_lfs_in_process, auth, held_out_csv

from loop import LabelingLoop
from loop.core.label_model import LabelModel
from loop.service import models, queue, reports
from loop.service.state import State


@pytest.mark.slow
def test_the_service_and_labeling_loop_compute_the_same_step(client, store, project):
    client.post(f"/api/projects/{project}/items?{HELD_OUT_QUERY}", data=held_out_csv(),
                headers={**auth(), "Content-Type": "text/csv"})
    apply_lfs_in_process(store, project)
    models.recalibrate(store, project, 40)
    models.retrain_end_model(store, project, 40)
    # 80 answers through the queue: exploration picks among them become random gold,
    # the end model's gold weight is chosen by cross-validation (30+ gold), and
    # beyond 50 the sampler reads the end model's model of the gold alone too
    for _ in range(80):
        iid, lid, _ = store.lease_next(project, "expert", 60)
        queue.answer(store, project, "expert", iid, int(iid[-1], 36) % 2, lid)
    models.recalibrate(store, project, 40)
    models.retrain_end_model(store, project, 40)

    st = State(store, project)
    assert st.n_gold == 80 and 0 < st.random_gold.sum() < 80
    texts = [it["text"] for it in store.items(project)]
    loop = LabelingLoop(st.L, texts, n_classes=2, random_state=0, held_out=st.eval_rows()[0])
    loop.y[:] = st.y
    loop.random_gold[:] = st.random_gold
    loop.fit()
    assert np.array_equal(loop.lm_proba_, store.load_proba(project, "label_model", 2))
    assert loop.gold_weight_ is not None
    assert store.model_summary(project, "end_model")["gold_weight"] == loop.gold_weight_
    assert np.array_equal(loop.end_proba_, store.load_proba(project, "end_model", 2))
    assert loop.gold_proba_ is not None
    assert np.array_equal(loop.gold_proba_, store.load_proba(project, "gold_view", 2))
    sel = loop.rank(40, exclude=st.exclude())
    rows = store.rows_of(project, store.queued_ids(project))
    assert rows.tolist() == sel.indices.tolist()
    # and the gold's view moves the ranking (without it, another order)
    loop.sampler.gold_view_weight = 0.0
    assert loop.rank(40, exclude=st.exclude()).indices.tolist() != sel.indices.tolist()
    reasons = [store.reason(project, i) for i in store.queued_ids(project)]
    assert [r == "exploration" for r in reasons] == sel.random.tolist()
    # the dashboard's model agreement: on the items an LF votes on (elsewhere the
    # label model only guesses its class balance)
    covered = (st.L >= 0).any(axis=1)
    same = loop.lm_proba_[covered].argmax(1) == loop.end_proba_[covered].argmax(1)
    m = client.get(f"/api/projects/{project}/metrics", headers=auth()).json
    assert m["n_agreement"] == int(covered.sum()) and m["agreement"] == pytest.approx(same.mean())


@pytest.mark.slow
def test_a_retrain_reports_each_fit_of_its_gold_weights_choice(client, store, project):
    """Speed trial: a retrain that chose the gold weight at 100,000 items reported
    1 of 3 steps, then nothing for 91 s, near the 120 s after which the dashboard
    says a job made no progress and its worker may be frozen. Each of the
    cross-validation's fits is a step of its own now; a retrain that keeps the
    weight passes over them at once."""
    client.post(f"/api/projects/{project}/items?id_field=COMMENT_ID&gold_field=CLASS"
                "&eval_fraction=0.3", data=held_out_csv(),
                headers={**auth(), "Content-Type": "text/csv"})
    apply_lfs_in_process(store, project)
    models.recalibrate(store, project, 40)
    steps, seen = models.END_MODEL_STEPS, []
    models.retrain_end_model(store, project, 40, progress=lambda d, t: seen.append((d, t)))
    assert store.model_summary(project, "end_model")["gold_weight_at"] >= 30  # chosen now
    assert seen == [(d, steps) for d in range(1, steps + 1)], seen
    seen.clear()
    models.retrain_end_model(store, project, 40, progress=lambda d, t: seen.append((d, t)))
    assert seen == [(1, steps), (steps - 1, steps), (steps, steps)], seen


def test_a_ranking_from_older_state_never_replaces_a_newer_one(store, project):
    store.add_items(project, [{"id": str(i), "text": "t", "fields": {}} for i in range(5)],
                    {}, [], first_row=0)
    v = store.state_version(project)
    assert store.replace_queue(project, [("1", 2.0, "r"), ("2", 1.0, "r")], v + 1)
    assert not store.replace_queue(project, [("3", 9.0, "r")], v)  # stale: kept the newer
    assert store.queued_ids(project) == ["1", "2"]
    assert store.replace_queue(project, [("4", 1.0, "r")], v + 1)  # same state: replaced
    assert store.queued_ids(project) == ["4"]


def test_an_answer_during_a_retrain_is_seen_by_its_ranking(client, store, project,
                                                           monkeypatch):
    """The end-model retrain re-reads the state after training: an answer that came
    in while it trained is not ranked again, and its ranking is not stale."""
    client.post(f"/api/projects/{project}/items?{HELD_OUT_QUERY}", data=held_out_csv(),
                headers={**auth(), "Content-Type": "text/csv"})
    apply_lfs_in_process(store, project)
    models.recalibrate(store, project, 40)
    answered = []
    real_fit = models.fit_end_model

    def fit_and_meanwhile_answer(*a, **kw):
        out = real_fit(*a, **kw)
        iid, lid, _ = store.lease_next(project, "fast", 60)
        queue.answer(store, project, "fast", iid, 0, lid)
        answered.append(iid)
        return out

    monkeypatch.setattr(models, "fit_end_model", fit_and_meanwhile_answer)
    out = models.retrain_end_model(store, project, 40)
    assert out["queue_replaced"] and answered[0] not in store.queued_ids(project)


def test_an_end_model_trained_on_more_answers_gets_its_own_point(client, store, project):
    """The retrain a recalibration asked for may run after more answers came in: its
    score goes on a point at the gold it was trained on, not on the older one."""
    client.post(f"/api/projects/{project}/items?{HELD_OUT_QUERY}", data=held_out_csv(),
                headers={**auth(), "Content-Type": "text/csv"})
    apply_lfs_in_process(store, project)
    asked = models.recalibrate(store, project, 40)["id"]
    models.retrain_end_model(store, project, 40, point_id=asked)  # same gold: filled in
    first = store.metrics_history(project)
    assert len(first) == 1 and first[0]["end_model"] is not None
    for _ in range(3):
        iid, lid, _ = store.lease_next(project, "fast", 60)
        queue.answer(store, project, "fast", iid, 0, lid)
    asked = models.recalibrate(store, project, 40)["id"]
    before = [h for h in store.metrics_history(project) if h["id"] == asked][0]
    for _ in range(2):  # two more answers before the retrain runs
        iid, lid, _ = store.lease_next(project, "fast", 60)
        queue.answer(store, project, "fast", iid, 0, lid)
    models.retrain_end_model(store, project, 40, point_id=asked)
    hist = store.metrics_history(project)
    assert [h["n_gold"] for h in hist] == [0, 3, 5]
    assert hist[1] == before  # the recalibration's point keeps what it had
    # and shows no end-model score: the model then was trained on 0 answers, not 3
    assert before["label_model"] is not None and before["end_model"] is None
    assert hist[2]["label_model"] is None and hist[2]["end_model"] is not None


def test_the_score_history_kept_in_redis_stays_under_its_cap(store, monkeypatch):
    """A soak trial's project gained 1,000 points an hour, all kept: past the cap the
    older points are thinned (every second one, the first kept), the newest whole,
    and a retrain still finds its point among them."""
    from loop.storage import history

    monkeypatch.setattr(history, "METRICS_CAP", 40)
    monkeypatch.setattr(history, "METRICS_RECENT", 10)
    kept = [store.append_metric("p", {"id": f"i{n}", "n_gold": n}) for n in range(200)]
    assert max(kept) == 40 and kept[:40] == list(range(1, 41))
    got = [h["n_gold"] for h in store.metrics_history("p")]
    assert len(got) <= 40 and got[0] == 0 and got[-10:] == list(range(190, 200))
    assert got == sorted(got)  # still in order, older ones sparser
    assert store.update_metric("p", "i195", {"end_model": 0.9})
    assert [h for h in store.metrics_history("p") if h["n_gold"] == 195][0]["end_model"] == 0.9


def test_a_new_L_is_published_in_one_switch(client, store, project):
    client.post(f"/api/projects/{project}/items", data=b"CONTENT\nhttp://x\nhi\nsubscribe\n",
                headers={**auth(), "Content-Type": "text/csv"})
    apply_lfs_in_process(store, project, chunk_size=2)
    L1, meta1 = store.load_L(project)
    old_chunks = meta1["chunks"]
    apply_lfs_in_process(store, project, chunk_size=3)  # a new layout: every chunk new ...
    L2, meta2 = store.load_L(project)
    assert meta2["version"] > meta1["version"] and not set(old_chunks) & set(meta2["chunks"])
    assert np.array_equal(L1, L2)
    # ... and the old version stays readable for a while (a reader mid-read still
    # finds it), then expires
    assert all(0 < store.r.ttl(k) <= 600 for k in old_chunks)
    assert all(store.r.ttl(k) == -1 for k in meta2["chunks"])


def test_the_gold_check_is_kept_between_recalibrations_as_in_labeling_loop(store):
    """With 30+ random gold the label model checks how to use it (15 fits); the fast
    path keeps that decision until the random gold grew by a quarter, in the
    service (label-model summary) exactly as in ``LabelingLoop``."""
    import json

    from loop.service.synthetic import write_project

    pid, y = write_project(store, 3000, n_eval=200)
    models.recalibrate(store, pid, 20)
    st = State(store, pid)
    loop = LabelingLoop(st.L, n_classes=2, random_state=0)
    rows = [r for r in np.random.default_rng(0).permutation(3000)
            if str(r) not in store.eval_ids(pid)]

    def answer(rs):  # random picks (exploration), as the sampler draws them
        store.r.hset(store._k(pid, "gold"), mapping={
            str(r): json.dumps({"label": int(y[r]), "annotator": "t", "at": 0, "lease": f"l{r}"})
            for r in rs})
        store.r.sadd(store._k(pid, "audit"), *[str(r) for r in rs])  # as lease.lua marks
        loop.teach(np.asarray(rs), y[np.asarray(rs)], refit=False, random=True)
        models.recalibrate(store, pid, 20)
        loop.fit()
        check = store.model_summary(pid, "label_model")["gold_check"]
        assert np.array_equal(loop.lm_proba_, store.load_proba(pid, "label_model", 2))
        assert check == json.loads(json.dumps(loop.label_model_.gold_check_))
        return check

    first = answer(rows[:40])
    assert first["n_random_gold"] == 40 and "kept" not in first
    # the LF table says how the gold was let in, and what the check found
    use = reports.lf_stats(store, pid)["gold_use"]
    assert use["n_random_gold"] == 40 and use["check"]["n"] == 40, use
    assert use["check"]["use"] == first["use"]
    assert use["check"]["correct"] == first["correct"]
    assert set(use["check"]["correct"]) == set(LabelModel.GOLD_USES)
    kept = answer(rows[40:45])
    assert kept["kept"] and kept["n_random_gold"] == 40
    use = reports.lf_stats(store, pid)["gold_use"]  # fitted on 45, the check's 40 kept
    assert use["n_random_gold"] == 45 and use["check"]["n"] == 40, use
    again = answer(rows[45:50])  # 50 >= 1.25 x 40
    assert "kept" not in again and again["n_random_gold"] == 50


def test_the_label_models_score_counts_the_held_out_items_an_lf_votes_on(
        client, store, project):
    """Where no LF votes the label model gives the class balance, one guess for all
    such items (the export labels them with the end model): its held-out score is
    taken where an LF votes, and the point says on how many."""
    client.post(f"/api/projects/{project}/items?{HELD_OUT_QUERY}", data=held_out_csv(),
                headers={**auth(), "Content-Type": "text/csv"})
    apply_lfs_in_process(store, project)
    point = models.recalibrate(store, project, 20)
    st = State(store, project)
    rows, y = st.eval_rows()
    covered = (st.L[rows] >= 0).any(axis=1)
    assert 0 < covered.sum() < rows.size  # the youtube LFs leave some comments alone
    lm = store.load_proba(project, "label_model", 2)
    assert point["n_eval"] == rows.size and point["n_eval_covered"] == int(covered.sum())
    assert point["label_model"] == pytest.approx(
        float((lm[rows[covered]].argmax(axis=1) == y[covered]).mean()))
    m = client.get(f"/api/projects/{project}/metrics", headers=auth()).json
    assert m["history"][-1]["n_eval_covered"] == int(covered.sum())
    assert point["end_model_covered"] is None  # no end model trained on this gold yet
    # the end model is scored on those items too, to be read beside the label model
    # (a new user read the label model's higher line as the exported labels being the
    # worse ones, where on the same items the two were level)
    retrained = models.retrain_end_model(store, project, 20)
    em = store.load_proba(project, "end_model", 2)
    m = client.get(f"/api/projects/{project}/metrics", headers=auth()).json
    last = m["history"][-1]
    # the retrain's job result says it too (the recalibration's had null)
    assert last["end_model_covered"] is not None
    assert retrained["end_model_covered"] == pytest.approx(last["end_model_covered"])
    assert last["end_model"] == pytest.approx(float((em[rows].argmax(axis=1) == y).mean()))
    assert last["end_model_covered"] == pytest.approx(
        float((em[rows[covered]].argmax(axis=1) == y[covered]).mean()))
    assert m["held_out_by_class"]["end_model_covered"]["n"] == int(covered.sum())
    assert m["held_out_by_class"]["end_model"]["n"] == rows.size


def test_models_are_scored_on_exploration_answers_they_had_not_seen(client, store, project):
    """Without uploaded labels the dashboard still has a held-out score: each
    exploration answer is predicted by the stored models before they learn it,
    once, and scored against the answer."""
    client.post(f"/api/projects/{project}/items?{HELD_OUT_QUERY}", data=held_out_csv(),
                headers={**auth(), "Content-Type": "text/csv"})
    apply_lfs_in_process(store, project)
    models.recalibrate(store, project, 40)
    models.retrain_end_model(store, project, 40)
    lm = store.load_proba(project, "label_model", 2).copy()
    em = store.load_proba(project, "end_model", 2).copy()
    said = {}
    for _ in range(20):
        iid, lid, _ = store.lease_next(project, "expert", 60)
        said[iid] = int(iid[-1], 36) % 2
        queue.answer(store, project, "expert", iid, said[iid], lid)
    explored = sorted(store.audit_ids(project))
    assert 0 < len(explored) < 20
    rows = store.rows_of(project, explored)
    covered = (State(store, project).L >= 0).any(axis=1)

    models.recalibrate(store, project, 40)  # both stored models, before it learns them
    want_lm = {i: f"{lm[r].argmax()}:0" if covered[r] else "-"
               for i, r in zip(explored, rows, strict=True)}
    # the end model's check says whether an LF voted on the item
    want_em = {i: f"{em[r].argmax()}:0:{int(covered[r])}"
               for i, r in zip(explored, rows, strict=True)}
    assert store.unseen_checks(project, "label_model") == want_lm
    assert store.unseen_checks(project, "end_model") == want_em
    m = client.get(f"/api/projects/{project}/metrics", headers=auth()).json["unseen"]
    right = sum(int(v.split(":")[0]) == said[i] for i, v in want_em.items())
    assert m["end_model"]["n"] == len(explored) and m["end_model"]["right"] == right
    assert m["end_model"]["low"] <= right / len(explored) <= m["end_model"]["high"]
    n_lm = sum(v != "-" for v in want_lm.values())
    assert 0 < n_lm and m["label_model"]["n"] == n_lm and m["label_model"]["recent_n"] == n_lm
    # the end model on the items the label model is scored on, and on the others
    # (a new user read "label model 94% where an LF votes, end model 71%" as the
    # exported labels being the worse ones)
    for key, want in (("covered", "1"), ("silent", "0")):
        mine = [i for i, v in want_em.items() if v.endswith(":" + want)]
        assert m["end_model"][key] == {
            "n": len(mine), "right": sum(int(want_em[i].split(":")[0]) == said[i] for i in mine)}
    assert m["end_model"]["covered"]["n"] == n_lm  # the label model's items, here
    assert m["end_model"]["covered"]["n"] + m["end_model"]["silent"]["n"] == m["end_model"]["n"]
    # the home page's line has them too (shown where no uploaded labels are held out)
    home = client.get("/api/projects", headers=auth()).json
    mine = [p for p in home["projects"] if p["id"] == project]
    assert mine[0]["unseen"] == m

    # once each: the models fitted on these answers do not score them again
    models.retrain_end_model(store, project, 40)
    models.recalibrate(store, project, 40)
    assert store.unseen_checks(project, "end_model") == want_em
    assert store.unseen_checks(project, "label_model") == want_lm
    # a relabeled answer is scored against the label it has now
    iid = next(iter(want_em))
    queue.relabel(store, project, "expert", iid, 1 - said[iid])
    was_right = int(want_em[iid].split(":")[0]) == said[iid]
    m = client.get(f"/api/projects/{project}/metrics", headers=auth()).json["unseen"]
    assert m["end_model"]["right"] == right + (-1 if was_right else 1)
    # an undone random pick comes back as one: answered again, it is still a random
    # pick, scored by the prediction made before its first answer was learned (a
    # new-user trial saw it come back as "Model uncertain" and drop from the count);
    # undone ones not answered again are not counted
    queue.relabel(store, project, "expert", iid, said[iid])  # back as it was
    n_before = m["end_model"]["n"]
    order = list(said)  # in the order answered; undo takes back the last answer
    other = [i for i in order if i in explored and i != iid][-1]
    undone = order[order.index(other):]
    for i in reversed(undone):
        assert queue.undo(store, project, "expert", item_id=i)["undone"]
    got = store.lease_next_full(project, "second", 60)
    while got["item_id"] != other:  # walk the queue to it
        store.skip(project, "second", got["item_id"], got["lease_id"])
        got = store.lease_next_full(project, "second", 60)
    assert got["reason"] == "exploration"
    queue.answer(store, project, "second", other, said[other], got["lease_id"])
    assert other in store.audit_ids(project)
    m = client.get(f"/api/projects/{project}/metrics", headers=auth()).json["unseen"]
    assert m["end_model"]["n"] == n_before - sum(i in explored for i in undone) + 1
    # checks noted before the end model's said where an LF voted (a project upgraded
    # with its answers): no split, not a wrong one, until the next run completes them
    split = {k: m["end_model"][k] for k in ("covered", "silent")}
    checks = store.unseen_checks(project, "end_model")
    store.r.delete(store._k(project, "unseen", "end_model"))
    store.note_unseen(project, "end_model", {i: v if v == "-" else v.rsplit(":", 1)[0]
                                             for i, v in checks.items()})
    m = client.get(f"/api/projects/{project}/metrics", headers=auth()).json["unseen"]
    assert m["end_model"]["n"] > 0
    assert m["end_model"]["covered"] is None and m["end_model"]["silent"] is None
    models.recalibrate(store, project, 40)
    assert store.unseen_checks(project, "end_model") == checks
    m = client.get(f"/api/projects/{project}/metrics", headers=auth()).json["unseen"]
    assert {k: m["end_model"][k] for k in ("covered", "silent")} == split


def test_a_model_is_stored_with_its_fit_gold_and_the_first_check_stays(store, project):
    """What check_unseen reads: which rows had gold in a model's fit (an answer
    among them was seen by it: "-"), and one check per item, the first."""
    store.add_items(project, [{"id": str(i), "text": f"t {i}", "fields": {}} for i in range(4)],
                    {}, [], first_row=0)
    st_rows = np.zeros(4, dtype=bool)
    st_rows[:2] = True  # rows 0 and 1 had gold in its fit
    store.save_model(project, "end_model", np.full((4, 2), 0.5),
                     {"n_gold": 2, "state_version": 0}, fit_gold=st_rows)
    proba, summary, fit = store.load_model(project, "end_model", 2)
    assert fit.tolist() == [True, True, False, False] and summary["n_gold"] == 2
    store.note_unseen(project, "end_model", {"1": "-", "2": "0:2"})
    store.note_unseen(project, "end_model", {"2": "1:9"})  # the first check stays
    assert store.unseen_checks(project, "end_model") == {"1": "-", "2": "0:2"}
    # the end model's model of the gold alone goes with it, and a fit without one
    # leaves none behind
    view = np.tile([0.2, 0.8], (4, 1))
    assert store.save_model(project, "end_model", np.full((4, 2), 0.5),
                            {"n_gold": 2, "state_version": 1}, also={"gold_view": view})
    assert np.array_equal(store.load_proba(project, "gold_view", 2), view)
    # read together, both are of one fit
    em, gv = store.load_probas(project, ["end_model", "gold_view"], 2)
    assert np.array_equal(gv, view) and em.shape == (4, 2)
    assert store.save_model(project, "end_model", np.full((4, 2), 0.5),
                            {"n_gold": 2, "state_version": 2}, also={"gold_view": None})
    assert store.load_proba(project, "gold_view", 2) is None
    assert store.load_probas(project, ["gold_view", "nothing"], 2) == [None, None]


def test_a_failing_check_on_random_picks_never_stops_a_recalibration(
        client, store, project, monkeypatch, caplog):
    client.post(f"/api/projects/{project}/items?{HELD_OUT_QUERY}", data=held_out_csv(),
                headers={**auth(), "Content-Type": "text/csv"})
    apply_lfs_in_process(store, project)

    def broken(*a, **kw):
        raise ValueError("a bad stored check")

    monkeypatch.setattr(models, "check_unseen", broken)
    out = models.recalibrate(store, project, 40)
    assert out["queue_size"] == 40 and out["label_model"] is not None
    assert models.retrain_end_model(store, project, 40)["end_model"] is not None
    assert "the check on unseen random picks failed" in caplog.text


def test_the_lf_table_says_how_the_random_gold_is_used():
    """Before the check, the count and when it starts; after it, the way kept and
    each way's held-out rows right, from the stored label model's summary."""
    before = reports.gold_use({"n_random_gold": 12, "gold_check": None})
    assert before == {"fitted": True, "assumed_accuracy": 0.7, "n_random_gold": 12,
                      "check_from": reports.GOLD_CHECK_MIN, "recheck_growth": 1.25,
                      "check": None}
    assert reports.gold_use({})["fitted"] is False and reports.gold_use({})["check"] is None
    correct = {"anchored": 28, "gold": 29, "clamp_only": 33, "none": 36}
    refused = reports.gold_use({"n_random_gold": 50, "gold_check": {
        "use": "none", "n_random_gold": 40, "n_lfs": 3, "kept": True, "correct": correct,
        "abstentions": {"used": False, "correct": 35}, "gold_layer": {"used": True}}})
    assert refused["check"] == {"use": "none", "n": 40, "correct": correct,
                                "learns_precisions": False, "gold_layer": True,
                                "gold_layer_weight": 1.0, "abstentions": False,
                                "reading": "silence", "weights": None}
    w = {"votes": 0.1, "silence": 0.2, "rates": 0.7}
    rates = reports.gold_use({"n_random_gold": 100, "gold_check": {
        "use": "anchored", "n_random_gold": 100, "correct": correct,
        "abstentions": {"used": True, "reading": "rates", "weights": w, "correct": 80}}})["check"]
    assert rates["abstentions"] is True and rates["reading"] == "rates" and rates["weights"] == w
    assert rates["gold_layer"] is False and rates["gold_layer_weight"] == 0.0
    layered = reports.gold_use({"n_random_gold": 100, "gold_check": {
        "use": "anchored", "n_random_gold": 100, "correct": correct,
        "gold_layer": {"used": True, "weight": 0.4}}})["check"]
    assert layered["gold_layer"] is True and layered["gold_layer_weight"] == 0.4


def test_metrics_give_precision_recall_and_f1_per_class_on_the_held_out_items(
        client, store, project):
    """Accuracy hides a rare class (a service trial had to read sms's F1 of spam out
    of Redis); /metrics has each class's precision, recall and F1 of the last
    models on the held-out items, the label model's where an LF votes."""
    from sklearn.metrics import f1_score, precision_score, recall_score
    from svc_helpers import prepare_project

    pid = prepare_project(store, client, project, end_model=True)
    st = State(store, pid)
    rows, y = st.eval_rows()
    m = client.get(f"/api/projects/{pid}/metrics", headers=auth()).json["held_out_by_class"]
    em = store.load_proba(pid, "end_model", 2)[rows].argmax(1)
    spam = m["end_model"]["classes"]["spam"]
    assert m["end_model"]["n"] == rows.size and spam["support"] == int((y == 1).sum())
    assert spam["precision"] == pytest.approx(precision_score(y, em), abs=1e-6)
    assert spam["recall"] == pytest.approx(recall_score(y, em), abs=1e-6)
    assert m["end_model"]["macro_f1"] == pytest.approx(f1_score(y, em, average="macro"))
    covered = st.eval_covered()
    lm = store.load_proba(pid, "label_model", 2)[rows[covered]].argmax(1)
    assert m["label_model"]["n"] == int(covered.sum())
    assert m["label_model"]["classes"]["ham"]["f1"] == pytest.approx(
        f1_score(y[covered], lm, pos_label=0), abs=1e-6)


def test_a_score_per_class_that_is_zero_over_zero_is_null(client, store, project):
    """A class no held-out item has has no recall or F1 (they read 0.0, as if the
    model missed every one), and one the model never gives no precision."""
    from svc_helpers import prepare_project

    pid = prepare_project(store, client, project, end_model=False)
    st = State(store, pid)
    rows, y = st.eval_rows()
    all_ham = np.tile([1.0, 0.0], (st.n, 1))
    spam = st.eval_report(all_ham)["classes"]["spam"]
    assert spam["support"] > 0 and spam["precision"] is None
    assert spam["recall"] == 0.0 and spam["f1"] == 0.0
    ham_only = rows[y == 0]
    all_spam = np.tile([0.0, 1.0], (st.n, 1))
    st.eval_rows = lambda: (ham_only, np.zeros(ham_only.size, dtype=int))  # type: ignore[method-assign]
    report = st.eval_report(all_spam)
    spam = report["classes"]["spam"]
    assert spam["support"] == 0 and spam["recall"] is None and spam["f1"] is None
    assert spam["precision"] == 0.0 and report["macro_f1"] == 0.0
