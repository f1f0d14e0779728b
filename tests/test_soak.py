"""The soak benchmark's quick run (bench/soak.py, 60 s): the two services it soaks hold bounded
counts of what could leak, whatever the bursts, the idle gaps and the Redis restart did. Counts
only; the run's latencies are in its report, not asserted."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench import soak

ROOT = Path(__file__).resolve().parents[1]
UPSTREAM_SLOTS = 20  # half of THREAD_POOL_SIZE's default
REDIS_POOL_SIZE = 20  # the default, in each of the app's two pools
# A worker of 2 pool processes: its broker channel's, its control channel's, its result
# backend's, its liveness beat's and each pool process's; after a Redis restart, those the
# restart closed until each is next used (CLOSE_WAIT).
WORKER_REDIS_SOCKETS = 24
APP_FDS = 40  # what an app holds idle: its libraries, its listening socket, its log


@pytest.mark.slow
def test_quick_soak_holds_bounded_counts(tmp_path: Path) -> None:
    out = tmp_path / "soak.md"
    result = subprocess.run(
        [sys.executable, "-m", "bench.soak", "--quick", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert out.read_text().startswith("# Soak benchmark")
    assert out.with_suffix(".png").stat().st_size > 0
    run = json.loads(out.with_suffix(".json").read_text())
    requests, celery = run["samples"]["requests"], run["samples"]["celery"]
    statuses = {name: {int(k): v for k, v in s.items()} for name, s in run["statuses"].items()}
    assert len(requests) >= 4, run["samples"]
    assert len(celery) >= 4, run["samples"]
    report = out.read_text()

    # One Session per upstream slot, however many threads came and went.
    assert max(s["upstream_sockets"] for s in requests) <= UPSTREAM_SLOTS, report
    assert max(s["fds"] for s in requests) <= APP_FDS + soak.CLIENTS + UPSTREAM_SLOTS, report
    assert max(s["fds"] for s in celery) <= APP_FDS + soak.CLIENTS + 2 * REDIS_POOL_SIZE, report
    assert max(s["app_redis_sockets"] for s in celery) <= 2 * REDIS_POOL_SIZE, report
    assert max(s["worker_redis_sockets"] for s in celery) <= WORKER_REDIS_SOCKETS, report
    # A result stays only for POST /jobs (2 keys each); /compute's are deleted once read, and
    # at a sample at most one per client (its 2 keys) is not read yet. Ten more: kombu's own.
    assert statuses["celery"].get(200, 0) > statuses["celery"].get(202, 0), report
    keys_bound = 2 * statuses["celery"][202] + 2 * soak.CLIENTS + 10
    assert max(s["redis_keys"] for s in celery) <= keys_bound, report
    assert sum(s["errors"] for s in requests + celery) == 0, report
    assert set(statuses["requests"]) == {200}, report
    assert set(statuses["celery"]) <= {200, 202, 503, 504}, report
