"""Uploading items."""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np

from loop.core.rules import good_lf_name
from loop.core.text import alike
from loop.core.votes import check_names, read_votes, votes_count
from loop.core.votes import votes_names as lf_names
from loop.errors import MAX_ROW_ERRORS, BadRequest, BadUpload, DuplicateUpload, shorten
from loop.storage import RedisStore
from loop.uploads import LABEL_COLUMN_ROWS, ParsedUpload, label_columns, parse_items

#: Column names that usually hold the answer: kept as a field, annotators would see it
#: (the Data page's GOLD_NAMES, which it picks as known labels and else leaves out).
GOLD_LIKE = ("label", "labels", "class", "gold", "sentiment", "category", "target", "y")
def import_items(
    store: RedisStore, pid: str, data: bytes, fmt: str, *, id_field: str | None = None,
    text_field: str | None = None, gold_field: str | None = None, eval_fraction: float = 0.3,
    max_bytes: int | None = None, max_items: int | None = None, dry_run: bool = False,
    allow_duplicate: bool = False, drop: Sequence[str] = (), skip_stored: bool = False,
    votes_field: str | None = None, votes_names: Any = None, stored_labels: bool = False,
) -> dict[str, Any]:
    """Validate the whole file, then append every item in one transaction.

    ``dry_run``: validate (ids new to the project included) and report what would
    be stored, storing nothing. ``drop``: columns not kept as the items' fields.

    Two uploads to one project at the same time: one is stored, the other gets
    409 and nothing of it is written (:meth:`RedisStore.add_items`).

    A file whose items were all uploaded before is refused with
    :class:`DuplicateUpload`, unless ``allow_duplicate``: each item would be added
    a second time, under new ids. That is a file without ids (no ``id_field``) with
    the same texts and fields in the same order, or any file whose texts, in any
    order, are those of one earlier upload. With ids, an id already in the project
    is refused, unless ``skip_stored``: then the rows whose id is stored already are
    left out (``n_skipped``, ``skipped_ids``: the first 20), so that a file that grew
    can be uploaded again for its new rows; stored items are never changed, except
    with ``stored_labels`` (which skips them too): their rows' known labels go to them,
    as :func:`add_known_labels` gives them (``stored_labels`` in the reply).

    Of the uploaded gold labels (``gold_field``), a seeded ``eval_fraction`` is
    held out to score the models (never queued, never fitted on); the rest are
    gold like an expert's answers: the models are fitted on them, and, being a
    sample nobody's sampler picked, they also re-estimate LF precisions.

    ``votes_field``: a column of LF votes computed elsewhere (WRENCH's
    ``weak_labels``: one vote per LF, a class index from 0, -1 to abstain; see
    :func:`loop.core.votes.read_votes`). Each of its positions becomes an LF
    (``weak_labels[0]`` ...); the first upload that has it fixes the column and the
    number of LFs, and later uploads read the same column (items without it
    abstain). The votes are not kept as a field: annotators never see them.
    ``votes_names``: the LFs' names, in the order of the votes (a list, or one
    string separated by commas), with the first upload of votes only.
    """
    _check_fraction(eval_fraction)
    for flag, on in (("skip_stored", skip_stored), ("stored_labels", stored_labels)):
        if on and id_field is None:
            raise BadRequest(f"{flag} needs id_field: without it items are numbered by "
                             "row, so no row of a file is 'stored already'")
    if stored_labels and gold_field is None:
        raise BadRequest("stored_labels gives the stored items the known labels of "
                         "gold_field: name that column too")
    project = store.get_project(pid)
    start = store.n_items(pid)
    spec = store.votes_spec(pid)
    if votes_field is not None and spec is not None and votes_field != spec["field"]:
        raise BadRequest(f"the project's LF votes are read from the column "
                         f"{spec['field']!r} (set by its first upload with votes); upload "
                         f"them in that column, or leave votes_field out")
    if votes_names is not None and spec is not None:
        raise BadRequest("the project's uploaded LFs are named already (by its first upload "
                         "with votes); leave votes_names out")
    if votes_names is not None and votes_field is None:
        raise BadRequest("votes_names names the LFs of votes_field: give that too")
    if votes_field is not None and votes_field in drop:
        raise BadRequest(f"column {votes_field!r} is both votes_field and dropped; "
                         "leave it out of drop to read it as LF votes")
    parsed = parse_items(data, fmt, project["labels"], id_field=id_field,
                         text_field=text_field or project["text_field"], gold_field=gold_field,
                         first_row=start, max_bytes=max_bytes, max_items=max_items,
                         drop=drop)
    votes = None
    field = votes_field or (spec["field"] if spec else None)
    if field is not None:
        votes = _take_votes(parsed.items, field, project, spec, store.rules(pid),
                            given=votes_field is not None, names=votes_names)
    # ids already stored: refused (with ids) or avoided (row numbers), once here;
    # add_items checks again in its transaction
    skipped: list[str] = []
    for_stored: dict[str, int] = {}  # stored_labels: the stored rows' known labels
    if skip_stored or stored_labels:
        skipped = store.existing_ids(pid, [i["id"] for i in parsed.items])
        if skipped:
            gone = set(skipped)
            if stored_labels:
                for_stored = {k: v for k, v in parsed.gold.items() if k in gone}
            parsed = ParsedUpload([i for i in parsed.items if i["id"] not in gone],
                                  {k: v for k, v in parsed.gold.items() if k not in gone},
                                  parsed.by_index, parsed.notes)
    if id_field is None:
        parsed = _free_row_ids(store, pid, parsed, start)
    else:
        try:
            _no_stored_ids(store, pid, parsed.items, id_field, start)
        except BadUpload:
            if not allow_duplicate and parsed.items:  # the file again: say so, a 409
                _not_uploaded_before(store, pid, parsed.items, None,
                                     "texts:" + texts_digest(parsed.items), ids_stored=True)
            raise
    eval_ids = held_out(parsed.items, parsed.gold, eval_fraction, f"{pid}:{start}")
    labels = project["labels"]
    counts = np.bincount(np.fromiter(parsed.gold.values(), dtype=np.int64,
                                     count=len(parsed.gold)), minlength=len(labels))
    out = {"n_items": len(parsed.items), "n_gold": len(parsed.gold), "n_eval": len(eval_ids),
           "n_fit_gold": len(parsed.gold) - len(eval_ids), "dry_run": dry_run,
           # new-user trial: a gold column of numbers is read as class indices from 0
           # while the labeling keys count from 1; say which class each number became
           "gold_counts": {name: int(n) for name, n in zip(labels, counts, strict=True)},
           "gold_by_index": parsed.by_index}
    if skip_stored or stored_labels:
        out.update(n_skipped=len(skipped), skipped_ids=skipped[:20])
    if votes is not None:
        out["votes"] = {"field": votes["field"], "n": votes["n"],
                        "lfs": lf_names(votes["field"], votes["n"], votes.get("names")),
                        "n_items_with_votes": sum("votes" in i for i in parsed.items),
                        # trial: "on 1340 of the rows" where 90 rows abstain everywhere
                        "n_items_voted": sum(any(v >= 0 for v in i.get("votes") or ())
                                             for i in parsed.items)}
    notes = list(parsed.notes)
    kept = parsed.items[0]["fields"] if parsed.items else {}  # the columns kept as fields
    ids = [c for c in ("id", "ID", "Id") if c in kept]
    if id_field is None and ids:  # multi-annotator trial: ids silently row numbers
        values = [str(i["fields"].get(ids[0])) for i in parsed.items[:1000]]
        if store.existing_ids(pid, values):  # a second split numbered like the first:
            # what the 400 about its ids said to do (service trial: told to pass id_field)
            notes.append(f"the column {ids[0]!r} is kept as a field (its values are ids of "
                         "items stored already) and the items are numbered by row")
        else:
            notes.append(f"the column {ids[0]!r} is kept as a field and the items are "
                         f"numbered by row; pass id_field={ids[0]} to use it as their ids")
    used = {"text": text_field or project["text_field"], "id": id_field}
    for c in dict.fromkeys(("text", project["text_field"], "id")):
        # new-user trial: a file with a "text" column beside the one uploaded as the
        # text; a field rule on "text" read the items' text and matched nothing, unsaid
        own = "id" if c == "id" else "text"
        if c in kept and used[own] is not None and c != used[own]:
            notes.append(f"the column {c!r} is kept as a field, which the labeling page "
                         f"shows, but a field rule's {c!r} reads the items' own "
                         f"{'ids' if own == 'id' else 'text'} (the column {used[own]!r}): "
                         "rename the column in the file to write rules on it")
    def answers_shown(c: str, holds: str, them: str) -> str:
        """The note on a column that looks like the answers, kept as a field."""
        if dry_run:
            return (f"the column {c!r}{holds} is kept as a field, which the labeling page "
                    f"shows beside the text; pass gold_field={c} to import {them} as known "
                    f"labels, or drop={c} to leave it out")
        # imported: the same advice read as what to do next, and the file sent again
        # with gold_field was refused (an upload never changes stored items; 409,
        # nothing to import: multi-class trial)
        if id_field is not None:  # the same rows again find their items by id
            return (f"the column {c!r}{holds} was kept as a field, which the labeling "
                    f"page shows beside the text; to import {them} as known labels of "
                    f"these items, upload the file again with gold_field={c} and "
                    "stored_labels=1 (on the Data page: Give rows whose id is stored "
                    "already their known labels)")
        return (f"the column {c!r}{holds} was kept as a field, which the labeling page "
                f"shows beside the text; an upload never changes stored items: to import "
                f"{them} as known labels instead, upload the file to a new project and "
                f"pass gold_field={c} (or drop={c} to leave it out)")

    answers = [c for c in kept if c.lower() in GOLD_LIKE]
    if answers:  # compose trial: a WRENCH file's "label" shown to annotators as a field
        notes.append(answers_shown(answers[0], "", "it"))
    some = parsed.items[:LABEL_COLUMN_ROWS]  # 0.24 s per 100,000 rows read
    of = f" of the first {len(some):,}" if len(some) < len(parsed.items) else ""
    for c, n in label_columns([it["fields"] for it in some], project["labels"], skip=answers):
        # new-user trial: a "reviewed" column of Spam / OK on one row in twenty, not
        # picked as the known labels, would have been shown to annotators as a field
        notes.append(answers_shown(c, f" holds label names on {n} rows{of} and", "them"))
    if parsed.items and len(parsed.gold) == len(parsed.items) and eval_fraction >= 1.0:
        # new-user trial: a scoring set was told to upload without its labels
        to_label = store.pool_size(pid)  # the project's items waiting for answers
        notes.append(f"all {len(parsed.gold)} known labels ({gold_field!r}) are held out to "
                     "score the models, so none of these items is put in the queue" + (
                         f" (the project's {to_label} items to label are)" if to_label else
                         ": upload the items to label without known labels"))
    elif parsed.items and len(parsed.gold) == len(parsed.items):
        # re-trial: a labeled WRENCH split imported, then "All done" with nothing shown
        # (of this file: a project may hold other items to label; trial)
        notes.append(f"every row of this file has a known label ({gold_field!r}), so none of "
                     "its items is put in the queue; to label them yourself, upload without "
                     "known labels")
    if spec and parsed.items and not any("votes" in i for i in parsed.items):
        # new-user trial: votes in another column were kept as a field, unread
        lists = [c for c in kept if isinstance(kept[c], list)]
        other = f" (this file has a column of lists, {lists[0]!r}: kept as a field)" \
            if lists else ""
        where = ("which this upload leaves out (drop)" if spec["field"] in drop
                 else f"which no row of this file has{other}")
        notes.append(f"the project's LF votes are read from the column {spec['field']!r}, "
                     f"{where}, so its items get no uploaded votes: every uploaded LF "
                     "abstains on them")
    if notes:
        out["note"] = "; ".join(notes)
    uploads: list[tuple[str, dict[str, Any]]] = []
    if parsed.items:
        noted = {"at": time.time(), "n_items": len(parsed.items),
                 "first_id": parsed.items[0]["id"], "last_id": parsed.items[-1]["id"],
                 # the file's own names of the columns stored as text and id: a field
                 # rule that names one is told what a rule calls it
                 "text_field": text_field or project["text_field"], "id_field": id_field}
        texts = "texts:" + texts_digest(parsed.items)
        digest = content_digest(parsed.items, parsed.gold) if id_field is None else None
        if not allow_duplicate:
            _not_uploaded_before(store, pid, parsed.items, digest, texts)
        uploads = [(texts, noted)] + ([(digest, noted)] if digest else [])
    if stored_labels:
        # first: all or none, and sent again it changes nothing, so a retry after the
        # items below failed (another upload at the same moment) stores them then
        out["stored_labels"] = ({"n": len(for_stored)} if dry_run else
                                _label_stored(store, pid, project, for_stored, eval_fraction))
    if dry_run or not parsed.items:  # (every row stored already, with skip_stored)
        return out
    try:
        store.add_items(pid, parsed.items, parsed.gold, eval_ids, first_row=start,
                        uploads=uploads, votes=votes, ids_checked=True)  # at start
    except BadUpload as exc:
        if id_field is not None:
            raise
        raise BadUpload(f"{exc}{_auto_hint(id_field, start)}", exc.errors) from None
    return out


def _take_votes(items: list[dict[str, Any]], field: str, project: dict[str, Any],
                spec: dict[str, Any] | None, rules: dict[str, Any],
                given: bool, names: Any = None) -> dict[str, Any] | None:
    """Move each item's ``field`` out of its fields into its ``votes`` (checked,
    class indices; an item without a value keeps none); the project's votes column
    ``{field, n}`` and, with ``names``, the LFs' names (None when no item of a
    file without ``votes_field`` has it). :class:`BadUpload` naming the rows whose
    votes are malformed."""
    values = [item["fields"].pop(field, None) for item in items]
    # a JSON object there was read as fields "<field>.<key>": not votes, and never
    # to be shown to annotators as fields (operator's trial)
    prefix = field + "."
    nested = [[k for k in item["fields"] if k.startswith(prefix)] for item in items]
    for item, keys in zip(items, nested, strict=True):
        for k in keys:
            item["fields"].pop(k)
    # the number of LFs: the project's, else what most rows of the file list (a
    # new-user trial: an odd first row had every other row blamed)
    n = spec["n"] if spec else votes_count(values)
    why = "as the project's other items do" if spec else "as most rows of this file do"
    problems: list[str] = []
    count = 0
    for row, (item, value) in enumerate(zip(items, values, strict=True), start=1):
        try:
            if value is None and nested[row - 1]:
                shown = ", ".join(k[len(prefix):] for k in nested[row - 1][:3])
                raise ValueError(f"its LF votes are an object ({shown}), not a list of "
                                 "votes, one per LF in the LFs' order")
            got = read_votes(value, project["labels"], n)
        except ValueError as exc:
            count += 1
            msg = f"{exc}, {why}" if "must list" in str(exc) else str(exc)
            if len(problems) < MAX_ROW_ERRORS:
                problems.append(f"item {row} (id {item['id']!r}): {msg}")
            continue
        if got is not None:
            n = len(got) if n is None else n
            item["votes"] = got
    if problems:
        raise BadUpload.of_rows(problems, count, f"the column {field!r}")
    if n is None:
        if given:
            raise BadRequest(f"no row has LF votes in the column {field!r} (votes_field); "
                             "name the column that holds them, e.g. weak_labels")
        return None
    if spec is not None:
        return spec
    if not any(v >= 0 for item in items for v in item.get("votes") or ()):
        # else accepted, and every recalibration failed "no LF votes on any item"
        # (operator's trial), where a file without the column is told at once
        raise BadRequest(f"every LF vote in the column {field!r} abstains (-1 or null) on "
                         "every row: nothing for the label model to read; check the "
                         "column, or upload without votes_field")
    # a new votes column: its LFs' names (given, or weak_labels[0] ...) must be free
    try:
        own = None if names is None else check_names(names, n)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    every = lf_names(field, n, own)
    if own is None and not good_lf_name(every[0]):  # re-trial: "v/x[0]" could not be switched off
        raise BadRequest(f"the LFs of the votes column {field!r} would be named {every[0]!r} "
                         f".. {every[-1]!r}, which a URL cannot name: give them names with "
                         "votes_names=a,b,... (no '/', '\\', control or invisible "
                         "characters)")
    others = [*rules, *(project.get("lfs") or [])]
    taken = next((x for x in every if alike(x, others) is not None), None)
    if taken is not None:
        raise BadRequest(f"LF votes in {field!r} would be the LFs {every[0]} .. "
                         f"{every[-1]}, but {taken!r} is taken by a rule or an LF of "
                         "the module; rename it first")
    return {"field": field, "n": n, **({"names": own} if own else {})}


def _free_row_ids(store: RedisStore, pid: str, parsed: ParsedUpload,
                  start: int) -> ParsedUpload:
    """Items without ids are named by their row number, unless an earlier upload gave
    such a number as an item's own id: then every item of the file is ``row-<n>``
    (new-user trial: a file with ids 1..50, then a file without ids, could not be
    imported at all, "import anyway" included)."""
    if not store.existing_ids(pid, [i["id"] for i in parsed.items]):
        return parsed
    new = {i["id"]: f"row-{i['id']}" for i in parsed.items}
    out = ParsedUpload([{**i, "id": new[i["id"]]} for i in parsed.items],
                       {new[k]: v for k, v in parsed.gold.items()}, parsed.by_index,
                       parsed.notes)
    _no_stored_ids(store, pid, out.items, None, start)
    return out


def held_out(items: list[dict[str, Any]], gold: dict[str, int], fraction: float,
             seed: str) -> list[str]:
    """The ids of a seeded ``fraction`` of the labeled items, held out to score the
    models. Items of one text go to one side: a text held out and also fitted on
    (spam messages sent many times) scores the models on what they were taught."""
    gold_ids = sorted(gold)
    rng = random.Random(seed)
    target = int(round(fraction * len(gold_ids)))
    text = {i["id"]: i["text"] for i in items}
    groups: dict[str, list[str]] = {}
    for iid in gold_ids:
        groups.setdefault(text[iid], []).append(iid)
    if len(groups) == len(gold_ids):  # every text once: a plain sample (as always)
        return rng.sample(gold_ids, target)
    order = list(groups.values())
    rng.shuffle(order)
    out: list[str] = []
    for ids in order:
        if len(out) >= target:
            break
        out += ids
    return out


def _not_uploaded_before(store: RedisStore, pid: str, items: list[dict[str, Any]],
                         digest: str | None, texts: str, ids_stored: bool = False) -> None:
    """:class:`DuplicateUpload` when the file was uploaded before: the same rows
    (``digest``, files without ids), or the same texts (``texts``: the file again
    with other arguments, e.g. its id column read as a field, or its known labels
    now read; new-user trial: that doubled every item, and the held-out texts were
    also fitted on)."""
    seen = store.upload_of(pid, digest) if digest else None
    what = "items were uploaded already"
    if seen is None:
        seen = store.upload_of(pid, texts)
        what = "items' texts were all uploaded already, in another upload"
    if seen is None:
        return
    at = datetime.fromtimestamp(seen["at"], tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
    which = f"these {len(items):,} {what} ({at}, as ids {seen['first_id']} to {seen['last_id']})"
    if ids_stored:  # new-user trial: the same file with its ids was a 400 about ids
        raise DuplicateUpload(
            f"{which}, and ids of this file are in the project already: uploads only add "
            "items, they never change stored ones, so there is nothing to import. A file "
            "of other items imports as usual; one that grew imports its new rows with "
            "skip_stored=1 (on the Data page: Skip rows whose id is stored already).",
            ids_stored=True)
    raise DuplicateUpload(
        f"{which}; importing them again would add each one a second time "
        "under a new id. To add them anyway, upload with allow_duplicate=1 (on the Data "
        "page: Import them again anyway). Uploads only add items, they never change "
        "stored ones: with an id column (id_field) a row whose id is stored already is "
        "refused.")


def _no_stored_ids(store: RedisStore, pid: str, items: list[dict[str, Any]],
                   id_field: str | None, start: int) -> None:
    dup = store.existing_ids(pid, [i["id"] for i in items])
    if dup:
        some = "1 item id already exists" if len(dup) == 1 else \
            f"{len(dup)} item ids already exist"
        also = ("; to import only the rows whose id is new, upload with skip_stored=1 (on "
                "the Data page: Skip rows whose id is stored already)" if id_field else "")
        if id_field:
            # new-user trial: a dataset's second split, numbered from 0 like the first,
            # was told to skip_stored=1, which left out every row of it
            mine = {i["id"]: i["text"] for i in items}
            sample = dup[:1000]
            stored = {i["id"]: i["text"] for i in store.items(pid, sample)}
            other = sum(stored.get(d) != mine[d] for d in sample)
            reuse = ("are other items that reuse ids (a second split numbered like the "
                     "first?): to import them as new items, upload without id_field (on "
                     "the Data page: Id column (none); they get new ids, and the id column "
                     "is best left out) or give them ids of their own")
            if other == len(sample):
                also = (f"; but none of {'them' if len(sample) == len(dup) else 'those compared'}"
                        f" holds the text stored under its id, so these rows {reuse} "
                        "(skipping the stored ids would leave them all out)")
            elif other:
                also += (f". {other:,} of the {len(sample):,} compared hold another text "
                         f"than the one stored under their id: if these rows {reuse}")
        raise BadUpload(f"{some} in the project, e.g. {dup[0]!r}"
                        f"{_auto_hint(id_field, start)}{also}",
                        [f"id {d!r} already exists" for d in dup[:20]])


def texts_digest(items: list[dict[str, Any]]) -> str:
    """A digest of the texts of a file, in any order, whatever its other columns."""
    # each text as JSON and a newline, as the digests stored by earlier versions
    # were made, in one dumps (speed trial: one per text took 0.8 s of 200,000 rows)
    texts = sorted(i["text"] for i in items)
    joined = json.dumps(texts, ensure_ascii=False, separators=("\n", ":"))[1:-1]
    return hashlib.sha256((joined + "\n" if texts else "").encode()).hexdigest()


def content_digest(items: list[dict[str, Any]], gold: dict[str, int]) -> str:
    """A digest of what a file without ids holds: each row's text, fields and known
    label, in order (the ids it was given are row numbers, so they are left out)."""
    h = hashlib.sha256()
    for i in items:
        h.update(json.dumps([i["text"], i["fields"], gold.get(i["id"])], sort_keys=True,
                            ensure_ascii=False).encode())
        h.update(b"\n")
    return h.hexdigest()


def _auto_hint(id_field: str | None, start: int) -> str:
    """Why ids the user never gave can exist already: without ``id_field`` an item's
    id is its row number, which an earlier upload with explicit ids may have used."""
    if id_field is not None:
        return ""
    return (f" (without id_field each item's id is its row number, from {start} here, "
            "and an earlier upload gave that id explicitly: upload with id_field naming "
            "an id column)")


def add_known_labels(store: RedisStore, pid: str, labels: Any,
                     eval_fraction: float = 0.3) -> dict[str, Any]:
    """Known labels for items stored already (``labels``: ``{item id: label}``, each
    label by name or class index), as an upload's gold column gives new items: a
    seeded ``eval_fraction`` of them is held out to score the models (items of one
    text on one side), the rest fitted on. An item with an answer keeps it (answers
    win: listed in ``answered``); one with this label already is counted in
    ``n_unchanged``; one with another uploaded label, an unknown id or label is a
    4xx, with nothing stored. A labeled item leaves the queue, and a lease on it ends
    (its annotator's answer is refused: ``n_unleased``)."""
    from loop.service.queue import parse_label

    project = store.get_project(pid)
    if not isinstance(labels, dict) or not labels:
        raise BadRequest('send "labels": {"<item id>": "<label>", ...}, the items\' ids '
                         "(as uploaded) and each one's label by name or class index")
    _check_fraction(eval_fraction)
    wanted: dict[str, int] = {}
    for key, label in labels.items():
        iid = key.strip()  # as uploads trim ids (a spreadsheet's " a1")
        try:
            c = parse_label(project["labels"], label)
        except BadRequest as exc:
            raise type(exc)(f"item {shorten(repr(iid))}: {exc}") from None
        if wanted.setdefault(iid, c) != c:
            raise BadRequest(f"item {shorten(repr(iid))} is given two labels (its id "
                             "written with spaces around it once); give it one")
    return _label_stored(store, pid, project, wanted, eval_fraction)


def _check_fraction(eval_fraction: float) -> None:
    if not 0.0 <= eval_fraction <= 1.0:
        raise BadRequest(f"eval_fraction must be between 0 and 1, got {eval_fraction}")


def _label_stored(store: RedisStore, pid: str, project: dict[str, Any],
                  wanted: dict[str, int], eval_fraction: float) -> dict[str, Any]:
    """Give stored items the class indices ``wanted`` (:meth:`RedisStore.add_labels`),
    a seeded ``eval_fraction`` of those without a label yet held out."""
    if not wanted:
        return {"n_labeled": 0, "n_held_out": 0, "n_unchanged": 0, "n_answered": 0,
                "answered": [], "n_unleased": 0,
                "gold_counts": dict.fromkeys(project["labels"], 0)}
    ids = sorted(wanted)
    stored = store.existing_ids(pid, ids)
    # held out among those without a label yet (items of one text on one side)
    new = [i for i, c in zip(stored, store.uploaded_gold_of(pid, stored), strict=True)
           if c is None]
    seed = hashlib.sha256(json.dumps(wanted, sort_keys=True).encode()).hexdigest()[:16]
    hold = held_out(store.items(pid, new), {i: wanted[i] for i in new}, eval_fraction,
                    f"{pid}:labels:{seed}")
    got = store.add_labels(pid, wanted, hold)
    answered = set(got.answered)
    counts = Counter(wanted[i] for i in ids if i not in answered)
    return {"n_labeled": got.n_labeled, "n_held_out": got.n_held_out,
            "n_unchanged": got.n_unchanged, "n_answered": len(got.answered),
            "answered": got.answered[:20], "n_unleased": got.n_unleased,
            "gold_counts": {project["labels"][c]: counts.get(c, 0)
                            for c in range(len(project["labels"]))}}
