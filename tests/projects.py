"""Running a generated project's own test suite, as its developers would."""

import os
import subprocess
import sys
from pathlib import Path


def run_project_tests(
    project: Path, database_url: str | None, *pytest_args: str
) -> subprocess.CompletedProcess[str]:
    """Run the project's pytest against `database_url` (None: a project without a database)."""
    env = {**os.environ}
    env.pop("DATABASE_URL", None)
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *pytest_args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
