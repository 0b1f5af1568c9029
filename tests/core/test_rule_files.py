"""Rules files: what the service saves, read back by the library."""

from __future__ import annotations

import json

import pytest

from loop.core.rule_files import read_rules
from loop.core.rules import Rule

LISTED = {"rules": [
    {"name": "says_free", "rule": {"name": "says_free", "label": 1, "kind": "keywords",
                                   "keywords": ["free"], "whole_word": True,
                                   "case_sensitive": False, "ignore_accents": False,
                                   "pattern": "", "field": "", "op": "==", "value": "",
                                   "conditions": [{"kind": "keywords",
                                                   "keywords": ["free of charge"],
                                                   "whole_word": True,
                                                   "case_sensitive": False,
                                                   "not": True}]},
     "label_name": "spam", "enabled": True, "source": "editor", "created_at": 1.0,
     "updated_at": 2.0, "history": [{"rule": {}, "until": 1.5}]},
    {"name": "off", "rule": {"name": "off", "label": 0, "kind": "regex", "pattern": "x+"},
     "label_name": "ham", "enabled": False},
]}


def test_a_saved_file_is_read_with_labels_by_name(tmp_path):
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(LISTED))
    rules = read_rules(path, ["spam", "ham", "other"])  # another order: by name
    assert [r.name for r in rules] == ["says_free"]  # the disabled one left out
    assert rules[0].label == 0 and rules[0].conditions[0].negate
    assert [r.name for r in read_rules(str(path), ["ham", "spam"], enabled_only=False)] == [
        "says_free", "off"]
    # a rule's own JSON form too, label by name in any case or by index
    flat = [Rule("a", 1, "keywords", keywords=("win",)).to_dict(),
            {"name": "b", "label": "SPAM", "kind": "regex", "pattern": "https?://"}]
    assert [(r.name, r.label) for r in read_rules(flat, ["ham", "spam"])] == [
        ("a", 1), ("b", 1)]


@pytest.mark.parametrize("data, said", [
    ({"rules": [LISTED["rules"][0], {**LISTED["rules"][1], "label_name": "neutral"}]},
     "label 'neutral' (off) is none of the labels given (ham, spam): a rule votes for "
     'the label of its name, so set its rule\'s "label_name" in the file to one of '
     "them, or pass labels= with the file's labels"),
    ({"rules": [{**LISTED["rules"][0], "colour": "red"}]},
     "rule 1 ('says_free'): unknown key 'colour'"),
    ([{"name": "c", "label": 0, "kind": "regex", "pattern": "(x"}], "rule 1 ('c'): "),
    ([{"name": "d", "label": 0, "kind": "regex", "pattern": "x", "enabled": "no"}],
     "rule 1 ('d'): enabled must be true or false"),
    ({"rule": []}, "a rules file holds"),
    ({"rules": [{**LISTED["rules"][0], "rule": {**LISTED["rules"][0]["rule"], "label": "ham"}}]},
     "rule 1 ('says_free'): its rule's \"label\" 'ham' and its \"label_name\" 'spam' differ"),
])
def test_what_is_wrong_is_named_by_place_and_name(data, said):
    with pytest.raises(ValueError) as err:
        read_rules(data, ["ham", "spam"])
    assert said in str(err.value)


@pytest.mark.parametrize("text, said", [
    ("", "is empty: a rules file holds"),
    (" \n", "is empty: a rules file holds"),
    ("id,text\n1,hi\n", "is not valid JSON (Expecting value: line 1 column 1 (char 0))"),
    ('{"rules": [{"name": "a",}]}', "is not valid JSON (Expecting property name enclosed "
     "in double quotes: line 1 column 25"),
])
def test_a_file_that_is_empty_or_no_json_is_named_with_what_is_wrong(tmp_path, text, said):
    """New-user trial: ``read_rules`` of an empty file, a CSV or a file edited by hand
    with a stray comma raised a bare ``JSONDecodeError`` naming no file."""
    path = tmp_path / "my_rules.json"
    path.write_text(text)
    with pytest.raises(ValueError) as err:
        read_rules(path, ["ham", "spam"])
    assert str(err.value).startswith(f"{path} ") and said in str(err.value), str(err.value)
