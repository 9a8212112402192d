"""What a gateway process holds per waiting client: tracemalloc snapshots, compared.

bench/human.py ``--trace N`` starts the gateway with bench/tracehook/ on its path,
starts tracemalloc in it once the clients are idle (N frames per allocation) with a
first snapshot, takes a second with all of them waiting, and prints the growth
between the two, divided by the number of clients, two ways:

- by **the gateway's line**: the innermost frame in the checkout's own code
  (``gateway/...``) on the allocation's stack, so memory that uvicorn, asyncio or
  the store's driver allocates on the gateway's behalf is charged to the gateway
  line that asked for it; allocations with no gateway frame are charged to the
  package that made them (the entry point and the protocol subclass in
  gateway/http/connections.py, whose ``super()`` calls make uvicorn's own
  per-connection and per-request state, do not count as gateway frames);
- by **allocation site**: the innermost frame, wherever it is.

tracemalloc sees Python's allocator only (not uvloop's or httptools' C buffers),
and tracing itself costs memory, so the RSS figures of a traced run are not the
benchmark's; run without ``--trace`` for those.
"""

from __future__ import annotations

import collections
import os
import signal
import time
import tracemalloc
from pathlib import Path

HOOK = Path(__file__).resolve().parent / "tracehook"
# Allocations of the snapshot machinery itself, not the gateway's.
_IGNORED = (tracemalloc.__file__, "<frozen importlib._bootstrap>", "<unknown>")
# Frames that only pass through: the process's entry point (on every stack), and
# the protocol subclass whose super() calls make uvicorn's own per-connection and
# per-request state. What is allocated under them alone is charged to the package.
_PASS_THROUGH = ("gateway/http/server.py", "gateway/__main__.py", "gateway/http/connections.py")


def trace_env(directory: Path, frames: int, checkout: Path) -> dict[str, str]:
    """Environment for a gateway process that dumps snapshots into ``directory``."""
    return {
        "PYTHONPATH": os.pathsep.join([str(checkout), str(HOOK)]),
        "HITL_BENCH_TRACE_FRAMES": str(frames),
        "HITL_BENCH_SNAPSHOTS": str(directory),
    }


def snapshot(pid: int, directory: Path, index: int, timeout: float = 120) -> tracemalloc.Snapshot:
    """Ask process ``pid`` for its ``index``-th snapshot and load it."""
    os.kill(pid, signal.SIGUSR1)
    done = directory / f"snapshot-{index}.done"
    deadline = time.monotonic() + timeout
    while not done.exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"process {pid} wrote no snapshot in {timeout:g} s")
        time.sleep(0.1)
    return tracemalloc.Snapshot.load(str(done.with_suffix(".pickle")))


def _charged_to(trace: tracemalloc.Traceback, root: str) -> str:
    """The innermost gateway line on the stack, else the allocating package."""
    for depth, frame in enumerate(reversed(trace)):  # the most recent frame is last
        if frame.filename.startswith(root + "/gateway/"):
            name = frame.filename[len(root) + 1 :]
            if name in _PASS_THROUGH and depth > 0:  # its own allocations are its own
                continue
            return f"{name}:{frame.lineno}"
    innermost = trace[-1].filename
    for marker in ("site-packages/", "/lib/python3.11/"):
        if marker in innermost:
            return innermost.split(marker, 1)[1].split("/")[0] + " (no gateway frame)"
    return innermost


def _site(trace: tracemalloc.Traceback, root: str) -> str:
    frame = trace[-1]
    name = frame.filename
    if name.startswith(root + "/"):
        name = name[len(root) + 1 :]
    else:
        for marker in ("site-packages/", "/lib/python3.11/"):
            if marker in name:
                name = name.split(marker, 1)[1]
    return f"{name}:{frame.lineno}"


def top_holders(
    before: tracemalloc.Snapshot, after: tracemalloc.Snapshot, clients: int, root: Path, top: int
) -> str:
    """The growth from ``before`` to ``after`` per client, by gateway line and by site."""
    filters = [tracemalloc.Filter(False, name) for name in _IGNORED]
    diffs = after.filter_traces(filters).compare_to(before.filter_traces(filters), "traceback")
    charged: collections.Counter[str] = collections.Counter()
    sites: collections.Counter[str] = collections.Counter()
    counts: collections.Counter[str] = collections.Counter()
    for diff in diffs:
        key = _charged_to(diff.traceback, str(root))
        charged[key] += diff.size_diff
        counts[key] += diff.count_diff
        sites[_site(diff.traceback, str(root))] += diff.size_diff
    total = sum(charged.values())
    own = sum(size for key, size in charged.items() if key.startswith("gateway/"))
    lines = [
        f"traced growth: {total / clients:,.0f} B per waiting client "
        f"({own / clients:,.0f} B charged to a gateway line)",
        "  by the gateway's line (innermost gateway frame on the stack):",
    ]
    for key, size in charged.most_common(top):
        per = counts[key] / clients
        lines.append(f"    {size / clients:7,.0f} B  {per:5.1f} blocks  {key}")
    lines.append("  by allocation site (innermost frame):")
    for key, size in sites.most_common(top):
        lines.append(f"    {size / clients:7,.0f} B  {key}")
    return "\n".join(lines)
