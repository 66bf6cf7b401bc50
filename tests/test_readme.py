"""The README's Python examples run as written (each block on its own, from the repository's root)."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)


def test_the_readme_has_an_example_for_each_capability():
    joined = "\n".join(BLOCKS)
    for module in (
        "worlds",
        "worlds.datasets",
        "playground.models",
        "playground.inverse",
        "playground.uncertainty",
        "playground.evaluation",
        "playground.scenes",
    ):
        assert f"from {module}" in joined, f"no README example imports {module}"


@pytest.mark.parametrize("number", range(len(BLOCKS)))
def test_a_readme_example_runs(number, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)  # the examples name docs/ pictures and write under build/
    exec(compile(BLOCKS[number], f"README.md, Python example {number + 1}", "exec"), {"__name__": "readme"})
    assert capsys.readouterr().out.strip() or "print(" not in BLOCKS[number]


def test_the_readme_stays_a_users_page():
    """At most 400 lines: the research record lives in docs/, one page per topic."""
    assert len((ROOT / "README.md").read_text().splitlines()) <= 400
