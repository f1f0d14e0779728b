"""What each HTTP client library costs by itself, without FastAPI: CPU time per request for
rounds of N concurrent GETs to the upstream, and where httpx spends its time (cProfile).

Run as `python -m bench.client_cost UPSTREAM_PORT CONCURRENCY ROUNDS`; prints one JSON object.
"""

import asyncio
import contextlib
import cProfile
import importlib.util
import json
import pstats
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import httpx
from httpx_aiohttp import HttpxAiohttpClient

from bench import load

Get = Callable[[], Awaitable[object]]


async def cpu_ms_per_request(get: Get, concurrency: int, rounds: int) -> float:
    await asyncio.gather(*(get() for _ in range(concurrency)))  # warm-up: connections
    started = time.process_time()
    for _ in range(rounds):
        await asyncio.gather(*(get() for _ in range(concurrency)))
    return (time.process_time() - started) * 1000 / (concurrency * rounds)


def _cumulative(stats: pstats.Stats, function: str) -> tuple[float, int]:
    """Cumulative seconds and calls of the functions named `function` in a profile."""
    table: dict[tuple[str, int, str], tuple[int, int, float, float, Any]]
    table = stats.stats  # type: ignore[attr-defined]
    seconds, calls = 0.0, 0
    for (_, _, name), (_, total_calls, _, cumulative, _) in table.items():
        if name == function:
            seconds += cumulative
            calls += total_calls
    return seconds, calls


async def httpx_profile(get: Get, concurrency: int) -> dict[str, float]:
    """Shares of httpx's time under httpcore's pool bookkeeping and under its per-call check
    of the async library, which tries `import sniffio` each time."""
    profile = cProfile.Profile()
    profile.enable()
    await asyncio.gather(*(get() for _ in range(concurrency)))
    profile.disable()
    stats = pstats.Stats(profile)
    total: float = stats.total_tt  # type: ignore[attr-defined]
    pool_s, _ = _cumulative(stats, "_assign_requests_to_connections")
    library_s, library_calls = _cumulative(stats, "current_async_library")
    return {
        "pool_share": pool_s / total,
        "library_check_share": library_s / total,
        "library_checks_per_request": library_calls / concurrency,
    }


def failed_import_us() -> float:
    """The cost of one `import sniffio` when sniffio is not installed (it is not cached)."""
    attempts = 2000
    started = time.perf_counter()
    for _ in range(attempts):
        with contextlib.suppress(ImportError):
            importlib.import_module("sniffio")
    return (time.perf_counter() - started) * 1e6 / attempts


async def measure(port: int, concurrency: int, rounds: int) -> dict[str, Any]:
    base = f"http://127.0.0.1:{port}"
    results: dict[str, Any] = {
        "sniffio_installed": importlib.util.find_spec("sniffio") is not None,
    }
    async with (
        httpx.AsyncClient(base_url=base) as plain,
        HttpxAiohttpClient(base_url=base) as over_aiohttp,
        aiohttp.ClientSession() as session,
    ):

        async def get_plain() -> object:
            return (await plain.get("/items/1")).json()

        async def get_over_aiohttp() -> object:
            return (await over_aiohttp.get("/items/1")).json()

        async def get_aiohttp() -> object:
            async with session.get(f"{base}/items/1") as response:
                return await response.json()

        clients = {"httpx": get_plain, "httpx_aiohttp": get_over_aiohttp, "aiohttp": get_aiohttp}
        for name, get in clients.items():
            results[f"{name}_cpu_ms"] = await cpu_ms_per_request(get, concurrency, rounds)
        results.update(await httpx_profile(get_plain, concurrency))
    results["failed_import_us"] = (
        failed_import_us() if not results["sniffio_installed"] else float("nan")
    )
    return results


def main(argv: list[str]) -> None:
    port, concurrency, rounds = int(argv[0]), int(argv[1]), int(argv[2])
    results = load.run(measure(port, concurrency, rounds))
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1:])
