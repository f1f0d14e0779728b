"""Starting and stopping the processes under test: each in its own process group, on a port the
OS hands out, and always killed (workers included) when its `with` block ends."""

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
# The same for every app: uvloop, httptools, one worker, no access log. A generated project is
# served with its own protocol (httptools with its limits: server.py), as its README says.
UVICORN_OPTIONS = ("--loop", "uvloop", "--http", "httptools", "--no-access-log")
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_PORT_ATTEMPTS = 3


class ServerFailed(Exception):
    """A server exited or did not answer in time."""


def cores() -> int:
    return os.cpu_count() or 1


def free_port() -> int:
    """A port nothing listens on now (another process may take it before it is bound: `running`
    starts a server again on a new port when that happens)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class Spec:
    """How to start one server on a given port, and the path that answers 200 once it serves."""

    name: str
    argv: Callable[[int], Sequence[str]]
    cwd: Path
    env: Mapping[str, str]
    ready_path: str = "/health"
    # Whether it serves, given its port, for what is not an HTTP server (Redis, a Celery
    # worker); by default, whether ready_path answers 200.
    ready: Callable[[int], bool] | None = None

    def serves(self, port: int) -> bool:
        return self.ready(port) if self.ready is not None else _answers(port, self.ready_path)


def uvicorn_spec(
    name: str, app: str, cwd: Path, env: Mapping[str, str] | None = None, http: str = "httptools"
) -> Spec:
    """`http`: uvicorn's --http, "httptools" or a project's `<package>.server:HttpProtocol`."""
    options = [http if option == "httptools" else option for option in UVICORN_OPTIONS]

    def argv(port: int) -> Sequence[str]:
        bind = ("--host", "127.0.0.1", "--port", str(port))
        return (PYTHON, "-m", "uvicorn", app, *bind, *options)

    return Spec(name, argv, cwd, {**os.environ, **(env or {})})


@dataclass
class Server:
    spec: Spec
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process (its threads included)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS

    def lower_priority(self, nice: int) -> None:
        """Every process of its group to `nice` (as `nice -n` would have started them; raising
        it back needs privileges)."""
        os.setpriority(os.PRIO_PGRP, self.process.pid, nice)

    def log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return self.log.read_text(errors="replace")[-2000:]
        return ""


def _start(spec: Spec, log_dir: Path) -> Server:
    port = free_port()
    log = log_dir / f"{spec.name}-{port}.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            list(spec.argv(port)),
            cwd=spec.cwd,
            env=dict(spec.env),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: killed with its workers
        )
    return Server(spec, port, process, log)


def _answers(port: int, path: str) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", path)
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def _signal_group(process: subprocess.Popen[bytes], signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)


def stop_all(processes: Sequence[subprocess.Popen[bytes]], grace_s: float = 10) -> None:
    """SIGTERM to every process group at once, a grace period for them to exit, then SIGKILL
    to whatever is left of each group (workers that outlived their server included)."""
    for process in processes:
        _signal_group(process, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for process in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
    for process in processes:
        _signal_group(process, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)


@contextlib.contextmanager
def running(
    specs: Sequence[Spec], log_dir: Path, timeout_s: float = 60
) -> Iterator[dict[str, Server]]:
    """Start every server at once (they start in parallel), wait until each serves (answers its
    ready path), yield them by name, and kill them all, whatever happens."""
    started: list[Server] = []  # every process started, to kill them all in the end
    ready: dict[str, Server] = {}
    try:
        pending = {spec.name: _start(spec, log_dir) for spec in specs}
        started += pending.values()
        attempts = dict.fromkeys(pending, 1)
        deadline = time.monotonic() + timeout_s
        while pending:
            for name, server in list(pending.items()):
                if server.spec.serves(server.port):
                    ready[name] = pending.pop(name)
                elif server.process.poll() is not None:
                    log = server.log_tail()
                    if "already in use" not in log or attempts[name] >= _PORT_ATTEMPTS:
                        raise ServerFailed(f"{name} exited:\n{log}")
                    attempts[name] += 1  # another process took its port first
                    pending[name] = _start(server.spec, log_dir)
                    started.append(pending[name])
            if pending and time.monotonic() > deadline:
                names = ", ".join(pending)
                raise ServerFailed(f"{names} did not answer within {timeout_s} s")
            time.sleep(0.05)
        yield ready
    finally:
        stop_all([server.process for server in started])


@contextlib.contextmanager
def log_directory() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="bench-logs-") as directory:
        yield Path(directory)


def timed_command(argv: Sequence[str], cwd: Path, timeout_s: float = 120) -> float:
    """Wall time of one command, which must succeed."""
    started = time.perf_counter()
    result = subprocess.run(
        list(argv), cwd=cwd, capture_output=True, timeout=timeout_s, check=False
    )
    wall = time.perf_counter() - started
    if result.returncode != 0:
        output = (result.stdout + result.stderr).decode(errors="replace")[-2000:]
        msg = f"{' '.join(argv)} exited {result.returncode}:\n{output}"
        raise ServerFailed(msg)
    return wall
