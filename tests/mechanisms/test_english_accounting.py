"""English auction accounting on hand-built ``Deal`` events: each test is named after the rule.

``accounting_details``: the debt of the dealt auctions (``debtRepaid + badDebt``) and the part
of it in lots whose winning bid covered under 10% of that debt; ``lots_won_below``: how many lots
(and how much of their value) were won under a share of their market value at a given price.
Lots: 10 WETH each, at $1,000 (worth $10,000); each auction's debt $8,000.
"""

from __future__ import annotations

from sandbox.mechanisms.accounting import LedgerEvent
from sandbox.mechanisms.english_auction import EnglishAuctionMechanism as English
from sandbox.units import WAD, to_wad

ZERO = "0x" + "00" * 20
WINNER = "0x" + "ab" * 20
PRICE = to_wad(1000)
LOT = to_wad(10)
DEBT = to_wad(8000)


def deal(i: int, bid: int, winner: str = WINNER, lot: int = LOT, debt: int = DEBT, contract: str = "mechanism",
         name: str = "Deal") -> LedgerEvent:
    """The event ``deal`` emits (repay = min(bid, debt), the rest of the bid is penalty, the
    rest of the debt written off), big amounts as strings as in the events table."""
    repay = min(bid, debt)
    return LedgerEvent(key=(10 + i, 0, 0), block=10 + i, timestamp=1_700_000_000 + 12 * i, seconds=12.0 * i,
                       contract=contract, name=name, owner=f"0x{i:040x}", keeper="keeper-0", strategy="naive",
                       args={"id": i, "owner": f"0x{i:040x}", "winner": winner, "lot": str(lot), "bid": str(bid),
                             "debtRepaid": str(repay), "penalty": str(bid - repay), "collateralReturned": "0",
                             "badDebt": str(debt - repay)})


def at_price(_event: LedgerEvent) -> int:
    return PRICE


def test_debt_dealt_sums_repaid_and_written_off_debt_exactly_and_the_low_part_is_the_lots_bid_under_10pct():
    events = [deal(0, 0), deal(1, DEBT // 10 - 1), deal(2, DEBT // 10), deal(3, DEBT), deal(4, DEBT * 113 // 100)]
    d = English.accounting_details(events)
    assert d == {"english_debt_dealt": 5 * DEBT,
                 "english_debt_in_lots_bid_below_10pct": 2 * DEBT}  # the zero bid and the bid one wei under 10%


def test_a_bid_of_exactly_10pct_of_the_debt_is_not_below_it():
    assert English.accounting_details([deal(0, DEBT // 10)])["english_debt_in_lots_bid_below_10pct"] == 0
    assert English.accounting_details([deal(0, DEBT // 10 - 1)])["english_debt_in_lots_bid_below_10pct"] == DEBT


def test_accounting_reads_only_the_mechanisms_deal_events():
    others = [deal(0, 0, contract="market"), deal(1, 0, name="Tend")]
    assert English.accounting_details(others) == {"english_debt_dealt": 0, "english_debt_in_lots_bid_below_10pct": 0}


def test_uneven_debts_sum_to_the_wei():
    debts = [to_wad(8000) + 1, to_wad("1234.567890123456789"), 3]
    events = [deal(i, 0, debt=d) for i, d in enumerate(debts)]
    d = English.accounting_details(events)
    assert d["english_debt_dealt"] == d["english_debt_in_lots_bid_below_10pct"] == sum(debts)


def test_a_zero_bid_is_won_below_10pct_of_market_and_a_bid_of_exactly_10pct_is_not():
    worth = LOT * PRICE // WAD  # $10,000
    events = [deal(0, 0), deal(1, worth // 10 - 1), deal(2, worth // 10), deal(3, worth)]
    assert English.lots_won_below(events, at_price) == (2, 4, 2 * worth, 4 * worth)


def test_a_deal_without_a_winner_is_not_a_lot_won():
    events = [deal(0, 0), deal(1, 0, winner=ZERO)]
    assert English.lots_won_below(events, at_price) == (1, 1, LOT * PRICE // WAD, LOT * PRICE // WAD)


def test_lots_are_valued_at_the_price_of_their_own_deal_and_the_share_can_be_chosen():
    """The same bid of $1,500 on two 10-WETH lots: at $1,000 (worth $10,000) it is 15%, at
    $2,000 (worth $20,000) 7.5%; under 10% only the second, under 20% both."""
    events = [deal(0, to_wad(1500)), deal(1, to_wad(1500))]
    prices = {10: to_wad(1000), 11: to_wad(2000)}
    assert English.lots_won_below(events, lambda e: prices[e.block]) == (1, 2, to_wad(20_000), to_wad(30_000))
    assert English.lots_won_below(events, lambda e: prices[e.block], share_bps=2000) == \
        (2, 2, to_wad(30_000), to_wad(30_000))


def test_lot_values_sum_exactly_in_wad():
    lots = [to_wad("0.333333333333333333"), to_wad("7.000000000000000001"), 1]
    price = to_wad("1234.5")
    events = [deal(i, 0, lot=lot) for i, lot in enumerate(lots)]
    low, count, low_value, value = English.lots_won_below(events, lambda e: price)
    assert (low, count) == (3, 3) and low_value == value == sum(lot * price // WAD for lot in lots)
