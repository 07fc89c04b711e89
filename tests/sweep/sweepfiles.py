"""Tiny sweeps for the sweep tests: 12 blocks, 3 borrowers, one keeper, a 40% fall in two minutes
(so that positions are liquidated), and a grid or a list of parameter sets over it."""

from __future__ import annotations

from pathlib import Path

BASE = '''
name = "tiny-sweep"
blocks = 12
settle_max_seconds = 240
[price]
knots = [[0, 2000.0], [120, 1200.0]]
[borrowers]
count = 3
[[keepers]]
strategy = "naive"
'''

GRID = BASE + '''
[sweep]
scenario = "crash"
mechanisms = ["fixed-fee", "dutch-auction"]
seeds = [0, 1]
[sweep.grid]
"mechanisms.fixed-fee.bonus_bps" = [300, 800]
'''

SETS = BASE + '''
[sweep]
scenario = "crash"
mechanisms = ["fixed-fee"]
seeds = 1
[[sweep.sets]]
label = "shallow AMM"
"amm.liquidity_weth" = 500.0
[[sweep.sets]]
label = "deep AMM"
"amm.liquidity_weth" = 5000.0
'''


def write(folder: Path, text: str, name: str = "tiny-sweep.toml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def contents(folder: Path) -> dict[str, bytes]:
    """Every file of a sweep folder but its manifest (wall times, dates), by relative path."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != "manifest.json"}
