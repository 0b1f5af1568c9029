"""Synthetic projects of any size, written straight into the store: for load and
fault tests and the service benchmarks (not through uploads and LF jobs, which
would take minutes at a million items and are not what those measure).

Binary labels; 20 LFs with accuracy ~ U[0.55, 0.95] and coverage ~ U[0.05, 0.5];
8-word texts, 4 words from a shared vocabulary and 4 leaning to the item's class
(70 %). Item ``i`` has id ``str(i)``.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from loop.storage import RedisStore

N_LFS = 20


def synth(n: int, seed: int = 0, y: np.ndarray | None = None
          ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``(y, L, texts)`` for ``n`` items (``y``: their classes, 0 or 1, instead of
    random ones; the LFs vote on those)."""
    rng = np.random.default_rng(seed)
    drawn = (rng.random(n) < 0.5).astype(np.int64)
    y = drawn if y is None else np.asarray(y, dtype=np.int64)
    acc = rng.uniform(0.55, 0.95, N_LFS)
    cov = rng.uniform(0.05, 0.5, N_LFS)
    fires = rng.random((n, N_LFS)) < cov
    right = rng.random((n, N_LFS)) < acc
    vote = np.where(right, y[:, None], 1 - y[:, None])
    L = np.where(fires, vote, -1).astype(np.int8)
    common = rng.integers(0, 3000, (n, 4))
    own = rng.random((n, 4)) < 0.7
    cls = np.where(own, y[:, None], 1 - y[:, None])
    lean = 3000 + cls * 500 + rng.integers(0, 500, (n, 4))
    vocab = np.array([f"w{i}" for i in range(4000)])
    texts = [" ".join(r) for r in vocab[np.concatenate([common, lean], axis=1)]]
    return y, L, texts


def write_project(store: RedisStore, n: int, n_eval: int = 1000, seed: int = 0,
                  chunk_size: int = 1000, texts: list[str] | None = None,
                  fields: list[dict[str, Any]] | None = None,
                  classes: list[int] | None = None,
                  **project: Any) -> tuple[str, np.ndarray]:
    """A project of ``n`` synthetic items with ``L`` published and ``n_eval`` items
    held out with their class; returns ``(pid, y)``. ``texts``: the items' texts
    instead of synthetic ones (repeated to ``n``); ``fields``: their uploaded fields
    (repeated alike; none without); ``classes``: the texts' own classes (repeated
    alike), which the LFs then vote on, so rules found in the texts agree with the
    models."""
    y, L, synthetic = synth(n, seed, None if classes is None
                            else np.array([classes[i % len(classes)] for i in range(n)]))
    texts = synthetic if texts is None else [texts[i % len(texts)] for i in range(n)]
    names = [f"lf{j}" for j in range(N_LFS)]
    pid = store.create_project({"name": f"synthetic-{n}", "labels": ["neg", "pos"],
                                "lf_module": "loop.service.synthetic", "text_field": "text",
                                "lfs": names, "answers_per_item": 1, **project})["id"]
    rng = np.random.default_rng(seed + 1)
    eval_rows = set(rng.choice(n, min(n_eval, n), replace=False).tolist())
    step = 100_000
    for a in range(0, n, step):
        rows = range(a, min(n, a + step))
        items = [{"id": str(i), "text": texts[i],
                  "fields": fields[i % len(fields)] if fields else {}} for i in rows]
        ev = [str(i) for i in rows if i in eval_rows]
        store.add_items(pid, items, {i: int(y[int(i)]) for i in ev}, ev, first_row=a)
    version = store.new_L_version(pid)
    chunks = []
    for c, a in enumerate(range(0, n, chunk_size)):
        store.save_L_chunk(pid, version, c, L[a:a + chunk_size], [])
        chunks.append(store.L_chunk_key(pid, version, c))
    store.publish_L(pid, {"version": version, "n_lfs": N_LFS, "lf_names": names,
                          "chunk_size": chunk_size, "chunks": chunks, "n_items": n,
                          "errors": [], "applied_at": time.time()})
    return pid, y
