"""`check` on trees a pull request can make hostile: symbolic links out of the project, into
loops or to /dev/zero, a FIFO named like a module, a generated expression thousands of terms
long, a file of megabytes, a fault of the checker's in one function. Each is skipped with one
line on stderr, counted, and makes the exit code 17; the rest of the project is checked.

The cases that used to hang or exhaust memory run the command in a subprocess with a timeout,
so that a regression fails the test instead of hanging the suite."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fastapi_scaffold.check import check
from fastapi_scaffold.check.calls import Scan
from fastapi_scaffold.cli import app
from fastapi_scaffold.errors import CheckConfigError
from tests.test_check import PLANTED, SHOP

BIN = Path(sys.executable).parent
runner = CliRunner()


def copy_shop(tmp_path: Path) -> Path:
    return Path(shutil.copytree(SHOP, tmp_path / "shop"))


def run_check(path: Path) -> subprocess.CompletedProcess[str]:
    """The installed command, as CI runs it; the timeout turns a hang into a failure."""
    return subprocess.run(
        [str(BIN / "fastapi-scaffold"), "check", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def assert_skipped(result: subprocess.CompletedProcess[str], *lines: str) -> None:
    """Exit 17, exactly `lines` on stderr (no traceback), and every planted call still found."""
    assert result.returncode == 17, result.stdout + result.stderr
    assert result.stderr.splitlines() == list(lines)
    assert result.stdout.splitlines()[-1].startswith(f"Found {len(PLANTED)} blocking call(s)")


def test_a_fifo_named_like_a_module_is_not_read(tmp_path: Path) -> None:
    shop = copy_shop(tmp_path)
    os.mkfifo(shop / "shop" / "pipe.py")  # opening it to read would wait for a writer forever
    assert_skipped(run_check(shop), "shop/pipe.py: not a regular file (a FIFO); file not checked")


def test_a_link_to_dev_zero_is_not_read(tmp_path: Path) -> None:
    shop = copy_shop(tmp_path)
    (shop / "shop" / "zero.py").symlink_to("/dev/zero")  # endless: MemoryError, once
    assert_skipped(
        run_check(shop), "shop/zero.py: a symbolic link out of the project; file not checked"
    )
    named = tmp_path / "zero.py"  # given as the path to check, it is followed, then refused
    named.symlink_to("/dev/zero")
    result = run_check(named)
    assert result.returncode == 17
    assert result.stderr == "zero: not a regular file (a character device); file not checked\n"


def test_broken_and_looping_links_are_named_and_links_inside_are_followed(
    tmp_path: Path,
) -> None:
    shop = copy_shop(tmp_path)
    package = shop / "shop"
    (package / "dangling.py").symlink_to(package / "nowhere.py")
    (package / "loop.py").symlink_to(package / "loop.py")
    (package / "again").symlink_to(package)  # a directory loop: never walked into
    (package / "alias.py").symlink_to(package / "helpers.py")  # inside: read
    assert_skipped(
        run_check(shop),
        "shop/dangling.py: a broken symbolic link; file not checked",
        "shop/loop.py: a symbolic link in a loop; file not checked",
    )
    files = len(list(SHOP.rglob("*.py")))
    assert check(shop).files == files + 3


def test_links_out_of_the_project_are_not_followed(tmp_path: Path) -> None:
    """A module and a package outside, each declaring a blocking route: neither is read."""
    outside = tmp_path / "outside"
    (outside / "pkg").mkdir(parents=True)
    evil = (
        "import time\n\nfrom fastapi import FastAPI\n\napp = FastAPI()\n\n\n"
        '@app.get("/outside")\nasync def outside() -> None:\n    time.sleep(1)\n'
    )
    (outside / "evil.py").write_text(evil)
    (outside / "pkg" / "evil.py").write_text(evil)
    shop = copy_shop(tmp_path)
    (shop / "shop" / "evil.py").symlink_to(outside / "evil.py")
    (shop / "shop" / "vendored").symlink_to(outside / "pkg")
    result = run_check(shop)
    assert_skipped(
        result,
        "shop/vendored: a symbolic link out of the project; not checked",
        "shop/evil.py: a symbolic link out of the project; file not checked",
    )
    assert "/outside" not in result.stdout


def test_an_expression_of_3000_terms_skips_its_file(tmp_path: Path) -> None:
    shop = copy_shop(tmp_path)
    (shop / "shop" / "generated.py").write_text("TABLE = " + " + ".join(["1"] * 3000) + "\n")
    assert_skipped(
        run_check(shop),
        "shop/generated.py: nested too deeply to parse (past Python's recursion limit); "
        "file not checked",
    )


def test_a_function_nested_too_deeply_to_follow_skips_that_function(tmp_path: Path) -> None:
    """It parses, but following its 900 calls of calls passes the recursion limit (a route, so
    that it is followed: a function no root reaches is never scanned)."""
    shop = copy_shop(tmp_path)
    route = "from fastapi import FastAPI\n\napp = FastAPI()\n\n\n@app.get('/deep')\n"
    source = route + "async def deep():\n    return make" + "()" * 900 + "\n"
    (shop / "shop" / "deep.py").write_text(source)
    assert_skipped(
        run_check(shop), "shop/deep.py:7: deep: nested too deeply to follow; not checked"
    )


def test_a_file_over_the_size_cap_is_skipped_unless_the_cap_is_raised(tmp_path: Path) -> None:
    shop = copy_shop(tmp_path)
    big = shop / "shop" / "table.py"
    big.write_text("TABLE = [\n" + "    1234567,\n" * 200_000 + "]\n")  # 2.6 MB
    size = big.stat().st_size
    assert_skipped(
        run_check(shop),
        f"shop/table.py: larger than max-file-bytes ({size:,} > 2,000,000 bytes); file not checked",
    )
    pyproject = shop / "pyproject.toml"
    settings = pyproject.read_text()
    pyproject.write_text(settings + "max-file-bytes = 3_000_000\n")
    report = check(shop)
    assert report.errors == ()
    assert len(report.findings) == len(PLANTED)
    pyproject.write_text(settings + 'max-file-bytes = "3MB"\n')
    with pytest.raises(CheckConfigError, match="max-file-bytes"):
        check(shop)


def test_a_fault_of_the_checker_in_one_function_never_aborts_the_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A bug met on one function (here made to happen) is named in one line and counted; the
    other functions, in that file too, are checked."""
    run = Scan.run

    def faulty(scan: Scan) -> None:
        if scan.function.qualname == "direct":
            raise KeyError("made to fail")
        run(scan)

    monkeypatch.setattr(Scan, "run", faulty)
    result = runner.invoke(app, ["check", str(SHOP)])
    assert result.exit_code == 17, result.output
    assert result.stderr == (
        "shop/routes/items.py:44: direct: internal error (KeyError: 'made to fail'; "
        "please report it); not checked\n"
    )
    assert "GET /v1/items/direct" not in result.stdout
    assert f"Found {len(PLANTED) - 1} blocking call(s)" in result.stdout
