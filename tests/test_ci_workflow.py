"""The generator's GitHub Actions workflow: valid against its published schema, one matrix job
per variant that `fastapi-scaffold variants --json` lists (no more, no fewer), and each job
running the command the README gives for checking one variant."""

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.served import BIN

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
SETUP_ACTION = ROOT / ".github" / "actions" / "setup" / "action.yml"
VARIANT_COMMAND = "pytest --variant ${{ matrix.variant }}"


def load(path: Path) -> dict[str, Any]:
    # YAML 1.1 reads the key `on` as True; the workflow's meaning does not depend on it here.
    workflow: dict[str, Any] = yaml.safe_load(path.read_text())
    return workflow


def variant_ids() -> list[str]:
    """What the command prints, as a user or a generated matrix job would read it."""
    result = subprocess.run(
        [str(BIN / "fastapi-scaffold"), "variants", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    listed: list[dict[str, Any]] = json.loads(result.stdout)
    return [variant["id"] for variant in listed]


def matrix_drift(workflow: dict[str, Any], ids: list[str]) -> list[str]:
    """How the workflow's variant matrix differs from `ids`, one line per difference."""
    matrix: list[str] = workflow["jobs"]["variant"]["strategy"]["matrix"]["variant"]
    problems = [f"{v} is not in the CI matrix: add it" for v in ids if v not in matrix]
    problems += [
        f"{v} is in the CI matrix but is no variant: remove it" for v in matrix if v not in ids
    ]
    problems += [f"{v} is in the CI matrix twice" for v in set(matrix) if matrix.count(v) > 1]
    return problems


def test_variants_json_lists_id_answers_and_style() -> None:
    result = subprocess.run(
        [str(BIN / "fastapi-scaffold"), "variants", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    listed = json.loads(result.stdout)
    assert len(listed) == len({variant["id"] for variant in listed}) == 60
    first = next(v for v in listed if v["id"] == "psycopg2-httpx-thread")
    assert first == {
        "id": "psycopg2-httpx-thread",
        "answers": {
            "database": "psycopg2",
            "orm": "none",
            "http_client": "httpx",
            "cpu_work": "thread",
        },
        "handler_style": "mixed",
    }
    orm = next(v for v in listed if v["id"] == "asyncpg+sqlalchemy-httpx-process")
    assert orm["answers"]["orm"] == "sqlalchemy"
    assert orm["handler_style"] == "async"


def test_the_matrix_lists_every_variant_and_nothing_else() -> None:
    problems = matrix_drift(load(WORKFLOW), variant_ids())
    assert not problems, "\n".join(problems)


def test_the_guard_catches_a_variant_left_out_or_left_over() -> None:
    """A choice added to copier.yml makes new variants; until the workflow lists them, the
    guard above fails. Shown here on a copy of the workflow with one entry moved."""
    workflow = load(WORKFLOW)
    matrix = workflow["jobs"]["variant"]["strategy"]["matrix"]["variant"]
    left_out = matrix.pop(matrix.index("asyncpg-httpx-process"))
    matrix.append("asyncpg-httpx-gpu")
    assert matrix_drift(workflow, variant_ids()) == [
        f"{left_out} is not in the CI matrix: add it",
        "asyncpg-httpx-gpu is in the CI matrix but is no variant: remove it",
    ]


@pytest.mark.parametrize(
    ("path", "schema"),
    [(WORKFLOW, "vendor.github-workflows"), (SETUP_ACTION, "vendor.github-actions")],
    ids=["workflow", "setup-action"],
)
def test_files_match_their_published_schema(path: Path, schema: str) -> None:
    result = subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", schema, str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_workflow_is_safe_and_cancels_superseded_runs() -> None:
    workflow = load(WORKFLOW)
    assert workflow["permissions"] == {"contents": "read"}
    assert workflow["concurrency"]["cancel-in-progress"] is True
    assert "github.ref" in workflow["concurrency"]["group"]
    assert workflow["jobs"]["variant"]["strategy"]["fail-fast"] is False
    uses = re.findall(r"uses: (\S+)", WORKFLOW.read_text() + SETUP_ACTION.read_text())
    assert uses
    for action in uses:
        assert action.startswith("./") or re.fullmatch(r"[\w-]+/[\w-]+@v\d+", action), (
            f"{action}: pin actions to a major version (owner/name@vN)"
        )


def _run_steps(job: dict[str, Any]) -> list[str]:
    return [step["run"] for step in job["steps"] if "run" in step]


def test_each_job_runs_what_the_readme_says() -> None:
    """The variant job runs the README's command for one variant; the checks job runs the
    generator's linters and every other test; both install the servers the tests need, as
    .ci/run does."""
    jobs = load(WORKFLOW)["jobs"]
    readme = (ROOT / "README.md").read_text()
    assert _run_steps(jobs["variant"]) == [VARIANT_COMMAND]
    assert "pytest --variant asyncpg-httpx-process" in readme
    assert _run_steps(jobs["lowest"])[1].startswith("pytest -n auto tests/test_cli.py")
    assert _run_steps(jobs["checks"]) == [
        "ruff check .",
        "ruff format --check .",
        "mypy",
        'pytest -n auto -m "not variant"',
    ]
    for job in jobs.values():
        assert job["steps"][0]["uses"].startswith("actions/checkout@")
        assert {"uses": "./.github/actions/setup"} in job["steps"]
    setup = " ".join(_run_steps(load(SETUP_ACTION)["runs"]))
    ci_run = (ROOT / ".ci" / "run").read_text()
    for package in ("postgresql", "redis-server"):
        assert re.search(rf"apt-get install -y -qq [a-z -]*\b{package}\b", setup), package
        assert f"apt-get install -y -qq {package}" in ci_run, package
    assert "pip install -e '.[test]'" in setup


def collect_variant(variant: str) -> subprocess.CompletedProcess[str]:
    """What `pytest --variant <variant>` would run, collected only."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:xdist"]
        + ["--variant", variant],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def test_variant_option_selects_one_variants_checks() -> None:
    result = collect_variant("none-requests-thread")
    assert result.returncode == 0, result.stdout + result.stderr
    selected = [line for line in result.stdout.splitlines() if "::" in line]
    assert "tests/test_variants.py::test_variant_passes_its_checks_and_its_own_suite" in " ".join(
        selected
    )
    assert {line.split("::")[0] for line in selected} == {
        "tests/test_variants.py",
        "tests/test_shipping.py",
        "tests/test_check.py",
    }
    assert all(line.endswith("[none-requests-thread]") for line in selected), selected
    unknown = collect_variant("mysql-httpx-none")
    assert unknown.returncode == pytest.ExitCode.USAGE_ERROR
    assert "no such variant: mysql-httpx-none" in unknown.stderr


def test_the_lowest_job_installs_the_lower_bounds_of_the_dependencies() -> None:
    """pyproject.toml's lower bounds are what the "lowest" job tests: raise both together."""
    install = _run_steps(load(WORKFLOW)["jobs"]["lowest"])[0].split()
    pins = {pin.split("==")[0]: pin.split("==")[1] for pin in install if "==" in pin}
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    floors = {}
    for line in project["dependencies"]:
        name, _, rest = line.partition(">=")
        floors[name] = rest.split(",")[0]
    assert pins == floors
