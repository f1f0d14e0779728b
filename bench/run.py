"""The benchmark: generated projects against hand-written references, in one run.

    .venv/bin/python -m bench.run [--quick] [--out docs/benchmarks.md]

It measures (1) I/O concurrency through an upstream that answers after 100 ms, (2) /health
latency while CPU jobs run, (3) /health throughput against hand-written FastAPI apps, (4) the
`fastapi-scaffold new` command against plain `copier copy`, (5) Celery workers against the
process pool (round trip, event-loop lag, /health, jobs/s), and (6) the SQLAlchemy variants
against the raw drivers (GET and POST /items throughput, CPU per request, a py-spy profile).
It prints the report, with each target's PASS/MISS, and writes it to --out with the plot beside
it (same name, .png). Every server it starts runs in its own process group and is killed when
its part ends.
"""

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

if __name__ == "__main__" and not __package__:  # run as `python bench/run.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import (
    celery_jobs,
    cpu_isolation,
    io_concurrency,
    orm_cost,
    overhead,
    projects,
    servers,
    tool_time,
)
from bench.common import FULL, QUICK
from bench.report import Report, plot, render

DEFAULT_OUT = servers.ROOT / "docs" / "benchmarks.md"


_CLOCK = time.perf_counter()


def _step(text: str) -> None:
    print(f"[{time.perf_counter() - _CLOCK:5.1f} s] {text}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run", description="Benchmark the generated projects and the tool."
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run: few requests, 1 run")
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help="the Markdown report to write; the plot is written beside it as .png",
    )
    args = parser.parse_args(argv)
    mode = QUICK if args.quick else FULL
    out: Path = args.out.absolute()
    started, clock = datetime.now(UTC), time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp, servers.log_directory() as logs:
        root = Path(tmp)
        _step(f"{mode.name} run: generating the projects")
        generated = projects.generate(root)
        _step("1. I/O concurrency")
        io = io_concurrency.measure(mode, generated, logs)
        _step("2. CPU isolation")
        cpu = cpu_isolation.measure(mode, generated, logs)
        _step("3. overhead")
        rps = overhead.measure(mode, generated, logs)
        _step("4. the tool")
        tool = tool_time.measure(mode, root)
        _step("5. Celery against the process pool")
        queue = celery_jobs.measure(mode, generated, logs)
        _step("6. the ORM's cost")
        orm = orm_cost.measure(mode, root, logs)
    plot_path = out.with_suffix(".png")
    elapsed = time.perf_counter() - clock
    proposals = {
        "2. CPU isolation: the process pool's workers at nice 10": generated["process_nice"],
        "3. overhead: each module's routes added to the app, not included": generated["async_flat"],
    }
    report = Report(
        mode,
        started,
        elapsed,
        io,
        cpu,
        rps,
        tool,
        queue,
        orm,
        plot_path.name,
        {title: (project.not_patched, project.diff) for title, project in proposals.items()},
    )
    text = render(report)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    plot(report, plot_path)
    print(text)
    _step(f"wrote {out} and {plot_path} in {report.elapsed_s:.0f} s")
    if report.failed_requests:
        _step(f"{report.failed_requests} requests failed: see the tables")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
