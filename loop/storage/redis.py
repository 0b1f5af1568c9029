"""Redis-backed store. Every key starts with ``loop:``; per project ``loop:p:<pid>:``.

* ``loop:projects`` set of ids, ``loop:project:<pid>`` JSON;
  ``loop:tokens`` hash annotator token -> ``{project, name}``;
* ``<p>:items`` hash id -> JSON ``{id, text, fields}``, ``<p>:ids`` list (upload
  order = matrix row), ``<p>:row`` hash id -> row, ``<p>:ugold`` hash id -> class
  from the upload, ``<p>:eval`` the held-out part of those ids (never queued, never
  fitted on; the rest are fitted on like answers);
* ``<p>:L:meta`` JSON ``{n_lfs, lf_names, chunk_size, n_chunks, n_items, errors}``
  and ``<p>:L:<chunk>`` raw int8 bytes (rows of the chunk x n_lfs);
* ``<p>:proba:<name>`` float32 bytes (n_items x n_classes), ``<p>:model:<name>``
  pickles (trusted: only our workers write them);
* ``<p>:features`` TF-IDF matrix of every item (float32 CSR ``.npz`` bytes) and
  ``<p>:features:version`` the item count it was built for;
* ``<p>:metrics`` list of JSON points, ``<p>:jobs`` list of recent job ids,
  ``<p>:flag:<name>`` short-lived flags (SET NX): ``recal_pending``,
  ``recal_running``, ``recal_rerun``, ``end_model_*``, ``refill_pending``;
* queue, leases and gold answers: see :mod:`loop.storage.redis_queue`.
"""

from __future__ import annotations

import json
import pickle
import time
import uuid
from typing import Any

import numpy as np

from loop.errors import ProjectNotFound
from loop.storage.redis_queue import RedisQueueMixin


class RedisStore(RedisQueueMixin):
    """All persistent state of ``loop``, over one ``redis.Redis`` (bytes, not decoded)."""

    #: How long an annotator-token lookup is cached in this process (seconds).
    #: Tokens are never edited; if one is deleted from ``loop:tokens`` by hand it
    #: keeps working for up to this long in each web worker.
    token_cache_seconds: float = 30.0

    def __init__(self, client: Any) -> None:
        self.r = client
        # Per-process caches of immutable data (project records never change,
        # L meta is keyed on its ``applied_at``), shared by the request threads.
        self._projects: dict[str, dict[str, Any]] = {}
        self._tokens: dict[str, tuple[float, dict[str, Any]]] = {}
        self._L_meta: dict[str, tuple[str, dict[str, Any]]] = {}

    # -- projects and annotators ---------------------------------------------------------
    def create_project(self, data: dict[str, Any]) -> dict[str, Any]:
        pid = uuid.uuid4().hex[:10]
        project = {**data, "id": pid, "created_at": time.time()}
        with self.r.pipeline(transaction=True) as p:
            p.set(f"loop:project:{pid}", json.dumps(project))
            p.sadd("loop:projects", pid)
            p.execute()
        return project

    def get_project(self, pid: str) -> dict[str, Any]:
        """The project record (cached per process: records are never modified)."""
        cached = self._projects.get(pid)
        if cached is not None:
            return dict(cached)
        raw = self.r.get(f"loop:project:{pid}")
        if raw is None:
            raise ProjectNotFound(f"no project {pid!r}")
        project = dict(json.loads(raw))
        self._projects[pid] = project
        return dict(project)

    def list_projects(self) -> list[dict[str, Any]]:
        ids = sorted(x.decode() for x in self.r.smembers("loop:projects"))
        raws = self.r.mget([f"loop:project:{i}" for i in ids]) if ids else []
        out = [json.loads(r) for r in raws if r]
        return sorted(out, key=lambda p: p["created_at"])

    def add_annotator(self, pid: str, name: str, token: str) -> None:
        with self.r.pipeline(transaction=True) as p:
            p.hset("loop:tokens", token, json.dumps({"project": pid, "name": name}))
            p.hset(self._k(pid, "annotators"), name, token)
            p.execute()

    def annotator_for_token(self, token: str) -> dict[str, Any] | None:
        """``{project, name}`` of a token; hits are cached ``token_cache_seconds``."""
        now = time.monotonic()
        hit = self._tokens.get(token)
        if hit is not None and hit[0] > now:
            return dict(hit[1])
        raw = self.r.hget("loop:tokens", token)
        if not raw:
            return None
        who = dict(json.loads(raw))
        if len(self._tokens) > 10_000:
            self._tokens.clear()
        self._tokens[token] = (now + self.token_cache_seconds, who)
        return dict(who)

    # -- items -------------------------------------------------------------------------
    def n_items(self, pid: str) -> int:
        return int(self.r.llen(self._k(pid, "ids")))

    def item_ids(self, pid: str) -> list[str]:
        return [x.decode() for x in self.r.lrange(self._k(pid, "ids"), 0, -1)]

    def existing_ids(self, pid: str, ids: list[str]) -> list[str]:
        if not ids:
            return []
        rows = self.r.hmget(self._k(pid, "row"), ids)
        return [i for i, r in zip(ids, rows, strict=True) if r is not None]

    def row_of(self, pid: str, item_id: str) -> int | None:
        raw = self.r.hget(self._k(pid, "row"), item_id)
        return None if raw is None else int(raw)

    def items(self, pid: str, ids: list[str] | None = None) -> list[dict[str, Any]]:
        """Items by id (``None``: all, in row order); unknown ids are left out."""
        ids = self.item_ids(pid) if ids is None else ids
        out = []
        for a in range(0, len(ids), 5000):
            raws = self.r.hmget(self._k(pid, "items"), ids[a : a + 5000])
            out += [json.loads(x) for x in raws if x is not None]
        return out

    def add_items(
        self,
        pid: str,
        items: list[dict[str, Any]],
        uploaded_gold: dict[str, int],
        eval_ids: list[str],
    ) -> None:
        """Append items in one MULTI/EXEC: all of them or none."""
        start = self.n_items(pid)
        with self.r.pipeline(transaction=True) as p:
            for a in range(0, len(items), 5000):
                part = items[a : a + 5000]
                p.hset(self._k(pid, "items"), mapping={i["id"]: json.dumps(i) for i in part})
                p.rpush(self._k(pid, "ids"), *[i["id"] for i in part])
                p.hset(self._k(pid, "row"),
                       mapping={i["id"]: start + a + j for j, i in enumerate(part)})
            if uploaded_gold:
                p.hset(self._k(pid, "ugold"), mapping=uploaded_gold)
            if eval_ids:
                p.sadd(self._k(pid, "eval"), *eval_ids)
            p.execute()

    def uploaded_gold(self, pid: str) -> dict[str, int]:
        return {a.decode(): int(b) for a, b in self.r.hgetall(self._k(pid, "ugold")).items()}

    def n_uploaded_gold(self, pid: str) -> int:
        return int(self.r.hlen(self._k(pid, "ugold")))

    def n_eval(self, pid: str) -> int:
        return int(self.r.scard(self._k(pid, "eval")))

    def eval_ids(self, pid: str) -> set[str]:
        return {x.decode() for x in self.r.smembers(self._k(pid, "eval"))}

    # -- label matrix ------------------------------------------------------------------
    def save_L_chunk(self, pid: str, chunk: int, L: np.ndarray) -> None:
        self.r.set(self._k(pid, "L", str(chunk)), np.ascontiguousarray(L, np.int8).tobytes())

    def save_L_meta(self, pid: str, meta: dict[str, Any]) -> None:
        self.r.set(self._k(pid, "L", "meta"), json.dumps(meta))

    def L_meta(self, pid: str) -> dict[str, Any]:
        raw = self.r.get(self._k(pid, "L", "meta"))
        return json.loads(raw) if raw else {}

    def L_meta_cached(self, pid: str, version: str | None) -> dict[str, Any]:
        """The L meta, cached per process on its version (``applied_at`` as returned
        by :meth:`lease_next_full`); one Redis read when the version changes."""
        if version is None:
            return {}
        hit = self._L_meta.get(pid)
        if hit is not None and hit[0] == version:
            return hit[1]
        meta = self.L_meta(pid)
        self._L_meta[pid] = (version, meta)
        return meta

    def load_L(self, pid: str) -> tuple[np.ndarray | None, dict[str, Any]]:
        """``(L, meta)``: (n_items, n_lfs) int8, -1 = abstain; ``(None, {})`` before merge."""
        meta = self.L_meta(pid)
        if not meta:
            return None, {}
        keys = [self._k(pid, "L", str(c)) for c in range(meta["n_chunks"])]
        parts = self.r.mget(keys) if keys else []
        m = meta["n_lfs"]
        arrs = [np.frombuffer(b, dtype=np.int8).reshape(-1, m) for b in parts if b is not None]
        L = np.concatenate(arrs) if arrs else np.zeros((0, m), np.int8)
        return L, meta

    def L_row(self, pid: str, row: int) -> np.ndarray | None:
        meta = self.L_meta(pid)
        if not meta or row >= meta["n_items"]:
            return None
        m, cs = meta["n_lfs"], meta["chunk_size"]
        a = (row % cs) * m
        raw = self.r.getrange(self._k(pid, "L", str(row // cs)), a, a + m - 1)
        return np.frombuffer(raw, dtype=np.int8)

    # -- models and probabilities --------------------------------------------------------
    def save_proba(self, pid: str, name: str, proba: np.ndarray) -> None:
        self.r.set(self._k(pid, "proba", name), np.ascontiguousarray(proba, np.float32).tobytes())

    def load_proba(self, pid: str, name: str, k: int) -> np.ndarray | None:
        raw = self.r.get(self._k(pid, "proba", name))
        return None if raw is None else np.frombuffer(raw, dtype=np.float32).reshape(-1, k)

    def proba_row(self, pid: str, name: str, row: int, k: int) -> np.ndarray | None:
        raw = self.r.getrange(self._k(pid, "proba", name), row * k * 4, (row + 1) * k * 4 - 1)
        return np.frombuffer(raw, dtype=np.float32) if len(raw) == 4 * k else None

    def save_model(self, pid: str, name: str, model: Any) -> None:
        self.r.set(self._k(pid, "model", name), pickle.dumps(model))

    def load_model(self, pid: str, name: str) -> Any:
        raw = self.r.get(self._k(pid, "model", name))
        return None if raw is None else pickle.loads(raw)  # noqa: S301 - written by our workers

    # -- metrics, jobs, flags ------------------------------------------------------------
    def append_metric(self, pid: str, point: dict[str, Any]) -> None:
        self.r.rpush(self._k(pid, "metrics"), json.dumps(point))

    def metrics_history(self, pid: str) -> list[dict[str, Any]]:
        return [json.loads(x) for x in self.r.lrange(self._k(pid, "metrics"), 0, -1)]

    def record_job(self, pid: str, job_id: str) -> None:
        with self.r.pipeline() as p:
            p.lpush(self._k(pid, "jobs"), job_id)
            p.ltrim(self._k(pid, "jobs"), 0, 49)
            p.execute()

    def recent_jobs(self, pid: str) -> list[str]:
        return [x.decode() for x in self.r.lrange(self._k(pid, "jobs"), 0, -1)]

    def set_flag(self, pid: str, name: str, ttl: int) -> bool:
        """Set a flag unless already set (SET NX EX); True if this call set it."""
        return bool(self.r.set(self._k(pid, "flag", name), "1", nx=True, ex=ttl))

    def clear_flag(self, pid: str, name: str) -> None:
        self.r.delete(self._k(pid, "flag", name))

    def set_value(self, pid: str, name: str, value: Any) -> None:
        self.r.set(self._k(pid, "val", name), json.dumps(value))

    def get_value(self, pid: str, name: str, default: Any = None) -> Any:
        raw = self.r.get(self._k(pid, "val", name))
        return default if raw is None else json.loads(raw)

    def set_apply_progress(self, pid: str, chunk: int, done: int) -> None:
        self.r.hset(self._k(pid, "apply_progress"), str(chunk), done)

    def apply_progress(self, pid: str) -> int:
        return sum(int(v) for v in self.r.hvals(self._k(pid, "apply_progress")))

    def reset_apply(self, pid: str) -> None:
        self.r.delete(self._k(pid, "apply_progress"))

    # -- row lookups without loading every id ----------------------------------------------
    def rows_of(self, pid: str, ids: list[str]) -> np.ndarray:
        """(len(ids),) int64 matrix rows of ``ids``; -1 for unknown ids."""
        out = np.full(len(ids), -1, dtype=np.int64)
        for a in range(0, len(ids), 10000):
            raws = self.r.hmget(self._k(pid, "row"), ids[a : a + 10000])
            out[a : a + len(raws)] = [-1 if x is None else int(x) for x in raws]
        return out

    def ids_at(self, pid: str, rows: Any) -> list[str]:
        """Item ids at matrix ``rows`` (pipelined LINDEX; for a few thousand rows)."""
        with self.r.pipeline(transaction=False) as p:
            for r in rows:
                p.lindex(self._k(pid, "ids"), int(r))
            return [x.decode() for x in p.execute()]

    def uploaded_gold_of(self, pid: str, ids: list[str]) -> list[int | None]:
        raws = self.r.hmget(self._k(pid, "ugold"), ids) if ids else []
        return [None if x is None else int(x) for x in raws]

    def take_flag(self, pid: str, name: str) -> bool:
        """Delete a flag; True if it was set."""
        return bool(self.r.delete(self._k(pid, "flag", name)))

    # -- cached TF-IDF features of the end model -----------------------------------------
    def save_features(self, pid: str, version: str, X: Any) -> Any:
        """Store a CSR matrix as float32 ``.npz`` bytes; returns the stored matrix."""
        import io

        import scipy.sparse as sp

        X = sp.csr_matrix(X, dtype=np.float32)
        buf = io.BytesIO()
        sp.save_npz(buf, X, compressed=False)
        with self.r.pipeline(transaction=True) as p:
            p.set(self._k(pid, "features"), buf.getvalue())
            p.set(self._k(pid, "features", "version"), version)
            p.execute()
        return X

    def load_features(self, pid: str, version: str) -> Any:
        """The stored features if they were built for ``version``, else None."""
        import io

        import scipy.sparse as sp

        with self.r.pipeline(transaction=True) as p:
            p.get(self._k(pid, "features", "version"))
            p.get(self._k(pid, "features"))
            v, raw = p.execute()
        if raw is None or v is None or v.decode() != version:
            return None
        return sp.load_npz(io.BytesIO(raw))

    def update_last_metric(self, pid: str, fields: dict[str, Any]) -> None:
        """Merge ``fields`` into the newest metrics point (if any)."""
        key = self._k(pid, "metrics")
        raw = self.r.lindex(key, -1)
        if raw is not None:
            self.r.lset(key, -1, json.dumps({**json.loads(raw), **fields}))
