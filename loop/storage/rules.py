"""Rules: a project's declarative LFs (:class:`loop.core.rules.Rule`).

* ``<p>:rules`` hash name -> JSON ``{rule, enabled, source, created_at, updated_at,
  history}`` (``history``: the earlier versions of the rule, newest last);
* ``<p>:rules_rejected`` set of rule-suggestion keys never to propose again;
* ``<p>:lfs_off`` set of the LFs of the project's module or of its uploaded votes
  that are switched off (left out when the LFs are applied; rules have their own
  ``enabled``);
* ``<p>:rules_version`` a counter bumped by every change (caches key on it).
"""

from __future__ import annotations

import json
import random
import time
from typing import Any

from redis.exceptions import WatchError

from loop.core.text import alike
from loop.core.votes import votes_names
from loop.errors import BadRequest, Conflict, NotFound, RuleChanged
from loop.storage.base import StoreBase, unless_full


def _uploaded_name(spec: bytes | None, name: str) -> str | None:
    """The uploaded LF (of the votes column ``spec``, stored JSON) that ``name``
    would read as, if any."""
    if not spec:
        return None
    d = json.loads(spec)
    return alike(name, votes_names(d["field"], d["n"], d.get("names")))


def _none_on(rule_records: Any, off: set[str], sources: Any) -> bool:
    """Whether no LF would be on: no enabled rule among ``rule_records`` and every
    LF of ``sources`` (module, uploaded votes) in ``off``."""
    return (not any(r.get("enabled") for r in rule_records)
            and all(x in off for x in sources))


class RulesMixin(StoreBase):
    """Rules and rejected rule suggestions."""

    def rules(self, pid: str) -> dict[str, dict[str, Any]]:
        """Every rule record by name, in creation order."""
        out = {a.decode(): json.loads(b)
               for a, b in self.r.hgetall(self._k(pid, "rules")).items()}
        return dict(sorted(out.items(), key=lambda kv: kv[1]["created_at"]))

    def rules_version(self, pid: str) -> int:
        return int(self.r.get(self._k(pid, "rules_version")) or 0)

    def write_rule(self, pid: str, name: str, record: dict[str, Any] | None,
                   expect: dict[str, Any] | None, rename_from: str | None = None,
                   last_one: str | None = None, sources: tuple[str, ...] | list[str] = (),
                   limit: int | None = None) -> None:
        """Set (or with ``record=None`` delete) rule ``name`` if the stored record of
        ``rename_from or name`` is still ``expect`` (None: absent); else
        :class:`Conflict` (someone changed it meanwhile). ``last_one``: a write that
        would leave no enabled rule is refused with this message, checked inside the
        transaction (two deletes of the last two rules at once each saw the other
        still there when the check ran before it). ``sources``: the project's LFs
        that are no rules (module, uploaded votes): the write is refused only if every
        one of them is switched off too (:meth:`switch_lf`). ``limit``: a new rule
        is refused (400) when the project holds that many, checked inside the
        transaction (its check before it let 8 creates at once pass 500)."""
        key = self._k(pid, "rules")
        old_name = rename_from or name
        # WATCH sees any change to the project's rules; a change to another rule is
        # no conflict (three scripts adding rules at once each got 409s; operator's
        # trial: 2 of 4 deletes of different rules at once): the checks run again on
        # what the rules are now, up to many times, and this rule's record decides.
        # A disable or delete is checked against every rule inside the transaction,
        # so two at once cannot take away the last two enabled rules.
        for attempt in range(50):
            if attempt:  # writers that collided retry apart (8 tries in lockstep ran out)
                time.sleep(random.uniform(0, 0.002 * min(attempt, 10)))
            with self.r.pipeline(transaction=True) as p:
                try:
                    votes_key, off_key = self._k(pid, "votes"), self._k(pid, "lfs_off")
                    self._watch_project(p, pid, key, votes_key, off_key)
                    raw = p.hget(key, old_name)
                    if raw is None and expect is not None:
                        # deleted (or renamed) meanwhile, e.g. by a delete sent twice at
                        # once (operator's trial: 9 of 10 were told "changed by someone
                        # else" instead of that it is gone)
                        raise NotFound(f"no rule {old_name!r} (deleted or renamed "
                                       "meanwhile); reload the rules")
                    if raw is not None and expect is None:
                        # a create that lost to another of the same name (concurrency
                        # trial: told "was changed by someone else" of a rule it made)
                        raise Conflict(f"a rule named {old_name!r} exists already (saved "
                                       "meanwhile); edit it or pick another name")
                    if (json.loads(raw) if raw else None) != expect:
                        raise RuleChanged(f"rule {old_name!r} was changed by someone else; "
                                       "reload and try again")
                    if (rename_from is not None and rename_from != name
                            and p.hexists(key, name)):
                        raise Conflict(f"a rule named {name!r} exists already; rename this "
                                       "one to another name, or delete that rule first")
                    if record is not None and (expect is None or old_name != name):
                        alike = self.alike_name(p, key, name, besides=old_name)
                        if alike:  # both would read as one rule on the dashboard
                            raise Conflict(f"a rule named {alike!r} exists, and {name!r} "
                                           "differs from it only in case; edit it or pick "
                                           "another name")
                    if record is not None and (expect is None or old_name != name):
                        uploaded = _uploaded_name(p.get(votes_key), name)
                        if uploaded:  # the first upload of LF votes came first
                            raise Conflict(f"rule name {name!r} is taken by an LF whose "
                                           f"votes were uploaded with the items "
                                           f"({uploaded!r}); pick another name")
                    if (limit is not None and record is not None and expect is None
                            and p.hlen(key) >= limit):
                        raise BadRequest(f"a project holds at most {limit} rules; delete "
                                         "some first")
                    if last_one is not None and not (record or {}).get("enabled", False):
                        others = [json.loads(v) for n, v in p.hgetall(key).items()
                                  if n.decode() not in (old_name, name)]
                        off = {x.decode() for x in p.smembers(off_key)}
                        if _none_on(others, off, sources):
                            raise Conflict(last_one)
                    p.multi()
                    if rename_from is not None and rename_from != name:
                        p.hdel(key, rename_from)
                    if record is None:
                        p.hdel(key, name)
                    else:
                        p.hset(key, name, json.dumps(record))
                    p.incr(self._k(pid, "rules_version"))
                    p.execute()
                    return
                except WatchError:
                    continue
        raise Conflict("the rules changed while saving, again and again; try again")

    def add_rules(self, pid: str, records: dict[str, dict[str, Any]], limit: int) -> None:
        """Add the new rules ``records`` (by name) in one transaction: all, or none
        when one is refused as :meth:`write_rule` refuses a new rule (:class:`Conflict`
        naming every name taken by a rule, also in another case, or by an uploaded LF;
        400 past ``limit`` rules)."""
        key, votes_key = self._k(pid, "rules"), self._k(pid, "votes")
        with self.r.pipeline(transaction=True) as p:
            while True:
                try:
                    self._watch_project(p, pid, key, votes_key)
                    spec = p.get(votes_key)
                    have = [x.decode() for x in p.hkeys(key)]  # read once, not per name
                    taken = [f"{n!r}" + (f" (as {a!r})" if a != n else "")
                             for n in records
                             if (a := alike(n, have) or _uploaded_name(spec, n)) is not None]
                    if taken:
                        raise Conflict(f"the project has rules or uploaded LFs named "
                                       f"{', '.join(taken)} already: rename those in the "
                                       "file, or delete the project's")
                    if len(have) + len(records) > limit:
                        raise BadRequest(f"a project holds at most {limit} rules: it has "
                                         f"{len(have)}, and the file adds {len(records)}")
                    p.multi()
                    for name, record in records.items():
                        p.hset(key, name, json.dumps(record))
                    p.incr(self._k(pid, "rules_version"))
                    p.execute()
                    return
                except WatchError:
                    continue

    def lfs_off(self, pid: str) -> set[str]:
        """The module LFs and uploaded LFs switched off."""
        return {x.decode() for x in self.r.smembers(self._k(pid, "lfs_off"))}

    def switch_lf(self, pid: str, name: str, on: bool, sources: list[str],
                  last_one: str) -> bool:
        """Switch the module or uploaded LF ``name`` on or off; whether that changed
        anything. ``sources``: every module and uploaded LF of the project; switching
        off the last of them that is on while no rule is enabled is refused
        (:class:`Conflict` saying ``last_one``), checked inside the transaction."""
        key, rules_key = self._k(pid, "lfs_off"), self._k(pid, "rules")
        with self.r.pipeline(transaction=True) as p:
            while True:
                try:
                    self._watch_project(p, pid, key, rules_key)
                    off = {x.decode() for x in p.smembers(key)}
                    if (name not in off) == on:
                        p.unwatch()
                        return False
                    after = off - {name} if on else off | {name}
                    if not on and _none_on((json.loads(v) for v in p.hvals(rules_key)),
                                           after, sources):
                        p.unwatch()
                        raise Conflict(last_one)
                    p.multi()
                    (p.srem if on else p.sadd)(key, name)
                    p.incr(self._k(pid, "rules_version"))
                    p.execute()
                    return True
                except WatchError:
                    continue

    def reject_suggestion(self, pid: str, key: str) -> None:
        def writes(p: Any) -> None:
            p.sadd(self._k(pid, "rules_rejected"), key)
            p.incr(self._k(pid, "rules_version"))

        self._while_project(pid, writes)

    def note_shown_suggestions(self, pid: str, rules: dict[str, dict[str, Any]],
                               ttl: int = 86400, most: int = 500) -> None:
        """Remember the rules of suggestions shown (key -> rule), so that Accept takes
        the one the user saw after the models moved (a day; the newest ``most``)."""
        if not rules:
            return
        key = self._k(pid, "rules_shown")

        def writes(p: Any) -> None:
            p.hset(key, mapping={k: json.dumps(v) for k, v in rules.items()})
            p.expire(key, ttl)

        if self.r.hlen(key) > most:  # a long-lived project: start over, keep these
            self.r.delete(key)
        # a full Redis (maxmemory) keeps none: the list is still shown (operator's
        # trial: it was a 503), and Accept takes the candidate as it is then
        with unless_full():
            self._while_project(pid, writes)

    def shown_suggestion(self, pid: str, key: str) -> dict[str, Any] | None:
        """The rule of suggestion ``key`` as last shown, if remembered."""
        raw = self.r.hget(self._k(pid, "rules_shown"), key)
        return None if raw is None else dict(json.loads(raw))

    def rejected_suggestions(self, pid: str) -> set[str]:
        return {x.decode() for x in self.r.smembers(self._k(pid, "rules_rejected"))}
