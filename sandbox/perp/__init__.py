"""Perpetual futures: the on-chain market liquidation mechanisms can be compared on (issue #13).

Contracts: ``contracts/perp/`` (``PerpMarket``, ``PerpVenue``, ``PerpMath``) and
``contracts/perp/mechanisms/``. This package deploys them, reads them in batched calls, builds
trader actions, mirrors their formulas exactly, and checks the market's accounting identity.
"""

from .accounting import Books, books, check_identity
from .deploy import AccountView, Perp, PerpState, deploy_perp_market
from .mechanisms import MECHANISMS, PerpMechanism, deploy_mechanism
from .params import (
    PerpDutchAuctionParams,
    PerpFixedFeeParams,
    PerpParams,
    PerpPrivateParams,
    PerpSoftParams,
    bps_wad,
)

__all__ = [
    "AccountView", "Books", "MECHANISMS", "Perp", "PerpDutchAuctionParams", "PerpFixedFeeParams",
    "PerpMechanism", "PerpParams", "PerpPrivateParams", "PerpSoftParams", "PerpState", "books",
    "bps_wad", "check_identity", "deploy_mechanism", "deploy_perp_market",
]
