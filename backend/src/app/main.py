"""The service's entry names: ``uvicorn app.main:app`` and ``python -m app.main``.

``app`` is created on first access, so importing this module does no work. The application
is assembled in :mod:`app.application`; the command line is :mod:`app.cli`, which this
module runs when executed (the command imports the application, never this module, so the
two do not import each other).
"""

from typing import Any

from fastapi import FastAPI

from app.application import configured_app, create_app

__all__ = ["create_app"]  # the application factory, where it has always been found

_app: FastAPI | None = None


def __getattr__(name: str) -> Any:
    # Lazily build `app` for `uvicorn app.main:app`: configuration is read only then.
    global _app
    if name == "app":
        if _app is None:
            _app, _settings = configured_app()
        return _app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if __name__ == "__main__":
    # Only when run as a script: `uvicorn app.main:app` needs no command-line parser.
    from app.cli import main

    main()
