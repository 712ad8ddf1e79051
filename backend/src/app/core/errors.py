"""The application's error tree.

Every error the service raises on purpose derives from :class:`AppError`, which carries the
HTTP status and the stable machine-readable ``code`` that the API renders as
``{"error": code, "detail": message}``::

    AppError
    ├── ConfigError              bad configuration; the service refuses to start
    └── DatabaseError            the database cannot be used
        ├── DatabaseUnavailable  connection refused, lost or timed out: retry later (503)
        └── MigrationError       the schema cannot be brought to the expected revision
"""

from collections.abc import Sequence


class AppError(Exception):
    """Base of every error the application raises deliberately.

    Attributes:
        status_code: HTTP status the API answers with when this error escapes a request.
        code: Stable, machine-readable error code (snake_case).
    """

    status_code: int = 500
    code: str = "internal_error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class ConfigError(AppError):
    """The configuration is invalid; one problem per line, each naming its variable.

    Attributes:
        problems: One human-readable line per bad variable, e.g.
            ``"LEVERAGE: must be between 1 and 125 (got '0')"``. Secret values never appear.
    """

    status_code = 500
    code = "config_invalid"

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(self.problems))


class DatabaseError(AppError):
    """The database is unreachable or unusable."""

    status_code = 503
    code = "database_unavailable"


class DatabaseUnavailable(DatabaseError):
    """The database cannot be reached now (refused, lost or timed out); retrying can work.

    Raised by :func:`app.db.session.session_scope` from the driver error, so the cause stays
    on ``__cause__``. A bad query or a constraint violation is never one of these.
    """

    status_code = 503
    code = "database_unavailable"


class MigrationError(DatabaseError):
    """Migrations failed or the schema is at an unexpected revision."""

    code = "migration_failed"
