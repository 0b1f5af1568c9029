"""Rules as data in the service: a project's declarative LFs beside its LF module,
their live preview, and rule suggestions mined from the gold labels.

A rule (:class:`loop.core.rules.Rule`) is stored in the project
(:mod:`loop.storage.rules`), never code: the workers apply every enabled rule as
one more LF column (:func:`project_lfs`), and the incremental apply computes only
the columns whose rule changed. Previews and suggestions run in the web process:
RE2 matching takes linear time whatever the pattern, and the items' texts are
cached per process (items are only ever appended).
"""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import random
import re
import select
import signal
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from loop.core.lf import LabelingFunction
from loop.core.regex_words import ascii_words, folds_capitals
from loop.core.relations import between, entities
from loop.core.rule_files import flat_rule, unknown_labels, where
from loop.core.rules import (
    BETWEEN,
    KIND_FIELDS,
    KINDS,
    ORDERED_OPS,
    TEXT,
    WINDOW_BYTES,
    Rule,
    RuleTooSlow,
    TextBatch,
    field_value,
    safe_name,
    shown,
    uncomparable,
)
from loop.core.suggest import (
    MIN_FRESH,
    MIN_MODEL_PRECISION,
    Suggestion,
    TermIndex,
    rule_key,
    suggest_exclusions,
    suggest_rules,
)
from loop.core.text import alike
from loop.core.votes import votes_lfs, votes_names
from loop.errors import (
    BadRequest,
    Conflict,
    LoopError,
    NotFound,
    RuleChanged,
    SuggestionIsRule,
    TooManyRequests,
    shorten,
)
from loop.service.lf_modules import load_lfs
from loop.service.queue import parse_label
from loop.service.state import known_labels
from loop.storage import RedisStore

_T = TypeVar("_T")

#: Most rules a project may have.
MAX_RULES = 500
#: What :func:`~loop.core.suggest.rule_key` makes: ``kind:what:label``.
SUGGESTION_KEY = re.compile(rf"(?:{'|'.join(KINDS)}):.*:(\d{{1,3}})", re.S)
#: Earlier versions kept per rule.
MAX_HISTORY = 50
#: Matched items shown in a preview.
N_EXAMPLES = 8
#: Most matched items one preview shows (``examples``).
MAX_EXAMPLES = 100
#: Characters of an example's text a preview shows.
EXAMPLE_CHARS = 500
#: Longest a rule's preview may take over a project's items: it holds a web thread
#: that long, at every pause in typing ("(.+\s?){1,999}x", linear time in RE2 but
#: thousands of steps per character, reads a text of 20,000 characters in a second).
RULE_SECONDS = 10.0
#: ... and a moment more for a preview in a child process to say how far it read
#: before it is killed (:func:`_apart`).
RULE_GRACE = 0.5
#: Rule previews one web process runs at once; one more is answered 429 at once.
#: A preview may take RULE_SECONDS and the editor sends one at every pause in typing
#: (previews of a slow pattern piled up in the web threads, and annotators' requests
#: waited behind them: security trial, 16 previews held every thread of ``loop
#: serve`` 10-21 s, an annotator's request 9.2 s).
PREVIEW_SLOTS = 2
_PREVIEWS = threading.BoundedSemaphore(PREVIEW_SLOTS)


def excerpt(text: str, spans: list[tuple[int, int]], size: int = EXAMPLE_CHARS
            ) -> tuple[str, list[list[int]]]:
    """At most ``size`` characters of ``text`` around its first match (an ellipsis
    where text is left out) and the matches' spans within them, cut at its edges.
    A preview showed the first 500 characters, so a match further in was shown
    nowhere, and a match running past them was not marked (new-user trial).

    >>> excerpt("x" * 20 + " long tail", [(21, 25)], size=12)
    ('…xx long ta…', [[4, 8]])
    >>> excerpt("x" * 20 + " long", [(21, 25)], size=12)
    ('…xxxxxx long', [[8, 12]])
    >>> excerpt("ab" * 10, [(0, 18)], size=6)
    ('ababa…', [[0, 5]])
    """
    if len(text) <= size:
        return text, [[a, b] for a, b in spans if b <= len(text)]
    first = min((a for a, _ in spans), default=0)
    start = 0 if first < size // 2 else min(first - size // 4, len(text) - (size - 1))
    head = "…" if start > 0 else ""
    room = size - len(head)
    if start + room >= len(text):
        stop, tail = len(text), ""
    else:
        stop, tail = start + room - 1, "…"  # room for the closing ellipsis
    out = head + text[start:stop] + tail
    shift = len(head) - start
    marks = [[max(a, start) + shift, min(b, stop) + shift] for a, b in spans
             if a < stop and b > start]
    return out, marks


# -- the LFs a worker applies ------------------------------------------------------------
#: Why an apply run cannot start in a project without LFs.
NO_LFS = ("the project has no LFs yet: write a rule on its dashboard (Rules), or enable "
          "one; through the API, POST it to the project's rules")


def has_enabled_rule(store: RedisStore, pid: str, without: str | None = None) -> bool:
    """Whether the project has an enabled rule other than ``without``."""
    return any(r["enabled"] for n, r in store.rules(pid).items() if n != without)


def has_lfs(store: RedisStore, pid: str, without: str | None = None) -> bool:
    """Whether the project has an LF to apply (an LF of its module or of its uploaded
    votes that is not switched off, or an enabled rule other than ``without``), read
    without importing the module."""
    return bool(source_lfs_on(store, pid)) or has_enabled_rule(store, pid, without)


def source_lfs(store: RedisStore, pid: str) -> list[str]:
    """The names of the project's LFs that are no rules: its module's (as created and
    as last applied: the module may have grown) and its uploaded votes' columns."""
    uploaded = uploaded_lf_names(store, pid)
    return [x for x in module_lf_names(store, pid) if x not in uploaded] + uploaded


def source_lfs_on(store: RedisStore, pid: str) -> list[str]:
    """:func:`source_lfs` without those switched off; a module whose LFs are not
    known yet counts as one on."""
    project = store.get_project(pid)
    names = source_lfs(store, pid)
    off = store.lfs_off(pid) if names else set()
    on = [x for x in names if x not in off]
    if project.get("lf_module") and not project.get("lfs") and not store.L_meta(pid):
        on.append(project["lf_module"])
    return on


def switch_lf(store: RedisStore, pid: str, name: str, data: Any) -> dict[str, Any]:
    """Switch an LF of the project's module or of its uploaded votes on or off
    (``data``: ``{"enabled": bool}``); off, its column is left out at the next apply
    and the models stop reading it. Rules are switched as rules. Returns ``{name,
    enabled, changed}``."""
    if (not isinstance(data, dict) or set(data) != {"enabled"}
            or not isinstance(data["enabled"], bool)):
        raise BadRequest('send {"enabled": false} to switch the LF off, {"enabled": true} '
                         "to switch it back on")
    on = bool(data["enabled"])
    if name in store.rules(pid):
        raise BadRequest(f"{name!r} is a rule: switch it under Rules on the dashboard (PUT "
                         f"/rules/{name} with {{\"enabled\": {str(on).lower()}}})")
    sources = source_lfs(store, pid)
    if name not in sources and name not in store.lfs_off(pid):
        shown = ", ".join(repr(x) for x in sources[:5]) + (", ..." if len(sources) > 5 else "")
        raise NotFound(f"no LF {name!r} of an LF module or uploaded votes in this project"
                       + (f" (its LFs: {shown})" if sources else ""))
    changed = store.switch_lf(pid, name, on, sources, last_one=(
        f"{name!r} is the project's only LF still on: switch another on, or write or "
        "enable a rule first (the models would have no LF votes to read)"))
    return {"name": name, "enabled": on, "changed": changed}


def uploaded_lf_names(store: RedisStore, pid: str) -> list[str]:
    """The names of the LFs whose votes came with the items (``weak_labels[0]`` ...)."""
    spec = store.votes_spec(pid)
    return votes_names(spec["field"], spec["n"], spec.get("names")) if spec else []


def project_lfs(store: RedisStore, pid: str) -> list[LabelingFunction]:
    """The project's LFs: its module's, the columns of its uploaded votes, then its
    enabled rules (for workers only: imports the module)."""
    project = store.get_project(pid)
    lfs = load_lfs(project["lf_module"]) if project.get("lf_module") else []
    spec = store.votes_spec(pid)
    if spec:
        lfs += votes_lfs(spec["field"], spec["n"], spec.get("names"))
    taken = {lf.name for lf in lfs}
    off = store.lfs_off(pid)
    lfs = [lf for lf in lfs if lf.name not in off]  # switched off: no column
    k = len(project["labels"])
    for name, rec in store.rules(pid).items():
        if rec["enabled"] and name in taken:
            # an LF added to the module after the rule was written (a rule may not
            # take a known LF's name): one of the two columns would hide the other
            raise BadRequest(
                f"the rule {name!r} and an LF of "
                + (f"the module {project['lf_module']!r}" if spec is None
                   or name not in votes_names(spec["field"], spec["n"], spec.get("names"))
                   else "the uploaded votes")
                + f" have the same name: rename the rule (Edit on the dashboard, or PUT "
                f"/rules/{name} with a new \"name\") or the LF, then apply the LFs again")
        if rec["enabled"]:
            lfs.append(Rule.from_dict(rec["rule"], k).as_lf())
    return lfs


def module_lf_names(store: RedisStore, pid: str) -> list[str]:
    """The names of the project's module LFs known without importing it: those it
    was created with and those the last apply run found (the module may have grown)."""
    project = store.get_project(pid)
    if not project.get("lf_module"):
        return []
    meta = store.L_meta(pid) or {}
    applied = meta.get("module")
    if applied is None:  # a run from before the plan named them: not a rule, not votes
        rules, uploaded = store.rules(pid), set(meta.get("uploaded") or [])
        applied = [x for x in meta.get("lf_names") or [] if x not in rules
                   and x not in uploaded]
    return list(dict.fromkeys([*project.get("lfs", []), *applied]))


# -- editing ------------------------------------------------------------------------------
#: Paths under ``/rules/`` that are not rules: a rule of that name could be neither
#: edited nor deleted through its URL.
RESERVED_NAMES = ("preview", "suggestions")


def _check(store: RedisStore, pid: str, data: Any, also: tuple[str, ...] = ()) -> Rule:
    """``data`` as a :class:`Rule` of project ``pid``; a 400 saying what is wrong.
    ``also``: keys the request took besides a rule's (named in an unknown key's 400)."""
    project = store.get_project(pid)
    labels = list(project["labels"])
    if isinstance(data, dict) and "label" in data:
        # named, as for answers; a bad one says the names too (API audit: "a class
        # index 0..1, got -1" left out that names are taken)
        data = {**data, "label": parse_label(labels, data["label"])}
    _enabled(data, True)  # checked with the rest; create_rule and update_rule read it
    try:
        rule = Rule.from_dict(data, len(labels), also=("enabled", *also))
    except ValueError as exc:
        msg = str(exc)
        raise BadRequest(msg if msg.startswith(("rule", "a rule")) else f"rule: {msg}") from None
    taken = alike(rule.name, module_lf_names(store, pid))
    if taken is not None:  # one that differs only in case reads as the same on every page
        raise BadRequest(f"rule name {rule.name!r} is taken by an LF of the module "
                         f"{project['lf_module']!r}"
                         + (f" ({taken!r})" if taken != rule.name else "") + "; pick another name")
    if alike(rule.name, uploaded_lf_names(store, pid)) is not None:
        raise BadRequest(f"rule name {rule.name!r} is taken by an LF whose votes were "
                         "uploaded with the items; pick another name")
    for i, (test, _) in enumerate(rule.tests()):
        where = f"condition {i}: " if i else ""
        if test.kind == "field":
            _check_field(store, pid, project, test.field, where)
        elif test.reads == BETWEEN:
            _check_pair(store, pid, where)
        elif test.reads != TEXT:
            _check_field(store, pid, project, test.reads, where, reads=True)
    return rule


def _stored_name(rule: Rule) -> Rule:
    """A rule about to be stored: its name must not be one of the API's paths."""
    if rule.name in RESERVED_NAMES:
        raise BadRequest(f"rule name {rule.name!r} is the API's own "
                         f"(/rules/{rule.name}); pick another name")
    return rule


def _enabled(data: Any, default: bool) -> bool:
    """``data``'s ``enabled`` (``default`` without one); 400 unless a boolean (the
    string "false" would be truthy)."""
    value = data.get("enabled", default) if isinstance(data, dict) else default
    if not isinstance(value, bool):
        raise BadRequest("enabled must be true or false")
    return value


def _sample(store: RedisStore, pid: str) -> list[dict[str, Any]]:
    """The items a rule's fields are looked for in: every item up to 1,000, else 200
    spread over the upload order."""
    n = store.n_items(pid)
    if n == 0:
        return []
    ids = store.ids_at(pid, np.linspace(0, n - 1, 200).astype(int)) if n > 1000 else None
    return store.items(pid, ids)


def _check_field(store: RedisStore, pid: str, project: dict[str, Any], name: str,
                 where: str = "", reads: bool = False) -> None:
    """A field rule (or a rule's field condition: ``where``, "condition 2: ", says
    which), or a keyword or regex one that ``reads`` a field, must name a field the
    items have (looked for in :func:`_sample`; before any upload, anything goes)."""
    seen = {"id", "text", project.get("text_field") or "text"}
    items = _sample(store, pid)
    if not items:
        return
    for it in items:
        seen.update(it.get("fields", {}))
        if name in seen:
            return
    if reads:
        seen -= {"text"}  # (reads "text" is the item's text: not one of the fields here)
        raise BadRequest(
            f"rule: {where}reads {name!r}, but no item has a field {name!r}: set reads to "
            f"{TEXT!r} (the item's text)"
            + (f", {BETWEEN!r} (the words between its two entities)"
               if any(entities(it.get("fields")) for it in items) else "")
            + f" or one of the items' fields: {', '.join(sorted(seen))}"
            + _renamed_column(store, pid, name))
    raise BadRequest(f"rule: {where}no item has a field {name!r}; the items' fields are "
                     f"{', '.join(sorted(seen))}{_renamed_column(store, pid, name)}")


def readable(store: RedisStore, pid: str) -> dict[str, Any]:
    """What a keyword or regex rule can read of the items besides their text (the
    rule editor's "Reads" list), as looked for in :func:`_sample`: ``fields``, the
    uploaded fields that hold a text or a number (not a span's offsets), and
    ``between``, whether some item names a pair of entities (fields ``entity1``,
    ``entity2``)."""
    items = _sample(store, pid)
    fields = {k for it in items for k, v in (it.get("fields") or {}).items()
              if isinstance(v, str | int | float) and not isinstance(v, bool)}
    return {"fields": sorted(fields),
            "between": any(len(entities(it.get("fields"))) >= 2 for it in items)}


def _check_pair(store: RedisStore, pid: str, where: str = "") -> None:
    """A keyword or regex rule reading the words between a relation's entities
    (``where`` as for :func:`_check_field`) needs items that name a pair."""
    items = _sample(store, pid)
    if not items or any(len(entities(it.get("fields"))) >= 2 for it in items):
        return
    raise BadRequest(
        f"rule: {where}reads {BETWEEN!r}, the words between a relation item's two "
        "entities, but no item names a pair of entities (fields entity1 and entity2, with "
        f"span1 and span2 their offsets, as WRENCH's chemprot and semeval give them): set "
        f"reads to {TEXT!r} (the item's text) or to one of the items' fields")


def _renamed_column(store: RedisStore, pid: str, name: str) -> str:
    """Why a column of the user's file is no field: an upload stored it as the items'
    text or ids, which a rule names ``text`` and ``id`` (new-user trial: a file of
    ``msg_id`` and ``body`` columns, and the error listed "id, text" unexplained)."""
    for noted in store.uploads_noted(pid):
        if name != "text" and noted.get("text_field") == name:
            return (f" ({name!r} is the column the items' text was uploaded from: a rule "
                    "calls it 'text', and keyword and regex rules read it)")
        if name != "id" and noted.get("id_field") == name:
            return (f" ({name!r} is the column the items' ids were uploaded from: a rule "
                    "calls it 'id')")
    return ""


def _view(name: str, rec: dict[str, Any], labels: list[str]) -> dict[str, Any]:
    """A stored rule as the API answers it, its ``label_name`` (the label it votes for
    wherever its file is added) next to its name, not after its history (new-user
    trial: in a saved file, one read ``"label": 1`` and missed it). A rule (or an
    earlier version) stored before rules took conditions lists none, ``[]``, as every
    rule's JSON does (it had no key: a client reading it failed on the rules it had)."""
    def listed(rule: dict[str, Any]) -> dict[str, Any]:
        return {**rule, "conditions": rule.get("conditions") or []}

    return {"name": name, "label_name": labels[rec["rule"]["label"]], **rec,
            "rule": listed(rec["rule"]),
            "history": [{**h, "rule": listed(h["rule"])} for h in rec.get("history", [])]}


def list_rules(store: RedisStore, pid: str) -> list[dict[str, Any]]:
    labels = store.get_project(pid)["labels"]
    return [_view(n, r, labels) for n, r in store.rules(pid).items()]


def create_rule(store: RedisStore, pid: str, data: Any, source: str = "editor",
                ) -> dict[str, Any]:
    """Store a new rule, enabled unless ``data`` says ``"enabled": false`` (400
    naming what is wrong; 409 if the name exists)."""
    rule = _stored_name(_check(store, pid, data))
    rules = store.rules(pid)
    if len(rules) >= MAX_RULES:
        raise BadRequest(f"a project holds at most {MAX_RULES} rules; delete some first")
    if rule.name in rules:
        raise Conflict(f"a rule named {rule.name!r} exists already; edit it or pick "
                       "another name")
    now = time.time()
    rec: dict[str, Any] = {"rule": rule.to_dict(), "enabled": _enabled(data, True),
                           "source": source,
                           "created_at": now, "updated_at": now, "history": []}
    store.write_rule(pid, rule.name, rec, expect=None, limit=MAX_RULES)
    return _view(rule.name, rec, store.get_project(pid)["labels"])


def import_rules(store: RedisStore, pid: str, data: Any) -> list[dict[str, Any]]:
    """Add the rules of ``data["rules"]`` at once, all or none: each as ``POST
    /rules`` takes one, or as ``GET /rules`` lists it (a rules file,
    :mod:`loop.core.rule_files`: its label read by ``label_name``, so a rule votes
    for the label of that name here). Each is checked as a new rule is (400 naming
    the rule by its place and name); names already taken here are one 409 naming
    them all."""
    if not isinstance(data, dict) or set(data) != {"rules"}:
        raise BadRequest('send {"rules": [...]}: the rules as GET /rules lists them, or '
                         "as POST /rules takes one")
    given = data["rules"]
    if given == []:  # "Save rules to a file" of a project without rules
        raise BadRequest("the file holds no rules: save one from a project that has some")
    if not isinstance(given, list) or not 1 <= len(given) <= MAX_RULES:
        raise BadRequest(f"rules must be a list of 1 to {MAX_RULES} rules")
    wrong = unknown_labels(given, store.get_project(pid)["labels"], "this project's labels")
    if wrong is not None:
        raise BadRequest(wrong)
    now = time.time()
    out: dict[str, dict[str, Any]] = {}
    seen: dict[str, int] = {}  # name: place in the file
    for i, entry in enumerate(given, 1):
        try:
            flat = flat_rule(entry)
            rule = _stored_name(_check(store, pid, flat))
        except (BadRequest, ValueError) as exc:  # "rule 1 ('x'): keywords: ...", not
            msg = str(exc)                         # "rule 1 ('x'): rule: keywords: ..."
            raise BadRequest(f"{where(i, entry)}: {msg.removeprefix('rule: ')}") from None
        twin = alike(rule.name, seen)
        if twin is not None:
            raise BadRequest(f"{where(i, entry)}: rule {seen[twin]} is named {twin!r} too"
                             + (" (in another case)" if twin != rule.name else ""))
        seen[rule.name] = i
        # created in the file's order (the rules list is sorted by creation)
        out[rule.name] = {"rule": rule.to_dict(), "enabled": _enabled(flat, True),
                          "source": "import", "created_at": now + i * 1e-6,
                          "updated_at": now + i * 1e-6, "history": []}
    _not_again(store.rules(pid), out)
    store.add_rules(pid, out, MAX_RULES)
    labels = store.get_project(pid)["labels"]
    return [_view(name, rec, labels) for name, rec in out.items()]


def _not_again(stored: dict[str, Any], new: dict[str, dict[str, Any]]) -> None:
    """A file whose every rule is here already, as the file has it, is a 409 saying
    so (new-user trial: the same file added twice was told to rename its rules, which
    would have added each rule a second time under another name)."""
    same = [n for n, rec in new.items() if n in stored and stored[n]["rule"] == rec["rule"]]
    if same and len(same) == len(new):
        names = ", ".join(map(repr, same[:10])) + (f" and {len(same) - 10} more"
                                                   if len(same) > 10 else "")
        raise Conflict(f"the file's {'rule is' if len(same) == 1 else 'rules are'} here "
                       f"already, as the file has {'it' if len(same) == 1 else 'them'} "
                       f"({names}): added from it before?")


def _existing(store: RedisStore, pid: str, name: str) -> dict[str, Any]:
    rec = store.rules(pid).get(name)
    if rec is None:
        raise NotFound(f"no rule {name!r} in project {pid!r}")
    return rec


def _keep_one(store: RedisStore, pid: str, name: str) -> str | None:
    """A project keeps at least one LF on once its LFs were applied (an enabled rule,
    or an LF of its module or uploaded votes not switched off): the models would go
    on using the votes of the rule taken away. Refused at once when that is plain
    now; else the message the write checks again in its transaction, against the
    rules and the switched-off LFs as they are then
    (:meth:`~loop.storage.rules.RulesMixin.write_rule`)."""
    if not store.L_meta(pid):
        return None
    msg = f"rule {name!r} is the project's only enabled LF: write or enable another rule first"
    if not has_lfs(store, pid, without=name):
        raise Conflict(msg)
    return msg


def update_rule(store: RedisStore, pid: str, name: str,
                data: Any) -> tuple[dict[str, Any], bool]:
    """Edit rule ``name`` (its earlier version goes to its history); ``data`` may
    also rename it, or hold only ``enabled``. ``data``'s ``if_unchanged_since``
    (the rule's ``updated_at`` as the editor read it): 409 if it changed since (an
    edit in another tab would be overwritten unseen). Without it an edit applies to
    the rule as it is when written: one that lost a race with another edit between
    its read and its write is made again on the new version (operator's trial: 18
    of 46 edits of one rule at once were told "changed by someone else", which the
    API promises only with ``if_unchanged_since``). Returns the rule's view and
    whether anything changed: an edit that changes nothing writes nothing (no
    history entry; the caller re-applies nothing)."""
    if isinstance(data, dict) and "if_unchanged_since" in data:
        return _update_rule_once(store, pid, name, data)
    return _on_current(lambda: _update_rule_once(store, pid, name, data))


def _on_current(write: Callable[[], _T]) -> _T:
    """``write()`` (which reads a rule, then writes it expecting it unchanged), made
    again on the rule as it is now when another write landed between its read and
    its write (:class:`~loop.errors.RuleChanged`), up to 20 times."""
    for attempt in range(20):
        try:
            return write()
        except RuleChanged:
            if attempt == 19:
                raise
            time.sleep(random.uniform(0, 0.005))  # writers that collided retry apart
    raise AssertionError("unreachable")


def _update_rule_once(store: RedisStore, pid: str, name: str,
                      data: Any) -> tuple[dict[str, Any], bool]:
    """:func:`update_rule` against the rule as read now."""
    old = _existing(store, pid, name)
    if isinstance(data, dict) and "if_unchanged_since" in data:
        data = dict(data)
        seen = data.pop("if_unchanged_since")
        if isinstance(seen, bool) or not isinstance(seen, int | float):
            raise BadRequest("if_unchanged_since must be the rule's updated_at as you read it")
        if float(seen) != float(old["updated_at"]) and not _already(store, pid, old, data):
            when = time.strftime("%H:%M:%S UTC", time.gmtime(old["updated_at"]))
            raise Conflict(f"rule {name!r} was changed at {when} (in another tab, or by "
                           "someone else) after you opened it; your edit is not saved: "
                           "open the rule again to see the change, then edit it")
    labels = store.get_project(pid)["labels"]
    last_one = None
    if isinstance(data, dict) and data.get("enabled") is False and old["enabled"]:
        last_one = _keep_one(store, pid, name)
    if isinstance(data, dict) and set(data) == {"enabled"}:
        enabled = _enabled(data, old["enabled"])
        if enabled == old["enabled"]:
            return _view(name, old, labels), False
        if enabled and alike(name, module_lf_names(store, pid)) is not None:
            # re-trial: switched back on after the module took its name, its column
            # and the LF's would share one (the apply run fails on it)
            raise BadRequest(f"rule {name!r} has the name of an LF the module "
                             f"{store.get_project(pid)['lf_module']!r} has since; rename "
                             "the rule (or the LF) before switching it on")
        new = {**old, "enabled": enabled, "updated_at": time.time()}
        store.write_rule(pid, name, new, expect=old, last_one=last_one,
                         sources=source_lfs(store, pid))
        return _view(name, new, labels), True
    rule = _stored_name(_check(store, pid, _edited(old["rule"], data),
                               also=("if_unchanged_since",)))
    same = rule == Rule.from_dict(old["rule"], len(labels))  # stored before a new flag too
    if same and _enabled(data, old["enabled"]) == old["enabled"]:
        return _view(name, old, labels), False
    history = [*old.get("history", []), {"rule": old["rule"], "until": time.time()}]
    new = {**old, "rule": rule.to_dict(), "updated_at": time.time(),
           "enabled": _enabled(data, old["enabled"]),
           "history": history[-MAX_HISTORY:]}
    store.write_rule(pid, rule.name, new, expect=old, rename_from=name, last_one=last_one,
                     sources=source_lfs(store, pid))
    return _view(rule.name, new, labels), True


def _already(store: RedisStore, pid: str, old: dict[str, Any], data: dict[str, Any]) -> bool:
    """Whether the rule ``old`` already is what the edit ``data`` asks for: then an
    edit made on an older version overwrites nothing, and it is answered as one that
    changes nothing (a client's retry trial: an edit whose reply was lost was sent
    again with the same ``if_unchanged_since`` and refused, "changed in another tab,
    or by someone else": the change was its own)."""
    if set(data) == {"enabled"}:
        return _enabled(data, old["enabled"]) == old["enabled"]
    try:
        rule = _stored_name(_check(store, pid, _edited(old["rule"], data)))
    except LoopError:  # not an edit this rule could take: the 409 says why it failed
        return False
    n_labels = len(store.get_project(pid)["labels"])
    return (rule == Rule.from_dict(old["rule"], n_labels)
            and _enabled(data, old["enabled"]) == old["enabled"])


def _edited(old: dict[str, Any], data: Any) -> Any:
    """A stored rule with the fields an edit sends; an edit to another kind leaves
    the old kind's own fields behind (re-trial: the editor sent a keywords rule's
    change to regex with its pattern, and the stored keywords came along: 400, "a
    regex rule takes no keywords", so no rule could change its kind)."""
    if not isinstance(data, dict):
        return data
    out = dict(old)
    kind = data.get("kind", old.get("kind"))
    if kind != old.get("kind"):
        for f in KIND_FIELDS.get(str(old.get("kind")), ()):
            out.pop(f, None)
        if kind == "field":  # what a keyword or regex rule read: a field rule takes none
            out.pop("reads", None)
    return {**out, **data}


def delete_rule(store: RedisStore, pid: str, name: str) -> dict[str, Any]:
    """Delete rule ``name`` as it is when deleted (an edit that lands between the
    read and the write is deleted with it, not a 409)."""
    def delete() -> dict[str, Any]:
        old = _existing(store, pid, name)
        last_one = _keep_one(store, pid, name) if old["enabled"] else None
        store.write_rule(pid, name, None, expect=old, last_one=last_one,
                         sources=source_lfs(store, pid))
        return {"deleted": name}

    return _on_current(delete)


# -- what the web process reads: texts, gold, L ----------------------------------------------
class _Corpus:
    """A project's item texts (and fields) in row order, grown as items are appended."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.texts: list[str] = []
        self.fields: list[dict[str, Any]] = []
        self.batch: TextBatch | None = None
        #: bytes of the longest text (as a rule reads it)
        self.longest = 0
        self.index: tuple[int, TermIndex] | None = None
        self.lock = threading.Lock()


#: Projects whose texts a web process keeps for previews and suggestions: the most
#: recently used. Each holds its items' texts and a term index (6.7 MB for sms's
#: 5,071 texts); kept for every project ever previewed, a web process grew by each
#: one, deleted projects' too (team session).
MAX_CORPORA = 4

_CORPORA: OrderedDict[str, _Corpus] = OrderedDict()
_CORPORA_LOCK = threading.Lock()


def _corpus(store: RedisStore, pid: str) -> _Corpus:
    with _CORPORA_LOCK:
        c = _CORPORA.get(pid)
        if c is None:
            c = _CORPORA[pid] = _Corpus()
        _CORPORA.move_to_end(pid)
        while len(_CORPORA) > MAX_CORPORA:  # a request still reading one keeps it
            _CORPORA.popitem(last=False)
    with c.lock:
        n = store.n_items(pid)
        if n > len(c.ids):
            ids = store.item_ids(pid, len(c.ids), n)
            items = store.items(pid, ids)
            c.ids += [i["id"] for i in items]
            c.texts += [i["text"] for i in items]
            c.fields += [i.get("fields") or {} for i in items]
            c.batch = None
        if c.batch is None:
            c.batch = TextBatch(c.texts)
            c.longest = max(map(len, c.batch.texts), default=0)
        return c


def _term_index(c: _Corpus) -> TermIndex:
    with c.lock:
        if c.index is None or c.index[0] != len(c.texts):
            c.index = (len(c.texts), TermIndex(c.texts))
        return c.index[1]


def _hits(c: _Corpus, rule: Rule, project: dict[str, Any],
          deadline: float | None = None, failed: np.ndarray | None = None,
          records: list[dict[str, Any]] | None = None) -> np.ndarray:
    """(n_items,) bool: the items ``rule`` matches, as the worker's run would
    (:class:`~loop.core.rules.RuleTooSlow` past ``deadline``; ``failed``: see
    :meth:`~loop.core.rules.Rule.match`; ``records``: its :func:`_records`, read
    already)."""
    return rule.match(c.batch if c.batch is not None else c.texts,
                      _records(c, rule, project.get("text_field")) if records is None
                      else records, deadline=deadline, failed=failed)


def _matched(c: _Corpus, rule: Rule, project: dict[str, Any], n_examples: int,
             ) -> tuple[np.ndarray, dict[int, list[tuple[int, int]]], dict[str, Any] | None,
                        list[int]]:
    """The items ``rule`` matches (:func:`_hits`), where it matches the texts of
    ``n_examples`` of them (rows in a fixed shuffle: "Show more" keeps the ones
    shown) and the values it could not compare (:func:`_uncomparable`, which may read
    the texts again), and how many items are left after its own condition and after
    each of its conditions, within :data:`RULE_SECONDS` (else :class:`RuleTooSlow`).

    The deadline is checked between RE2's searches, and one search reads a window of
    texts, but a text longer than the window alone: a regex over such a text can
    outrun its deadline by minutes ("(.+\\s?){1,999}x" read a text of 1,000,000
    characters in 61 s of a preview limited to 10 s, security trial), and no RE2 call
    can be stopped. So a regex over items with a text longer than the window is
    matched in a child process, killed at the limit (:func:`_apart`)."""
    deadline = time.perf_counter() + RULE_SECONDS

    def work() -> tuple[np.ndarray, dict[int, list[tuple[int, int]]], dict[str, Any] | None,
                        list[int]]:
        failed = np.empty(len(c.ids), dtype=np.int64)  # the test each item failed
        records = _records(c, rule, project.get("text_field"))
        hit = _hits(c, rule, project, deadline, failed, records)
        rows = np.random.default_rng(0).permutation(np.flatnonzero(hit))[:n_examples]
        # an item is left after test j when it failed none, or one after j
        steps = [int(((failed < 0) | (failed > j)).sum()) for j in range(len(rule.tests()))]
        # (a rule reading the words between a relation's entities marks them there)
        return (hit, {r: rule.spans(c.texts[r], record=None if records is None
                                    else records[r]) for r in rows.tolist()},
                _uncomparable(c, rule, project, hit, deadline, failed), steps)

    if any(t.kind == "regex" for t, _ in rule.tests()) and c.longest > WINDOW_BYTES:
        return _apart(work, deadline + RULE_GRACE, len(c.ids))  # type: ignore[no-any-return]
    return work()


def _apart(work: Callable[[], Any], deadline: float, n: int) -> Any:
    """``work()`` run in a forked child process, which is killed at ``deadline``
    (:class:`RuleTooSlow`, ``done`` -1 where the child could not say how far it read):
    the web thread waiting for it is free again then, and no core goes on reading.
    The child reads what the parent holds (copy on write), writes its answer to a pipe
    and exits; it touches no Redis connection, lock or file of the parent's."""
    r, w = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover (the child: its coverage is not collected)
        code = 1
        try:
            os.close(r)
            from loop.service.worker import die_with_parent

            die_with_parent()
            try:
                out: tuple[str, Any] = ("ok", work())
            except RuleTooSlow as exc:
                out = ("slow", (exc.done, exc.condition))
            with os.fdopen(w, "wb") as f:
                pickle.dump(out, f, protocol=pickle.HIGHEST_PROTOCOL)
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    chunks: list[bytes] = []
    try:
        while True:
            left = deadline - time.perf_counter()
            if left <= 0 or not select.select([r], [], [], left)[0]:
                raise RuleTooSlow(-1, n)
            chunk = os.read(r, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(r)
        os.kill(child, signal.SIGKILL)  # (not reaped yet: its pid is not reused)
        os.waitpid(child, 0)
    if not chunks:
        raise RuntimeError("the rule preview's child process ended without an answer")
    kind, value = pickle.loads(b"".join(chunks))
    if kind == "slow":
        raise RuleTooSlow(value[0], n, value[1])
    return value


def _records(c: _Corpus, rule: Rule, text_field: str | None) -> list[dict[str, Any]] | None:
    """What a field rule (or a rule's field conditions) reads of each item, as the
    worker's LFs see it: the uploaded fields, then ``id``, ``text`` and the text
    field's own name (the item's own)."""
    fields = rule.fields
    if not fields and not rule.reads_pair:
        return None
    own = [f for f in fields if f in ("id", "text", text_field or "text")]
    if not own:  # (the same list each time: what a rule reads of it is kept with the
        return c.fields  # texts, TextBatch.read_parts)
    if fields == ("id",) and not rule.reads_pair:
        return [{"id": i} for i in c.ids]
    if len(fields) == 1 and not rule.reads_pair:
        return [{fields[0]: t} for t in c.texts]
    # fields and the item's own beside them (a rule with conditions): one dict each
    return [{**f, **{x: (i if x == "id" else t) for x in own}}
            for i, t, f in zip(c.ids, c.texts, c.fields, strict=True)]


# -- preview ------------------------------------------------------------------------------
def preview(store: RedisStore, pid: str, data: Any) -> dict[str, Any]:
    """What a rule would do, before it is saved: coverage on all items, overlaps and
    conflicts with the current LFs (``same_as``: those that vote its label on exactly
    its items), precision and recall on the gold so far, and matched items with the
    current model's guess (429 while :data:`PREVIEW_SLOTS` previews run in this
    process)."""
    if not _PREVIEWS.acquire(blocking=False):
        raise TooManyRequests(
            f"{PREVIEW_SLOTS} rule previews are running in this web process, the most at "
            "once (so that annotators' requests are answered meanwhile; a preview may take "
            f"{RULE_SECONDS:g} s): try again in a moment", retry_after=1)
    try:
        return _preview(store, pid, data)
    finally:
        _PREVIEWS.release()


def _preview(store: RedisStore, pid: str, data: Any) -> dict[str, Any]:
    t0 = time.perf_counter()
    project = store.get_project(pid)
    labels = project["labels"]
    replacing = data.get("replacing") if isinstance(data, dict) else None
    n_examples = data.get("examples", N_EXAMPLES) if isinstance(data, dict) else N_EXAMPLES
    if (not isinstance(n_examples, int) or isinstance(n_examples, bool)
            or not 1 <= n_examples <= MAX_EXAMPLES):
        raise BadRequest(f"examples must be a whole number from 1 to {MAX_EXAMPLES}, got "
                         f"{json.dumps(n_examples, default=repr)}")
    if isinstance(data, dict):  # a rule being written may have no name yet
        data = {"name": "preview", **{k: v for k, v in data.items()
                                      if k not in ("replacing", "examples")}}
    rule = _check(store, pid, data)
    c = _corpus(store, pid)
    n = len(c.ids)
    try:
        hit, spans, un, steps = _matched(c, rule, project, n_examples)
    except RuleTooSlow as exc:
        read = (f"read {exc.done:,} of the {exc.n:,} items" if exc.done >= 0
                else f"did not finish reading the {exc.n:,} items")
        # which pattern, of a rule with conditions (None: the child process was
        # stopped before it could say)
        which = ("this pattern" if not rule.conditions
                 else f"the pattern of condition {exc.condition}" if exc.condition
                 else "the rule's own pattern" if exc.condition == 0
                 else "one of its patterns")
        raise BadRequest(
            f"rule: {which} is too slow for these items: {RULE_SECONDS:g} s, the most a "
            f"preview may take, {read}. RE2 runs in linear "
            "time, but a large repetition of a broad group, such as (.+\\s?){1,999}, costs "
            "thousands of steps per character of a long text: use + or * instead of a large "
            "count, or a narrower class than . or \\w") from None
    L, meta = store.load_L(pid)
    others = np.zeros((n, 0), dtype=np.int8)
    names: list[str] = []
    if L is not None and L.shape[0] == n:
        keep = [j for j, x in enumerate(meta["lf_names"]) if x not in (rule.name, replacing)]
        others = L[:, keep]
        names = [meta["lf_names"][j] for j in keep]
    # an LF voting the same label on exactly these items: saved, the rule would count
    # the same evidence twice (rule author's trial: a copy of a rule, no warning)
    votes = np.where(hit, rule.label, -1)
    same_as = ([names[j] for j in np.flatnonzero((others == votes[:, None]).all(axis=0))]
               if hit.any() else [])  # (a rule matching nothing is no copy of a silent LF)
    voted = others >= 0  # any() over zero LF columns is False: no LFs, no overlaps
    over = voted[hit].any(axis=1)
    conf = (voted[hit] & (others[hit] != rule.label)).any(axis=1)
    covered = voted.any(axis=1)
    y = known_labels(store, pid, n, held_out=False)  # never the held-out labels (lf_stats)
    g = y >= 0
    gh = g & hit
    right = int((y[gh] == rule.label).sum())
    n_class = int((y[g] == rule.label).sum())
    proba, source = _model_proba(store, pid, len(labels), n)
    rows = np.flatnonzero(hit)
    examples = []
    for r in spans:  # in the shuffle's order (_matched): "Show more" appends
        guess = None
        if proba is not None and np.isfinite(proba[r]).all():  # the label model's
            k = int(proba[r].argmax())                        # rows without a vote: none
            guess = {"label": labels[k], "p": round(float(proba[r, k]), 3), "model": source}
        text, marks = excerpt(shown(c.texts[r]), spans[r])
        examples.append({"id": c.ids[r], "text": text, "marks": marks,
                         "entities": entities(c.fields[r]) if c.fields else {},
                         "gold": labels[y[r]] if y[r] >= 0 else None, "guess": guess})
    m = int(hit.sum())
    # what the models read its items as: a rule voting ham on items they read as spam
    # is most likely a slip of the label box (new-user trial: no warning)
    models = None
    if proba is not None and m:
        ok = np.isfinite(proba[rows]).all(axis=1)
        if ok.any():
            read = proba[rows[ok]].argmax(axis=1)
            counts = np.bincount(read, minlength=len(labels))
            top = int(counts.argmax())
            models = {"model": source, "n": int(ok.sum()),
                      "agree": float(proba[rows[ok], rule.label].mean()),
                      "most": labels[top], "most_share": float(counts[top] / ok.sum()),
                      # how sure they are of it, and whether anything has taught them
                      # the rule's class yet: an LF voting it or a known label of it
                      # (new-user trial: "reads 100% as Health" of a Politics rule when
                      # one Health rule was all the models knew, every guess at 43%)
                      "most_p": float(proba[rows[ok][read == top], top].mean()),
                      "label_taught": bool((others == rule.label).any() or n_class > 0)}
    return {
        "rule": rule.to_dict(), "label_name": labels[rule.label], "n_items": n,
        "models": models,
        "matched": m, "coverage": m / n if n else 0.0,
        # the items left after its own condition, then after each of its conditions
        "steps": steps,
        "new_coverage": int((hit & ~covered).sum()),
        "overlaps": int(over.sum()), "conflicts": int(conf.sum()),
        "n_lfs_compared": int(others.shape[1]), "same_as": same_as,
        "gold": {"n_gold": int(g.sum()), "matched": int(gh.sum()), "right": right,
                 "precision": right / int(gh.sum()) if gh.any() else None,
                 "recall": right / n_class if n_class else None},
        "examples": examples,
        # "and not" words that would leave out mostly the answered items it gets wrong
        "exclusions": _exclusions(c, rule, y, gh),
        # matching nothing: the values of an == / "one of" field test stored in another
        # case (new-user trial: "source == Forwarded" matched none of "forwarded")
        "case_differs": _case_differs(c, rule, project) if not m else [],
        # values a < or > rule cannot read as numbers or dates never match (new-user
        # trial: "views > 1000" passed over every "1,234" and "12,000", unsaid)
        "uncomparable": un,
        "ms": round(1000 * (time.perf_counter() - t0), 1),
        # RE2 reads its \b, \B or \w by ASCII letters only (loop.core.regex_words)
        "ascii_words": any(t.kind == "regex" and ascii_words(t.pattern)
                           for t, _ in rule.tests()),
        # a regex rule ignores case unless told: its [A-Z] reads any letter (trial: a
        # "shouting" rule matched 1,661 of youtube's 1,686 comments; 293 with case)
        "folds_capitals": any(t.kind == "regex" and not t.case_sensitive
                              and folds_capitals(t.pattern) for t, _ in rule.tests()),
    }


def _case_differs(c: _Corpus, rule: Rule, project: dict[str, Any]) -> list[dict[str, Any]]:
    """Of each ``==`` or ``in`` field test (the rule's own or a condition, not an
    "and not") whose values no item holds as written, up to 3 values items hold that
    differ from them in case only: ``[{field, as_stored}]``."""
    tests = [t for t, neg in rule.tests() if t.kind == "field" and t.op in ("==", "in")
             and not neg]
    records = _records(c, rule, project.get("text_field")) if tests else None
    out = []
    for t in tests:
        wanted = t.value if isinstance(t.value, tuple) else (t.value,)
        exact = {str(v) for v in wanted}
        folded = {v.casefold() for v in exact}
        seen = {str(v) for v in (field_value(r, t.field) for r in records or ())
                if v is not None}
        if seen & exact:
            continue
        near = sorted(v for v in seen if v.casefold() in folded)[:3]
        if near:
            out.append({"field": t.field, "as_stored": near})
    return out


#: Most answered items a preview reads for its "and not" suggestions (a random sample
#: of them beyond that).
EXCLUSION_GOLD = 1000


def _exclusions(c: _Corpus, rule: Rule, y: np.ndarray, gh: np.ndarray) -> list[dict[str, Any]]:
    """Up to 3 "and not" keywords that would make the rule more precise on the
    answered items it matches (:func:`~loop.core.suggest.suggest_exclusions`), none
    of the words it names already; of a rule that reads between a relation's
    entities, words there, in conditions that read there too."""
    rows = np.flatnonzero(gh)
    if rows.size > EXCLUSION_GOLD:
        rows = np.sort(np.random.default_rng(0).choice(rows, EXCLUSION_GOLD, replace=False))
    own = [w for t, _ in rule.tests() if t.kind == "keywords" for w in t.keywords]
    texts = [c.texts[r] or "" for r in rows]
    if rule.kind != "field" and rule.reads == BETWEEN:
        # words between the entities, as the rule reads them: a word elsewhere in a
        # sentence whose other pairs it gets right is no reason to leave a pair out
        texts = [t[a:b] for t, (a, b) in (
            (t, between(t, c.fields[r]) or (0, 0)) for t, r in
            zip(map(shown, texts), rows.tolist(), strict=True))]
    found = suggest_exclusions(texts, y[rows], rule.label, skip=own)
    out = [e.to_dict() for e in found]
    if rule.kind != "field" and rule.reads == BETWEEN:
        for e in out:
            e["condition"]["reads"] = BETWEEN
    return out


def _uncomparable(c: _Corpus, rule: Rule, project: dict[str, Any], hit: np.ndarray,
                  deadline: float | None = None, failed: np.ndarray | None = None,
                  ) -> dict[str, Any] | None:
    """Of a ``<``/``>`` field rule (or field condition), the items whose value it
    cannot compare where that decided the vote (:func:`~loop.core.rules.uncomparable`:
    of its own or a positive condition, an item it does not match only for that; of
    an "and not" condition, one it matches): ``{n, examples, fields, negated}`` (the
    fields of those comparisons, whether one is an "and not"), or None when there is
    none."""
    tests = [(t, neg) for t, neg in rule.tests() if t.kind == "field" and t.op in ORDERED_OPS]
    records = _records(c, rule, project.get("text_field"))
    if records is None or not tests:
        return None
    n, examples = uncomparable(rule, records, hit=hit, deadline=deadline, failed=failed,
                               texts=c.batch if c.batch is not None else c.texts)
    return {"n": n, "examples": examples,
            "fields": list(dict.fromkeys(t.field for t, _ in tests)),
            "negated": any(neg for _, neg in tests)} if n else None


def _model_proba(store: RedisStore, pid: str, k: int, n: int
                 ) -> tuple[np.ndarray | None, str | None]:
    """The models' class probabilities of the ``n`` items and which model's they are:
    the end model's (every item), else the label model's (NaN where no LF votes),
    else ``(None, None)``."""
    if store.model_summary(pid, "end_model"):
        proba = store.load_proba(pid, "end_model", k)
        if proba is not None and len(proba) == n:
            return proba, "end_model"
    proba = store.load_proba(pid, "label_model", k)
    return (proba, "label_model") if proba is not None and len(proba) == n else (None, None)


# -- suggestions ------------------------------------------------------------------------------
def _never_proposed(store: RedisStore, pid: str, rules: dict[str, Any], k: int) -> set[str]:
    """The keys of suggestions never to propose or accept: rejected ones, the saved
    ``rules``, and each keyword of a saved keyword rule alone (its items are the
    rule's already, and until the rule is applied nothing in L says so)."""
    out = store.rejected_suggestions(pid)
    for rec in rules.values():
        rule = Rule.from_dict(rec["rule"], k)
        out.add(rule_key(rule))
        out |= {rule_key(dataclasses.replace(rule, keywords=(kw,)))
                for kw in rule.keywords if rule.kind == "keywords"}
    return out


def _suggest(store: RedisStore, pid: str, k: int, keep_redundant: bool = False,
             min_model_precision: float = MIN_MODEL_PRECISION,
             ) -> tuple[list[Suggestion], _Corpus, np.ndarray, bool]:
    """The suggestions, the corpus and the gold they were mined from, and whether
    there is no model yet to check them against (then no suggestion)
    (``keep_redundant``: also rules whose items mostly have a vote for their label;
    ``min_model_precision``: see :func:`~loop.core.suggest.suggest_rules`)."""
    project = store.get_project(pid)
    c = _corpus(store, pid)
    n = len(c.ids)
    y = known_labels(store, pid, n, held_out=False)  # mined from gold not held out
    L, meta = store.load_L(pid)
    if L is None or L.shape[0] != n:
        L, meta = np.full((n, 0), -1, dtype=np.int8), {}
    applied = set((meta or {}).get("lf_names", []))
    kk = len(project["labels"])
    existing = store.rules(pid)
    exclude = _never_proposed(store, pid, existing, kk)
    pending = []
    for name, rec in existing.items():
        rule = Rule.from_dict(rec["rule"], kk)
        if rec.get("enabled", True) and name not in applied:
            # saved, not applied yet: its votes count already, so a phrase that holds
            # its keyword ("like this" after "like") is not proposed for its items
            pending.append(np.where(_hits(c, rule, project), rule.label, -1).astype(L.dtype))
    if pending:
        L = np.column_stack([L, *pending])
    records = c.fields if any(c.fields[:200]) else None
    proba, _ = _model_proba(store, pid, kk, n)
    if proba is None:
        # no model fitted yet: a candidate cannot be checked beyond the few answers
        # behind it (re-trial: "reply" -> spam at 80% on 3 answers, 70% true)
        return [], c, y, True
    held_out = np.zeros(n, dtype=bool)  # labels kept to score the models: not unlabeled
    ev = store.rows_of(pid, list(store.eval_ids(pid)))
    held_out[ev[(ev >= 0) & (ev < n)]] = True
    sugs = suggest_rules(c.texts, y, L, kk, k=k, index=_term_index(c), records=records,
                         exclude=exclude, min_fresh=0.0 if keep_redundant else MIN_FRESH,
                         proba=proba, min_model_precision=min_model_precision,
                         held_out=held_out & (y < 0))
    labels = project["labels"]
    taken = set(existing) | set(module_lf_names(store, pid))
    out = []
    for s in sugs:  # readable names: <label>_<words>
        r = s.rule
        what = "_".join(r.keywords[0].split()) if r.kind == "keywords" else \
            f"{r.field}_{r.value}"
        base = safe_name(f"{labels[r.label]}_{what}")[:90]
        name, i = base, 2
        while name in taken:
            name, i = f"{base}_{i}", i + 1
        taken.add(name)
        out.append(dataclasses.replace(s, rule=dataclasses.replace(r, name=name)))
    return out, c, y, False


def suggestions(store: RedisStore, pid: str, k: int = 10) -> dict[str, Any]:
    """The ``k`` best rule candidates, each with its evidence items."""
    if not 1 <= k <= 100:
        raise BadRequest(f"k must be from 1 to 100, got {k}")
    t0 = time.perf_counter()
    sugs, c, y, waiting = _suggest(store, pid, k)
    labels = store.get_project(pid)["labels"]

    def item(r: int) -> dict[str, Any]:
        return {"id": c.ids[r], "text": c.texts[r][:300], "gold": labels[y[r]]}

    store.note_shown_suggestions(pid, {s.key: s.rule.to_dict() for s in sugs})
    out = []
    for s in sugs:
        d = s.to_dict(labels)
        d["support"] = [item(r) for r in s.support]
        d["contradict"] = [item(r) for r in s.contradict]
        out.append(d)
    # None left: say whether that is for want of evidence, or because the candidates
    # would repeat votes the LFs already cast (then the user knows rules are not missing).
    redundant, doubtful = [], []
    if not sugs and (y >= 0).any() and not waiting:
        redundant = [{"key": s.key, "rule": s.rule.to_dict(), "label_name": labels[s.rule.label],
                      "coverage": s.coverage, "fresh": s.fresh}
                     for s in _suggest(store, pid, 3, keep_redundant=True)[0]]
        if not redundant:  # right on their answers, but not as the models read their items
            doubtful = [{"key": s.key, "rule": s.rule.to_dict(),
                         "label_name": labels[s.rule.label], "n_gold": s.n_gold,
                         "n_right": s.n_right, "model_precision": s.model_precision}
                        for s in _suggest(store, pid, 3, min_model_precision=0.0)[0]]
    return {"suggestions": out, "n_gold": int((y >= 0).sum()), "redundant": redundant,
            "doubtful": doubtful, "min_model_precision": MIN_MODEL_PRECISION,
            "waiting_for_models": waiting, "ms": round(1000 * (time.perf_counter() - t0), 1)}


def accept_suggestion(store: RedisStore, pid: str, key: Any) -> dict[str, Any]:
    """Turn the suggestion ``key`` into a rule (404 when it is neither shown in the
    last day nor proposed now, or is rejected or a rule already).

    What the user saw is what they accept: the rule as the suggestions list showed
    it. A recalibration between showing the list and the click can drop it from
    the candidates altogether (CI: a phrase ranked under its word once the models
    moved, "the world" after "world", and Accept found nothing)."""
    if not isinstance(key, str) or not key:
        raise BadRequest("key must be a suggestion's key")
    shown_rule = store.shown_suggestion(pid, key)
    if shown_rule is not None:
        k = len(store.get_project(pid)["labels"])
        if key in _never_proposed(store, pid, store.rules(pid), k):
            shown_rule = None
    match = ([shown_rule] if shown_rule is not None else
             [s.rule.to_dict() for s in _suggest(store, pid, 100)[0] if s.key == key])
    if not match:
        # accepted already: a click sent again, or a retry whose reply was lost (data
        # scientist's trial: a 404 "load the suggestions again", where the README
        # promised a 409 made already)
        name = _rule_of_suggestion(store, pid, key)
        if name is not None:
            raise SuggestionIsRule(f"suggestion {key!r} is the rule {name!r} already "
                                   "(accepted before); nothing was changed", rule=name)
        raise NotFound(f"no current suggestion {key!r}; load the suggestions again")
    return create_rule(store, pid, match[0], source="suggestion")


def _rule_of_suggestion(store: RedisStore, pid: str, key: str) -> str | None:
    """The name of the saved rule that suggestion ``key`` is (accepted, or written
    as such), else None."""
    k = len(store.get_project(pid)["labels"])
    for name, rec in store.rules(pid).items():
        rule = Rule.from_dict(rec["rule"], k)
        if not rule.conditions and rule_key(rule) == key:
            return str(name)
    return None


def reject_suggestion(store: RedisStore, pid: str, key: Any) -> dict[str, Any]:
    """Never propose suggestion ``key`` again (409 when it is a saved rule: an accept
    and a reject of one suggestion both answered 2xx, the rule staying)."""
    k = len(store.get_project(pid)["labels"])
    m = SUGGESTION_KEY.fullmatch(key) if isinstance(key, str) and len(key) <= 3000 else None
    if m is None or int(m.group(1)) >= k:
        raise BadRequest(f"key must be a suggestion's key (kind:what:label, as GET "
                         f".../rules/suggestions gives it), got {shorten(str(key))!r}")
    name = _rule_of_suggestion(store, pid, key)  # accepted already (or written as such)
    if name is not None:
        raise SuggestionIsRule(f"suggestion {key!r} is the rule {name!r} now: delete or "
                               "switch off that rule instead", rule=name)
    store.reject_suggestion(pid, key)
    return {"rejected": key}
