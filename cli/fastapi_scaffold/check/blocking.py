"""The one table of blocking APIs: what blocks the event loop, its rule code, and what to use
instead. Everything `check` knows about third-party libraries lives in this module.

Names are fully qualified, as an import would reach them:

- `time.sleep`: a call to that function (or a constructor, for a class);
- `requests.Session.get`: the method `get` called on an instance of `requests.Session`;
- `redis.Redis.*`: any method called on an instance of `redis.Redis`;
- `h5py.*`: any call into the module, and any method of an instance of one of its classes.

Codes are grouped by kind: FSB0xx sleeping, FSB1xx HTTP clients, FSB2xx databases, FSB3xx other
network services, FSB4xx files and processes, FSB5xx task queues, FSB9xx modules a project
declares blocking in its pyproject.toml.
"""

from dataclasses import dataclass

PREFIX = "FSB"


@dataclass(frozen=True)
class Rule:
    """A kind of blocking call, the rule code that reports it, and its async replacement."""

    code: str
    name: str
    summary: str
    instead: str
    calls: tuple[str, ...]
    # The ruff rules (flake8-async) that report the same calls: a noqa comment naming one of
    # them silences this rule too, so code already annotated for ruff needs no second comment.
    ruff: tuple[str, ...] = ()

    def matches(self, qualified: str) -> bool:
        """Whether a call to `qualified` (e.g. "requests.Session.get") is one of this rule's."""
        return _matches(qualified, self.calls) and not _matches(qualified, NOT_BLOCKING)


def _matches(qualified: str, patterns: tuple[str, ...]) -> bool:
    for pattern in patterns:
        if pattern.endswith(".*"):
            if qualified.startswith(pattern[:-1]):
                return True
        elif qualified == pattern:
            return True
    return False


_HTTP_VERBS = ("get", "post", "put", "patch", "delete", "head", "options", "request")
_SESSION_METHODS = (
    "exec",
    "execute",
    "scalar",
    "scalars",
    "query",
    "commit",
    "rollback",
    "flush",
    "refresh",
    "get",
    "get_one",
    "add",
    "add_all",
    "merge",
    "delete",
    "close",
    "connection",
)


def _methods(owner: str, names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(f"{owner}.{name}" for name in names)


RULES: tuple[Rule, ...] = (
    Rule(
        "FSB001",
        "time-sleep",
        "time.sleep() holds the event loop for the whole sleep",
        "`await asyncio.sleep(...)` (or `await anyio.sleep(...)`)",
        ("time.sleep",),
        ruff=("ASYNC251",),
    ),
    Rule(
        "FSB101",
        "requests",
        "requests waits for the network on the event loop",
        "httpx.AsyncClient (`await client.get(...)`)",
        _methods("requests", _HTTP_VERBS) + _methods("requests.Session", (*_HTTP_VERBS, "send")),
        ruff=("ASYNC210",),
    ),
    Rule(
        "FSB102",
        "urllib-request",
        "urllib.request waits for the network on the event loop",
        "httpx.AsyncClient (`await client.get(...)`)",
        ("urllib.request.urlopen", "urllib.request.urlretrieve", "urllib.request.OpenerDirector.*"),
        ruff=("ASYNC210",),
    ),
    Rule(
        "FSB103",
        "httpx-sync",
        "httpx's sync API waits for the network on the event loop",
        "httpx.AsyncClient (`await client.get(...)`)",
        _methods("httpx", (*_HTTP_VERBS, "stream"))
        + _methods("httpx.Client", (*_HTTP_VERBS, "send", "stream")),
        ruff=("ASYNC210", "ASYNC212"),
    ),
    Rule(
        "FSB201",
        "psycopg2",
        "psycopg2 waits for PostgreSQL on the event loop",
        "asyncpg, or psycopg's AsyncConnection",
        ("psycopg2.connect", "psycopg2.extensions.connection.*", "psycopg2.extensions.cursor.*"),
    ),
    Rule(
        "FSB202",
        "psycopg-sync",
        "psycopg's sync Connection waits for PostgreSQL on the event loop",
        "psycopg.AsyncConnection (`await psycopg.AsyncConnection.connect(...)`)",
        ("psycopg.connect", "psycopg.Connection.*", "psycopg.Cursor.*"),
    ),
    Rule(
        "FSB203",
        "sqlite3",
        "sqlite3 waits for the disk on the event loop",
        "aiosqlite",
        ("sqlite3.connect", "sqlite3.Connection.*", "sqlite3.Cursor.*"),
    ),
    Rule(
        "FSB204",
        "sqlalchemy-session",
        "a sync SQLAlchemy/SQLModel Session waits for the database on the event loop",
        "sqlalchemy.ext.asyncio.AsyncSession (`await session.execute(...)`)",
        _methods("sqlalchemy.orm.Session", _SESSION_METHODS),
    ),
    Rule(
        "FSB205",
        "sqlalchemy-engine",
        "a sync SQLAlchemy Engine/Connection waits for the database on the event loop",
        "sqlalchemy.ext.asyncio.create_async_engine (`async with engine.connect()`)",
        _methods("sqlalchemy.engine.Engine", ("connect", "begin", "execute", "raw_connection"))
        + _methods(
            "sqlalchemy.engine.Connection",
            ("execute", "exec_driver_sql", "scalar", "scalars", "commit", "rollback", "close"),
        ),
    ),
    Rule(
        "FSB301",
        "redis-sync",
        "redis.Redis waits for Redis on the event loop",
        "redis.asyncio.Redis (`await redis.get(...)`)",
        ("redis.Redis.*", "redis.client.Pipeline.execute"),
    ),
    Rule(
        "FSB302",
        "boto3",
        "boto3 waits for AWS on the event loop",
        "aioboto3 / aiobotocore",
        (
            "boto3.client",
            "boto3.resource",
            "boto3.session.Session.client",
            "boto3.session.Session.resource",
            "botocore.client.BaseClient.*",
            "boto3.resources.base.ServiceResource.*",
        ),
    ),
    Rule(
        "FSB303",
        "docker",
        "the docker SDK waits for the Docker daemon on the event loop",
        "aiodocker",
        ("docker.*",),
    ),
    Rule(
        "FSB304",
        "socket",
        "a blocking socket call waits for the network on the event loop",
        "`await asyncio.open_connection(...)` / `await loop.getaddrinfo(...)`",
        (
            "socket.create_connection",
            "socket.getaddrinfo",
            "socket.gethostbyname",
            "socket.gethostbyname_ex",
            "socket.gethostbyaddr",
            "socket.getfqdn",
        )
        + _methods(
            "socket.socket",
            ("connect", "accept", "recv", "recvfrom", "recv_into", "send", "sendall", "sendto"),
        ),
    ),
    Rule(
        "FSB305",
        "smtplib",
        "smtplib waits for the mail server on the event loop",
        "aiosmtplib",
        ("smtplib.SMTP", "smtplib.SMTP_SSL", "smtplib.SMTP.*", "smtplib.SMTP_SSL.*"),
    ),
    Rule(
        "FSB401",
        "open",
        "open() and file reads/writes wait for the disk on the event loop",
        "`await anyio.open_file(...)` (or aiofiles)",
        ("builtins.open", "io.open", "codecs.open"),
        ruff=("ASYNC230",),
    ),
    Rule(
        "FSB402",
        "pathlib-io",
        "pathlib's read_*/write_*/open wait for the disk on the event loop",
        "anyio.Path (`await anyio.Path(p).read_text()`)",
        _methods("pathlib.Path", ("read_text", "read_bytes", "write_text", "write_bytes", "open")),
        ruff=("ASYNC230", "ASYNC240"),
    ),
    Rule(
        "FSB403",
        "subprocess",
        "a subprocess call waits for the child process on the event loop",
        "`await anyio.run_process(...)` / `asyncio.create_subprocess_exec(...)`",
        _methods(
            "subprocess",
            ("run", "call", "check_call", "check_output", "getoutput", "getstatusoutput"),
        )
        + _methods("subprocess.Popen", ("wait", "communicate"))
        + ("os.system", "os.popen", "os.wait", "os.waitpid"),
        ruff=("ASYNC220", "ASYNC221", "ASYNC222"),
    ),
    Rule(
        "FSB501",
        "celery-publish",
        "publishing a Celery job writes to the broker on the event loop",
        "`await anyio.to_thread.run_sync(task.delay, ...)`, as Celery has no asyncio API",
        _methods("celery.app.task.Task", ("delay", "apply_async"))
        + _methods("celery.canvas.Signature", ("delay", "apply_async"))
        + ("celery.Celery.send_task",),
    ),
    Rule(
        "FSB502",
        "celery-result",
        "AsyncResult.get() waits for the job on the event loop",
        "a job id the client polls, or redis.asyncio on the result backend, instead of waiting",
        _methods("celery.result.AsyncResult", ("get", "wait"))
        + _methods("celery.result.GroupResult", ("get", "join")),
    ),
)

# The code given to modules a project declares blocking in pyproject.toml.
PROJECT_RULE_CODE = "FSB901"


def project_rule(modules: tuple[str, ...]) -> Rule:
    """The rule for `[tool.fastapi-scaffold.check] blocking-modules`: no table can know every
    blocking library (HDF5, serial ports...), so a project names its own."""
    return Rule(
        PROJECT_RULE_CODE,
        "project-blocking-module",
        "a module this project's pyproject.toml declares blocking is called on the event loop",
        "the library's async API, if it has one",
        tuple(f"{module}.*" for module in modules),
    )


# Calls that match a wildcard above but do no I/O.
NOT_BLOCKING = tuple(
    sorted(
        {
            "docker.errors.*",
            "docker.types.*",
            "redis.Redis.pipeline",
            "redis.Redis.pubsub",
            "redis.Redis.lock",
            "redis.Redis.register_script",
            "redis.Redis.from_url",
            "redis.Redis.from_pool",
            "botocore.client.BaseClient.get_paginator",
            "botocore.client.BaseClient.get_waiter",
            "botocore.client.BaseClient.can_paginate",
            "botocore.client.BaseClient.generate_presigned_url",
            "psycopg2.extensions.connection.close",
            "psycopg2.extensions.cursor.close",
            "psycopg2.extensions.cursor.mogrify",
            "sqlite3.Cursor.close",
            "psycopg.Cursor.close",
        }
    )
)

# Other names for the same class, as different imports reach it: mapped to the name above.
ALIASES = {
    "requests.sessions.Session": "requests.Session",
    "requests.session": "requests.Session",
    "httpx._client.Client": "httpx.Client",
    "psycopg2._psycopg.connection": "psycopg2.extensions.connection",
    "psycopg2._psycopg.cursor": "psycopg2.extensions.cursor",
    "psycopg.connection.Connection": "psycopg.Connection",
    "psycopg.cursor.Cursor": "psycopg.Cursor",
    "sqlmodel.Session": "sqlalchemy.orm.Session",
    "sqlmodel.orm.session.Session": "sqlalchemy.orm.Session",
    "sqlalchemy.orm.session.Session": "sqlalchemy.orm.Session",
    "sqlalchemy.orm.session.sessionmaker": "sqlalchemy.orm.sessionmaker",
    "sqlalchemy.Engine": "sqlalchemy.engine.Engine",
    "sqlalchemy.engine.base.Engine": "sqlalchemy.engine.Engine",
    "sqlalchemy.Connection": "sqlalchemy.engine.Connection",
    "sqlalchemy.engine.base.Connection": "sqlalchemy.engine.Connection",
    "redis.StrictRedis": "redis.Redis",
    "redis.client.Redis": "redis.Redis",
    "redis.client.StrictRedis": "redis.Redis",
    "boto3.Session": "boto3.session.Session",
    "docker.client.DockerClient": "docker.DockerClient",
    "pathlib.PosixPath": "pathlib.Path",
    "pathlib.WindowsPath": "pathlib.Path",
    "celery.Task": "celery.app.task.Task",
    "celery.app.base.Celery": "celery.Celery",
    "celery.canvas.signature": "celery.canvas.Signature",
    "celery.signature": "celery.canvas.Signature",
}

# What a call returns, where that is not an instance of the name called: so that methods on
# the result are recognised (`engine = create_engine(...)`, then `engine.connect()`). Keys are
# canonical names; `T.m` is the method m of T, `T.__call__` calling an instance of T.
RETURNS = {
    "psycopg2.connect": "psycopg2.extensions.connection",
    "psycopg2.extensions.connection.cursor": "psycopg2.extensions.cursor",
    "psycopg.connect": "psycopg.Connection",
    "psycopg.Connection.connect": "psycopg.Connection",
    "psycopg.Connection.cursor": "psycopg.Cursor",
    "psycopg.Connection.execute": "psycopg.Cursor",
    "sqlite3.connect": "sqlite3.Connection",
    "sqlite3.Connection.cursor": "sqlite3.Cursor",
    "sqlite3.Connection.execute": "sqlite3.Cursor",
    "sqlalchemy.create_engine": "sqlalchemy.engine.Engine",
    "sqlalchemy.engine.create_engine": "sqlalchemy.engine.Engine",
    "sqlmodel.create_engine": "sqlalchemy.engine.Engine",
    "sqlalchemy.engine.Engine.connect": "sqlalchemy.engine.Connection",
    "sqlalchemy.engine.Engine.begin": "sqlalchemy.engine.Connection",
    "sqlalchemy.orm.sessionmaker": "sqlalchemy.orm.sessionmaker",
    "sqlalchemy.orm.sessionmaker.__call__": "sqlalchemy.orm.Session",
    "sqlalchemy.orm.sessionmaker.begin": "sqlalchemy.orm.Session",
    "redis.from_url": "redis.Redis",
    "redis.Redis.from_url": "redis.Redis",
    "redis.Redis.pipeline": "redis.client.Pipeline",
    "boto3.client": "botocore.client.BaseClient",
    "boto3.resource": "boto3.resources.base.ServiceResource",
    "boto3.session.Session.client": "botocore.client.BaseClient",
    "boto3.session.Session.resource": "boto3.resources.base.ServiceResource",
    "docker.from_env": "docker.DockerClient",
    "urllib.request.build_opener": "urllib.request.OpenerDirector",
    "socket.create_connection": "socket.socket",
    "pathlib.Path.cwd": "pathlib.Path",
    "pathlib.Path.home": "pathlib.Path",
    "pathlib.Path.with_name": "pathlib.Path",
    "pathlib.Path.with_suffix": "pathlib.Path",
    "pathlib.Path.with_stem": "pathlib.Path",
    "pathlib.Path.joinpath": "pathlib.Path",
    "pathlib.Path.resolve": "pathlib.Path",
    "pathlib.Path.absolute": "pathlib.Path",
    "pathlib.Path.expanduser": "pathlib.Path",
    "pathlib.Path.parent": "pathlib.Path",
    "pathlib.Path.__truediv__": "pathlib.Path",
    "celery.app.task.Task.s": "celery.canvas.Signature",
    "celery.app.task.Task.si": "celery.canvas.Signature",
    "celery.app.task.Task.signature": "celery.canvas.Signature",
    "celery.app.task.Task.delay": "celery.result.AsyncResult",
    "celery.app.task.Task.apply_async": "celery.result.AsyncResult",
    "celery.canvas.Signature.delay": "celery.result.AsyncResult",
    "celery.canvas.Signature.apply_async": "celery.result.AsyncResult",
    "celery.Celery.send_task": "celery.result.AsyncResult",
}

# Attributes that are values, not methods (`path.parent`): their type is in RETURNS.
PROPERTIES = frozenset({"pathlib.Path.parent"})

# Calls that run the function they are given (and its other arguments) in a worker thread or
# process: what reaches them as a reference leaves the event loop.
OFFLOADERS = frozenset(
    {
        "asyncio.to_thread",
        "anyio.to_thread.run_sync",
        "anyio.to_process.run_sync",
        "starlette.concurrency.run_in_threadpool",
        "fastapi.concurrency.run_in_threadpool",
        "starlette.concurrency.iterate_in_threadpool",
        "fastapi.concurrency.iterate_in_threadpool",
        "asyncer.asyncify",
    }
)
# Methods that offload whatever object they are called on: `loop.run_in_executor(None, f)`,
# `executor.submit(f)`, `background_tasks.add_task(f)` (FastAPI runs a `def` task in a thread).
OFFLOADING_METHODS = frozenset({"run_in_executor", "submit", "add_task"})

# Decorators that make a function a Celery task, whose `.delay()` publishes it.
TASK_DECORATORS = frozenset({"task", "shared_task"})
TASK_TYPE = "celery.app.task.Task"


def canonical(name: str) -> str:
    """The table's name for `name`, whichever module path an import used to reach it."""
    if name in ALIASES:
        return ALIASES[name]
    owner, _, attr = name.rpartition(".")
    while owner:
        if owner in ALIASES:
            return f"{ALIASES[owner]}.{attr}" if attr else ALIASES[owner]
        owner, _, more = owner.rpartition(".")
        attr = f"{more}.{attr}"
    return name


def rule_for(qualified: str, rules: tuple[Rule, ...]) -> Rule | None:
    """The rule a call to `qualified` breaks, if any."""
    for rule in rules:
        if rule.matches(qualified):
            return rule
    return None
