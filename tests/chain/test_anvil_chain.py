"""What only the anvil backend must get right beyond the shared rules: finding its binary, owning
its node's lifetime (no anvil outlives the process that started it, even after ``kill -9``),
and refusing a block the node did not mine as asked."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from click.testing import CliRunner

from sandbox.chain import ChainError, InvalidTransaction, TxRequest
from sandbox.chain import anvil as anvil_module
from sandbox.chain.anvil import ENV_BINARY, AnvilChain, AnvilNotFound, find_anvil
from sandbox.testing.chain import COINBASE, LABELS, SENDERS, state_fingerprint, transfer

try:
    find_anvil()
    MISSING = ""
except AnvilNotFound as exc:
    MISSING = str(exc)
needs_anvil = pytest.mark.skipif(bool(MISSING), reason=f"anvil backend unavailable here: {MISSING}")


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting for its reaper counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_gone(pid: int, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return False


# --- finding the binary ---------------------------------------------------------------------

def test_an_anvil_named_in_the_environment_must_exist(monkeypatch, tmp_path):
    monkeypatch.setenv(ENV_BINARY, str(tmp_path / "no-such-anvil"))
    with pytest.raises(AnvilNotFound, match=ENV_BINARY):
        AnvilChain(seed=1, accounts=["a"])


def test_a_missing_anvil_is_one_line_saying_how_to_get_it(monkeypatch, tmp_path):
    monkeypatch.delenv(ENV_BINARY, raising=False)
    monkeypatch.setattr(anvil_module, "_npm_binary", lambda root: None)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(AnvilNotFound) as info:
        find_anvil()
    assert isinstance(info.value, ChainError)
    message = str(info.value)
    assert "\n" not in message and "npm ci" in message and ENV_BINARY in message


def test_the_cli_reports_a_missing_anvil_in_one_line_and_writes_nothing(monkeypatch, tmp_path):
    from sandbox.cli import main

    monkeypatch.setenv(ENV_BINARY, str(tmp_path / "no-such-anvil"))
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", "--mechanism", "fixed-fee", "--backend", "anvil",
                                       "--out", str(out)])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and ENV_BINARY in lines[0], result.stderr
    assert not out.exists()


@needs_anvil
def test_the_pinned_npm_binary_is_found_from_the_checkout():
    assert os.access(find_anvil(), os.X_OK)


# --- the node's lifetime --------------------------------------------------------------------

@needs_anvil
def test_the_node_starts_on_first_use_and_close_stops_it_and_removes_its_folder():
    chain = AnvilChain(seed=1, accounts=["a"])
    assert chain.pid is None  # nothing started by construction
    assert chain.block_number == 0
    pid, folder = chain.pid, chain._node.folder
    assert alive(pid) and os.path.isdir(folder)
    chain.close()
    assert wait_gone(pid) and not os.path.exists(folder)
    with pytest.raises(ChainError, match="closed"):
        chain.nonce(chain.account("a").address)


@needs_anvil
def test_a_chain_dropped_without_close_stops_its_node():
    chain = AnvilChain(seed=1, accounts=["a"])
    assert chain.block_number == 0  # starts the node
    pid = chain.pid
    del chain
    import gc

    gc.collect()
    assert wait_gone(pid)


PARENT = textwrap.dedent("""
    import sys, time
    from sandbox.chain.anvil import AnvilChain
    chain = AnvilChain(seed=1, accounts=["a"])
    chain.block_number
    print(chain.pid, chain._node.folder, flush=True)
    time.sleep(120)
""")


@needs_anvil
def test_no_anvil_outlives_its_parent_killed_with_sigkill():
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    try:
        pid = int(parent.stdout.readline().split()[0])
        assert alive(pid)
        parent.send_signal(signal.SIGKILL)  # no atexit, no finaliser: only the kernel can help
        parent.wait(timeout=10)
        assert wait_gone(pid), f"anvil {pid} outlived its parent"
    finally:
        parent.kill()
        parent.wait()


# --- a block the node did not mine as asked ---------------------------------------------------

@needs_anvil
def test_a_block_the_node_mined_differently_is_rolled_back_and_refused():
    """A transaction slipped into the node's pool behind the backend's back ends up in the mined
    block: the backend must notice, undo the block and leave the chain as it was."""
    from sandbox.chain import deploy, execute

    chain = AnvilChain(seed=7, accounts=LABELS)
    try:
        deployer = chain.account("deployer")
        (token,) = deploy(chain, deployer, [("Token", ("Test", "TST"))])
        execute(chain, [token.tx(deployer, "mint", chain.account(s).address, 10**21) for s in SENDERS])
        before = state_fingerprint(chain, token)
        intruder = chain.sign(TxRequest(sender=chain.account("other"), to=COINBASE, value=1, gas=21_000))
        chain.web3.eth.send_raw_transaction(intruder.raw)
        ours = transfer(chain, token, "sender-0", chain.nonce(chain.account("sender-0").address), 5)
        with pytest.raises(InvalidTransaction, match="other transactions"):
            chain.execute_block([ours], timestamp=chain.timestamp + 12)
        assert state_fingerprint(chain, token) == before
        block = chain.execute_block([ours], timestamp=chain.timestamp + 12)  # and the chain goes on
        assert [r.tx_hash for r in block.receipts] == [ours.hash] and block.receipts[0].succeeded
    finally:
        chain.close()


@needs_anvil
def test_a_forked_child_letting_go_of_the_chain_leaves_the_parents_node_running():
    chain = AnvilChain(seed=1, accounts=["a"])
    try:
        assert chain.block_number == 0  # starts the node
        child = os.fork()
        if child == 0:  # the child drops its copy of the chain, finaliser included, then exits
            chain._finalizer()
            os._exit(0)
        os.waitpid(child, 0)
        assert alive(chain.pid)
        assert chain.execute_block([], timestamp=chain.timestamp + 12).number == 1
    finally:
        chain.close()


# --- reads kept across blocks ---------------------------------------------------------------

@needs_anvil
def test_carried_nonces_prefetched_reads_and_reads_found_again_after_a_revert_are_the_nodes():
    """What the backend keeps instead of asking (own nonces carried from block to block, reads of
    a head set aside while a what-if block sits on top, batched reads) equals a fresh read."""
    from sandbox.chain import deploy

    with AnvilChain(seed=3, accounts=LABELS) as chain:
        (token,) = deploy(chain, chain.account("deployer"), [("Token", ("T", "T"))])
        mint = [chain.sign(token.tx(chain.account("deployer"), "mint", chain.account(s).address, 10**21,
                                    nonce=i + 1, gas=100_000)) for i, s in enumerate(SENDERS)]
        chain.execute_block(mint, chain.timestamp + 1)
        senders = [chain.account(s).address for s in SENDERS]

        def fresh_nonces():
            return [int(chain._client.call("eth_getTransactionCount", [a, "latest"]), 16) for a in senders]

        chain.prefetch_accounts(senders)
        before = [chain.nonce(a) for a in senders]
        balance_call = (token.address, token.encode("balanceOf", senders[0]))
        chain.prefetch_calls([balance_call])
        assert token.call("balanceOf", senders[0]) == 10**21
        head = chain.snapshot()
        chain.execute_block([transfer(chain, token, SENDERS[0], before[0], 5),
                             transfer(chain, token, SENDERS[0], before[0] + 1, 5),
                             transfer(chain, token, SENDERS[1], before[1], 5)], chain.timestamp + 1)
        assert [chain.nonce(a) for a in senders] == fresh_nonces() == [before[0] + 2, before[1] + 1, *before[2:]]
        assert token.call("balanceOf", senders[0]) == 10**21 - 10
        chain.revert(head)
        assert [chain.nonce(a) for a in senders] == fresh_nonces() == before
        assert token.call("balanceOf", senders[0]) == 10**21
