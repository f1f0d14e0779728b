"""The scoring of `python -m bench.check_eval` on a tiny synthetic evaluation set: a git repository
made here, with one fix of two blocking calls, checked out from a local bare mirror (no network).
A call counts only when a tool points at a line of that call; the after tree, the manifest's
self-check and the precision sample are exercised too."""

import subprocess
from pathlib import Path

import pytest

from bench import check_eval
from bench.eval_manifest import ManifestError, load

BEFORE = """import time

from fastapi import FastAPI

app = FastAPI()


def slow_helper() -> None:
    time.sleep(1)


@app.get("/direct")
async def direct() -> dict[str, str]:
    time.sleep(1)
    return {"ok": "yes"}


@app.get("/helper")
async def helper() -> dict[str, str]:
    print("a call elsewhere in the file")
    slow_helper()
    return {"ok": "yes"}
"""

AFTER = """import asyncio
import time

from fastapi import FastAPI

app = FastAPI()


def slow_helper() -> None:
    time.sleep(1)


@app.get("/direct")
async def direct() -> dict[str, str]:
    await asyncio.sleep(1)
    return {"ok": "yes"}


@app.get("/helper")
async def helper() -> dict[str, str]:
    print("a call elsewhere in the file")
    await asyncio.to_thread(slow_helper)
    return {"ok": "yes"}
"""


def _git(cwd: Path, *args: str) -> str:
    command = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args]
    return subprocess.run(command, cwd=cwd, check=True, capture_output=True, text=True).stdout


def _mirror(tmp_path: Path) -> tuple[Path, str, str]:
    """A bare mirror of a two-commit repository, laid out as the `fetch` tool lays them."""
    work = tmp_path / "work"
    (work / "shop").mkdir(parents=True)
    _git(work, "init", "-q")
    (work / "shop" / "__init__.py").write_text("")
    (work / "shop" / "main.py").write_text(BEFORE)
    _git(work, "add", ".")
    _git(work, "commit", "-qm", "before")
    before = _git(work, "rev-parse", "HEAD").strip()
    (work / "shop" / "main.py").write_text(AFTER)
    _git(work, "commit", "-qam", "fix")
    after = _git(work, "rev-parse", "HEAD").strip()
    mirrors = tmp_path / "mirrors"
    _git(tmp_path, "clone", "-q", "--bare", str(work), str(mirrors / "acme+shop" / "repo"))
    return mirrors, before, after


def _manifest(path: Path, before: str, after: str, helper_line: int = 21) -> Path:
    path.write_text(
        f'''seed = 1
sample_size = 25

[kinds]
ordinary = "a helper of the project"
direct = "in the handler itself"

[[fix]]
id = "shop-sleep"
repo = "acme/shop"
before = "{before}"
after = "{after}"
[[fix.call]]
file = "shop/main.py"
function = "direct"
line = 14
call = "time.sleep("
kind = "direct"
[[fix.call]]
file = "shop/main.py"
function = "helper"
line = {helper_line}
call = "slow_helper()"
kind = "ordinary"
io = "time.sleep in slow_helper"

[[codebase]]
id = "shop"
repo = "acme/shop"
commit = "{before}"
[[codebase.judgement]]
file = "shop/main.py"
line = 14
code = "FSB001"
root = "GET /direct"
real = true
reason = "time.sleep in an async def handler"
'''
    )
    return path


def test_scores_each_call_by_its_own_lines(tmp_path: Path) -> None:
    mirrors, before, after = _mirror(tmp_path)
    manifest = _manifest(tmp_path / "manifest.toml", before, after)
    out = tmp_path / "evaluation.md"
    argv = ["--manifest", str(manifest), "--src", str(tmp_path / "src"), "--out", str(out)]
    assert check_eval.main([*argv, "--mirrors", str(mirrors)]) == 0
    report = out.read_text()

    # Checkouts are made outside the repository, one per commit, from the mirror.
    assert (tmp_path / "src" / f"acme+shop@{before}" / "shop" / "main.py").read_text() == BEFORE
    # The direct sleep: every tool sees it. The helper: only check, through the chain.
    assert "| `time.sleep(` | direct | found | found | found |" in report
    assert "| `slow_helper()` | ordinary | found | - | - |" in report
    assert "| **all** | 2 | **2/2 (100%)** | **1/2 (50%)** | **1/2 (50%)** |" in report
    # The fixed tree leaves nothing in the fixed functions.
    assert "### Findings left in the fixed code" in report
    assert "None." in report
    # Precision: the one finding is sampled and judged from the manifest.
    assert "| shop | acme/shop@" in report
    assert "| yes |  | time.sleep in an async def handler |" in report


def test_a_finding_elsewhere_in_the_file_does_not_count(tmp_path: Path) -> None:
    mirrors, before, after = _mirror(tmp_path)
    # Line 20 is the print() in the same handler: a call, but not the one the fix removed.
    manifest = _manifest(tmp_path / "manifest.toml", before, after, helper_line=20)
    text = manifest.read_text().replace('call = "slow_helper()"', 'call = "print("')
    manifest.write_text(text)
    out = tmp_path / "evaluation.md"
    argv = ["--manifest", str(manifest), "--src", str(tmp_path / "src"), "--out", str(out)]
    assert check_eval.main([*argv, "--mirrors", str(mirrors), "--part", "recall"]) == 0
    assert "| `print(` | ordinary | - | - | - |" in out.read_text()


def test_a_manifest_line_that_does_not_hold_the_call_is_refused(tmp_path: Path) -> None:
    mirrors, before, after = _mirror(tmp_path)
    manifest = _manifest(tmp_path / "manifest.toml", before, after, helper_line=22)
    with pytest.raises(ManifestError, match="no call starting with 'slow_helper\\(\\)'"):
        check_eval.score_fix(load(manifest).fixes[0], tmp_path / "src", mirrors)
