"""Part 3: overhead. `/health` throughput of the full-featured generated app against a
hand-written app with the same five routers, and of the generated defaults against a bare
one-route FastAPI app, under the same uvicorn; `def` against `async def`; and the same apps' cost
per request called in-process (no sockets), which separates the framework from the network."""

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

# The full-featured generated app against the hand-written one with the same routers, both
# registering them with include_router: what the template adds besides its routes.
FIVE_ROUTERS_RATIO = 0.95


@dataclass(frozen=True)
class Case:
    key: str
    label: str
    project: str = ""
    app: str = ""


CASES = (
    Case("full", "generated asyncpg+httpx+process (five routers)", project="full"),
    Case("five_routers", "hand-written app, the same five routers via include_router",
         app="five_routers"),
    Case("generated", "generated asyncpg+httpx (the defaults)", project="async"),
    Case("bare_async", "bare FastAPI app, `async def` /health", app="bare_async"),
    Case("bare_included", "bare app, its route in an included APIRouter", app="bare_included"),
    Case("bare_def", "bare FastAPI app, `def` /health", app="bare_def"),
    Case("generated_flat", "proposed: generated, routes added without include_router",
         project="async_flat"),
)  # fmt: skip


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

    def round_ratios(self, key: str, base: str = "bare_async") -> list[float]:
        """Each round's throughput against the base app's in the same round."""
        bases = self.results[base].rates
        rates = self.results[key].rates
        if not rates or not bases:
            return []
        return [rate / base for rate, base in zip(rates, bases, strict=True)]

    def to_bare(self, key: str) -> float:
        return median(self.round_ratios(key))

    def to_five_routers(self, key: str) -> float:
        return median(self.round_ratios(key, "five_routers"))

    def spread(self, key: str, base: str = "bare_async") -> str:
        """The interquartile range of the round ratios."""
        ratios = self.round_ratios(key, base)
        return f"{percentile(ratios, 25):.2f}-{percentile(ratios, 75):.2f}"

    def against(self, key: str, base: str) -> str:
        """The median round ratio, and their interquartile range."""
        return f"{ratio(median(self.round_ratios(key, base)), 3)} ({self.spread(key, base)})"


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


def _met(section: Section) -> bool:
    return section.to_five_routers("full") >= FIVE_ROUTERS_RATIO


def targets(section: Section) -> list[Target]:
    return [
        Target(
            "generated full-featured app's /health throughput >= "
            f"{FIVE_ROUTERS_RATIO}x the five-router app",
            ratio(section.to_five_routers("full"), 3),
            _met(section),
        )
    ]


def lines(section: Section) -> list[str]:
    mode = section.mode
    rows = []
    for key, result in section.results.items():
        if result.skipped:
            rows.append([result.case.label, f"skipped: {result.skipped}"] + [""] * 5)
            continue
        target = verdict(_met(section)) if key == "full" else ""
        rows.append(
            [
                result.case.label,
                f"{result.rate:.0f} ({min(result.rates):.0f}-{max(result.rates):.0f})",
                section.against(key, "bare_async"),
                section.against(key, "five_routers"),
                f"{median(result.cpu_us):.0f}",
                f"{result.asgi_us:.0f}",
                target + (f", {result.errors} failed" if result.errors else ""),
            ]
        )
    header = ["app", "req/s: median (min-max)", "x bare async: median (IQR)",
              "x five-router app: median (IQR)", "server CPU us/req", "in-process us/req",
              "target"]  # fmt: skip
    return [
        "## 3. Overhead",
        "",
        f"`GET /health` over {mode.rps_connections} keep-alive connections, each sending its "
        f"next request when its answer is in: {mode.rps_reps} rounds of {mode.rps_requests} "
        f"requests per app ({mode.rps_reps * mode.rps_requests} in all), the apps taking turns "
        f"in each round, after a warm-up of {mode.rps_warmup}. x bare async (x five-router "
        "app): the median, over the rounds, of the app's throughput over the bare app's (the "
        "five-router app's) in the same round, and the interquartile range of those ratios: "
        "the run's noise. The five-router app is hand-written: compute, health, items, "
        "metrics and upstream routers with simple handlers on the generated paths, included "
        "in the generated order, and no lifespan resources. Every app runs under `uvicorn "
        f"{' '.join(servers.UVICORN_OPTIONS)}`, one worker. In-process: the ASGI app called "
        f"directly in one process, {mode.asgi_requests} requests a round, the apps taking turns "
        f"for {mode.asgi_rounds} rounds; CPU time of each app's best round.",
        "",
        *table(header, rows),
        "",
    ]


def findings(section: Section) -> list[str]:
    mode, results = section.mode, section.results
    generated, bare = results["generated"], results["bare_async"]
    full, five = results["full"], results["five_routers"]
    included, bare_def, flat = (
        results["bare_included"],
        results["bare_def"],
        results["generated_flat"],
    )
    to_five = section.to_five_routers("full")
    low, high = (percentile(section.round_ratios("full", "five_routers"), pct) for pct in (25, 75))
    text = (
        f"- **overhead**: the full-featured generated app (asyncpg+httpx+process, five routers) "
        f"serves {ratio(to_five)} the /health throughput of a hand-written app with the same "
        f"five routers, included the same way, and {'meets' if _met(section) else 'MISSES'} "
        f"the {FIVE_ROUTERS_RATIO}x target (the median of {mode.rps_reps} rounds' ratios; "
        f"interquartile range {low:.2f}-{high:.2f}). In-process it costs {full.asgi_us:.0f} us "
        f"per request against the five-router app's {five.asgi_us:.0f} us "
        f"({round(full.asgi_us - five.asgi_us):+d} us)"
    )
    if full.asgi_us - five.asgi_us <= 0.05 * five.asgi_us:
        text += (
            ": what the template adds around its routes (settings, the lifespan's pools, the "
            "loop monitor, its exception handler, the items router's body limit) costs /health "
            "nothing measurable."
        )
    else:
        text += ": what the template adds around its routes costs /health that much."
    if mode.rps_reps < 15:
        text += (
            f" With {mode.rps_reps} rounds that ratio is noise: the ratios of two identical "
            "apps have spread over 0.78-1.36x in 3 rounds on this machine; a full run takes "
            "15 or more."
        )
    elif low <= FIVE_ROUTERS_RATIO <= high:
        text += (
            f" The {FIVE_ROUTERS_RATIO}x line lies inside this run's noise: repeated runs land "
            "either side."
        )
    to_bare = section.to_bare("generated")
    extra, extra_included = generated.asgi_us - bare.asgi_us, included.asgi_us - bare.asgi_us
    text += (
        f" For information, the generated defaults serve {ratio(to_bare)} a bare one-route "
        f"app's throughput. Called in-process, without sockets, they cost "
        f"{generated.asgi_us:.0f} us per request against {bare.asgi_us:.0f} us for the bare app "
        f"({extra:+.0f} us), and the bare app with its one route in an included APIRouter "
        f"{included.asgi_us:.0f} us ({extra_included:+.0f} us; over sockets "
        f"{ratio(section.to_bare('bare_included'))} the bare app's throughput). "
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
