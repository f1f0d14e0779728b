"""A migration step for `_migrations` in copier.yml: rename a setting in a project's .env files.

A renamed setting is more than a re-render: copier regenerates settings.py, but the values a
developer keeps in `.env` (git-ignored, so no update touches it) would silently stop applying.
Run from the project's directory, by copier, as:

    {{ _copier_python }} {{ _copier_conf.src_path }}/migrations/rename_setting.py OLD NEW
"""

import re
import sys
from pathlib import Path


def rename_setting(project: Path, old: str, new: str) -> list[Path]:
    """Rename `OLD=` to `NEW=` (also `export OLD=`) in .env and .env.* files; return those
    changed."""
    assignment = re.compile(rf"^(\s*(?:export\s+)?){re.escape(old)}(\s*=)", re.MULTILINE)
    changed = []
    for env_file in sorted(project.glob(".env*")):
        if not env_file.is_file():
            continue
        text = env_file.read_text()
        renamed = assignment.sub(rf"\g<1>{new}\g<2>", text)
        if renamed != text:
            env_file.write_text(renamed)
            changed.append(env_file)
    return changed


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: rename_setting.py OLD_NAME NEW_NAME", file=sys.stderr)
        return 2
    old, new = argv
    for env_file in rename_setting(Path.cwd(), old, new):
        print(f"{env_file.name}: renamed {old} to {new}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
