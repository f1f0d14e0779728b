"""The names behind the blocking table (blocking.py): what library calls return, the other
names the same classes are reached by, and the calls that match a rule's wildcard but do no
I/O. A new library's lazy objects, aliases and I/O-free calls go here; its rule goes there."""

# A DuckDB relation is lazy: these run it (the others build another relation, see RETURNS).
DUCKDB_RUNS = (
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
DUCKDB_LAZY = (
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
DBAPI_DRIVERS = (
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

# Calls that match a wildcard of blocking.py's rules but do no I/O.
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
        | {f"{connection}.cursor" for _, connection, _ in DBAPI_DRIVERS}
        | {f"{cursor}.close" for _, _, cursor in DBAPI_DRIVERS}
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

# Other names for the same class, as different imports reach it: mapped to the table's name.
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
    **{f"duckdb.DuckDBPyRelation.{lazy}": "duckdb.DuckDBPyRelation" for lazy in DUCKDB_LAZY},
    "clickhouse_connect.get_client": "clickhouse_connect.driver.client.Client",
    "clickhouse_connect.create_client": "clickhouse_connect.driver.client.Client",
    "pymongo.MongoClient.get_database": "pymongo.database.Database",
    "pymongo.MongoClient.get_default_database": "pymongo.database.Database",
    "pymongo.database.Database.get_collection": "pymongo.collection.Collection",
    **{f"{module}.connect": connection for module, connection, _ in DBAPI_DRIVERS},
    **{f"{connection}.cursor": cursor for _, connection, cursor in DBAPI_DRIVERS},
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
