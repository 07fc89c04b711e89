"""Transaction and receipt tries of a block, built in one pass.

py-evm builds a block's transaction and receipt tries by inserting keys one at a time into a
``HexaryTrie``, re-encoding the path to the root on every insert: about a fifth of the time of
a 400-transaction block. Here the whole ordered list is known up front, so each node is built
and hashed exactly once, recursively over the sorted keys. Roots and stored nodes are the same
Merkle-Patricia trie; ``tests/chain/test_ordered_trie.py`` checks that against ``HexaryTrie``.
The sandbox's own VM class (``sandbox.chain.vm.SandboxVM``) builds its blocks' tries with it;
py-evm's modules are left as they are.
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence

import rlp
from eth_hash.auto import keccak
from eth_typing import Hash32

BLANK_ROOT = Hash32(keccak(rlp.encode(b"")))


class Encodable(Protocol):
    def encode(self) -> bytes: ...


def _nibbles(key: bytes) -> tuple[int, ...]:
    out = []
    for byte in key:
        out.append(byte >> 4)
        out.append(byte & 0x0F)
    return tuple(out)


def _hex_prefix(nibbles: Sequence[int], leaf: bool) -> bytes:
    flag = 2 if leaf else 0
    if len(nibbles) % 2:
        first = bytes([((flag + 1) << 4) | nibbles[0]])
        rest = nibbles[1:]
    else:
        first = bytes([flag << 4])
        rest = nibbles
    return first + bytes((rest[i] << 4) | rest[i + 1] for i in range(0, len(rest), 2))


class _Builder:
    def __init__(self) -> None:
        self.nodes: dict[Hash32, bytes] = {}

    def ref(self, node: list[Any]) -> list[Any] | Hash32:
        """A child reference: the node itself when its encoding is short, else its hash."""
        encoded = rlp.encode(node)
        if len(encoded) < 32:
            return node
        digest = Hash32(keccak(encoded))
        self.nodes[digest] = encoded
        return digest

    def node(self, pairs: Sequence[tuple[tuple[int, ...], bytes]], depth: int) -> list[Any]:
        if len(pairs) == 1:
            path, value = pairs[0]
            return [_hex_prefix(path[depth:], leaf=True), value]
        # Longest prefix shared by every key below this depth (pairs are sorted).
        first, last = pairs[0][0], pairs[-1][0]
        shared = 0
        limit = min(len(first), len(last)) - depth
        while shared < limit and first[depth + shared] == last[depth + shared]:
            shared += 1
        if shared:
            child = self.node(pairs, depth + shared)
            return [_hex_prefix(first[depth:depth + shared], leaf=False), self.ref(child)]
        branch: list[Any] = [b""] * 17
        start = 0
        if len(pairs[0][0]) == depth:  # a key ending here stores its value in the branch
            branch[16] = pairs[0][1]
            start = 1
        i = start
        while i < len(pairs):
            nibble = pairs[i][0][depth]
            j = i
            while j < len(pairs) and pairs[j][0][depth] == nibble:
                j += 1
            branch[nibble] = self.ref(self.node(pairs[i:j], depth + 1))
            i = j
        return branch


def ordered_trie_root_and_nodes(values: Sequence[bytes]) -> tuple[Hash32, dict[Hash32, bytes]]:
    """Root and nodes of the trie mapping rlp(index) -> value for an ordered list of values."""
    if not values:
        return BLANK_ROOT, {}
    pairs = sorted((_nibbles(rlp.encode(i)), bytes(v)) for i, v in enumerate(values))
    builder = _Builder()
    root_encoded = rlp.encode(builder.node(pairs, 0))
    root = Hash32(keccak(root_encoded))
    builder.nodes[root] = root_encoded
    return root, builder.nodes


def make_trie_root_and_nodes(items: Sequence[Encodable]) -> tuple[Hash32, dict[Hash32, bytes]]:
    """What ``eth.db.trie.make_trie_root_and_nodes`` computes (items have ``.encode()``), in one pass."""
    return ordered_trie_root_and_nodes([item.encode() for item in items])
