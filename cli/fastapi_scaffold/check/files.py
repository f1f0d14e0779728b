"""Which files of a project are read, and reading them safely: a pull request can commit a
symbolic link to /dev/zero, a FIFO named `x.py` or a 16 MB generated module, and `check` runs
in CI on it.

- The .py files under the checked directory, without virtualenvs, caches or VCS data.
  Symbolic links to directories are not followed (no loops; what they point to inside the
  project is walked anyway); a link to a file is followed only to a file inside the project.
- Only regular files are read (opened without blocking, checked on the open descriptor), and
  only up to a size cap (`max-file-bytes`).
- Each file that is not read says why in one phrase, and `check` counts it.
"""

import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path

# Directories never checked: virtual environments, caches, build output, VCS data.
SKIP_DIRS = frozenset(
    {"node_modules", "__pycache__", "build", "dist", "site-packages", "venv", "env"}
)
# The largest source file read: generated modules bigger than this cost seconds and gigabytes to
# parse and hold no handler worth checking. `max-file-bytes` in pyproject.toml changes it.
DEFAULT_MAX_FILE_BYTES = 2_000_000
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
_KINDS = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a directory",
}


class NotRead(Exception):
    """Why a file is not read, in one phrase: "a symbolic link out of the project"."""


def python_files(root: Path, unlisted: list[str] | None = None) -> Iterator[Path]:
    """The project's .py files, in a stable order, without virtualenvs, caches or VCS data.
    Directories that cannot be listed, and links to directories out of the project, are added
    to `unlisted`, each as one line; links to directories inside it are not followed."""
    if not root.is_dir():
        yield root
        return

    def cannot_list(error: OSError) -> None:
        if unlisted is not None:
            where = relative(Path(error.filename or root), root)
            unlisted.append(f"{where}: cannot be listed ({error.strerror}); not checked")

    real_root = str(root.resolve())
    for directory, subdirs, files in os.walk(root, onerror=cannot_list):
        kept = []
        for name in sorted(subdirs):
            if name.startswith(".") or name in SKIP_DIRS:
                continue
            path = os.path.join(directory, name)
            if not os.path.islink(path):
                kept.append(name)
            elif unlisted is not None and not _within(os.path.realpath(path), real_root):
                where = relative(Path(path), root)
                unlisted.append(f"{where}: a symbolic link out of the project; not checked")
        subdirs[:] = kept
        for name in sorted(files):
            if name.endswith(".py"):
                yield Path(directory, name)


def open_source(path: Path, project: Path | None) -> tuple[int, os.stat_result]:
    """An open descriptor on `path` and its status, if it is a regular file; within `project`
    (a real path) if `path` is a symbolic link. Raises NotRead saying why not."""
    link = path.is_symlink()
    if link and project is not None and not _within(os.path.realpath(path), project):
        raise NotRead("a symbolic link out of the project")
    try:
        status = os.stat(path)
        _regular(status)
        descriptor = os.open(path, _OPEN_FLAGS)
    except FileNotFoundError as exc:
        raise NotRead("a broken symbolic link" if link else "gone while checking") from exc
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise NotRead("a symbolic link in a loop") from exc
        raise NotRead(f"cannot be opened ({exc.strerror})") from exc
    try:
        status = os.fstat(descriptor)  # what was opened, should it have changed meanwhile
        _regular(status)
    except BaseException:
        os.close(descriptor)
        raise
    return descriptor, status


def read_source(descriptor: int, status: os.stat_result, max_bytes: int) -> bytes:
    """Up to `max_bytes` of an open regular file; NotRead if it holds more."""
    if status.st_size > max_bytes:
        raise NotRead(_too_large(status.st_size, max_bytes))
    chunks = []
    size = 0
    while chunk := os.read(descriptor, max_bytes + 1 - size):
        chunks.append(chunk)
        size += len(chunk)
        if size > max_bytes:  # it grew since its status was read
            raise NotRead(_too_large(size, max_bytes))
    return b"".join(chunks)


def _too_large(size: int, max_bytes: int) -> str:
    return f"larger than max-file-bytes ({size:,} > {max_bytes:,} bytes)"


def _regular(status: os.stat_result) -> None:
    if not stat.S_ISREG(status.st_mode):
        kind = _KINDS.get(stat.S_IFMT(status.st_mode), "not a file")
        raise NotRead(f"not a regular file ({kind})")


def _within(path: str, directory: Path | str) -> bool:
    try:
        return os.path.commonpath([path, directory]) == str(directory)
    except ValueError:  # another drive
        return False


def relative(path: Path, root: Path) -> str:
    """`path` as reports show it: relative to the checked directory, with `/`."""
    base = root if root.is_dir() else root.parent
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return path.as_posix()
