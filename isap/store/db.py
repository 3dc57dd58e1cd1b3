"""Where the data lives and how to reach it.

`ISAP_DATABASE_URL` names the database (PostgreSQL for real deployments);
without it, an embedded SQLite file under `ISAP_DATA_DIR` (default: the
user's data directory) is used.  The same directory holds the file store of
original uploads.  The schema is managed by Alembic (`isap db upgrade`);
every command checks the schema version first and says plainly when the
database is unreachable or not at the version this code expects.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path

from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, OperationalError, PendingRollbackError, SQLAlchemyError
from sqlmodel import create_engine

from isap.private import create_private_file, make_private, private_dir

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class StoreError(RuntimeError):
    """A problem with the database that the user can act on; the message says what to do."""


class StoreBusy(StoreError):
    """A database failure that is worth retrying: busy or locked, a serialisation failure or deadlock, a lost
    connection.  Recognised by error type and code (see `retryable`), never by the wording of a message."""


# SQLite result codes (https://sqlite.org/rescode.html): extended codes keep the primary code in their low byte.
SQLITE_BUSY, SQLITE_LOCKED = 5, 6
# PostgreSQL SQLSTATEs (https://www.postgresql.org/docs/current/errcodes-appendix.html) worth retrying:
# serialization_failure, deadlock_detected, lock_not_available, too_many_connections, and the server going
# away (admin_shutdown, crash_shutdown, cannot_connect_now); class 08 (connection exceptions) as a whole.
PG_RETRYABLE = frozenset({"40001", "40P01", "55P03", "53300", "57P01", "57P02", "57P03"})


def retryable(exc: BaseException) -> bool:
    """Whether a database failure is transient: decided by the driver's error type and code."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, PendingRollbackError):
        # a connection lost mid-transaction (a database restart): a new transaction on a new connection may succeed
        return True
    orig = getattr(exc, "orig", None) or exc
    code = getattr(orig, "sqlite_errorcode", None)
    if code is not None:
        return (code & 0xFF) in (SQLITE_BUSY, SQLITE_LOCKED)
    state = getattr(orig, "sqlstate", None)
    if state:
        return state in PG_RETRYABLE or state.startswith("08")
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a dependency
        return False
    # psycopg raises OperationalError without a SQLSTATE when it cannot reach the server at all
    return isinstance(orig, psycopg.OperationalError)


def store_error(exc: BaseException, prefix: str = "the database failed") -> StoreError:
    """The StoreError (or, when worth retrying, StoreBusy) for a database failure."""
    return (StoreBusy if retryable(exc) else StoreError)(f"{prefix}: {_short(exc)}")


def data_dir() -> Path:
    env = os.environ.get("ISAP_DATA_DIR")
    if env:
        path = Path(env)
    else:
        from platformdirs import user_data_dir

        path = Path(user_data_dir("isap", appauthor=False))
    return private_dir(path)  # the database and the originals hold personal and proposal data


def database_url() -> str:
    return os.environ.get("ISAP_DATABASE_URL") or f"sqlite:///{data_dir() / 'isap.db'}"


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.close()


def _sqlite_file(url: str) -> Path | None:
    """The file of an SQLite URL, or None for an in-memory database."""
    from sqlalchemy.engine import make_url

    database = make_url(url).database
    return Path(database) if database and database != ":memory:" and not database.startswith("file:") else None


def _private_sqlite_file(path: Path) -> None:
    """Create the database file as 0600 before SQLite does (it would follow the umask, often 0644).

    SQLite gives its journal, write-ahead log and shared-memory file the
    database file's own mode, so they are private too; a database made before
    this rule is made private when it is next opened."""
    if not path.parent.exists():
        private_dir(path.parent)
    create_private_file(path)
    for extra in ("-wal", "-shm", "-journal"):
        make_private(Path(f"{path}{extra}"))


@lru_cache(maxsize=8)
def engine_for(url: str) -> Engine:
    if url.startswith("sqlite"):
        eng = create_engine(url, connect_args={"check_same_thread": False, "timeout": 10})
        path = _sqlite_file(url)
        if path is not None:
            event.listen(eng, "do_connect", lambda *_args: _private_sqlite_file(path))
        event.listen(eng, "connect", _sqlite_pragmas)
    else:
        eng = create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 5})
    return eng


def get_engine() -> Engine:
    return engine_for(database_url())


def alembic_config(url: str):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str | None = None) -> str:
    """Bring the schema to the latest version; returns the revision now in place."""
    from alembic import command

    url = url or database_url()
    try:
        command.upgrade(alembic_config(url), "head")
    except OperationalError as exc:
        raise store_error(exc, "cannot reach the database") from None
    return head_revision()


_ROLE = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def grant_application_role(role: str, url: str | None = None) -> None:
    """Give the role the application connects as what it needs and no more (PostgreSQL; run as the owner).

    Migrations run as the role that owns the tables; the application connects
    as another role that cannot alter, disable or drop a trigger, replace a
    function or change the schema (only an owner can), and that may only add
    to and read the audit history, and add (never change) decisions and
    ratings.  Run again after every upgrade: a new
    table is granted then.
    """
    url = url or database_url()
    if not url.startswith("postgresql"):
        raise StoreError("an application role applies to PostgreSQL only (SQLite has no roles)")
    if not _ROLE.fullmatch(role):
        raise StoreError(f"{role!r} is not a role name isap grants to (lower-case letters, digits and _)")
    statements = [
        f'GRANT USAGE ON SCHEMA public TO "{role}"',
        f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "{role}"',
        f'REVOKE ALL ON auditevent FROM "{role}"',
        f'GRANT SELECT, INSERT ON auditevent TO "{role}"',
        # decisions, ratings and declarations of interests are insert-only too (triggers refuse the rest, for every
        # role but the owner; declarations since 0017_declarations_kept)
        f'REVOKE UPDATE, DELETE, TRUNCATE ON decision, rating, declaration FROM "{role}"',
        f'REVOKE ALL ON alembic_version FROM "{role}"',
        f'GRANT SELECT ON alembic_version TO "{role}"',
        f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO "{role}"',
        # nobody but the owner creates objects here (PostgreSQL 15 and later already say so)
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
        'REVOKE ALL ON FUNCTION isap_audit_refuse() FROM PUBLIC',
        'REVOKE ALL ON FUNCTION isap_audit_in_order() FROM PUBLIC',
        'REVOKE ALL ON FUNCTION isap_record_refuse() FROM PUBLIC',
        'REVOKE ALL ON FUNCTION isap_declaration_refuse() FROM PUBLIC',
    ]
    try:
        with engine_for(url).begin() as conn:
            owner = conn.execute(text("SELECT tableowner FROM pg_tables WHERE tablename = 'auditevent'")).scalar()
            if owner == role:
                raise StoreError(f"{role} owns the tables: the application must connect as another role")
            for sql in statements:
                conn.execute(text(sql))
    except SQLAlchemyError as exc:
        raise store_error(exc, "cannot grant the application role") from None


def head_revision() -> str:
    """The schema version this code needs: the migrations' head (isap/store/schema_head.py, generated from the
    migration scripts)."""
    from isap.store.schema_head import HEAD

    return HEAD


def check_schema(engine: Engine) -> None:
    """Refuse to work on a database that is unreachable or not at this code's schema version."""
    try:
        with engine.connect() as conn:
            try:
                current = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            except SQLAlchemyError:
                current = None
    except OperationalError as exc:
        raise store_error(exc, "cannot reach the database") from None
    head = head_revision()
    if current != head:
        raise StoreError(
            f"the database schema is at {current or 'no version'} but this isap needs {head}: "
            "run `isap db upgrade`")


def _short(exc: Exception) -> str:
    msg = str(getattr(exc, "orig", exc)).strip().splitlines()
    return msg[0] if msg else type(exc).__name__
