"""The installed tool works offline: the wheel carries the template, and a project generated
from an installed wheel is rendered from the template inside it; `uv tool install` of it gives
a working command."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from fastapi_scaffold import __version__
from fastapi_scaffold.lock import uv_binary

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index"]
        + ["--quiet", "--wheel-dir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("*.whl")
    return built


def test_the_wheel_carries_the_template_and_no_build_debris(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    template = [name for name in names if name.startswith("fastapi_scaffold/_template/")]
    assert "fastapi_scaffold/_template/copier.yml" in template
    tracked = subprocess.run(
        ["git", "ls-files", "-z", "template"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split("\0")[:-1]
    assert len(tracked) > 30
    for path in tracked:
        assert f"fastapi_scaffold/_template/{path}" in template
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]


def test_an_installed_wheel_generates_offline_from_its_own_template(
    wheel: Path, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--quiet"]
        + ["--target", str(site), str(wheel)],
        check=True,
        capture_output=True,
    )
    env = {**os.environ, "PYTHONPATH": str(site), "FASTAPI_SCAFFOLD_HOME": str(tmp_path / "home")}
    where = subprocess.run(
        [
            sys.executable,
            "-c",
            "from fastapi_scaffold.template import template_dir as t; print(t())",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(where.stdout.strip()).is_relative_to(site)
    result = subprocess.run(
        [sys.executable, "-m", "fastapi_scaffold", "new", "offline", "--defaults"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    answers = yaml.safe_load((tmp_path / "offline" / ".copier-answers.yml").read_text())
    # Generated through the local template store, which `update` and `copier update` can use.
    assert answers["_src_path"] == str(tmp_path / "home" / "template")
    assert answers["_commit"] == f"v{__version__}"
    assert (tmp_path / "offline" / "offline" / "main.py").is_file()


def test_uv_tool_install_puts_the_command_on_path(wheel: Path, tmp_path: Path) -> None:
    """The README's `uv tool install`: the command in an environment of its own, on the PATH
    uv gives it, its help and `new` working from there."""
    tools = {"UV_TOOL_DIR": str(tmp_path / "tools"), "UV_TOOL_BIN_DIR": str(tmp_path / "bin")}
    env = {**os.environ, **tools, "UV_PYTHON_DOWNLOADS": "never", "UV_NO_PROGRESS": "1"}
    installed = subprocess.run(
        [uv_binary(), "tool", "install", "--python", sys.executable, str(wheel)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert installed.returncode == 0, installed.stderr
    command = tmp_path / "bin" / "fastapi-scaffold"
    helped = subprocess.run([str(command), "--help"], capture_output=True, text=True, check=False)
    assert helped.returncode == 0, helped.stderr
    assert "new" in helped.stdout
    home = {"FASTAPI_SCAFFOLD_HOME": str(tmp_path / "home"), "FASTAPI_SCAFFOLD_LOCK": "0"}
    made = subprocess.run(
        [str(command), "new", "svc", "--defaults", "--no-git"],
        cwd=tmp_path,
        env={**os.environ, **home},
        capture_output=True,
        text=True,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "svc" / "svc" / "main.py").is_file()
