"""The errors a user can fix. The CLI prints each as one red line and exits with its code.

`check` also ends with a code of its own when it ran: 0 when it found nothing, 1 when it found
blocking calls, and CHECK_INCOMPLETE_EXIT_CODE when some file (or function) could not be checked:
each is named in one line on stderr, and what was found in the rest is reported all the same.
"""

CHECK_INCOMPLETE_EXIT_CODE = 12


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
    """The update left conflict markers where the template and the user both changed a file."""

    exit_code = 9

    def __init__(self, files: list[str]) -> None:
        super().__init__(
            f"conflicts in {len(files)} file(s): {', '.join(files)}",
            "resolve the <<<<<<< markers, then `git add` them and commit",
        )
        self.files = files


class TemplateUnavailable(ScaffoldError):
    """The template version a project was made from cannot be found here."""

    exit_code = 10


class Interrupted(ScaffoldError):
    """Ctrl-C; nothing was written."""

    exit_code = 130


class CheckPathMissing(ScaffoldError):
    """`check` was given a path that does not exist (2, as for a usage error)."""

    exit_code = 2


class CheckConfigError(ScaffoldError):
    """`check` options or `[tool.fastapi-scaffold.check]` name an unknown rule or setting."""

    exit_code = 11
