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
import tomllib
from dataclasses import dataclass
from fnmatch import fnmatchcase
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
    the project (`new` and `update` lock a copy of it), or else `project`.

    A project that an enclosing uv workspace takes as a member gets no lock of its own: uv
    keeps one for the whole workspace, at its root, which is the user's to relock."""
    where = named or project
    workspace = enclosing_workspace(where)
    if workspace is not None:
        return Locked(
            False,
            f"{where.name} is a member of the uv workspace at {workspace}, "
            f"whose {LOCK_FILE} locks all its members",
            f"run `uv lock` in {workspace}, then commit its {LOCK_FILE}",
        )
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
        return not_locked(f"uv lock took longer than {LOCK_TIMEOUT_S} s", where)
    except OSError as error:  # the uv binary missing or not executable: a broken install
        return not_locked(f"uv could not run ({error})", where)
    if result.returncode == 0:
        return Locked(True)
    return not_locked(_reason(result.stderr), where)


def enclosing_workspace(project: Path) -> Path | None:
    """The root of the uv workspace that takes `project` as a member, if one does: the nearest
    parent whose pyproject.toml has [tool.uv.workspace], when `project` matches one of its
    `members` globs and none of its `exclude` ones, as uv decides it. An unreadable
    pyproject.toml on the way is left to uv to report."""
    for root in project.parents:
        try:
            config = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            continue
        workspace = config.get("tool", {}).get("uv", {}).get("workspace")
        if not isinstance(workspace, dict):
            continue
        relative = project.relative_to(root).parts
        members, exclude = workspace.get("members"), workspace.get("exclude")
        claimed = _any_matches(members, relative) and not _any_matches(exclude, relative)
        return root if claimed else None
    return None


def _any_matches(patterns: object, parts: tuple[str, ...]) -> bool:
    return isinstance(patterns, list) and any(
        isinstance(pattern, str) and _glob_matches(_components(pattern), parts)
        for pattern in patterns
    )


def _components(pattern: str) -> tuple[str, ...]:
    return tuple(part for part in pattern.split("/") if part not in ("", "."))


def _glob_matches(pattern: tuple[str, ...], parts: tuple[str, ...]) -> bool:
    """A workspace glob ("packages/*", "svc"), split at `/`, against a relative path, component
    by component: `*` does not cross a `/`; `**` matches any number of components."""
    if not pattern:
        return not parts
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(_glob_matches(rest, parts[i:]) for i in range(len(parts) + 1))
    return bool(parts) and fnmatchcase(parts[0], head) and _glob_matches(rest, parts[1:])


def _reason(stderr: str) -> str:
    """uv's error in one line: its first `error:` line, what it failed at, and why."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line.removeprefix("error:").strip() for line in lines if line.startswith("error:")]
    causes = [line.removeprefix("cause:").strip() for line in lines if line.startswith("cause:")]
    if not errors:
        return lines[-1] if lines else "uv lock failed"
    reason = errors[0] + (f": {causes[0]}" if causes else "")
    return reason + (f" ({causes[-1]})" if len(causes) > 1 else "")
