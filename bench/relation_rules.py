"""Rules that read between a relation's two entities, against the same words read in
the whole sentence.

Run: .venv/bin/python bench/relation_rules.py

A handful of keyword rules per dataset, written from the label names alone (the
train split's ``label.json``; chemprot has no train split here), the way a domain
expert would write them: the verbs and nouns that say the relation. Each is scored
on the valid split (never the test split) twice, reading the words between the two
entities (``reads: "between"``) and reading the whole sentence: its coverage, and its
precision on the items it votes. Then all of them together, by majority vote (ties
abstain): coverage, accuracy where they vote, and the share of sentences with two or
more pairs of different gold labels on which they vote one label for every pair.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from loop.core.rules import Rule, TextBatch  # noqa: E402

DATA = ROOT.parent / "shared" / "data"

#: label name -> words and phrases, as written before reading any item.
RULES = {
    "chemprot_partial": {
        "Upregulator": ["activates", "activated", "activation", "activator", "increases",
                        "increased", "induces", "induced", "induction", "stimulates",
                        "stimulated", "upregulates", "upregulated", "enhances", "enhanced"],
        "Downregulator": ["inhibits", "inhibited", "inhibition", "inhibitor", "inhibitors",
                          "inhibiting", "decreases", "decreased", "reduces", "reduced",
                          "suppresses", "suppressed", "blocks", "blocked",
                          "downregulates", "downregulated", "attenuates", "attenuated"],
        "Agonist": ["agonist", "agonists", "agonistic"],
        "Antagonist": ["antagonist", "antagonists", "antagonism", "antagonized"],
        "Substrate/Product": ["substrate", "substrates", "metabolized", "metabolism",
                              "metabolite", "catalyzes", "catalyzed", "converts",
                              "converted", "hydrolysis", "transport", "transported"],
        "Regulator": ["binds", "bound", "binding", "interacts", "interaction", "affinity",
                      "modulates", "regulates", "regulated", "targets"],
        "Part of": ["residue", "residues", "domain", "site of"],
    },
    "semeval": {
        "Cause-Effect": ["caused", "causes", "cause", "causing", "resulted from", "results in",
                         "triggered", "led to", "leads to"],
        "Component-Whole": ["part of", "comprises", "consists of", "component of"],
        "Content-Container": ["inside", "contained", "contains", "full of", "filled with"],
        "Entity-Destination": ["into", "onto", "sent to", "moved to", "delivered to"],
        "Entity-Origin": ["from", "derived from", "emerged from", "originates"],
        "Instrument-Agency": ["using", "uses", "used by", "with a", "by means of"],
        "Member-Collection": ["member of", "of the group", "among", "one of"],
        "Message-Topic": ["about", "describes", "discusses", "explains", "on the subject of",
                          "concerning", "reports"],
        "Product-Producer": ["made by", "produced by", "manufactured by", "built by",
                             "created by", "written by", "makes", "produces"],
    },
}


def rows_of(name: str) -> tuple[list[str], list[dict], np.ndarray, list[str]]:
    labels = json.loads((DATA / name / "label.json").read_text())
    names = [labels[str(i)] for i in range(len(labels))]
    rows = list(json.loads((DATA / name / "valid.json").read_text()).values())
    texts = [r["data"]["text"] for r in rows]
    # as the service stores an upload: nested objects as dotted fields
    records = [{f"data.{k}": v for k, v in r["data"].items()} for r in rows]
    return texts, records, np.array([r["label"] for r in rows]), names


def vote(L: np.ndarray, k: int) -> np.ndarray:
    """Majority vote per row, -1 where no rule votes or the top labels tie."""
    out = np.full(len(L), -1)
    for i, row in enumerate(L):
        c = np.bincount(row[row >= 0], minlength=k)
        if c.sum() and (c == c.max()).sum() == 1:
            out[i] = int(c.argmax())
    return out


def trial(name: str) -> dict:
    texts, records, y, names = rows_of(name)
    batch = TextBatch(texts)
    out: dict = {"n": len(y), "rules": []}
    Ls = {}
    for reads in ("between", "text"):
        cols = []
        for label, words in RULES[name].items():
            rule = Rule(f"{label}_{reads}", names.index(label), "keywords",
                        keywords=tuple(words), reads=reads)
            cols.append(np.where(rule.match(batch, records), rule.label, -1))
        Ls[reads] = np.stack(cols, axis=1)
    for j, label in enumerate(RULES[name]):
        row = {"label": label}
        for reads, L in Ls.items():
            hit = L[:, j] >= 0
            row[reads] = (int(hit.sum()), float((y[hit] == L[hit, j]).mean()) if hit.any()
                          else None)
        out["rules"].append(row)
    # sentences with pairs of different labels
    by_text: dict[str, list[int]] = {}
    for i, t in enumerate(texts):
        by_text.setdefault(t, []).append(i)
    mixed = [ix for ix in by_text.values() if len(set(y[ix].tolist())) > 1]
    for reads, L in Ls.items():
        pred = vote(L, len(names))
        on = pred >= 0
        alike = sum(1 for ix in mixed if (pred[ix] >= 0).all() and len(set(pred[ix])) == 1)
        voted = sum(1 for ix in mixed if (pred[ix] >= 0).all())
        out[reads] = {"coverage": float(on.mean()), "accuracy": float((pred[on] == y[on]).mean()),
                      "right": int((pred[on] == y[on]).sum()),
                      "mixed_sentences": len(mixed), "mixed_voted_all": voted,
                      "mixed_one_label": alike}
    return out


def main() -> None:
    for name in RULES:
        r = trial(name)
        print(f"\n{name} valid ({r['n']} pairs)")
        print(f"{'rule':20s} {'between: n, precision':>24s} {'text: n, precision':>22s}")
        for row in r["rules"]:
            cells = [f"{n:5d}  {p:.3f}" if p is not None else f"{n:5d}      -"
                     for n, p in (row["between"], row["text"])]
            print(f"{row['label']:20s} {cells[0]:>24s} {cells[1]:>22s}")
        for reads in ("between", "text"):
            s = r[reads]
            print(f"all, {reads:8s}: coverage {s['coverage']:.3f}, accuracy {s['accuracy']:.3f} "
                  f"({s['right']} right); sentences with pairs of different labels: "
                  f"{s['mixed_sentences']}, every pair voted in {s['mixed_voted_all']}, "
                  f"one label for all in {s['mixed_one_label']}")


if __name__ == "__main__":
    main()
