"""Small helpers shared by the service benchmarks (api_load, recalibration, ui_latency)."""

from __future__ import annotations

import socket
from pathlib import Path

SERVICE_DOC_HEAD = """# Service benchmarks: API load, recalibration latency, the loop end to end

Written by `bench/api_load.py`, `bench/recalibration.py` and `bench/service_loop.py`
(and the other scripts named in each section); each rewrites its own section between
the HTML comment markers below.
"""


def write_section(path: Path, name: str, body: str, head: str = SERVICE_DOC_HEAD) -> None:
    """Replace the ``<!-- name:start -->`` .. ``<!-- name:end -->`` block of ``path``
    (appending it, or creating the file with ``head``, when it is not there)."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = path.read_text() if path.exists() else head
    block = f"{start}\n{body.rstrip()}\n{end}"
    if start in text and end in text:
        a, b = text.index(start), text.index(end) + len(end)
        text = text[:a] + block + text[b:]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text if text.endswith("\n") else text + "\n")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(xs: list[float], q: float) -> float:
    """Linear-interpolated quantile ``q`` in [0, 1]; NaN for no data."""
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)
