"""`api.generate` when rendering fails part-way: nothing is left behind, nothing overwritten.

The failure is injected into copier's file rendering after a few files were written, which is
where a real Ctrl-C or a template bug would strike.
"""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from copier._main import Worker

from fastapi_scaffold import api
from fastapi_scaffold.errors import GenerationFailed, Interrupted

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
