"""Conformance suites for plug-ins, written once and run over every registered one (as web3.py's
``module_testing`` suites are subclassed per provider), shipped for third-party authors.

- ``sandbox.testing.chain.ChainConformance``: the rules every chain backend follows (ordering,
  nonces, reverts charged, invalid transactions leaving no partial block, the base-fee rule with
  background gas, timestamps, calls at a timestamp, snapshots, decoding).
- ``MechanismConformance``: what every liquidation mechanism must do, on each market it declares
  (the market supplies the driver: ``MarketKind.conformance_driver``): a healthy position offers
  nothing and every action on it reverts; every action keeps the market's accounting (lending:
  the debt identity and token conservation; perp: the cash identity over every account and USD
  conservation), and encoded calls execute; the event-following mirror equals full reads.
  Subclass it in your package's tests (``market = "perp"`` for a mechanism's perp variant)::

      from sandbox.testing import MechanismConformance

      class TestMyMechanism(MechanismConformance):
          mechanism = "my-mechanism"          # its entry-point name in ``sandbox.mechanisms``

- ``MarketConformance``: what every market plug-in must do (roles and registered agent kinds, a
  run of its example scenario with each of its mechanisms, positions as legs agreeing with its
  view, the same run whether positions are followed from events or read in full).

The pytest plug-in (``sandbox.testing.plugin``, registered under ``pytest11``) provides the
``sandbox_chain`` and ``sandbox_market`` fixtures and the ``--sandbox-backend`` option.
"""

from .markets import MarketConformance
from .mechanisms import MechanismConformance


def fastest_backend() -> str:
    """anvil when its binary is installed (``npm ci``): whole runs are 5–15× faster there and the
    tables identical (tests/simulation/test_backends_agree.py); else eth-tester."""
    from sandbox.chain.anvil import AnvilNotFound, find_anvil

    try:
        find_anvil()
        return "anvil"
    except AnvilNotFound:
        return "eth-tester"


__all__ = ["MarketConformance", "MechanismConformance", "fastest_backend"]
