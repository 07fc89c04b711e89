"""The lending market and the contracts around it: deployment and batched reads."""

from .deploy import Market, MarketParams, MarketView, PositionView, deploy_market
from .math import amm_amount_out, health_factor_wad

__all__ = ["Market", "MarketParams", "MarketView", "PositionView", "amm_amount_out",
           "deploy_market", "health_factor_wad"]
