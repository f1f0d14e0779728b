"""`check` in a user's CI: this repository's pre-commit hook manifest and the README's
pre-commit and GitHub Actions examples are valid (pre-commit's own validators and the
published workflow schema, offline), and each runs the command as the README says."""

import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import yaml

from tests.test_check import SHOP

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
MANIFEST = ROOT / ".pre-commit-hooks.yaml"
README = (ROOT / "README.md").read_text()


def readme_yaml(containing: str) -> str:
    """The README's one YAML example that mentions `containing`."""
    blocks: list[str] = re.findall(r"```yaml\n(.*?)```", README, re.S)
    found = [block for block in blocks if containing in block]
    assert len(found) == 1, f"{len(found)} YAML examples in README.md have {containing}"
    return found[0]


def validate(*command: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def hook() -> dict[str, Any]:
    (only,) = yaml.safe_load(MANIFEST.read_text())
    assert isinstance(only, dict)
    return only


def test_the_hook_manifest_is_valid_for_pre_commit() -> None:
    validate(str(BIN / "pre-commit"), "validate-manifest", str(MANIFEST))


def test_the_hook_checks_the_whole_project_with_the_installed_command() -> None:
    """No file names: a handler reaches helpers in files the commit does not touch. The entry
    is the console script this package installs, run as pre-commit runs it, from the root."""
    declared = hook()
    assert declared["id"] == "fastapi-scaffold-check"
    assert declared["language"] == "python"
    assert declared["pass_filenames"] is False
    assert set(declared["types_or"]) == {"python", "toml"}
    script, *arguments = shlex.split(declared["entry"])
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert script in scripts
    result = subprocess.run(
        [str(BIN / script), *arguments, *declared.get("args", [])],
        cwd=SHOP,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert "Found 28 blocking call(s) on the event loop." in result.stdout


def test_the_readme_pre_commit_example_is_valid_and_uses_the_hook(tmp_path: Path) -> None:
    example = readme_yaml("pre-commit-config")
    config = tmp_path / ".pre-commit-config.yaml"
    config.write_text(example)
    validate(str(BIN / "pre-commit"), "validate-config", str(config))
    (repo,) = yaml.safe_load(example)["repos"]
    assert [h["id"] for h in repo["hooks"]] == [hook()["id"]]


def test_the_readme_sarif_workflow_is_valid_and_uploads_what_check_writes(
    tmp_path: Path,
) -> None:
    example = readme_yaml("upload-sarif")
    workflow = tmp_path / "blocking-calls.yml"
    workflow.write_text(example)
    validate(
        str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(workflow)
    )
    (job,) = yaml.safe_load(example)["jobs"].values()
    assert job["permissions"]["security-events"] == "write"
    runs = [step["run"] for step in job["steps"] if "run" in step]
    check = next(run for run in runs if run.startswith("fastapi-scaffold check"))
    command, _, written = check.partition(" > ")
    assert command == "fastapi-scaffold check --format sarif"
    upload = next(step for step in job["steps"] if "upload-sarif" in step.get("uses", ""))
    assert re.fullmatch(r"github/codeql-action/upload-sarif@v\d+", upload["uses"])
    assert upload["with"]["sarif_file"] == written
    assert upload["if"] == "${{ !cancelled() }}"  # findings (exit 1) are uploaded too
