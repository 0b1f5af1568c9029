"""Projects and their annotators."""

from __future__ import annotations

import re
import time
from typing import Any

from loop.core.text import hidden_char, name_key
from loop.errors import BadRequest, NotFound, shorten
from loop.service.lf_modules import check_lf_module
from loop.storage import RedisStore
from loop.storage.projects import token_expired

#: Upper bound on a project's ``answers_per_item``.
MAX_ANSWERS_PER_ITEM = 20
#: Longest guidelines text accepted (characters).
MAX_GUIDELINES = 20_000
#: Most labels a project may have: each is a button on the labeling page, a
#: column of every export and a class the label model estimates.
MAX_LABELS = 100


def create_project(
    store: RedisStore, name: Any, labels: Any, lf_module: Any, text_field: Any = "text",
    answers_per_item: Any = 1, guidelines: Any = "", blind: Any = False,
    lf_import_timeout: float = 20.0,
) -> dict[str, Any]:
    """Create a project after checking every argument (400 naming what to send).

    The LF module is imported in a subprocess with a time limit, never here. Without
    one (``lf_module`` None or ""), the project's LFs are its rules.
    ``answers_per_item`` (k): how many different annotators answer each item.
    ``blind``: the labeling page shows neither the models' guess nor the LF votes,
    so that every answer is the annotator's own reading (a guess anchors people).
    """
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise BadRequest("name must be a non-empty string of at most 200 characters")
    _no_hidden_char("the project name", name)
    names, style = check_labels(labels)
    if not isinstance(text_field, str) or not text_field.strip() or len(text_field) > 200:
        raise BadRequest("text_field must be the name (at most 200 characters) of the "
                         "uploaded field that holds the text to label")
    _no_hidden_char("text_field", text_field)
    if (not isinstance(answers_per_item, int) or isinstance(answers_per_item, bool)
            or not 1 <= answers_per_item <= MAX_ANSWERS_PER_ITEM):
        raise BadRequest(f"answers_per_item must be an integer from 1 to "
                         f"{MAX_ANSWERS_PER_ITEM}, got {answers_per_item!r}")
    if not isinstance(blind, bool):
        raise BadRequest(f"blind must be true or false, got {blind!r}")
    text = check_guidelines(guidelines)
    if lf_module in (None, ""):  # rules only: written on the dashboard or through the API
        lf_module, lf_names = None, []
    else:
        lf_names = check_lf_module(lf_module, timeout=lf_import_timeout)
    project = store.create_project({"name": name.strip(), "labels": names,
                                    "label_style": style, "lf_module": lf_module,
                                    "text_field": text_field, "lfs": lf_names,
                                    "answers_per_item": answers_per_item,
                                    "blind": blind})
    if text:
        store.set_guidelines(project["id"], text)
    return project


def delete_project(store: RedisStore, pid: str, confirm: Any) -> dict[str, Any]:
    """Delete a project for good: its items, answers, rules, models, exports' list
    and annotators (their tokens stop working). ``confirm`` must be the project's
    name, so that no id pasted by mistake deletes anything."""
    project = store.get_project(pid, any_schema=True)  # an old one can go too
    if confirm != project["name"]:
        raise BadRequest(f"to delete project {project['name']!r} with its items, answers, "
                         "rules and annotators for good, send {\"confirm\": \"<its name>\"}")
    store.delete_project(pid)
    return {"deleted": pid, "name": project["name"]}


#: Colours labels get by default (in order), and keys that are not free for labels.
PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04",
           "#db2777", "#4b5563", "#65a30d",
           # lighter and darker shades for labels 11-20 (a new-user trial's 11th and
           # 12th labels took the 1st's and 2nd's colours)
           "#60a5fa", "#f87171", "#4ade80", "#c084fc", "#fb923c", "#22d3ee", "#facc15",
           "#f472b6", "#9ca3af", "#a3e635")
#: Keys labels get by default after 1..9 and 0: letters, those of the page's own
#: shortcuts left out (an 11th label had no key: 16 Tabs to answer it).
DEFAULT_KEYS = "1234567890abcdefijklnopqrtvwxyz"
RESERVED_KEYS = frozenset("sughm?")
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


def check_labels(labels: Any) -> tuple[list[str], list[dict[str, Any]]]:
    """Label names and their look: ``labels`` is a list of names or of
    ``{name, color, key}`` (colour ``#rrggbb``, key one letter or digit); missing
    colours come from :data:`PALETTE`, missing keys are 1..9 and 0 in order."""
    if not isinstance(labels, list) or len(labels) < 2:
        raise BadRequest("labels must be a list of at least two labels (names, or "
                         "objects {name, color, key})")
    if len(labels) > MAX_LABELS:
        raise BadRequest(f"labels: a project has at most {MAX_LABELS} labels, got "
                         f"{len(labels)}; group rare classes under fewer labels")
    raw = [x if isinstance(x, dict) else {"name": x} for x in labels]
    for x in raw:  # a misspelt "colour" stored the default colour (security trial)
        odd = sorted(set(map(str, x)) - {"name", "color", "key"})
        if odd:
            raise BadRequest(f"label {shorten(str(x.get('name')), 40)!r}: unknown key"
                             f"{'s' if len(odd) > 1 else ''} {', '.join(map(repr, odd))}; "
                             "a label has name, color (#rrggbb) and key")
    names = [x.get("name") for x in raw]
    number = next((x for x in names if isinstance(x, int | float) and not isinstance(x, bool)),
                  None)
    if number is not None:  # a data scientist's [0, 1] was told names were empty
        raise BadRequest(f"labels are names (strings), got the number {number!r}: write "
                         f"the names the annotators see, e.g. [\"ham\", \"spam\"] (or "
                         f"[\"0\", \"1\"]); known labels in uploads may still be given "
                         "as indices from 0")
    if not all(isinstance(x, str) and x.strip() and len(x) <= 100 for x in names):
        raise BadRequest("every label needs a non-empty name of at most 100 characters")
    for n in names:  # shown on every page and as export columns (p_<label>)
        _no_hidden_char(f"label {n!r}", str(n))
    if len(set(names)) != len(names):
        twice = sorted({str(n) for n in names if names.count(n) > 1})
        raise BadRequest(f"labels must be unique: {', '.join(twice)} given more than once")
    checked = [str(n) for n in names]  # all strings by now
    for n in checked:  # "spam " beside "spam": two labels that read alike on every page
        if n != n.strip():
            raise BadRequest(f"label {n!r} starts or ends with a space; write it without")
    seen: dict[str, str] = {}
    for n in checked:  # "Africa" and "africa", or é composed and decomposed
        same = seen.setdefault(name_key(n), n)
        if same != n:
            raise BadRequest(f"labels {same!r} and {n!r} differ only in case or in how "
                             "their characters are written; uploads and exports tell "
                             "labels apart by name, so give them names that differ")
    style, used = [], set()
    asked = {str(x["key"]).lower() for x in raw if isinstance(x.get("key"), str)}
    free = iter(c for c in DEFAULT_KEYS if c not in asked)  # not a key another label asks for
    for i, x in enumerate(raw):
        color = x.get("color") or PALETTE[i % len(PALETTE)]
        if not isinstance(color, str) or not _COLOR.match(color):
            raise BadRequest(f"label {names[i]!r}: color must look like #1f77b4, got {color!r}")
        key = x.get("key")
        if key in (None, ""):
            key = next(free, None)  # past 32 labels: none (the buttons and the list)
        if key is not None:
            if (not isinstance(key, str) or len(key) != 1 or not key.isalnum()
                    or key.lower() in RESERVED_KEYS or key.lower() in used):
                raise BadRequest(f"label {names[i]!r}: key must be one free letter or digit "
                                 "(not s: skip, u: undo, g: guidelines, h: help, m: my "
                                 f"answers, or one already used), got {key!r}")
            key = key.lower()
            used.add(key)
        style.append({"name": names[i], "color": color.lower(), "key": key})
    return [str(x) for x in names], style


def _no_hidden_char(what: str, text: str) -> None:
    """400 when ``text`` holds a control or invisible character (NUL, a right-to-left
    override, a zero-width space) or a line or paragraph separator: it would be
    shown, or go into export headers, as something else than it is. The joiner of
    emoji sequences is allowed."""
    odd = hidden_char(text.replace("\u200d", ""), ("Cc", "Cf", "Zl", "Zp"))
    if odd:
        raise BadRequest(f"{what} holds the control or invisible character {odd}; "
                         "write it without")


def check_guidelines(text: Any) -> str:
    if text is None:
        return ""
    if not isinstance(text, str) or len(text) > MAX_GUIDELINES:
        raise BadRequest(f"guidelines must be text of at most {MAX_GUIDELINES} characters")
    odd = hidden_char(text.replace("\n", "").replace("\t", "").replace("\r", ""), ("Cc",))
    if odd:  # line breaks and tabs are text; a NUL or an escape sequence is not
        raise BadRequest(f"guidelines hold the control character {odd}; write them without")
    return text


#: The longest an annotator's token may be set to last (days): ten years.
MAX_TOKEN_DAYS = 3650


def add_annotator(store: RedisStore, pid: str, name: Any, expires_in_days: Any = None,
                  replace: Any = True, replaces_made_at: Any = None) -> dict[str, Any]:
    """A new token for annotator ``name`` (shown once; an earlier token of the same
    name stops working, unless ``replace`` is false: then a 409 if it works now; or
    unless ``replaces_made_at`` is given and is not when the working token was made:
    then a 409 too, another admin having made a new one since).
    ``expires_in_days`` (a positive number, fractions allowed): the token stops
    working by itself that long from now; None: when revoked."""
    if not isinstance(replace, bool):
        raise BadRequest(f"replace must be true or false; got {replace!r}")
    if replaces_made_at is not None and (isinstance(replaces_made_at, bool) or not
                                         isinstance(replaces_made_at, int | float)):
        raise BadRequest("replaces_made_at must be the created_at of the token you mean "
                         f"to replace (a number), or null; got {replaces_made_at!r}")
    # "Admin" beside the admin's own answers would pass for them on every page and in
    # the export (security trial): the reserved name is compared as names are
    if not isinstance(name, str) or not name.strip() or name_key(name.strip()) == "admin" \
            or len(name) > 100:
        raise BadRequest("name must be a non-empty string (at most 100 characters) "
                         "other than 'admin' in any case")
    if (any(c in name for c in "/\\;:") or not name.strip(".").strip()
            or hidden_char(name)):
        # the name is a URL path segment (DELETE .../annotators/<name>): a '/' in it
        # made the annotator impossible to revoke; and the CSV export lists answers
        # as "name: label; name: label" (a name "x: spam; y" read as two annotators)
        raise BadRequest(f"annotator name may not hold '/', '\\', ';', ':', control or "
                         f"invisible characters, or be only dots; got {name!r}")
    expires_at = None
    if expires_in_days is not None:
        if (isinstance(expires_in_days, bool) or not isinstance(expires_in_days, int | float)
                or not 0 < expires_in_days <= MAX_TOKEN_DAYS):
            raise BadRequest(f"expires_in_days must be a number of days above 0 and at most "
                             f"{MAX_TOKEN_DAYS}, or null for a token that works until "
                             f"revoked; got {expires_in_days!r}")
        expires_at = time.time() + float(expires_in_days) * 86400
    store.get_project(pid)
    name = name.strip()
    n = store.annotator_stats(pid, name, 0)["answers_total"]
    made_at = time.time()
    token = store.add_annotator(pid, name, expires_at, replace=replace,
                                replaces_made_at=replaces_made_at, made_at=made_at)
    out: dict[str, Any] = {"name": name, "token": token, "created_at": made_at,
                           "expires_at": expires_at}
    if n:  # team lead's trial: the page asks first, the API said nothing
        out["note"] = (f"the name {name!r} has {n} answer{'s' if n != 1 else ''}: they go with "
                       "this token (its holder sees them and can undo the last); for another "
                       "person, use another name")
    return out


def revoke_annotator(store: RedisStore, pid: str, name: str,
                     made_at: Any = None) -> dict[str, Any]:
    """Revoke annotator ``name``'s token. ``made_at`` (the ``created_at`` of the token
    meant, as listed or as its creation answered): only that token; a 409 if the
    name has another working token (made since), and ``revoked: false`` when that
    token works no more, so a revoke sent again after a lost reply, or delivered
    late, never revokes the token made after it (client's retry trial: a late
    revoke by name revoked the new token just made for the name)."""
    if made_at is not None and (isinstance(made_at, bool)
                                or not isinstance(made_at, int | float)):
        raise BadRequest("made_at must be the created_at of the token you mean to revoke "
                         f"(a number), or null; got {made_at!r}")
    store.get_project(pid)
    done = store.revoke_annotator(pid, name, made_at)
    if done == "none":
        raise NotFound(f"no annotator {name!r} with a working token in project {pid}")
    if done == "gone":
        return {"name": name, "revoked": False,
                "note": "that token works no more (revoked already, or replaced)"}
    store.release_leases(pid, name)  # the items they held go back to the queue now
    return {"name": name, "revoked": True}


def discard_answers(store: RedisStore, pid: str, name: str, confirm: Any) -> dict[str, Any]:
    """Take back every answer annotator ``name`` gave (``admin``: those given with an
    admin key); ``confirm`` must be the name. Items others answered keep their
    answers, and the majority of those is their gold label; items nobody else
    answered need answers again."""
    store.get_project(pid)
    listed = {a["name"]: a for a in store.annotators(pid)}
    if name not in listed and not (name == "admin" and store.annotator_stats(
            pid, name, 0)["answers_total"]):
        raise NotFound(f"no annotator {name!r} in project {pid}")
    if confirm != name:
        raise BadRequest(f"this takes back every answer {name} gave, for good; to do it, "
                         f'send {{"confirm": "<the annotator\'s name>"}}')
    n, reopened = store.discard_answers(pid, name)
    rec = listed.get(name)
    out: dict[str, Any] = {"name": name, "discarded": n, "reopened": reopened}
    if rec is not None and not rec["revoked_at"] and not token_expired(rec):
        out["note"] = (f"{name}'s token still works, so their new answers count; revoke "
                       "it (DELETE /annotators/<name>) to stop them answering")
    return out
