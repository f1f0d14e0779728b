"""The soak benchmark (issue 18): two generated services under bursty mixed load for a while,
sampled as they go, to show that what they hold stays flat.

    .venv/bin/python -m bench.soak [--quick] [--minutes M] [--out docs/soak.md]

- `celery`: none-none-celery (async handlers, Celery workers over Redis with AOF), its app and
  the README's worker; the load is POST /jobs, GET /jobs/{id}, GET /compute and /health, and
  Redis is restarted once, in the middle.
- `requests`: none-requests-none (sync handlers, requests to an upstream with keep-alive); the
  load is GET /upstream/{id} and /health.

Load comes in bursts (burst_s of CLIENTS clients each on its own keep-alive connection) with
idle gaps longer than anyio's 10 s thread idle time, so that whatever a retired thread held
would pile up. Every SAMPLE_S it records, per service: RSS (with child processes), open fds,
threads, sockets to the upstream, Redis clients, keys and memory, requests answered and their
p50/p99. The report is a table per service, the slope of each series after warm-up (per
minute, fitted by least squares), a plot beside it, and the samples as JSON (same name, .json).
The full run is 10 minutes, in bursts of 12 s; the quick run (60 s, bursts of 4 s: four idle
gaps instead of two, for a third of the load's CPU) is tests/test_soak.py's.
"""

import argparse
import contextlib
import http.client
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

if __name__ == "__main__" and not __package__:  # run as `python bench/soak.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import servers
from bench.common import percentile, table
from tests.process_counts import listening_ports, open_fds, sockets_to, threads

DEFAULT_OUT = servers.ROOT / "docs" / "soak.md"
HOST = "127.0.0.1"
CLIENTS = 24
GAP_S = 11.0  # longer than anyio's 10 s thread idle time
JOB_N = 20_000  # a job of a few ms
RESULT_EXPIRES_S = 120  # JOB_RESULT_EXPIRES_S of the celery service (default 3600)
TIME_LIMIT_S = 60  # JOB_TIME_LIMIT_S of the celery service (default 300)
# The first half of the run is its warm-up, left out of the slopes: the bounds are reached in
# it (Redis's keys, the worker's timers, its pool processes' first recycling). The Redis
# restart comes at its end; the slopes start at the sample after the one it falls in, so that
# they also say whether the service came back flat.
WARM_UP_FRACTION = 0.5
VARIANTS = {
    "celery": {"database": "none", "http_client": "none", "cpu_work": "celery"},
    "requests": {"database": "none", "http_client": "requests", "cpu_work": "none"},
}


@dataclass(frozen=True)
class Settings:
    minutes: float
    sample_s: float
    burst_s: float


FULL = Settings(minutes=10, sample_s=30, burst_s=12)
QUICK = Settings(minutes=1, sample_s=10, burst_s=4)


@dataclass
class Sample:
    at_s: float
    rss_mb: float  # the app, child processes included
    worker_rss_mb: float  # the Celery worker (main process and pool processes), if any
    fds: int
    threads: int
    upstream_sockets: int
    redis_clients: int  # as Redis counts them: the app's, the worker's, the sampler's
    # Connected (ESTABLISHED): as Redis restarts, the connections it cut wait to be closed
    # (CLOSE_WAIT) beside their replacements; those count among the fds.
    app_redis_sockets: int
    worker_redis_sockets: int  # main process and pool processes
    redis_keys: int
    redis_memory_mb: float
    requests: int
    errors: int
    p50_ms: float
    p99_ms: float


@dataclass
class Service:
    name: str
    app_pid: int
    worker_pid: int = 0
    upstream_port: int = 0
    redis_port: int = 0
    samples: list[Sample] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


# /proc


def _tree(pid: int) -> list[int]:
    """`pid` and its descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError):
                stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
                children.setdefault(int(stat[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += children.get(current, [])
    return found


def _rss_mb(pid: int) -> float:
    total = 0
    for member in _tree(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total / 1024


def _sockets_to(pid: int, port: int, *, established_only: bool = False) -> int:
    """0 for a process that has exited (a pool process replaced meanwhile)."""
    try:
        counted = sockets_to(pid, port)
    except FileNotFoundError:
        return 0
    return counted["ESTABLISHED"] if established_only else counted.total()


def _redis_info(port: int) -> tuple[int, int, float]:
    """(clients connected, keys, used memory in MB); zeros while Redis is down."""
    import redis

    try:
        with redis.Redis(host=HOST, port=port, socket_timeout=2) as client:
            info = client.info()
            return (
                int(info["connected_clients"]) - 1,
                int(client.dbsize()),
                info["used_memory"] / 2**20,
            )
    except redis.RedisError:
        return 0, 0, 0.0


# load


def _call(
    connection: http.client.HTTPConnection, method: str, path: str, body: object = None
) -> tuple[int, object]:
    data = None if body is None else json.dumps(body)
    headers = {"Content-Type": "application/json"} if data else {}
    connection.request(method, path, body=data, headers=headers)
    response = connection.getresponse()
    return response.status, json.loads(response.read() or b"null")


def _client(service: Service, port: int, until: float, rng: random.Random) -> None:
    """One client on its own keep-alive connection, sending the service's mix until `until`."""
    connection = http.client.HTTPConnection(HOST, port, timeout=60)
    jobs: list[str] = []
    try:
        while time.monotonic() < until:
            if service.name == "celery":
                pick = rng.random()
                if pick < 0.3:
                    request: tuple[str, str, object] = ("POST", "/jobs", {"n": JOB_N})
                elif pick < 0.5 and jobs:
                    request = ("GET", f"/jobs/{jobs.pop(0)}", None)
                elif pick < 0.9:
                    request = ("GET", f"/compute?n={JOB_N}", None)
                else:
                    request = ("GET", "/health", None)
            else:
                path = "/health" if rng.random() < 0.1 else f"/upstream/{rng.randint(1, 10**6)}"
                request = ("GET", path, None)
            started = time.perf_counter()
            try:
                status, body = _call(connection, *request)
            except (OSError, http.client.HTTPException, ValueError):
                connection.close()
                connection = http.client.HTTPConnection(HOST, port, timeout=60)
                with service.lock:
                    service.errors += 1
                continue
            elapsed_ms = 1000 * (time.perf_counter() - started)
            if status == 202 and isinstance(body, dict):
                jobs.append(body["id"])
            with service.lock:
                service.latencies_ms.append(elapsed_ms)
                service.statuses[status] = service.statuses.get(status, 0) + 1
    finally:
        connection.close()


def _burst(service: Service, port: int, seconds: float, seed: int) -> None:
    until = time.monotonic() + seconds
    clients = [
        threading.Thread(target=_client, args=(service, port, until, random.Random(seed + i)))
        for i in range(CLIENTS)
    ]
    for client in clients:
        client.start()
    for client in clients:
        client.join()


def _sample(service: Service, started: float) -> Sample:
    with service.lock:
        latencies, service.latencies_ms = service.latencies_ms, []
        errors, service.errors = service.errors, 0
    clients, keys, memory = _redis_info(service.redis_port) if service.redis_port else (0, 0, 0.0)
    return Sample(
        at_s=round(time.monotonic() - started, 1),
        rss_mb=round(_rss_mb(service.app_pid), 1),
        worker_rss_mb=round(_rss_mb(service.worker_pid), 1) if service.worker_pid else 0.0,
        fds=open_fds(service.app_pid),
        threads=threads(service.app_pid),
        upstream_sockets=_sockets_to(service.app_pid, service.upstream_port)
        if service.upstream_port
        else 0,
        redis_clients=clients,
        app_redis_sockets=_sockets_to(service.app_pid, service.redis_port, established_only=True)
        if service.redis_port
        else 0,
        worker_redis_sockets=sum(
            _sockets_to(member, service.redis_port, established_only=True)
            for member in _tree(service.worker_pid)
        )
        if service.worker_pid
        else 0,
        redis_keys=keys,
        redis_memory_mb=round(memory, 2),
        requests=len(latencies),
        errors=errors,
        p50_ms=round(percentile(latencies, 50), 1) if latencies else 0.0,
        p99_ms=round(percentile(latencies, 99), 1) if latencies else 0.0,
    )


# processes


class Redis:
    """redis-server with AOF (as compose runs it) on a fixed port, restartable."""

    def __init__(self, directory: Path) -> None:
        self.port = servers.free_port()
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", HOST, "--save", "",
             "--appendonly", "yes", "--appendfsync", "everysec", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 20
        while not self._pings():
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)

    def _pings(self) -> bool:
        with contextlib.suppress(OSError), socket.create_connection((HOST, self.port), 1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
        return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=20)


def _generate(root: Path) -> dict[str, tuple[Path, str]]:
    from fastapi_scaffold import api

    generated = {}
    for name, answers in VARIANTS.items():
        package = f"soak_{name}"
        path = api.generate(root / package, {"package_name": package, **answers}, defaults=True)
        generated[name] = (path, package)
    return generated


def _app_spec(name: str, path: Path, package: str, env: dict[str, str]) -> servers.Spec:
    return servers.uvicorn_spec(
        name, f"{package}.main:app", path, env, f"{package}.server:HttpProtocol"
    )


def _worker_spec(path: Path, package: str, env: dict[str, str]) -> servers.Spec:
    def argv(port: int) -> tuple[str, ...]:
        return (servers.PYTHON, "-m", "celery", "-A", f"{package}.tasks", "worker",
                "--pool=prefork", "--concurrency=2", "--without-gossip", "--without-mingle",
                "--loglevel=WARNING")  # fmt: skip

    return servers.Spec("worker", argv, path, {**os.environ, **env}, ready=lambda port: True)


def _upstream_spec() -> servers.Spec:
    def argv(port: int) -> tuple[str, ...]:
        return (servers.PYTHON, "-m", "bench.upstream", str(port), "0.005")

    return servers.Spec("upstream", argv, servers.ROOT, dict(os.environ), ready_path="/items/1")


@contextlib.contextmanager
def _services(root: Path, logs: Path) -> Iterator[tuple[dict[str, Service], Redis]]:
    generated = _generate(root)
    with contextlib.ExitStack() as stack:
        redis = Redis(root / "redis")
        redis.directory.mkdir()
        redis.start()
        stack.callback(redis.stop)
        [upstream] = stack.enter_context(servers.running([_upstream_spec()], logs)).values()
        celery_env = {
            "REDIS_URL": f"redis://{HOST}:{redis.port}/0",
            # Short, so that the keys POST /jobs leaves reach their bound within the run.
            "JOB_RESULT_EXPIRES_S": str(RESULT_EXPIRES_S),
            # Short, so that the time-limit timers a worker keeps reach their bound too.
            "JOB_TIME_LIMIT_S": str(TIME_LIMIT_S),
        }
        requests_env = {"UPSTREAM_URL": f"http://{HOST}:{upstream.port}"}
        celery_path, celery_package = generated["celery"]
        requests_path, requests_package = generated["requests"]
        specs = [
            _app_spec("celery", celery_path, celery_package, celery_env),
            _worker_spec(celery_path, celery_package, celery_env),
            _app_spec("requests", requests_path, requests_package, requests_env),
        ]
        started = stack.enter_context(servers.running(specs, logs))
        celery = Service(
            "celery", started["celery"].process.pid, started["worker"].process.pid,
            redis_port=redis.port,
        )  # fmt: skip
        requests = Service("requests", started["requests"].process.pid, upstream_port=upstream.port)
        deadline = time.monotonic() + 60
        while _call_status(started["celery"].port, "/ready") != 200:
            assert time.monotonic() < deadline, "the celery service never got ready"
            time.sleep(0.2)
        yield {"celery": celery, "requests": requests}, redis
        for name, server in started.items():
            with contextlib.suppress(OSError):
                (logs / f"{name}.port").write_text(str(server.port))


def _call_status(port: int, path: str) -> int:
    connection = http.client.HTTPConnection(HOST, port, timeout=5)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    except OSError:
        return 0
    finally:
        connection.close()


def run(settings: Settings, root: Path, logs: Path) -> dict[str, Service]:
    with _services(root, logs) as (services, redis):
        ports = {name: _port_of(service) for name, service in services.items()}
        started = time.monotonic()
        end = started + 60 * settings.minutes
        restart_at = started + 30 * settings.minutes  # the middle
        restarted = False
        next_sample = started + settings.sample_s
        seed = 0
        load: list[threading.Thread] = []
        phase_end = started
        loading = False
        while time.monotonic() < end:
            now = time.monotonic()
            if now >= phase_end:
                # Not joined here: a client may still wait for a slow answer (a /compute across
                # the Redis restart), and sampling goes on meanwhile.
                loading = not loading
                phase_end = min(end, now + (settings.burst_s if loading else GAP_S))
                if loading:
                    for name, service in services.items():
                        thread = threading.Thread(
                            target=_burst, args=(service, ports[name], phase_end - now, seed)
                        )
                        thread.start()
                        load.append(thread)
                        seed += CLIENTS
            if not restarted and now >= restart_at:
                redis.stop()
                time.sleep(1)
                redis.start()
                restarted = True
            if now >= next_sample:
                for service in services.values():
                    service.samples.append(_sample(service, started))
                next_sample += settings.sample_s
            time.sleep(0.05)
        for thread in load:
            thread.join()
        return services


def _port_of(service: Service) -> int:
    """The port the app listens on, read from /proc (its listening socket)."""
    ports = listening_ports(service.app_pid)
    if not ports:
        raise RuntimeError(f"{service.name} listens on no port")
    return ports[0]


# report

SERIES = (
    "rss_mb",
    "worker_rss_mb",
    "fds",
    "threads",
    "upstream_sockets",
    "redis_clients",
    "app_redis_sockets",
    "worker_redis_sockets",
    "redis_keys",
    "redis_memory_mb",
)


def slope_per_minute(samples: Sequence[Sample], series: str) -> float:
    """The Theil-Sen slope of `series` after warm-up, per minute: the median of the slopes
    between every two samples, which a few outliers (a pool process being replaced as it is
    sampled, a burst's peak) do not move, as they move a least-squares fit."""
    points = [(s.at_s / 60, float(getattr(s, series))) for s in after_warm_up(samples)]
    slopes = [
        (y2 - y1) / (x2 - x1)
        for i, (x1, y1) in enumerate(points)
        for x2, y2 in points[i + 1 :]
        if x2 != x1
    ]
    return statistics.median(slopes) if slopes else 0.0


def render(settings: Settings, services: dict[str, Service]) -> str:
    lines = [
        "# Soak benchmark",
        "",
        f"`python -m bench.soak` ({settings.minutes:g} min, "
        f"a sample every {settings.sample_s:g} s; "
        f"bursts of {settings.burst_s:g} s by {CLIENTS} clients per service, "
        f"then {GAP_S:g} s idle; "
        "Redis restarted once, in the middle). RSS includes child processes (the worker's: "
        "its pool processes). The Redis sockets are the connected ones (ESTABLISHED): "
        "those Redis's restart cut, not yet closed, count among the fds. The celery service "
        "runs with "
        f"JOB_RESULT_EXPIRES_S={RESULT_EXPIRES_S} and JOB_TIME_LIMIT_S={TIME_LIMIT_S}, so that "
        "Redis's keys (jobs/s x 2 x JOB_RESULT_EXPIRES_S) and the time-limit timers the "
        "worker's main process keeps (jobs/s x JOB_TIME_LIMIT_S) reach their bounds in the "
        "warm-up.",
    ]
    for name, service in services.items():
        header = ["at s", *SERIES, "requests", "errors", "p50 ms", "p99 ms"]
        rows = [[str(v) for v in asdict(sample).values()] for sample in service.samples]
        slopes = {series: slope_per_minute(service.samples, series) for series in SERIES}
        lines += ["", f"## {name}: {VARIANTS[name]}", "", *table(header, rows), ""]
        lines.append(
            "Slope per minute after the warm-up (the first half of the run) and the restart: "
            + ", ".join(f"{series} {slope:+.3g}" for series, slope in slopes.items())
            + "."
        )
        lines.append(f"Statuses: {dict(sorted(service.statuses.items()))}.")
        drifting = [
            series
            for series, slope in slopes.items()
            if not flat(service.samples, series, slope, settings.minutes)
        ]
        lines.append(
            "Growing after warm-up (fitted growth over the run above 5% of the series' mean): "
            + (", ".join(drifting) if drifting else "none")
            + "."
        )
    return "\n".join(lines) + "\n"


def after_warm_up(samples: Sequence[Sample]) -> Sequence[Sample]:
    """The samples after the warm-up (WARM_UP_FRACTION of the run; the first one at least)."""
    if not samples:
        return samples
    start = WARM_UP_FRACTION * samples[-1].at_s
    return [sample for sample in samples[1:] if sample.at_s >= start][1:]


def flat(samples: Sequence[Sample], series: str, slope: float, minutes: float) -> bool:
    """Whether the fitted growth over the whole run stays within 5% of the series' mean (or
    within 2, for small counts): a leak grows; a count that falls (connections a restart
    dropped) or swings with the bursts is no leak."""
    values = [float(getattr(sample, series)) for sample in after_warm_up(samples)]
    mean = sum(values) / len(values) if values else 0.0
    return slope * minutes <= max(0.05 * mean, 2.0)


def plot(services: dict[str, Service], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(len(SERIES), 1, figsize=(10, 3 * len(SERIES)), sharex=True)
    for ax, series in zip(axes, SERIES, strict=True):
        for name, service in services.items():
            values = [getattr(sample, series) for sample in service.samples]
            times = [sample.at_s for sample in service.samples]
            ax.plot(times, values, marker="o", label=name)
        ax.set_ylabel(series)
        ax.legend()
    axes[-1].set_xlabel("seconds")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="60 s, a sample every 10 s")
    parser.add_argument("--minutes", type=float, help="how long (default: 10, or 1 --quick)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument(
        "--render", action="store_true", help="write the report again from --out's .json"
    )
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL
    if args.minutes:
        settings = Settings(args.minutes, settings.sample_s, settings.burst_s)
    out: Path = args.out.absolute()
    if args.render:
        services = _services_from(json.loads(out.with_suffix(".json").read_text()))
    else:
        with tempfile.TemporaryDirectory(prefix="soak-") as tmp, servers.log_directory() as logs:
            services = run(settings, Path(tmp), logs)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(settings, services))
    plot(services, out.with_suffix(".png"))
    samples = {name: [asdict(s) for s in service.samples] for name, service in services.items()}
    statuses = {name: service.statuses for name, service in services.items()}
    out.with_suffix(".json").write_text(
        json.dumps({"samples": samples, "statuses": statuses}, indent=1)
    )
    print(out.read_text())
    return 0


def _services_from(saved: dict[str, Any]) -> dict[str, Service]:
    services = {}
    for name, samples in saved["samples"].items():
        service = Service(name, app_pid=0)
        service.samples = [Sample(**sample) for sample in samples]
        service.statuses = {int(k): v for k, v in saved["statuses"][name].items()}
        services[name] = service
    return services


if __name__ == "__main__":
    raise SystemExit(main())
