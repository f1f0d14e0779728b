"""The report: Markdown tables with each target's verdict, the findings, and the plot."""

import platform
import re
from dataclasses import dataclass, field
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from bench import (
    celery_jobs,
    cpu_isolation,
    io_concurrency,
    orm_cost,
    overhead,
    servers,
    tool_time,
)
from bench.common import Mode, Target, percentile, table

VERSIONS = ("fastapi", "starlette", "uvicorn", "httpx", "httpcore", "httpx2", "httpx-aiohttp",
            "aiohttp", "requests", "anyio", "celery", "kombu", "redis", "sqlalchemy", "asyncpg",
            "psycopg2-binary", "copier")  # fmt: skip


@dataclass
class Report:
    mode: Mode
    started: datetime
    elapsed_s: float
    io: io_concurrency.Section
    cpu: cpu_isolation.Section
    rps: overhead.Section
    tool: tool_time.Section
    celery: celery_jobs.Section
    orm: orm_cost.Section
    plot_name: str = "benchmarks.png"
    # Other proposed changes, as applied to generated copies: title -> (not applied because, diff)
    proposals: dict[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def targets(self) -> list[Target]:
        return (
            io_concurrency.targets(self.io)
            + cpu_isolation.targets(self.cpu)
            + overhead.targets(self.rps)
            + tool_time.targets(self.tool)
            + celery_jobs.targets(self.celery)
            + orm_cost.targets(self.orm)
        )

    @property
    def failed_requests(self) -> int:
        return (
            sum(result.errors for result in self.io.results.values())
            + sum(result.errors for result in self.cpu.results.values())
            + sum(result.errors for result in self.rps.results.values())
            + self.celery.errors
            + self.orm.errors
        )


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "absent"


def render(report: Report) -> str:
    command = "python -m bench.run" + (" --quick" if report.mode.name == "quick" else "")
    versions = ", ".join(f"{name} {_version(name)}" for name in VERSIONS)
    targets = report.targets
    passed = sum(target.passed for target in targets)
    plot_name = report.plot_name
    quick_note = (
        [
            "**Quick mode: a smoke run of one small sample each, with short warm-ups. Its "
            "figures and verdicts are not measurements: run `python -m bench.run` for those.**",
            "",
        ]
        if report.mode.name == "quick"
        else []
    )
    lines = [
        "# Benchmarks",
        "",
        f"Written by `{command}` ({report.mode.name} mode, {report.elapsed_s:.0f} s) on "
        f"{report.started:%Y-%m-%d %H:%M} UTC: {platform.machine()}, {servers.cores()} cores, "
        f"Python {platform.python_version()}; {versions}. The load client (raw asyncio "
        "sockets over keep-alive connections, `bench/load.py`), the apps and the upstream "
        f"share the machine. Plot: [{plot_name}]({plot_name}).",
        "",
        *quick_note,
        f"## Targets: {passed} of {len(targets)} met",
        "",
        *table(
            ["target", "measured", "verdict"],
            [[target.what, target.measured, target.verdict] for target in targets],
        ),
        "",
        *io_concurrency.lines(report.io),
        *io_concurrency.transport_lines(report.io),
        *cpu_isolation.lines(report.cpu),
        *overhead.lines(report.rps),
        *tool_time.lines(report.tool),
        *celery_jobs.lines(report.celery),
        *orm_cost.lines(report.orm),
        "## Findings",
        "",
        *io_concurrency.findings(report.io),
        *cpu_isolation.findings(report.cpu),
        *overhead.findings(report.rps),
        *tool_time.findings(report.tool),
        *celery_jobs.findings(report.celery),
        *orm_cost.findings(report.orm),
        "",
        *_proposal_lines(report),
    ]
    return "\n".join(lines).rstrip("\n") + "\n"


def _proposal_lines(report: Report) -> list[str]:
    lines = ["## Other proposed changes, as measured", ""]
    for title, (not_applied, diff) in report.proposals.items():
        lines += [f"{title}:", ""]
        if not_applied:
            lines += [f"not measured: {not_applied}.", ""]
        else:
            lines += ["```diff", diff.rstrip("\n"), "```", ""]
    return lines


def _short(label: str) -> str:
    text = re.sub(r"`|\s*\(.*?\)", "", label)
    for long, short in (
        ("reference: ", "ref: "),
        ("candidate: ", "cand: "),
        ("generated ", "gen "),
        ("diagnosis: ", ""),
        ("proposed: ", ""),
    ):
        text = text.replace(long, short)  # fmt: skip
    return text if len(text) <= 46 else text[:44] + ".."


def _plot_queue(section: celery_jobs.Section, latency_ax: Any, jobs_ax: Any) -> None:
    latency_ax.set_title("5. Celery against the process pool: latency")
    jobs_ax.set_title("5. jobs/s")
    if section.skipped:
        latency_ax.text(0.5, 0.5, f"skipped: {section.skipped}", ha="center")
        return
    rows = list(section.latency.values())
    measures = (
        ("round trip p50", [r.round_trip(50) for r in rows]),
        ("loop lag p99", [r.lag(99) for r in rows]),
        ("/health p99, workers busy", [r.health(99) for r in rows]),
    )
    width = 0.27
    for offset, (name, values) in enumerate(measures):
        latency_ax.barh(
            [index + (offset - 1) * width for index in range(len(rows))],
            [max(value, 0.01) for value in values],
            width,
            label=name,
        )
    latency_ax.set_yticks(range(len(rows)), [_short(r.label) for r in rows])
    latency_ax.set_xscale("log")
    highest = max((value for _, values in measures for value in values), default=1.0)
    latency_ax.set_xlim(0.1, max(1000.0, 20 * highest))  # labelled decades, room for the legend
    latency_ax.axvline(celery_jobs.LAG_P99_MS, color="red", linestyle=":", label="p99 targets")
    latency_ax.axvline(
        celery_jobs.ROUND_TRIP_P50_MS, color="grey", linestyle=":", label="round trip target"
    )
    latency_ax.set_xlabel("ms (log scale)")
    latency_ax.invert_yaxis()
    latency_ax.legend(loc="lower right")
    jobs = list(section.throughput.values())
    jobs_ax.barh(
        [r.label for r in jobs],
        [r.rate for r in jobs],
        color=["tab:orange" if "Celery" in r.label else "tab:blue" for r in jobs],
    )
    jobs_ax.set_xlabel(f"jobs/s ({section.job_s(section.mode.queue_job_s) * 1000:.0f} ms jobs)")
    jobs_ax.invert_yaxis()


def plot(report: Report, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(3, 2, figsize=(16, 16))
    io_ax, cpu_ax, rps_ax, tool_ax = axes[0][0], axes[0][1], axes[1][0], axes[1][1]
    queue_ax, jobs_ax = axes[2][0], axes[2][1]
    colors = {"generated": "tab:blue", "reference": "tab:green", "candidate": "tab:orange",
              "baseline": "tab:red"}  # fmt: skip

    measured = [r for r in report.io.results.values() if not r.skipped]
    io_ax.barh(
        [_short(r.case.label) for r in measured],
        [r.wall_s for r in measured],
        color=[colors[r.case.role] for r in measured],
    )
    io_ax.set_xscale("log")
    io_ax.axvline(report.mode.delay_s, color="grey", linestyle=":", label="one upstream delay")
    io_ax.axvline(
        io_concurrency.WITHIN_REFERENCE * report.io.results["ref_aiohttp"].wall_s,
        color="red",
        linestyle=":",
        label=f"{io_concurrency.WITHIN_REFERENCE}x aiohttp reference",
    )
    io_ax.set_xlabel("wall time, s (log scale)")
    io_ax.set_title(
        f"1. {report.mode.concurrency} concurrent /upstream calls "
        f"(upstream: {report.mode.delay_s * 1000:.0f} ms)"
    )
    io_ax.invert_yaxis()
    io_ax.legend(loc="lower right")

    cpu = [r for r in report.cpu.results.values() if not r.skipped]
    width = 0.27
    for offset, (name, pct) in enumerate((("p50", 50.0), ("p99", 99.0), ("max", 100.0))):
        cpu_ax.barh(
            [index + (offset - 1) * width for index in range(len(cpu))],
            [max(percentile(r.latencies_ms, pct), 0.01) for r in cpu],
            width,
            label=name,
        )
    cpu_ax.set_yticks(range(len(cpu)), [_short(r.case.label) for r in cpu])
    cpu_ax.set_xscale("log")
    cpu_ax.axvline(cpu_isolation.HEALTH_P99_MS, color="red", linestyle=":", label="p99 target")
    cpu_ax.set_xlabel("/health latency, ms (log scale)")
    cpu_ax.set_title(f"2. /health while {report.mode.cpu_jobs} CPU jobs run")
    cpu_ax.invert_yaxis()
    cpu_ax.legend(loc="lower right")

    rps = [r for r in report.rps.results.values() if not r.skipped]
    rps_colors = {"full": "tab:blue", "generated": "tab:blue", "five_routers": "tab:green",
                  "bare_async": "tab:green"}  # fmt: skip
    rps_ax.barh(
        [_short(r.case.label) for r in rps],
        [r.rate for r in rps],
        color=[rps_colors.get(r.case.key, "tab:grey") for r in rps],
    )
    five = report.rps.results["five_routers"].rate
    rps_ax.axvline(
        overhead.FIVE_ROUTERS_RATIO * five,
        color="red",
        linestyle=":",
        label=f"{overhead.FIVE_ROUTERS_RATIO}x the five-router app",
    )
    rps_ax.set_xlabel("requests/s")
    rps_ax.set_title("3. /health throughput, one uvicorn worker")
    rps_ax.invert_yaxis()
    rps_ax.legend(loc="lower right")

    tool = list(report.tool.results.values())
    tool_ax.barh([_short(r.label) for r in tool], [r.wall_s for r in tool], color="tab:purple")
    tool_ax.axvline(
        tool_time.NEW_VS_COPIER * report.tool.results["copier"].wall_s,
        color="red",
        linestyle=":",
        label=f"{tool_time.NEW_VS_COPIER}x copier",
    )
    tool_ax.set_xlabel("wall time, s")
    tool_ax.set_title("4. the tool")
    tool_ax.invert_yaxis()
    tool_ax.legend(loc="lower right")

    _plot_queue(report.celery, queue_ax, jobs_ax)

    figure.suptitle(
        f"fastapi-scaffold benchmarks ({report.mode.name} mode, {report.started:%Y-%m-%d})"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)
