"""Projects and annotators.

* ``loop:projects`` set of ids, ``loop:project:<pid>`` JSON (never modified after
  creation, so cached per process for a few seconds: long enough to spare the
  reads of one request, short enough that a project whose data Redis lost stops
  answering); ``<p>:guidelines`` the labeling guidelines;
* ``loop:tokens`` hash SHA-256(token) -> ``{project, name, expires_at}``: tokens are
  stored hashed (they are 192-bit random strings, so a plain hash is enough), shown
  once; ``expires_at`` (epoch seconds) is None for a token that works until revoked;
* ``<p>:annotators`` hash name -> ``{token_hash, created_at, expires_at}``. Adding a
  name again revokes its old token.
"""

from __future__ import annotations

import hashlib
import json
import math
import secrets
import time
import uuid
from typing import Any

from loop.errors import Conflict, OldProject, ProjectNotFound, TokenExists
from loop.storage.base import StoreBase

#: Project records written by this version of the store (see ``schema`` in the record).
SCHEMA = 2


def old_schema(project: dict[str, Any]) -> str | None:
    """Why ``project`` (a record) cannot be used by this version, or None."""
    had = project.get("schema", 1)
    if had >= SCHEMA:
        return None
    return (f"project {project.get('name')!r} ({project.get('id')}) was made by a version "
            f"of loop from before the service redesign (storage schema {had}; this one "
            f"reads {SCHEMA}) and is not migrated: its data is left as it was. Use it with "
            "the version that made it (export its labels there), or delete it here "
            "(DELETE /api/projects/<id> with {\"confirm\": \"<its name>\"})")


def token_expired(rec: dict[str, Any], now: float | None = None) -> bool:
    """Whether an annotator's token record (its ``expires_at``) is past its time."""
    at = rec.get("expires_at")
    return at is not None and (time.time() if now is None else now) >= float(at)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ProjectsMixin(StoreBase):
    """Projects and annotator tokens."""

    #: How long a token lookup is cached in this process (seconds): a revoked
    #: token stops working within this time in every web worker.
    token_cache_seconds: float = 2.0
    #: How long a project record is cached in this process (seconds). Records never
    #: change, but Redis may lose them (a flush, a restore without its data): then
    #: the project is a 404 within this time, not served from memory for ever.
    project_cache_seconds: float = 2.0

    def __init__(self, client: Any) -> None:
        super().__init__(client)
        self._projects: dict[str, tuple[float, dict[str, Any]]] = {}
        self._tokens: dict[str, tuple[float, dict[str, Any] | None]] = {}

    def create_project(self, data: dict[str, Any]) -> dict[str, Any]:
        pid = uuid.uuid4().hex[:10]
        project = {**data, "id": pid, "created_at": time.time(), "schema": SCHEMA}
        with self.r.pipeline(transaction=True) as p:
            p.set(f"loop:project:{pid}", json.dumps(project))
            p.sadd("loop:projects", pid)
            p.execute()
        return project

    def get_project(self, pid: str, fresh: bool = False, any_schema: bool = False,
                    ) -> dict[str, Any]:
        """The project record (cached per process for :attr:`project_cache_seconds`;
        ``fresh``: read from Redis whatever the cache holds). :class:`OldProject` for
        a project of an older storage schema (:data:`SCHEMA`), unless ``any_schema``:
        its other keys are not what this version reads (upgrade trial: 500s from the
        pages, a misleading "revoked" for its tokens)."""
        cached = None if fresh else self._projects.get(pid)
        now = time.monotonic()
        if cached is not None and now - cached[0] < self.project_cache_seconds:
            project = cached[1]
        else:
            raw = self.r.get(f"loop:project:{pid}") if _plain(pid) else None
            if raw is None:
                self._projects.pop(pid, None)
                raise ProjectNotFound(f"no project {pid!r}")
            project = dict(json.loads(raw))
            self._projects[pid] = (now, project)
        why = None if any_schema else old_schema(project)
        if why:
            raise OldProject(why)
        return dict(project)

    def list_projects(self) -> list[dict[str, Any]]:
        ids = sorted(x.decode() for x in self.r.smembers("loop:projects"))
        raws = self.r.mget([f"loop:project:{i}" for i in ids]) if ids else []
        out = [json.loads(r) for r in raws if r]
        return sorted(out, key=lambda p: p["created_at"])

    def delete_project(self, pid: str) -> None:
        """Delete the project record, its annotators and their tokens in one
        transaction (from then on every request and job about it finds no project,
        and the queue's scripts refuse every annotator), then every key of the
        project (:meth:`purge_project_keys`)."""
        ann = self._k(pid, "annotators")
        with self.r.pipeline(transaction=True) as p:
            while True:  # an annotator added meanwhile: read again (its token went on
                try:     # working after the delete in an operator's trial)
                    p.watch(ann, self._k(pid, "exports"))
                    hashes = [json.loads(v).get("token_hash") for v in p.hvals(ann)]
                    # its export files live outside its keys (``loop:export:<job>``)
                    exports = p.lrange(self._k(pid, "exports"), 0, -1)
                    p.multi()
                    p.delete(f"loop:project:{pid}")
                    p.srem("loop:projects", pid)
                    # the queue's scripts check the annotator's record: gone here, an
                    # annotator's lease or answer is refused from this moment, not only
                    # once the sweep below reaches the hash (concurrency trial: leases
                    # taken between the sweep's scan and its unlink outlived the delete)
                    p.delete(ann)
                    if any(hashes):
                        p.hdel("loop:tokens", *[h for h in hashes if h])
                    if exports:
                        p.delete(*exports)
                    p.execute()
                    break
                except _watch_error():
                    continue
        self._projects.pop(pid, None)
        self._tokens.clear()
        self.purge_project_keys(pid)

    def purge_project_keys(self, pid: str) -> int:
        """Unlink every ``loop:p:<pid>:*`` key of a deleted project (a job that was
        running when it was deleted may write some after; run again later). Returns
        how many there were; refuses while the project exists."""
        if self.r.exists(f"loop:project:{pid}") or not _plain(pid):
            raise ValueError(f"project {pid!r} exists or is no project id: nothing purged")
        n, batch = 0, []
        for key in self.r.scan_iter(match=self._k(pid, "*"), count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                n += int(self.r.unlink(*batch))
                batch = []
        if batch:
            n += int(self.r.unlink(*batch))
        return n

    def answers_per_item(self, pid: str) -> int:
        """The project's k: how many annotators answer each item."""
        return int(self.get_project(pid).get("answers_per_item", 1))

    def set_guidelines(self, pid: str, text: str) -> None:
        self._while_project(pid, lambda p: p.set(self._k(pid, "guidelines"), text))

    def guidelines(self, pid: str) -> str:
        raw = self.r.get(self._k(pid, "guidelines"))
        return raw.decode() if raw else ""

    # -- annotators ----------------------------------------------------------------------
    def add_annotator(self, pid: str, name: str, expires_at: float | None = None,
                      replace: bool = True, replaces_made_at: float | None = None,
                      made_at: float | None = None) -> str:
        """Create a token for ``name`` (revoking any earlier one); returns the token.
        ``expires_at`` (epoch seconds): when it stops working by itself; ``made_at``:
        its ``created_at`` (default now), which names it to a later revoke.
        ``replace=False``: :class:`TokenExists` instead if ``name`` has a working token
        now (checked in the transaction: two admins adding one name at once each got a
        token, and the first one's was dead on arrival)."""
        token = secrets.token_urlsafe(24)
        h = token_hash(token)
        key = self._k(pid, "annotators")
        with self.r.pipeline(transaction=True) as p:
            while True:
                try:  # not for a project deleted meanwhile (its tokens are purged once)
                    self._watch_project(p, pid, key)
                    old = p.hget(key, name)
                    alike = self.alike_name(p, key, name, besides=name)
                    if alike:  # "Alice" beside "alice": one person, or two the export mixes up
                        p.unwatch()
                        raise Conflict(f"annotator {alike!r} exists, and {name!r} differs "
                                       f"from it only in case; add {alike!r} to give them "
                                       "a new token, or pick a name that differs")
                    rec = json.loads(old) if old else {}
                    held = bool(rec.get("token_hash"))  # revoked: None
                    working = held and not token_expired(rec)
                    made = (time.strftime("%H:%M:%S UTC", time.gmtime(rec["created_at"]))
                            if working else "")
                    if (working and replace and replaces_made_at is not None
                            and abs(float(rec["created_at"]) - float(replaces_made_at)) > 1e-6):
                        p.unwatch()  # (re-trial: an admin who confirmed replacing the
                        # token they saw revoked the one another admin had just made)
                        raise TokenExists(f"annotator {name!r} got another token (made at "
                                          f"{made}) since you asked to replace theirs; "
                                          "adding the name again would revoke that one: "
                                          "reload the list and add it again if you mean to")
                    if working and not replace:
                        p.unwatch()
                        raise TokenExists(f"annotator {name!r} has a working token already "
                                       f"(made at {made}): adding the name again revokes "
                                       "it; send \"replace\": true to do that, or pick "
                                       "another name")
                    p.multi()
                    if held:  # (an expired token too: its record goes)
                        p.hdel("loop:tokens", rec["token_hash"])
                    p.hset("loop:tokens", h, json.dumps({"project": pid, "name": name,
                                                         "expires_at": expires_at}))
                    p.hset(key, name, json.dumps({"token_hash": h,
                                                  "created_at": made_at or time.time(),
                                                  "expires_at": expires_at}))
                    p.execute()
                    break
                except _watch_error():
                    continue
        return token

    def revoke_annotator(self, pid: str, name: str, made_at: float | None = None) -> str:
        """Revoke ``name``'s token (the annotator stays listed, as revoked, with their
        answers): ``"revoked"``, or ``"none"`` if there is no such annotator with a
        token. The items they held are given back by ``release_leases``.
        ``made_at``: only the token made then (its ``created_at``): ``"gone"`` when
        that token works no more (revoked already, or replaced), and
        :class:`TokenExists` if the name's working token is another: a revoke sent
        again, or one arriving late, never revokes a token made since."""
        key = self._k(pid, "annotators")
        with self.r.pipeline(transaction=True) as p:
            while True:  # the record read and rewritten as one: a token added for the
                try:     # name meanwhile is not marked revoked (operator's trial)
                    p.watch(key)
                    raw = p.hget(key, name)
                    rec = json.loads(raw) if raw else None
                    if not rec:
                        p.unwatch()
                        return "none"
                    held = bool(rec.get("token_hash"))
                    if made_at is not None and abs(
                            float(rec["created_at"]) - float(made_at)) > 1e-6:
                        p.unwatch()
                        if not held or token_expired(rec):
                            return "gone"  # replaced, and its successor works no more
                        made = time.strftime("%H:%M:%S UTC", time.gmtime(rec["created_at"]))
                        raise TokenExists(f"annotator {name!r} got another token (made at "
                                          f"{made}) since the one you mean to revoke; it "
                                          "is left working: reload the list and revoke it "
                                          "if you mean to")
                    if not held:
                        p.unwatch()
                        return "none" if made_at is None else "gone"
                    p.multi()
                    p.hdel("loop:tokens", rec["token_hash"])
                    p.hset(key, name, json.dumps({**rec, "token_hash": None,
                                                  "revoked_at": time.time()}))
                    p.execute()
                    return "revoked"
                except _watch_error():
                    continue

    def annotators(self, pid: str) -> list[dict[str, Any]]:
        """``[{name, created_at, revoked_at, expires_at}]`` of the project's
        annotators, oldest first (``revoked_at``: None unless revoked; ``expires_at``:
        None for a token that works until revoked)."""
        out = []
        for a, b in self.r.hgetall(self._k(pid, "annotators")).items():
            rec = json.loads(b)
            out.append({"name": a.decode(), "created_at": rec["created_at"],
                        "revoked_at": rec.get("revoked_at"),
                        "expires_at": rec.get("expires_at")})
        return sorted(out, key=lambda a: a["created_at"])

    @staticmethod
    def _refused_key(addr: str) -> str:
        """The sorted set of the refused tokens (hashed) from ``addr``, each with
        the time it was last sent."""
        return f"loop:refused:{addr}"

    def note_refused_token(self, addr: str, window: int, token: str) -> int:
        """Note a refused token from client address ``addr``; how many different
        ones it sent in the last ``window`` seconds. The same token sent again
        counts once: a client retrying a stale token guesses nothing (under docker
        compose it shares its address with every other client, the admin
        included), a guesser sends a new one each time."""
        key, now = self._refused_key(addr), time.time()
        with self.r.pipeline(transaction=True) as p:
            p.zadd(key, {token_hash(token)[:16]: now})
            p.zremrangebyscore(key, "-inf", now - window)
            p.expire(key, int(window) + 1)
            p.zcard(key)
            *_, n = p.execute()
        return int(n)

    def refused_tokens(self, addr: str, window: int, limit: int) -> tuple[int, int]:
        """Different refused tokens from ``addr`` in the last ``window`` seconds, and
        the seconds to wait (at least 1; 0 under ``limit``) until that count is under
        ``limit`` again if nothing more is refused. Each token is counted at the time
        it was last sent (re-trial: counted per clock minute, or weighing the
        previous minute as if spread over it, twice the limit got through across a
        minute's end)."""
        now = time.time()
        times = [t for _, t in self.r.zrangebyscore(self._refused_key(addr),
                                                     f"({now - window}", "+inf",
                                                     withscores=True)]
        n = len(times)
        if n < limit:
            return n, 0
        # under the limit once the n - limit + 1 oldest are out of the window
        return n, max(1, math.ceil(times[n - limit] + window - now))

    def annotator_for_token(self, token: str) -> dict[str, Any] | None:
        """``{project, name, expires_at}`` of a token, or None (cached
        ``token_cache_seconds``). An expired token is still found: whoever asks
        compares ``expires_at`` with the time (the caller says it expired, rather than
        that it is unknown)."""
        h = token_hash(token)
        now = time.monotonic()
        hit = self._tokens.get(h)
        if hit is not None and hit[0] > now:
            return None if hit[1] is None else dict(hit[1])
        raw = self.r.hget("loop:tokens", h)
        who = dict(json.loads(raw)) if raw else None
        if len(self._tokens) > 10_000:
            self._tokens.clear()
        self._tokens[h] = (now + self.token_cache_seconds, who)
        return None if who is None else dict(who)


def _plain(pid: str) -> bool:
    """Project ids are short hex strings; anything else is not one (no Redis read)."""
    return 0 < len(pid) <= 64 and pid.isascii() and pid.isalnum()


def _watch_error() -> type[Exception]:
    from redis.exceptions import WatchError

    return WatchError
