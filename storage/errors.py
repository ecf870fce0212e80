"""Errors of the storage layer; workflows wrap them into their own."""

from __future__ import annotations

import logging
import socket

from sqlalchemy import exc


class StorageError(Exception):
    """Base of everything the store and the blob stores raise on purpose."""


class BlobTooLarge(StorageError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"file is larger than the limit of {limit // (1024 * 1024)} MB")
        self.limit = limit


class EmptyBlob(StorageError):
    def __init__(self) -> None:
        super().__init__("file is empty")


class BlobNotFound(StorageError):
    def __init__(self, key: str) -> None:
        super().__init__(f"blob {key} is not in the store")
        self.key = key


class BlobStoreUnavailable(StorageError):
    """The medium could not be reached or refused the operation."""


def store_unreachable(error: BaseException) -> bool:
    """Whether ``error`` says the database could not be reached, or its connection was
    lost, rather than that it refused a statement: asking again later may work.

    The drivers' network errors reach us bare (a refused or reset connection, a
    timeout, a host name that does not resolve); SQLAlchemy raises its own for a lost
    connection, a pool with no connection to give, or the database's "operational"
    refusals (SQLite busy past its timeout, PostgreSQL shutting down)."""
    if isinstance(error, ConnectionError | TimeoutError | socket.gaierror):
        return True
    if isinstance(error, exc.DisconnectionError | exc.TimeoutError):
        return True
    return isinstance(error, exc.DBAPIError) and (
        error.connection_invalidated or isinstance(error, exc.OperationalError | exc.InterfaceError)
    )


def log_failure(logger: logging.Logger, error: BaseException, message: str, *args: object) -> None:
    """Log ``message`` (formatted with ``args``) about ``error``: a failed connection (the
    database out of reach, or another service: `store_unreachable`) as one warning line
    naming the error, since a trace would add nothing and a loop trying again through an
    outage would fill the log with them; anything else as an error, with its trace."""
    if store_unreachable(error):
        logger.warning(message + " (a connection failed: %s)", *args, type(error).__name__)
    else:
        logger.error(message, *args, exc_info=error)
