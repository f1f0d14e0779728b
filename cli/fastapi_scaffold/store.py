"""The template store: a local git repository holding every template version this machine's
fastapi-scaffold has carried, one tag per version.

copier can only update a project from a git repository with version tags, while an installed
wheel carries a plain folder. So `new` first commits the template it carries into the store and
tags it, then generates from the store: the project records the store as its template source
and the tag as its version, and `copier update` (or `fastapi-scaffold update`) can later reach
both the version it was made from and every newer one, offline.

Where: $FASTAPI_SCAFFOLD_HOME/template, else $XDG_DATA_HOME/fastapi-scaffold/template, else
~/.local/share/fastapi-scaffold/template.
"""

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from fastapi_scaffold import __version__
from fastapi_scaffold.errors import GitFailed, OutOfSpace, StoreUnusable, from_os_error
from fastapi_scaffold.gitcmd import git as run_git
from fastapi_scaffold.template import template_dir

# The store is the tool's own repository: git runs there with an identity of its own and none
# of the user's configuration (which may lack a name, sign commits, run hooks, or be broken).
_GIT_ENV = {
    "GIT_AUTHOR_NAME": "fastapi-scaffold",
    "GIT_AUTHOR_EMAIL": "fastapi-scaffold@localhost",
    "GIT_COMMITTER_NAME": "fastapi-scaffold",
    "GIT_COMMITTER_EMAIL": "fastapi-scaffold@localhost",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


def home() -> Path:
    if explicit := os.environ.get("FASTAPI_SCAFFOLD_HOME"):
        return Path(explicit)
    data = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data) / "fastapi-scaffold"


def store_dir() -> Path:
    return home() / "template"


def _git(repo: Path, *args: str) -> str:
    return run_git(repo, *args, env=_GIT_ENV)


def _git_succeeds(repo: Path, *args: str) -> bool:
    result = subprocess.run(
        ["git", *args],
        cwd=repo,
        env={**os.environ, **_GIT_ENV},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )
    return result.returncode == 0


def _template_files(source: Path) -> list[Path]:
    """copier.yml, template/ and migrations/, relative to `source`, without build debris."""
    files = [Path("copier.yml")]
    for folder in ("template", "migrations"):
        for path in sorted((source / folder).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                files.append(path.relative_to(source))
    return files


def _content_hash(source: Path, files: list[Path]) -> str:
    digest = hashlib.sha256()
    for relative in files:
        digest.update(str(relative).encode() + b"\0" + (source / relative).read_bytes() + b"\0")
    return digest.hexdigest()


def _unusable(problem: str) -> StoreUnusable:
    return StoreUnusable(
        problem,
        f"fix its permissions (chmod -R u+rwX {home()}), remove it (it is rebuilt), or set "
        "FASTAPI_SCAFFOLD_HOME to a directory you can write",
    )


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """One writer at a time: two `new` commands may run at once."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        lock = (directory / "store.lock").open("a")
    except FileExistsError as exc:
        raise _unusable(f"the template store's folder {directory} is a file") from exc
    except NotADirectoryError as exc:
        raise _unusable(f"a parent of the template store's folder {directory} is a file") from exc
    except OSError as exc:
        if isinstance(exc, PermissionError) or exc.errno == errno.EROFS:
            raise _unusable(f"cannot write the template store at {directory}") from exc
        raise from_os_error(exc, "the template store was not changed") from exc
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _read_index(index: Path) -> dict[str, str]:
    """versions.json maps a template's content hash to its tag; it is only a cache of what the
    tags say, so a damaged one is dropped and rebuilt."""
    try:
        known = json.loads(index.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(known, dict):
        return {}
    return {str(key): str(value) for key, value in known.items()}


def current_version() -> tuple[Path, str]:
    """Make sure the store holds the template this installation carries; return the store and
    the tag of that version (`v<version>`, or `v<version>+<n>.g<hash>` for a template that
    changed without a new version, as in a source checkout)."""
    source = template_dir()
    files = _template_files(source)
    content = _content_hash(source, files)
    repo = store_dir()
    index = home() / "versions.json"
    known = _read_index(index)
    tag = known.get(content)
    if tag and not os.access(home(), os.W_OK) and _intact(repo, tag):
        return repo, tag  # a read-only store that already holds this version
    with _locked(home()):
        known = _read_index(index)
        tag = known.get(content)
        if tag and _intact(repo, tag):
            return repo, tag
        tag = _commit_or_rebuild(repo, source, files)
        known[content] = tag
        try:
            index.write_text(json.dumps(known, indent=1, sort_keys=True))
        except OSError as exc:
            raise from_os_error(exc, "the template store was not changed") from exc
    return repo, tag


def has_version(tag: str) -> bool:
    """Whether the store holds the template version `tag` (a project's `_commit`)."""
    return _has_tag(store_dir(), tag)


def _has_tag(repo: Path, tag: str) -> bool:
    if not (repo / ".git").is_dir():
        return False
    return _git_succeeds(repo, "rev-parse", "--verify", "--quiet", f"refs/tags/{tag}^{{commit}}")


def _intact(repo: Path, tag: str) -> bool:
    """Whether git can read every file of version `tag` (damaged objects fail here, not in
    the middle of a render)."""
    return _has_tag(repo, tag) and _git_succeeds(repo, "archive", "--format=tar", tag)


def _commit_or_rebuild(repo: Path, source: Path, files: list[Path]) -> str:
    """Commit this version into the store; a store git cannot use (damaged objects, a stale
    lock) is moved aside as <store>.broken-<time> and made anew once."""
    if repo.exists() and not repo.is_dir():
        raise _unusable(f"the template store {repo} is a file, not a directory")
    stale_lock = repo / ".git" / "index.lock"
    with contextlib.suppress(OSError):
        stale_lock.unlink()  # we hold the store's lock: no git of ours runs there
    try:
        tag = _commit_version(repo, source, files)
        if _intact(repo, tag):
            return tag
    except OutOfSpace:
        raise
    except PermissionError as exc:
        raise _unusable(f"cannot write the template store at {repo}") from exc
    except (GitFailed, OSError):
        pass
    broken = repo.with_name(f"{repo.name}.broken-{time.strftime('%Y%m%d-%H%M%S')}")
    try:
        repo.rename(broken)
        tag = _commit_version(repo, source, files)
    except OutOfSpace:
        raise
    except (GitFailed, OSError) as exc:
        raise _unusable(f"the template store {repo} cannot be used ({exc})") from exc
    if not _intact(repo, tag):
        raise _unusable(f"the template store {repo} cannot be read back")
    return tag


def _commit_version(repo: Path, source: Path, files: list[Path]) -> str:
    if not (repo / ".git").is_dir():
        repo.mkdir(parents=True, exist_ok=True)
        _git(repo, "init", "--quiet", "--initial-branch=main")
    for entry in repo.iterdir():
        if entry.name != ".git":
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    for relative in files:
        (repo / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / relative, repo / relative)
    _git(repo, "add", "--all")
    tree = _git(repo, "write-tree")
    wanted = f"v{__version__}"
    if _git(repo, "tag", "--list", wanted):
        if _git(repo, "rev-parse", f"{wanted}^{{tree}}") == tree:
            return wanted
        count = len(_git(repo, "tag", "--list").splitlines())
        wanted = f"v{__version__}+{count}.g{tree[:10]}"
    has_head = _git_succeeds(repo, "rev-parse", "--verify", "--quiet", "HEAD")
    if not has_head or _git(repo, "rev-parse", "HEAD^{tree}") != tree:
        _git(repo, "commit", "--quiet", "--allow-empty", "-m", f"fastapi-scaffold {wanted}")
    _git(repo, "tag", wanted)
    return wanted
