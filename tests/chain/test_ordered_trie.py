"""The one-pass block trie builder yields exactly the trie py-evm's HexaryTrie builds."""

from __future__ import annotations

import rlp
from eth.db.trie import _make_trie_root_and_nodes as pyevm_trie
from hypothesis import given, settings
from hypothesis import strategies as st
from trie import HexaryTrie

from sandbox.chain.ordered_trie import BLANK_ROOT, ordered_trie_root_and_nodes


def test_empty_list_has_the_blank_root():
    assert ordered_trie_root_and_nodes([]) == (BLANK_ROOT, {})
    assert pyevm_trie(())[0] == BLANK_ROOT


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=120), min_size=1, max_size=300))
def test_root_equals_hexary_trie_and_every_value_is_reachable(values):
    root, nodes = ordered_trie_root_and_nodes(values)
    assert root == pyevm_trie(tuple(values))[0]
    trie = HexaryTrie(nodes, root)
    for i, value in enumerate(values):
        assert trie[rlp.encode(i)] == value


def test_large_block_matches_across_key_length_boundaries():
    # 128 and 256 are where rlp(index) grows a byte: the shapes most likely to differ.
    values = [bytes([i % 251]) * (1 + i % 40) for i in range(1000)]
    assert ordered_trie_root_and_nodes(values)[0] == pyevm_trie(tuple(values))[0]
