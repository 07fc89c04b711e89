"""Fast chain backend: a private anvil node (Foundry's, revm inside) driven over its IPC socket.

Blocks are still assembled by the caller: anvil runs with ``--no-mining --order fifo``, each
block's transactions are sent one by one in the caller's order (a JSON-RPC batch is *not* used
for them: anvil handles a batch's calls concurrently and may reorder them), then ``evm_mine``
seals the block at the caller's timestamp. The base fee is not anvil's own: it comes from the
same EIP-1559 rule with virtual background gas as the reference backend (``gasmarket``) and is
imposed with ``anvil_setNextBlockBaseFeePerGas``; the background gas of each block is kept here.

Everything that is not a state change reads through a small JSON-RPC client on the socket
(web3's middleware stack costs more than anvil's EVM does), and reads are cached per head
block (set aside while a what-if block sits on top, found again when it is reverted).
Transactions are signed in Python (``sandbox.chain.signing``): the hashes equal py-evm's for
the same request.

The node is started on first use and stopped by ``close()``, when the chain is garbage
collected, at interpreter exit, and by the kernel when the thread that started it dies
(``PR_SET_PDEATHSIG``; so a ``kill -9`` of the parent leaves no anvil behind). Start chains from
a long-lived thread (the main thread, or a process-pool worker's).

Differences from py-evm that callers may see: block hashes (anvil's headers carry other fields,
e.g. a random prevrandao and no background-gas tag in ``extra_data``), so compare anything but
hashes; and ``revert`` goes back to an ancestor of the head only (py-evm can also return to a
block abandoned by an earlier revert).
"""

from __future__ import annotations

import ctypes
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import coincurve

from .abi import AbiBook, checksum, halt_reason
from .gasmarket import next_base_fee_after
from .genesis import (
    BLOCK_GAS_LIMIT,
    CHAIN_ID,
    GENESIS_BALANCE_WEI,
    GENESIS_BASE_FEE,
    GENESIS_TIMESTAMP,
    HARDFORK,
    ZERO_ADDRESS,
    derive_accounts,
)
from .signing import BadSignature, recover_sender, sign_dynamic_fee
from .types import (
    Account,
    Address,
    BlockResult,
    CallReverted,
    ChainError,
    InvalidTransaction,
    Receipt,
    SignedTx,
    TxRequest,
)
from .validation import check_block, describe

ENV_BINARY = "LIQSANDBOX_ANVIL"
START_TIMEOUT_SECONDS = 30.0
STASHED_HEADS = 8  # reads kept for recent heads, found again when a what-if block is reverted
PR_SET_PDEATHSIG = 1
_NPM_PLATFORMS = {("Linux", "x86_64"): "linux-amd64", ("Linux", "aarch64"): "linux-arm64",
                  ("Darwin", "arm64"): "darwin-arm64", ("Darwin", "x86_64"): "darwin-amd64"}


class AnvilNotFound(ChainError):
    """No anvil executable: the message says how to get one."""


class RpcError(ChainError):
    """An error answer of the node to one JSON-RPC call."""

    def __init__(self, method: str, error: dict):
        self.method = method
        self.code = error.get("code")
        self.data = error.get("data")
        self.message = str(error.get("message", error))
        super().__init__(f"{method}: {self.message}")


# --- finding and running the binary ---------------------------------------------------------

def _npm_binary(root: Path) -> Path | None:
    name = _NPM_PLATFORMS.get((platform.system(), platform.machine()), "linux-amd64")
    path = root / "node_modules" / "@foundry-rs" / f"anvil-{name}" / "bin" / "anvil"
    return path if path.is_file() and os.access(path, os.X_OK) else None


def find_anvil() -> str:
    """The anvil executable: ``$LIQSANDBOX_ANVIL``, else the pinned npm package under the current
    folder or the package's source checkout (after ``npm ci``), else ``anvil`` on PATH."""
    explicit = os.environ.get(ENV_BINARY)
    if explicit:
        if os.path.isfile(explicit) and os.access(explicit, os.X_OK):
            return explicit
        raise AnvilNotFound(f"{ENV_BINARY}={explicit} is not an executable file")
    checkout = Path(__file__).resolve().parents[2]  # the clone, for an editable install
    for root in (Path.cwd(), checkout):
        found = _npm_binary(root)
        if found is not None:
            return str(found)
    on_path = shutil.which("anvil")
    if on_path:
        return on_path
    raise AnvilNotFound(f"anvil not found: run `npm ci` in a clone of liquidation-sandbox "
                        f"(it pins @foundry-rs/anvil), or set {ENV_BINARY} to an anvil executable")


def _die_with_parent_hook():
    """A ``preexec_fn`` asking the kernel to SIGKILL the child when the parent's thread dies."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)  # loaded before the fork: the child only calls it
    parent = os.getpid()

    def hook() -> None:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return hook


@dataclass
class _Node:
    """The running process, its socket and folder; what ``weakref.finalize`` tears down."""

    process: subprocess.Popen
    folder: str
    ipc_path: str
    sock: socket.socket | None = None
    owner_pid: int = field(default_factory=os.getpid)

    def stop(self) -> None:
        if os.getpid() != self.owner_pid:  # a forked child exiting: the node is its parent's
            return
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
            self.sock = None
        if self.process.poll() is None:
            self.process.kill()  # anvil may ignore SIGTERM for seconds; it holds nothing to save
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        shutil.rmtree(self.folder, ignore_errors=True)


class _Client:
    """JSON-RPC over a Unix socket, one request in flight at a time: no web3, no middleware."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.next_id = 0

    def _exchange(self, payload: Any) -> Any:
        self.sock.sendall(json.dumps(payload, separators=(",", ":")).encode())
        chunks = []
        while True:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ChainError("anvil closed its socket (did the node exit?)")
            chunks.append(chunk)
            if chunk.rstrip()[-1:] in (b"}", b"]"):  # a complete answer ends like this
                try:
                    return json.loads(b"".join(chunks))
                except ValueError:
                    continue

    def call(self, method: str, params: list) -> Any:
        self.next_id += 1
        answer = self._exchange({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params})
        if "error" in answer:
            raise RpcError(method, answer["error"])
        return answer["result"]

    def batch(self, calls: Sequence[tuple[str, list]]) -> list[Any]:
        """Results (or RpcError instances) in the order of ``calls``. Only for calls whose order
        does not matter: the node may run a batch's calls concurrently."""
        if not calls:
            return []
        first = self.next_id + 1
        self.next_id += len(calls)
        payload = [{"jsonrpc": "2.0", "id": first + i, "method": m, "params": p} for i, (m, p) in enumerate(calls)]
        answers = self._exchange(payload)
        if isinstance(answers, dict):  # the whole batch was refused
            raise RpcError("batch", answers.get("error", answers))
        by_id = {a["id"]: a for a in answers}
        out = []
        for i, (method, _) in enumerate(calls):
            a = by_id[first + i]
            out.append(RpcError(method, a["error"]) if "error" in a else a["result"])
        return out

    def batch_ok(self, calls: Sequence[tuple[str, list]]) -> list[Any]:
        results = self.batch(calls)
        for r in results:
            if isinstance(r, RpcError):
                raise r
        return results


@dataclass(frozen=True)
class _Head:
    """What this backend keeps of the latest block: the base-fee rule needs its virtual gas."""

    number: int
    timestamp: int
    hash: bytes
    base_fee: int
    gas_used: int
    background_gas: int
    gas_limit: int

    @property
    def next_base_fee(self) -> int:
        return next_base_fee_after(self.base_fee, self.gas_used, self.background_gas, self.gas_limit)


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


def _bytes(text: str | None) -> bytes:
    return bytes.fromhex(text[2:]) if text else b""


class AnvilChain:
    """The chain interface on a private anvil node. One instance is one independent chain."""

    backend_name = "anvil"

    def __init__(self, seed: int = 0, accounts: int | Sequence[str] = 16,
                 genesis_timestamp: int = GENESIS_TIMESTAMP,
                 gas_limit: int = BLOCK_GAS_LIMIT,
                 genesis_balance_wei: int = GENESIS_BALANCE_WEI):
        self.seed = seed
        self.accounts: tuple[Account, ...] = derive_accounts(seed, accounts)
        self._by_label = {a.label: a for a in self.accounts}
        self._keys = {a.address: coincurve.PrivateKey(a.private_key) for a in self.accounts}
        self.chain_id: int = CHAIN_ID
        self._genesis_timestamp = genesis_timestamp
        self._gas_limit = gas_limit
        self._genesis_balance = genesis_balance_wei
        self._binary = find_anvil()  # fail at construction, with the way to get it, not mid-run
        self._abis = AbiBook()
        self._signed_here: dict[bytes, Address] = {}
        self._node: _Node | None = None
        self._closed = False
        self._finalizer: Any = None
        self._client_: _Client | None = None
        self._head_: _Head | None = None
        self._coinbase: str | None = None
        self._history: list[_Head] = []  # every block of the current chain, by number
        self._numbers: dict[bytes, int] = {}  # block hash -> number, for revert
        self._web3: Any = None
        self._stashed: dict[bytes, tuple] = {}
        self._clear_cache()

    # --- lifecycle -------------------------------------------------------------------------
    def _start(self) -> None:
        folder = tempfile.mkdtemp(prefix="liqsandbox-anvil-")
        ipc_path = os.path.join(folder, "anvil.ipc")
        args = [self._binary, "--ipc", ipc_path, "--port", "0", "--silent",
                "--no-mining", "--order", "fifo", "--hardfork", HARDFORK,
                "--chain-id", str(self.chain_id), "--timestamp", str(self._genesis_timestamp),
                "--gas-limit", str(self._gas_limit), "--base-fee", str(GENESIS_BASE_FEE),
                "--accounts", "0", "--disable-default-create2-deployer"]
        with open(os.path.join(folder, "stderr.log"), "wb") as err:
            process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                       stderr=err, preexec_fn=_die_with_parent_hook(), close_fds=True)
        node = _Node(process=process, folder=folder, ipc_path=ipc_path)
        self._finalizer = weakref.finalize(self, node.stop)  # also runs at interpreter exit
        self._node = node
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            if process.poll() is not None:
                log = Path(folder, "stderr.log").read_text(errors="replace").strip().splitlines()
                self._finalizer()
                raise ChainError(f"anvil exited at start-up (code {process.returncode}): "
                                 f"{log[-1] if log else 'no message'}")
            if os.path.exists(ipc_path):
                try:
                    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    sock.connect(ipc_path)
                    break
                except OSError:
                    sock.close()
            if time.monotonic() > deadline:
                self._finalizer()
                raise ChainError(f"anvil did not open {ipc_path} within {START_TIMEOUT_SECONDS:.0f} s")
            time.sleep(0.005)
        node.sock = sock
        client = _Client(sock)
        balance = hex(self._genesis_balance)
        client.batch_ok([("anvil_setBalance", [a.address, balance]) for a in self.accounts])
        genesis = client.call("eth_getBlockByNumber", ["0x0", False])
        self._client_ = client
        self._set_head(_Head(number=0, timestamp=int(genesis["timestamp"], 16), hash=_bytes(genesis["hash"]),
                             base_fee=int(genesis["baseFeePerGas"], 16), gas_used=int(genesis["gasUsed"], 16),
                             background_gas=0, gas_limit=int(genesis["gasLimit"], 16)))

    def _set_head(self, head: _Head) -> None:
        self._head_ = head
        self._history.append(head)
        self._numbers[head.hash] = head.number

    def _started(self) -> _Client:
        """The node's client, starting the node on first use."""
        if self._client_ is None:
            if self._closed:
                raise ChainError("this anvil chain is closed")
            self._start()
        assert self._client_ is not None  # _start sets it or raises
        return self._client_

    @property
    def _client(self) -> _Client:
        return self._started()

    @property
    def _head(self) -> _Head:
        if self._head_ is None:
            self._started()  # starting the node reads the genesis block
        assert self._head_ is not None
        return self._head_

    @property
    def pid(self) -> int | None:
        """Process id of the node (None before first use)."""
        return self._node.process.pid if self._node is not None else None

    def close(self) -> None:
        """Stop the node and remove its folder; the chain cannot be used afterwards."""
        self._closed = True
        self._client_ = None
        if self._finalizer is not None:
            self._finalizer()

    def __enter__(self) -> "AnvilChain":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # --- accounts ------------------------------------------------------------------------
    def account(self, label: str) -> Account:
        try:
            return self._by_label[label]
        except KeyError:
            raise KeyError(f"no account labelled {label!r}") from None

    # --- reading (cached per head: a block's state never changes) ------------------------------
    def _clear_cache(self) -> None:
        self._nonces: dict[Address, int] = {}
        self._balances: dict[Address, int] = {}
        self._codes: dict[Address, bytes] = {}
        self._calls: dict[tuple, bytes | CallReverted] = {}

    def _leave_head(self) -> None:
        """Set the head's reads aside before the head moves: after a what-if block is reverted
        (``revert``), or a block is refused, the same state is read from them again."""
        stash = self._stashed
        stash[self._head.hash] = (self._nonces, self._balances, self._codes, self._calls)
        while len(stash) > STASHED_HEADS:
            stash.pop(next(iter(stash)))
        self._clear_cache()

    def _return_to_head(self) -> None:
        """The reads of the head as set aside by ``_leave_head``, if they were."""
        cached = self._stashed.get(self._head.hash)
        if cached is None:
            self._clear_cache()
        else:
            self._nonces, self._balances, self._codes, self._calls = cached

    @property
    def block_number(self) -> int:
        return self._head.number

    @property
    def timestamp(self) -> int:
        return self._head.timestamp

    @property
    def next_base_fee(self) -> int:
        return self._head.next_base_fee

    @property
    def gas_limit(self) -> int:
        return self._gas_limit

    def balance(self, address: Address) -> int:
        value = self._balances.get(address)
        if value is None:
            value = self._balances[address] = int(self._client.call("eth_getBalance", [address, "latest"]), 16)
        return value

    def nonce(self, address: Address) -> int:
        value = self._nonces.get(address)
        if value is None:
            value = self._nonces[address] = int(
                self._client.call("eth_getTransactionCount", [address, "latest"]), 16)
        return value

    def code(self, address: Address) -> bytes:
        value = self._codes.get(address)
        if value is None:
            value = self._codes[address] = _bytes(self._client.call("eth_getCode", [address, "latest"]))
        return value

    def _prefetch(self, addresses: set[Address], also: Sequence[tuple[str, list]] = ()) -> None:
        """Nonces and balances of several accounts in one round trip, with ``also`` (calls
        whose order relative to these reads does not matter, e.g. the next block's settings)."""
        missing = [a for a in addresses if a not in self._nonces or a not in self._balances]
        if not missing and not also:
            return
        calls = [c for a in missing for c in (("eth_getTransactionCount", [a, "latest"]),
                                              ("eth_getBalance", [a, "latest"]))]
        results = self._client.batch_ok(calls + list(also))
        for i, a in enumerate(missing):
            self._nonces[a] = int(results[2 * i], 16)
            self._balances[a] = int(results[2 * i + 1], 16)

    def prefetch_accounts(self, addresses: Iterable[Address]) -> None:
        """Nonces and balances of ``addresses`` on the latest block in one round trip, into the
        cache ``nonce`` and ``balance`` read."""
        self._prefetch(set(addresses))

    def prefetch_calls(self, calls: Sequence[tuple[Address, bytes]]) -> None:
        """Read-only calls (``to``, ``data``) on the latest block in one round trip, into the
        cache ``call`` reads (reads commute, so a batch may run them in any order)."""
        keys = [(to, data, None, 0, 30_000_000, None) for to, data in calls]
        keys = [k for k in dict.fromkeys(keys) if k not in self._calls]
        if not keys:
            return
        results = self._client.batch([("eth_call", [self._call_request(k[0], k[1], None, 0, k[4]), "latest"])
                                      for k in keys])
        for key, result in zip(keys, results, strict=True):
            if isinstance(result, RpcError):
                continue  # ``call`` asks again and reports it as it would have
            self._calls[key] = _bytes(result)

    def call(self, to: Address, data: bytes, sender: Address | None = None,
             value: int = 0, gas: int = 30_000_000, timestamp: int | None = None) -> bytes:
        key = (to, data, sender, value, gas, timestamp)
        cached = self._calls.get(key)
        if cached is None:
            cached = self._calls[key] = self._call(to, data, sender, value, gas, timestamp)
        if isinstance(cached, CallReverted):
            raise CallReverted(cached.reason)
        return cached

    def _call_request(self, to: Address, data: bytes, sender: Address | None, value: int, gas: int) -> dict:
        request = {"from": sender or ZERO_ADDRESS, "to": to, "data": _hex(data),
                   "gas": hex(min(gas, self._gas_limit))}  # anvil refuses more than a block's gas
        if value:
            request["value"] = hex(value)
        return request

    def _call(self, to: Address, data: bytes, sender: Address | None, value: int, gas: int,
              timestamp: int | None) -> bytes | CallReverted:
        request = self._call_request(to, data, sender, value, gas)
        # Under the latest block's header, as py-evm; at ``timestamp``, only the time changes.
        params: list = [request, "latest"] if timestamp is None else [request, "latest", {}, {"time": hex(timestamp)}]
        try:
            return _bytes(self._client.call("eth_call", params))
        except RpcError as exc:
            if exc.code == 3 or "revert" in exc.message.lower():
                return CallReverted(self._abis.revert_reason(to, _bytes(exc.data)))
            if exc.code == -32003 or "insufficient funds" in exc.message.lower():
                raise ChainError(f"call to {to}: {exc.message}") from None
            return CallReverted(halt_reason(exc.message))

    # --- writing -----------------------------------------------------------------------
    def sign(self, request: TxRequest) -> SignedTx:
        nonce = self.nonce(request.sender.address) if request.nonce is None else request.nonce
        raw, tx_hash = sign_dynamic_fee(
            self._keys[request.sender.address], self.chain_id, nonce,
            request.max_priority_fee_per_gas, request.max_fee_per_gas, request.gas,
            bytes.fromhex(request.to[2:]) if request.to else b"", request.value, request.data)
        self._signed_here[tx_hash] = request.sender.address
        return SignedTx(hash=tx_hash, sender=request.sender.address, nonce=nonce, to=request.to,
                        value=request.value, data=request.data, gas=request.gas,
                        max_fee_per_gas=request.max_fee_per_gas,
                        max_priority_fee_per_gas=request.max_priority_fee_per_gas, raw=raw)

    def _signer(self, tx: SignedTx) -> Address:
        if not isinstance(tx.raw, bytes):
            raise ValueError("not signed for this backend")
        signer = self._signed_here.get(tx.hash)
        if signer is None:
            try:
                signer = recover_sender(tx.raw, self.chain_id)
            except BadSignature as exc:
                raise ValueError(f"bad signature ({exc})") from None
        return signer

    def execute_block(self, transactions: Sequence[SignedTx], timestamp: int,
                      coinbase: Address | None = None, background_gas: int = 0) -> BlockResult:
        if not 0 <= background_gas <= self.gas_limit:
            raise InvalidTransaction(f"background gas {background_gas} outside [0, {self.gas_limit}]")
        head, client = self._head, self._client
        base_fee = head.next_base_fee
        coinbase = coinbase or ZERO_ADDRESS
        settings = [("anvil_setNextBlockBaseFeePerGas", [hex(base_fee)])]
        if coinbase != self._coinbase:
            settings.append(("anvil_setCoinbase", [coinbase]))
        # the next block's settings travel with the senders' reads (they do not affect them); a
        # block refused below leaves them set, and the next block sets its own
        self._prefetch({tx.sender for tx in transactions}, also=settings)
        self._coinbase = coinbase
        check_block(transactions, timestamp, latest_timestamp=head.timestamp, base_fee=base_fee,
                    gas_room=self.gas_limit - background_gas, nonce=self.nonce, balance=self.balance,
                    signer=self._signer)
        for i, tx in enumerate(transactions):  # one at a time: the order of arrival is the block's
            try:
                client.call("eth_sendRawTransaction", [_hex(tx.raw)])
            except RpcError as exc:
                client.call("anvil_dropAllTransactions", [])
                raise InvalidTransaction(f"{describe(i, tx)}: refused by anvil ({exc.message})") from None
        nonces = self._own_nonces_after(transactions)
        self._leave_head()
        try:
            client.call("evm_mine", [timestamp])
        except RpcError as exc:
            client.call("anvil_dropAllTransactions", [])
            self._return_to_head()
            raise InvalidTransaction(f"block rejected by anvil: {exc.message}") from None
        block = self._read_block(transactions, timestamp, coinbase, base_fee, background_gas)
        self._nonces = nonces
        return block

    def _own_nonces_after(self, transactions: Sequence[SignedTx]) -> dict[Address, int]:
        """The known nonces of the sandbox's own accounts once ``transactions`` are mined: each
        included transaction uses one of its sender's (reverted or not), and nothing else moves
        an externally owned account's nonce; so agents need not ask again every block."""
        nonces = {a: n for a, n in self._nonces.items() if a in self._keys}
        for tx in transactions:
            if tx.sender in nonces:
                nonces[tx.sender] += 1
        return nonces

    def _read_block(self, transactions: Sequence[SignedTx], timestamp: int, coinbase: Address,
                    base_fee: int, background_gas: int) -> BlockResult:
        """The mined block as a BlockResult; rolled back if it is not exactly what was asked."""
        number = self._head.number + 1
        hashes = [_hex(tx.hash) for tx in transactions]
        calls: list[tuple[str, list]] = [("eth_getBlockByNumber", [hex(number), False]),
                                         ("eth_getBlockReceipts", [hex(number)])]
        calls += [("trace_transaction", [h]) for h in hashes]
        results = self._client.batch_ok(calls)
        block, receipts, traces = results[0], results[1], results[2:]
        problem = None
        if block is None or block["transactions"] != hashes:
            problem = "anvil mined other transactions than the ones given, or in another order"
        elif int(block["baseFeePerGas"], 16) != base_fee or int(block["timestamp"], 16) != timestamp:
            problem = "anvil mined the block with another base fee or timestamp"
        if problem is not None:
            self._rollback_block()
            raise InvalidTransaction(f"block rejected: {problem}; the chain is unchanged")
        out = []
        log_index = 0
        for i, (tx, receipt, trace) in enumerate(zip(transactions, receipts, traces, strict=True)):
            logs = []
            for log in receipt["logs"]:
                topics = tuple(_bytes(t) for t in log["topics"])
                logs.append(self._abis.decode_log(log["address"], topics, _bytes(log["data"]), log_index))
                log_index += 1
            ok = receipt["status"] == "0x1"
            top = trace[0] if trace else {}
            result = top.get("result") or {}
            output = _bytes(result.get("output") or result.get("code"))
            reason = None
            if not ok:
                error = top.get("error", "")
                reason = (self._abis.revert_reason(tx.to, output) if error.lower() == "reverted"
                          else halt_reason(error or "unknown halt"))
            out.append(Receipt(
                tx_hash=tx.hash, block_number=number, index=i, sender=tx.sender, to=tx.to,
                status=1 if ok else 0, gas_used=int(receipt["gasUsed"], 16),
                effective_gas_price=base_fee + tx.effective_tip(base_fee), base_fee_per_gas=base_fee,
                logs=tuple(logs), revert_reason=reason,
                contract_address=checksum(receipt["contractAddress"]) if ok and tx.to is None else None,
                return_data=output if ok else b"",
            ))
        gas_used = int(block["gasUsed"], 16)
        head = _Head(number=number, timestamp=timestamp, hash=_bytes(block["hash"]), base_fee=base_fee,
                     gas_used=gas_used, background_gas=background_gas, gas_limit=self.gas_limit)
        self._set_head(head)
        return BlockResult(number=number, timestamp=timestamp, base_fee_per_gas=base_fee, gas_used=gas_used,
                           gas_limit=self.gas_limit, coinbase=coinbase, hash=head.hash,
                           receipts=tuple(out), background_gas=background_gas)

    def _rollback_block(self) -> None:
        """Undo the block just mined (the head this object knows is still its parent)."""
        self._client.call("anvil_rollback", [1])
        self._client.call("anvil_dropAllTransactions", [])
        self._return_to_head()

    # --- decoding ------------------------------------------------------------------------
    def register_abi(self, address: Address, abi: Any) -> None:
        self._abis.register(address, abi)

    # --- state control -----------------------------------------------------------------
    def snapshot(self) -> bytes:
        """The head block's hash, as on py-evm (callers compare it with ``BlockResult.hash``
        to tell whether the head moved); taking one costs nothing."""
        return self._head.hash

    def revert(self, snapshot_id: bytes) -> None:
        """Back to the block ``snapshot_id`` names, which must be the head or one of its
        ancestors (``anvil_rollback`` drops the blocks after it, state included)."""
        head = self._head
        number = self._numbers.get(snapshot_id)
        if number is None or number > head.number or self._history[number].hash != snapshot_id:
            raise ChainError(f"snapshot {snapshot_id!r} is not a block of this chain's current history")
        if number < head.number:
            self._client.call("anvil_rollback", [head.number - number])
            for dropped in self._history[number + 1:]:
                self._numbers.pop(dropped.hash, None)
            del self._history[number + 1:]
            self._head_ = self._history[number]
            self._coinbase = None
            self._return_to_head()

    # --- escape hatch ------------------------------------------------------------------
    @property
    def web3(self):
        """A web3 handle on this very node (over its IPC socket)."""
        if self._web3 is None:
            from web3 import Web3

            self._started()
            self._web3 = Web3(Web3.IPCProvider(self._node.ipc_path))
        return self._web3
