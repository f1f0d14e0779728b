"""`[tool.fastapi-scaffold.check]` in the project's pyproject.toml: the project's own blocking
modules, and the largest file read."""

import tomllib
from dataclasses import dataclass
from pathlib import Path

from fastapi_scaffold.check.blocking import Rule, project_rule
from fastapi_scaffold.check.files import DEFAULT_MAX_FILE_BYTES
from fastapi_scaffold.errors import CheckConfigError

CONFIG_TABLE = ("tool", "fastapi-scaffold", "check")
KNOWN = {
    "blocking-modules": 'blocking-modules = ["h5py", "serial"]',
    "max-file-bytes": f"max-file-bytes = {DEFAULT_MAX_FILE_BYTES:_}",
}


@dataclass(frozen=True)
class Settings:
    rules: tuple[Rule, ...] = ()  # the project's own blocking modules, as one rule
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES


def settings(path: Path) -> Settings:
    """The settings in the nearest pyproject.toml at or above `path`; the defaults without."""
    directory = path.resolve() if path.is_dir() else path.resolve().parent
    for candidate in (directory, *directory.parents):
        pyproject = candidate / "pyproject.toml"
        if pyproject.is_file():
            break
    else:
        return Settings()
    try:
        config: object = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CheckConfigError(f"{pyproject} is not valid TOML ({exc})", "fix its syntax") from exc
    for key in CONFIG_TABLE:
        config = config.get(key, {}) if isinstance(config, dict) else {}
    if not isinstance(config, dict):
        config = {}
    unknown = sorted(set(config) - set(KNOWN))
    if unknown:
        raise CheckConfigError(
            f"{pyproject}: unknown setting(s) {', '.join(unknown)} "
            "in [tool.fastapi-scaffold.check]",
            f"the settings are {' and '.join(KNOWN.values())}",
        )
    modules = config.get("blocking-modules", [])
    if not isinstance(modules, list) or not all(isinstance(m, str) and m.strip() for m in modules):
        raise CheckConfigError(
            f"{pyproject}: blocking-modules must be a list of module names",
            f"write it as {KNOWN['blocking-modules']}",
        )
    max_file_bytes = config.get("max-file-bytes", DEFAULT_MAX_FILE_BYTES)
    if (
        isinstance(max_file_bytes, bool)
        or not isinstance(max_file_bytes, int)
        or max_file_bytes < 1
    ):
        raise CheckConfigError(
            f"{pyproject}: max-file-bytes must be a positive number of bytes",
            f"write it as {KNOWN['max-file-bytes']}",
        )
    rules = (project_rule(tuple(m.strip() for m in modules)),) if modules else ()
    return Settings(rules, max_file_bytes)
