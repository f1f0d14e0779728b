"""The errors a user can fix. The CLI prints each as one red line and exits with its code."""


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


class Interrupted(ScaffoldError):
    """Ctrl-C; nothing was written."""

    exit_code = 130
