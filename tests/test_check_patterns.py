"""`fastapi-scaffold check` on the shapes real projects give their code (issue 21's evaluation):
routers that subclass APIRouter or come from a factory, routes registered by the project's own
decorator, wrappers of decorators, calls through interfaces and factories, folders without
__init__.py, the blocking libraries of the table, and findings that point at the call doing
the I/O. Each test builds a small project in tmp_path."""

from pathlib import Path
from textwrap import dedent

import pytest

from fastapi_scaffold.check import check


def project(root: Path, files: dict[str, str]) -> Path:
    for name, source in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dedent(source))
    return root


def found(root: Path) -> set[tuple[str, str, str]]:
    """(root label, code, blocking call) of each finding, and of the calls each also names."""
    result = set()
    for finding in check(root).findings:
        for rule, chain in ((finding.rule, finding.chain), *finding.others):
            result.add((finding.root.label, rule.code, chain[-1].call))
    return result


def test_routes_of_a_router_subclass_and_of_a_factory_made_router_class(tmp_path: Path) -> None:
    project(
        tmp_path,
        {
            "app/__init__.py": "",
            "app/routing.py": """
                from fastapi import APIRouter


                class StampedRouter(APIRouter):
                    def __init__(self, *args, resource=None, **kwargs):
                        super().__init__(*args, **kwargs)


                def router_class(route_class) -> type[APIRouter]:
                    class _Custom(APIRouter):
                        pass

                    return _Custom


                Router = router_class(None)
            """,
            "app/main.py": """
                import time

                from fastapi import FastAPI

                from app.routing import Router, StampedRouter

                app = FastAPI()
                stamped = StampedRouter(prefix="/stamped", resource="x")
                made = Router(prefix="/made")


                @stamped.get("/")
                async def one():
                    time.sleep(1)


                @made.post("/")
                async def two():
                    time.sleep(1)


                app.include_router(stamped)
                app.include_router(made)
            """,
        },
    )
    labels = {label for label, _, _ in found(tmp_path)}
    assert labels == {"GET /stamped/", "POST /made/"}


def test_a_route_registered_by_a_project_decorator_given_the_routers_method(
    tmp_path: Path,
) -> None:
    project(
        tmp_path,
        {
            "main.py": """
                import requests
                from fastapi import APIRouter, FastAPI

                app = FastAPI()
                router = APIRouter()


                def protected(method, path, scopes=None):
                    def decorator(func):
                        return method(path)(func)

                    return decorator


                @protected(router.get, "/covers", ["read"])
                async def covers():
                    return requests.get("https://example.org").json()
            """,
        },
    )
    assert found(tmp_path) == {("GET /covers", "FSB101", "requests.get")}


def test_the_async_wrapper_of_a_project_decorator_is_checked_as_the_route(
    tmp_path: Path,
) -> None:
    project(
        tmp_path,
        {
            "main.py": """
                from functools import wraps

                from fastapi import FastAPI
                from redis import Redis

                app = FastAPI()


                def get_redis() -> Redis:
                    return Redis()


                def cached(expire: int):
                    def decorator(func):
                        @wraps(func)
                        async def wrapper(*args, **kwargs):
                            redis = get_redis()
                            hit = redis.get("key")
                            if hit:
                                return hit
                            response = await func(*args, **kwargs)
                            redis.set("key", response)
                            return response

                        return wrapper

                    return decorator


                @app.get("/items")
                @cached(expire=60)
                async def items():
                    return []
            """,
        },
    )
    assert found(tmp_path) == {
        ("GET /items", "FSB301", "redis.get"),
        ("GET /items", "FSB301", "redis.set"),
    }
    for finding in check(tmp_path).findings:
        assert finding.root.function == "cached.decorator.wrapper"
        assert not finding.root.may_be_def  # the fix is not to make the handler `def`


def test_calls_through_an_interface_reach_its_implementations(tmp_path: Path) -> None:
    project(
        tmp_path,
        {
            "repo.py": """
                import abc
                import sqlite3
                from typing import Protocol


                class TaskRepository(abc.ABC):
                    @abc.abstractmethod
                    def all(self) -> list[str]:
                        ...


                class SqliteTasks(TaskRepository):
                    def all(self) -> list[str]:
                        return sqlite3.connect("tasks.db").execute("SELECT 1").fetchall()


                class Notes(Protocol):
                    def read(self) -> str:
                        \"\"\"The notes.\"\"\"


                class FileNotes:
                    def read(self) -> str:
                        with open("notes.txt") as f:
                            return f.read()
            """,
            "main.py": """
                from fastapi import FastAPI

                from repo import Notes, TaskRepository

                app = FastAPI()


                def tasks() -> TaskRepository:
                    raise NotImplementedError


                def notes() -> Notes:
                    raise NotImplementedError


                @app.get("/tasks")
                async def list_tasks():
                    return tasks().all()


                @app.get("/notes")
                async def read_notes():
                    return notes().read()
            """,
        },
    )
    assert found(tmp_path) == {
        ("GET /tasks", "FSB203", "sqlite3.connect"),
        ("GET /tasks", "FSB203", "sqlite3.connect('tasks.db').execute"),
        ("GET /tasks", "FSB203", "sqlite3.connect('tasks.db').execute('SELECT 1').fetchall"),
        ("GET /notes", "FSB401", "open"),
    }


def test_a_method_with_a_body_of_its_own_is_not_replaced_by_overrides(tmp_path: Path) -> None:
    project(
        tmp_path,
        {
            "main.py": """
                import time

                from fastapi import FastAPI

                app = FastAPI()


                class Base:
                    def run(self) -> int:
                        return 1


                class Slow(Base):
                    def run(self) -> int:
                        time.sleep(1)
                        return 2


                @app.get("/")
                async def index(worker: Base):
                    return worker.run()
            """,
        },
    )
    assert found(tmp_path) == set()


def test_an_unannotated_factory_is_read_through_its_return(tmp_path: Path) -> None:
    project(
        tmp_path,
        {
            "main.py": """
                from fastapi import FastAPI
                from openai import OpenAI

                app = FastAPI()


                class Service:
                    def __init__(self):
                        self.client = OpenAI()

                    def answer(self) -> str:
                        return self.client.chat.completions.create(model="m", messages=[])


                def get_service():
                    service = Service()
                    return service


                @app.post("/answer")
                async def answer():
                    return get_service().answer()
            """,
        },
    )
    assert found(tmp_path) == {
        ("POST /answer", "FSB311", "self.client.chat.completions.create"),
    }


def test_imports_across_folders_without_init(tmp_path: Path) -> None:
    """Relative imports through a folder without __init__.py, and absolute ones from a
    project checked from above its `src/`."""
    project(
        tmp_path,
        {
            "src/svc/__init__.py": "",
            "src/svc/deps.py": """
                import boto3


                def upload(data: bytes) -> None:
                    boto3.client("s3").put_object(Bucket="b", Key="k", Body=data)
            """,
            "src/svc/routers/reports.py": """
                from fastapi import APIRouter

                from ..deps import upload

                router = APIRouter()


                @router.post("/report")
                async def report():
                    upload(b"x")
            """,
            "src/svc/main.py": """
                from fastapi import FastAPI

                from svc.routers import reports

                app = FastAPI()
                app.include_router(reports.router)


                @app.post("/again")
                async def again():
                    reports.upload(b"y")
            """,
        },
    )
    reported = found(tmp_path)
    assert ("POST /report", "FSB302", "boto3.client('s3').put_object") in reported
    assert ("POST /again", "FSB302", "boto3.client('s3').put_object") in reported


@pytest.mark.parametrize(
    ("imports", "statement", "code"),
    [
        ("import duckdb", "duckdb.connect().sql('SELECT 1').count('*').fetchone()", "FSB206"),
        ("from clickhouse_driver import Client", "Client().execute('SELECT 1')", "FSB207"),
        ("from pymongo import MongoClient", "MongoClient().shop.items.find_one()", "FSB208"),
        ("import pymysql", "pymysql.connect(host='db').cursor().execute('SELECT 1')", "FSB209"),
        ("from kubernetes import client", "client.CoreV1Api().list_namespaced_pod('x')", "FSB307"),
        ("from mypy_boto3_s3 import S3Client", "s3().upload_fileobj(None, 'b', 'k')", "FSB302"),
        ("from elasticsearch import Elasticsearch", "Elasticsearch().search(index='i')", "FSB306"),
        ("from karton.core.backend import KartonBackend", "KartonBackend(None)", "FSB310"),
        ("import jwt", "jwt.PyJWKClient('u').get_signing_key_from_jwt('t')", "FSB311"),
        ("import primp", "primp.Client().get('https://example.org')", "FSB104"),
        ("from filelock import FileLock", "FileLock('x.lock').acquire()", "FSB404"),
        ("import shutil", "shutil.rmtree('build')", "FSB404"),
        (
            "import concurrent.futures as cf",
            "cf.ThreadPoolExecutor().submit(len, 'x').result()",
            "FSB002",
        ),
    ],
)
def test_the_table_knows_the_blocking_calls_of_common_libraries(
    tmp_path: Path, imports: str, statement: str, code: str
) -> None:
    source = (
        f"{imports}\nfrom fastapi import FastAPI\n\napp = FastAPI()\n\n\n"
        "def s3() -> 'S3Client':\n    raise NotImplementedError\n\n\n"
        f"@app.get('/')\nasync def index():\n    {statement}\n"
    )
    project(tmp_path, {"main.py": source})
    assert code in {code for _, code, _ in found(tmp_path)}


@pytest.mark.parametrize(
    ("imports", "statement"),
    [
        ("from kubernetes import client", "client.CoreV1Api()"),
        ("import boto3", "boto3.session.Session"),
        ("import boto3", "boto3.client('s3', aws_access_key_id='k', aws_secret_access_key='s')"),
        ("from pymongo import MongoClient", "MongoClient().get_database('shop')"),
        ("import duckdb", "rel.filter('x > 1').limit(5)"),
        ("from openai import OpenAI", "OpenAI().with_options(timeout=1)"),
        ("from google.cloud import storage", "storage.Client().bucket('b').blob('k')"),
    ],
)
def test_constructors_and_in_memory_calls_are_not_blocking(
    tmp_path: Path, imports: str, statement: str
) -> None:
    source = (
        f"{imports}\nfrom fastapi import FastAPI\n\napp = FastAPI()\n\n\n"
        "@app.get('/')\nasync def index(rel: 'duckdb.DuckDBPyRelation'):\n"
        f"    {statement}\n"
    )
    project(tmp_path, {"main.py": source})
    assert found(tmp_path) == set()


def test_a_file_lock_held_with_with_blocks(tmp_path: Path) -> None:
    project(
        tmp_path,
        {
            "main.py": """
                from fastapi import FastAPI
                from filelock import FileLock

                app = FastAPI()
                lock = FileLock("state.lock")


                @app.post("/")
                async def update():
                    with lock:
                        pass
            """,
        },
    )
    assert found(tmp_path) == {("POST /", "FSB404", "lock")}


def test_a_finding_names_every_blocking_call_behind_its_call_and_never_session_add(
    tmp_path: Path,
) -> None:
    project(
        tmp_path,
        {
            "main.py": """
                from fastapi import Depends, FastAPI
                from sqlalchemy.orm import Session

                app = FastAPI()


                def get_db() -> Session:
                    raise NotImplementedError


                def save(db: Session, row: object) -> None:
                    db.execute("SELECT 1")
                    db.add(row)
                    db.commit()


                @app.post("/")
                async def create(db: Session = Depends(get_db)):
                    save(db, object())
            """,
        },
    )
    (finding,) = check(tmp_path).findings
    assert finding.call.call == "db.execute"
    assert finding.more == 1
    assert [chain[-1].call for _, chain in finding.others] == ["db.commit"]


def test_what_lifespan_already_ran_once_is_not_reported_for_the_routes(tmp_path: Path) -> None:
    project(
        tmp_path,
        {
            "main.py": """
                import time
                from contextlib import asynccontextmanager
                from functools import lru_cache
                from pathlib import Path

                from fastapi import FastAPI

                _backend = None


                def get_backend():
                    global _backend
                    if _backend is None:
                        time.sleep(1)
                        _backend = object()
                    return _backend


                @lru_cache(maxsize=1)
                def knowledge() -> str:
                    return Path("kb.yaml").read_text()


                @lru_cache
                def page(name: str) -> str:
                    return Path(name).read_text()


                @asynccontextmanager
                async def lifespan(app):
                    get_backend()
                    knowledge()
                    page("index")
                    yield


                app = FastAPI(lifespan=lifespan)


                @app.get("/")
                async def index():
                    return get_backend(), knowledge(), page("about")
            """,
        },
    )
    assert found(tmp_path) == {
        ("lifespan main.lifespan", "FSB001", "time.sleep"),
        ("lifespan main.lifespan", "FSB402", "Path('kb.yaml').read_text"),
        ("lifespan main.lifespan", "FSB402", "Path(name).read_text"),
        ("GET /", "FSB402", "Path(name).read_text"),  # cached per argument: not warmed
    }


def test_an_object_kept_on_app_state_is_followed(tmp_path: Path) -> None:
    project(
        tmp_path,
        {
            "main.py": """
                import subprocess
                from contextlib import asynccontextmanager

                from fastapi import FastAPI, Request


                class Extractor:
                    def extract(self, text: str) -> str:
                        return subprocess.run(["extract", text], check=True).stdout


                @asynccontextmanager
                async def lifespan(app: FastAPI):
                    extractor = Extractor()
                    app.state.extractor = extractor
                    yield


                app = FastAPI(lifespan=lifespan)


                @app.post("/a")
                async def a(request: Request):
                    return request.app.state.extractor.extract("a")


                @app.post("/b")
                async def b():
                    extractor = getattr(app.state, "extractor", None)
                    return extractor.extract("b")
            """,
        },
    )
    assert found(tmp_path) == {
        ("POST /a", "FSB403", "subprocess.run"),
        ("POST /b", "FSB403", "subprocess.run"),
    }
