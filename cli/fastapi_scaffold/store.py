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
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from fastapi_scaffold import __version__
from fastapi_scaffold.template import template_dir

# What the store needs of a commit; the user's git configuration may lack a name or sign.
_GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "fastapi-scaffold",
    "GIT_AUTHOR_EMAIL": "fastapi-scaffold@localhost",
    "GIT_COMMITTER_NAME": "fastapi-scaffold",
    "GIT_COMMITTER_EMAIL": "fastapi-scaffold@localhost",
}


def home() -> Path:
    if explicit := os.environ.get("FASTAPI_SCAFFOLD_HOME"):
        return Path(explicit)
    data = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data) / "fastapi-scaffold"


def store_dir() -> Path:
    return home() / "template"


def _git(repo: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false", *args],
        cwd=repo,
        env={**os.environ, **_GIT_IDENTITY},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


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


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """One writer at a time: two `new` commands may run at once."""
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / "store.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def current_version() -> tuple[Path, str]:
    """Make sure the store holds the template this installation carries; return the store and
    the tag of that version (`v<version>`, or `v<version>+<n>.g<hash>` for a template that
    changed without a new version, as in a source checkout)."""
    source = template_dir()
    files = _template_files(source)
    content = _content_hash(source, files)
    repo = store_dir()
    index = home() / "versions.json"
    with _locked(home()):
        known: dict[str, str] = json.loads(index.read_text()) if index.exists() else {}
        tag = known.get(content)
        if tag and (repo / ".git").is_dir() and _git(repo, "tag", "--list", tag):
            return repo, tag
        tag = _commit_version(repo, source, files)
        known[content] = tag
        index.write_text(json.dumps(known, indent=1, sort_keys=True))
    return repo, tag


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
    has_head = (
        subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", "HEAD"], cwd=repo, capture_output=True
        ).returncode
        == 0
    )
    if not has_head or _git(repo, "rev-parse", "HEAD^{tree}") != tree:
        _git(repo, "commit", "--quiet", "--allow-empty", "-m", f"fastapi-scaffold {wanted}")
    _git(repo, "tag", wanted)
    return wanted
