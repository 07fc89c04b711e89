"""The perpetual market's accounting identity, checked from independent reads.

    usd.balanceOf(market) == Σ margin + insuranceFund + venueBalance − badDebt
    venueBalance         == (quoteReserve − initialQuoteReserve) − longOpenNotional + shortOpenNotional
    longOpenNotional     == Σ open notional of long accounts (shorts alike)
    longOpenInterest     == Σ size of long accounts (shorts alike)

The first line is the cash identity: margins (realised PnL and settled funding included), the
insurance fund and what the virtual venue owes or is owed by traders, less the bad debt written
off. The second ties the venue balance, which the market keeps as −Σ realised PnL, to the
venue's reserves and the positions' cost bases, so it is not a tautology: a fill booked at one
price on the venue and another in the accounts breaks it. The sums are over ``owners``, which
must list every account that ever held margin: a missing one breaks the identity too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from sandbox.chain import Address

from .deploy import Perp


@dataclass(frozen=True)
class Books:
    usd_held: int
    margins: int
    insurance_fund: int
    venue_balance: int
    bad_debt: int
    venue_formula: int
    long_open_notional: int
    short_open_notional: int
    accounts_long_notional: int
    accounts_short_notional: int
    long_open_interest: int
    short_open_interest: int
    accounts_long_size: int
    accounts_short_size: int


def books(perp: Perp, owners: Sequence[Address]) -> Books:
    """Every term of the identity, read from the chain."""
    raws = [perp.raw(o) for o in owners]
    s = perp.state()
    q0 = perp.venue.call("initialQuoteReserve")
    return Books(
        usd_held=perp.usd.call("balanceOf", perp.market.address),
        margins=sum(r[0] for r in raws),
        insurance_fund=s.insurance_fund,
        venue_balance=s.venue_balance,
        bad_debt=s.bad_debt,
        venue_formula=(s.quote_reserve - q0) - s.long_open_notional + s.short_open_notional,
        long_open_notional=s.long_open_notional,
        short_open_notional=s.short_open_notional,
        accounts_long_notional=sum(r[2] for r in raws if r[1] > 0),
        accounts_short_notional=sum(r[2] for r in raws if r[1] < 0),
        long_open_interest=s.long_open_interest,
        short_open_interest=s.short_open_interest,
        accounts_long_size=sum(r[1] for r in raws if r[1] > 0),
        accounts_short_size=-sum(r[1] for r in raws if r[1] < 0),
    )


def check_identity(perp: Perp, owners: Sequence[Address]) -> Books:
    """Assert the identity; return the terms (for further checks)."""
    b = books(perp, owners)
    assert b.usd_held == b.margins + b.insurance_fund + b.venue_balance - b.bad_debt, (
        f"USD held {b.usd_held} != margins {b.margins} + insurance {b.insurance_fund}"
        f" + venue {b.venue_balance} - bad debt {b.bad_debt}")
    assert b.venue_balance == b.venue_formula, f"venue balance {b.venue_balance} != reserves formula {b.venue_formula}"
    assert (b.long_open_notional, b.short_open_notional) == (b.accounts_long_notional, b.accounts_short_notional), \
        "open notional per side differs from the accounts' sum"
    assert (b.long_open_interest, b.short_open_interest) == (b.accounts_long_size, b.accounts_short_size), \
        "open interest per side differs from the accounts' sum"
    return b
