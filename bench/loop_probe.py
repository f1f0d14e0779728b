"""An event-loop lag probe inside the server under test: `uvicorn bench.loop_probe:app` serves
the app named by BENCH_PROBED_APP (`module:attribute`, importable from the working directory),
lifespan included, and answers two paths of its own besides:

    GET /_bench/loop-lag/start?interval_ms=5   start sampling
    GET /_bench/loop-lag/stop                  stop, and answer {"lags_ms": [...]}

A sample is how late the loop ran a timer set `interval_ms` ahead: the time the loop spent on
other callbacks (or waiting for the CPU, or for the GIL) when it should have run it. Nothing is
sampled between a stop and the next start, and every other request goes to the app as it is.
"""

import asyncio
import contextlib
import functools
import importlib
import json
import os
import time
from collections.abc import MutableMapping
from typing import Any
from urllib.parse import parse_qs

from bench.asgi_cost import App, Receive, Send

Scope = MutableMapping[str, Any]

PREFIX = "/_bench/loop-lag/"
DEFAULT_INTERVAL_MS = 5.0


class LagSampler:
    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None
        self._lags_ms: list[float] = []

    def start(self, interval_s: float) -> None:
        self.stop()
        self._lags_ms = []
        self._task = asyncio.get_running_loop().create_task(self._sample(interval_s))

    def stop(self) -> list[float]:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        return self._lags_ms

    async def _sample(self, interval_s: float) -> None:
        while True:
            started = time.perf_counter()
            await asyncio.sleep(interval_s)
            late_s = time.perf_counter() - started - interval_s
            self._lags_ms.append(max(0.0, late_s * 1000))


def _load(target: str) -> App:
    module_name, _, attribute = target.partition(":")
    app: App = getattr(importlib.import_module(module_name), attribute)
    return app


async def _answer(send: Send, status: int, body: object) -> None:
    payload = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(payload))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def probed(inner: App) -> App:
    sampler = LagSampler()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(PREFIX):
            await inner(scope, receive, send)
        elif path == PREFIX + "start":
            query = parse_qs(scope.get("query_string", b"").decode())
            interval_ms = DEFAULT_INTERVAL_MS
            with contextlib.suppress(KeyError, IndexError, ValueError):
                interval_ms = float(query["interval_ms"][0])
            sampler.start(interval_ms / 1000)
            await _answer(send, 200, {"interval_ms": interval_ms})
        elif path == PREFIX + "stop":
            await _answer(send, 200, {"lags_ms": sampler.stop()})
        else:
            await _answer(send, 404, {"detail": "not found"})

    return app


@functools.cache
def _probed_app() -> App:
    return probed(_load(os.environ["BENCH_PROBED_APP"]))


def __getattr__(name: str) -> App:
    """`app`, built on first use (so importing this module imports no app)."""
    if name == "app":
        return _probed_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
