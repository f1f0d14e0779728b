"""The generated projects' timing-sensitive tests, run many times on a busy machine.

Their concurrency tests assert order and overlap, never a latency, so that they hold on a shared
CI runner while still failing within seconds when work that should overlap runs one piece after
another. This run checks that they do: it generates the variants that have such tests (every
handler style, both HTTP clients and database drivers, both CPU modes), runs each of those tests
`--runs` times (default 20) in the project's own pytest, `--parallel` suites at once, while
`--hogs` processes (default 2) busy-loop beside them in bursts, and prints, per test, its runs,
failures and slowest run. It exits 1 if any run failed. Not a CI step: some 10 minutes on 2
cores.

    .venv/bin/python -m bench.stress_generated [--runs 20] [--hogs 2] [--parallel 1] [--variant ID]

A project with a database starts its own throwaway PostgreSQL, once for all of its runs. The
hogs exit by themselves after `--max-minutes`, and are killed when the run ends.

This module is also the pytest plugin that repeats the tests: a copy of it is loaded into each
project's pytest (`-p stress_generated --stress-runs N`), so it imports nothing at the top but
the standard library and pytest."""

import argparse
import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

PLUGIN = "stress_generated"
RUN_PARAMETER = "stress_run"

# (database, http_client, cpu_work): the sync, both mixed, and the async handler styles.
VARIANTS = [
    ("asyncpg", "requests", "process"),
    ("psycopg2", "requests", "process"),
    ("asyncpg", "httpx", "process"),
    ("psycopg2", "httpx", "thread"),
]
# The tests that wait for something to happen, or bound how long it may take: whole files, or
# single tests. Those a variant does not have are left out.
TIMING_SENSITIVE = [
    "tests/test_concurrency.py",
    "tests/test_loop_monitor.py::test_a_blocked_loop_is_measured_and_logged",
    "tests/test_loop_monitor.py::test_old_samples_leave_the_window",
    "tests/test_loop_monitor.py::test_metrics_report_the_lag",
    "tests/test_upstream.py::test_slow_upstream_is_504_before_it_answers",
    "tests/test_database_faults.py::test_database_down_is_503_while_health_answers_then_recovers",
    "tests/test_database_faults.py::test_an_exhausted_pool_makes_requests_wait_then_503",
    "tests/test_database_faults.py::test_shutdown_leaves_no_connection_in_postgres",
    "tests/test_items.py::test_more_concurrent_requests_than_connections_wait_and_succeed",
]
# A busy loop in bursts (of 50-500 ms, 0-200 ms apart), until the time given in seconds has
# passed: a load that changes under the tests, as other suites' does on a shared runner.
HOG = """import random, sys, time
end = time.monotonic() + float(sys.argv[1])
while (now := time.monotonic()) < end:
    burst_end = now + random.uniform(0.05, 0.5)
    while time.monotonic() < burst_end:
        pass
    time.sleep(random.uniform(0.0, 0.2))
"""


# --- the pytest plugin: every selected test, `--stress-runs` times, one run after another ---


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--stress-runs", type=int, default=1, help="run each test this many times")


@pytest.hookimpl(trylast=True)
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    runs: int = metafunc.config.getoption("--stress-runs")
    if runs > 1:
        metafunc.fixturenames.append(RUN_PARAMETER)
        metafunc.parametrize(RUN_PARAMETER, range(runs), ids=lambda run: f"{PLUGIN}{run}")


# --- the run ---


@dataclass
class Tally:
    runs: int = 0
    failures: int = 0
    slowest_s: float = 0.0
    messages: list[str] = field(default_factory=list)


def variant_id(variant: tuple[str, str, str]) -> str:
    return "-".join(variant)


def selected_tests(project: Path) -> list[str]:
    """The timing-sensitive node ids this project has."""
    selected = []
    for node_id in TIMING_SENSITIVE:
        path, _, name = node_id.partition("::")
        module = project / path
        if module.is_file() and (not name or f"def {name}(" in module.read_text()):
            selected.append(node_id)
    return selected


def generate(variant: tuple[str, str, str], work: Path) -> Path:
    from fastapi_scaffold import api  # only the run needs it, not the plugin

    database, http_client, cpu_work = variant
    answers = {
        "package_name": "svc",
        "database": database,
        "http_client": http_client,
        "cpu_work": cpu_work,
    }
    return api.generate(work / variant_id(variant), answers, defaults=True)


@contextlib.contextmanager
def cpu_hogs(count: int, max_s: float) -> Iterator[None]:
    """`count` processes that busy-loop until `max_s` has passed or the block ends."""
    hogs = [subprocess.Popen([sys.executable, "-c", HOG, str(max_s)]) for _ in range(count)]
    try:
        yield
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


def run_tests(
    project: Path, node_ids: Sequence[str], runs: int, plugin_dir: Path, timeout_s: float
) -> tuple[dict[str, Tally], str]:
    """Run the tests in the project's pytest, each `runs` times; a tally per test, and the
    output's tail when pytest did not get to write its report."""
    report = project / "stress-report.xml"
    report.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(plugin_dir), env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", PLUGIN]
    command += [f"--stress-runs={runs}", f"--junitxml={report}"]
    command += ["-o", "junit_duration_report=call", *node_ids]
    try:
        result = subprocess.run(
            command, cwd=project, env=env, capture_output=True, text=True, timeout=timeout_s
        )
        output = result.stdout + result.stderr
    except subprocess.TimeoutExpired as exc:
        output = f"pytest did not finish within {timeout_s:.0f} s\n{exc.stdout!r}"
    if not report.is_file():
        return {}, output[-3000:]
    return tally(report), ""


def tally(report: Path) -> dict[str, Tally]:
    tallies: dict[str, Tally] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        module = case.get("classname", "").replace(".", "/")
        name = re.sub(rf"-?{PLUGIN}\d+", "", case.get("name", "")).replace("[]", "")
        test = tallies.setdefault(f"{module}.py::{name}", Tally())
        test.runs += 1
        test.slowest_s = max(test.slowest_s, float(case.get("time", "0")))
        for problem in (*case.iter("failure"), *case.iter("error")):
            test.failures += 1
            test.messages.append((problem.get("message") or problem.tag).splitlines()[0][:200])
            break
    return tallies


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.stress_generated",
        description="Run the generated projects' timing-sensitive tests many times, CPU hogs "
        "running beside them.",
    )
    parser.add_argument("--runs", type=int, default=20, help="runs of each test (default 20)")
    parser.add_argument("--hogs", type=int, default=2, help="busy-looping processes (default 2)")
    parser.add_argument(
        "--parallel", type=int, default=1, help="variants whose suites run at once (default 1)"
    )
    parser.add_argument(
        "--variant",
        action="append",
        choices=[variant_id(variant) for variant in VARIANTS],
        help="only this variant (repeatable); default: all",
    )
    parser.add_argument(
        "--max-minutes", type=float, default=60.0, help="the hogs' and each pytest's limit"
    )
    parser.add_argument("--work", type=Path, help="generate here and keep (default: a temp dir)")
    args = parser.parse_args(argv)
    variants = [v for v in VARIANTS if not args.variant or variant_id(v) in args.variant]
    max_s = args.max_minutes * 60

    work = args.work or Path(tempfile.mkdtemp(prefix="stress-generated-"))
    work.mkdir(parents=True, exist_ok=True)
    plugin_dir = work / "plugin"
    plugin_dir.mkdir(exist_ok=True)
    shutil.copyfile(__file__, plugin_dir / f"{PLUGIN}.py")

    def run_variant(project: Path) -> tuple[dict[str, Tally], str, float]:
        started = time.monotonic()
        tallies, crash = run_tests(project, selected_tests(project), args.runs, plugin_dir, max_s)
        took = time.monotonic() - started
        print(f"{project.name}: {took:.0f} s", flush=True)
        return tallies, crash, took

    started = time.monotonic()
    try:
        projects = [generate(variant, work) for variant in variants]
        print(
            f"{args.runs} runs of each test, {args.parallel} suite(s) at once, "
            f"{args.hogs} CPU hogs beside them",
            flush=True,
        )
        with cpu_hogs(args.hogs, max_s), ThreadPoolExecutor(args.parallel) as suites:
            results = list(suites.map(run_variant, projects))
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    wall_s = time.monotonic() - started

    print("\n| variant | test | runs | failures | slowest run |")
    print("| --- | --- | ---: | ---: | ---: |")
    runs = failures = 0
    problems: list[str] = []
    for project, (tallies, crash, _) in zip(projects, results, strict=True):
        if crash:
            problems.append(f"{project.name}: pytest wrote no report\n{crash}")
        for test, counted in tallies.items():
            print(
                f"| {project.name} | `{test}` | {counted.runs} | {counted.failures} "
                f"| {counted.slowest_s:.2f} s |"
            )
            runs += counted.runs
            failures += counted.failures
            problems += [f"{project.name} {test}: {message}" for message in counted.messages]
    took = ", ".join(f"{p.name} {r[2] / 60:.1f}" for p, r in zip(projects, results, strict=True))
    print(f"\n{runs} runs, {failures} failures; minutes: {took}; {wall_s / 60:.1f} in all")
    for problem in problems:
        print(problem)
    return 1 if failures or problems else 0


if __name__ == "__main__":
    sys.exit(main())
