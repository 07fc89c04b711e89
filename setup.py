"""Build hook only (metadata lives in pyproject.toml): record the source commit in the package."""

import importlib.util
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


class BuildPyWithProvenance(build_py):
    """build_py, then sandbox/_build_info.json with the checkout's git commit (if it is one)."""

    def run(self):
        super().run()
        spec = importlib.util.spec_from_file_location("_provenance", ROOT / "sandbox" / "provenance.py")
        provenance = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(provenance)
        target = Path(self.build_lib) / "sandbox"
        target.mkdir(parents=True, exist_ok=True)
        provenance.write_build_info(target, ROOT)


setup(cmdclass={"build_py": BuildPyWithProvenance})
