"""Shared fixtures: clean LOOP_* environment, synthetic label matrices of known truth."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _clean_loop_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("LOOP_") and key not in ("LOOP_REQUIRE_BROWSER", "LOOP_REQUIRE_DOCKER"):
            monkeypatch.delenv(key, raising=False)


def make_label_matrix(
    n: int = 2000,
    accuracies: tuple[float, ...] = (0.9, 0.8, 0.75, 0.7, 0.65),
    coverages: tuple[float, ...] | float = 0.6,
    prior: tuple[float, ...] = (0.5, 0.5),
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Votes from conditionally independent LFs with known accuracies."""
    rng = np.random.default_rng(seed)
    k = len(prior)
    m = len(accuracies)
    cov = np.broadcast_to(np.asarray(coverages, dtype=float), (m,))
    y = rng.choice(k, size=n, p=prior)
    L = np.full((n, m), -1, dtype=np.int8)
    for j in range(m):
        fires = rng.random(n) < cov[j]
        right = rng.random(n) < accuracies[j]
        wrong = (y + rng.integers(1, k, size=n)) % k
        L[fires, j] = np.where(right, y, wrong)[fires]
    return L, y


@pytest.fixture
def synthetic() -> tuple[np.ndarray, np.ndarray]:
    return make_label_matrix()


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.skip(f"real datasets not found at {SHARED_DATA}")
    return SHARED_DATA
