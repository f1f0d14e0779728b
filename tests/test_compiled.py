"""Jinja's compiled templates kept between renders (fastapi_scaffold.compiled): a render from
the cache writes the same bytes as one that compiles everything, and a cache directory that
someone else could write is never read."""

import marshal
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fastapi_scaffold import api, compiled

VARIANTS = (
    {
        "package_name": "first",
        "project_name": "First",
        "database": "asyncpg",
        "orm": "sqlalchemy",
        "cpu_work": "celery",
    },
    {
        "package_name": "second",
        "project_name": "Second",
        "database": "psycopg2",
        "http_client": "requests",
    },
)


def tree(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A store and cache of this test's own; and no compiled code in memory from other tests."""
    monkeypatch.setenv("FASTAPI_SCAFFOLD_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(compiled, "_memory", {})
    return tmp_path / "home"


def test_renders_from_memory_and_from_disk_write_what_compiling_writes(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = compiled.cache_dir()
    for number, answers in enumerate(VARIANTS):
        # Compiled afresh: nothing in memory, and (the first time) nothing on disk.
        monkeypatch.setattr(compiled, "_memory", {})
        cold = tree(api.generate(tmp_path / f"cold-{number}", answers, defaults=True))
        entries = sorted(cache.iterdir())
        assert entries, "nothing was cached"
        # From this process's memory.
        assert tree(api.generate(tmp_path / f"memory-{number}", answers, defaults=True)) == cold
        # From the disk only, as the next `fastapi-scaffold` command reads it.
        monkeypatch.setattr(compiled, "_memory", {})
        assert tree(api.generate(tmp_path / f"disk-{number}", answers, defaults=True)) == cold
        assert sorted(cache.iterdir()) == entries, "a render from the cache compiled again"


def test_a_cache_others_can_write_is_neither_written_nor_read(home: Path, tmp_path: Path) -> None:
    cache = compiled.cache_dir()
    cache.mkdir(parents=True)
    cache.chmod(0o777)
    expected = tree(api.generate(tmp_path / "plain", VARIANTS[1], defaults=True))
    assert list(cache.iterdir()) == [], "wrote code where another user could replace it"

    # Code planted under the names a render reads: run if the directory is trusted...
    cache.chmod(0o700)
    compiled._memory.clear()
    api.generate(tmp_path / "warm", VARIANTS[1], defaults=True)
    assert list(cache.iterdir())
    planted = marshal.dumps(compile("raise SystemExit('planted')", "<planted>", "exec"))
    for entry in cache.iterdir():
        entry.write_bytes(planted)
    compiled._memory.clear()
    with pytest.raises(SystemExit, match="planted"):
        api.generate(tmp_path / "trusted", VARIANTS[1], defaults=True)
    # ...and never once someone else can write there.
    cache.chmod(0o777)
    compiled._memory.clear()
    assert tree(api.generate(tmp_path / "again", VARIANTS[1], defaults=True)) == expected


def test_unreadable_entries_are_compiled_again(home: Path, tmp_path: Path) -> None:
    expected = tree(api.generate(tmp_path / "first", VARIANTS[1], defaults=True))
    cache = compiled.cache_dir()
    for entry in cache.iterdir():
        entry.write_bytes(b"not marshalled code")
    compiled._memory.clear()
    assert tree(api.generate(tmp_path / "second", VARIANTS[1], defaults=True)) == expected
    assert all(entry.read_bytes() != b"not marshalled code" for entry in cache.iterdir())


def test_a_cache_that_cannot_be_made_leaves_rendering_as_it_was(home: Path, tmp_path: Path) -> None:
    expected = tree(api.generate(tmp_path / "cached", VARIANTS[1], defaults=True))
    shutil.rmtree(home / "cache")
    (home / "cache").write_text("a file where the cache's directory would be")
    compiled._memory.clear()
    assert tree(api.generate(tmp_path / "uncached", VARIANTS[1], defaults=True)) == expected


def test_a_second_command_compiles_nothing(home: Path, tmp_path: Path) -> None:
    """Another process reads what the first wrote: the key is the same in every process (no
    address, no set in hash order)."""
    command = [sys.executable, "-m", "fastapi_scaffold", "new", "--defaults", "--no-git"]
    environment = {**os.environ, "PYTHONHASHSEED": "random"}
    first = subprocess.run([*command, str(tmp_path / "one")], env=environment, check=False)
    assert first.returncode == 0
    entries = sorted(compiled.cache_dir().iterdir())
    second = subprocess.run([*command, str(tmp_path / "two")], env=environment, check=False)
    assert second.returncode == 0
    assert sorted(compiled.cache_dir().iterdir()) == entries
