"""git, run for the tool: a failure becomes one line with git's own reason, never a traceback."""

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from fastapi_scaffold.errors import GitFailed, OutOfSpace, ScaffoldError

# What git prints when the disk (or a quota) is full.
_NO_SPACE = ("No space left on device", "Disk quota exceeded", "Out of diskspace")


def git_bytes(
    repo: Path, *args: str, env: Mapping[str, str] | None = None, stdin: bytes | None = None
) -> bytes:
    """Run git in `repo` and return what it printed, as bytes (for `-z` output)."""
    try:
        result = subprocess.run(
            ["git", *args],
            cwd=repo,
            env={**os.environ, **(env or {})},
            input=stdin,
            capture_output=True,
            check=False,
        )
    except FileNotFoundError as exc:
        raise GitFailed("git is not installed", "install git, then run the command again") from exc
    if result.returncode != 0:
        raise git_error(args[0], result.stderr.decode(errors="replace"))
    return result.stdout


def git(
    repo: Path, *args: str, env: Mapping[str, str] | None = None, stdin: bytes | None = None
) -> str:
    """Run git in `repo` and return what it printed, stripped."""
    return git_bytes(repo, *args, env=env, stdin=stdin).decode(errors="replace").strip()


def succeeds(repo: Path, *args: str) -> bool:
    """Whether a git query answers yes (exit 0): `rev-parse --verify`, say."""
    try:
        return subprocess.run(["git", *args], cwd=repo, capture_output=True).returncode == 0
    except FileNotFoundError:
        return False


def subcommand(argv: Sequence[object]) -> str:
    """`clone` in `git -c key=value clone ...`: what a failed git was asked to do."""
    words = [str(word) for word in argv[1:]]
    while words and words[0].startswith("-"):
        words = words[2:] if words[0] in {"-c", "-C"} else words[1:]
    return words[0] if words else "git"


def git_error(command: str, stderr: str) -> ScaffoldError:
    """The one-line error for a failed `git <command>`, with git's reason."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    reasons = [line for line in lines if line.startswith(("fatal:", "error:"))] or lines
    reason = reasons[-1] if reasons else "no reason given"
    if any(marker in stderr for marker in _NO_SPACE):
        return OutOfSpace(
            f"the disk is full (git {command}: {reason})", "free some space, then try again"
        )
    return GitFailed(
        f"`git {command}` failed: {reason}",
        "fix what git names (your git configuration, a hook), then try again",
    )


def nearly_full(path: Path) -> bool:
    """Whether the file system holding `path` has under 1 MiB left: then a git failure is the
    full disk's doing, whatever git says (it may only say its commit message was empty)."""
    try:
        stats = os.statvfs(path)
    except OSError:
        return False
    return stats.f_bavail * stats.f_frsize < 1024 * 1024
