"""What can go wrong with a backtest request over the API (each an HTTP answer)."""

from app.core.errors import AppError


class InvalidBacktest(AppError):
    """The request cannot make a run; ``problems`` has one line per problem."""

    status_code = 422
    code = "invalid_backtest"

    def __init__(self, problems: list[str] | tuple[str, ...]) -> None:
        super().__init__("\n".join(problems))
        self.problems = tuple(problems)


class BacktestsBusy(AppError):
    """As many runs as allowed are going; start this one when one has ended."""

    status_code = 429
    code = "too_many_backtests"


class UnknownBacktest(AppError):
    """No run has this id."""

    status_code = 404
    code = "not_found"


class BacktestNotFinished(AppError):
    """The run has not ended: its decisions are stored when it does."""

    status_code = 409
    code = "backtest_running"


class BacktestFinished(AppError):
    """The run has already ended: there is nothing to cancel."""

    status_code = 409
    code = "backtest_finished"
