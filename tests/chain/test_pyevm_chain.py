"""What only the py-evm backend promises beyond the shared rules (tests/chain/
test_backend_conformance.py runs those on it): block hashes that do not depend on the day the
chain runs, and headers that never read the wall clock."""

from __future__ import annotations

import pytest

from sandbox.chain import PyEVMChain, deploy, execute
from sandbox.testing.chain import COINBASE, LABELS, SENDERS, TOKEN_UNIT, ChainConformance, round_robin_block


@pytest.fixture
def chain() -> PyEVMChain:
    return PyEVMChain(seed=7, accounts=LABELS)


@pytest.fixture
def token(chain):
    deployer = chain.account("deployer")
    (tok,) = deploy(chain, deployer, [("Token", ("Test", "TST"))])
    execute(chain, [tok.tx(deployer, "mint", chain.account(s).address, 1000 * TOKEN_UNIT) for s in SENDERS])
    return tok


def _scripted_history(seed: int) -> list[bytes]:
    """Deploy, mint, a block with a revert, an oracle round (stores block.timestamp), a gap."""
    chain = PyEVMChain(seed=seed, accounts=LABELS)
    deployer = chain.account("deployer")
    tok, oracle = deploy(chain, deployer, [("Token", ("Test", "TST")),
                                           ("PriceOracle", (deployer.address, 60, "t"))])
    execute(chain, [tok.tx(deployer, "mint", chain.account(s).address, 1000 * TOKEN_UNIT)
                    for s in SENDERS])
    txs, _ = round_robin_block(chain, tok, n=12, revert_at=5)
    chain.execute_block(txs, timestamp=chain.timestamp + 12, coinbase=COINBASE)
    execute(chain, [oracle.tx(deployer, "submit", 1234)], timestamp=chain.timestamp + 12)
    execute(chain, [], timestamp=chain.timestamp + 3600)
    return [bytes(chain.web3.eth.get_block(n)["hash"]) for n in range(chain.block_number + 1)]


def fake_wall_clock(monkeypatch, now: int) -> None:
    """py-evm's idea of "now" (it stamps pending headers with it)."""
    monkeypatch.setattr("eth._utils.headers.eth_now", lambda: now)


def test_same_seed_and_transactions_give_identical_block_hashes(monkeypatch):
    fake_wall_clock(monkeypatch, 1_800_000_000)
    first = _scripted_history(5)
    fake_wall_clock(monkeypatch, 1_900_000_000)  # a later run on another day
    second = _scripted_history(5)
    assert len(first) == 6
    assert first == second
    assert _scripted_history(6)[1:] != first[1:]


def test_transactions_see_the_block_timestamp_not_the_wall_clock(chain, monkeypatch):
    fake_wall_clock(monkeypatch, 1_900_000_000)
    ChainConformance().test_transactions_see_the_block_timestamp_they_are_executed_in(chain)


def test_calls_see_the_latest_block_not_the_wall_clock(chain, token, monkeypatch):
    """Views are deterministic: block.timestamp/number inside a call come from the chain."""
    fake_wall_clock(monkeypatch, 1_900_000_000)
    ChainConformance().test_calls_see_the_latest_block_or_the_timestamp_asked_for(chain, token)


def test_each_block_records_its_background_gas_in_the_header(chain):
    block = chain.execute_block([], timestamp=chain.timestamp + 12, background_gas=12_345_678)
    header = chain.web3.eth.get_block(block.number)
    # (eth-tester left-pads extraData to 32 bytes)
    assert bytes(header["extraData"]).lstrip(b"\0") == b"virtual-gas:" + (12_345_678).to_bytes(8, "big")


def test_eip1559_constants_written_out_are_py_evms():
    from eth.vm.forks.london.constants import (
        BASE_FEE_MAX_CHANGE_DENOMINATOR,
        ELASTICITY_MULTIPLIER,
        INITIAL_BASE_FEE,
    )

    from sandbox.chain import gasmarket, genesis

    assert gasmarket.ELASTICITY_MULTIPLIER == ELASTICITY_MULTIPLIER
    assert gasmarket.BASE_FEE_MAX_CHANGE_DENOMINATOR == BASE_FEE_MAX_CHANGE_DENOMINATOR
    assert genesis.GENESIS_BASE_FEE == INITIAL_BASE_FEE


def test_a_run_on_another_backend_does_not_import_py_evm():
    """py-evm costs about a second to import: the comparison's workers on anvil skip it."""
    import subprocess
    import sys

    code = ("import sys, sandbox.compare, sandbox.simulation, sandbox.chain.anvil, sandbox.cli; "
            "print('eth' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
