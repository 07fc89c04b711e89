"""Test suites shipped with the package, for third-party backends and plug-ins to reuse."""
