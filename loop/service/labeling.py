"""Applying a project's LFs to its items, in units of work spread over the workers.

A run is planned in a worker (:func:`plan`: it imports the LF module and adds the
project's enabled rules, :func:`loop.service.rules.project_lfs`), computes only
what changed since the published ``L`` (:func:`apply_unit`), and one
:func:`merge` publishes the new ``L`` under a new version with one write
(readers see the old ``L`` or the new one, never a mix):

* rows uploaded since the last run get every LF;
* rows already applied get only the LFs whose fingerprint changed (edited, new);
  the other columns are copied from the published ``L``, and chunks where nothing
  changed are not even copied.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from loop.core.apply import LFErrorSummary, LFInterrupted, apply_lfs, chunk_bounds, merge_errors
from loop.core.lf import LabelingFunction, Record
from loop.errors import LFModuleNotOnWorker, LFRunSuperseded, LFTimeout, NotReady
from loop.service.lf_modules import check_versions_agree
from loop.service.rules import NO_LFS, project_lfs, uploaded_lf_names
from loop.storage import RedisStore

Progress = Callable[[int, int], None]


def plan(store: RedisStore, pid: str, chunk_size: int,
         lfs: list[LabelingFunction] | None = None) -> dict[str, Any]:
    """What a run must compute, stored under a new ``L`` version: units of work
    ``{start, stop, lfs}`` (rows ``[start, stop)``, those LFs only)."""
    n = store.n_items(pid)
    if n == 0:
        raise NotReady("upload items before applying LFs")
    # read before the rules: a rule saved meanwhile leaves this run behind it, and the
    # workers' reconciler (loop.service.reconcile) sees so and asks for another
    rules_version = store.rules_version(pid)
    if lfs is None:
        lfs = project_lfs(store, pid)
        module = store.get_project(pid).get("lf_module")
        if module:  # as the other machines' workers have it
            check_versions_agree(store.r, str(module))
    if not lfs:
        raise NotReady(NO_LFS)
    names = [lf.name for lf in lfs]
    prints = {lf.name: lf.fingerprint() for lf in lfs}
    old = store.L_meta(pid)
    base = old if (old and old.get("chunk_size") == chunk_size and old.get("fingerprints")
                   and old["n_items"] <= n) else None
    old_n = base["n_items"] if base else 0
    same = [x for x in names if base and base["fingerprints"].get(x) == prints[x]]
    changed = [x for x in names if x not in same]
    units: list[dict[str, Any]] = []
    if changed and old_n:
        units += [{"start": a, "stop": b, "lfs": changed}
                  for a, b in chunk_bounds(old_n, chunk_size)]
    a = old_n
    while a < n:  # new rows: every LF, in units aligned to the chunks
        b = min(n, (a // chunk_size + 1) * chunk_size)
        units.append({"start": a, "stop": b, "lfs": names})
        a = b
    version = store.new_L_version(pid)
    uploaded = [x for x in uploaded_lf_names(store, pid) if x in prints]
    rules = {x for x, rec in store.rules(pid).items() if rec["enabled"]}  # with a column
    out: dict[str, Any] = {"version": version, "n_items": n, "old_n": old_n,
           "planned_on": socket.gethostname(), "planned_at": time.time(),
           "chunk_size": chunk_size, "lfs": names, "fingerprints": prints, "same": same,
           "uploaded": uploaded,
           # the module's LFs: a rule may not take one's name (rules._check)
           "module": [x for x in names if x not in rules and x not in uploaded],
           "changed": changed, "units": units,
           "base_version": None if base is None else base["version"],
           "rules_version": rules_version,
           "rows": int(sum(u["stop"] - u["start"] for u in units))}
    store.save_apply_plan(pid, version, out)
    return out


#: Rows one job of an apply run computes at most, in units of ``chunk_size`` rows
#: (speed trial: each unit in a job of its own cost a fresh work horse, about 0.1 s
#: a unit beside 0.12 s of work for 25 rules on 10,000 items).
ROWS_PER_JOB = 50_000


def unit_groups(n_units: int, chunk_size: int, workers: int) -> list[list[int]]:
    """The units of a run (``0..n_units-1``) in the jobs that compute them: runs of
    consecutive units, each at most :data:`ROWS_PER_JOB` rows, and at least two jobs
    per worker where there are units enough (the workers share the run)."""
    most = max(1, ROWS_PER_JOB // max(1, chunk_size))
    size = max(1, min(most, -(-n_units // max(2, 2 * workers))))
    return [list(range(a, min(a + size, n_units))) for a in range(0, n_units, size)]


def warm_rules(store: RedisStore, pid: str) -> int:
    """Compile the project's enabled keyword and regex rules and keep them in this
    process (:func:`loop.core.rules.keep_compiled`), so that the work horses a worker
    forks for the units of an apply run find them compiled. Only rules: the LF module
    is imported in the horses, never in the worker. A rule that does not compile is
    left to the unit, which says so. Returns how many are kept."""
    from loop.core.rules import Rule, keep_compiled

    k = len(store.get_project(pid)["labels"])
    rules = []
    for rec in store.rules(pid).values():
        if rec["enabled"]:
            try:
                rule = Rule.from_dict(rec["rule"], k)
                rule.compiled()
            except ValueError:
                continue
            rules.append(rule)
    return keep_compiled(rules)


def apply_unit(
    store: RedisStore, pid: str, version: int, unit: int, progress: Progress | None = None,
    interrupts: tuple[type[BaseException], ...] = (),
) -> dict[str, Any]:
    """Compute one unit of a planned run and store it.

    ``interrupts``: the exception types a time limit raises inside a running LF
    (RQ's job timeout); one of them stops the unit with :class:`LFTimeout`
    naming the LF and the item it was on.
    """
    p = store.apply_plan(pid, version)
    u = p["units"][unit]
    start, stop = int(u["start"]), int(u["stop"])
    project = store.get_project(pid)
    by_name = {lf.name: lf for lf in project_lfs(store, pid)}
    changed = _stale(p, by_name, u["lfs"])
    if changed:
        _not_this_modules_version(store, pid, p, project, by_name, changed)
        # a rule was edited or removed since the run was planned: the edit queued a
        # run of its own, and this one's merge gives way to it (told so: the rule may
        # be back as it was by the merge, which then found this unit missing and
        # failed with "apply the LFs again"; operator's trial, a rule saved each second)
        store.mark_unit_superseded(pid, version, unit)
        raise LFRunSuperseded("the LFs (module or rules) changed during the run; a newer "
                              "run applies them")
    lfs: list[Any] = [by_name[x] for x in u["lfs"]]
    ids = store.item_ids(pid, start, stop)
    items = store.items(pid, ids)
    tf = project["text_field"]
    spec = store.votes_spec(pid)  # uploaded LF votes: read under their column's name
    votes = (lambda i: {spec["field"]: i.get("votes")}) if spec else (lambda i: {})
    recs = [Record({**i["fields"], **votes(i), "id": i["id"], "text": i["text"],
                    tf: i["text"]}) for i in items]

    def report(done: int, total: int) -> None:
        store.set_apply_progress(pid, version, unit, done)
        if progress is not None:
            progress(done, total)

    try:
        res = apply_lfs(lfs, recs, n_classes=len(project["labels"]), ids=ids, progress=report,
                        progress_every=max(50, len(recs) // 5), interrupts=interrupts,
                        warn=False)  # the LF table shows its errors
    except LFInterrupted as hit:
        raise LFTimeout(f"LF {hit.lf!r} was still running on item {hit.item!r} when the "
                        f"unit of rows {start}-{stop - 1} hit its time limit "
                        "(LOOP_LF_CHUNK_TIMEOUT); fix the LF and apply again") from None
    store.save_L_chunk(pid, version, unit, res.L, res.errors_as_dicts())
    return {"unit": unit, "rows": stop - start, "lfs": len(u["lfs"]),
            "n_errors": sum(e.count for e in res.errors.values())}


def _not_this_modules_version(store: RedisStore, pid: str, plan: dict[str, Any],
                              project: dict[str, Any], by_name: dict[str, Any],
                              differ: list[str]) -> None:
    """Raise :class:`LFModuleNotOnWorker` when the LFs ``differ`` (changed since the
    plan, :func:`_stale`) are all the module's, and this worker's copy of the module
    was not written since the run was planned: another version of it on this machine than
    on the one that planned (operator's trial: two versions of a regex on two
    machines made one ``L`` of both, silently). A module edited during the run is
    the run given way to, as a rule edited during it is."""
    module = project.get("lf_module")
    if not module or module not in sys.modules:
        return
    others = set(store.rules(pid)) | set(uploaded_lf_names(store, pid))
    if any(x not in by_name or x in others for x in differ):
        return
    path = getattr(sys.modules[module], "__file__", None)
    try:
        written = os.path.getmtime(path) if path else None
    except OSError:
        written = None
    if written is None or written >= float(plan.get("planned_at") or 0.0) - 1.0:
        return
    raise LFModuleNotOnWorker(
        f"lf_module {module!r} on {socket.gethostname()} ({path}) is not the version the "
        f"apply run was planned with on {plan.get('planned_on', 'another machine')}: "
        f"{', '.join(differ)} differ there. Every machine that runs workers needs the same "
        "version of the project's LF modules: copy it to each and restart their workers.")


def _stale(plan: dict[str, Any], by_name: dict[str, Any], names: list[str]) -> list[str]:
    """The LFs of ``names`` gone or changed since ``plan`` was made."""
    return [x for x in names
            if x not in by_name or by_name[x].fingerprint() != plan["fingerprints"][x]]


def up_to_date(store: RedisStore, pid: str) -> bool:
    """Whether the published ``L`` has every item and every LF (module and enabled
    rules) as it is now."""
    meta = store.L_meta(pid)
    if not meta or meta.get("n_items") != store.n_items(pid):
        return False
    prints = meta.get("fingerprints") or {}
    lfs = project_lfs(store, pid)
    return (meta.get("lf_names") == [lf.name for lf in lfs]
            and all(prints.get(lf.name) == lf.fingerprint() for lf in lfs))


def merge(store: RedisStore, pid: str, version: int) -> dict[str, Any]:
    """Assemble and publish the ``L`` of run ``version`` once every unit is stored."""
    p = store.apply_plan(pid, version)
    cs, n, old_n, names = p["chunk_size"], p["n_items"], p["old_n"], p["lfs"]
    published = store.L_meta(pid)
    if p["base_version"] is not None and published.get("version") != p["base_version"]:
        raise LFRunSuperseded("another LF run was published during this one; apply the "
                              "LFs again")
    base = published if p["base_version"] is not None else None
    m = len(names)
    col = {x: j for j, x in enumerate(names)}
    units: dict[int, Any] = {}
    errs: list[dict[str, LFErrorSummary]] = []
    for i, u in enumerate(p["units"]):
        arr = store.L_chunk(store.L_chunk_key(pid, version, i), len(u["lfs"]))
        e = store.L_chunk_errors(pid, version, i)
        if arr is None or e is None:
            if (store.unit_superseded(pid, version, i)
                    or _stale(p, {lf.name: lf for lf in project_lfs(store, pid)}, u["lfs"])):
                raise LFRunSuperseded("the LFs (module or rules) changed during the run; "
                                      "a newer run applies them")
            raise NotReady(f"unit {i} of the LF run is missing; apply the LFs again")
        units[i] = arr
        errs.append({d["lf"]: LFErrorSummary(d["lf"], d["count"], d["example_id"],
                                             d["example_error"]) for d in e})
    if base is not None:  # unchanged LFs keep what they found on the rows done before
        errs.append({d["lf"]: LFErrorSummary(d["lf"], d["count"], d["example_id"],
                                             d["example_error"])
                     for d in base.get("errors", []) if d["lf"] in p["same"]})
    old_rows = {u["start"]: i for i, u in enumerate(p["units"])
                if u["stop"] <= old_n and u["lfs"] == p["changed"]}
    new_rows = {u["start"]: i for i, u in enumerate(p["units"]) if u["start"] >= old_n}
    untouched = base is not None and not p["changed"] and base["lf_names"] == names
    chunks = []
    for c, (a, b) in enumerate(chunk_bounds(n, cs)):
        if untouched and base is not None and b <= old_n:
            chunks.append(base["chunks"][c])  # nothing changed here: keep the chunk
            continue
        if a >= old_n and len(p["units"][new_rows[a]]["lfs"]) == m and b == p["units"][
                new_rows[a]]["stop"]:
            chunks.append(store.L_chunk_key(pid, version, new_rows[a]))  # a new chunk as is
            continue
        block = np.full((b - a, m), -1, dtype=np.int8)
        k = min(b, old_n) - a  # rows of this chunk applied before
        if k > 0 and base is not None:
            old = store.L_chunk(base["chunks"][c], base["n_lfs"])
            if old is None:
                raise NotReady("the published L lost a chunk; apply the LFs again")
            old_col = {x: j for j, x in enumerate(base["lf_names"])}
            for x in p["same"]:
                block[:k, col[x]] = old[:k, old_col[x]]
            if p["changed"]:
                fresh = units[old_rows[a]]
                for j, x in enumerate(p["changed"]):
                    block[:k, col[x]] = fresh[:k, j]
        if b > old_n:
            block[max(k, 0):] = units[new_rows[max(a, old_n)]]
        key = store.L_chunk_key(pid, version, f"m{c}")
        store.save_L_block(key, block)
        chunks.append(key)
    errors = [e.to_dict() for e in merge_errors(errs).values()]
    meta = {"version": version, "n_lfs": m, "lf_names": names, "chunk_size": cs,
            "chunks": chunks, "n_items": n, "errors": errors, "applied_at": time.time(),
            "fingerprints": p["fingerprints"], "rules_version": p.get("rules_version"),
            # the LFs whose votes came with the items: never shown to annotators
            "uploaded": p.get("uploaded", []), "module": p.get("module")}
    if not store.publish_L(pid, meta):
        raise LFRunSuperseded("a later LF run was published during this one's merge")
    L, _ = store.load_L(pid)
    if L is None or L.shape[0] != n:
        raise NotReady(f"L has {0 if L is None else L.shape[0]} rows for {n} items; "
                       "apply the LFs again")
    return {"n_items": int(L.shape[0]), "n_lfs": m, "rows_computed": p["rows"],
            "lfs_recomputed": p["changed"], "incremental": p["base_version"] is not None,
            "coverage": float((L >= 0).any(axis=1).mean()) if L.size else 0.0}
