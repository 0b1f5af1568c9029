"""The README's library examples run as written (given some records and an expert)."""

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


def test_library_examples_run():
    blocks = re.findall(r"```python\n(.*?)```", _section("Use it as a library"), re.S)
    assert len(blocks) == 2
    path = ROOT / "loop" / "demo" / "data" / "Youtube01-Psy.csv"
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    records = [{"text": r["CONTENT"], "truth": int(r["CLASS"])} for r in rows]
    y = np.full(len(records), -1)
    y[:40] = [r["truth"] for r in records[:40]]
    ns = {"records": records, "y": y, "expert": lambda r: r["truth"]}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), ns)  # noqa: S102 - our own README
    L, lm, loop = ns["L"], ns["lm"], ns["loop"]
    table = ns["table"]
    assert list(table.index) == ["has_link", "short_comment"]
    assert {"coverage", "conflicts", "empirical_accuracy", "learned_accuracy"} <= set(table)
    assert L.shape == (len(records), 2) and lm.predict_proba(L).shape == (len(records), 2)
    assert loop.n_gold == 50 and ns["labels"].shape == (len(records),)
    truth = np.array([r["truth"] for r in records])
    gold = loop.y >= 0
    assert np.array_equal(ns["labels"][gold], truth[gold])
    # Two crude LFs and 50 answers: well above the 50% of either constant guess.
    assert (ns["labels"] == truth).mean() > 0.7
