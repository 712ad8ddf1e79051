"""What a route handler gets: the parameters, the authenticated account, the server time."""

from dataclasses import dataclass
from typing import Literal

from ._accounts import FakeAccount
from ._params import Params


@dataclass(frozen=True, slots=True)
class Call:
    """One authenticated request, ready for its handler."""

    params: Params
    account: FakeAccount | None
    now_ms: int
    api: Literal["v1", "v3"]

    @property
    def user(self) -> FakeAccount:
        """The account of a secured endpoint."""
        assert self.account is not None, "secured endpoint without an account"
        return self.account
