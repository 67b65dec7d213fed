"""The platform's errors. Each carries the HTTP status an API answers with and the exit code a CLI
stage ends with, so one handler per boundary (a request, a stage's main) turns any of them into a
clear answer. Exit codes follow the architecture: 2 bad input, 1 anything else."""

from __future__ import annotations


class ProdcatError(Exception):
    """Base of every error raised on purpose. The message says what is wrong and where."""

    status_code: int = 500
    exit_code: int = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInputError(ProdcatError):
    """The caller's input is wrong: a file, a row, a parameter, a request body."""

    status_code = 400
    exit_code = 2


class NotFoundError(ProdcatError):
    """A named thing (dataset version, run, model) does not exist."""

    status_code = 404
    exit_code = 2


class ConflictError(ProdcatError):
    """The request clashes with the current state (a run already started with that key, ...)."""

    status_code = 409
    exit_code = 2


class PayloadTooLargeError(InvalidInputError):
    """An input is over a configured size limit."""

    status_code = 413


class UnavailableError(ProdcatError):
    """A dependency (tracking server, store, model) cannot be reached or is not ready."""

    status_code = 503
    exit_code = 1


class TooManyRequestsError(ProdcatError):
    """A configured bound on concurrent work is reached; the same request may succeed later."""

    status_code = 429
    exit_code = 1
