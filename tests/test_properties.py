"""Property-based: schemathesis generates requests from each served app's own OpenAPI schema,
valid and invalid, and no request may get a 5xx while the database and the upstream are up."""

import os
import subprocess
from pathlib import Path

import pytest
from pytest_copie.plugin import Copie

from fastapi_scaffold.template import Variant
from tests.projects import FULL_FEATURED, generate
from tests.served import BIN, served

SEED = 20251122  # the same requests on every run: a failure here reproduces
MAX_EXAMPLES = 60  # per operation, in each of the fuzzing and stateful phases
# A run takes about 30 s alone on 2 cores, over 120 s beside a loaded suite (seen at load 7):
# past this bound, a hang guard rather than a speed check, it is stopped and fails.
TIME_LIMIT_S = 360
REQUEST_TIMEOUT_S = 10


def schemathesis_command(base: str, config: Path) -> list[str]:
    return [
        str(BIN / "schemathesis"),
        # An empty configuration file: no schemathesis.toml found above the test's directory
        # can change the run.
        "--config-file",
        str(config),
        "--no-color",
        "run",
        f"{base}/openapi.json",
        "--checks",
        "not_a_server_error",
        "--seed",
        str(SEED),
        "--max-examples",
        str(MAX_EXAMPLES),
        # No examples replayed from earlier runs: each run is the seed's, and only the seed's.
        "--generation-database",
        "none",
        "--workers",
        "1",
        "--request-timeout",
        str(REQUEST_TIMEOUT_S),
        # Hypothesis's check on how long generating takes: a busy machine is not a failure.
        "--suppress-health-check",
        "too_slow",
    ]


def _text(output: str | bytes | None) -> str:
    if isinstance(output, bytes):
        return output.decode(errors="replace")
    return output or ""


@pytest.mark.slow
@pytest.mark.parametrize("variant", FULL_FEATURED, ids=lambda variant: variant.id)
def test_no_generated_request_gets_a_server_error(
    variant: Variant,
    copie: Copie,
    tmp_path: Path,
    database_url: str,
    healthy_upstream_url: str,
) -> None:
    package = f"app_{variant.id.replace('-', '_')}"
    project = generate(copie, variant, package)
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "UPSTREAM_URL": healthy_upstream_url,
        "COMPUTE_MAX_N": "100000",  # the largest /compute then takes milliseconds
    }
    config = tmp_path / "schemathesis.toml"
    config.write_text("")
    with served(project, package, env) as base:
        command = schemathesis_command(base, config)
        try:
            # Its working directory is the test's: it writes .schemathesis/ and .hypothesis/.
            result = subprocess.run(
                command,
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=TIME_LIMIT_S,
                check=False,
            )
        except subprocess.TimeoutExpired as expired:
            raise AssertionError(
                f"schemathesis did not finish within {TIME_LIMIT_S} s; its output so far:\n"
                f"{_text(expired.stdout)}{_text(expired.stderr)}"
            ) from None
        # Its report names each failing operation, the response, and a curl command that
        # repeats the request; served() adds uvicorn's log, with the server's tracebacks.
        assert result.returncode == 0, (
            f"schemathesis found requests that fail (exit code {result.returncode}):\n"
            f"{result.stdout}{result.stderr}"
        )
