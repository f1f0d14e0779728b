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
    "merge",
    "close",
    "connection",
)
# `Session.add`, `add_all`, `delete` and `expunge` only stage changes in memory: the I/O is in
# the `flush` or `commit` after them, where a finding points the user to.


def _methods(owner: str, names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(f"{owner}.{name}" for name in names)


# A DuckDB relation is lazy: these run it (the others build another relation, see RETURNS).
_DUCKDB_RUNS = (
    "fetchone",
    "fetchall",
    "fetchmany",
    "fetchdf",
    "fetchnumpy",
    "fetch_arrow_table",
    "fetch_df",
    "df",
    "pl",
    "arrow",
    "to_df",
    "to_arrow_table",
    "to_parquet",
    "to_csv",
    "write_parquet",
    "write_csv",
    "to_table",
    "to_view",
    "create",
    "create_view",
    "insert",
    "insert_into",
    "execute",
    "show",
    "record_batch",
)
_DUCKDB_LAZY = (
    "filter",
    "project",
    "select",
    "aggregate",
    "count",
    "limit",
    "order",
    "sort",
    "join",
    "union",
    "distinct",
    "except_",
    "intersect",
    "set_alias",
    "cross",
)
# DB-API drivers in the most-downloaded packages: the module's `connect`, and the connection
# and cursor types it returns.
_DBAPI_DRIVERS = (
    ("pymysql", "pymysql.connections.Connection", "pymysql.cursors.Cursor"),
    ("MySQLdb", "MySQLdb.connections.Connection", "MySQLdb.cursors.Cursor"),
    ("mysql.connector", "mysql.connector.MySQLConnection", "mysql.connector.cursor.MySQLCursor"),
    ("oracledb", "oracledb.Connection", "oracledb.Cursor"),
    ("cx_Oracle", "cx_Oracle.Connection", "cx_Oracle.Cursor"),
    ("pyodbc", "pyodbc.Connection", "pyodbc.Cursor"),
    ("pymssql", "pymssql.Connection", "pymssql.Cursor"),
    (
        "snowflake.connector",
        "snowflake.connector.SnowflakeConnection",
        "snowflake.connector.cursor.SnowflakeCursor",
    ),
)


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
        + _methods("duckdb.DuckDBPyRelation", _DUCKDB_RUNS),
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
            for module, connection, cursor in _DBAPI_DRIVERS
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
            "duckdb.DuckDBPyConnection.cursor",
            "duckdb.DuckDBPyConnection.duplicate",
            "duckdb.DuckDBPyConnection.interrupt",
            "pymongo.MongoClient.get_database",
            "pymongo.MongoClient.get_default_database",
            "pymongo.database.Database.get_collection",
            "pymongo.collection.Collection.find",
            "pymongo.collection.Collection.with_options",
            "elasticsearch.Elasticsearch.options",
            "opensearchpy.OpenSearch.options",
            "minio.Minio.presigned_get_object",
            "minio.Minio.presigned_put_object",
            "google.cloud.storage.Client.bucket",
            "google.cloud.storage.Bucket.blob",
            "google.cloud.storage.Blob.generate_signed_url",
            "azure.storage.blob.BlobServiceClient.get_container_client",
            "azure.storage.blob.BlobServiceClient.get_blob_client",
            "azure.storage.blob.BlobServiceClient.from_connection_string",
            "azure.storage.blob.ContainerClient.get_blob_client",
            "azure.storage.blob.ContainerClient.from_connection_string",
            "azure.storage.blob.BlobClient.from_connection_string",
            "azure.storage.blob.BlobClient.from_blob_url",
            "paramiko.SSHClient.set_missing_host_key_policy",
            "paramiko.SSHClient.get_transport",
            "openai.OpenAI.with_options",
            "openai.OpenAI.copy",
            "openai.AzureOpenAI.with_options",
            "anthropic.Anthropic.with_options",
            "anthropic.Anthropic.copy",
            "google.genai.Client.aio.*",
            "geoip2.database.Reader.close",
            "kubernetes.client.Api.api_client",
        }
        | {f"{connection}.cursor" for _, connection, _ in _DBAPI_DRIVERS}
        | {f"{cursor}.close" for _, _, cursor in _DBAPI_DRIVERS}
    )
)

# Client constructors that do I/O only to find credentials (boto3's chain reads ~/.aws and may
# ask the instance metadata service): given this keyword, they do none.
QUIET_WITH_KEYWORD = {
    "boto3.client": "aws_access_key_id",
    "boto3.resource": "aws_access_key_id",
    "boto3.session.Session.client": "aws_access_key_id",
    "boto3.session.Session.resource": "aws_access_key_id",
}

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
    "duckdb.duckdb.DuckDBPyConnection": "duckdb.DuckDBPyConnection",
    "duckdb.duckdb.DuckDBPyRelation": "duckdb.DuckDBPyRelation",
    "clickhouse_driver.client.Client": "clickhouse_driver.Client",
    "clickhouse_connect.driver.httpclient.HttpClient": "clickhouse_connect.driver.client.Client",
    "clickhouse_connect.driver.Client": "clickhouse_connect.driver.client.Client",
    "pymongo.mongo_client.MongoClient": "pymongo.MongoClient",
    "pymongo.synchronous.mongo_client.MongoClient": "pymongo.MongoClient",
    "pymongo.synchronous.database.Database": "pymongo.database.Database",
    "pymongo.synchronous.collection.Collection": "pymongo.collection.Collection",
    "pymysql.Connection": "pymysql.connections.Connection",
    "pymysql.connections.Connection.cursor": "pymysql.cursors.Cursor",
    "elasticsearch.client.Elasticsearch": "elasticsearch.Elasticsearch",
    "opensearchpy.client.OpenSearch": "opensearchpy.OpenSearch",
    "minio.api.Minio": "minio.Minio",
    "google.cloud.storage.client.Client": "google.cloud.storage.Client",
    "google.cloud.storage.bucket.Bucket": "google.cloud.storage.Bucket",
    "google.cloud.storage.blob.Blob": "google.cloud.storage.Blob",
    "azure.storage.blob._blob_service_client.BlobServiceClient": (
        "azure.storage.blob.BlobServiceClient"
    ),
    "azure.storage.blob._container_client.ContainerClient": "azure.storage.blob.ContainerClient",
    "azure.storage.blob._blob_client.BlobClient": "azure.storage.blob.BlobClient",
    "paramiko.client.SSHClient": "paramiko.SSHClient",
    "paramiko.sftp_client.SFTPClient": "paramiko.SFTPClient",
    "pika.adapters.blocking_connection.BlockingConnection": "pika.BlockingConnection",
    "kafka.producer.KafkaProducer": "kafka.KafkaProducer",
    "kafka.consumer.KafkaConsumer": "kafka.KafkaConsumer",
    "karton.core.karton.Producer": "karton.core.Producer",
    "karton.core.Karton.send_task": "karton.core.Producer.send_task",
    "karton.core.karton.Karton.send_task": "karton.core.Producer.send_task",
    "openai._client.OpenAI": "openai.OpenAI",
    "openai.lib.azure.AzureOpenAI": "openai.AzureOpenAI",
    "anthropic._client.Anthropic": "anthropic.Anthropic",
    "slack_sdk.web.client.WebClient": "slack_sdk.WebClient",
    "slack_sdk.web.WebClient": "slack_sdk.WebClient",
    "jwt.jwks_client.PyJWKClient": "jwt.PyJWKClient",
    "primp.primp.Client": "primp.Client",
    "urllib3.poolmanager.PoolManager": "urllib3.PoolManager",
    "http.client.HTTPSConnection": "http.client.HTTPSConnection",
    "concurrent.futures._base.Future": "concurrent.futures.Future",
    "concurrent.futures._base.wait": "concurrent.futures.wait",
    "concurrent.futures._base.as_completed": "concurrent.futures.as_completed",
    "multiprocessing.Pool": "multiprocessing.pool.Pool",
    "queue.SimpleQueue": "queue.Queue",
    "queue.LifoQueue": "queue.Queue",
    "queue.PriorityQueue": "queue.Queue",
    "filelock._unix.UnixFileLock": "filelock.FileLock",
}

# Families of generated classes, by module prefix and class-name suffix: the typed boto3
# clients of the mypy-boto3 stubs (`mypy_boto3_s3.S3Client`), the kubernetes API classes
# (`kubernetes.client.CoreV1Api`). A method of any of them is the family's.
FAMILIES = (
    ("mypy_boto3_", "Client", "botocore.client.BaseClient"),
    ("mypy_boto3_", "ServiceResource", "boto3.resources.base.ServiceResource"),
    ("kubernetes.client", "Api", "kubernetes.client.Api"),
)

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
    "duckdb.connect": "duckdb.DuckDBPyConnection",
    "duckdb.DuckDBPyConnection.cursor": "duckdb.DuckDBPyConnection",
    "duckdb.DuckDBPyConnection.duplicate": "duckdb.DuckDBPyConnection",
    "duckdb.DuckDBPyConnection.execute": "duckdb.DuckDBPyConnection",
    "duckdb.DuckDBPyConnection.sql": "duckdb.DuckDBPyRelation",
    "duckdb.DuckDBPyConnection.query": "duckdb.DuckDBPyRelation",
    "duckdb.DuckDBPyConnection.table": "duckdb.DuckDBPyRelation",
    "duckdb.DuckDBPyConnection.read_parquet": "duckdb.DuckDBPyRelation",
    "duckdb.DuckDBPyConnection.read_csv": "duckdb.DuckDBPyRelation",
    "duckdb.sql": "duckdb.DuckDBPyRelation",
    "duckdb.query": "duckdb.DuckDBPyRelation",
    "duckdb.read_parquet": "duckdb.DuckDBPyRelation",
    "duckdb.read_csv": "duckdb.DuckDBPyRelation",
    **{f"duckdb.DuckDBPyRelation.{lazy}": "duckdb.DuckDBPyRelation" for lazy in _DUCKDB_LAZY},
    "clickhouse_connect.get_client": "clickhouse_connect.driver.client.Client",
    "clickhouse_connect.create_client": "clickhouse_connect.driver.client.Client",
    "pymongo.MongoClient.get_database": "pymongo.database.Database",
    "pymongo.MongoClient.get_default_database": "pymongo.database.Database",
    "pymongo.database.Database.get_collection": "pymongo.collection.Collection",
    **{f"{module}.connect": connection for module, connection, _ in _DBAPI_DRIVERS},
    **{f"{connection}.cursor": cursor for _, connection, cursor in _DBAPI_DRIVERS},
    "google.cloud.storage.Client.bucket": "google.cloud.storage.Bucket",
    "google.cloud.storage.Client.get_bucket": "google.cloud.storage.Bucket",
    "google.cloud.storage.Bucket.blob": "google.cloud.storage.Blob",
    "google.cloud.storage.Bucket.get_blob": "google.cloud.storage.Blob",
    "azure.storage.blob.BlobServiceClient.from_connection_string": (
        "azure.storage.blob.BlobServiceClient"
    ),
    "azure.storage.blob.BlobServiceClient.get_container_client": (
        "azure.storage.blob.ContainerClient"
    ),
    "azure.storage.blob.BlobServiceClient.get_blob_client": "azure.storage.blob.BlobClient",
    "azure.storage.blob.ContainerClient.get_blob_client": "azure.storage.blob.BlobClient",
    "paramiko.SSHClient.open_sftp": "paramiko.SFTPClient",
    "pika.BlockingConnection.channel": "pika.adapters.blocking_connection.BlockingChannel",
    "concurrent.futures.ThreadPoolExecutor.submit": "concurrent.futures.Future",
    "concurrent.futures.ProcessPoolExecutor.submit": "concurrent.futures.Future",
    "concurrent.futures.Executor.submit": "concurrent.futures.Future",
    "concurrent.futures.thread.ThreadPoolExecutor.submit": "concurrent.futures.Future",
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
    for prefix, suffix, family in FAMILIES:
        if name.startswith(prefix):
            parts = name.split(".")
            for i, part in enumerate(parts):
                if i and part.endswith(suffix) and part[:1].isupper():
                    return ".".join([family, *parts[i + 1 :]])
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
