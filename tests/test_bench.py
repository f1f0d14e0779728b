"""The benchmark's smoke run: `python -m bench.run --quick` completes and writes its report with
every row and every target's verdict, and the plot. No timing is asserted."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
from pytest_copie.plugin import Copie

from bench import celery_jobs, cpu_isolation, io_concurrency, orm_cost, overhead, projects
from tests.projects import copy_template, run_mypy, run_project_tests

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_quick_run_writes_every_row(tmp_path: Path) -> None:
    out = tmp_path / "benchmarks.md"
    result = subprocess.run(
        [sys.executable, "-m", "bench.run", "--quick", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = out.read_text()
    assert result.stdout.strip() == report.strip()  # printed as written

    rows = [case.label for case in io_concurrency.CASES]
    rows += [case.label for case in cpu_isolation.CASES]
    rows += [case.label for case in overhead.CASES]
    rows += [*celery_jobs.LATENCY_ROWS.values(), *celery_jobs.THROUGHPUT_ROWS.values()]
    rows += ["`fastapi-scaffold new DIR --defaults --no-git --no-lock`"]
    rows += ["`fastapi-scaffold --help`"]
    rows += ["`fastapi-scaffold new DIR --defaults --no-lock` (and its git repository)"]
    for label in rows:
        assert f"| {label} |" in report, f"no row for {label}"
    for family in orm_cost.FAMILIES:
        for endpoint, *_ in orm_cost.ENDPOINTS:
            assert f"| {family.label} | {endpoint} |" in report, f"no row for {family.key}"

    summary = report.split("## Targets", 1)[1].split("\n## ", 1)[0]
    verdicts = re.findall(r"^\| .+ \| (PASS|MISS) \|$", summary, flags=re.MULTILINE)
    # 3 I/O, 1 CPU isolation, 1 overhead, 2 tool, 3 Celery, 1 ORM
    assert len(verdicts) == 11, summary
    for heading in ("## 1. I/O concurrency", "## 2. CPU isolation", "## 3. Overhead",
                    "## 4. The tool", "## 5. Celery against the process pool",
                    "## 6. The ORM's cost",
                    "## Which transport", "## Findings"):  # fmt: skip
        assert heading in report
    assert out.with_suffix(".png").read_bytes().startswith(b"\x89PNG")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("change", "answers"),
    # The proposals the template has not adopted (the aiohttp transport and nice workers were).
    [(projects.FLAT_ROUTES, {"database": "none", "http_client": "httpx"})],
    ids=["flat-routes"],
)
def test_proposed_change_keeps_the_project_green(
    change: projects.Change, answers: dict[str, str], copie: Copie
) -> None:
    """Each change the report proposes, applied to a generated project as the benchmark
    applies it, passes the project's own ruff, mypy --strict and test suite (the upstream's
    refused connection, timeout and errors included)."""
    project = copy_template(copie, {"package_name": "proposed", **answers})
    not_applied, diff = change.apply(project, "proposed")
    assert not not_applied, f"the template has adopted it ({not_applied}): drop it from this test"
    assert diff.startswith("--- a/")
    bin_dir = Path(sys.executable).parent
    for command in (
        [str(bin_dir / "ruff"), "check", "."],
        [str(bin_dir / "ruff"), "format", "--check", "."],
    ):
        result = subprocess.run(
            command, cwd=project, capture_output=True, text=True, timeout=300, check=False
        )
        assert result.returncode == 0, f"{command}:\n{result.stdout}\n{result.stderr}"
    typed = run_mypy(project, project / ".mypy_cache")
    assert typed.returncode == 0, f"mypy:\n{typed.stdout}\n{typed.stderr}"
    suite = run_project_tests(project, None)
    assert suite.returncode == 0, f"its own suite:\n{suite.stdout[-5000:]}"
