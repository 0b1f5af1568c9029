"""The README's library examples run as written, in a fresh namespace."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _section(title: str) -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end]


def _blocks() -> list[str]:
    blocks = re.findall(r"```python\n(.*?)```", _section("Use it as a library"), re.S)
    assert len(blocks) == 2
    return blocks


def test_library_examples_run():
    ns: dict = {}
    for block in _blocks():
        exec(compile(block, "README.md", "exec"), ns)  # noqa: S102 - our own README
    L, lm, loop, records = ns["L"], ns["lm"], ns["loop"], ns["records"]
    table = ns["table"]
    assert list(table.index) == ["has_link", "short_comment", "says_subscribe"]
    assert table.loc["says_subscribe", "coverage"] > 0  # the rule votes
    assert {"coverage", "conflicts", "empirical_accuracy", "learned_accuracy",
            "errors"} <= set(table)
    assert L.shape == (len(records), 3) and lm.predict_proba(L).shape == (len(records), 2)
    assert loop.n_gold == 50 and ns["labels"].shape == (len(records),)
    truth = np.array(ns["truth"])
    with open(ROOT / "loop" / "demo" / "data" / "Youtube01-Psy.csv", newline="",
              encoding="utf-8-sig") as f:
        assert truth.tolist() == [int(r["CLASS"]) for r in csv.DictReader(f)]
    gold = loop.y >= 0
    assert np.array_equal(ns["labels"][gold], truth[gold])
    # Three crude LFs and 50 answers: well above the 50% of either constant guess.
    assert (ns["labels"] == truth).mean() > 0.7


def test_library_loop_takes_a_pandas_series_of_texts():
    """The comment says a Series works: it gives the same queries as the list."""
    import pandas as pd

    ns: dict = {}
    first, second = _blocks()
    exec(compile(first, "README.md", "exec"), ns)  # noqa: S102 - our own README
    from loop import LabelingLoop

    texts = [r["text"] for r in ns["records"]]
    a = LabelingLoop(ns["L"], texts, n_classes=2, random_state=0).query(10)
    b = LabelingLoop(ns["L"], pd.Series(texts, index=range(5, 5 + len(texts))),
                     n_classes=2, random_state=0).query(10)
    c = LabelingLoop(ns["L"], np.array(texts, dtype=object), n_classes=2,
                     random_state=0).query(10)
    assert a.tolist() == b.tolist() == c.tolist()


def test_readme_upgrades_compose_with_build():
    """Operator's trial: the upgrade steps said "update the checkout and start it
    again"; `docker compose up` without `--build` starts the image built before, so
    the upgraded service ran the old code, saying nothing."""
    text = (ROOT / "README.md").read_text()
    upgrading = text.split("### Upgrading")[1].split("\n### ")[0]
    assert "--build" in upgrading
