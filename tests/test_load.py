"""Under load: 1,000 requests, 100 at a time, across every endpoint of a served app. Every
response must be the expected one, and every item created must be there afterwards, once."""

import asyncio
import contextlib
import math
import os
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psycopg2
import pytest
from pytest_copie.plugin import Copie

from fastapi_scaffold.template import Variant
from tests.projects import FULL_FEATURED, generate
from tests.served import served

SEED = 20251122  # the same mix of requests, in the same order, on every run
CONCURRENCY = 100
REQUEST_TIMEOUT_S = 15
LOAD_TIMEOUT_S = 90  # for the 1,000 requests; a run takes a few seconds on 2 cores
CHECK_TIMEOUT_S = 60  # for reading back every item created

# Kinds of call and how many of each; a "create" is two requests: POST /items, then GET of the
# item it created. 200 creates and 600 single requests: 1,000 requests.
MIX = {
    "create": 200,
    "health": 100,
    "metrics": 100,
    "list": 100,
    "upstream": 200,
    "compute": 100,
}
REQUESTS = 2 * MIX["create"] + sum(count for kind, count in MIX.items() if kind != "create")
METRICS_KEYS = {"event_loop_lag_max_ms", "event_loop_lag_window_s", "asyncio_debug"}
ITEM_KEYS = {"id", "name", "created_at"}


@dataclass
class Load:
    """What a run saw: the items created (by id), and every unexpected response or error."""

    session: aiohttp.ClientSession
    base: str
    created: dict[int, dict[str, Any]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    sent: int = 0

    async def call(
        self, method: str, path: str, expected_status: int, body: object = None
    ) -> Any | None:
        """The response's JSON if it has the expected status; None, with an error, if not."""
        self.sent += 1
        try:
            async with self.session.request(method, self.base + path, json=body) as response:
                text = await response.text()
                if response.status != expected_status:
                    self.errors.append(f"{method} {path}: {response.status} {text[:300]}")
                    return None
                return await response.json()
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            self.errors.append(f"{method} {path}: {error!r}")
            return None

    def expect(
        self, method: str, path: str, ok: bool, got: object, expected: object = None
    ) -> None:
        """Record a response body that is not the one expected (None: call() recorded why)."""
        if not ok and got is not None:
            detail = "" if expected is None else f", expected {expected!r:.300}"
            self.errors.append(f"{method} {path}: unexpected body {got!r:.300}{detail}")


def is_item(item: object) -> bool:
    return isinstance(item, dict) and item.keys() == ITEM_KEYS


async def create(load: Load, rng: random.Random, index: int) -> None:
    name = f"load {index} ü"
    item = await load.call("POST", "/items", 201, {"name": name})
    if item is None:
        return
    load.expect("POST", "/items", is_item(item), item)
    if not isinstance(item, dict) or not isinstance(item.get("id"), int):
        return
    load.created[item["id"]] = item
    load.expect("POST", "/items", item["name"] == name, item)
    path = f"/items/{item['id']}"
    got = await load.call("GET", path, 200)
    load.expect("GET", path, got == item, got, item)


async def health(load: Load, rng: random.Random, index: int) -> None:
    got = await load.call("GET", "/health", 200)
    load.expect("GET", "/health", got == {"status": "ok"}, got)


async def metrics(load: Load, rng: random.Random, index: int) -> None:
    got = await load.call("GET", "/metrics", 200)
    load.expect("GET", "/metrics", isinstance(got, dict) and got.keys() == METRICS_KEYS, got)


async def list_items(load: Load, rng: random.Random, index: int) -> None:
    limit, offset = rng.randint(1, 100), rng.randint(0, 200)
    path = f"/items?limit={limit}&offset={offset}"
    got = await load.call("GET", path, 200)
    ok = isinstance(got, list) and len(got) <= limit
    load.expect("GET", path, ok and all(map(is_item, got or [])), got)


async def upstream(load: Load, rng: random.Random, index: int) -> None:
    item_id = rng.randint(1, 1_000_000)
    path = f"/upstream/{item_id}"
    got = await load.call("GET", path, 200)
    expected = {"id": item_id, "name": f"item {item_id}"}
    load.expect("GET", path, got == expected, got, expected)


async def compute(load: Load, rng: random.Random, index: int) -> None:
    n = rng.randint(0, 2000)
    path = f"/compute?n={n}"
    got = await load.call("GET", path, 200)
    expected = {"n": n, "result": sum(math.isqrt(i) for i in range(n))}
    load.expect("GET", path, got == expected, got, expected)


CALLS: dict[str, Callable[[Load, random.Random, int], Awaitable[None]]] = {
    "create": create,
    "health": health,
    "metrics": metrics,
    "list": list_items,
    "upstream": upstream,
    "compute": compute,
}


async def run_load(load: Load) -> float:
    """Send the mix from CONCURRENCY tasks at once; the wall time it took."""
    plan = [kind for kind, count in MIX.items() for _ in range(count)]
    random.Random(SEED).shuffle(plan)
    calls = iter(enumerate(plan))

    async def worker() -> None:
        for index, kind in calls:
            # Each call draws its parameters from its own generator, whichever task runs it.
            await CALLS[kind](load, random.Random(SEED + index), index)

    start = time.perf_counter()
    async with asyncio.timeout(LOAD_TIMEOUT_S):
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return time.perf_counter() - start


async def read_back(load: Load) -> None:
    """GET every item created, CONCURRENCY at a time: each must still be the one created."""
    semaphore = asyncio.Semaphore(CONCURRENCY)

    async def check(item: dict[str, Any]) -> None:
        path = f"/items/{item['id']}"
        async with semaphore:
            got = await load.call("GET", path, 200)
        load.expect("GET", path, got == item, got, item)

    async with asyncio.timeout(CHECK_TIMEOUT_S):
        await asyncio.gather(*(check(item) for item in load.created.values()))


async def load_and_read_back(base: str) -> tuple[Load, float]:
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        load = Load(session, base)
        wall_s = math.nan
        try:
            wall_s = await run_load(load)
        except TimeoutError:
            load.errors.append(f"the load did not finish within {LOAD_TIMEOUT_S} s")
        if not load.errors:
            try:
                await read_back(load)
            except TimeoutError:
                load.errors.append(f"reading back did not finish within {CHECK_TIMEOUT_S} s")
        return load, wall_s


def stored_items(database_url: str) -> dict[int, str]:
    with contextlib.closing(psycopg2.connect(database_url)) as conn, conn.cursor() as cur:
        cur.execute("SELECT id, name FROM items")
        return dict(cur.fetchall())


@pytest.mark.slow
@pytest.mark.parametrize("variant", FULL_FEATURED, ids=lambda variant: variant.id)
def test_load_gets_no_errors_and_loses_no_writes(
    variant: Variant,
    copie: Copie,
    tmp_path: Path,
    database_url: str,
    healthy_upstream_url: str,
) -> None:
    package = f"app_{variant.id.replace('-', '_')}"
    project = generate(copie, variant, package)
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "UPSTREAM_URL": healthy_upstream_url,
        # A slow CI machine may keep a request queued for a connection past the 5 s default:
        # this test is about errors and lost writes, not about how long the queue is.
        "DB_POOL_TIMEOUT_S": str(REQUEST_TIMEOUT_S),
    }
    with served(project, package, env) as base:
        load, wall_s = asyncio.run(load_and_read_back(base))
    figures = (
        f"{load.sent} requests ({REQUESTS} in the load), {CONCURRENCY} at a time, in "
        f"{wall_s:.2f} s: {REQUESTS / wall_s:.0f} req/s"
    )
    assert not load.errors, (
        f"{len(load.errors)} errors; {figures}; the first of them:\n" + "\n".join(load.errors[:30])
    )
    assert load.sent == REQUESTS + len(load.created), figures
    assert len(load.created) == MIX["create"], (
        f"{MIX['create']} items created, but {len(load.created)} distinct ids; {figures}"
    )
    stored = stored_items(database_url)
    assert len(stored) == len(load.created), (
        f"{len(stored)} rows in items for {len(load.created)} items created; {figures}"
    )
    assert stored == {item_id: item["name"] for item_id, item in load.created.items()}, figures
