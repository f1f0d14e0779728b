"""Jinja's compiled templates, kept between renders.

copier builds a new Jinja environment for every render and compiles every file and every file
name of the template again: 500 compiles, about 60% of the CPU of `new` and of each of the two
or three renders of `update`. Compiling is a pure function of the source and of the
environment's configuration, so while `compiled_templates()` is open each compile is looked up
first: in this process's memory, then in a directory of the user's own (the code objects,
marshalled, as Python keeps its own .pyc files). Nothing else changes: copier and Jinja render
as they would, from the code they would have compiled.

The directory is used only if this user owns it and no one else can write to it: a cache is
code that will run. It is never required: a directory that cannot be written, or a file that
cannot be read back, means compiling as if there were no cache.
"""

import contextlib
import hashlib
import importlib.util
import inspect
import marshal
import os
import stat
import tempfile
import types
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment
from jinja2.utils import _PassArg

# What changes the code Jinja generates for the same source: the syntax it parses, the
# extensions that rewrite it, and which filters and tests exist and what they are passed.
_SYNTAX = (
    "block_start_string", "block_end_string", "variable_start_string", "variable_end_string",
    "comment_start_string", "comment_end_string", "line_statement_prefix",
    "line_comment_prefix", "trim_blocks", "lstrip_blocks", "newline_sequence",
    "keep_trailing_newline", "optimized", "is_async", "autoescape",
    "intercepted_binops", "intercepted_unops",  # a sandbox's: calls compiled in
)  # fmt: skip

# Jinja's own, which each block wraps: blocks replace one another, they do not stack.
_JINJA_COMPILE = SandboxedEnvironment.compile
_memory: dict[str, types.CodeType] = {}
_fingerprints: "weakref.WeakKeyDictionary[jinja2.Environment, str]" = weakref.WeakKeyDictionary()


def cache_dir() -> Path:
    """$FASTAPI_SCAFFOLD_HOME/cache/jinja, else $XDG_CACHE_HOME/fastapi-scaffold/jinja, else
    ~/.cache/fastapi-scaffold/jinja."""
    if explicit := os.environ.get("FASTAPI_SCAFFOLD_HOME"):
        return Path(explicit) / "cache" / "jinja"
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "fastapi-scaffold" / "jinja"


@contextlib.contextmanager
def compiled_templates(directory: Path | None = None) -> Iterator[None]:
    """Within this block, Jinja's sandboxed environments (copier's) reuse compiled code. A block
    opened inside another reads and writes its own directory only, until it ends: a miss is
    compiled once, not looked up again in the outer block's directory."""
    outer = SandboxedEnvironment.compile
    usable = _usable(cache_dir() if directory is None else directory)
    SandboxedEnvironment.compile = _caching(_JINJA_COMPILE, usable)  # type: ignore[method-assign]
    try:
        yield
    finally:
        SandboxedEnvironment.compile = outer  # type: ignore[method-assign]


def _caching(original: Callable[..., Any], directory: Path | None) -> Callable[..., Any]:
    def compile(
        self: jinja2.Environment,
        source: Any,
        name: str | None = None,
        filename: str | None = None,
        raw: bool = False,
        defer_init: bool = False,
    ) -> Any:
        if raw or not isinstance(source, str):
            return original(self, source, name, filename, raw, defer_init)
        # Not keyed by the file's path: copier renders from a new temporary clone each time.
        key = hashlib.sha256(
            "\0".join((_fingerprint(self), str(name), str(defer_init), source)).encode(
                "utf-8", "surrogatepass"
            )
        ).hexdigest()
        if (code := _memory.get(key)) is None:
            code = _read(directory, key)
            if code is None:
                code = original(self, source, name, filename, raw, defer_init)
                _write(directory, key, code)
            _memory[key] = code
        return _filed_as(code, filename or "<template>")  # as Jinja names it, for tracebacks

    return compile


def _filed_as(code: types.CodeType, filename: str) -> types.CodeType:
    if code.co_filename == filename:
        return code
    constants = tuple(
        _filed_as(constant, filename) if isinstance(constant, types.CodeType) else constant
        for constant in code.co_consts
    )
    return code.replace(co_filename=filename, co_consts=constants)


def _fingerprint(environment: jinja2.Environment) -> str:
    if (known := _fingerprints.get(environment)) is not None:
        return known

    def passed(functions: dict[str, Any]) -> list[tuple[str, str]]:
        return sorted(
            (name, str(_PassArg.from_obj(function))) for name, function in functions.items()
        )

    parts = [
        jinja2.__version__,
        importlib.util.MAGIC_NUMBER.hex(),
        f"{type(environment).__module__}.{type(environment).__qualname__}",
        *(repr(_sorted(getattr(environment, option, None))) for option in _SYNTAX),
        repr(sorted(_source_of(type(extension)) for extension in environment.extensions.values())),
        repr(environment.finalize is not None),
        repr(passed(environment.filters)),
        repr(passed(environment.tests)),
    ]
    fingerprint = hashlib.sha256("\0".join(parts).encode()).hexdigest()
    _fingerprints[environment] = fingerprint
    return fingerprint


def _sorted(value: Any) -> Any:
    """A set's items in order, so that its repr is the same in every process."""
    return sorted(value) if isinstance(value, frozenset | set) else value


def _source_of(code: type) -> tuple[str, str, int, int]:
    """An extension's name and its module file's size and time: a new version of it may
    rewrite templates differently."""
    try:
        found = os.stat(inspect.getfile(code))
    except (OSError, TypeError):
        return (code.__module__, code.__qualname__, 0, 0)
    return (code.__module__, code.__qualname__, found.st_size, found.st_mtime_ns)


def _usable(directory: Path) -> Path | None:
    """`directory`, made if missing, if it is this user's alone; else None (no disk cache)."""
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        found = directory.stat()
    except OSError:
        return None
    mine = found.st_uid == os.getuid() and not found.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    return directory if mine and stat.S_ISDIR(found.st_mode) else None


def _read(directory: Path | None, key: str) -> types.CodeType | None:
    if directory is None:
        return None
    try:
        code = marshal.loads((directory / key).read_bytes())
    except (OSError, EOFError, ValueError, TypeError):
        return None
    return code if isinstance(code, types.CodeType) else None


def _write(directory: Path | None, key: str, code: types.CodeType) -> None:
    """Written whole or not at all (a temporary file renamed), so a reader never sees half."""
    if directory is None:
        return
    try:
        handle, temporary = tempfile.mkstemp(dir=directory, prefix=f".{key[:16]}-")
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(marshal.dumps(code))
            os.replace(temporary, directory / key)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
    except OSError:
        pass  # a full disk or a read-only home: the next render compiles again
