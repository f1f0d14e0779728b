"""The one table of blocking APIs: what blocks the event loop, its rule code, and what to use
instead. Everything `check` knows about third-party libraries lives in this module and in
library_names.py (what their calls return, their aliases, their calls that do no I/O).

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

from fastapi_scaffold.check.library_names import (
    ALIASES,
    DBAPI_DRIVERS,
    DUCKDB_RUNS,
    FAMILIES,
    NOT_BLOCKING,
    PROPERTIES,
    QUIET_WITH_KEYWORD,
    RETURNS,
    canonical,
)

__all__ = [
    "ALIASES",
    "FAMILIES",
    "NOT_BLOCKING",
    "PROPERTIES",
    "QUIET_WITH_KEYWORD",
    "RETURNS",
    "canonical",
]

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
    "merge",
    "close",
    "connection",
)
# `Session.add`, `add_all`, `delete` and `expunge` only stage changes in memory: the I/O is in
# the `flush` or `commit` after them, where a finding points the user to.


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
        "FSB002",
        "thread-wait",
        "waiting for a thread, a future or a queue holds the event loop until it is done",
        "`await asyncio.wrap_future(future)` / `await loop.run_in_executor(...)`",
        _methods("concurrent.futures.Future", ("result", "exception"))
        + _methods("concurrent.futures", ("wait", "as_completed"))
        + ("threading.Thread.join", "threading.Event.wait", "queue.Queue.get", "queue.Queue.join")
        + _methods("multiprocessing.pool.Pool", ("map", "starmap", "apply", "join")),
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
        "FSB104",
        "http-client-sync",
        "a sync HTTP client waits for the network on the event loop",
        "httpx.AsyncClient (`await client.get(...)`)",
        _methods("urllib3", ("request",))
        + _methods("urllib3.PoolManager", ("request", "urlopen", "request_encode_url"))
        + _methods("http.client.HTTPConnection", ("connect", "request", "getresponse"))
        + _methods("http.client.HTTPSConnection", ("connect", "request", "getresponse"))
        + _methods("primp", (*_HTTP_VERBS,))
        + _methods("primp.Client", (*_HTTP_VERBS,)),
        ruff=("ASYNC210",),
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
        "FSB206",
        "duckdb",
        "DuckDB runs the query (and reads its files) on the event loop",
        "`await anyio.to_thread.run_sync(...)` on a cursor of its own (DuckDB has no async API)",
        ("duckdb.connect", "duckdb.DuckDBPyConnection.*")
        + _methods("duckdb", ("sql", "query", "execute", "read_csv", "read_parquet", "read_json"))
        + _methods("duckdb.DuckDBPyRelation", DUCKDB_RUNS),
    ),
    Rule(
        "FSB207",
        "clickhouse",
        "a sync ClickHouse client waits for the server on the event loop",
        "clickhouse-connect's `get_async_client` (or aiochclient)",
        (
            "clickhouse_driver.Client.*",
            "clickhouse_connect.get_client",
            "clickhouse_connect.create_client",
            "clickhouse_connect.driver.client.Client.*",
        ),
    ),
    Rule(
        "FSB208",
        "pymongo",
        "pymongo waits for MongoDB on the event loop",
        "pymongo's AsyncMongoClient (or motor)",
        (
            "pymongo.MongoClient.*",
            "pymongo.database.Database.*",
            "pymongo.collection.Collection.*",
        ),
    ),
    Rule(
        "FSB209",
        "dbapi-driver",
        "a sync database driver waits for the server on the event loop",
        "the driver's async counterpart (aiomysql, asyncpg, psycopg's AsyncConnection...)",
        tuple(
            pattern
            for module, connection, cursor in DBAPI_DRIVERS
            for pattern in (f"{module}.connect", f"{connection}.*", f"{cursor}.*")
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
        "FSB306",
        "search-engine",
        "a sync Elasticsearch/OpenSearch client waits for the cluster on the event loop",
        "AsyncElasticsearch / AsyncOpenSearch",
        ("elasticsearch.Elasticsearch.*", "opensearchpy.OpenSearch.*"),
    ),
    Rule(
        "FSB307",
        "kubernetes",
        "the kubernetes client waits for the API server on the event loop",
        "kubernetes_asyncio",
        (
            "kubernetes.client.Api.*",
            "kubernetes.config.load_kube_config",
            "kubernetes.config.load_incluster_config",
            "kubernetes.config.new_client_from_config",
            "kubernetes.watch.Watch.stream",
            "kubernetes.stream.stream",
        ),
    ),
    Rule(
        "FSB308",
        "object-storage",
        "a sync object-storage client waits for the service on the event loop",
        "the SDK's async client (azure's `.aio`, gcloud-aio-storage, miniopy-async)",
        (
            "minio.Minio.*",
            "google.cloud.storage.Client.*",
            "google.cloud.storage.Bucket.*",
            "google.cloud.storage.Blob.*",
            "azure.storage.blob.BlobServiceClient.*",
            "azure.storage.blob.ContainerClient.*",
            "azure.storage.blob.BlobClient.*",
        ),
    ),
    Rule(
        "FSB309",
        "ssh-ftp",
        "an SSH/SFTP/FTP session waits for the remote host on the event loop",
        "asyncssh (or aioftp)",
        (
            "paramiko.SSHClient.*",
            "paramiko.SFTPClient.*",
            "ftplib.FTP",
            "ftplib.FTP_TLS",
            "ftplib.FTP.*",
            "ftplib.FTP_TLS.*",
        ),
    ),
    Rule(
        "FSB310",
        "message-queue",
        "a sync message-queue client waits for the broker on the event loop",
        "aio-pika / aiokafka (or `await anyio.to_thread.run_sync(...)`)",
        (
            "pika.BlockingConnection",
            "pika.BlockingConnection.*",
            "pika.adapters.blocking_connection.BlockingChannel.*",
            "kafka.KafkaProducer",
            "kafka.KafkaProducer.*",
            "kafka.KafkaConsumer",
            "kafka.KafkaConsumer.*",
            "confluent_kafka.Producer.flush",
            "confluent_kafka.Producer.poll",
            "confluent_kafka.Consumer.*",
            "karton.core.backend.KartonBackend",
            "karton.core.backend.KartonBackend.*",
            "karton.core.inspect.KartonState",
            "karton.core.Producer",
            "karton.core.Producer.send_task",
        ),
    ),
    Rule(
        "FSB311",
        "api-client-sync",
        "a sync API client (an LLM, Slack, Vault, a JWKS endpoint) waits for the service on "
        "the event loop",
        "the SDK's async client (`AsyncOpenAI`, `AsyncAnthropic`, `AsyncWebClient`...)",
        (
            "openai.OpenAI.*",
            "openai.AzureOpenAI.*",
            "anthropic.Anthropic.*",
            "groq.Groq.*",
            "cohere.Client.*",
            "cohere.ClientV2.*",
            "google.genai.Client.*",
            "slack_sdk.WebClient.*",
            "hvac.Client.*",
            "jwt.PyJWKClient.*",
            "geoip2.webservice.Client.*",
        )
        + _methods(
            "litellm",
            ("completion", "embedding", "text_completion", "image_generation", "transcription"),
        ),
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
        "FSB404",
        "disk-sync",
        "copying, moving or locking files, or looking up a disk database, waits for the disk on "
        "the event loop",
        "`await anyio.to_thread.run_sync(...)`",
        _methods(
            "shutil",
            ("copy", "copy2", "copyfile", "copytree", "move", "rmtree", "make_archive"),
        )
        + ("shutil.unpack_archive", "fcntl.flock", "fcntl.lockf", "portalocker.lock")
        + _methods("filelock.FileLock", ("acquire", "__enter__"))
        + _methods("filelock.SoftFileLock", ("acquire", "__enter__"))
        + ("geoip2.database.Reader.*", "maxminddb.Reader.get"),
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


def rule_for(qualified: str, rules: tuple[Rule, ...]) -> Rule | None:
    """The rule a call to `qualified` breaks, if any."""
    for rule in rules:
        if rule.matches(qualified):
            return rule
    return None
