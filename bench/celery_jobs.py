"""Part 5: Celery against the process pool. The generated cpu_work=celery project (its app,
Celery workers started as its tasks.py says, a Redis of their own) beside the cpu_work=process
project, in one run: the round trip of a trivial job, the event loop's lag while many requests
wait on jobs, `/health` while 30 jobs keep every worker busy on the same host, and jobs per
second with 1 and 2 workers.

Both apps are served through bench/loop_probe.py, which samples the event loop's lag in the
server's own process."""

import importlib.util
import json
import os
import shutil
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench import load, loop_probe, servers
from bench.common import (
    Mode,
    Target,
    each,
    median,
    percentile,
    ratio,
    steal_seconds,
    table,
    verdict,
)
from bench.cpu_isolation import HEALTH_P99_MS, calibrate_n
from bench.projects import NICE, App, Project, app_env

ROUND_TRIP_P50_MS = 10.0
LAG_P99_MS = 20.0
LAG_INTERVAL_MS = 5.0
WORKERS = 2  # the side-by-side figures: 2 Celery worker processes, CPU_WORKERS=2


@dataclass(frozen=True)
class Setup:
    """One app and its workers: a generated project, how many worker processes."""

    key: str
    project: str  # "celery" or "process"
    workers: int

    @property
    def celery(self) -> bool:
        return self.project == "celery"


SETUPS = (
    Setup("celery", "celery", WORKERS),
    Setup("process", "process", WORKERS),
    Setup("celery_1", "celery", 1),
    Setup("process_1", "process", 1),
)
WORKERS_OF = {setup.key: setup.workers for setup in SETUPS}
# Rows of the latency table, by setup: the two as generated, then the Celery workers reniced.
LATENCY_ROWS = {
    "celery": "generated cpu_work=celery (Celery workers, Redis)",
    "process": "generated cpu_work=process (process pool)",
    "celery_nice": f"diagnosis: the same Celery workers, main process too, at nice {NICE}",
}
# Rows of the throughput table, by setup.
THROUGHPUT_ROWS = {
    "celery_1": "Celery, 1 worker process",
    "celery": f"Celery, {WORKERS} worker processes",
    "process_1": "process pool, CPU_WORKERS=1",
    "process": f"process pool, CPU_WORKERS={WORKERS}",
}


@dataclass
class Latency:
    label: str
    round_trips_ms: list[float] = field(default_factory=list)
    lags_ms: list[float] = field(default_factory=list)
    waiting_walls_s: list[float] = field(default_factory=list)
    health_ms: list[float] = field(default_factory=list)
    busy_walls_s: list[float] = field(default_factory=list)
    errors: int = 0

    def round_trip(self, pct: float) -> float:
        return percentile(self.round_trips_ms, pct)

    def lag(self, pct: float) -> float:
        return percentile(self.lags_ms, pct)

    def health(self, pct: float) -> float:
        return percentile(self.health_ms, pct)


@dataclass
class Throughput:
    label: str
    workers: int
    rates: list[float] = field(default_factory=list)
    errors: int = 0

    @property
    def rate(self) -> float:
        return median(self.rates)


@dataclass
class Section:
    mode: Mode
    n_per_s: int  # isqrt_sum's n per second of CPU on this machine (calibrated)
    latency: dict[str, Latency]
    throughput: dict[str, Throughput]
    skipped: str = ""
    steal_s: float = 0.0

    def n(self, job_s: float) -> int:
        return max(1000, int(round(self.n_per_s * job_s, -3)))

    def job_s(self, job_s: float) -> float:
        """A job's CPU time once n is rounded."""
        return self.n(job_s) / self.n_per_s

    def ideal(self, key: str) -> float:
        """Jobs per second if every worker computed all the time and nothing else cost."""
        return self.throughput[key].workers / self.job_s(self.mode.queue_job_s)

    @property
    def errors(self) -> int:
        return sum(row.errors for row in self.latency.values()) + sum(
            row.errors for row in self.throughput.values()
        )


# the processes


def _redis_answers(port: int) -> bool:
    try:
        with socket.create_connection((load.HOST, port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def redis_spec(name: str, executable: str) -> servers.Spec:
    """A Redis that keeps nothing on disk."""

    def argv(port: int) -> tuple[str, ...]:
        return (executable, "--port", str(port), "--bind", load.HOST, "--save", "",
                "--appendonly", "no")  # fmt: skip

    return servers.Spec(name, argv, servers.ROOT, dict(os.environ), ready=_redis_answers)


def _worker_answers(redis_url: str) -> bool:
    from celery import Celery

    control = Celery("bench", broker=redis_url)
    try:
        # limit=1: answer as soon as one worker has; without it, ping waits out its timeout.
        return bool(control.control.ping(timeout=0.5, limit=1))
    finally:
        control.close()


def worker_spec(name: str, project: Project, redis_url: str, concurrency: int) -> servers.Spec:
    """`celery -A <package>.tasks worker --pool=prefork`, as the generated tasks.py says, with
    nothing the benchmark does not need (gossip, mingle, heartbeats); its port is unused."""

    def argv(port: int) -> tuple[str, ...]:
        return (servers.PYTHON, "-m", "celery", "-A", f"{project.package}.tasks", "worker",
                "--pool=prefork", f"--concurrency={concurrency}", f"--hostname={name}@%h",
                "--without-gossip", "--without-mingle", "--without-heartbeat",
                "--loglevel=WARNING")  # fmt: skip

    env = {**os.environ, "REDIS_URL": redis_url}
    return servers.Spec(
        name, argv, project.path, env, ready=lambda port: _worker_answers(redis_url)
    )


def probed_app_spec(name: str, project: Project, env: dict[str, str]) -> servers.Spec:
    """The project's app inside bench/loop_probe.py."""
    probed = {**env, "BENCH_PROBED_APP": f"{project.package}.main:app"}
    app = App(project)
    return servers.uvicorn_spec(
        name, "bench.loop_probe:app", project.path, app.python_env(probed), app.http
    )


# the measurements


def _timeout_s(jobs: int, job_s: float, workers: int) -> float:
    return 60 + 4 * jobs * job_s / workers


def _warm_up(port: int, setup: Setup, n: int) -> None:
    """What starts lazily starts: connections, every worker's first job, the probe."""
    load.run(load.sequential_latencies(port, "/compute?n=1", 5, 0.001, 60))
    load.run(load.burst(port, f"/compute?n={n}", 2 * setup.workers, 60))
    load.run(load.fetch(port, f"{loop_probe.PREFIX}stop", 10))


def _round_trips(mode: Mode, port: int, row: Latency) -> None:
    count = max(1, mode.queue_round_trips // mode.queue_reps)
    latencies, tally = load.run(
        load.sequential_latencies(port, "/compute?n=1", count, mode.probe_interval_s, 60)
    )
    row.round_trips_ms += [latency * 1000 for latency in latencies]
    row.errors += tally.errors


def _waiting(mode: Mode, port: int, n: int, row: Latency) -> None:
    """The loop's lag while `queue_waiting` requests wait on their jobs at once."""
    timeout_s = _timeout_s(mode.queue_waiting, mode.queue_waiting_job_s, WORKERS)
    load.run(load.fetch(port, f"{loop_probe.PREFIX}start?interval_ms={LAG_INTERVAL_MS:g}", 10))
    burst = load.run(load.burst(port, f"/compute?n={n}", mode.queue_waiting, timeout_s))
    stopped = load.run(load.fetch(port, f"{loop_probe.PREFIX}stop", 10))
    row.lags_ms += json.loads(stopped.body)["lags_ms"]
    row.waiting_walls_s.append(burst.wall_s)
    row.errors += burst.tally.errors + int(stopped.status != 200)


def _busy(mode: Mode, port: int, n: int, row: Latency) -> None:
    """`/health` while `queue_busy_jobs` jobs, sent at once, keep every worker busy."""
    jobs = mode.queue_busy_jobs
    probe = load.run(
        load.probe_during_jobs(
            port, "/health", f"/compute?n={n}", jobs, mode.probe_interval_s,
            _timeout_s(jobs, mode.job_s, WORKERS),
        )
    )  # fmt: skip
    row.health_ms += [latency * 1000 for latency in probe.latencies_s]
    row.busy_walls_s.append(probe.jobs_wall_s)
    row.errors += probe.jobs.errors + probe.probes.errors


def _latencies(section: Section, ports: dict[str, int], keys: dict[str, str]) -> None:
    """Each phase in turn for every row (row key -> setup key), the rows taking turns."""
    mode = section.mode
    waiting_n, busy_n = section.n(mode.queue_waiting_job_s), section.n(mode.job_s)
    for _ in range(mode.queue_reps):
        for row, setup in keys.items():
            _round_trips(mode, ports[setup], section.latency[row])
    for _ in range(mode.queue_reps):
        for row, setup in keys.items():
            _waiting(mode, ports[setup], waiting_n, section.latency[row])
    for _ in range(mode.cpu_reps):
        for row, setup in keys.items():
            _busy(mode, ports[setup], busy_n, section.latency[row])


def _throughputs(section: Section, ports: dict[str, int]) -> None:
    mode = section.mode
    path = f"/compute?n={section.n(mode.queue_job_s)}"
    for _ in range(mode.queue_jobs_reps):
        for key, row in section.throughput.items():
            timeout_s = _timeout_s(mode.queue_jobs, mode.queue_job_s, row.workers)
            measured = load.run(
                load.throughput(ports[key], path, mode.queue_jobs, mode.queue_connections,
                                timeout_s)
            )  # fmt: skip
            row.rates.append(measured.per_second)
            row.errors += measured.tally.errors


def _empty(mode: Mode, n_per_s: int, skipped: str = "") -> Section:
    latency = {key: Latency(label) for key, label in LATENCY_ROWS.items()}
    throughput = {key: Throughput(label, WORKERS_OF[key]) for key, label in THROUGHPUT_ROWS.items()}
    return Section(mode, n_per_s, latency, throughput, skipped)


def measure(mode: Mode, projects: dict[str, Project], logs: Path) -> Section:
    n_per_s = calibrate_n(1.0)
    redis = shutil.which("redis-server")
    if redis is None:
        return _empty(mode, n_per_s, "no redis-server on PATH")
    if importlib.util.find_spec("celery") is None:
        return _empty(mode, n_per_s, "celery is not installed")
    section = _empty(mode, n_per_s)
    celery_setups = [setup for setup in SETUPS if setup.celery]
    brokers = [redis_spec(f"redis-{setup.key}", redis) for setup in celery_setups]
    steal_before = steal_seconds()
    with servers.running(brokers, logs) as redises:
        specs = []
        for setup in SETUPS:
            project = projects[setup.project]
            env = app_env(mode, servers.free_port(), CPU_WORKERS=str(setup.workers),
                          COMPUTE_TIMEOUT_S="300")  # fmt: skip
            if setup.celery:
                env["REDIS_URL"] = f"redis://{load.HOST}:{redises[f'redis-{setup.key}'].port}/0"
                specs.append(
                    worker_spec(f"worker-{setup.key}", project, env["REDIS_URL"], setup.workers)
                )
            specs.append(probed_app_spec(setup.key, project, env))
        with servers.running(specs, logs, timeout_s=120) as started:
            ports = {setup.key: started[setup.key].port for setup in SETUPS}
            for setup in SETUPS:
                _warm_up(ports[setup.key], setup, section.n(mode.queue_job_s))
            _latencies(section, ports, {"celery": "celery", "process": "process"})
            _throughputs(section, ports)
            # Last, since a process cannot take back the priority it gave up.
            started["worker-celery"].lower_priority(NICE)
            _latencies(section, ports, {"celery_nice": "celery"})
    section.steal_s = steal_seconds() - steal_before
    for key, row in section.latency.items():
        print(
            f"  {key}: round trip p50 {row.round_trip(50):.1f} ms, lag p99 {row.lag(99):.1f} "
            f"ms, /health p99 {row.health(99):.1f} ms",
            file=sys.stderr,
        )
    return section


# the report


Statistic = Callable[[Latency, float], float]


def targets(section: Section) -> list[Target]:
    waiting = section.mode.queue_waiting
    goals: list[tuple[str, Statistic, float, float]] = [
        (f"Celery round trip of a trivial job (`GET /compute?n=1`) p50 <= "
         f"{ROUND_TRIP_P50_MS:.0f} ms", Latency.round_trip, 50.0, ROUND_TRIP_P50_MS),
        (f"event-loop lag p99 <= {LAG_P99_MS:.0f} ms with {waiting} requests waiting on Celery "
         "jobs", Latency.lag, 99.0, LAG_P99_MS),
        (f"/health p99 <= {HEALTH_P99_MS:.0f} ms with {section.mode.queue_busy_jobs} concurrent "
         "/compute jobs, the Celery workers on the same host", Latency.health, 99.0,
         HEALTH_P99_MS),
    ]  # fmt: skip
    if section.skipped:
        return [Target(what, f"skipped: {section.skipped}", False) for what, *_ in goals]
    celery, process = section.latency["celery"], section.latency["process"]
    found = []
    for what, statistic, pct, limit in goals:
        value = statistic(celery, pct)
        shown = f"{value:.1f} ms (process pool {statistic(process, pct):.1f} ms)"
        found.append(Target(what, shown, value <= limit))
    return found


def _verdicts(section: Section, key: str) -> str:
    if key != "celery":
        return ""
    return ", ".join(
        f"{name} {target.verdict}"
        for name, target in zip(("round trip", "lag", "/health"), targets(section), strict=True)
    )


def lines(section: Section) -> list[str]:
    mode = section.mode
    waiting_s, busy_s = section.job_s(mode.queue_waiting_job_s), section.job_s(mode.job_s)
    rows = []
    for key, row in section.latency.items():
        if section.skipped:
            rows.append([row.label, f"skipped: {section.skipped}"] + [""] * 6)
            continue
        failed = f"{row.errors} failed" if row.errors else ""
        rows.append(
            [
                row.label,
                f"{row.round_trip(50):.1f} / {row.round_trip(99):.1f}",
                f"{row.lag(50):.1f} / {row.lag(99):.1f} / {row.lag(100):.1f}",
                each(row.waiting_walls_s),
                f"{row.health(50):.1f} / {row.health(99):.1f} / {row.health(100):.1f}",
                each(row.busy_walls_s),
                ", ".join(filter(None, [_verdicts(section, key), failed])),
            ]
        )
    header = ["app", "round trip p50 / p99 ms", f"loop lag, {mode.queue_waiting} waiting: "
              "p50 / p99 / max ms", f"{mode.queue_waiting} jobs' wall s (each run)",
              f"/health, {mode.queue_busy_jobs} jobs: p50 / p99 / max ms",
              f"{mode.queue_busy_jobs} jobs' wall s (each run)", "target"]  # fmt: skip
    throughput_rows = []
    for key, result in section.throughput.items():
        if section.skipped:
            throughput_rows.append([result.label, f"skipped: {section.skipped}", "", ""])
            continue
        throughput_rows.append(
            [
                result.label,
                f"{result.rate:.1f} ({each(result.rates, 1)})",
                ratio(result.rate / section.ideal(key)),
                f"{result.errors} failed" if result.errors else "",
            ]
        )
    return [
        "## 5. Celery against the process pool",
        "",
        f"The generated cpu_work=celery app with {WORKERS} Celery worker processes (`celery -A "
        "<package>.tasks worker --pool=prefork --without-gossip --without-mingle "
        "--without-heartbeat`, a Redis of its own that keeps nothing on disk) beside the "
        f"cpu_work=process app with CPU_WORKERS={WORKERS} (its workers at nice {NICE}, as "
        "generated), both serving the same `isqrt_sum` job. Round trip: "
        f"{mode.queue_round_trips} `GET /compute?n=1` per app, one after another over one "
        f"connection, {mode.probe_interval_s * 1000:.0f} ms apart. Loop lag: "
        f"{mode.queue_waiting} `GET /compute?n={section.n(mode.queue_waiting_job_s)}` (about "
        f"{waiting_s:.2f} s of CPU each) sent at once, so that all wait on their jobs, while a "
        f"probe inside the server's process (bench/loop_probe.py) sets a timer every "
        f"{LAG_INTERVAL_MS:g} ms and records how late the loop runs it. /health: "
        f"{mode.queue_busy_jobs} `GET /compute?n={section.n(mode.job_s)}` (about {busy_s:.2f} "
        "s each) sent at once keep every worker busy, on the same host, as in the generated "
        "compose file, while `/health` is probed; the generated workers run their jobs at "
        f"nice {NICE} (tasks.py), as the process pool's do. {mode.queue_reps} run(s) of "
        f"each (the /health one {mode.cpu_reps}), the apps taking turns; the diagnosis row is "
        f"the same Celery workers, their main process too, reniced to {NICE} at the end "
        f"(`nice -n {NICE} celery ... worker`). Host steal over the whole part: "
        f"{section.steal_s * 1000:.0f} ms.",
        "",
        *table(header, rows),
        "",
        f"Jobs per second: {mode.queue_jobs} `GET /compute?n={section.n(mode.queue_job_s)}` "
        f"(about {section.job_s(mode.queue_job_s) * 1000:.0f} ms of CPU each) over "
        f"{mode.queue_connections} keep-alive connections, each sending its next request when "
        f"its answer is in; {mode.queue_jobs_reps} run(s) per setup, taking turns. x ideal: "
        "against the workers computing without a pause (workers / a job's CPU time, measured "
        "in the benchmark's own process).",
        "",
        *table(["workers", "jobs/s: median (each run)", "x ideal", "failed"], throughput_rows),
        "",
    ]


def findings(section: Section) -> list[str]:
    if section.skipped:
        return [f"- **Celery**: not measured: {section.skipped}."]
    latency, throughput = section.latency, section.throughput
    celery, process, nice = latency["celery"], latency["process"], latency["celery_nice"]
    met = [target.passed for target in targets(section)]
    text = (
        f"- **Celery**: a trivial job's round trip takes {celery.round_trip(50):.1f} ms at the "
        f"median ({verdict(met[0])}), against {process.round_trip(50):.1f} ms in the process "
        "pool: the job crosses Redis twice (published from a worker thread, its result "
        f"announced on the shared subscription). With {section.mode.queue_waiting} requests "
        f"waiting, the loop's lag p99 is {celery.lag(99):.1f} ms ({verdict(met[1])}; process "
        f"pool {process.lag(99):.1f} ms). /health p99 with {section.mode.queue_busy_jobs} "
        f"concurrent /compute jobs, the workers on the same host: {celery.health(99):.1f} ms "
        f"({verdict(met[2])}; process pool {process.health(99):.1f} ms), the workers running "
        f"their jobs at nice {NICE} as generated (a pool process lowers its priority at its "
        "first job, a `task_prerun` handler in tasks.py); "
        f"with their main process at nice {NICE} too, {nice.health(99):.1f} ms (lag p99 "
        f"{nice.lag(99):.1f} ms)."
    )
    if not met[2] and nice.health(99) <= HEALTH_P99_MS:
        text += (
            f" On {servers.cores()} cores the workers' main process, at the event loop's "
            f"priority, takes the CPU it needs: start the workers under `nice -n {NICE}`."
        )
    one, two = throughput["celery_1"], throughput["celery"]
    pool_one, pool_two = throughput["process_1"], throughput["process"]
    text += (
        f" Throughput of {section.job_s(section.mode.queue_job_s) * 1000:.0f} ms jobs: Celery "
        f"{one.rate:.1f} jobs/s with 1 worker ({ratio(one.rate / section.ideal('celery_1'))} "
        f"ideal) and {two.rate:.1f} with {WORKERS} ({ratio(two.rate / section.ideal('celery'))}"
        f"), the process pool {pool_one.rate:.1f} "
        f"({ratio(pool_one.rate / section.ideal('process_1'))}) and {pool_two.rate:.1f} "
        f"({ratio(pool_two.rate / section.ideal('process'))}); on {servers.cores()} cores the "
        "workers share the CPU with the app, Redis and the load client."
    )
    return [text]
