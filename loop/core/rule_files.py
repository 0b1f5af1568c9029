"""Rules kept in files: what the service's "Save rules to a file" writes (``GET
/api/projects/<pid>/rules``), read back as :class:`~loop.core.rules.Rule` s, by the
library or by another project of the service.

A file holds ``{"rules": [...]}`` (or the list alone), each entry a rule as the
service lists it, ``{"name", "rule": {...}, "enabled", "label_name", ...}``, or a
rule's own JSON form (:meth:`Rule.to_dict`, a label by name or class index). A rule
votes for the label of its name (``label_name``) wherever it is read, so a file
saved in a project of labels ``ham, spam`` serves one of ``spam, ham, other``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

from loop.core.rules import Rule
from loop.core.text import alike

#: The keys of a rule as the service lists it. Read: ``name``, ``rule``, ``enabled``
#: and ``label_name``; its history, source and times stay with the project it came
#: from.
LISTED_FIELDS = ("name", "rule", "enabled", "label_name", "source", "created_at",
                 "updated_at", "history")


def rule_entries(data: Any) -> list[Any]:
    """The entries of a rules file's JSON: ``{"rules": [...]}`` or the list
    (``ValueError`` for anything else)."""
    entries = data.get("rules") if isinstance(data, dict) and set(data) == {"rules"} else data
    if not isinstance(entries, list):
        raise ValueError('a rules file holds {"rules": [...]}, as the service saves it '
                         "(GET /api/projects/<pid>/rules), or a list of rules")
    return entries


def flat_rule(entry: Any) -> Any:
    """An entry of a rules file as a rule's own JSON form: one the service lists,
    made flat (its label by name, its ``enabled`` kept); any other entry as it is.
    ``ValueError`` for a listed rule with a key none of :data:`LISTED_FIELDS`, or whose
    rule's label, by name, is not its ``label_name``."""
    if not isinstance(entry, dict) or not isinstance(entry.get("rule"), dict):
        return entry
    unknown = sorted(set(map(str, entry)) - set(LISTED_FIELDS))
    if unknown:
        raise ValueError(f"unknown key{'s' if len(unknown) > 1 else ''} "
                         f"{', '.join(map(repr, unknown))}; a listed rule has "
                         f"{', '.join(LISTED_FIELDS)}")
    named, inner = entry.get("label_name"), entry["rule"].get("label")
    if (isinstance(named, str) and isinstance(inner, str)
            and named.strip().casefold() != inner.strip().casefold()):
        # edited by hand, the one read first (new-user trial): label_name would win unseen
        raise ValueError(f'its rule\'s "label" {inner!r} and its "label_name" {named!r} '
                         'differ: a listed rule votes for its "label_name"; set that one')
    flat = {**entry["rule"], "name": entry.get("name", entry["rule"].get("name")),
            "enabled": entry.get("enabled", True)}
    if "label_name" in entry:
        flat["label"] = entry["label_name"]
    return flat


def where(i: int, entry: Any) -> str:
    """How an error names the ``i``-th entry (from 1): its place and name."""
    name = entry.get("name") if isinstance(entry, dict) else None
    return f"rule {i}" + (f" ({name!r})" if isinstance(name, str) else "")


def unknown_labels(entries: list[Any], labels: Sequence[str], whose: str) -> str | None:
    """What is wrong with a file whose rules vote for labels by name that are none of
    ``labels`` (``whose``: how to call them, "this project's labels"), all named at
    once with the rules that vote for them (new-user trial: a file saved in a project
    of ``ham, spam`` added to one of ``spam_or_promotion, not_spam`` named the first
    rule's label alone, and not the key to change); None if every name is a label.

    >>> print(unknown_labels([{"name": "a", "rule": {"label": 1}, "label_name": "spam"}],
    ...                      ["ham", "junk"], "the labels given"))  # doctest: +ELLIPSIS
    label 'spam' (a) is none of the labels given (ham, junk): ... "label_name" in the file ...
    """
    missing: dict[str, list[str]] = {}
    keys: set[str] = set()
    for i, entry in enumerate(entries, 1):
        if not isinstance(entry, dict):
            continue
        listed = isinstance(entry.get("rule"), dict)
        key = "label_name" if listed and "label_name" in entry else "label"
        label = entry[key] if key in entry else (entry["rule"].get("label") if listed else None)
        if isinstance(label, str) and alike(label.strip(), list(labels)) is None:
            name = entry.get("name")
            missing.setdefault(label, []).append(name if isinstance(name, str) else f"rule {i}")
            keys.add(key)
    if not missing:
        return None
    named = [f"{label!r} (" + (", ".join(at) if len(at) <= 3 else
                               f"{', '.join(at[:3])} and {len(at) - 3} more") + ")"
             for label, at in missing.items()]
    some = len(named) > 1
    said = ", ".join(named[:-1]) + " and " + named[-1] if some else named[0]
    several = sum(map(len, missing.values())) > 1
    return (f"label{'s' if some else ''} {said} {'are' if some else 'is'} "
            f"none of {whose} ({', '.join(labels)}): a rule votes for the label of its "
            f"name, so set {'each' if several else 'its'} rule's "
            f"{' or '.join(json.dumps(k) for k in sorted(keys, reverse=True))} in the file "
            "to one of them")


def _load(path: str | os.PathLike[str]) -> Any:
    """A rules file's JSON; a ``ValueError`` naming the file if it is empty or not
    JSON (new-user trial: a bare ``JSONDecodeError: Expecting value: line 1 column 1``
    named neither the file nor what it should hold)."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if not text.strip():
        raise ValueError(f"{os.fspath(path)} is empty: a rules file holds the rules as the "
                         "service's 'Save rules to a file' writes them")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{os.fspath(path)} is not valid JSON ({exc}): a rules file holds "
                         "the rules as the service's 'Save rules to a file' writes them"
                         ) from None


def read_rules(source: Any, labels: Sequence[str], enabled_only: bool = True) -> list[Rule]:
    """The rules of a rules file: ``source`` its path, or its JSON read already.
    A label named is read against ``labels`` (in any case; a class index as it
    is). Disabled rules are left out unless ``enabled_only`` is False. A
    ``ValueError`` names the first entry that is wrong by its place and name.

    >>> rules = read_rules({"rules": [{"name": "says_free", "rule": {
    ...     "kind": "keywords", "keywords": ["free"], "label": 0}, "label_name": "spam"}]},
    ...     labels=["ham", "spam"])
    >>> rules[0].label, rules[0].keywords
    (1, ('free',))
    """
    if isinstance(source, str | os.PathLike):
        source = _load(source)
    labels = list(labels)
    entries = rule_entries(source)
    wrong = unknown_labels(entries, labels, "the labels given")
    if wrong is not None:
        raise ValueError(f"{wrong}, or pass labels= with the file's labels")
    out = []
    for i, entry in enumerate(entries, 1):
        try:
            d = flat_rule(entry)
            if isinstance(d, dict) and isinstance(d.get("label"), str):
                name = alike(d["label"].strip(), labels)
                if name is None:
                    raise ValueError(f"label {d['label']!r} is none of {labels}")
                d = {**d, "label": labels.index(name)}
            on = d.get("enabled", True) if isinstance(d, dict) else True
            if not isinstance(on, bool):
                raise ValueError("enabled must be true or false")
            rule = Rule.from_dict(d, len(labels), also=("enabled",))
        except ValueError as exc:
            raise ValueError(f"{where(i, entry)}: {exc}") from None
        if on or not enabled_only:
            out.append(rule)
    return out
