"""bench/human.py --trace: lets a gateway process trace its allocations on demand.

Put on a process's ``PYTHONPATH`` with ``HITL_BENCH_SNAPSHOTS`` naming a directory
and ``HITL_BENCH_TRACE_FRAMES`` the frames to keep per allocation. The first
``SIGUSR1`` starts tracemalloc (so start-up runs at full speed); every ``SIGUSR1``
writes ``snapshot-N.pickle`` there (N counts from 1) and then an empty
``snapshot-N.done``, so the reader knows the dump is whole. Only the benchmark
uses it; the gateway itself knows nothing of it.
"""

import os
import signal
import tracemalloc
from pathlib import Path

_DIRECTORY = os.environ.get("HITL_BENCH_SNAPSHOTS")
_FRAMES = int(os.environ.get("HITL_BENCH_TRACE_FRAMES", "10"))
_taken = 0


def _dump(signum: int, frame: object) -> None:
    global _taken
    if not tracemalloc.is_tracing():
        tracemalloc.start(_FRAMES)
    _taken += 1
    path = Path(_DIRECTORY) / f"snapshot-{_taken}"
    tracemalloc.take_snapshot().dump(str(path.with_suffix(".pickle")))
    path.with_suffix(".done").touch()


if _DIRECTORY:
    signal.signal(signal.SIGUSR1, _dump)
