"""Generated projects, served as their README says (alembic upgrade head, then its uvicorn
command, and its Celery worker command) for the tests that call them over HTTP, and stopped
with SIGTERM, which must shut them down cleanly."""

import contextlib
import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from tests.template_helpers import postgres

BIN = Path(sys.executable).parent
STARTUP_TIMEOUT_S = 30
SHUTDOWN_TIMEOUT_S = 20


def run(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
    result = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, (
        f"{' '.join(command)} failed in {cwd}:\n{result.stdout}\n{result.stderr}"
    )


def request_json(method: str, url: str, body: object = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, None


def readme_command(project: Path, program: str) -> list[str]:
    """The command of the README's "Run" block that starts `program` (uvicorn, celery)."""
    readme = (project / "README.md").read_text()
    block = readme.split("## Run\n", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    for line in block.splitlines():
        words = shlex.split(line, comments=True)
        if words and words[0] == program:
            return words
    raise AssertionError(f"the README of {project.name} runs no {program}:\n{block}")


def wait_until_ready(base: str, timeout_s: float = STARTUP_TIMEOUT_S) -> None:
    """Until GET /ready answers 200: the database answers, a Celery worker is alive."""
    deadline = time.monotonic() + timeout_s
    while (status := request_json("GET", f"{base}/ready")[0]) != 200:
        assert time.monotonic() < deadline, f"/ready still answers {status}"
        time.sleep(0.1)


def read_log(log: IO[str]) -> str:
    log.seek(0)
    text = log.read()
    log.seek(0, os.SEEK_END)  # the worker goes on appending
    return text


def _wait_until_serving(server: subprocess.Popen[str], url: str) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        assert server.poll() is None, f"uvicorn exited with {server.returncode} at start-up"
        with contextlib.suppress(OSError):
            if request_json("GET", url)[0] == 200:
                return
        time.sleep(0.1)
    raise AssertionError(f"{url} did not answer within {STARTUP_TIMEOUT_S} s")


def _wait_until_consuming(worker: subprocess.Popen[str], redis_url: str) -> None:
    """Until the worker answers a ping: its remote control starts after its task consumer, so a
    job published from then on is taken. A worker says it is alive (the app's /ready) as it
    starts, which on a loaded machine can be seconds before it consumes."""
    from celery import Celery
    from redis.exceptions import ConnectionError as RedisConnectionError

    control = Celery(broker=redis_url)
    deadline = time.monotonic() + 2 * STARTUP_TIMEOUT_S
    try:
        while True:
            with contextlib.suppress(RedisConnectionError):  # pooled; idle too long for Redis
                if control.control.ping(timeout=0.5, limit=1):
                    return
            assert worker.poll() is None, "the worker exited at start-up"
            assert time.monotonic() < deadline, "the worker answered no ping"
    finally:
        control.close()


def _stacks(pid: int) -> str:
    """py-spy's dump of every thread of `pid` and of its children (a prefork pool's)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return f"process {pid} is gone"
    dumps = []
    for process in [str(pid), *children]:
        dumped = subprocess.run(
            [str(Path(sys.executable).parent / "py-spy"), "dump", "--pid", process],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        dumps.append(f"process {process}:\n{dumped.stdout}{dumped.stderr}")
    return "\n".join(dumps)


def _stop(server: subprocess.Popen[str]) -> None:
    """SIGTERM, as a process manager stops it; the whole process group is killed if it hangs."""
    if server.poll() is not None:
        return
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=SHUTDOWN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


@contextlib.contextmanager
def served(project: Path, package: str, env: dict[str, str]) -> Iterator[str]:
    """Serve the project on a free port of 127.0.0.1 and yield its base URL.

    A project with a database is migrated first (`alembic upgrade head`, as its README says).
    On leaving the block the app gets SIGTERM and must shut down cleanly: lifespan's shutdown
    completes, with no traceback anywhere in its log. If the block raised, uvicorn's log is
    attached to the exception as a note instead.
    """
    if (project / "alembic.ini").exists():
        run([sys.executable, "-m", "alembic", "upgrade", "head"], project, env)
    port = postgres.free_port()
    # uvicorn's default host, said explicitly: the tests serve on 127.0.0.1 only.
    command = [sys.executable, "-m", *readme_command(project, "uvicorn")]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    with served_process(command, project, env, f"http://127.0.0.1:{port}/health") as base:
        yield base


@contextlib.contextmanager
def served_process(
    command: list[str], cwd: Path, env: dict[str, str], health_url: str
) -> Iterator[str]:
    """Run the server `command`, wait until `health_url` answers 200 and yield its base URL;
    then stop it with SIGTERM, which must shut it down cleanly (see `served`)."""
    # A file, not a pipe: nobody reads the log while the app serves, and a full pipe would
    # block uvicorn at its next log line. Its access log (stdout) is not kept.
    with tempfile.TemporaryFile("w+") as stderr:
        server = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            text=True,
            start_new_session=True,  # its own process group, with the CPU workers it starts
        )
        try:
            _wait_until_serving(server, health_url)
            yield health_url.removesuffix("/health")
        except BaseException as error:
            _stop(server)
            error.add_note(f"uvicorn's log (exit code {server.returncode}):\n{read_log(stderr)}")
            raise
        _stop(server)
        log = read_log(stderr)
    # uvicorn re-raises the signal once it has shut down: -SIGTERM is a clean exit.
    assert server.returncode in {0, -signal.SIGTERM}, f"exit code {server.returncode}:\n{log}"
    assert "Application shutdown complete." in log, log
    assert "Traceback" not in log, log


@contextlib.contextmanager
def celery_worker(
    project: Path, redis_url: str, concurrency: int = 1, env: dict[str, str] | None = None
) -> Iterator[IO[str]]:
    """The project's Celery worker, started as its README says (with `concurrency` processes),
    serving `redis_url` until the block ends, which yields its log; it must stop cleanly on
    SIGTERM (a warm shutdown)."""
    env = {**(env or os.environ), "REDIS_URL": redis_url}
    command = [
        f"--concurrency={concurrency}" if word.startswith("--concurrency=") else word
        for word in readme_command(project, "celery")
    ]
    with tempfile.TemporaryFile("w+") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", *command, "--loglevel=WARNING"],
            cwd=project,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        try:
            _wait_until_consuming(worker, redis_url)
            yield log
        except BaseException as error:
            stacks = _stacks(worker.pid)  # before stopping it: where a job that never ran is
            _stop(worker)
            error.add_note(f"the worker's log (exit code {worker.returncode}):\n{read_log(log)}")
            error.add_note(f"the worker's processes, as the test failed:\n{stacks}")
            raise
        _stop(worker)
        assert worker.returncode == 0, f"worker exit code {worker.returncode}:\n{read_log(log)}"
