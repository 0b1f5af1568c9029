"""The vote matrix ``L``, model probabilities and summaries, cached features.

* ``<p>:L:meta`` JSON ``{version, n_lfs, lf_names, chunk_size, chunks, n_items,
  errors, applied_at}``: the published ``L``. Its row chunks are raw int8 bytes
  (rows of the chunk x n_lfs) at the keys listed in ``chunks``, written under
  ``<p>:L:<version>:<chunk>`` before the meta that names them is switched in one
  SET; the chunks of the previous version expire ten minutes later, so a reader
  that read the old meta still finds them. ``<p>:L:<version>:err:<chunk>`` are
  the LF errors of each chunk, ``<p>:L:<version>:progress`` rows done per chunk.
* ``<p>:proba:<name>`` float64 bytes (n_items x n_classes) of ``label_model`` and
  ``end_model`` (and ``gold_view``, the end model's model of the gold alone, written
  with it: ``save_model``'s ``also``); ``<p>:model:<name>`` JSON summary of the
  fitted model (no pickles: nothing in Redis is ever executed); the two are
  written together, and never over a model fitted on newer state
  (``save_model``); ``<p>:fitgold:<name>`` which rows
  had gold when it was fitted (``np.packbits`` of a bool per item), written with them;
* ``<p>:unseen:<name>`` hash item id -> ``"<class>:<n_gold>"``: the model's class for
  an exploration answer it had not seen, predicted by the model fitted on
  ``n_gold`` gold labels (the end model's adds ``":1"`` if an LF voted on the item
  then, ``":0"`` if none did; checks noted before that get it from the LFs of the
  next run that checks), or ``"-"``
  when it had seen it (or, for the label model, no LF voted on it) when first
  looked at (``note_unseen``);
* ``<p>:features`` TF-IDF matrix of every item (float32 CSR ``.npz`` bytes) and
  ``<p>:features:version`` the item count it was built for.
"""

from __future__ import annotations

import io
import json
import time
from typing import Any

import numpy as np

from loop.storage.base import StoreBase

#: The models whose probabilities are stored (``<p>:proba:<name>``).
MODELS = ("label_model", "end_model")
#: Seconds a replaced L chunk stays readable after a new L is published.
OLD_L_TTL = 600


class MatricesMixin(StoreBase):
    """``L`` (versioned, chunked), probabilities, model summaries and features."""

    def __init__(self, client: Any) -> None:
        super().__init__(client)
        self._L_meta: dict[str, tuple[str, dict[str, Any]]] = {}

    # -- L ---------------------------------------------------------------------------------
    def new_L_version(self, pid: str) -> int:
        return int(self.r.incr(self._k(pid, "L", "next")))

    def L_chunk_key(self, pid: str, version: int, chunk: int | str) -> str:
        return self._k(pid, "L", str(version), str(chunk))

    def save_apply_plan(self, pid: str, version: int, plan: dict[str, Any]) -> None:
        self.r.set(self._k(pid, "L", str(version), "plan"), json.dumps(plan), ex=7 * 86400)

    def apply_plan(self, pid: str, version: int) -> dict[str, Any]:
        raw = self.r.get(self._k(pid, "L", str(version), "plan"))
        if raw is None:
            from loop.errors import NotReady

            raise NotReady(f"LF run {version} of project {pid} is unknown (expired?); "
                           "apply the LFs again")
        return dict(json.loads(raw))

    def save_L_block(self, key: str, L: np.ndarray) -> None:
        """Store a merged row chunk of a (not yet published) ``L``."""
        self.r.set(key, np.ascontiguousarray(L, np.int8).tobytes(), ex=7 * 86400)

    def save_L_chunk(self, pid: str, version: int, chunk: int, L: np.ndarray,
                     errors: list[dict[str, Any]]) -> None:
        """Store one unit (rows x its LFs) of a (not yet published) ``L`` and its LF
        errors, unless that unit is stored already: a unit run twice (its worker frozen,
        the unit run again elsewhere) computes the same rows, and the late copy, after
        the merge published the key as a chunk of ``L``, put the 7-day expiry back on
        it (operator's trial: the project would have lost that chunk a week later)."""
        with self.r.pipeline(transaction=True) as p:
            p.set(self.L_chunk_key(pid, version, chunk),
                  np.ascontiguousarray(L, np.int8).tobytes(), ex=7 * 86400, nx=True)
            p.set(self._k(pid, "L", str(version), "err", str(chunk)), json.dumps(errors),
                  ex=7 * 86400, nx=True)
            p.execute()

    def mark_unit_superseded(self, pid: str, version: int, chunk: int) -> None:
        """Unit ``chunk`` of run ``version`` stopped because the LFs changed under it
        (its merge then gives way, whatever the LFs are by then)."""
        self.r.set(self._k(pid, "L", str(version), "superseded", str(chunk)), 1, ex=7 * 86400)

    def unit_superseded(self, pid: str, version: int, chunk: int) -> bool:
        return bool(self.r.exists(self._k(pid, "L", str(version), "superseded", str(chunk))))

    def L_chunk(self, key: str, n_lfs: int) -> np.ndarray | None:
        raw = self.r.get(key)
        return None if raw is None else np.frombuffer(raw, dtype=np.int8).reshape(-1, n_lfs)

    def unit_stored(self, pid: str, version: int, chunk: int) -> bool:
        """Whether unit ``chunk`` of run ``version`` is stored (its votes and errors,
        written together by :meth:`save_L_chunk`)."""
        return bool(self.r.exists(self._k(pid, "L", str(version), "err", str(chunk))))

    def L_chunk_errors(self, pid: str, version: int, chunk: int) -> list[dict[str, Any]] | None:
        raw = self.r.get(self._k(pid, "L", str(version), "err", str(chunk)))
        return None if raw is None else list(json.loads(raw))

    def publish_L(self, pid: str, meta: dict[str, Any]) -> bool:
        """Switch to a new ``L`` (its chunks stored): one SET of the meta; chunks
        the new meta does not reuse expire after :data:`OLD_L_TTL` seconds. False,
        and nothing changed, when a later run's ``L`` is published already: a merge
        held up between its check and this (operator's trial) published an older
        ``L`` over a newer one, whose chunks then expired."""
        from redis.exceptions import WatchError

        key = self._k(pid, "L", "meta")
        keep = set(meta["chunks"])
        with self.r.pipeline(transaction=True) as p:
            while True:
                try:
                    p.watch(key)
                    raw = p.get(key)
                    old = json.loads(raw) if raw else {}
                    if int(old.get("version", -1)) > int(meta["version"]):
                        p.unwatch()
                        return False
                    p.multi()
                    p.set(key, json.dumps(meta))
                    for chunk in meta["chunks"]:
                        p.persist(chunk)
                    for chunk in old.get("chunks", []):
                        if chunk not in keep:
                            p.expire(chunk, OLD_L_TTL)
                    p.incr(self._k(pid, "version"))
                    p.execute()
                    return True
                except WatchError:
                    continue

    def L_meta(self, pid: str) -> dict[str, Any]:
        raw = self.r.get(self._k(pid, "L", "meta"))
        return json.loads(raw) if raw else {}

    def refill_possible(self, pid: str) -> bool:
        """In one round trip: no refill is asked for yet (flag ``refill_pending``), a
        label model exists to rank with, and the applied LFs have seen every item.
        ``/next`` checks this before it asks for a refill: four round trips on every
        request while a short queue waited for its refill took a third of the web
        workers' time under load."""
        with self.r.pipeline(transaction=False) as p:
            p.exists(self._k(pid, "flag", "refill_pending"))
            p.exists(self._k(pid, "model", "label_model"))
            p.get(self._k(pid, "L", "meta"))
            p.llen(self._k(pid, "ids"))
            pending, has_lm, meta, n = p.execute()
        if pending or not has_lm or not meta:
            return False
        return bool(json.loads(meta).get("n_items") == int(n))

    def L_meta_cached(self, pid: str, version: str | None) -> dict[str, Any]:
        """The L meta, cached per process on its version; one read when it changes."""
        if version is None:
            return {}
        hit = self._L_meta.get(pid)
        if hit is not None and hit[0] == version:
            return hit[1]
        meta = self.L_meta(pid)
        self._L_meta[pid] = (str(meta.get("version")), meta)
        return meta

    def load_L(self, pid: str) -> tuple[np.ndarray | None, dict[str, Any]]:
        """``(L, meta)``: (n_items, n_lfs) int8, -1 = abstain; ``(None, {})`` before
        the first publish."""
        for _ in range(3):
            meta = self.L_meta(pid)
            if not meta:
                return None, {}
            parts = self.r.mget(meta["chunks"]) if meta["chunks"] else []
            if all(b is not None for b in parts):
                m = meta["n_lfs"]
                arrs = [np.frombuffer(b, dtype=np.int8).reshape(-1, m) for b in parts]
                L = np.concatenate(arrs) if arrs else np.zeros((0, m), np.int8)
                return L, meta
            time.sleep(0.05)  # a newer L was published mid-read: read again
        raise RuntimeError(f"project {pid}: the published L has missing chunks")

    def set_apply_progress(self, pid: str, version: int, chunk: int, done: int) -> None:
        """Rows unit ``chunk`` of an apply run has done; never fewer than it reported
        before (a unit run again after its worker died starts from 0)."""
        key = self._k(pid, "L", str(version), "progress")
        self.scripts.apply_progress(keys=[key], args=[str(chunk), int(done), time.time(),
                                                      7 * 86400])

    def apply_progress(self, pid: str, version: int) -> tuple[int, float | None]:
        """Items done by an apply run's units so far, and when one last reported
        (epoch seconds; None before the first report)."""
        got = self.r.hgetall(self._k(pid, "L", str(version), "progress"))
        at = got.pop(b"at", None)
        return sum(int(v) for v in got.values()), None if at is None else float(at)

    # -- probabilities and model summaries -----------------------------------------------------
    def save_model(self, pid: str, name: str, proba: np.ndarray,
                   summary: dict[str, Any], fit_gold: np.ndarray | None = None,
                   also: dict[str, np.ndarray | None] | None = None) -> bool:
        """Store a model's probabilities and summary together, unless the stored
        model was fitted on newer state (``summary["state_version"]``): a run that
        was paused past its lock and resumed must not put its older model back.
        ``fit_gold``: a bool per item, the rows with gold in its fit. ``also``: other
        probabilities of the same fit, stored with it as ``<p>:proba:<key>`` (None
        deletes the key: this fit had none). True if stored."""
        from redis.exceptions import WatchError

        key = self._k(pid, "model", name)
        data = np.ascontiguousarray(proba, np.float64).tobytes()
        with self.r.pipeline(transaction=True) as p:
            while True:
                try:
                    p.watch(key)
                    raw = p.get(key)
                    stored = json.loads(raw).get("state_version", -1) if raw else -1
                    if int(stored) > int(summary["state_version"]):
                        p.unwatch()
                        return False
                    p.multi()
                    p.set(self._k(pid, "proba", name), data)
                    p.set(key, json.dumps(summary))
                    if fit_gold is not None:
                        p.set(self._k(pid, "fitgold", name),
                              np.packbits(np.asarray(fit_gold, bool)).tobytes())
                    else:
                        p.delete(self._k(pid, "fitgold", name))
                    for other, extra in (also or {}).items():
                        if extra is None:
                            p.delete(self._k(pid, "proba", other))
                        else:
                            p.set(self._k(pid, "proba", other),
                                  np.ascontiguousarray(extra, np.float64).tobytes())
                    p.execute()
                    return True
                except WatchError:
                    continue

    def load_proba(self, pid: str, name: str, k: int) -> np.ndarray | None:
        return self.load_probas(pid, [name], k)[0]

    def load_probas(self, pid: str, names: list[str], k: int) -> list[np.ndarray | None]:
        """Several stored probabilities read at one instant (one ``MGET``): the
        ones ``save_model`` wrote together are of one fit. None where absent."""
        raws = self.r.mget([self._k(pid, "proba", name) for name in names])
        return [None if raw is None else np.frombuffer(raw, dtype=np.float64).reshape(-1, k)
                for raw in raws]

    def model_summary(self, pid: str, name: str) -> dict[str, Any] | None:
        raw = self.r.get(self._k(pid, "model", name))
        return None if raw is None else dict(json.loads(raw))

    def load_model(self, pid: str, name: str, k: int
                   ) -> tuple[np.ndarray, dict[str, Any], np.ndarray | None] | None:
        """A stored model's probabilities, summary and ``fit_gold`` (None when it
        was stored without), read together; None when there is none."""
        raw, summary, bits = self.read_at_once(lambda p: (
            p.get(self._k(pid, "proba", name)), p.get(self._k(pid, "model", name)),
            p.get(self._k(pid, "fitgold", name))))
        if raw is None or summary is None:
            return None
        proba = np.frombuffer(raw, dtype=np.float64).reshape(-1, k)
        fit = (None if bits is None else
               np.unpackbits(np.frombuffer(bits, np.uint8), count=proba.shape[0]).astype(bool))
        return proba, dict(json.loads(summary)), fit

    # -- models' predictions of exploration answers they had not seen ----------------------
    def note_unseen(self, pid: str, name: str, checks: dict[str, str],
                    replace: bool = False) -> None:
        """Keep the first check of each item (HSETNX): a later model has seen it.
        ``replace``: write them as given (a check completed with what it lacked)."""
        if not checks:
            return
        key = self._k(pid, "unseen", name)
        with self.r.pipeline(transaction=False) as p:
            for iid, value in checks.items():
                if replace:
                    p.hset(key, iid, value)
                else:
                    p.hsetnx(key, iid, value)
            p.execute()

    def unseen_checks(self, pid: str, name: str) -> dict[str, str]:
        return {k.decode(): v.decode()
                for k, v in self.r.hgetall(self._k(pid, "unseen", name)).items()}

    # -- cached TF-IDF features of the end model -----------------------------------------
    def save_features(self, pid: str, version: str, X: Any) -> Any:
        """Store a CSR matrix as float32 ``.npz`` bytes; returns the stored matrix."""
        import scipy.sparse as sp

        X = sp.csr_matrix(X, dtype=np.float32)
        buf = io.BytesIO()
        sp.save_npz(buf, X, compressed=False)
        with self.r.pipeline(transaction=True) as p:
            p.set(self._k(pid, "features"), buf.getvalue())
            p.set(self._k(pid, "features", "version"), version)
            p.execute()
        return X

    def save_twins(self, pid: str, version: str, groups: np.ndarray) -> None:
        """Keep the groups of rows with the same features
        (:func:`loop.core.sampling.twins`) of the features built for ``version``."""
        buf = io.BytesIO()
        np.save(buf, np.asarray(groups, dtype=np.int64), allow_pickle=False)
        with self.r.pipeline(transaction=True) as p:
            p.set(self._k(pid, "twins"), buf.getvalue())
            p.set(self._k(pid, "twins", "version"), version)
            p.execute()

    def load_twins(self, pid: str, version: str) -> np.ndarray | None:
        """The groups :meth:`save_twins` kept for ``version``, else None."""
        v, raw = self.read_at_once(lambda p: (
            p.get(self._k(pid, "twins", "version")), p.get(self._k(pid, "twins"))))
        if raw is None or v is None or v.decode() != version:
            return None
        return np.asarray(np.load(io.BytesIO(raw), allow_pickle=False))

    def load_features(self, pid: str, version: str) -> Any:
        """The stored features if they were built for ``version``, else None."""
        import scipy.sparse as sp

        v, raw = self.read_at_once(lambda p: (
            p.get(self._k(pid, "features", "version")), p.get(self._k(pid, "features"))))
        if raw is None or v is None or v.decode() != version:
            return None
        return sp.load_npz(io.BytesIO(raw))
