"""Uploaded LF votes read back as LFs."""

from __future__ import annotations

import numpy as np
import pytest

from loop.core.apply import apply_lfs
from loop.core.lf import Record
from loop.core.votes import read_votes, votes_lfs


def test_votes_lfs_read_each_column_and_abstain_without_votes():
    recs = [Record(wl=[1, -1, 0]), Record(wl=None), Record(other=1), Record(wl=[0])]
    L = apply_lfs(votes_lfs("wl", 3), recs, n_classes=2).L
    assert L.tolist() == [[1, -1, 0], [-1, -1, -1], [-1, -1, -1], [0, -1, -1]]


def test_a_votes_lf_is_fingerprinted_by_its_column_not_by_its_code():
    a, b = votes_lfs("wl", 2), votes_lfs("wl", 3)
    assert [x.fingerprint() for x in a] == [x.fingerprint() for x in b[:2]]
    assert a[0].fingerprint() != a[1].fingerprint() != votes_lfs("v", 2)[1].fingerprint()


@pytest.mark.parametrize("value,expected", [
    ([-1, 0, 2, None], [-1, 0, 2, -1]),
    (["Pos", "neg", -1], [1, 0, -1]),  # class names, in any case
    ("[2, -1]", [2, -1]),               # a CSV cell
    ([1.0, -1.0], [1, -1]),             # floats, as numpy writes them
    (None, None), ("", None),           # no votes: every LF abstains
])
def test_read_votes(value, expected):
    assert read_votes(value, ["neg", "pos", "neutral"]) == expected


@pytest.mark.parametrize("value", [[3], [-2], [1.5], [True], "[1, ", {"a": 1}, [], [0] * 1001])
def test_read_votes_refuses_what_is_no_vote(value):
    with pytest.raises(ValueError):
        read_votes(value, ["neg", "pos", "neutral"])


@pytest.mark.parametrize("cell,said", [("null", "got null$"), ("7", "got the number 7$"),
                                       ('{"a": 1}', "got an object$")])
def test_a_cell_that_is_json_but_no_list_is_named_as_json_names_it(cell, said):
    """Operator's trial: a CSV cell ``null`` was refused as "got NoneType"."""
    with pytest.raises(ValueError, match=said):
        read_votes(cell, ["neg", "pos"])


def test_read_votes_checks_the_number_of_lfs():
    assert read_votes(np.array([0, 1]).tolist(), ["a", "b"], n=2) == [0, 1]
    with pytest.raises(ValueError, match="must list 3"):
        read_votes([0, 1], ["a", "b"], n=3)
