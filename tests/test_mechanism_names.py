"""No built-in mechanism is known by name outside its own files and the entry-point table: a
plug-in gets exactly what a built-in gets (issue #12)."""

from __future__ import annotations

import ast
from pathlib import Path

from sandbox.mechanisms import MECHANISMS

PACKAGE = Path(__file__).resolve().parents[1] / "sandbox"

# A mechanism's own files: its module under sandbox/mechanisms/ (and the package's registry
# helpers there), and sandbox/perp/, which holds the perpetual-futures implementations of four
# of them (their contracts live in contracts/perp/mechanisms/).
OWN = ("mechanisms", "perp")

# String constants that equal a mechanism's name but mean something else, with the reason.
HOMONYMS = {
    ("recorder.py", "private"): "the txs table's column: the transaction was sent privately",
}


def _constants(tree: ast.AST):
    """String constants of a module, docstrings left out (prose may name a protocol)."""
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            yield node


def test_no_mechanism_name_appears_outside_its_own_files():
    names = set(MECHANISMS.names())
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] in OWN:
            continue
        for node in _constants(ast.parse(path.read_text(), filename=str(path))):
            text = node.value.strip().lower()
            if text in names and (rel.as_posix(), text) not in HOMONYMS:
                found.append(f"{rel}:{node.lineno}: {node.value!r}")
    assert found == []


def test_the_check_finds_a_name_where_one_is_planted(tmp_path):
    planted = ast.parse('"""Docstrings may say fixed-fee."""\nRULES = {"fixed-fee": 1}\n')
    assert [n.value for n in _constants(planted)] == ["fixed-fee"]
