"""No per-thread state outlives its thread (issue 18): anyio retires a worker thread that sat
idle for 10 s, so under bursty traffic a served app goes through threads by the hundred a day.
Whatever a thread held (a requests.Session and its keep-alive sockets, before) must not stay
behind it.

Served as the README says, the requests variants of each style that calls requests from a
thread take bursts of calls to a real upstream, separated by idle gaps longer than anyio's;
after each gap the app's open file descriptors and its sockets to the upstream are counted in
/proc. Counts only, no timings: the gaps are long enough on any machine, since a thread is
retired at the first call after its idle time, whenever that comes."""

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from pytest_copie.plugin import Copie

from fastapi_scaffold.template import Variant
from tests.hostile import concurrently, environment, port_of
from tests.process_counts import open_fds, pid_listening_on, sockets_to, threads
from tests.projects import generate, variants_named
from tests.served import served
from tests.template_helpers import upstream_server

REQUESTS_VARIANTS = variants_named("none-requests-none", "asyncpg-requests-none")
BURSTS = 3
CALLS_PER_BURST = 400  # 100 at a time: every upstream slot, and every thread, in use
ANYIO_THREAD_IDLE_S = 10  # anyio's WorkerThread.MAX_IDLE_TIME
GAP_S = ANYIO_THREAD_IDLE_S + 1.5
MORE_THAN_AFTER_THE_FIRST_GAP = 4  # fds: a log file rotated, a socket closing


@pytest.fixture
def upstream() -> Iterator[Any]:
    """An upstream that keeps idle keep-alive connections open, as many do: a socket the app
    forgot stays counted."""
    with upstream_server.UpstreamServer(faults=False) as server:
        yield server


@pytest.mark.slow
@pytest.mark.parametrize("variant", REQUESTS_VARIANTS, ids=lambda variant: variant.id)
def test_bursts_with_idle_gaps_leave_nothing_behind(
    variant: Variant,
    copie: Copie,
    database_url: str,
    upstream: Any,
) -> None:
    """After each of BURSTS gaps longer than anyio's thread idle time (and one call, which is
    when anyio retires the idle threads), the app holds as many fds and upstream sockets as
    after the first, and never more open upstream sockets than its slots (THREAD_POOL_SIZE / 2)."""
    package = f"i_{variant.id.replace('-', '_')}"
    project = generate(copie, variant, package)
    env = environment(DATABASE_URL=database_url, UPSTREAM_URL=upstream.url, THREAD_POOL_SIZE="40")
    upstream_port = port_of(upstream.url)
    paths = [f"/upstream/{i + 1}" for i in range(100)]
    after_gaps: list[tuple[int, Counter[str], int]] = []
    with served(project, package, env) as base:
        pid = pid_listening_on(port_of(base))
        for _ in range(BURSTS):
            for _ in range(CALLS_PER_BURST // len(paths)):
                answers = asyncio.run(concurrently(base, "GET", paths))
                assert {status for status, _ in answers} == {200}
            time.sleep(GAP_S)
            assert asyncio.run(concurrently(base, "GET", paths[:1]))[0][0] == 200
            upstream_sockets = sockets_to(pid, upstream_port)
            after_gaps.append((open_fds(pid), upstream_sockets, threads(pid)))
    fds = [fd for fd, _, _ in after_gaps]
    held = [sockets.total() for _, sockets, _ in after_gaps]
    open_ones = [sockets["ESTABLISHED"] for _, sockets, _ in after_gaps]
    report = f"(fds, upstream sockets by state, threads) after each gap: {after_gaps}"
    print(report)
    # One Session per slot, each with one open connection; a connection the upstream dropped
    # may linger in CLOSE_WAIT until the garbage collector closes its last file object.
    assert max(open_ones) <= 20, report
    assert max(held) - held[0] <= 1, report
    assert max(fds) - fds[0] <= MORE_THAN_AFTER_THE_FIRST_GAP, report
