import json

import numpy as np
import pytest

from loop.core.datasets import DatasetError, load_wrench
from loop.core.simulation import simulate


def make_dataset(tmp_path, train_gold):
    """Two classes, three LFs of known accuracy, train gold as given (-1 = unknown)."""
    rng = np.random.default_rng(0)

    def split(n, gold):
        y = rng.integers(0, 2, n)
        rows = {}
        for i in range(n):
            votes = [int(y[i]) if rng.random() < 0.8 else int(1 - y[i]) for _ in range(3)]
            votes = [v if rng.random() < 0.6 else -1 for v in votes]
            rows[str(i)] = {"label": int(y[i]) if gold is None else gold(i, int(y[i])),
                            "weak_labels": votes}
        return rows

    (tmp_path / "label.json").write_text(json.dumps({"0": "a", "1": "b"}))
    (tmp_path / "train.json").write_text(json.dumps(split(200, train_gold)))
    (tmp_path / "test.json").write_text(json.dumps(split(100, None)))
    return load_wrench(tmp_path)


@pytest.mark.parametrize("strategy", ["random", "loop", "uncertainty", "weasul"])
def test_expert_only_answers_items_whose_gold_is_known(tmp_path, strategy):
    # Only the first 15 train rows have gold: the curve stops there, never loops.
    ds = make_dataset(tmp_path, lambda i, y: y if i < 15 else -1)
    logged = []
    out = simulate(ds, budget=40, batch_size=10, seed=0, strategy=strategy, log=logged.append)
    assert [p["n_gold"] for p in out["curve"]] == [0, 10, 15]
    # and it says why it stopped short (new-user trial: budget 1000 ended at 238, unexplained)
    assert out["stopped_before_budget"] == ("every item with a gold label in the fit split "
                                            "was answered (15)")
    assert logged[-1].startswith("loop: stopped at 15 of 40 answers: every item")
    assert out["scored_on"] == "test"
    assert "stopped_before_budget" not in simulate(ds, budget=10, seed=0, strategy=strategy)


def test_a_single_file_set_says_its_answered_rows_are_scored(tmp_path):
    """An all.json set is fitted and scored on the same rows (the crowd sets); a
    curve there counts the answered rows too, and the run says so."""
    ds = make_dataset(tmp_path, None)
    rows = json.loads((tmp_path / "train.json").read_text())
    (tmp_path / "train.json").unlink()
    (tmp_path / "test.json").unlink()
    (tmp_path / "all.json").write_text(json.dumps(rows))
    ds = load_wrench(tmp_path)
    logged = []
    out = simulate(ds, budget=10, seed=0, log=logged.append)
    assert out["scored_on"] == "all" and "the rows fitted on are the rows scored" in logged[0]


def test_no_train_gold_is_a_clear_error(tmp_path):
    ds = make_dataset(tmp_path, lambda i, y: None)
    with pytest.raises(DatasetError, match="no gold labels"):
        simulate(ds, budget=10, batch_size=10, seed=0)
    # With budget 0 there is nothing to ask: the curve has its n_gold = 0 point.
    assert [p["n_gold"] for p in simulate(ds, budget=0)["curve"]] == [0]


def test_test_rows_without_a_label_are_not_scored(tmp_path):
    """WRENCH files mark unknown gold with -1 (the README says so for your own data):
    on the test split those rows are left out of every score, not counted wrong."""
    from loop.core.simulation import evaluate

    ds = make_dataset(tmp_path, None)
    full = evaluate(ds, "acc")
    test = json.loads((tmp_path / "test.json").read_text())
    for i, row in enumerate(test.values()):
        if i % 2:
            row["label"] = -1
    (tmp_path / "test.json").write_text(json.dumps(test))
    half = evaluate(load_wrench(tmp_path), "acc")
    assert half["n_test"] == 50 and half["n_test_unlabeled"] == 50 and full["n_test"] == 100
    # a data scientist's trial: simulate said nothing of it, and evaluate left the gold
    # run out without a word where there is no valid split
    curve = simulate(load_wrench(tmp_path), budget=10, seed=0)
    assert curve["n_test"] == 50 and curve["n_test_unlabeled"] == 50
    assert "label_model_gold" not in half["models"]
    assert half["label_model_gold_skipped"] == "no valid.json"
    lm = half["models"]["label_model"]["score"]
    assert lm > 0.7 and abs(lm - full["models"]["label_model"]["score"]) < 0.1
    curve = simulate(load_wrench(tmp_path), budget=10, batch_size=10)["curve"]
    assert curve[0]["label_model"] > 0.7
    for row in test.values():
        row["label"] = -1
    (tmp_path / "test.json").write_text(json.dumps(test))
    with pytest.raises(DatasetError, match="has no gold labels"):
        evaluate(load_wrench(tmp_path), "acc")


def test_a_run_that_runs_out_of_new_texts_says_so(tmp_path):
    """Items whose text copies an answered one's are not asked (their answer is
    known), so the run stops short of its budget, and says why."""
    words = ["free cash now", "win a prize", "hello friend", "see you soon", "call me later"]
    rows = {str(i): {"label": int(i % 5 < 2), "weak_labels": [int(i % 5 < 2), -1],
                     "data": {"text": words[i % 5]}} for i in range(20)}
    (tmp_path / "label.json").write_text(json.dumps({"0": "ham", "1": "spam"}))
    (tmp_path / "train.json").write_text(json.dumps(rows))
    (tmp_path / "test.json").write_text(json.dumps(rows))
    out = simulate(load_wrench(tmp_path), budget=20, batch_size=5, seed=0)
    assert out["curve"][-1]["n_gold"] == 5
    assert out["stopped_before_budget"] == (
        "the strategy asked for no more items: the 15 items with a gold label not answered "
        "copy the features of answered ones (their answers are known)")


def test_without_train_json_the_gold_runs_skip_is_not_blamed_on_the_valid_gold(tmp_path):
    """chemprot_partial (valid.json and test.json): evaluate fits on valid, so it
    cannot anchor a fit with valid's gold; it said "the valid split has no gold
    label", though every valid row has one."""
    from loop.core.simulation import evaluate

    make_dataset(tmp_path, None)
    (tmp_path / "train.json").rename(tmp_path / "valid.json")
    out = evaluate(load_wrench(tmp_path), "acc")
    assert out["label_model_gold_skipped"].startswith("no train.json"), out
