"""`--help`: one line of text per command in listings, and whole lines in a command's own help,
however its docstring wraps."""

from __future__ import annotations

import inspect
from typing import Any

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


def _docstring(command: Any) -> str:  # typer's vendored click Command
    """What the source says (the CLI shows it reflowed), a group's help text for a group."""
    callback = command.callback
    return (inspect.getdoc(callback) if callback is not None else None) or command.help or ""


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
            doc = inspect.cleandoc(_docstring(command)).split("\n\n")[0]
            wrapped += "\n" in doc
            expected = " ".join(doc.split())
            assert expected in rows[name], (path, name, rows[name])
    assert wrapped > 0, "no command has a wrapped first paragraph: the test checks nothing"


def test_a_commands_help_shows_each_paragraph_as_whole_lines() -> None:
    """The docstrings are wrapped at 100 columns in the source; shown with those breaks and
    wrapped again at the terminal's width, --help had lines of one or two words."""
    root = typer.main.get_command(app)
    assert isinstance(root, TyperGroup)
    runner = CliRunner()
    checked = 0
    for path, group in _groups(root, []):
        for name, command in group.commands.items():
            if isinstance(command, TyperGroup):
                continue
            result = runner.invoke(app, [*path, name, "--help"], env={"COLUMNS": "1000"})
            assert result.exit_code == 0, result.output
            shown = [line.strip() for line in result.output.splitlines()]
            for paragraph in inspect.cleandoc(_docstring(command)).split("\n\n")[1:]:
                if "\n- " in paragraph or paragraph.startswith("- "):
                    continue  # a list keeps its items on lines of their own
                checked += "\n" in paragraph
                assert " ".join(paragraph.split()) in shown, (path, name, paragraph)
    assert checked > 0, "no wrapped paragraph: the test checks nothing"
