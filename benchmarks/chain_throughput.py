"""Transactions per second: web3.py on eth-tester (auto-mine) versus our block builder.

(a) web3.py: ``contract.functions.transfer(...).transact()`` on an EthereumTesterProvider
    (eth-tester PyEVMBackend, one block per transaction).
(b) block builder: ``PyEVMChain.sign`` N requests, then ``chain.execute_block`` in blocks of
    ``--block-size`` transactions; for ERC-20 transfers and for market borrows.

Usage: python benchmarks/chain_throughput.py [--transfers N] [--borrows N] [--web3-tx N]
       [--block-size N] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import time
from dataclasses import dataclass

from sandbox.chain import PyEVMChain, TxRequest, deploy, execute, execute_all
from sandbox.contracts import load_artifact
from sandbox.market import MarketParams, deploy_market
from sandbox.market.actions import open_position_requests
from sandbox.units import to_wad

TRANSFER_GAS = 70_000  # a transfer uses about 35-52k
BORROW_GAS = 95_000  # a borrow uses about 71k


@dataclass
class Figure:
    path: str
    workload: str
    tx: int
    seconds: float
    sign_seconds: float = 0.0
    exec_seconds: float = 0.0

    @property
    def tps(self) -> float:
        return self.tx / self.seconds if self.seconds else float("inf")


# --- (a) web3.py on eth-tester ---------------------------------------------------------------

def bench_web3(n: int) -> Figure:
    from eth_tester import EthereumTester, PyEVMBackend
    from web3 import Web3
    from web3.providers.eth_tester import EthereumTesterProvider

    w3 = Web3(EthereumTesterProvider(EthereumTester(backend=PyEVMBackend())))
    assert w3.provider.ethereum_tester.auto_mine_transactions
    sender, recipient = w3.eth.accounts[0], w3.eth.accounts[1]
    artifact = load_artifact("Token")
    abi = [dict(item) for item in artifact.abi]
    factory = w3.eth.contract(abi=abi, bytecode=artifact.bytecode)
    receipt = w3.eth.wait_for_transaction_receipt(
        factory.constructor("Test", "TST").transact({"from": sender}))
    token = w3.eth.contract(address=receipt.contractAddress, abi=abi)
    token.functions.mint(sender, 10**30).transact({"from": sender})
    token.functions.transfer(recipient, 1).transact({"from": sender})  # warm up
    start = time.perf_counter()
    for i in range(n):  # explicit gas, as the builder uses: no estimate_gas round trip
        token.functions.transfer(recipient, i + 1).transact({"from": sender, "gas": TRANSFER_GAS})
    seconds = time.perf_counter() - start
    assert token.functions.balanceOf(recipient).call() == 1 + n * (n + 1) // 2
    return Figure("web3 transact (a)", "ERC-20 transfer", n, seconds)


def bench_web3_borrows(n: int, borrowers: int = 50) -> Figure:
    """Borrows sent one by one through web3 ``transact`` (auto-mine) on the same kind of market."""
    chain, requests = prepare_borrows(n, min(borrowers, n))
    w3 = chain.web3  # eth-tester over this chain's backend; it holds the borrowers' keys
    lending = next(r.to for r in requests)
    abi = [dict(item) for item in load_artifact("LendingMarket").abi]
    market = w3.eth.contract(address=lending, abi=abi)
    start = time.perf_counter()
    for r in requests:
        market.functions.borrow(to_wad(1)).transact({"from": r.sender.address, "gas": BORROW_GAS})
    seconds = time.perf_counter() - start
    return Figure("web3 transact (a)", "market borrow", n, seconds)


# --- (b) our block builder ----------------------------------------------------------------------

def chunks(signed: list, block_size: int, gas_room: int) -> list[list]:
    """Consecutive blocks of at most ``block_size`` transactions that fit the block's gas."""
    blocks, gas = [[]], 0
    for tx in signed:
        if blocks[-1] and (len(blocks[-1]) == block_size or gas + tx.gas > gas_room):
            blocks.append([])
            gas = 0
        blocks[-1].append(tx)
        gas += tx.gas
    return blocks


def run_blocks(chain: PyEVMChain, requests: list[TxRequest], block_size: int) -> tuple[float, float]:
    """Sign every request, then execute them in blocks; return (sign seconds, execute seconds)."""
    t0 = time.perf_counter()
    signed = [chain.sign(r) for r in requests]
    t1 = time.perf_counter()
    for txs in chunks(signed, block_size, chain.gas_limit):
        block = chain.execute_block(txs, timestamp=chain.timestamp + 12)
        failed = [r for r in block.receipts if not r.succeeded]
        if failed:
            raise RuntimeError(f"{len(failed)} transactions reverted, e.g. {failed[0].revert_reason}")
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1


def bench_builder_transfers(n: int, block_size: int, senders: int = 50) -> Figure:
    labels = ["deployer"] + [f"sender-{i}" for i in range(senders)]
    chain = PyEVMChain(seed=1, accounts=labels)
    deployer = chain.account("deployer")
    (token,) = deploy(chain, deployer, [("Token", ("Test", "TST"))])
    people = [chain.account(f"sender-{i}") for i in range(senders)]
    execute(chain, [token.tx(deployer, "mint", p.address, 10**24) for p in people])
    nonces = {p.address: chain.nonce(p.address) for p in people}
    requests = []
    for i in range(n):
        p = people[i % senders]
        to = people[(i + 1) % senders].address
        requests.append(token.tx(p, "transfer", to, i + 1, gas=TRANSFER_GAS, nonce=nonces[p.address]))
        nonces[p.address] += 1
    sign_s, exec_s = run_blocks(chain, requests, block_size)
    return Figure("block builder (b)", "ERC-20 transfer", n, sign_s + exec_s, sign_s, exec_s)


def prepare_borrows(n: int, borrowers: int) -> tuple[PyEVMChain, list[TxRequest]]:
    labels = ["deployer", "oracle", "treasury"] + [f"borrower-{i}" for i in range(borrowers)]
    chain = PyEVMChain(seed=2, accounts=labels)
    market = deploy_market(chain, MarketParams())
    people = [chain.account(f"borrower-{i}") for i in range(borrowers)]
    setup = []
    for p in people:  # 10 WETH against 5000 USD: room for many small borrows
        setup += open_position_requests(market, p, to_wad(10), to_wad(5000))
    execute_all(chain, setup)
    nonces = {p.address: chain.nonce(p.address) for p in people}
    requests = []
    for i in range(n):
        p = people[i % borrowers]
        requests.append(market.lending.tx(p, "borrow", to_wad(1) + i, gas=BORROW_GAS,
                                          nonce=nonces[p.address]))
        nonces[p.address] += 1
    return chain, requests


def bench_builder_borrows(n: int, block_size: int, borrowers: int = 200) -> Figure:
    chain, requests = prepare_borrows(n, min(borrowers, n))
    sign_s, exec_s = run_blocks(chain, requests, block_size)
    return Figure("block builder (b)", "market borrow", n, sign_s + exec_s, sign_s, exec_s)


# --- report -------------------------------------------------------------------------------------

def print_table(figures: list[Figure]) -> None:
    print(f"{'path':<20} {'workload':<16} {'tx':>6} {'seconds':>9} {'tx/s':>9}")
    for f in figures:
        print(f"{f.path:<20} {f.workload:<16} {f.tx:>6} {f.seconds:>9.3f} {f.tps:>9.1f}")


def profile_builder(n: int, block_size: int, top: int = 25) -> None:
    """Where the builder's time goes (execution of transfers), cumulative and own time."""
    labels = ["deployer"] + [f"sender-{i}" for i in range(50)]
    chain = PyEVMChain(seed=3, accounts=labels)
    deployer = chain.account("deployer")
    (token,) = deploy(chain, deployer, [("Token", ("Test", "TST"))])
    people = [chain.account(f"sender-{i}") for i in range(50)]
    execute(chain, [token.tx(deployer, "mint", p.address, 10**24) for p in people])
    requests = [token.tx(people[i % 50], "transfer", people[(i + 1) % 50].address, 1, gas=TRANSFER_GAS,
                         nonce=chain.nonce(people[i % 50].address) + i // 50) for i in range(n)]
    profiler = cProfile.Profile()
    profiler.enable()
    run_blocks(chain, requests, block_size)
    profiler.disable()
    for key in ("cumulative", "tottime"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(key).print_stats(top)
        print(f"\n--- profile of {n} transfers, sorted by {key} ---")
        print("\n".join(out.getvalue().splitlines()[:top + 12]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transfers", type=int, default=1000, help="transfers through the builder")
    parser.add_argument("--borrows", type=int, default=600, help="borrows through the builder")
    parser.add_argument("--web3-tx", type=int, default=300,
                        help="transfers, and borrows, through web3 transact()")
    parser.add_argument("--block-size", type=int, default=400,
                        help="transactions per builder block (fewer when the gas limit is reached)")
    parser.add_argument("--profile", action="store_true", help="also cProfile the builder")
    args = parser.parse_args(argv)
    for name in ("transfers", "borrows", "web3_tx", "block_size"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")

    from eth_hash.auto import keccak as auto_keccak
    from eth_keys import keys as eth_keys

    auto_keccak(b"")  # resolve the backend
    print(f"eth-keys backend: {type(eth_keys.backend).__name__}; "
          f"keccak: {getattr(getattr(auto_keccak, '_backend', None), 'keccak256', auto_keccak).__module__}; "
          f"block size {args.block_size}")
    web3_fig = bench_web3(args.web3_tx)
    web3_borrows = bench_web3_borrows(args.web3_tx)
    transfers = bench_builder_transfers(args.transfers, args.block_size)
    borrows = bench_builder_borrows(args.borrows, args.block_size)
    figures = [web3_fig, web3_borrows, transfers, borrows]
    print_table(figures)
    print()
    print(f"ratio b/a, transfers: {transfers.tps / web3_fig.tps:.2f}x")
    print(f"ratio b/a, borrows:   {borrows.tps / web3_borrows.tps:.2f}x")
    print()
    print(f"{'builder split':<20} {'workload':<16} {'sign s':>8} {'exec s':>8} {'sign tx/s':>10} {'exec tx/s':>10}")
    for f in (transfers, borrows):
        print(f"{'':<20} {f.workload:<16} {f.sign_seconds:>8.3f} {f.exec_seconds:>8.3f} "
              f"{f.tx / f.sign_seconds:>10.1f} {f.tx / f.exec_seconds:>10.1f}")
    if args.profile:
        profile_builder(min(args.transfers, 600), args.block_size)
    return 0


if __name__ == "__main__":
    sys.exit(main())
