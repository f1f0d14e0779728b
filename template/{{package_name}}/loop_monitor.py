"""Event-loop lag: how late the loop runs a timer. Whatever blocks the loop shows up here first,
as a warning in the log and as the recent maximum on GET /metrics."""

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from .settings import Settings

logger = logging.getLogger(__name__)


class LoopLagMonitor:
    """Samples the loop's lag every `interval_s` and keeps the last `window_s` of samples."""

    def __init__(self, warn_after_s: float, interval_s: float = 0.1, window_s: float = 60.0):
        self.warn_after_s = warn_after_s
        self.interval_s = interval_s
        self.window_s = window_s
        self._samples: deque[tuple[float, float]] = deque()

    @property
    def recent_max_s(self) -> float:
        """The largest lag within the window, in seconds."""
        self._forget_before(time.monotonic() - self.window_s)
        return max((lag for _, lag in self._samples), default=0.0)

    async def run(self) -> None:
        """Sample until cancelled."""
        while True:
            started = time.monotonic()
            await asyncio.sleep(self.interval_s)
            now = time.monotonic()
            lag = max(0.0, now - started - self.interval_s)
            self._samples.append((now, lag))
            self._forget_before(now - self.window_s)
            if lag > self.warn_after_s:
                logger.warning(
                    "event loop blocked for %.0f ms (LOOP_LAG_WARN_MS is %.0f): "
                    "something ran on the loop that should be awaited or offloaded",
                    lag * 1000,
                    self.warn_after_s * 1000,
                )

    def _forget_before(self, oldest: float) -> None:
        while self._samples and self._samples[0][0] < oldest:
            self._samples.popleft()


@asynccontextmanager
async def monitor_loop(settings: Settings) -> AsyncIterator[LoopLagMonitor]:
    """Run a monitor for the app's lifetime."""
    monitor = LoopLagMonitor(settings.loop_lag_warn_ms / 1000)
    task = asyncio.create_task(monitor.run())
    try:
        yield monitor
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
