"""Conformance suites for plug-ins, written once and run over every registered one.

``MechanismConformance`` checks what every liquidation mechanism must do on the lending market,
whoever wrote it: a healthy position offers nothing and every action on it reverts; every action
keeps the debt identity and conserves tokens, and encoded calls execute; the event-following
mirror equals full reads. Subclass it in your package's tests (as web3.py's ``module_testing``
suites are subclassed per provider)::

    from sandbox.testing import MechanismConformance

    class TestMyMechanism(MechanismConformance):
        mechanism = "my-mechanism"          # its entry-point name in ``sandbox.mechanisms``

The pytest plug-in (``sandbox.testing.plugin``, registered under ``pytest11``) only adds the
``--sandbox-seed`` option; the suite needs nothing else.
"""

from .mechanisms import MechanismConformance

__all__ = ["MechanismConformance"]
