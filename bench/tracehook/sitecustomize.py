"""bench/human.py --trace: lets a gateway process dump tracemalloc snapshots on demand.

Put on a process's ``PYTHONPATH`` with ``HITL_BENCH_SNAPSHOTS`` naming a directory
(and ``PYTHONTRACEMALLOC`` set to the frames to keep), every ``SIGUSR1`` writes
``snapshot-N.pickle`` there (N counts from 1) and then an empty ``snapshot-N.done``,
so the reader knows the dump is whole. Only the benchmark uses it; the gateway
itself knows nothing of it.
"""

import os
import signal
import tracemalloc
from pathlib import Path

_DIRECTORY = os.environ.get("HITL_BENCH_SNAPSHOTS")
_taken = 0


def _dump(signum: int, frame: object) -> None:
    global _taken
    _taken += 1
    path = Path(_DIRECTORY) / f"snapshot-{_taken}"
    tracemalloc.take_snapshot().dump(str(path.with_suffix(".pickle")))
    path.with_suffix(".done").touch()


if _DIRECTORY and tracemalloc.is_tracing():
    signal.signal(signal.SIGUSR1, _dump)
