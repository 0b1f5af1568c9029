"""Items, in upload order (row ``i`` of every matrix is the ``i``-th item uploaded).

* ``<p>:items`` hash id -> JSON ``{id, text, fields}`` (and ``votes``: the LF votes
  uploaded with it, :mod:`loop.core.votes`); ``<p>:ids`` list (upload order = matrix
  row); ``<p>:row`` hash id -> row;
* ``<p>:votes`` JSON ``{field, n}`` (and ``names``, when given): the column of
  uploaded LF votes and how many LFs it holds, set by the first upload that has
  them and never changed;
* ``<p>:ugold`` hash id -> class from the upload (or given later,
  ``lua/add_labels.lua``); ``<p>:eval`` the held-out part of those ids (never
  queued, never fitted on; the rest are fitted on like answers);
* ``<p>:pool`` set of the items that still need answers (neither uploaded with a
  label nor answered by ``answers_per_item`` annotators): what the queue may hand
  out, and the "remaining" count; ``<p>:copies`` the items taken out of it for being
  exact copies of an answered, held-out or leased item or of another one in it (set
  with each ranking, ``replace_queue.lua``; the export gives a copy its text's
  answer);
* ``<p>:version`` a counter bumped by every change the models see (upload,
  answer, undo, relabel, a new ``L``): rankings carry the version they were made
  from, so an older one never replaces a newer one.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import WatchError

from loop.core.text import alike
from loop.core.votes import votes_names
from loop.errors import BadUpload, Conflict, UploadCollided
from loop.storage.base import StoreBase, unless_full

#: Votes columns read so far, by project id (a project's is set once and never
#: changes; project ids are never reused).
_VOTES_SEEN: dict[str, dict[str, Any]] = {}


@dataclass(frozen=True)
class LabelsAdded:
    """What :meth:`ItemsMixin.add_labels` did."""

    n_labeled: int  #: items given their label now
    n_held_out: int  #: ... of which held out to score the models
    answered: list[str]  #: items left as they were: they have answers, which win
    n_unchanged: int  #: items that had that label already
    n_unleased: int  #: labeled items whose lease ended (their annotator's answer is refused)


class ItemsMixin(StoreBase):
    """Items, uploaded gold, the held-out set and the pool of unlabeled items."""

    def add_labels(self, pid: str, labels: dict[str, int], hold: list[str]) -> LabelsAdded:
        """Give stored items known labels (``labels``: id -> class index), as an
        upload's gold column gives new ones, all at once (``lua/add_labels.lua``):
        ``hold`` are held out to score the models, the others are fitted on. An
        item with an answer keeps it (counted in ``answered``); an item that has
        another uploaded label is a :class:`Conflict` and an id not stored a
        :class:`BadUpload`, with nothing stored."""
        k = self._k
        keys = [self.project_key(pid), k(pid, "row"), k(pid, "answers"), k(pid, "ugold"),
                k(pid, "ugold_counts"), k(pid, "eval"), k(pid, "pool"), k(pid, "queue"),
                k(pid, "leasez"), k(pid, "leaseh"), k(pid, "copies"), k(pid, "copies", "gen"),
                k(pid, "version"), k(pid, "queue", "version")]
        out = self.scripts.add_labels(keys, [json.dumps(labels), json.dumps(hold)])
        what = out[0].decode()
        if what == "gone":
            raise self.project_gone(pid)
        if what == "unknown":
            ids = sorted(json.loads(out[1]))
            raise BadUpload(f"{len(ids)} item id{'s are' if len(ids) > 1 else ' is'} not "
                            f"stored in this project: {', '.join(map(repr, ids[:20]))}"
                            f"{' ...' if len(ids) > 20 else ''}; upload the items first "
                            "(nothing was stored)")
        if what == "conflict":
            had = sorted((str(i), int(c)) for i, c in json.loads(out[1]))
            raise Conflict(f"{len(had)} item{'s have' if len(had) > 1 else ' has'} another "
                           "uploaded label already: "
                           + ", ".join(f"{i!r} (class {c})" for i, c in had[:20])
                           + (" ..." if len(had) > 20 else "")
                           + "; uploaded labels are not changed (nothing was stored)")
        return LabelsAdded(int(out[1]), int(out[2]), sorted(json.loads(out[3])),
                           int(out[4]), int(out[5]))

    def n_items(self, pid: str) -> int:
        return int(self.r.llen(self._k(pid, "ids")))

    def item_ids(self, pid: str, start: int = 0, stop: int | None = None) -> list[str]:
        """Ids of rows ``[start, stop)`` (default: all), in row order."""
        end = -1 if stop is None else stop - 1
        if stop is not None and stop <= start:
            return []
        return [x.decode() for x in self.r.lrange(self._k(pid, "ids"), start, end)]

    def existing_ids(self, pid: str, ids: list[str]) -> list[str]:
        if not ids:
            return []
        rows = self.r.hmget(self._k(pid, "row"), ids)
        return [i for i, r in zip(ids, rows, strict=True) if r is not None]

    def items(self, pid: str, ids: list[str] | None = None) -> list[dict[str, Any]]:
        """Items by id (``None``: all, in row order); unknown ids are left out."""
        ids = self.item_ids(pid) if ids is None else ids
        out: list[dict[str, Any]] = []
        for a in range(0, len(ids), 10000):
            raws = [x for x in self.r.hmget(self._k(pid, "items"), ids[a : a + 10000])
                    if x is not None]
            if raws:  # one decode of a JSON array: about twice as fast as one per item
                out += json.loads(b"[" + b",".join(raws) + b"]")
        return out

    def votes_spec(self, pid: str) -> dict[str, Any] | None:
        """``{"field": name, "n": number of LFs}`` (and ``"names"``) of the LF votes
        uploaded with the items, or None. Only a spec found is remembered (it never
        changes once set); None is read again each time, so a worker planning an
        apply right after the upload that set it sees it."""
        spec = _VOTES_SEEN.get(pid)
        if spec is None:
            raw = self.r.get(self._k(pid, "votes"))
            if not raw:
                return None
            spec = _VOTES_SEEN[pid] = json.loads(raw)  # set once, never changed
        return dict(spec)

    def add_items(
        self, pid: str, items: list[dict[str, Any]], uploaded_gold: dict[str, int],
        eval_ids: list[str], first_row: int,
        uploads: list[tuple[str, dict[str, Any]]] | None = None,
        votes: dict[str, Any] | None = None, ids_checked: bool = False,
    ) -> None:
        """Append items as rows ``first_row...`` in one transaction: all of them or none.
        ``ids_checked``: the caller found none of the ids stored while the project
        had ``first_row`` items; the transaction's check that it still has then
        stands for the id check (speed trial: 200,000 ids looked up twice).
        ``uploads``: digests of the file's content and what to remember of it under
        each (:meth:`upload_of`), written with the items. ``votes``: the project's
        votes column (:meth:`votes_spec`), written with the items if it has none;
        :class:`Conflict` if it has another.

        Optimistic: the id list is watched from the duplicate check to the write.
        Raises :class:`Conflict` if another upload to the project was written in
        between (``first_row`` is no longer the row count) and :class:`BadUpload`
        if an id already exists; nothing is written in either case.
        """
        ids_key = self._k(pid, "ids")
        for _ in range(5):
            with self.r.pipeline(transaction=True) as p:
                try:
                    self._add_items_once(p, pid, items, uploaded_gold, eval_ids, first_row,
                                         uploads, votes, ids_checked)
                    return
                except WatchError:
                    if int(self.r.llen(ids_key)) != first_row:
                        raise UploadCollided("another upload to this project was written "
                                             "at the same time; nothing of this one was "
                                             "stored: send it again") from None
                    # nobody else uploaded: a rule saved meanwhile (checked again), or
                    # the connection lost inside the transaction (Redis restarting),
                    # which redis-py reports as a WatchError: tried again, then a 503
        raise RedisConnectionError("the connection to Redis was lost during the upload; "
                                   "nothing was stored")

    def _add_items_once(self, p: Any, pid: str, items: list[dict[str, Any]],
                        uploaded_gold: dict[str, int], eval_ids: list[str], first_row: int,
                        uploads: list[tuple[str, dict[str, Any]]] | None,
                        votes: dict[str, Any] | None, ids_checked: bool) -> None:
        """One try of :meth:`add_items` in the WATCH pipeline ``p``."""
        ids_key = self._k(pid, "ids")
        votes_key, rules_key = self._k(pid, "votes"), self._k(pid, "rules")
        self._watch_project(p, pid, ids_key, votes_key)  # not into a deleted project
        if int(p.llen(ids_key)) != first_row:
            raise WatchError
        had = p.get(votes_key)
        if votes is not None and had is not None and json.loads(had) != votes:
            p.unwatch()
            raise Conflict(f"the project's LF votes are {json.loads(had)}, not "
                           f"{votes}; nothing of this upload was stored")
        if votes is not None and had is None:
            # a new votes column: its LFs' names against the rules as they are when
            # it is written (a rule saved at the same moment took one: operator's trial)
            p.watch(rules_key)
            every = votes_names(votes["field"], votes["n"], votes.get("names"))
            hit = next(((r, lf) for r in (x.decode() for x in p.hkeys(rules_key))
                        if (lf := alike(r, every)) is not None), None)
            if hit is not None:
                p.unwatch()
                raise Conflict(f"the LF votes in {votes['field']!r} would have an LF named "
                               f"{hit[1]!r}, but a rule {hit[0]!r} was saved "
                               "meanwhile; rename it, or name the LFs otherwise "
                               "(votes_names); nothing of this upload was stored")
        dup = [] if ids_checked else _existing(p, self._k(pid, "row"), [i["id"] for i in items])
        if dup:
            raise BadUpload(f"{len(dup)} item ids already exist in the project, "
                            f"e.g. {dup[0]!r}")
        p.multi()
        for a in range(0, len(items), 5000):
            part = items[a : a + 5000]
            p.hset(self._k(pid, "items"),
                   mapping={i["id"]: json.dumps(i) for i in part})
            p.rpush(ids_key, *[i["id"] for i in part])
            p.hset(self._k(pid, "row"),
                   mapping={i["id"]: first_row + a + j for j, i in enumerate(part)})
            unlabeled = [i["id"] for i in part if i["id"] not in uploaded_gold]
            if unlabeled:
                p.sadd(self._k(pid, "pool"), *unlabeled)
        if uploaded_gold:
            p.hset(self._k(pid, "ugold"), mapping=uploaded_gold)
            held = set(eval_ids)
            fitted = Counter(c for i, c in uploaded_gold.items() if i not in held)
            for c, n in fitted.items():  # the dashboard's class balance, kept as it grows
                p.hincrby(self._k(pid, "ugold_counts"), str(c), n)
        if eval_ids:
            p.sadd(self._k(pid, "eval"), *eval_ids)
        for digest, noted in uploads or []:
            p.hset(self._k(pid, "uploads"), digest, json.dumps(noted))
        if votes is not None and had is None:
            p.set(votes_key, json.dumps(votes))
        p.incr(self._k(pid, "version"))
        p.execute()

    def upload_of(self, pid: str, digest: str) -> dict[str, Any] | None:
        """What was noted of an earlier upload of the same content (``digest``), or None."""
        raw = self.r.hget(self._k(pid, "uploads"), digest)
        return None if raw is None else dict(json.loads(raw))

    def uploads_noted(self, pid: str) -> list[dict[str, Any]]:
        """What was noted of every earlier upload (one entry per digest, so an upload
        can be listed twice)."""
        return [dict(json.loads(raw)) for raw in self.r.hvals(self._k(pid, "uploads"))]

    def uploaded_gold(self, pid: str) -> dict[str, int]:
        return {a.decode(): int(b) for a, b in self.r.hgetall(self._k(pid, "ugold")).items()}

    def uploaded_gold_of(self, pid: str, ids: list[str]) -> list[int | None]:
        raws = self.r.hmget(self._k(pid, "ugold"), ids) if ids else []
        return [None if x is None else int(x) for x in raws]

    def uploaded_gold_counts(self, pid: str) -> dict[int, int]:
        """How many uploaded labels of each class the models learn from (the held-out
        ones left out), by class index. Each upload adds its own; counts that do not
        add up to the labels stored (a project uploaded to before they were kept) are
        counted again from the labels."""
        key = self._k(pid, "ugold_counts")
        raw, n_labels, n_held = self.read_at_once(lambda p: (
            p.hgetall(key), p.hlen(self._k(pid, "ugold")), p.scard(self._k(pid, "eval"))))
        counts = {int(c): int(n) for c, n in raw.items()}
        if sum(counts.values()) == n_labels - n_held:
            return counts
        labels, held = self.read_at_once(lambda p: (
            p.hgetall(self._k(pid, "ugold")), p.smembers(self._k(pid, "eval"))))
        counts = dict(Counter(int(c) for i, c in labels.items() if i not in held))
        self._keep_counts(key, counts)
        return counts

    def _keep_counts(self, key: str, counts: dict[int, int]) -> None:
        """Keep recounted ``counts`` at ``key`` for the next read; a full Redis keeps
        nothing, and the read that recounted still answers (it is a cache)."""
        with unless_full(), self.r.pipeline(transaction=True) as p:
            p.delete(key)
            if counts:
                p.hset(key, mapping={str(c): n for c, n in counts.items()})
            p.execute()

    def n_uploaded_gold(self, pid: str) -> int:
        return int(self.r.hlen(self._k(pid, "ugold")))

    def n_eval(self, pid: str) -> int:
        return int(self.r.scard(self._k(pid, "eval")))

    def eval_ids(self, pid: str) -> set[str]:
        return {x.decode() for x in self.r.smembers(self._k(pid, "eval"))}

    def pool_size(self, pid: str) -> int:
        """Items that still need answers (exact copies of another item are not
        among them: :meth:`n_copies`)."""
        return int(self.r.scard(self._k(pid, "pool")))

    def n_copies(self, pid: str) -> int:
        """Items left out of the pool for being exact copies of another item."""
        return int(self.r.scard(self._k(pid, "copies")))

    def state_version(self, pid: str) -> int:
        return int(self.r.get(self._k(pid, "version")) or 0)

    # -- row lookups without loading every id ----------------------------------------------
    def rows_of(self, pid: str, ids: list[str]) -> np.ndarray:
        """(len(ids),) int64 matrix rows of ``ids``; -1 for unknown ids."""
        out = np.full(len(ids), -1, dtype=np.int64)
        for a in range(0, len(ids), 10000):
            raws = self.r.hmget(self._k(pid, "row"), ids[a : a + 10000])
            out[a : a + len(raws)] = [-1 if x is None else int(x) for x in raws]
        return out

    def ids_at(self, pid: str, rows: Any) -> list[str]:
        """Item ids at matrix ``rows``: pipelined LINDEX for a few rows (each is
        O(row) in Redis), one LRANGE of the rows' span for many."""
        rows = [int(r) for r in rows]
        if len(rows) <= 200:
            with self.r.pipeline(transaction=False) as p:
                for r in rows:
                    p.lindex(self._k(pid, "ids"), r)
                raws = p.execute()
            if any(x is None for x in raws):  # deleted under a running job (re-trial)
                if not self.r.exists(self.project_key(pid)):
                    raise self.project_gone(pid)
                raise IndexError(f"project {pid} has no item at rows "
                                 f"{[r for r, x in zip(rows, raws, strict=True) if x is None]}")
            return [x.decode() for x in raws]
        lo, hi = min(rows), max(rows)
        span = self.item_ids(pid, lo, hi + 1)
        return [span[r - lo] for r in rows]


def _existing(client: Any, key: str, ids: list[str]) -> list[str]:
    out: list[str] = []
    for a in range(0, len(ids), 10000):
        part = ids[a : a + 10000]
        out += [i for i, r in zip(part, client.hmget(key, part), strict=True) if r is not None]
    return out
