"""Build an account's AsterDEX client from its settings (HMAC or V3 signing)."""

from app.config import AccountSettings, ExchangeSettings
from app.core.clock import Clock
from app.exchange.http.auth import HmacSigner, RequestSigner, V3Signer
from app.exchange.http.client import AsterdexClient


def signer_for(account: AccountSettings, exchange: ExchangeSettings) -> RequestSigner | None:
    """The account's signer: V3 when its API-wallet trio is set, else HMAC, else None."""
    user, wallet = account.asterdex_user, account.asterdex_signer
    wallet_key = account.asterdex_signer_private_key
    if user and wallet and wallet_key is not None:
        return V3Signer(user, wallet, wallet_key, chain_id=exchange.v3_chain_id)
    if account.asterdex_api_key is not None and account.asterdex_api_secret is not None:
        return HmacSigner(account.asterdex_api_key, account.asterdex_api_secret)
    return None


def client_for(
    account: AccountSettings, exchange: ExchangeSettings, clock: Clock | None = None
) -> AsterdexClient:
    """A client for ``account``: signed when it has keys, public market data otherwise."""
    signer = signer_for(account, exchange)
    base_url = (
        exchange.v3_base_url
        if signer is not None and signer.scheme == "v3"
        else (exchange.base_url)
    )
    return AsterdexClient(base_url=base_url, signer=signer, clock=clock)
