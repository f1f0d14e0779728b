"""Celery workers that survive their broker (issue 18): a served celery variant and the
README's worker, jobs in flight (acknowledged late) while its Redis, persisted as compose runs
it (AOF), is restarted again and again. Before, kombu could end the worker on such a restart
("Unrecoverable error: AttributeError(... 'hostname')"), and a job that finished while Redis was
down was recorded as a FAILURE: the client got a 500 for work done.

Bounded in count (RESTARTS, the jobs a fixed number of clients send) and in time (each wait);
no latency is asserted."""

import math
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
from pytest_copie.plugin import Copie

from tests.hostile import environment, persistent_redis
from tests.projects import generate, variants_named
from tests.served import celery_worker, read_log, request_json, served, wait_until_ready

[VARIANT] = variants_named("none-none-celery")
RESTARTS = 10
DOWN_S = 0.5  # Redis stopped, each time
UP_S = 2.5  # Redis up between two restarts: jobs are published, taken and finished
CLIENTS = 4
N = 300_000  # a job of some 30-100 ms: some are running at every restart


def expected(n: int) -> int:
    return sum(math.isqrt(i) for i in range(n))


@pytest.mark.slow
def test_the_worker_survives_redis_restarts_and_every_accepted_job_succeeds(
    copie: Copie,
) -> None:
    """RESTARTS Redis restarts (SIGTERM, then start on the same AOF) while CLIENTS clients
    keep sending POST /jobs and GET /compute: the worker lives through all of them (it
    answers, and stops cleanly at the end, with no unrecoverable error in its log), every job
    accepted with 202 ends `succeeded`, and no /compute is answered 500 (503 while Redis is
    down, or 504, are fair answers; a 500 says a job failed)."""
    package = f"b_{VARIANT.id.replace('-', '_')}"
    project = generate(copie, VARIANT, package)
    accepted: list[str] = []
    compute_statuses: list[int] = []
    stop = threading.Event()

    def client(base: str) -> None:
        while not stop.is_set():
            status, job = request_json("POST", f"{base}/jobs", {"n": N})
            if status == 202:
                accepted.append(job["id"])
            status, answer = request_json("GET", f"{base}/compute?n={N // 10}")
            compute_statuses.append(status)
            if status == 200:
                assert answer == {"n": N // 10, "result": expected(N // 10)}
            if status == 503:
                time.sleep(0.1)  # Redis is down: not a busy loop meanwhile

    with persistent_redis() as broker:
        env = environment(
            REDIS_URL=broker.url,
            COMPUTE_TIMEOUT_S="8",
            WORKER_MAX_JOBS_PER_CHILD="25",  # pool processes replaced during the test too
            # A job running as Redis stops, whose acknowledgement the stop cut off, runs again
            # once JOB_VISIBILITY_TIMEOUT_S has passed: short here, so that this test waits for
            # it boundedly.
            JOB_TIME_LIMIT_S="10",
            JOB_VISIBILITY_TIMEOUT_S="20",
        )
        with (
            served(project, package, env) as base,
            celery_worker(project, broker.url, concurrency=2, env=env) as worker_log,
            ThreadPoolExecutor(CLIENTS) as clients,
        ):
            wait_until_ready(base)
            sending = [clients.submit(client, base) for _ in range(CLIENTS)]
            try:
                for _ in range(RESTARTS):
                    time.sleep(UP_S)
                    broker.stop()
                    time.sleep(DOWN_S)
                    broker.start()
                time.sleep(UP_S)
            finally:
                stop.set()
                for one in sending:
                    one.result()
            wait_until_ready(base, timeout_s=30)  # a live worker consumes the queue
            _assert_all_succeed(base, accepted, broker.url)
            log = read_log(worker_log)
            assert "Unrecoverable error" not in log, log
    # A job Redis gave the worker without a reply (tasks.ReliableRedisChannel) is put back.
    put_back = log.count("taken without a reply from Redis put back")
    report = (
        f"{len(accepted)} jobs accepted, {put_back} put back after a lost reply; "
        f"/compute answers: {dict(sorted(Counter(compute_statuses).items()))}"
    )
    print(report)
    assert len(accepted) >= RESTARTS, report
    assert 200 in compute_statuses, report
    assert 500 not in compute_statuses, report
    assert set(compute_statuses) <= {200, 503, 504}, report


def _assert_all_succeed(base: str, ids: list[str], redis_url: str, timeout_s: float = 120) -> None:
    pending = set(ids)
    deadline = time.monotonic() + timeout_s
    while pending:
        for job_id in list(pending):
            status, view = request_json("GET", f"{base}/jobs/{job_id}")
            assert status == 200, f"job {job_id}: {status}"
            assert view["state"] != "failed", view
            if view["state"] == "succeeded":
                assert view["result"] == expected(N)
                pending.discard(job_id)
        assert time.monotonic() < deadline, (
            f"{len(pending)} of {len(ids)} jobs not done: {_where(redis_url, pending)}"
        )
        if pending:
            time.sleep(0.5)


def _where(redis_url: str, job_ids: set[str]) -> str:
    """Where in Redis each job not done is, for the failure message: the keys naming it (its
    result), and the lists and hashes (queue, taking lists, kombu's unacknowledged) holding it."""
    client = redis.Redis.from_url(redis_url)
    places: dict[str, list[str]] = {job_id: [] for job_id in job_ids}
    try:
        for key in client.scan_iter():
            name = key.decode()
            kind = client.type(key)
            values = []
            if kind == b"list":
                values = client.lrange(key, 0, -1)
            elif kind == b"hash":
                values = list(client.hvals(key))
            for job_id in job_ids:
                if job_id in name or any(job_id.encode() in value for value in values):
                    places[job_id].append(name)
    finally:
        client.close()
    return "; ".join(f"{job_id} in {where or 'no key'}" for job_id, where in places.items())
