"""README installs with ``-c constraints.txt``: every dependency the package and its test extra
name is pinned there to one exact version, so a fresh clone gets the tested versions."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_every_dependency_of_the_package_and_test_extra_is_pinned_exactly():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_name(r) for r in [*project["dependencies"], *project["optional-dependencies"]["test"]]}
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not an exact pin"
            pins[_name(name)] = version
    assert sorted(wanted - set(pins)) == []


def test_readme_installs_with_the_constraints():
    readme = (ROOT / "README.md").read_text()
    for tag in ("setup-main", "setup-test"):
        block = readme.split(f"<!-- {tag} -->", 1)[1].split("```", 2)[1]
        assert "-c constraints.txt" in block, tag
