"""Part 1: I/O concurrency. N concurrent requests to `/upstream/1`, whose upstream answers after
a fixed delay, for each generated style, the hand-written references and the candidate httpx
transports; then what each client library costs by itself."""

import json
import math
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from bench import load, servers
from bench.common import (
    Mode,
    Target,
    each,
    median,
    ratio,
    seconds,
    table,
    verdict,
)
from bench.projects import App, Project, app_env
from bench.upstream import item_body

WITHIN_REFERENCE = 1.25
PATH = "/upstream/1"
BODY = item_body(1)

Kind = Literal["async", "threads", "blocking"]
Role = Literal["generated", "reference", "candidate", "baseline"]


@dataclass(frozen=True)
class Case:
    key: str
    label: str
    kind: Kind
    role: Role
    reference: str  # the key of the reference with the same kind of client
    project: str = ""  # a generated project's key, or
    app: str = ""  # a reference app's name


CASES = (
    Case("gen_httpx", "generated asyncpg+httpx (async)", "async", "generated", "ref_aiohttp",
         project="async"),
    Case("gen_requests", "generated requests (sync, `def`)", "threads", "generated",
         "ref_requests", project="sync"),
    Case("gen_mixed", "generated asyncpg+requests (mixed, offloaded)", "threads", "generated",
         "ref_requests", project="mixed"),
    Case("ref_aiohttp", "reference: aiohttp.ClientSession in `async def`", "async", "reference",
         "ref_aiohttp", app="aiohttp_default"),
    Case("ref_requests", "reference: requests.Session per thread in `def`", "threads",
         "reference", "ref_requests", app="requests_in_def"),
    Case("cand_httpx", "candidate: httpx.AsyncClient (default transport)", "async", "candidate",
         "ref_aiohttp", app="httpx_plain"),
    Case("cand_httpx2", "candidate: httpx2.AsyncClient", "async", "candidate", "ref_aiohttp",
         app="httpx2_plain"),
    Case("cand_httpx_aiohttp", "candidate: httpx.AsyncClient over httpx-aiohttp's transport",
         "async", "candidate", "ref_aiohttp", app="httpx_over_aiohttp"),
    Case("gen_httpx_aiohttp", "generated asyncpg+httpx, proposed HttpxAiohttpClient", "async",
         "candidate", "ref_aiohttp", project="async_aiohttp"),
    Case("ref_aiohttp_uncapped", "reference: aiohttp without its 100-connection cap", "async",
         "candidate", "ref_aiohttp", app="aiohttp_uncapped"),
    Case("base_blocking", "baseline: requests.get inside `async def` (anti-pattern)", "blocking",
         "baseline", "ref_requests", app="requests_in_async"),
)  # fmt: skip


@dataclass
class Result:
    case: Case
    concurrency: int
    walls_s: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)  # per request, each burst
    errors: int = 0
    skipped: str = ""

    @property
    def wall_s(self) -> float:
        return median(self.walls_s)

    @property
    def cpu_ms_per_request(self) -> float:
        return median(self.cpu_ms)


@dataclass
class Section:
    mode: Mode
    results: dict[str, Result]
    client_cost: dict[str, Any]
    proposed_diff: str
    template_transport: str  # what the generated httpx variant's upstream.py uses

    def to_reference(self, key: str) -> float:
        result = self.results[key]
        return result.wall_s / self.results[result.case.reference].wall_s


def ideal_s(mode: Mode, kind: Kind, concurrency: int) -> float:
    """One delay for async clients; ceil(N / threads) delays for a blocking client."""
    if kind == "async":
        return mode.delay_s
    return math.ceil(concurrency / mode.threads) * mode.delay_s


def _timeout_s(mode: Mode, result: Result) -> float:
    return 30 + 2 * result.concurrency * mode.delay_s


def _warm_up(server: servers.Server, mode: Mode, result: Result) -> None:
    """One burst (the anti-pattern, which serves one request at a time: one request)."""
    blocking = result.case.kind == "blocking"
    warmup = 1 if blocking else min(result.concurrency, mode.warmup_concurrency)
    load.run(load.burst(server.port, PATH, warmup, _timeout_s(mode, result)))


def _burst(server: servers.Server, mode: Mode, result: Result) -> None:
    """One measured burst: its wall time, the app's CPU time, the failed requests."""
    cpu_before = server.cpu_seconds()
    burst = load.run(
        load.burst(server.port, PATH, result.concurrency, _timeout_s(mode, result), BODY)
    )
    cpu_ms = (server.cpu_seconds() - cpu_before) * 1000 / result.concurrency
    result.walls_s.append(burst.wall_s)
    result.cpu_ms.append(cpu_ms)
    result.errors += burst.tally.errors


def _client_cost(mode: Mode, upstream_port: int) -> dict[str, Any]:
    argv = [sys.executable, "-m", "bench.client_cost", str(upstream_port)]
    argv += [str(mode.client_concurrency), str(mode.client_rounds)]
    output = subprocess.run(
        argv, cwd=servers.ROOT, capture_output=True, text=True, timeout=120, check=True
    ).stdout
    cost: dict[str, Any] = json.loads(output)
    return cost


def measure(mode: Mode, projects: dict[str, Project], logs: Path) -> Section:
    upstream = servers.Spec(
        "upstream",
        lambda port: (sys.executable, "-m", "bench.upstream", str(port), str(mode.delay_s)),
        servers.ROOT,
        os.environ,
        ready_path="/items/0",
    )
    results: dict[str, Result] = {}
    with servers.running([upstream], logs) as started_upstream:
        upstream_port = started_upstream["upstream"].port
        env = app_env(mode, upstream_port)
        specs = []
        for case in CASES:
            blocking = case.kind == "blocking"
            concurrency = mode.blocking_concurrency if blocking else mode.concurrency
            result = results[case.key] = Result(case, concurrency)
            project = projects[case.project] if case.project else None
            if project is not None and project.not_patched:
                result.skipped = project.not_patched
                continue
            specs.append(App(project, case.app).spec(case.key, env))
        with servers.running(specs, logs) as started:
            # One app after another, its bursts back to back: the clients' pools stay warm
            # (httpx keeps an idle connection 5 s). The anti-pattern takes N x delay: once.
            for spec in specs:
                server, result = started[spec.name], results[spec.name]
                _warm_up(server, mode, result)
                for _ in range(1 if result.case.kind == "blocking" else mode.io_reps):
                    _burst(server, mode, result)
                print(f"  {result.case.label}: {result.wall_s:.3f} s", file=sys.stderr)
        client_cost = _client_cost(mode, upstream_port)
    generated = projects["async"]
    source = (generated.path / generated.package / "upstream.py").read_text()
    transport = "httpx-aiohttp" if "httpx_aiohttp" in source else "httpx"
    return Section(mode, results, client_cost, projects["async_aiohttp"].diff, transport)


def targets(section: Section) -> list[Target]:
    return [
        Target(
            f"{result.case.label} <= {WITHIN_REFERENCE}x "
            f"{section.results[result.case.reference].case.label.removeprefix('reference: ')}",
            ratio(section.to_reference(key), 3),
            section.to_reference(key) <= WITHIN_REFERENCE,
        )
        for key, result in section.results.items()
        if result.case.role == "generated"
    ]


def lines(section: Section) -> list[str]:
    mode, results = section.mode, section.results
    rows = []
    for key, result in results.items():
        case = result.case
        if result.skipped:
            rows.append([case.label, case.kind, "", f"skipped: {result.skipped}"] + [""] * 5)
            continue
        to_reference = section.to_reference(key)
        target: str
        if case.role in ("reference", "baseline"):
            target = case.role
        elif case.role == "candidate":
            target = f"({verdict(to_reference <= WITHIN_REFERENCE)})"
        else:
            target = verdict(to_reference <= WITHIN_REFERENCE)
        ideal = ideal_s(mode, case.kind, result.concurrency)
        rows.append(
            [
                case.label,
                case.kind,
                str(result.concurrency),
                f"{seconds(result.wall_s)} ({each(result.walls_s)})",
                seconds(ideal),
                ratio(result.wall_s / ideal),
                ratio(to_reference, 3),
                f"{result.cpu_ms_per_request:.2f}",
                target + (f", {result.errors} failed" if result.errors else ""),
            ]
        )
    header = ["app", "client", "N", "wall s: median (each)", "ideal s", "x ideal",
              "x reference", "app CPU ms/req", "target"]  # fmt: skip
    cost = section.client_cost
    return [
        "## 1. I/O concurrency",
        "",
        f"N concurrent keep-alive requests to `{PATH}`, one per connection, sent once all N "
        f"connections are open; the upstream (raw asyncio) answers after "
        f"{mode.delay_s * 1000:.0f} ms. Wall time from the first request sent to the last "
        f"answer read: median of {mode.io_reps} burst(s) back to back, after a warm-up burst of "
        f"{mode.warmup_concurrency} (the anti-pattern: one burst). Ideal: one "
        f"delay for async clients, ceil(N / {mode.threads}) delays for "
        f"requests in threads (THREAD_POOL_SIZE={mode.threads}). References: aiohttp for async "
        "clients, requests in a `def` handler for blocking ones. App CPU: the server "
        "process's user+system time per request, median over the bursts. Candidates are not "
        "targets: their verdict, in parentheses, says whether they would meet the async one.",
        "",
        *table(header, rows),
        "",
        f"Each client library alone (no FastAPI), CPU per request over "
        f"{mode.client_rounds} round(s) of {mode.client_concurrency} concurrent GETs to the same "
        "upstream:",
        "",
        *table(
            ["httpx.AsyncClient", "httpx over aiohttp", "aiohttp"],
            [
                [
                    f"{cost[name + '_cpu_ms']:.2f} ms"
                    for name in ("httpx", "httpx_aiohttp", "aiohttp")
                ]
            ],
        ),
        "",
    ]


def transport_lines(section: Section) -> list[str]:
    results = section.results
    reference = results["ref_aiohttp"].wall_s
    rows = []
    keys = ("gen_httpx", "cand_httpx", "cand_httpx2", "cand_httpx_aiohttp", "gen_httpx_aiohttp")
    for key in keys:
        result = results[key]
        if result.skipped:
            rows.append([result.case.label, "skipped", result.skipped, ""])
            continue
        to_reference = result.wall_s / reference
        within = "yes" if to_reference <= WITHIN_REFERENCE else "no"
        rows.append([result.case.label, seconds(result.wall_s), ratio(to_reference), within])
    proposed = results["gen_httpx_aiohttp"]
    lines = [
        "## Which transport the httpx variant should use",
        "",
        *table(["client", "wall s", "x aiohttp", f"within {WITHIN_REFERENCE}x"], rows),
        "",
    ]
    if proposed.skipped:
        generated = section.to_reference("gen_httpx")
        outcome = "meets" if generated <= WITHIN_REFERENCE else "does NOT meet"
        own = section.to_reference("cand_httpx")
        return [
            *lines,
            f"The generated httpx variant already uses the {section.template_transport} "
            f"transport (so the proposed change is not measured apart): "
            f"{seconds(results['gen_httpx'].wall_s)} s, "
            f"{ratio(generated)} the aiohttp reference, so it {outcome} the "
            f"{WITHIN_REFERENCE}x target; with httpx's own transport (the hand-written app) it "
            f"would be about {ratio(own)}. Recommendation: keep httpx over httpx-aiohttp's "
            "transport (`HttpxAiohttpClient`, with a refused connection mapped back to 502: "
            "httpx-aiohttp 0.2 reports every aiohttp connection error as "
            "`httpx.ConnectTimeout`).",
            "",
        ]
    measured = section.to_reference("gen_httpx_aiohttp")
    outcome = "meets" if measured <= WITHIN_REFERENCE else "does NOT meet"
    return [
        *lines,
        "Recommendation: httpx over the aiohttp transport (package `httpx-aiohttp`). With the "
        f"change below the generated project takes {seconds(proposed.wall_s)} s, "
        f"{ratio(measured)} the aiohttp reference, and {outcome} the {WITHIN_REFERENCE}x "
        f"target (as generated now: {ratio(section.to_reference('gen_httpx'))}). The client "
        "stays an `httpx.AsyncClient` (HttpxAiohttpClient is a subclass), so the types, the "
        "routes and the tests stay as they are, and it is still built in the worker thread: "
        "`HttpxAiohttpClient.__init__` builds its `AiohttpTransport` and TLS context there, "
        "and aiohttp's session is opened on the loop at the first request. One more change "
        "is needed: httpx-aiohttp 0.2 maps every `aiohttp.ClientConnectionError`, a refused "
        "connection included, to `httpx.ConnectTimeout`, which the generated code would answer "
        "with 504 instead of 502 (the generated test `test_refused_connection_is_502` fails "
        "without it). The change, exactly as measured (`bench/projects.py` applies it to a "
        "generated copy; `tests/test_bench.py` checks that such a copy passes its own ruff, "
        "mypy --strict and test suite):",
        "",
        "```diff",
        section.proposed_diff.rstrip("\n"),
        "```",
        "",
        'plus `"aiohttp>=3.10,<4"` and `"httpx-aiohttp>=0.2,<0.3"` in the generated '
        "`pyproject.toml` dependencies (and in the generator's `test` extra, which already has "
        "them for the benchmark's smoke test).",
        "",
    ]


def findings(section: Section) -> list[str]:
    mode, results, cost = section.mode, section.results, section.client_cost
    generated, reference, plain = (
        results["gen_httpx"],
        results["ref_aiohttp"],
        results["cand_httpx"],
    )
    library_bound = cost["httpx_cpu_ms"] >= 2 * cost["aiohttp_cpu_ms"]
    per_request = (
        f"{mode.concurrency} x {generated.cpu_ms_per_request:.2f} ms = "
        f"{mode.concurrency * generated.cpu_ms_per_request / 1000:.2f} s"
    )
    if section.template_transport == "httpx-aiohttp":
        head = (
            f"- **httpx variant** ({ratio(section.to_reference('gen_httpx'))} aiohttp, over "
            "httpx-aiohttp's transport as generated): the app spends "
            f"{generated.cpu_ms_per_request:.2f} ms of CPU per request against "
            f"{reference.cpu_ms_per_request:.2f} ms with aiohttp; one event loop on one core "
            f"serves the {mode.concurrency} requests, so that is {per_request} above the delay. "
            f"With httpx's own transport (the hand-written app) it takes {seconds(plain.wall_s)} "
            f"s, {ratio(section.to_reference('cand_httpx'))} aiohttp, at "
            f"{plain.cpu_ms_per_request:.2f} ms per request."
        )
    else:
        head = (
            f"- **httpx variant** ({ratio(section.to_reference('gen_httpx'))} aiohttp): the app "
            f"spends {generated.cpu_ms_per_request:.2f} ms of CPU per request against "
            f"{reference.cpu_ms_per_request:.2f} ms with aiohttp (the hand-written httpx app: "
            f"{plain.cpu_ms_per_request:.2f} ms, {seconds(plain.wall_s)} s). One event loop on "
            f"one core serves {mode.concurrency} requests, so CPU per request x N is the wall "
            f"time above the delay: {per_request}."
        )
    found = [
        head + " Alone, without "
        f"FastAPI, httpx costs {cost['httpx_cpu_ms']:.2f} ms per request, aiohttp "
        f"{cost['aiohttp_cpu_ms']:.2f} ms, httpx over aiohttp "
        f"{cost['httpx_aiohttp_cpu_ms']:.2f} ms"
        + (": the cost is in the client library, not the template" if library_bound else "")
        + f". Profiled, {cost['pool_share']:.0%} of httpx's time is under httpcore's "
        "`_assign_requests_to_connections`, which walks every pooled connection and queued "
        "request (checking each idle socket for expiry) on every request and response, and "
        f"{cost['library_check_share']:.0%} under `current_async_library`, called "
        f"{cost['library_checks_per_request']:.0f} times per request",
    ]
    if cost["sniffio_installed"]:
        found[-1] += " (sniffio is installed here)."
    else:
        found[-1] += (
            f", each a failed `import sniffio` ({cost['failed_import_us']:.0f} us; sniffio is not"
            " installed: anyio no longer requires it, and a failed import is not cached). "
            "Both are inside httpcore (encode/httpx#3215); the aiohttp transport bypasses it."
        )
    floor = mode.delay_s + mode.concurrency * reference.cpu_ms_per_request / 1000
    found.append(
        f"- even aiohttp is {ratio(reference.wall_s / mode.delay_s)} the ideal: the upstream "
        f"delay plus N x its CPU per request is {seconds(floor)} s on one core, and its pool "
        f"holds 100 connections (uncapped: {seconds(results['ref_aiohttp_uncapped'].wall_s)} s)."
    )
    for key in ("gen_requests", "gen_mixed"):
        result, ref = results[key], results["ref_requests"]
        found.append(
            f"- {result.case.label}: {ratio(section.to_reference(key))} the `def` reference, "
            f"{ratio(result.wall_s / ideal_s(mode, 'threads', result.concurrency))} the ideal; "
            f"{result.cpu_ms_per_request:.2f} vs {ref.cpu_ms_per_request:.2f} ms CPU per "
            f"request: {mode.threads} threads take turns on one GIL, so requests' own Python "
            "work, not the waits, adds to the ideal."
        )
    blocking = results["base_blocking"]
    if not blocking.skipped:
        found.append(
            f"- the anti-pattern served its {blocking.concurrency} requests one at a time: "
            f"{seconds(blocking.wall_s)} s, {blocking.wall_s / blocking.concurrency * 1000:.0f} "
            "ms per request, as the event loop waits for each blocking call."
        )
    return found
