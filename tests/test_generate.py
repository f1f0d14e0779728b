"""Generation failing part-way: nothing is left behind, nothing overwritten.

The failure is injected into copier's file rendering after a few files were written, which is
where a real Ctrl-C or a template bug would strike; the command line gets a real SIGINT.
"""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from copier._main import Worker

from fastapi_scaffold import api
from fastapi_scaffold.errors import GenerationFailed, Interrupted

# `fastapi-scaffold` whose rendering of its 5th file stops: it touches $PAUSED_FILE and waits for
# a signal, or raises $FAIL_WITH. Ctrl-C raises KeyboardInterrupt as in a terminal, even when the
# suite runs where SIGINT is ignored (a shell's background job), which a child would inherit.
PAUSING_CLI = """
import os, signal, sys, time
from pathlib import Path
signal.signal(signal.SIGINT, signal.default_int_handler)
from copier._main import Worker
render, rendered = Worker._render_file, 0
def render_then_pause(self, *args, **kwargs):
    global rendered
    rendered += 1
    if rendered == 5:
        if os.environ.get("FAIL_WITH"):
            raise RuntimeError(os.environ["FAIL_WITH"])
        Path(os.environ["PAUSED_FILE"]).touch()
        time.sleep(120)
    return render(self, *args, **kwargs)
Worker._render_file = render_then_pause
from fastapi_scaffold.cli import main
sys.argv[0] = "fastapi-scaffold"
main()
"""

DEFAULTS = {"database": "asyncpg", "http_client": "httpx", "cpu_work": "process"}


def fail_after(count: int, error: BaseException, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make copier raise `error` when it renders its (count+1)-th file."""
    render: Callable[..., Any] = Worker._render_file
    rendered = 0

    def render_then_fail(self: Worker, *args: Any, **kwargs: Any) -> Any:
        nonlocal rendered
        if rendered == count:
            raise error
        rendered += 1
        return render(self, *args, **kwargs)

    monkeypatch.setattr(Worker, "_render_file", render_then_fail)


@pytest.mark.parametrize(
    ("error", "expected"),
    [(KeyboardInterrupt(), Interrupted), (RuntimeError("template bug"), GenerationFailed)],
)
def test_a_failure_mid_generation_leaves_nothing_behind(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    error: BaseException,
    expected: type[Exception],
) -> None:
    fail_after(5, error, monkeypatch)
    with pytest.raises(expected):
        api.generate(tmp_path / "project", DEFAULTS, defaults=True)
    assert list(tmp_path.iterdir()) == []


def test_a_failure_with_force_leaves_the_users_files_as_they_were(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "README.md").write_text("mine")
    (tmp_path / "notes.txt").write_text("also mine")
    fail_after(5, KeyboardInterrupt(), monkeypatch)
    with pytest.raises(Interrupted):
        api.generate(tmp_path, DEFAULTS, defaults=True, force=True)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["README.md", "notes.txt"]
    assert (tmp_path / "README.md").read_text() == "mine"


def test_generate_returns_the_project(tmp_path: Path) -> None:
    project = api.generate(tmp_path / "svc", DEFAULTS, defaults=True)
    assert project == tmp_path / "svc"
    assert (project / "svc" / "main.py").is_file()
    assert [path.name for path in tmp_path.iterdir()] == ["svc"]


def start_pausing_cli(
    workspace: Path, *arguments: str, **environment: str
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", PAUSING_CLI, *arguments],
        cwd=workspace,
        env={**os.environ, **environment},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(path: Path, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"{path.name} did not appear within 60 s"
        time.sleep(0.05)


@pytest.mark.parametrize("force", [False, True])
def test_ctrl_c_mid_generation_ends_with_one_line_and_leaves_things_as_they_were(
    tmp_path: Path, force: bool
) -> None:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    destination = workspace / "project"
    if force:
        destination.mkdir()
        (destination / "README.md").write_text("mine")
    paused = tmp_path / "paused"
    arguments = ["new", str(destination), "--defaults", *(["--force"] if force else [])]
    cli = start_pausing_cli(workspace, *arguments, PAUSED_FILE=str(paused))
    wait_for(paused, cli)
    cli.send_signal(signal.SIGINT)
    stdout, stderr = cli.communicate(timeout=60)
    assert cli.returncode == Interrupted.exit_code, stderr
    assert stderr.splitlines() == ["error: interrupted; nothing was written"]
    assert "Traceback" not in stdout
    if force:
        assert [path.name for path in workspace.iterdir()] == ["project"]
        assert [path.name for path in destination.iterdir()] == ["README.md"]
        assert (destination / "README.md").read_text() == "mine"
    else:
        assert list(workspace.iterdir()) == []


def test_a_template_bug_mid_generation_ends_with_one_line(tmp_path: Path) -> None:
    cli = start_pausing_cli(tmp_path, "new", "project", "--defaults", FAIL_WITH="template bug")
    stdout, stderr = cli.communicate(timeout=60)
    assert cli.returncode == GenerationFailed.exit_code, stderr
    assert "Traceback" not in stdout + stderr
    assert stderr.splitlines()[-1].startswith(
        "error: the template failed to render (RuntimeError: template bug); nothing was written"
    )
    assert list(tmp_path.iterdir()) == []


# The console script's entry point, paused where the CLI imports typer (a few tenths of a
# second in a terminal), until a signal.
PAUSED_STARTING_CLI = """
import os, signal, sys, time
from pathlib import Path
signal.signal(signal.SIGINT, signal.default_int_handler)

class PauseAtTyper:
    def find_spec(self, name, path=None, target=None):
        if name == "typer":
            Path(os.environ["PAUSED_FILE"]).touch()
            time.sleep(120)
        return None

sys.meta_path.insert(0, PauseAtTyper())
from fastapi_scaffold.launcher import main
sys.argv[0] = "fastapi-scaffold"
main()
"""


def test_ctrl_c_while_the_cli_starts_ends_with_one_line(tmp_path: Path) -> None:
    paused = tmp_path / "paused"
    cli = subprocess.Popen(
        [sys.executable, "-c", PAUSED_STARTING_CLI, "new", "project", "--defaults"],
        cwd=tmp_path,
        env={**os.environ, "PAUSED_FILE": str(paused), "NO_COLOR": ""},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for(paused, cli)
    cli.send_signal(signal.SIGINT)
    stdout, stderr = cli.communicate(timeout=60)
    assert cli.returncode == Interrupted.exit_code, stderr
    assert stderr.splitlines() == ["error: interrupted before anything was written"]
    assert stdout == ""
    assert [path.name for path in tmp_path.iterdir()] == ["paused"]
    [script] = metadata.entry_points(group="console_scripts", name="fastapi-scaffold")
    assert script.value == "fastapi_scaffold.launcher:main", "the command starts elsewhere"
