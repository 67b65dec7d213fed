"""The run records' database: SQLite under the data folder by default, Postgres for several API
replicas (`DATA_DATABASE_URL`). Tables are created when an API or CLI process opens it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.exc import SQLAlchemyError

from prodcat_core.errors import UnavailableError
from prodcat_data.runs.schema import Base


def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")  # readers do not block the writer
        cursor.execute("PRAGMA busy_timeout=30000")  # the API and the CLI may write at once
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def open_database(url: str) -> Engine:
    """An engine on `url` with the schema created; a database that cannot be opened is a 503."""
    parsed = make_url(url)
    try:
        if parsed.get_backend_name() == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
            event.listen(engine, "connect", _sqlite_pragmas)
        else:
            engine = create_engine(url, pool_pre_ping=True)
        Base.metadata.create_all(engine)
    except (SQLAlchemyError, OSError) as e:
        raise UnavailableError(
            f"run database {parsed.render_as_string(hide_password=True)}: cannot open it: {e}"
        ) from e
    return engine
