"""``[store] retain_days``: old finished tasks deleted on a schedule, and said so in the log."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from gateway.export.report import PurgeStore, describe, purge, retention_cutoff
from gateway.human.query import Purged

log = logging.getLogger("gateway.retention")
INTERVAL_S = 3600.0  # an hour: retention is counted in days, so hourly is prompt enough


class Retention:
    """Runs a purge at start-up and then every ``interval_s`` while the gateway runs."""

    def __init__(self, store: PurgeStore, retain_days: float, interval_s: float = INTERVAL_S):
        self.store = store
        self.retain_days = retain_days
        self.interval_s = interval_s
        self.last: Purged | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def run_once(self) -> Purged:
        purged = await purge(self.store, retention_cutoff(self.retain_days))
        self.last = purged
        log.warning("retention (%g days): %s", self.retain_days, describe(purged))
        return purged

    async def _run(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:  # a store hiccup must not end the schedule
                log.exception("retention: purge failed; trying again next time")
            await asyncio.sleep(self.interval_s)
