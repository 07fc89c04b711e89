"""Transactions signed for another chain, on either backend: what a replay from another network
looks like to the sandbox's chain."""

from __future__ import annotations

import coincurve
from eth_keys import keys

from sandbox.chain import SignedTx, TxRequest
from sandbox.chain.signing import sign_dynamic_fee


def foreign_signed(chain, request: TxRequest, chain_id: int | None = None) -> SignedTx:
    """``request`` signed by its sender with its next nonce for another chain (``chain_id``,
    default this chain's + 1): what a replay from another network looks like to ``chain``."""
    nonce = chain.nonce(request.sender.address)
    other = chain.chain_id + 1 if chain_id is None else chain_id
    to = bytes.fromhex(request.to[2:]) if request.to else b""
    if chain.backend_name == "eth-tester":  # the backend's own transaction objects
        builder = chain._vm().get_transaction_builder()
        raw = builder.new_unsigned_dynamic_fee_transaction(
            chain_id=other, nonce=nonce, max_priority_fee_per_gas=request.max_priority_fee_per_gas,
            max_fee_per_gas=request.max_fee_per_gas, gas=request.gas, to=to, value=request.value,
            data=request.data, access_list=[]).as_signed_transaction(keys.PrivateKey(request.sender.private_key))
        tx_hash = raw.hash
    else:  # raw bytes, as a node takes them
        raw, tx_hash = sign_dynamic_fee(coincurve.PrivateKey(request.sender.private_key), other, nonce,
                                        request.max_priority_fee_per_gas, request.max_fee_per_gas, request.gas,
                                        to, request.value, request.data)
    return SignedTx(hash=tx_hash, sender=request.sender.address, nonce=nonce, to=request.to,
                    value=request.value, data=request.data, gas=request.gas,
                    max_fee_per_gas=request.max_fee_per_gas,
                    max_priority_fee_per_gas=request.max_priority_fee_per_gas, raw=raw)
