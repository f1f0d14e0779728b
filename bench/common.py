"""What every part of the benchmark shares: the run's sizes, statistics, and table helpers."""

import math
import os
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Mode:
    """The sizes of one run; `--quick` shrinks them to a smoke run."""

    name: str
    io_reps: int = 5
    cpu_reps: int = 3
    rps_reps: int = 20
    concurrency: int = 200
    warmup_concurrency: int = 200
    delay_s: float = 0.1
    threads: int = 40
    blocking_concurrency: int = 200
    client_rounds: int = 3
    client_concurrency: int = 200
    cpu_jobs: int = 4
    cpu_workers: int = 2
    job_s: float = 0.5
    probe_interval_s: float = 0.005
    idle_probes: int = 200
    rps_requests: int = 2_000
    rps_warmup: int = 2_000
    rps_connections: int = 50
    asgi_requests: int = 1_000
    asgi_rounds: int = 15
    tool_runs: int = 5
    queue_reps: int = 3
    queue_round_trips: int = 200
    queue_waiting: int = 50
    queue_waiting_job_s: float = 0.2
    queue_jobs: int = 40
    queue_jobs_reps: int = 5
    queue_job_s: float = 0.05
    queue_connections: int = 8
    orm_reps: int = 10
    orm_profile_s: float = 6.0
    # /compute jobs sent at once while /health is probed (part 5), as the issue that asked
    # for the row measured them: the workers on the same host, as in compose.
    queue_busy_jobs: int = 30


FULL = Mode("full")
# A smoke run: every part, row and verdict, with as little load as still gives each a number
# (the test suite runs it, test_bench.py).
QUICK = Mode(
    "quick",
    io_reps=1,
    cpu_reps=1,
    rps_reps=2,
    concurrency=50,
    warmup_concurrency=20,
    blocking_concurrency=10,
    client_rounds=1,
    client_concurrency=50,
    job_s=0.2,
    idle_probes=30,
    rps_requests=100,
    rps_warmup=50,
    asgi_requests=100,
    asgi_rounds=2,
    tool_runs=1,
    queue_reps=1,
    queue_round_trips=20,
    queue_waiting_job_s=0.01,
    queue_jobs=8,
    queue_jobs_reps=1,
    queue_job_s=0.01,
    orm_reps=1,
    orm_profile_s=1.0,
    queue_busy_jobs=8,
)


@dataclass(frozen=True)
class Target:
    what: str
    measured: str
    passed: bool

    @property
    def verdict(self) -> str:
        return verdict(self.passed)


def verdict(passed: bool) -> str:
    return "PASS" if passed else "MISS"


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile; nan for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return lines


def seconds(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.3f}"


def each(values: Sequence[float], digits: int = 2) -> str:
    return ", ".join(f"{value:.{digits}f}" for value in values)


def ratio(value: float, digits: int = 2) -> str:
    return "n/a" if math.isnan(value) else f"{value:.{digits}f}x"


def steal_seconds() -> float:
    """CPU time the hypervisor gave to others (the `steal` column of /proc/stat), all CPUs."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
        return int(fields[8]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return math.nan
