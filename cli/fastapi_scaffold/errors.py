"""The errors a user can fix. The CLI prints each as one red line (plain when NO_COLOR is set)
and exits with its code.

`check` also ends with a code of its own when it ran: 0 when it found nothing, 1 when it found
blocking calls, and CHECK_INCOMPLETE_EXIT_CODE when some file (or function) could not be checked:
each is named in one line on stderr, and what was found in the rest is reported all the same.

`new` and `update` end with NOT_LOCKED_EXIT_CODE when they did their work but could not write
the project's uv.lock (no package index; a uv workspace that keeps its members' lock at
its root): one yellow line says why, and how to lock it.
"""

import errno

CHECK_INCOMPLETE_EXIT_CODE = 17
NOT_LOCKED_EXIT_CODE = 18


class ScaffoldError(Exception):
    """A problem and its fix, said in one line."""

    exit_code = 1

    def __init__(self, problem: str, fix: str) -> None:
        super().__init__(f"{problem}; {fix}")
        self.problem = problem
        self.fix = fix


class DestinationError(ScaffoldError):
    """The destination cannot take a new project: not empty, a file, or not writable."""

    exit_code = 3


class InvalidAnswer(ScaffoldError):
    """An answer the template refuses: an unknown question, choice, or a malformed name."""

    exit_code = 4


class MissingAnswers(ScaffoldError):
    """No terminal to ask on, and answers missing."""

    exit_code = 5


class GenerationFailed(ScaffoldError):
    """The template failed to render; nothing was written."""

    exit_code = 6


class NotAProject(ScaffoldError):
    """The directory holds no .copier-answers.yml: it was not generated from this template."""

    exit_code = 7


class UpdateRefused(ScaffoldError):
    """The project is not under git, has uncommitted changes, or copier refused the update."""

    exit_code = 8


class UpdateConflicts(ScaffoldError):
    """The update is applied, and left conflicts where the template and the user both changed
    a file (markers), or the template removes a file the user edited (kept, "deleted by them").
    The message gives the commands that finish the update and those that abort it."""

    exit_code = 9

    def __init__(self, files: list[str], finish: str, abort: str) -> None:
        super().__init__(
            f"the update is applied with conflicts in {len(files)} file(s): {', '.join(files)}",
            f"to finish, resolve them (the <<<<<<< markers; keep or `git rm` a file the new "
            f"answers remove), then run `{finish}`; to abort and restore the project as it "
            f"was, run `{abort}`",
        )
        self.files = files
        self.finish = finish
        self.abort = abort


class TemplateUnavailable(ScaffoldError):
    """The template version a project was made from cannot be found here."""

    exit_code = 10


class UntrustedTemplate(ScaffoldError):
    """A template other than this tool's own wants to run commands (`_tasks`, `_migrations`,
    Jinja extensions), and the user did not pass --trust."""

    exit_code = 12


class StoreUnusable(ScaffoldError):
    """The local template store cannot be used, and could not be rebuilt: the fix is named."""

    exit_code = 13


class GitFailed(ScaffoldError):
    """git itself failed (a broken configuration, a refused commit): git's reason is given."""

    exit_code = 14


class OutOfSpace(ScaffoldError):
    """The disk filled up; what was written so far was undone."""

    exit_code = 15


class AccessDenied(ScaffoldError):
    """A file or directory the command must read or write is not accessible."""

    exit_code = 16


class Interrupted(ScaffoldError):
    """Ctrl-C or SIGTERM; the message says whether anything was written."""

    exit_code = 130


# What an interrupt before any command started says (while the CLI imports, or asks).
INTERRUPTED_BEFORE_WRITING = "interrupted before anything was written"


class CheckPathMissing(ScaffoldError):
    """`check` was given a path that does not exist (2, as for a usage error)."""

    exit_code = 2


class CheckConfigError(ScaffoldError):
    """`check` options or `[tool.fastapi-scaffold.check]` name an unknown rule or setting."""

    exit_code = 11


def from_os_error(error: OSError, state: str) -> ScaffoldError:
    """A full disk or a file the user cannot read or write, said in one line with `state`
    (what the command left: "nothing was written", say)."""
    where = error.filename or "a file"
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return OutOfSpace(f"the disk is full (writing {where})", f"free some space; {state}")
    reason = "permission denied" if isinstance(error, PermissionError) else error.strerror
    return AccessDenied(f"{reason or error}: {where}", state)
