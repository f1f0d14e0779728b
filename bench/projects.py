"""The generated projects under test (made with the library API in a temporary directory), the
proposed changes applied to copies of them, and how each app is started."""

import difflib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from bench import servers
from bench.common import Mode

DUMMY_DATABASE_URL = "postgresql://bench:bench@127.0.0.1:9/bench"  # syntactically valid only


@dataclass(frozen=True)
class Project:
    key: str
    path: Path
    package: str
    not_patched: str = ""  # why a proposed change could not be applied, if it could not
    diff: str = ""  # the proposed change, as applied


@dataclass(frozen=True)
class Change:
    """A proposed change to one generated file: each `old` text is replaced once, each
    `pattern` everywhere (re.sub), and `append` is added at the end. It applies only if every
    `old` and every pattern is there."""

    file: str
    replacements: tuple[tuple[str, str], ...] = ()
    patterns: tuple[tuple[str, str], ...] = ()
    append: str = ""
    done_marker: str = ""  # in the file already: the template has the change

    def apply(self, path: Path, package: str) -> tuple[str, str]:
        """Returns (why it was not applied, the unified diff)."""
        target = path / package / self.file
        before = target.read_text()
        if self.done_marker and self.done_marker in before:
            return f"the template already has it (`{self.done_marker}` in {self.file})", ""
        after = before
        for old, new in self.replacements:
            if old not in after:
                return f"{self.file} has no `{old.strip()}` to change", ""
            after = after.replace(old, new, 1)
        for pattern, replacement in self.patterns:
            after, count = re.subn(pattern, replacement, after)
            if not count:
                return f"{self.file} has nothing matching `{pattern}` to change", ""
        after += self.append
        target.write_text(after)
        lines = difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            f"a/{{package}}/{self.file}",
            f"b/{{package}}/{self.file}",
        )
        return "", "".join(lines)


# The httpx variant's client built as httpx_aiohttp's HttpxAiohttpClient (an httpx.AsyncClient
# over aiohttp), and the one thing that needs besides: httpx-aiohttp 0.2 reports every aiohttp
# connection error, a refused connection included, as httpx.ConnectTimeout.
AIOHTTP_TRANSPORT = Change(
    "upstream.py",
    (
        ("import anyio.to_thread\n", "import aiohttp\nimport anyio.to_thread\n"),
        (
            "from fastapi import Depends, Request\n",
            "from fastapi import Depends, Request\nfrom httpx_aiohttp import HttpxAiohttpClient\n",
        ),
        ("httpx.AsyncClient, base_url=", "HttpxAiohttpClient, base_url="),
        (
            "    except httpx.TimeoutException as exc:\n",
            "    except httpx.TimeoutException as exc:\n"
            "        if _failed_to_connect(exc):\n"
            "            raise UpstreamFailed(type(exc.__cause__).__name__) from exc\n",
        ),
    ),
    append=(
        "\n\n"
        "def _failed_to_connect(exc: httpx.TimeoutException) -> bool:\n"
        '    """httpx-aiohttp reports every aiohttp connection error as httpx.ConnectTimeout, a '
        "refused\n"
        '    connection included: only a timeout underneath is a timeout."""\n'
        "    cause = exc.__cause__\n"
        "    return isinstance(cause, aiohttp.ClientConnectionError) and not isinstance(cause, "
        "TimeoutError)\n"
    ),
    done_marker="httpx_aiohttp",
)

# The routes of each module's router added to the app itself: include_router puts a routing
# layer in front of every route it includes.
FLAT_ROUTES = Change(
    "main.py",
    patterns=(
        (r"app\.include_router\((\w+)\.router\)", r"app.router.routes.extend(\1.router.routes)"),
    ),
    done_marker="router.routes.extend(",
)

# The process pool's workers at a lower priority than the event loop.
NICE = 10
NICE_WORKERS = Change(
    "cpu.py",
    (
        (
            "ProcessPoolExecutor(self._workers, mp_context=context)",
            "ProcessPoolExecutor(\n"
            "            self._workers, mp_context=context, initializer=os.nice, "
            f"initargs=({NICE},)\n"
            "        )",
        ),
    ),
    done_marker="os.nice",
)


WANTED: dict[str, tuple[tuple[str, str, str], Change | None]] = {
    # key: ((database, http_client, cpu_work), proposed change)
    "async": (("asyncpg", "httpx", "none"), None),
    "async_aiohttp": (("asyncpg", "httpx", "none"), AIOHTTP_TRANSPORT),
    "async_flat": (("asyncpg", "httpx", "none"), FLAT_ROUTES),
    "sync": (("none", "requests", "none"), None),
    "mixed": (("asyncpg", "requests", "none"), None),
    "process": (("none", "none", "process"), None),
    "process_nice": (("none", "none", "process"), NICE_WORKERS),
    "thread": (("none", "none", "thread"), None),
    "celery": (("none", "none", "celery"), None),
    # Every router the template has: compute, health, items, metrics, upstream.
    "full": (("asyncpg", "httpx", "process"), None),
}


def generate(root: Path) -> dict[str, Project]:
    from fastapi_scaffold import api

    projects = {}
    for key, ((database, http_client, cpu_work), change) in WANTED.items():
        package = f"bench_{key}"
        answers = {
            "package_name": package,
            "database": database,
            "http_client": http_client,
            "cpu_work": cpu_work,
        }
        path = api.generate(root / package, answers, defaults=True)
        not_patched, diff = change.apply(path, package) if change else ("", "")
        projects[key] = Project(key, path, package, not_patched, diff)
    return projects


def app_env(mode: Mode, upstream_port: int, **overrides: str) -> dict[str, str]:
    """The environment every app gets: generated projects read these variables."""
    return {
        "UPSTREAM_URL": f"http://127.0.0.1:{upstream_port}",
        "UPSTREAM_TIMEOUT_S": "30",
        "THREAD_POOL_SIZE": str(mode.threads),
        "DATABASE_URL": DUMMY_DATABASE_URL,
        "CPU_WORKERS": str(mode.cpu_workers),
        "COMPUTE_MAX_N": str(10**10),
        **overrides,
    }


@dataclass(frozen=True)
class App:
    """A generated project's app, or one of bench/reference_apps.py."""

    project: Project | None = None
    reference: str = ""

    @property
    def target(self) -> str:
        if self.project is not None:
            return f"{self.project.package}.main:app"
        return f"bench.reference_apps:{self.reference}"

    @property
    def cwd(self) -> Path:
        return self.project.path if self.project is not None else servers.ROOT

    @property
    def http(self) -> str:
        """The HTTP protocol it is served with: a generated project's own, as its README says."""
        if self.project is not None:
            return f"{self.project.package}.server:HttpProtocol"
        return "httptools"

    def spec(self, name: str, env: dict[str, str]) -> servers.Spec:
        return servers.uvicorn_spec(name, self.target, self.cwd, env, self.http)

    def python_env(self, env: dict[str, str]) -> dict[str, str]:
        """For a `python -m bench.<module>` run from the app's directory."""
        path = os.pathsep.join(filter(None, [str(servers.ROOT), os.environ.get("PYTHONPATH")]))
        return {**os.environ, **env, "PYTHONPATH": path}
