"""Command listings in `--help`: one line of text per command, however its docstring wraps."""

from __future__ import annotations

import inspect

import typer
from typer.core import TyperGroup
from typer.testing import CliRunner

from musktracker.cli.main import app


def _groups(group: TyperGroup, path: list[str]) -> list[tuple[list[str], TyperGroup]]:
    """Every command group with the arguments that reach it."""
    found = [(path, group)]
    for name, command in group.commands.items():
        if isinstance(command, TyperGroup):
            found += _groups(command, [*path, name])
    return found


def test_every_listed_command_shows_its_first_paragraph_unbroken() -> None:
    root = typer.main.get_command(app)
    assert isinstance(root, TyperGroup)
    runner = CliRunner()
    wrapped = 0
    for path, group in _groups(root, []):
        result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "1000"})
        assert result.exit_code == 0, result.output
        rows = {
            line.split()[1]: line
            for line in result.output.splitlines()
            if line.startswith("│") and len(line.split()) > 2
        }
        for name, command in group.commands.items():
            doc = inspect.cleandoc(command.help or "").split("\n\n")[0]
            wrapped += "\n" in doc
            expected = " ".join(doc.split())
            assert expected in rows[name], (path, name, rows[name])
    assert wrapped > 0, "no command has a wrapped first paragraph: the test checks nothing"
