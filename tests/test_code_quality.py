"""Lint and type checks run with the tests, so CI holds the code to them."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def run(tool, *args):
    exe = BIN / tool
    if not exe.exists():
        pytest.skip(f"{tool} is not installed (pip install -e '.[dev]')")
    return subprocess.run([str(exe), *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def test_ruff_is_clean():
    r = run("ruff", "check", "loop", "workers", "tests", "bench")
    assert r.returncode == 0, r.stdout + r.stderr


def test_mypy_is_clean_on_the_package_and_workers():
    r = run("mypy", "loop", "workers")
    assert r.returncode == 0, r.stdout + r.stderr
