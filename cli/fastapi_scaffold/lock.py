"""A generated project's `uv.lock`: written by `new`, refreshed by `update` when the
dependencies change.

uv comes with this tool, as a dependency pinned to one minor release (the `uv` wheel carries its
binary); a uv on PATH is not used. The lock is uv's own file format, so the uv that writes it
is part of what makes it reproducible, and a machine without uv still gets a lock.

Locking needs the package index; without it the project is still made, and the caller says how
to lock it later (`NOT_LOCKED_EXIT_CODE`).
"""

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

LOCK_FILE = "uv.lock"
# uv's own per-request timeout and retries bound an index that is down; this bounds the rest.
LOCK_TIMEOUT_S = 600


@dataclass(frozen=True)
class Locked:
    """What became of the lock: `written` False when it could not be, with uv's reason and
    what to do (one line each)."""

    written: bool
    reason: str = ""
    fix: str = ""


def not_locked(reason: str, project: Path) -> Locked:
    return Locked(
        False,
        reason,
        f"run `uv lock` in {project} once the package index can be reached, then commit "
        f"{LOCK_FILE}",
    )


def uv_binary() -> str:
    from uv import find_uv_bin

    return str(find_uv_bin())


def lock(project: Path, named: Path | None = None) -> Locked:
    """Write (or bring up to date) `project`'s uv.lock against the package index uv is set up
    to use (PyPI, or the user's uv.toml / UV_INDEX settings), keeping the versions an existing
    lock already pins where they still fit. uv never downloads a Python for it: it resolves with
    the interpreter running this tool. A failure's fix names `named`, where the user will find
    the project (`new` and `update` lock a copy of it), or else `project`."""
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never", "UV_NO_PROGRESS": "1"}
    try:
        result = subprocess.run(
            [uv_binary(), "lock", "--python", sys.executable],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=LOCK_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return not_locked(f"uv lock took longer than {LOCK_TIMEOUT_S} s", named or project)
    except OSError as error:  # the uv binary missing or not executable: a broken install
        return not_locked(f"uv could not run ({error})", named or project)
    if result.returncode == 0:
        return Locked(True)
    return not_locked(_reason(result.stderr), named or project)


def _reason(stderr: str) -> str:
    """uv's error in one line: its first `error:` line, what it failed at, and why."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line.removeprefix("error:").strip() for line in lines if line.startswith("error:")]
    causes = [line.removeprefix("cause:").strip() for line in lines if line.startswith("cause:")]
    if not errors:
        return lines[-1] if lines else "uv lock failed"
    reason = errors[0] + (f": {causes[0]}" if causes else "")
    return reason + (f" ({causes[-1]})" if len(causes) > 1 else "")
