"""copier's question to git about file modes, asked once per render instead of once per file.

copier (9.19) mirrors a written file's executable bit into the destination's git index where
git ignores file modes (`core.fileMode` false, as on Windows). To know whether it does, it runs
`git config core.fileMode` for every file it writes: 47 `git` processes for each project
rendered, a fifth of the CPU of a render. The setting does not change while one render runs,
so within `file_mode_asked_once()` it is asked once per destination, and copier's own code runs
for each file only where git ignores modes. With a copier that has no such step, nothing is
changed.
"""

import contextlib
import functools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

_METHOD = "_sync_git_index_executable_bit"


@functools.cache
def _copiers_own() -> Callable[..., None] | None:
    """copier's own step, which each block wraps: blocks replace one another, not stack."""
    from copier._main import Worker

    own: Callable[..., None] | None = Worker.__dict__.get(_METHOD)
    return own


@contextlib.contextmanager
def file_mode_asked_once() -> Iterator[None]:
    """Within this block, copier asks git for `core.fileMode` once per destination."""
    from copier._main import Worker

    own = _copiers_own()
    if own is None:
        yield
        return
    outer = getattr(Worker, _METHOD)
    ignored: dict[Path, bool] = {}

    def sync(self: Any, dst_relpath: Path, src_mode: int) -> None:
        root = Path(self.subproject.local_abspath)
        if root not in ignored:
            ignored[root] = _modes_ignored(root)
        if ignored[root]:
            own(self, dst_relpath, src_mode)

    setattr(Worker, _METHOD, sync)
    try:
        yield
    finally:
        setattr(Worker, _METHOD, outer)


def _modes_ignored(root: Path) -> bool:
    """Whether git ignores file modes at `root`, asked as copier asks: not a repository, or
    the setting unset, is no."""
    from copier._vcs import get_git
    from plumbum import ProcessExecutionError

    try:
        setting = get_git(context_dir=root)("config", "--type=bool", "--get", "core.fileMode")
    except ProcessExecutionError:
        return False
    return str(setting).strip() == "false"
