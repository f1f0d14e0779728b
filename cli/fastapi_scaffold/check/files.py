"""Which files of a project are read: its .py files, without virtualenvs, caches or VCS data."""

import os
from collections.abc import Iterator
from pathlib import Path

# Directories never checked: virtual environments, caches, build output, VCS data.
SKIP_DIRS = frozenset(
    {"node_modules", "__pycache__", "build", "dist", "site-packages", "venv", "env"}
)


def python_files(root: Path) -> Iterator[Path]:
    """The project's .py files, in a stable order, without virtualenvs, caches or VCS data."""
    if root.is_file():
        yield root
        return
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = sorted(
            name for name in subdirs if not name.startswith(".") and name not in SKIP_DIRS
        )
        for name in sorted(files):
            if name.endswith(".py"):
                yield Path(directory, name)


def relative(path: Path, root: Path) -> str:
    """`path` as reports show it: relative to the checked directory, with `/`."""
    base = root if root.is_dir() else root.parent
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return path.as_posix()
