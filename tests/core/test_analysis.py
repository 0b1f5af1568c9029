import numpy as np
import pytest

from loop.core.analysis import lf_summary, lf_summary_frame


def test_summary_counts_coverage_overlap_conflict_and_accuracy():
    L = np.array([[0, 0, -1], [1, 0, -1], [-1, 1, 1], [-1, -1, -1]])
    y = np.array([0, 1, 1, -1])
    rows = lf_summary(L, ["a", "b", "c"], y=y, learned_accuracy=[0.9, 0.6, 0.8],
                      errors={"c": 2})
    a, b, c = rows
    assert a["polarity"] == [0, 1] and b["polarity"] == [0, 1] and c["polarity"] == [1]
    assert a["coverage"] == 0.5 and c["coverage"] == 0.25
    assert b["overlaps"] == 0.75 and b["conflicts"] == 0.25
    assert (a["correct"], a["incorrect"], a["empirical_accuracy"]) == (2, 0, 1.0)
    assert (b["correct"], b["incorrect"]) == (2, 1)
    assert c["learned_accuracy"] == 0.8 and c["errors"] == 2 and a["errors"] == 0


def test_counts_on_the_random_gold_alone():
    """An active-learning sampler picks the items where LFs conflict: there a fine LF
    is wrong far more often, so its counts on the random gold are kept apart."""
    L = np.array([[1], [1], [1], [1], [-1]])
    y = np.array([1, 0, 0, 1, 0])
    rows = lf_summary(L, ["a"], y=y, random_gold=[True, False, False, True, True])
    (a,) = rows
    assert (a["correct"], a["incorrect"]) == (2, 2)
    assert (a["random_correct"], a["random_incorrect"]) == (2, 0)
    assert "random_correct" not in lf_summary(L, ["a"], y=y)[0]


def test_frame_and_bad_names():
    L = np.array([[0, -1], [1, 1]])
    df = lf_summary_frame(L, ["x", "y"])
    assert list(df.index) == ["x", "y"]
    assert "empirical_accuracy" not in df.columns
    with pytest.raises(ValueError, match="names has 1"):
        lf_summary(L, ["x"])


def test_the_errors_of_apply_lfs_are_counted_per_lf():
    from loop.core.apply import apply_lfs
    from loop.core.lf import labeling_function

    @labeling_function()
    def broken(x):
        return x.missing

    @labeling_function()
    def fine(x):
        return 0

    L, errors = apply_lfs([broken, fine], [{"text": "a"}] * 3, n_classes=2, warn=False)
    rows = lf_summary(L, ["broken", "fine"], errors=errors)
    assert [r["errors"] for r in rows] == [3, 0]
    assert [r["errors"] for r in lf_summary(L, ["broken", "fine"], errors={"broken": 2})] == [2, 0]


def test_learned_accuracies_of_another_matrix_are_refused():
    L = np.array([[0, 1], [1, -1]])
    with pytest.raises(ValueError, match=r"one value per LF \(2\), got shape \(1,\)"):
        lf_summary(L, ["a", "b"], learned_accuracy=[0.5])


def test_the_frame_counts_the_random_gold_as_the_dicts_do():
    # lf_summary takes random_gold; its DataFrame twin raised TypeError on it.
    pytest.importorskip("pandas")
    L = np.array([[0, 1], [0, -1], [1, 1], [-1, 0]])
    y = np.array([0, 1, 1, 0])
    random_gold = np.array([True, False, True, False])
    frame = lf_summary_frame(L, ["a", "b"], y=y, random_gold=random_gold)
    rows = lf_summary(L, ["a", "b"], y=y, random_gold=random_gold)
    assert frame["random_correct"].tolist() == [r["random_correct"] for r in rows] == [2, 1]
    assert frame["random_incorrect"].tolist() == [r["random_incorrect"] for r in rows] == [0, 1]


def test_the_lfs_themselves_name_the_rows_and_find_their_errors():
    # Snorkel's habit, LFAnalysis(L, lfs): the rows were named
    # "LabelingFunction('a')" and the errors of apply_lfs, keyed by name, were
    # counted as 0 for every LF.
    from loop import ABSTAIN, Rule, apply_lfs, labeling_function

    @labeling_function()
    def breaks(x):
        return 1 if x.missing else ABSTAIN

    rule = Rule("says_hi", 0, "keywords", keywords=("hi",))
    L, errors = apply_lfs([breaks, rule], [{"text": "hi"}, {"text": "yo"}], n_classes=2,
                          warn=False)
    rows = lf_summary(L, [breaks, rule], errors=errors)
    assert [r["name"] for r in rows] == ["breaks", "says_hi"]
    assert [r["errors"] for r in rows] == [2, 0]
    assert lf_summary_frame(L, [breaks, rule], errors=errors)["errors"].to_dict() == {
        "breaks": 2, "says_hi": 0}
