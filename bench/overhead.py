"""Part 3: overhead. `/health` throughput of a generated app against a bare one-route FastAPI
app under the same uvicorn, `def` against `async def`, and the same apps' cost per request
called in-process (no sockets), which separates the framework from the network."""

import json
import math
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from bench import load, servers
from bench.common import Mode, Target, median, percentile, ratio, table, verdict
from bench.projects import App, Project, app_env

THROUGHPUT_RATIO = 0.9


@dataclass(frozen=True)
class Case:
    key: str
    label: str
    project: str = ""
    app: str = ""


CASES = (
    Case("generated", "generated asyncpg+httpx (the defaults)", project="async"),
    Case("bare_async", "bare FastAPI app, `async def` /health", app="bare_async"),
    Case("bare_included", "bare app, its route in an included APIRouter", app="bare_included"),
    Case("bare_def", "bare FastAPI app, `def` /health", app="bare_def"),
    Case(
        "generated_flat",
        "proposed: generated, routes added without include_router",
        project="async_flat",
    ),
)


@dataclass
class Result:
    case: Case
    rates: list[float] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)
    asgi_us: float = math.nan
    errors: int = 0
    skipped: str = ""

    @property
    def rate(self) -> float:
        return median(self.rates)


@dataclass
class Section:
    mode: Mode
    results: dict[str, Result]

    def round_ratios(self, key: str) -> list[float]:
        """Each round's throughput against the bare app's in the same round."""
        bare = self.results["bare_async"].rates
        rates = self.results[key].rates
        return [rate / base for rate, base in zip(rates, bare, strict=True)] if rates else []

    def to_bare(self, key: str) -> float:
        return median(self.round_ratios(key))

    def spread(self, key: str) -> str:
        """The interquartile range of the round ratios."""
        ratios = self.round_ratios(key)
        return f"{percentile(ratios, 25):.2f}-{percentile(ratios, 75):.2f}"


def _asgi_costs_us(mode: Mode, apps: dict[str, App], env: dict[str, str]) -> dict[str, float]:
    """In one process, every app in turn (each generated project's directory on the path)."""
    argv = [sys.executable, "-m", "bench.asgi_cost", str(mode.asgi_requests)]
    argv += [str(mode.asgi_rounds)] + [app.target for app in apps.values()]
    paths = [str(servers.ROOT)] + [str(app.cwd) for app in apps.values() if app.project]
    output = subprocess.run(
        argv, cwd=servers.ROOT, env={**os.environ, **env, "PYTHONPATH": os.pathsep.join(paths)},
        capture_output=True, text=True, timeout=300, check=True,
    ).stdout  # fmt: skip
    by_target: dict[str, float] = json.loads(output)
    return {key: by_target[app.target] for key, app in apps.items()}


def measure(mode: Mode, projects: dict[str, Project], logs: Path) -> Section:
    env = app_env(mode, servers.free_port())
    results = {case.key: Result(case) for case in CASES}
    apps = {}
    for case in CASES:
        project = projects[case.project] if case.project else None
        if project is not None and project.not_patched:
            results[case.key].skipped = project.not_patched
        else:
            apps[case.key] = App(project, case.app)
    specs = [app.spec(key, env) for key, app in apps.items()]
    timeout_s = 60 + mode.rps_requests / 200
    connections = mode.rps_connections
    with servers.running(specs, logs) as started:
        for server in started.values():
            load.run(load.throughput(server.port, "/health", mode.rps_warmup, connections, 60))
        for _ in range(mode.rps_reps):  # interleaved: drift hits every app alike
            for key in apps:
                server, result = started[key], results[key]
                cpu_before = server.cpu_seconds()
                measured = load.run(
                    load.throughput(
                        server.port, "/health", mode.rps_requests, connections, timeout_s
                    )
                )
                result.rates.append(measured.per_second)
                result.cpu_us.append((server.cpu_seconds() - cpu_before) * 1e6 / measured.requests)
                result.errors += measured.tally.errors
    for key, cost in _asgi_costs_us(mode, apps, env).items():
        results[key].asgi_us = cost
        print(f"  {results[key].case.label}: {results[key].rate:.0f} req/s", file=sys.stderr)
    return Section(mode, results)


def targets(section: Section) -> list[Target]:
    to_bare = section.to_bare("generated")
    return [
        Target(
            f"generated /health throughput >= {THROUGHPUT_RATIO}x the bare app",
            ratio(to_bare, 3),
            to_bare >= THROUGHPUT_RATIO,
        )
    ]


def lines(section: Section) -> list[str]:
    mode = section.mode
    rows = []
    for key, result in section.results.items():
        if result.skipped:
            rows.append([result.case.label, f"skipped: {result.skipped}"] + [""] * 4)
            continue
        target = verdict(section.to_bare(key) >= THROUGHPUT_RATIO) if key == "generated" else ""
        rows.append(
            [
                result.case.label,
                f"{result.rate:.0f} ({min(result.rates):.0f}-{max(result.rates):.0f})",
                f"{ratio(section.to_bare(key), 3)} ({section.spread(key)})",
                f"{median(result.cpu_us):.0f}",
                f"{result.asgi_us:.0f}",
                target + (f", {result.errors} failed" if result.errors else ""),
            ]
        )
    header = ["app", "req/s: median (min-max)", "x bare async: median (IQR)",
              "server CPU us/req", "in-process us/req", "target"]  # fmt: skip
    return [
        "## 3. Overhead",
        "",
        f"`GET /health` over {mode.rps_connections} keep-alive connections, each sending its "
        f"next request when its answer is in: {mode.rps_reps} rounds of {mode.rps_requests} "
        f"requests per app ({mode.rps_reps * mode.rps_requests} in all), the apps taking turns "
        f"in each round, after a warm-up of {mode.rps_warmup}. x bare async: the median, over "
        "the rounds, of the app's throughput over the bare app's in the same round (and the "
        "interquartile range of those ratios: the run's noise). Every app runs under `uvicorn "
        f"{' '.join(servers.UVICORN_OPTIONS)}`, one worker. In-process: the ASGI app called "
        f"directly in one process, {mode.asgi_requests} requests a round, the apps taking turns "
        f"for {mode.asgi_rounds} rounds; CPU time of each app's best round.",
        "",
        *table(header, rows),
        "",
    ]


def findings(section: Section) -> list[str]:
    results = section.results
    generated, bare = results["generated"], results["bare_async"]
    included, bare_def, flat = (
        results["bare_included"],
        results["bare_def"],
        results["generated_flat"],
    )
    to_bare = section.to_bare("generated")
    verdict_text = "meets" if to_bare >= THROUGHPUT_RATIO else "MISSES"
    extra, extra_included = generated.asgi_us - bare.asgi_us, included.asgi_us - bare.asgi_us
    text = (
        f"- **overhead**: the generated app serves {ratio(to_bare)} the bare app's /health "
        f"throughput and {verdict_text} the {THROUGHPUT_RATIO}x target. Called in-process, "
        f"without sockets, it costs {generated.asgi_us:.0f} us per request against "
        f"{bare.asgi_us:.0f} us for the bare app ({extra:+.0f} us), and the bare app with its "
        f"one route in an included APIRouter {included.asgi_us:.0f} us ({extra_included:+.0f} "
        f"us; over sockets {ratio(section.to_bare('bare_included'))} the bare app's "
        "throughput). "
    )
    if extra <= 0 or extra_included >= 0.6 * extra:
        text += (
            "That is FastAPI's include_router: a request to an included router's route passes "
            "through one more routing layer (`fastapi.routing._IncludedRouter` in FastAPI "
            f"{_fastapi_version()}), and the template registers every module's router that "
            "way; everything else the generated app runs costs nothing measurable per request."
        )
    else:
        text += (
            f"include_router explains {extra_included:.0f} of the {extra:.0f} us; the rest "
            "is not explained by this run (the machine's noise, or the app)."
        )
    low, high = (percentile(section.round_ratios("generated"), pct) for pct in (25, 75))
    if low <= THROUGHPUT_RATIO <= high:
        text += (
            f" The {THROUGHPUT_RATIO}x line lies inside this run's noise (the round ratios' "
            f"interquartile range is {low:.2f}-{high:.2f}): repeated runs land either side."
        )
    if not flat.skipped:
        text += (
            " With each module's routes added to the app itself instead "
            "(`app.router.routes.extend(module.router.routes)` in `create_app`, measured on a "
            "generated copy: diff at the end) it serves "
            f"{ratio(section.to_bare('generated_flat'))} the bare app's throughput and costs "
            f"{flat.asgi_us:.0f} us in-process. The routes "
            "keep their tags; what it gives up is include_router's prefix, dependency and "
            "response merging, which the template does not use."
        )
    text += (
        " `def` instead of `async def` for a handler without I/O: "
        f"{ratio(section.to_bare('bare_def'))} the throughput ({bare_def.asgi_us:.0f} us "
        "in-process): each call is handed to a worker thread and back, so the template's "
        "`async def` for the `none` style is right."
    )
    return [text]


def _fastapi_version() -> str:
    from importlib import metadata

    return metadata.version("fastapi")
