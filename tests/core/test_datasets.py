import json

import pytest

from loop.core.datasets import DatasetError, load_wrench


def write(tmp_path, name, obj):
    (tmp_path / name).write_text(json.dumps(obj))


def test_loads_any_wrench_directory(tmp_path):
    write(tmp_path, "label.json", {"0": "neg", "1": "pos"})
    split = {"7": {"label": 1, "weak_labels": [1, -1], "data": {"text": "good"}},
             "9": {"label": 0, "weak_labels": [-1, 0], "data": {"text": "bad"}}}
    write(tmp_path, "train.json", split)
    write(tmp_path, "test.json", split)
    ds = load_wrench(tmp_path)
    tr = ds.splits["train"]
    assert ds.label_names == ["neg", "pos"] and tr.ids == ["7", "9"]
    assert tr.L.tolist() == [[1, -1], [-1, 0]] and tr.texts == ["good", "bad"]


@pytest.mark.parametrize(
    "split, match",
    [
        ({"0": {"label": 0}}, "needs 'label' and 'weak_labels'"),
        ({"0": {"label": 5, "weak_labels": [0]}}, "outside"),
        ({"0": {"label": "b", "weak_labels": [0]}}, r"has label 'b', not a class id \(a whole "
                                                    r"number, a key of label.json"),
        ({"0": {"label": True, "weak_labels": [0]}}, "has label True, not a class id"),
        ({"0": {"label": 0, "weak_labels": [0]}, "1": {"label": 0, "weak_labels": [3]}},
         r"row '1' has weak label 3 \(LF 0\); weak labels must be"),
        ({"0": {"label": 0, "weak_labels": [0]}, "1": {"label": 0, "weak_labels": [0, 1]}},
         "weak labels, earlier rows have"),
    ],
)
def test_malformed_files_raise_one_clear_error(tmp_path, split, match):
    write(tmp_path, "label.json", {"0": "a", "1": "b"})
    write(tmp_path, "train.json", split)
    write(tmp_path, "test.json", split)
    with pytest.raises(DatasetError, match=match):
        load_wrench(tmp_path)


def test_missing_files(tmp_path):
    with pytest.raises(DatasetError, match="no label.json"):
        load_wrench(tmp_path)


def test_null_label_means_gold_unknown(tmp_path):
    write(tmp_path, "label.json", {"0": "neg", "1": "pos"})
    split = {"0": {"label": None, "weak_labels": [1, -1]},
             "1": {"label": 0, "weak_labels": [-1, 0]}}
    write(tmp_path, "train.json", split)
    write(tmp_path, "test.json", split)
    assert load_wrench(tmp_path).splits["train"].y.tolist() == [-1, 0]


def test_one_class_and_true_as_a_vote_are_named_in_the_files_terms(tmp_path):
    """A label.json of one class was refused by the label model ("n_classes must be
    a whole number >= 2"), not by the loader naming the file; a vote of ``true``
    passed as class 1."""
    split = {"0": {"label": 0, "weak_labels": [0, -1], "data": {"text": "x"}}}
    write(tmp_path, "label.json", {"0": "ham"})
    write(tmp_path, "train.json", split)
    write(tmp_path, "test.json", split)
    with pytest.raises(DatasetError, match=r"label.json names 1 class; a label space needs 2"):
        load_wrench(tmp_path)
    write(tmp_path, "label.json", {"0": "ham", "1": "spam"})
    write(tmp_path, "train.json", {"0": {"label": 0, "weak_labels": [True, -1]}})
    with pytest.raises(DatasetError, match="non-integer weak_labels"):
        load_wrench(tmp_path)


def test_the_end_model_reads_a_relation_items_pair_as_the_service_does(tmp_path):
    """One loop: the service's end model reads a relation item's entity pair after its
    text (chemprot trial: every pair of a sentence was exported with one label); the
    simulation and the benchmarks read the same, and rules the text alone."""
    from loop.core.relations import relation_text

    text = "Aspirin blocks COX-1 but not COX-2 ."
    write(tmp_path, "label.json", {"0": "none", "1": "inhibits"})
    rows = {str(i): {"label": i, "weak_labels": [-1], "data": {
        "text": text, "entity1": e, "entity2": "Aspirin", "span1": s, "span2": [0, 7]}}
        for i, (e, s) in enumerate([("COX-2", [27, 32]), ("COX-1", [15, 20])])}
    rows["2"] = {"label": 0, "weak_labels": [-1], "data": {"text": "no pair"}}
    write(tmp_path, "train.json", rows)
    write(tmp_path, "test.json", rows)
    tr = load_wrench(tmp_path).splits["train"]
    assert tr.texts == [text, text, "no pair"]
    read = tr.model_texts
    assert read == [relation_text(d["text"], d) for d in tr.data]
    assert read[0] != read[1] and read[2] == "no pair"
    assert read[1].endswith("e1_cox e2_aspirin btw_blocks e2_first")
