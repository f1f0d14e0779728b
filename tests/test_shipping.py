"""Every variant ships ready for a team and a server: a Dockerfile whose steps work, a compose
file that agrees with the app, a CI workflow that runs what the README says, and pre-commit
hooks; each checked offline, short of building an image (no container engine here)."""

import importlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from importlib import metadata
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from check_jsonschema.cli.main_command import main as check_jsonschema_command
from click.testing import CliRunner
from dockerfile_parse import DockerfileParser
from pre_commit.commands.validate_config import validate_config
from pytest_copie.plugin import Copie

from fastapi_scaffold.lock import lock, uv_binary
from fastapi_scaffold.template import Variant
from tests.projects import copy_of, each_variant, package_of, rendered
from tests.served import BIN, readme_command, served_process
from tests.template_helpers import postgres

# What the image's build stage is made of; each test substitutes only these paths.
IMAGE_VENV = "/venv"
IMAGE_PORT = "8000"


def readme_block(readme: str, heading: str) -> list[str]:
    """The commands of the first sh block under `heading`, one per line (comments dropped)."""
    section = readme.split(f"## {heading}\n", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()]


def settings_of(project: Path, package: str) -> dict[str, bool]:
    """Each setting's environment variable, and whether it is required (has no default): read
    from the generated Settings, imported here (each variant's package has a name of its own,
    package_of, so none hides another); a process each cost 60 variants about 80 s of CPU."""
    sys.path.insert(0, str(project))
    try:
        module = importlib.import_module(f"{package}.settings")
    finally:
        sys.path.remove(str(project))
    fields = module.Settings.model_fields.items()
    return {name.upper(): field.is_required() for name, field in fields}


@pytest.fixture(
    scope="module",
    params=each_variant(),
)
def variant(request: pytest.FixtureRequest) -> Variant:
    chosen: Variant = request.param
    return chosen


@pytest.fixture(scope="module")
def project(
    variant: Variant, copie_session: Copie, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """One project per variant for this module's tests, which only read it (and run it)."""
    return copy_of(rendered(copie_session, variant), tmp_path_factory.mktemp("shipping"))


# What the Dockerfile, compose file and workflow vary with: one run of every variant lints them
# once per combination (the served probe of test_variants runs every app).
SHIPPING_EXERCISES = ("database", "orm", "cpu_work")
# What the Dockerfile's own text varies with (its conditions: a database, Celery): one run of
# every variant runs its steps once per combination, each with the fullest dependencies.
DOCKERFILE_EXERCISES = ("database", "celery")


@pytest.mark.parametrize("variant", each_variant(SHIPPING_EXERCISES), indirect=True)
def test_files_pass_their_linters_and_schemas(variant: Variant, project: Path) -> None:
    """hadolint with no rule ignored, the published schemas of workflows and compose files
    (check-jsonschema's built-in copies, offline), and pre-commit's own config check."""
    hadolint = subprocess.run(
        [str(BIN / "hadolint"), "--no-color", "Dockerfile"],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )
    assert (hadolint.returncode, hadolint.stdout) == (0, ""), hadolint.stdout
    assert "hadolint ignore" not in (project / "Dockerfile").read_text()
    # check-jsonschema and pre-commit run in this process, as their commands would: their
    # imports, paid once per worker here, were most of the 20 variants' 56 s of CPU.
    for schema, path in [
        ("vendor.github-workflows", ".github/workflows/ci.yml"),
        ("vendor.compose-spec", "compose.yaml"),
    ]:
        checked = CliRunner().invoke(
            check_jsonschema_command, ["--builtin-schema", schema, str(project / path)]
        )
        assert checked.exit_code == 0, f"{path} against {schema}:\n{checked.output}"
    assert validate_config([str(project / ".pre-commit-config.yaml")]) == 0


def test_compose_agrees_with_the_app(variant: Variant, project: Path) -> None:
    compose = yaml.safe_load((project / "compose.yaml").read_text())
    services = compose["services"]
    expected = {"app"}
    if variant.database != "none":
        expected |= {"db", "migrate"}
    if variant.cpu_work == "celery":
        expected |= {"redis", "worker"}
    assert set(services) == expected, "exactly the services the variant needs"

    app = services["app"]
    environment: dict[str, str] = app["environment"]
    settings = settings_of(project, package_of(variant))
    assert set(environment) <= set(settings), "compose sets a variable the app does not read"
    assert {name for name, required in settings.items() if required} <= set(environment)
    # Each service a setting points at exists, under that name, on that port.
    ports = {"postgresql": 5432, "redis": 6379}
    for name, images in [("DATABASE_URL", "postgres:"), ("REDIS_URL", "redis:")]:
        if name not in settings:
            assert name not in environment
            continue
        url = urlsplit(environment[name])
        assert url.hostname in services, f"{name} points at {url.hostname}, not a service"
        assert services[url.hostname]["image"].startswith(images)
        assert url.port == ports[url.scheme]
        assert "healthcheck" in services[url.hostname]
    if "DATABASE_URL" in environment:
        # The password is the database's own, from .env, with a development-only default.
        password = urlsplit(environment["DATABASE_URL"]).password
        assert password == "${POSTGRES_PASSWORD:-dev-only-password}"
        assert services["db"]["environment"]["POSTGRES_PASSWORD"] == password
        assert "development-only" in (project / "compose.yaml").read_text()
    if variant.http_client != "none":
        assert "UPSTREAM_URL" in environment
    # The interactive docs are off unless set.
    assert environment["DOCS_ENABLED"] == "${DOCS_ENABLED:-false}"
    if variant.cpu_work == "celery":
        # Redis keeps the queue through a restart: its append-only file, in a volume.
        redis = services["redis"]
        assert redis["command"][:3] == ["redis-server", "--appendonly", "yes"]
        assert redis["volumes"] == ["redis-data:/data"]
        assert "redis-data" in compose["volumes"]

    readme = (project / "README.md").read_text()
    depends = app.get("depends_on", {})
    if variant.database != "none":
        assert depends["migrate"] == {"condition": "service_completed_successfully"}
        assert services["migrate"]["depends_on"]["db"] == {"condition": "service_healthy"}
        migrate = shlex.join(services["migrate"]["command"])
        assert migrate in readme_block(readme, "Run")
    if variant.cpu_work == "celery":
        assert depends["redis"] == {"condition": "service_healthy"}
        worker = shlex.join(services["worker"]["command"])
        assert f"`{worker}`" in readme
        assert worker.startswith(readme_block(readme, "Run")[-1].rsplit(" --concurrency", 1)[0])
        # A worker that exits is started again, and its health is its own answer to a ping.
        assert services["worker"]["restart"] == "on-failure"
        [probe] = services["worker"]["healthcheck"]["test"][1:]
        assert probe.startswith(f"celery -A {package_of(variant)}.tasks inspect ping ")
        assert "--destination celery@$$HOSTNAME" in probe
    for name in ("app", "migrate", "worker"):
        if name in services:
            assert services[name]["build"] == "."  # the project's own image


def test_the_workflow_runs_what_the_readme_says(variant: Variant, project: Path) -> None:
    workflow = yaml.safe_load((project / ".github" / "workflows" / "ci.yml").read_text())
    assert workflow["permissions"] == {"contents": "read"}
    assert workflow["concurrency"]["cancel-in-progress"] is True
    steps = [step for job in workflow["jobs"].values() for step in job["steps"]]
    for step in steps:
        if "uses" in step:
            uses = step["uses"]
            assert re.fullmatch(r"(actions/[\w-]+|astral-sh/setup-uv)@v\d+", uses), uses
    for job in workflow["jobs"].values():
        # Every job installs from the lock, with uv's cache keyed on it, before it runs anything.
        [setup_uv] = [step for step in job["steps"] if "setup-uv" in step.get("uses", "")]
        assert setup_uv["with"]["cache-dependency-glob"] == "uv.lock"
        assert setup_uv["with"]["enable-cache"] is True
        assert same_minor(setup_uv["with"]["version"], metadata.version("uv"))
        runs = [
            step["run"] for step in job["steps"] if "run" in step and "apt-get" not in step["run"]
        ]
        assert runs[0] == "uv sync --locked"
        assert all(command.startswith("uv run ") for command in runs[1:]), runs
    commands = [step["run"] for step in steps if "run" in step]
    readme = readme_block((project / "README.md").read_text(), "Test")
    wanted = [part.strip() for line in readme for part in line.split("&&")]
    assert set(wanted) <= set(commands), "each README command runs in CI"
    installs = [command for command in commands if "apt-get install" in command]
    packages = {"postgresql"} if variant.database != "none" else set()
    if variant.cpu_work == "celery":
        packages.add("redis-server")
    if packages:
        [install] = installs
        assert set(install.split("apt-get install -y -qq", 1)[1].split()) == packages
        tests = (project / "tests").glob("*.py")
        uses = "".join(path.read_text() for path in tests)
        assert ("server_binary(" in uses) == ("postgresql" in packages)
        assert ("redis_proc(" in uses) == ("redis-server" in packages)
    else:
        assert not installs


def image_environment(parser: DockerfileParser) -> dict[str, str]:
    """The settings the run stage's ENV gives the app (PATH and Python's own left out)."""
    stages = [i for i, item in enumerate(parser.structure) if item["instruction"] == "FROM"]
    settings: dict[str, str] = {}
    for item in parser.structure[stages[-1] :]:
        if item["instruction"] == "ENV":
            settings |= {
                name: value
                for name, value in env_pairs(item["value"]).items()
                if not name.startswith(("PATH", "PYTHON"))
            }
    return settings


def env_pairs(value: str) -> dict[str, str]:
    """An ENV instruction's NAME=value pairs."""
    return dict(pair.partition("=")[::2] for pair in shlex.split(value))


def same_minor(one: str, other: str) -> bool:
    return one.split(".")[:2] == other.split(".")[:2]


def install_as_the_image_does(project: Path, scratch: Path) -> Path:
    """The Dockerfile's build stage, run here from the project's lock (which `new` writes;
    written here first, as the project comes from pytest-copie): its COPY sources put into a
    build directory, its ENV set and its RUN steps run there with IMAGE_VENV replaced by a
    scratch venv, which is returned. uv is this environment's, the version the image copies;
    packages come from the index through uv's shared cache, not the image's no-cache."""
    locked = lock(project)
    assert locked.written, locked.reason
    parser = DockerfileParser(str(project / "Dockerfile"))
    stages = [i for i, item in enumerate(parser.structure) if item["instruction"] == "FROM"]
    assert len(stages) == 2, "a build stage and a run stage"
    build = parser.structure[stages[0] : stages[1]]
    source, venv = scratch / "src", scratch / "venv"
    source.mkdir()
    env = {**os.environ, "PATH": f"{Path(uv_binary()).parent}{os.pathsep}{os.environ['PATH']}"}
    for item in build:
        if item["instruction"] == "COPY" and item["value"].startswith("--from="):
            image, *_ = item["value"].removeprefix("--from=").split()
            name, _, version = image.partition(":")
            assert name == "ghcr.io/astral-sh/uv", image
            assert same_minor(version, metadata.version("uv")), "the uv that locked it"
        elif item["instruction"] == "COPY":
            *sources, _ = item["value"].split()
            for name in sources:
                copy = shutil.copytree if (project / name).is_dir() else shutil.copy2
                copy(project / name, source / name)
        elif item["instruction"] == "ENV":
            for name, value in env_pairs(item["value"]).items():
                # uv's shared cache, not the image's none; no bytecode compiled: 60 packages'
                # worth, 5-10 s of CPU per variant, for the image's start-up only.
                if name not in ("UV_NO_CACHE", "UV_COMPILE_BYTECODE"):
                    env[name] = value.replace(IMAGE_VENV, str(venv))
        elif item["instruction"] == "RUN":
            command = item["value"].replace(IMAGE_VENV, str(venv))
            result = subprocess.run(
                ["bash", "-c", command], cwd=source, env=env, capture_output=True, text=True
            )
            assert result.returncode == 0, f"RUN {command}:\n{result.stdout}\n{result.stderr}"
    return venv


@pytest.mark.parametrize("variant", each_variant(DOCKERFILE_EXERCISES), indirect=True)
def test_the_dockerfile_steps_build_and_serve(
    variant: Variant, project: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Install as the build stage does, then start the image's CMD (host and port aside), with
    the run stage's ENV, against the test PostgreSQL: 200 from /health, and from its
    HEALTHCHECK; no interactive docs."""
    parser = DockerfileParser(str(project / "Dockerfile"))
    cmd = json.loads(parser.structure[-1]["value"])
    assert parser.structure[-1]["instruction"] == "CMD"
    readme = (project / "README.md").read_text()
    assert shlex.join(cmd) in readme.replace("\n", " ")
    package = package_of(variant)
    assert cmd[:2] == ["uvicorn", f"{package}.main:app"]
    run = readme_command(project, "uvicorn")  # the README's own, with server.py's limits
    assert cmd[: len(run)] == run
    assert run[run.index("--http") + 1] == f"{package}.server:HttpProtocol"
    assert cmd[cmd.index("--host") + 1] == "0.0.0.0"
    assert "--proxy-headers" in cmd
    run_stage = parser.content.split("\nFROM ")[-1]
    assert re.search(r"^USER \d+:\d+$", run_stage, re.MULTILINE), "an unprivileged user"
    healthcheck = next(i for i in parser.structure if i["instruction"] == "HEALTHCHECK")
    probe = json.loads(healthcheck["value"].split("CMD", 1)[1])

    env = {**os.environ, **image_environment(parser)}
    assert env["DOCS_ENABLED"] == "false"
    if variant.database != "none":
        env["DATABASE_URL"] = request.getfixturevalue("database_url")
    if variant.cpu_work == "celery":
        env["REDIS_URL"] = request.getfixturevalue("redis_url")
    venv = install_as_the_image_does(project, tmp_path)
    python = str(venv / "bin" / "python")
    installed = subprocess.run(
        [python, "-c", f"import {package}; print({package}.__file__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert installed.stdout.startswith(str(venv)), "the package is installed in the venv"
    port = str(postgres.free_port())
    command = [str(venv / "bin" / cmd[0]), *cmd[1:]]
    command[command.index("--host") + 1] = "127.0.0.1"  # nothing here leaves loopback
    command[command.index("--port") + 1] = port
    workdir = tmp_path / "home"
    workdir.mkdir()
    with served_process(command, workdir, env, f"http://127.0.0.1:{port}/health") as base:
        with urllib.request.urlopen(f"{base}/health", timeout=10) as response:
            assert response.status == 200
        with pytest.raises(urllib.error.HTTPError) as docs:
            urllib.request.urlopen(f"{base}/docs", timeout=10)
        assert docs.value.code == 404
        check = [python if probe[0] == "python" else probe[0], *probe[1:]]
        check = [part.replace(f":{IMAGE_PORT}/", f":{port}/") for part in check]
        subprocess.run(check, cwd=workdir, timeout=30, check=True)
