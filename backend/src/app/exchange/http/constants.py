"""Protocol constants of the AsterDEX futures API (specs/asterdex-futures-api.md).

Each ambiguity of the spec that we had to settle is one constant here; docs/exchange.md says
why each was chosen.
"""

from typing import Final

# --- V1 (HMAC) --------------------------------------------------------------------------
API_KEY_HEADER: Final = "X-MBX-APIKEY"
DEFAULT_RECV_WINDOW_MS: Final = 5000
MAX_RECV_WINDOW_MS: Final = 60_000

# --- V3 (API wallet, EIP-712) ------------------------------------------------------------
# [AMBIGUOUS] The V3 doc text names fapi.asterdex.com, both official V3 code samples call
# fapi3.asterdex.com. Runnable samples beat prose: we default to the latter.
V3_BASE_URL: Final = "https://fapi3.asterdex.com"
V3_CHAIN_ID_MAINNET: Final = 1666
V3_CHAIN_ID_TESTNET: Final = 714
V3_DOMAIN_NAME: Final = "AsterSignTransaction"
V3_DOMAIN_VERSION: Final = "1"
V3_VERIFYING_CONTRACT: Final = "0x0000000000000000000000000000000000000000"
# [AMBIGUOUS] Parameter order of the signed message: the overview says ASCII-sorted, the
# samples and ccxt use insertion order. We follow ccxt (the most used working client):
# nonce, user, signer first, then the business parameters in the order given.
V3_SORT_PARAMS: Final = False

# --- Limits --------------------------------------------------------------------------------
KLINES_MAX_LIMIT: Final = 1500
BATCH_ORDERS_MAX: Final = 5
WEIGHT_LIMIT_PER_MINUTE: Final = 2400
# Keep this much of the weight budget for order placement and cancels.
WEIGHT_RESERVE: Final = 200
CLIENT_ORDER_ID_PATTERN: Final = r"^[\.A-Z\:/a-z0-9_-]{1,36}$"

# Codes meaning "the outcome of this request is unknown" (spec §4.1, §9).
UNKNOWN_OUTCOME_CODES: Final = frozenset({-1006, -1007})
AUTH_CODES: Final = frozenset({-1002, -1022, -2014, -2015})
INSUFFICIENT_FUNDS_CODES: Final = frozenset({-2018, -2019})
RATE_LIMIT_CODES: Final = frozenset({-1003, -1015})
INVALID_TIMESTAMP: Final = -1021
NO_SUCH_ORDER: Final = -2013
# [UNDOCUMENTED] No code is documented for a duplicate newClientOrderId; -4116 is what our
# fake uses (spec §4.2, our choice). The client never relies on it: see is_final_order_refusal.
DUPLICATE_CLIENT_ORDER_ID: Final = -4116
CANCEL_REJECTED: Final = -2011
NO_NEED_TO_CHANGE_MARGIN_TYPE: Final = -4046
NO_NEED_TO_CHANGE_POSITION_SIDE: Final = -4059

# --- Streams -------------------------------------------------------------------------------
LISTEN_KEY_KEEPALIVE_S: Final = 30 * 60
# The server drops a connection at 24 h; reconnect on our terms a little before.
PLANNED_RECONNECT_S: Final = 23 * 3600 + 30 * 60
