"""`fastapi-scaffold update`: copier's three-way update, made a transaction.

copier updates a project in place, file by file, and an interrupt, a full disk or a conflict
scan that misses untracked files can leave it half-updated. Here copier runs in a scratch clone
of the project's last commit, inside the project's git directory; the result becomes a list of
file changes (and the index entries that mark conflicts) that `transaction` moves into the work
tree all at once. Untracked and ignored files are never overwritten: an update that would write
over one refuses and names it. A file the user edited that the new answers remove is kept, as a
"deleted by them" conflict.

Trust: the tool's own template (the local store) is trusted; any other source renders without
running its `_tasks`, `_migrations` or Jinja extensions, and an update that needs them is refused
unless the user passes --trust.
"""

import contextlib
import os
import re
import shutil
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi_scaffold import store
from fastapi_scaffold.answers import check_answers, read_answers, validator_message
from fastapi_scaffold.errors import (
    GenerationFailed,
    GitFailed,
    Interrupted,
    InvalidAnswer,
    MissingAnswers,
    OutOfSpace,
    ScaffoldError,
    TemplateUnavailable,
    UntrustedTemplate,
    UpdateConflicts,
    UpdateRefused,
    from_os_error,
)
from fastapi_scaffold.gitcmd import (
    git,
    git_bytes,
    git_error,
    nearly_full,
    subcommand,
    succeeds,
)
from fastapi_scaffold.lock import Locked
from fastapi_scaffold.lock import lock as lock_project
from fastapi_scaffold.template import handler_style
from fastapi_scaffold.transaction import (
    Change,
    Transaction,
    recover,
    remove_tree,
    temporary_files_in,
)

if TYPE_CHECKING:  # check is imported only when an update changes the handler style
    from fastapi_scaffold.check import Report

# The scratch clone's own git settings: every untracked file shown whatever the user's
# configuration says, and commits that need no identity or signing key of the user's.
_SCRATCH_CONFIG = {
    "status.showUntrackedFiles": "all",
    "user.name": "fastapi-scaffold",
    "user.email": "fastapi-scaffold@localhost",
    "commit.gpgsign": "false",
    "core.hooksPath": "/dev/null",
}
# Git-ignored files of the user's that the template's migrations may rewrite (a renamed
# setting in .env): carried into the scratch clone, and back in the same transaction.
_LOCAL_FILES = ".env*"
_ZERO = "0" * 40
FINISH = "git commit"
ABORT = "git reset --hard HEAD"


@dataclass(frozen=True)
class Update:
    """What an update did: the template versions it went from and to, the files it changed;
    when it changed the handler style, the styles and what `check` finds in the result (the
    user's own `async def` code may now call helpers that block); `recovered` when it first
    undid an update that an earlier, killed run left half-applied."""

    project: Path
    from_version: str
    to_version: str
    changed: tuple[str, ...] = ()
    styles: tuple[str, str] | None = None
    check_report: "Report | None" = None
    recovered: bool = False
    locked: Locked | None = None  # None: the dependencies did not change, or not asked to lock
    would_relock: bool = False  # pretend: the dependencies change, and uv.lock would follow


@dataclass(frozen=True)
class Repository:
    """Where the project sits in its git repository."""

    top: Path  # the work tree's top
    prefix: str  # the project's folder inside it ("" at the top)
    gitdir: Path


@dataclass(frozen=True)
class Source:
    """The template an update renders, at which version, and whether its commands may run."""

    location: str
    version: str | None
    trusted: bool


@dataclass
class Plan:
    """The update, worked out in the scratch clone: the file changes and index entries to bring
    into the project, and the conflicts among them."""

    changes: list[Change] = field(default_factory=list)
    index_lines: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    new_paths: list[str] = field(default_factory=list)
    to_version: str = ""
    locked: Locked | None = None


def update(
    project: Path,
    answers: Mapping[str, str] | None = None,
    *,
    defaults: bool = False,
    interactive: bool = False,
    pretend: bool = False,
    template: str | None = None,
    trust: bool = False,
    lock: bool = True,
) -> Update:
    """Bring a generated project to this installation's template version (or to the newest
    version of `template`, a git URL or repository), keeping the user's edits: files they never
    touched are regenerated, also when `answers` change them (sync to async, say); a file both
    changed gets conflict markers. With `lock`, an update that changes pyproject.toml refreshes
    uv.lock in the same change (`Update.locked`). All of it lands, or none of it."""
    from fastapi_scaffold.compiled import compiled_templates  # jinja2: not for --help
    from fastapi_scaffold.git_modes import file_mode_asked_once

    project = project.expanduser().absolute()
    recorded = read_answers(project)
    repository = _repository(project)
    work = repository.gitdir / "fastapi-scaffold-update"
    recovered = recover(repository.top, work)
    remove_tree(work)  # what a killed run left
    data = dict(answers or {})
    check_answers(data)
    if not defaults and not interactive:
        raise MissingAnswers(
            "no terminal to ask on",
            "pass --defaults to keep the recorded answers (and --data to change some)",
        )
    source = _source(recorded, template, trust)
    _refuse_uncommitted_changes(repository)
    from_version = str(recorded.get("_commit"))
    transaction = Transaction(repository.top, work)
    try:
        with temporary_files_in(work / "tmp"), compiled_templates(), file_mode_asked_once():
            plan = _plan(
                repository, project, recorded, source, data, defaults, work, lock and not pretend
            )
            if pretend:
                changed = tuple(change.path for change in plan.changes)
                pyproject = f"{repository.prefix}/pyproject.toml".removeprefix("/")
                would_relock = lock and pyproject in changed
                return Update(
                    project, from_version, plan.to_version, changed, would_relock=would_relock
                )
            _refuse_collisions(repository, plan)
            transaction.apply(plan.changes, then=lambda: _write_index(repository, plan))
    except KeyboardInterrupt as exc:
        if transaction.done:
            raise Interrupted(
                "interrupted as the update finished: it is applied",
                f"review it with `git status`, then commit it, or undo it with `{ABORT}`",
            ) from exc
        raise Interrupted(
            "interrupted before the update was applied", "the project is as it was"
        ) from exc
    except OSError as exc:
        raise from_os_error(exc, "the project is as it was") from exc
    except (GitFailed, TemplateUnavailable) as exc:
        if nearly_full(repository.gitdir):
            raise OutOfSpace(
                f"the disk is full ({exc.problem})", "free some space; the project is as it was"
            ) from exc
        raise
    finally:
        remove_tree(work)
    with contextlib.suppress(ScaffoldError):  # only the index's cached file times
        git(repository.top, "update-index", "-q", "--refresh")
    changed = tuple(change.path for change in plan.changes)
    if plan.conflicts:
        relock = "uv lock && " if plan.locked is not None and not plan.locked.written else ""
        raise UpdateConflicts(plan.conflicts, f"{relock}git add <files> && {FINISH}", ABORT)
    after = read_answers(project)
    styles = (_style_of(recorded), _style_of(after))
    if styles[0] == styles[1]:
        return Update(
            project, from_version, plan.to_version, changed, None, None, recovered, plan.locked
        )
    from fastapi_scaffold.check import check

    return Update(
        project,
        from_version,
        plan.to_version,
        changed,
        styles,
        check(project),
        recovered,
        plan.locked,
    )


def _style_of(answers: Mapping[str, object]) -> str:
    return handler_style(str(answers.get("database")), str(answers.get("http_client")))


def _repository(project: Path) -> Repository:
    try:
        top = Path(git(project, "rev-parse", "--show-toplevel"))
    except GitFailed as exc:
        if "not a git repository" not in exc.problem:
            raise
        raise UpdateRefused(
            f"{project} is not under git",
            "commit it to git first (git init && git add -A && git commit), so that the "
            "update can be reviewed and undone",
        ) from exc
    gitdir = Path(git(project, "rev-parse", "--absolute-git-dir"))
    if not succeeds(project, "rev-parse", "--verify", "--quiet", "HEAD"):
        raise UpdateRefused(
            f"{project} has no commit yet", "commit it (git add -A && git commit), then update"
        )
    prefix = project.resolve().relative_to(top.resolve()).as_posix()
    return Repository(top, "" if prefix == "." else prefix, gitdir)


def _source(recorded: Mapping[str, Any], template: str | None, trust: bool) -> Source:
    """Where the old and the new version come from: this tool's store when the project was
    made from a store (here or on another machine), else the recorded source or --template,
    trusted only with --trust."""
    recorded_source = str(recorded.get("_src_path", ""))
    commit = str(recorded.get("_commit", ""))
    if template is None and _is_a_store(recorded_source):
        store_path, version = store.current_version()
        if not store.has_version(commit):
            raise TemplateUnavailable(
                f"the template version {commit} this project was made from is not in the "
                f"template store ({store_path})",
                "pass --template with a git URL or repository holding that version",
            )
        return Source(str(store_path), version, trusted=True)
    location = template if template is not None else recorded_source
    if not location:
        raise TemplateUnavailable(
            "the project's .copier-answers.yml names no template (_src_path)",
            "pass --template with a git URL or repository holding its version",
        )
    if _is_local(location):
        path = Path(location).expanduser().absolute()
        if not path.exists():
            raise TemplateUnavailable(
                f"the template {location} is not on this machine",
                f"pass --template with a git URL or repository holding its version {commit}",
            )
        location = str(path)
        if path.resolve() == store.store_dir().resolve():
            return Source(location, None, trusted=True)
    return Source(location, None, trusted=trust)


def _is_local(location: str) -> bool:
    return "://" not in location and not re.match(r"^[\w.-]+@[\w.-]+:", location)


def _is_a_store(location: str) -> bool:
    """The store of this machine, or of another one (a project made elsewhere, or before
    FASTAPI_SCAFFOLD_HOME moved): a local path ending in fastapi-scaffold/template."""
    if not location or not _is_local(location):
        return False
    path = Path(location)
    return path == store.store_dir() or path.parts[-2:] == ("fastapi-scaffold", "template")


def _refuse_uncommitted_changes(repository: Repository) -> None:
    status = git_bytes(
        repository.top, "status", "--porcelain=v1", "-z", "--untracked-files=no", "--", "."
    )
    changed = [entry[3:].decode(errors="replace") for entry in status.split(b"\0") if entry]
    if changed:
        shown = ", ".join(changed[:5]) + (", ..." if len(changed) > 5 else "")
        raise UpdateRefused(
            f"{repository.top} has uncommitted changes ({shown})",
            "commit or stash them, then update",
        )


@contextlib.contextmanager
def _copier_errors(source: Source) -> Iterator[None]:
    """copier's exceptions, as one line each."""
    import copier
    from plumbum import ProcessExecutionError

    try:
        yield
    except (KeyboardInterrupt, copier.errors.CopierAnswersInterrupt) as exc:
        raise KeyboardInterrupt from exc
    except copier.errors.UnsafeTemplateError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        features = first_line.partition(": ")[2].rstrip(".") or "commands"
        raise UntrustedTemplate(
            f"the template {source.location} runs commands on update ({features}), and it is "
            "not this tool's own template",
            "read it, and pass --trust only if you trust it; nothing was changed",
        ) from exc
    except ProcessExecutionError as exc:  # git could not clone or check out the template
        if isinstance(error := git_error(subcommand(exc.argv), str(exc.stderr)), OutOfSpace):
            raise error from exc
        reason = _last_line(str(exc.stderr)) or f"git exited with {exc.retcode}"
        raise TemplateUnavailable(
            f"cannot get the template {source.location}: {reason}",
            "check the URL or path and its version tags (and the network); nothing was changed",
        ) from exc
    except copier.errors.UserMessageError as exc:
        raise UpdateRefused(_last_line(str(exc)).rstrip("."), "nothing was changed") from exc
    except ValueError as exc:
        raise InvalidAnswer(validator_message(str(exc)), "nothing was changed") from exc
    except OSError:
        raise
    except ScaffoldError:
        raise
    except Exception as exc:
        raise GenerationFailed(
            f"the update failed to render ({type(exc).__name__}: {_last_line(str(exc))})",
            "nothing was changed; please report this with the command you ran",
        ) from exc


def _plan(
    repository: Repository,
    project: Path,
    recorded: Mapping[str, Any],
    source: Source,
    data: dict[str, str],
    defaults: bool,
    work: Path,
    lock: bool,
) -> Plan:
    """Run copier's update in a scratch clone of HEAD and list what it changed: with `lock`,
    uv.lock too, relocked there when pyproject.toml changed."""
    import copier

    scratch = work / "scratch"
    git(repository.top, "clone", "--quiet", "--shared", "--no-checkout", ".", str(scratch))
    for key, value in _SCRATCH_CONFIG.items():
        git(scratch, "config", key, value)
    git(scratch, "checkout", "--quiet", "--detach", git(repository.top, "rev-parse", "HEAD"))
    inside = scratch / repository.prefix
    _point_answers_at(inside / ".copier-answers.yml", source.location)
    if git(scratch, "status", "--porcelain"):
        git(scratch, "commit", "--quiet", "--all", "--message", "the template's source")
    local_files = {path.name: path for path in project.glob(_LOCAL_FILES) if path.is_file()}
    for name, path in local_files.items():
        shutil.copy2(path, inside / name)

    with _copier_errors(source):
        copier.run_update(
            inside,
            data=data,
            defaults=defaults,
            overwrite=True,
            quiet=True,
            unsafe=source.trusted,
            vcs_ref=source.version,
            conflict="inline",
        )
    locked = _relock(inside, project) if lock else None
    plan = _changes(repository, scratch, work)
    plan.locked = locked
    plan.to_version = str(read_answers(inside).get("_commit"))
    changed_locally = [
        name
        for name, path in local_files.items()
        if not (inside / name).is_file() or (inside / name).read_bytes() != path.read_bytes()
    ]
    if changed_locally:
        _take_migrated_local_files(repository, inside, source, plan, changed_locally, work)
    if any(change.staged is None for change in plan.changes):
        _keep_edited_files_the_update_removes(repository, recorded, source, plan, work)
    return plan


def _relock(inside: Path, project: Path) -> Locked | None:
    """uv.lock brought up to date with a pyproject.toml the update changed (None if it did not):
    uv keeps every pinned version that still fits. A project made before its lock gets one."""
    if not git(inside, "status", "--porcelain", "--", "pyproject.toml"):
        return None
    if "\n<<<<<<< " in "\n" + (inside / "pyproject.toml").read_text(encoding="utf-8"):
        return Locked(
            False,
            "pyproject.toml has conflicts",
            "resolve them, run `uv lock`, and commit uv.lock with the update",
        )
    return lock_project(inside, named=project)


def _take_migrated_local_files(
    repository: Repository,
    inside: Path,
    source: Source,
    plan: Plan,
    names: list[str],
    work: Path,
) -> None:
    """A git-ignored local file (.env) that the update changed: the template's migration edited
    it, and the edit lands with the rest; but a file the new version generates at that path
    would replace the user's own, so the update refuses."""
    import copier

    new = work / "new"
    new_answers = read_answers(inside)
    with _copier_errors(source):
        copier.run_copy(
            source.location,
            new,
            data={key: value for key, value in new_answers.items() if not key.startswith("_")},
            vcs_ref=plan.to_version,
            defaults=True,
            quiet=True,
            unsafe=source.trusted,
            skip_tasks=True,
        )
    prefix = f"{repository.prefix}/" if repository.prefix else ""
    generated = [name for name in names if os.path.lexists(new / name)]
    if generated:
        plan.new_paths.extend(prefix + name for name in generated)
        return  # _refuse_collisions names them
    for name in names:
        if (inside / name).is_file():
            staged = _stage(inside / name, work, len(plan.changes))
            plan.changes.append(Change(prefix + name, staged))


def _point_answers_at(answers_file: Path, location: str) -> None:
    """Make the recorded `_src_path` the chosen source, so copier's public update renders
    both versions from it."""
    import yaml

    text = answers_file.read_text(encoding="utf-8")
    line = f"_src_path: {yaml.safe_dump(location, default_style=chr(39)).strip()}"
    text, count = re.subn(r"(?m)^_src_path:.*$", lambda _: line, text)
    answers_file.write_text(text if count else f"{text.rstrip()}\n{line}\n", encoding="utf-8")


def _changes(repository: Repository, scratch: Path, work: Path) -> Plan:
    """What copier changed in the scratch clone, as staged files and index entries."""
    plan = Plan()
    status = git_bytes(scratch, "status", "--porcelain=v1", "-z", "--untracked-files=all")
    unmerged = _unmerged_entries(scratch)
    for entry in status.split(b"\0"):
        if not entry:
            continue
        code, path = entry[:2].decode(), entry[3:].decode()
        if path in unmerged:
            plan.conflicts.append(path)
            staged = _stage(scratch / path, work, len(plan.changes))
            plan.changes.append(Change(path, staged))
            plan.index_lines.append(f"0 {_ZERO}\t{path}")
            for mode, blob, number in unmerged[path]:
                blob = _copy_blob(scratch, repository.top, blob)
                plan.index_lines.append(f"{mode} {blob} {number}\t{path}")
        elif code.strip() == "D":
            plan.changes.append(Change(path, None))
            plan.index_lines.append(f"0 {_ZERO}\t{path}")
        else:
            staged = _stage(scratch / path, work, len(plan.changes))
            plan.changes.append(Change(path, staged))
            blob = git(repository.top, "hash-object", "-w", "--", str(staged))
            plan.index_lines.append(f"{_mode(staged)} {blob} 0\t{path}")
            if code == "??":
                plan.new_paths.append(path)
            if path.endswith(".rej"):
                plan.conflicts.append(path)
    return plan


def _unmerged_entries(scratch: Path) -> dict[str, list[tuple[str, str, str]]]:
    entries: dict[str, list[tuple[str, str, str]]] = {}
    for line in git_bytes(scratch, "ls-files", "--unmerged", "-z").split(b"\0"):
        if line:
            info, _, path = line.decode().partition("\t")
            mode, blob, number = info.split()
            entries.setdefault(path, []).append((mode, blob, number))
    return entries


def _copy_blob(scratch: Path, repo: Path, blob: str) -> str:
    content = git_bytes(scratch, "cat-file", "blob", blob)
    return git(repo, "hash-object", "-w", "--stdin", stdin=content)


def _stage(path: Path, work: Path, number: int) -> Path:
    """A copy of `path` in the work directory, next to be moved into the project."""
    staged = work / "staged" / str(number)
    staged.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(path, staged)
    return staged


def _mode(path: Path) -> str:
    return "100755" if path.stat().st_mode & stat.S_IXUSR else "100644"


def _keep_edited_files_the_update_removes(
    repository: Repository,
    recorded: Mapping[str, Any],
    source: Source,
    plan: Plan,
    work: Path,
) -> None:
    """A file the new answers remove, but that the user changed since it was generated, stays
    as a conflict ("deleted by them"): never deleted silently."""
    import copier

    old = work / "old"
    old_answers = {key: value for key, value in recorded.items() if not key.startswith("_")}
    with _copier_errors(source):
        copier.run_copy(
            source.location,
            old,
            data=old_answers,
            vcs_ref=str(recorded.get("_commit")),
            defaults=True,
            quiet=True,
            unsafe=source.trusted,
            skip_tasks=True,
        )
    prefix = f"{repository.prefix}/" if repository.prefix else ""
    for change in list(plan.changes):
        if change.staged is not None:
            continue
        generated = old / change.path.removeprefix(prefix)
        ours = git_bytes(repository.top, "show", f"HEAD:{change.path}")
        if generated.is_file() and generated.read_bytes() == ours:
            continue
        plan.changes.remove(change)  # the file stays as the user left it
        plan.conflicts.append(change.path)
        mode, _, head_blob = git(repository.top, "ls-tree", "HEAD", "--", change.path).split()[:3]
        lines = [line for line in plan.index_lines if not line.endswith(f"\t{change.path}")]
        lines.append(f"0 {_ZERO}\t{change.path}")
        if generated.is_file():
            base = git(repository.top, "hash-object", "-w", "--", str(generated))
            lines.append(f"{mode} {base} 1\t{change.path}")
        lines.append(f"{mode} {head_blob} 2\t{change.path}")
        plan.index_lines[:] = lines


def _refuse_collisions(repository: Repository, plan: Plan) -> None:
    """Never write over a file git does not track (untracked or ignored): name each one."""
    in_the_way = []
    for path in plan.new_paths:
        target = repository.top / path
        parents = [parent for parent in target.parents if parent.is_relative_to(repository.top)]
        blocked = any(os.path.lexists(parent) and not parent.is_dir() for parent in parents)
        if os.path.lexists(target) or blocked:
            in_the_way.append(path)
    if in_the_way:
        raise UpdateRefused(
            f"the update would write over files git does not track: {', '.join(in_the_way)}",
            "move them out of the way (they may be git-ignored), update, then merge them back; "
            "nothing was changed",
        )


def _write_index(repository: Repository, plan: Plan) -> None:
    if plan.index_lines:
        stdin = ("\n".join(plan.index_lines) + "\n").encode()
        git(repository.top, "update-index", "--index-info", stdin=stdin)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""
