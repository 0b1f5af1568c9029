"""Uploading items."""

from __future__ import annotations

import random
from typing import Any

from loop.errors import BadRequest, BadUpload
from loop.storage import RedisStore
from loop.uploads import parse_items


def import_items(
    store: RedisStore, pid: str, data: bytes, fmt: str, *, id_field: str | None = None,
    text_field: str | None = None, gold_field: str | None = None, eval_fraction: float = 0.3,
    max_bytes: int | None = None, max_items: int | None = None, dry_run: bool = False,
) -> dict[str, Any]:
    """Validate the whole file, then append every item in one transaction.

    ``dry_run``: validate (ids new to the project included) and report what would
    be stored, storing nothing.

    Two uploads to one project at the same time: one is stored, the other gets
    409 and nothing of it is written (:meth:`RedisStore.add_items`).

    Of the uploaded gold labels (``gold_field``), a seeded ``eval_fraction`` is
    held out to score the models (never queued, never fitted on); the rest are
    gold like an expert's answers: the models are fitted on them, and, being a
    sample nobody's sampler picked, they also re-estimate LF precisions.
    """
    if not 0.0 <= eval_fraction <= 1.0:
        raise BadRequest(f"eval_fraction must be between 0 and 1, got {eval_fraction}")
    project = store.get_project(pid)
    start = store.n_items(pid)
    parsed = parse_items(data, fmt, project["labels"], id_field=id_field,
                         text_field=text_field or project["text_field"], gold_field=gold_field,
                         first_row=start, max_bytes=max_bytes, max_items=max_items)
    gold_ids = sorted(parsed.gold)
    rng = random.Random(f"{pid}:{start}")
    eval_ids = rng.sample(gold_ids, int(round(eval_fraction * len(gold_ids))))
    out = {"n_items": len(parsed.items), "n_gold": len(parsed.gold), "n_eval": len(eval_ids),
           "n_fit_gold": len(parsed.gold) - len(eval_ids), "dry_run": dry_run}
    if dry_run:
        dup = store.existing_ids(pid, [i["id"] for i in parsed.items])
        if dup:
            raise BadUpload(f"{len(dup)} item ids already exist in the project, e.g. "
                            f"{dup[0]!r}{_auto_hint(id_field, start)}",
                            [f"id {d!r} already exists" for d in dup[:20]])
        return out
    try:
        store.add_items(pid, parsed.items, parsed.gold, eval_ids, first_row=start)
    except BadUpload as exc:
        if id_field is not None:
            raise
        raise BadUpload(f"{exc}{_auto_hint(id_field, start)}", exc.errors) from None
    return out


def _auto_hint(id_field: str | None, start: int) -> str:
    """Why ids the user never gave can exist already: without ``id_field`` an item's
    id is its row number, which an earlier upload with explicit ids may have used."""
    if id_field is not None:
        return ""
    return (f" (without id_field each item's id is its row number, from {start} here, "
            "and an earlier upload gave that id explicitly: upload with id_field naming "
            "an id column)")
