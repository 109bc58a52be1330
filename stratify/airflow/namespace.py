"""A deployment's own corner of shared services: a PostgreSQL database and a Redis database number.

A test or benchmark deployment never uses a server's defaults as they are:
it creates a uniquely named PostgreSQL database (Airflow's metadata and
Celery's results) and drops it afterwards, and claims an empty Redis
database number for its broker (atomically, so two deployments never share
one) and flushes it afterwards.
"""

from __future__ import annotations

import uuid

PG_ADMIN = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "postgres"}
REDIS = {"host": "127.0.0.1", "port": 6379}
CLAIM_KEY = "stratify:claimed-by"


def postgres_error(admin: dict = PG_ADMIN) -> str | None:
    """Why PostgreSQL cannot be reached, None if it can."""
    import psycopg2

    try:
        psycopg2.connect(connect_timeout=3, **admin).close()
    except psycopg2.Error as exc:
        return f"PostgreSQL on {admin['host']}:{admin['port']}: {str(exc).strip()}"
    return None


def redis_error(server: dict = REDIS) -> str | None:
    """Why Redis cannot be reached, None if it can."""
    import redis

    try:
        redis.Redis(socket_timeout=3, **server).ping()
    except redis.RedisError as exc:
        return f"Redis on {server['host']}:{server['port']}: {exc}"
    return None


def _admin(admin: dict):
    import psycopg2

    con = psycopg2.connect(**admin)
    con.autocommit = True  # CREATE/DROP DATABASE cannot run in a transaction
    return con


def create_database(admin: dict = PG_ADMIN, prefix: str = "stratify_af") -> tuple[str, str]:
    """A new, uniquely named database; (its name, its SQLAlchemy URL for Airflow)."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    con = _admin(admin)
    try:
        con.cursor().execute(f'CREATE DATABASE "{name}"')  # a name of our own making: not a bound value
    finally:
        con.close()
    return name, f"postgresql+psycopg2://{admin['user']}@{admin['host']}:{admin['port']}/{name}"


def drop_database(name: str, admin: dict = PG_ADMIN) -> None:
    """Drop the database, closing any connection a killed process left."""
    if not name.replace("_", "").isalnum():
        raise ValueError(f"not a database name this module made: {name!r}")
    con = _admin(admin)
    try:
        con.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        con.close()


def claim_redis_db(server: dict = REDIS) -> tuple[int, str]:
    """An empty Redis database number (15 down to 1; 0 is everyone's default), claimed; (number, broker URL)."""
    import redis

    claim = uuid.uuid4().hex
    for db in range(15, 0, -1):
        client = redis.Redis(db=db, **server)
        try:
            if client.dbsize() == 0 and client.set(CLAIM_KEY, claim, nx=True):
                return db, f"redis://{server['host']}:{server['port']}/{db}"
        finally:
            client.close()
    raise RuntimeError(f"Redis on {server['host']}:{server['port']} has no empty database number (1-15)")


def release_redis_db(db: int, server: dict = REDIS) -> None:
    """Flush the claimed database number (broker queues, results, the claim itself)."""
    import redis

    client = redis.Redis(db=db, **server)
    try:
        client.flushdb()
    finally:
        client.close()
