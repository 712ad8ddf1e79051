"""The ``{"code", "msg"}`` error envelope and the documented codes the fake answers with.

HTTP statuses follow the spec's [OUR CHOICE] (§2.5): 401 for API-key problems, 400 for every
other caller error, 429/418 for rate limits and bans, 404 for unknown paths.
"""

from collections.abc import Mapping


class ApiError(Exception):
    """A rejection rendered as ``{"code": <int>, "msg": <str>}`` with an HTTP status."""

    def __init__(
        self,
        code: int,
        msg: str,
        *,
        status: int = 400,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg
        self.status = status
        self.headers = dict(headers or {})

    def body(self) -> dict[str, object]:
        """The JSON error envelope."""
        return {"code": self.code, "msg": self.msg}


def mandatory(name: str) -> ApiError:
    """-1102: a required parameter is missing, empty or malformed."""
    return ApiError(
        -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
    )


def illegal_chars(name: str, legal: str) -> ApiError:
    """-1100: a value does not match the parameter's syntax."""
    return ApiError(
        -1100, f"Illegal characters found in parameter '{name}'; legal range is '{legal}'."
    )


def invalid_param(name: str) -> ApiError:
    """-1130: a value is syntactically fine but not acceptable."""
    return ApiError(-1130, f"Data sent for parameter '{name}' is not valid.")


def not_required(name: str) -> ApiError:
    """-1106: a parameter was sent that this request must not carry."""
    return ApiError(-1106, f"Parameter '{name}' sent when not required.")


DUPLICATE_PARAM = (-1101, "Duplicate values for a parameter detected.")
BAD_SYMBOL = (-1121, "Invalid symbol.")
BAD_INTERVAL = (-1120, "Invalid interval.")
BAD_SIDE = (-1117, "Invalid side.")
BAD_ORDER_TYPE = (-1116, "Invalid orderType.")
BAD_TIF = (-1115, "Invalid timeInForce.")
BAD_RESP_TYPE = (-1136, "Invalid newOrderRespType.")
BAD_PRECISION = (-1111, "Precision is over the maximum defined for this asset.")
START_AFTER_END = (-1023, "Start time is greater than end time.")
INVALID_LISTEN_KEY = (-1125, "This listenKey does not exist.")
INVALID_SIGNATURE = (-1022, "Signature for this request is not valid.")
TIMESTAMP_OUTSIDE = (-1021, "Timestamp for this request is outside of the recvWindow.")
TIMESTAMP_AHEAD = (-1021, "Timestamp for this request was 1000ms ahead of the server's time.")
BAD_API_KEY_FMT = (-2014, "API-key format invalid.")
REJECTED_KEY = (-2015, "Invalid API-key, IP, or permissions for action.")
CANCEL_REJECTED = (-2011, "Unknown order sent.")
NO_SUCH_ORDER = (-2013, "Order does not exist.")
MARGIN_INSUFFICIENT = (-2019, "Margin is insufficient.")
WOULD_TRIGGER = (-2021, "Order would immediately trigger.")
REDUCE_ONLY_REJECT = (-2022, "ReduceOnly Order is rejected.")
MAX_OPEN_ORDERS = (-2025, "Reach max open order limit.")
PRICE_NOT_POSITIVE = (-4001, "Price less than 0.")
PRICE_ABOVE_MAX = (-4002, "Price greater than max price.")
QTY_NOT_POSITIVE = (-4003, "Quantity less than or equal to zero.")
QTY_BELOW_MIN = (-4004, "Quantity less than min quantity.")
QTY_ABOVE_MAX = (-4005, "Quantity greater than max quantity.")
STOP_NOT_POSITIVE = (-4006, "Stop price less than zero.")
STOP_ABOVE_MAX = (-4007, "Stop price greater than max price.")
PRICE_BELOW_MIN = (-4013, "Price less than min price.")
PRICE_TICK = (-4014, "Price not increased by tick size.")
BAD_CLIENT_ID = (-4015, "Client order id is not valid.")
DEPTH_LIMIT = (-4021, "Invalid depth limit.")
QTY_STEP = (-4023, "Qty not increased by step size.")
BAD_WORKING_TYPE = (-4031, "Invalid workingType.")
MAX_ALGO_ORDERS = (-4045, "Reach max stop order limit.")
SAME_MARGIN_TYPE = (-4046, "No need to change margin type.")
MARGIN_TYPE_OPEN_ORDERS = (-4047, "Margin type cannot be changed if there exists open orders.")
MARGIN_TYPE_POSITION = (-4048, "Margin type cannot be changed if there exists position.")
SAME_POSITION_SIDE = (-4059, "No need to change position side.")
BAD_POSITION_SIDE = (-4060, "Invalid position side.")
POSITION_SIDE_MISMATCH = (-4061, "Order's position side does not match user's setting.")
MODE_OPEN_ORDERS = (-4067, "Position side cannot be changed if there exists open orders.")
MODE_POSITION = (-4068, "Position side cannot be changed if there exists position.")
BATCH_SIZE = (-4082, "Invalid number of batch place orders.")
DUPLICATE_CLIENT_ID = (-4116, "ClientOrderId is duplicated.")
QTY_WITH_CLOSE_POSITION = (-4137, "Quantity can not be sent with closePosition equals true.")
NONCE_EXPIRED = (-4225, "Nonce Expired")
NONCE_DUPLICATE = (-4225, "Nonce duplicated: this nonce was already used.")


def error(pair: tuple[int, str], *, status: int = 400) -> ApiError:
    """Build an :class:`ApiError` from one of the ``(code, msg)`` constants above."""
    return ApiError(pair[0], pair[1], status=status)
