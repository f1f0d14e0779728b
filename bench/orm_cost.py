"""Part 6: the ORM's cost. `GET /items/{id}` and `POST /items` throughput of each SQLAlchemy
variant against the raw-driver variant of the same family (async: asyncpg; sync and mixed:
psycopg2), served side by side against one throwaway PostgreSQL, in alternating rounds; the
server CPU each request costs; and where an ORM app's CPU goes, sampled by py-spy (every
thread) while it serves reads."""

import collections
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2

from bench import load, servers
from bench.common import Mode, Target, median, percentile, ratio, table, verdict
from tests.template_helpers import postgres

RATIO_TARGET = 0.7
SEED_ROWS = 1_000
POST_BODY = b'{"name": "bench"}'


@dataclass(frozen=True)
class Family:
    key: str
    label: str
    database: str
    http_client: str


FAMILIES = (
    Family("async", "async: asyncpg / AsyncSession", "asyncpg", "none"),
    Family("sync", "sync: psycopg2 / Session in `def` handlers", "psycopg2", "none"),
    Family("mixed", "mixed: psycopg2 / Session offloaded (with httpx)", "psycopg2", "httpx"),
)
# (label, method, path, status)
ENDPOINTS = (("GET /items/{id}", "GET", "/items/1", 200), ("POST /items", "POST", "/items", 201))
# Where a sampled stack's innermost frame is: the library that spent the time.
LIBRARIES = ("sqlalchemy", "asyncpg", "psycopg2", "fastapi", "starlette", "pydantic", "anyio",
             "uvicorn", "httptools", "uvloop", "asyncio", "threading", "concurrent")  # fmt: skip


@dataclass
class Row:
    family: Family
    endpoint: str
    raw_rates: list[float] = field(default_factory=list)
    orm_rates: list[float] = field(default_factory=list)
    raw_cpu_us: list[float] = field(default_factory=list)
    orm_cpu_us: list[float] = field(default_factory=list)
    errors: int = 0

    @property
    def ratios(self) -> list[float]:
        return [orm / raw for orm, raw in zip(self.orm_rates, self.raw_rates, strict=True)]

    @property
    def ratio(self) -> float:
        return median(self.ratios)

    @property
    def extra_cpu_us(self) -> float:
        return median(self.orm_cpu_us) - median(self.raw_cpu_us)


@dataclass
class Section:
    mode: Mode
    rows: list[Row]
    # family key -> library -> share of the ORM app's CPU samples, and sqlalchemy's inclusive
    profiles: dict[str, dict[str, float]] = field(default_factory=dict)
    sampled: dict[str, int] = field(default_factory=dict)

    @property
    def errors(self) -> int:
        return sum(row.errors for row in self.rows)


def _generate(root: Path) -> dict[str, tuple[Path, str]]:
    from fastapi_scaffold import api

    made = {}
    for family in FAMILIES:
        for orm in ("none", "sqlalchemy"):
            package = f"orm_{family.key}_{orm}"
            answers = {"package_name": package, "database": family.database, "orm": orm}
            answers |= {"http_client": family.http_client, "cpu_work": "none"}
            made[f"{family.key}-{orm}"] = (api.generate(root / package, answers, defaults=True),
                                           package)  # fmt: skip
    return made


def _database(server_url: str, name: str, project: Path) -> str:
    """A database for one app: migrated as the README says, with SEED_ROWS items."""
    with contextlib.closing(psycopg2.connect(server_url)) as admin:
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
    url: str = postgres.with_database(server_url, name)
    subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"],
        cwd=project, env={**os.environ, "DATABASE_URL": url},
        capture_output=True, check=True, timeout=120,
    )  # fmt: skip
    with contextlib.closing(psycopg2.connect(url)) as conn, conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO items (name) SELECT 'seed ' || n FROM generate_series(1, %s) AS n",
            (SEED_ROWS,),
        )
    return url


def _request(endpoint: tuple[str, str, str, int], port: int) -> bytes:
    _, method, path, _ = endpoint
    return (
        load.post_bytes(path, port, POST_BODY)
        if method == "POST"
        else load.request_bytes(path, port)
    )


def _load(mode: Mode, server: servers.Server, endpoint: tuple[str, str, str, int], total: int
          ) -> tuple[float, float, int]:  # fmt: skip
    """(requests/s, server CPU us per request, failed requests)."""
    _, _, path, status = endpoint
    before = server.cpu_seconds()
    measured = load.run(
        load.throughput(server.port, path, total, mode.rps_connections, 60 + total / 100,
                        request=_request(endpoint, server.port), expected_status=status)
    )  # fmt: skip
    cpu_us = (server.cpu_seconds() - before) * 1e6 / measured.requests
    return measured.per_second, cpu_us, measured.tally.errors


def _profile(mode: Mode, server: servers.Server) -> tuple[dict[str, float], int]:
    """py-spy's samples of every thread of the server while it serves reads (see _shares)."""
    duration_s = max(1, round(mode.orm_profile_s))
    with tempfile.TemporaryDirectory(prefix="bench-pyspy-") as directory:
        out = Path(directory) / "stacks.txt"
        spy = subprocess.Popen(
            [str(Path(sys.executable).parent / "py-spy"), "record", "--pid",
             str(server.process.pid), "--duration", str(duration_s), "--rate", "200",
             "--format", "raw", "--output", str(out), "--nonblocking", "--gil"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + duration_s
            while spy.poll() is None and time.monotonic() < deadline:
                _load(mode, server, ENDPOINTS[0], mode.rps_requests // 4)
            spy.wait(timeout=duration_s + 30)
        finally:
            if spy.poll() is None:
                spy.kill()
                spy.wait()
        return _shares(out)


def _library(frame: str) -> str:
    for name in LIBRARIES:
        if f"({name}/" in frame or f"({name}.py" in frame:
            return name
    return "the app and the rest"


def _shares(stacks: Path) -> tuple[dict[str, float], int]:
    """Each library's share of the samples (by innermost frame), and SQLAlchemy's share of
    the samples with any of its frames on the stack."""
    by_library: collections.Counter[str] = collections.Counter()
    inside_sqlalchemy = total = 0
    if not stacks.exists():
        return {}, 0
    for line in stacks.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        by_library[_library(frames[-1])] += count
        inside_sqlalchemy += count * any("(sqlalchemy/" in frame for frame in frames)
    if not total:
        return {}, 0
    shares = {name: count / total for name, count in by_library.most_common()}
    shares["sqlalchemy (inclusive)"] = inside_sqlalchemy / total
    return shares, total


def measure(mode: Mode, root: Path, logs: Path) -> Section:
    rows = [Row(family, endpoint[0]) for family in FAMILIES for endpoint in ENDPOINTS]
    section = Section(mode, rows)
    projects = _generate(root)
    with postgres.throwaway_cluster() as cluster:
        specs = []
        for key, (path, package) in projects.items():
            url = _database(cluster.url, key.replace("-", "_"), path)
            # A long pool timeout: this part measures throughput, and on a busy machine a
            # request may wait for one of the 10 connections longer than the default 5 s.
            env = {"DATABASE_URL": url, "THREAD_POOL_SIZE": str(mode.threads),
                   "DB_POOL_TIMEOUT_S": "60", "UPSTREAM_URL": "http://127.0.0.1:9"}  # fmt: skip
            specs.append(servers.uvicorn_spec(key, f"{package}.main:app", path, env))
        with servers.running(specs, logs) as started:
            for server in started.values():
                for endpoint in ENDPOINTS:
                    _load(mode, server, endpoint, mode.rps_warmup)
            for round_number in range(mode.orm_reps):
                for row in rows:
                    endpoint = next(e for e in ENDPOINTS if e[0] == row.endpoint)
                    order = ("none", "sqlalchemy") if round_number % 2 else ("sqlalchemy", "none")
                    for orm in order:
                        rate, cpu_us, errors = _load(
                            mode, started[f"{row.family.key}-{orm}"], endpoint, mode.rps_requests
                        )
                        (row.raw_rates if orm == "none" else row.orm_rates).append(rate)
                        (row.raw_cpu_us if orm == "none" else row.orm_cpu_us).append(cpu_us)
                        row.errors += errors
            for family in FAMILIES:
                server = started[f"{family.key}-sqlalchemy"]
                section.profiles[family.key], section.sampled[family.key] = _profile(mode, server)
    for row in rows:
        print(f"  {row.family.key} {row.endpoint}: {ratio(row.ratio)} raw", file=sys.stderr)
    return section


def _met(section: Section) -> bool:
    return all(row.ratio >= RATIO_TARGET for row in section.rows)


def targets(section: Section) -> list[Target]:
    worst = min(section.rows, key=lambda row: row.ratio)
    return [
        Target(
            f"each SQLAlchemy variant's GET /items/{{id}} and POST /items throughput >= "
            f"{RATIO_TARGET}x the raw driver's, same family",
            f"lowest {ratio(worst.ratio)} ({worst.family.key}, {worst.endpoint})",
            _met(section),
        )
    ]


def lines(section: Section) -> list[str]:
    mode = section.mode
    rows = []
    for row in section.rows:
        rows.append(
            [
                row.family.label,
                row.endpoint,
                f"{median(row.raw_rates):.0f}",
                f"{median(row.orm_rates):.0f}",
                f"{ratio(row.ratio)} ({percentile(row.ratios, 25):.2f}-"
                f"{percentile(row.ratios, 75):.2f})",
                f"{median(row.raw_cpu_us):.0f}",
                f"{median(row.orm_cpu_us):.0f}",
                f"{row.extra_cpu_us:+.0f}",
                verdict(row.ratio >= RATIO_TARGET)
                + (f", {row.errors} failed" if row.errors else ""),
            ]
        )
    header = ["family", "endpoint", "raw req/s", "ORM req/s", "ORM / raw: median (IQR)",
              "raw CPU us/req", "ORM CPU us/req", "ORM's extra us/req", "target"]  # fmt: skip
    profile_rows = []
    for family in FAMILIES:
        shares = section.profiles.get(family.key, {})
        orm_cpu = median(next(r for r in section.rows if r.family is family).orm_cpu_us)
        top = [(name, share) for name, share in shares.items() if "inclusive" not in name][:6]
        profile_rows.append(
            [
                family.label,
                str(section.sampled.get(family.key, 0)),
                f"{shares.get('sqlalchemy (inclusive)', 0):.0%} "
                f"(~{shares.get('sqlalchemy (inclusive)', 0) * orm_cpu:.0f} us/req)",
                ", ".join(f"{name} {share:.0%}" for name, share in top),
            ]
        )
    return [
        "## 6. The ORM's cost",
        "",
        f"Each family's raw-driver variant and its SQLAlchemy variant (generated with "
        f"`cpu_work=none`), served side by side, each on a database of its own in one "
        f"throwaway PostgreSQL with {SEED_ROWS} items: {mode.orm_reps} rounds of "
        f"{mode.rps_requests} requests per app and endpoint over {mode.rps_connections} "
        "keep-alive connections, raw and ORM taking turns (which goes first alternates), after "
        f"a warm-up of {mode.rps_warmup}. `GET /items/1` reads one row; `POST /items` inserts "
        "one. ORM / raw: the median, over the rounds, of the ORM app's throughput over the raw "
        "app's in the same round (IQR: the run's noise). CPU: the server process's, all threads.",
        "",
        *table(header, rows),
        "",
        f"Where an ORM app's CPU goes, serving `GET /items/1`: py-spy samples at 200 Hz for "
        f"{mode.orm_profile_s:.0f} s of whichever thread holds the GIL (`--gil`: Python running, "
        "not waiting for the database). SQLAlchemy "
        "inclusive: samples with any SQLAlchemy frame on the stack, and that share of the CPU "
        "per request; then each library's share by the innermost frame (the app and the rest: "
        "Python's own and the generated code).",
        "",
        *table(["family", "samples", "SQLAlchemy, inclusive", "innermost frame"], profile_rows),
        "",
    ]


def findings(section: Section) -> list[str]:
    worst = min(section.rows, key=lambda row: row.ratio)
    extra = {f"{row.family.key} {row.endpoint}": row.extra_cpu_us for row in section.rows}
    text = (
        f"- **the ORM's cost**: the SQLAlchemy variants serve {ratio(worst.ratio)} to "
        f"{ratio(max(row.ratio for row in section.rows))} the throughput of the raw driver of "
        f"their family, and {'meet' if _met(section) else 'MISS'} the {RATIO_TARGET}x target "
        f"(lowest: {worst.family.key}, {worst.endpoint}). Extra server CPU per request: "
        + ", ".join(f"{name} {value:+.0f} us" for name, value in extra.items())
        + ". Their sessions make the same round trips as the raw paths (no pre-ping: a pooled "
        "connection the server closed is found at checkout without one; the async engine "
        "commits each statement by itself, as asyncpg's raw queries do, so no BEGIN/ROLLBACK "
        "around one SELECT), and a request makes one thread hop in the sync style. The routes "
        "run the mapped table's statements through the session, loading no ORM objects: what "
        "SQLAlchemy adds is Python, its own for the most part (its inclusive share above: the "
        "session and its transaction, the connection checkout and its events, the statement's "
        "cache key and execution context, and, async, greenlet switches)."
    )
    return [text]
