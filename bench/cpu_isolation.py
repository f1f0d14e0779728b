"""Part 2: CPU isolation. `/health` latency while CPU jobs run: in the generated process pool
(as generated, with one core left free, and with the proposed lower priority), in the
generated threads, and inline in `async def`."""

import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench import load, servers
from bench.common import Mode, Target, each, percentile, seconds, steal_seconds, table, verdict
from bench.projects import NICE, App, Project, app_env

HEALTH_P99_MS = 20.0


def isqrt_sum(n: int) -> int:
    """The generated projects' job (their jobs.py)."""
    return sum(math.isqrt(i) for i in range(n))


def calibrate_n(job_s: float) -> int:
    """The n for which isqrt_sum(n) takes about job_s on this machine."""
    sample = 200_000
    best = math.inf
    for _ in range(3):
        started = time.perf_counter()
        isqrt_sum(sample)
        best = min(best, time.perf_counter() - started)
    return max(1000, int(round(sample * job_s / best, -3)))


@dataclass(frozen=True)
class Case:
    key: str
    label: str
    project: str = ""
    app: str = ""
    workers: int = 0  # 0: the run's CPU_WORKERS
    jobs: bool = True

    @property
    def server(self) -> str:
        return f"{self.project or self.app}-{self.workers}"


CASES = (
    Case("idle", "generated cpu_work=process, no jobs", project="process", jobs=False),
    Case("process", "generated cpu_work=process (process pool)", project="process"),
    Case("thread", "generated cpu_work=thread (threads)", project="thread"),
    Case("inline", "reference: inline in `async def`", app="cpu_inline"),
    Case("process_1", "diagnosis: process pool, CPU_WORKERS=1", project="process", workers=1),
    Case("process_nice", f"proposed: process pool, workers at nice {NICE}",
         project="process_nice"),
)  # fmt: skip


@dataclass
class Result:
    case: Case
    latencies_ms: list[float] = field(default_factory=list)
    jobs_walls_s: list[float] = field(default_factory=list)
    steal_s: float = 0.0
    errors: int = 0
    skipped: str = ""

    def p(self, pct: float) -> float:
        return percentile(self.latencies_ms, pct)


@dataclass
class Section:
    mode: Mode
    n: int
    results: dict[str, Result]


def _run_case(mode: Mode, port: int, n: int, result: Result) -> None:
    timeout_s = 30 + 4 * mode.cpu_jobs * mode.job_s
    # Warm-up: a small job (what starts lazily starts) and a few probes.
    load.run(load.burst(port, "/compute?n=1000", 2, timeout_s))
    load.run(load.sequential_latencies(port, "/health", 20, 0.001, timeout_s))
    steal_before = steal_seconds()
    if not result.case.jobs:
        probes = mode.idle_probes
        latencies, tally = load.run(
            load.sequential_latencies(port, "/health", probes, mode.probe_interval_s, timeout_s)
        )
        result.latencies_ms = [latency * 1000 for latency in latencies]
        result.errors = tally.errors
    for _ in range(mode.cpu_reps if result.case.jobs else 0):
        job = f"/compute?n={n}"
        probe = load.run(
            load.probe_during_jobs(
                port, "/health", job, mode.cpu_jobs, mode.probe_interval_s, timeout_s
            )
        )
        result.latencies_ms += [latency * 1000 for latency in probe.latencies_s]
        result.jobs_walls_s.append(probe.jobs_wall_s)
        result.errors += probe.jobs.errors + probe.probes.errors
    result.steal_s = steal_seconds() - steal_before


def measure(mode: Mode, projects: dict[str, Project], logs: Path) -> Section:
    n = calibrate_n(mode.job_s)
    specs = {}
    results = {case.key: Result(case) for case in CASES}
    for case in CASES:
        project = projects[case.project] if case.project else None
        if project is not None and project.not_patched:
            results[case.key].skipped = project.not_patched
        elif case.server not in specs:
            workers = str(case.workers or mode.cpu_workers)
            env = app_env(mode, servers.free_port(), CPU_WORKERS=workers)
            specs[case.server] = App(project, case.app).spec(case.server, env)
    with servers.running(list(specs.values()), logs) as started:
        for case in CASES:
            result = results[case.key]
            if result.skipped:
                continue
            _run_case(mode, started[case.server].port, n, result)
            print(f"  {case.label}: p99 {result.p(99):.1f} ms", file=sys.stderr)
    return Section(mode, n, results)


def targets(section: Section) -> list[Target]:
    p99 = section.results["process"].p(99)
    return [
        Target(
            f"/health p99 <= {HEALTH_P99_MS:.0f} ms while {section.mode.cpu_jobs} jobs run in "
            "the process pool",
            f"{p99:.1f} ms",
            p99 <= HEALTH_P99_MS,
        )
    ]


def lines(section: Section) -> list[str]:
    mode = section.mode
    rows = []
    for key, result in section.results.items():
        if result.skipped:
            rows.append([result.case.label, f"skipped: {result.skipped}"] + [""] * 6)
            continue
        target = verdict(result.p(99) <= HEALTH_P99_MS) if key == "process" else ""
        rows.append(
            [
                result.case.label,
                each(result.jobs_walls_s) or "-",
                str(len(result.latencies_ms)),
                f"{result.p(50):.1f}",
                f"{result.p(99):.1f}",
                f"{result.p(100):.1f}",
                f"{result.steal_s * 1000:.0f}",
                target + (f", {result.errors} failed" if result.errors else ""),
            ]
        )
    header = ["app", "jobs wall s (each run)", "probes", "p50 ms", "p99 ms", "max ms",
              "host steal ms", "target"]  # fmt: skip
    return [
        "## 2. CPU isolation",
        "",
        f"{mode.cpu_jobs} concurrent `GET /compute?n={section.n}` (about {mode.job_s} s of CPU "
        f"each, calibrated at the start), CPU_WORKERS={mode.cpu_workers} unless said; "
        f"meanwhile `/health` is probed over one keep-alive connection, one request after "
        f"another, {mode.probe_interval_s * 1000:.0f} ms apart, until every job has answered. "
        f"{mode.cpu_reps} run(s) per app, probes pooled. Host steal: CPU time the hypervisor "
        "took from this machine meanwhile (noise from outside).",
        "",
        *table(header, rows),
        "",
    ]


def findings(section: Section) -> list[str]:
    mode, results = section.mode, section.results
    process, one, nice = results["process"], results["process_1"], results["process_nice"]
    thread, inline = results["thread"], results["inline"]
    met = process.p(99) <= HEALTH_P99_MS
    text = (
        f"- **process pool**: /health p99 {process.p(99):.1f} ms, max {process.p(100):.1f} ms "
        f"({'PASS' if met else 'MISS'}; idle: p99 {results['idle'].p(99):.1f} ms). "
        f"{mode.cpu_workers} busy workers on {servers.cores()} cores leave the event loop (and "
        "the load client) to wait for the scheduler: "
    )
    text += f"with CPU_WORKERS=1 p99 is {one.p(99):.1f} ms (jobs {each(one.jobs_walls_s)} s)"
    if not nice.skipped:
        text += (
            f", with the workers at nice {NICE} {nice.p(99):.1f} ms (jobs "
            f"{each(nice.jobs_walls_s)} s, against {each(process.jobs_walls_s)} s at nice 0)"
        )
    text += "."
    if nice.skipped and "already" in nice.skipped:
        text += f" The generated pool starts its workers at nice {NICE} already."
    elif not met:
        text += (
            " Fix: start the pool's workers at a lower priority, "
            f"`ProcessPoolExecutor(..., initializer=os.nice, initargs=({NICE},))` in the "
            "generated cpu.py (diff at the end), so the loop preempts them when a request "
            "arrives; or default CPU_WORKERS to cores - 1."
        )
    else:
        text += (
            f" The target is met as generated; starting the workers at nice {NICE} "
            f"(`initializer=os.nice, initargs=({NICE},)`, diff at the end) would keep the "
            "margin on a busier machine."
        )
    if process.steal_s > 0.05:
        text += f" The host took {seconds(process.steal_s)} s of CPU during these runs."
    return [
        text,
        f"- threads: p50 {thread.p(50):.1f} ms, p99 {thread.p(99):.1f} ms: pure-Python jobs "
        "hold the GIL and the event loop gets it back once per switch interval "
        f"({sys.getswitchinterval() * 1000:g} ms) for each step it takes, as the template's "
        "cpu_work=thread help says. Inline in `async def`: "
        f"p99 {inline.p(99):.1f} ms, max {inline.p(100):.1f} ms: /health waits for whole jobs.",
    ]
