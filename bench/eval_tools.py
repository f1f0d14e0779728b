"""The three tools scored on the evaluation set, each run as a user would run it, and what they
report reduced to (file, line) places: `fastapi-scaffold check --format json`,
`ruff check --select ASYNC` and flake8-async."""

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent
# As `check` walks a tree: hidden directories and these are never read.
SKIP_DIRS = frozenset(
    {"node_modules", "__pycache__", "build", "dist", "site-packages", "venv", "env"}
)


class ToolFailed(Exception):
    """A tool ended with an exit code that means neither "clean" nor "found something"."""


@dataclass(frozen=True)
class Place:
    """A line a tool pointed at: relative path (POSIX) and line number."""

    path: str
    line: int


@dataclass(frozen=True)
class Run:
    """One `check` run: its findings as JSON objects, and what it cost."""

    findings: list[dict[str, Any]]
    seconds: float
    peak_rss_mib: float
    stderr: str


def run_check(root: Path) -> Run:
    """`fastapi-scaffold check ROOT --format json` in its own process, timed, with its peak RSS
    (from `wait4`, so only that process counts)."""
    command = [str(BIN / "fastapi-scaffold"), "check", str(root), "--format", "json"]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if process.returncode not in (0, 1):
        raise ToolFailed(f"check on {root} exited {process.returncode}: {stderr[-2000:]}")
    findings = json.loads(stdout) if stdout.strip() else []
    return Run(findings, seconds, usage.ru_maxrss / 1024, stderr)


def check_places(finding: dict[str, Any]) -> list[Place]:
    """Every call a finding points at: the call in the root, each call on the way, and the
    blocking call itself (the last step)."""
    return [Place(step["path"], step["line"]) for step in finding["chain"]]


def run_ruff(root: Path, files: Sequence[str]) -> list[Place]:
    """`ruff check --select ASYNC` on `files` (relative to `root`), ignoring the project's own
    configuration so that every ASYNC rule runs."""
    if not files:
        return []
    command = [str(BIN / "ruff"), "check", "--isolated", "--no-cache", "--select", "ASYNC"]
    command += ["--output-format", "json", "--exit-zero", *files]
    result = subprocess.run(command, cwd=root, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ToolFailed(f"ruff exited {result.returncode}: {result.stderr[-2000:]}")
    places = []
    for item in json.loads(result.stdout):
        path = Path(item["filename"]).resolve().relative_to(root.resolve()).as_posix()
        places.append(Place(path, item["location"]["row"]))
    return places


FLAKE8_ASYNC_LINE = re.compile(r"^(?P<path>.+?):(?P<line>\d+):(?P<col>\d+): (?P<code>ASYNC\d+) ")


def run_flake8_async(root: Path, files: Sequence[str]) -> list[Place]:
    """flake8-async's own command on `files` (relative to `root`), every ASYNC rule, asyncio."""
    if not files:
        return []
    command = [str(BIN / "flake8-async"), "--asyncio", "--enable", "ASYNC", *files]
    result = subprocess.run(command, cwd=root, capture_output=True, text=True, check=False)
    if result.returncode not in (0, 1):
        raise ToolFailed(f"flake8-async exited {result.returncode}: {result.stderr[-2000:]}")
    places = []
    for line in result.stdout.splitlines():
        match = FLAKE8_ASYNC_LINE.match(line)
        if match:
            places.append(Place(Path(match["path"]).as_posix(), int(match["line"])))
    return places


def count_lines(root: Path) -> tuple[int, int]:
    """(files, lines) of Python under `root`, counted as `check` counts them."""
    files = lines = 0
    for directory, subdirs, names in os.walk(root):
        subdirs[:] = [d for d in subdirs if not d.startswith(".") and d not in SKIP_DIRS]
        for name in names:
            if name.endswith(".py"):
                files += 1
                text = Path(directory, name).read_bytes()
                lines += text.count(b"\n") + 1
    return files, lines
