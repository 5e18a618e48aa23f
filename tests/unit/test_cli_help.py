"""`--help`: one line of text per command in listings, and whole lines in a command's own help,
however its docstring wraps, under `musktracker` and as `python -m musktracker.cli.<name>`."""

from __future__ import annotations

import importlib
import inspect
import runpy
import sys
from collections.abc import Callable
from typing import Any

import pytest
import typer
from typer.core import TyperGroup
from typer.testing import CliRunner

from musktracker.cli.main import app
from tests.conftest import REPO

Invoke = Callable[[list[str]], str]
"""Runs the CLI with these arguments and returns what it printed."""

CLI = REPO / "musktracker" / "cli"
MODULES = sorted(
    path.stem for path in CLI.glob("*.py") if 'if __name__ == "__main__":' in path.read_text()
)
"""Every `python -m musktracker.cli.<name>` entry point, as the source defines them."""


def _groups(group: TyperGroup, path: list[str]) -> list[tuple[list[str], TyperGroup]]:
    """Every command group with the arguments that reach it."""
    found = [(path, group)]
    for name, command in group.commands.items():
        if isinstance(command, TyperGroup):
            found += _groups(command, [*path, name])
    return found


def _commands(root: Any) -> list[tuple[list[str], Any]]:
    """Every command that is not a group, with the arguments that reach it (none for an app
    of a single command, which Typer runs as that command)."""
    if not isinstance(root, TyperGroup):
        return [([], root)]
    return [
        ([*path, name], command)
        for path, group in _groups(root, [])
        for name, command in group.commands.items()
        if not isinstance(command, TyperGroup)
    ]


def _docstring(command: Any) -> str:  # typer's vendored click Command
    """What the source says (the CLI shows it reflowed), a group's help text for a group."""
    callback = command.callback
    return (inspect.getdoc(callback) if callback is not None else None) or command.help or ""


def _check_listings(root: Any, invoke: Invoke) -> int:
    """Every listing shows each command's first paragraph on one line; returns how many of
    those paragraphs are wrapped in the source."""
    wrapped = 0
    for path, group in _groups(root, []) if isinstance(root, TyperGroup) else []:
        output = invoke([*path, "--help"])
        rows = {
            line.split()[1]: line
            for line in output.splitlines()
            if line.startswith("│") and len(line.split()) > 2
        }
        for name, command in group.commands.items():
            doc = inspect.cleandoc(_docstring(command)).split("\n\n")[0]
            wrapped += "\n" in doc
            expected = " ".join(doc.split())
            assert expected in rows[name], (path, name, rows[name])
    return wrapped


def _check_command_help(root: Any, invoke: Invoke) -> int:
    """Every command's --help shows each later paragraph as one line; returns how many of
    those paragraphs are wrapped in the source."""
    wrapped = 0
    for path, command in _commands(root):
        shown = [line.strip() for line in invoke([*path, "--help"]).splitlines()]
        for paragraph in inspect.cleandoc(_docstring(command)).split("\n\n")[1:]:
            if "\n- " in paragraph or paragraph.startswith("- "):
                continue  # a list keeps its items on lines of their own
            wrapped += "\n" in paragraph
            assert " ".join(paragraph.split()) in shown, (path, paragraph)
    return wrapped


def _musktracker(args: list[str]) -> str:
    result = CliRunner().invoke(app, args, env={"COLUMNS": "1000"})
    assert result.exit_code == 0, result.output
    return result.output


def test_every_listed_command_shows_its_first_paragraph_unbroken() -> None:
    wrapped = _check_listings(typer.main.get_command(app), _musktracker)
    assert wrapped > 0, "no command has a wrapped first paragraph: the test checks nothing"


def test_a_commands_help_shows_each_paragraph_as_whole_lines() -> None:
    """The docstrings are wrapped at 100 columns in the source; shown with those breaks and
    wrapped again at the terminal's width, --help had lines of one or two words."""
    wrapped = _check_command_help(typer.main.get_command(app), _musktracker)
    assert wrapped > 0, "no wrapped paragraph: the test checks nothing"


def _infos(typer_app: typer.Typer) -> list[Any]:
    """The CommandInfo of every command in the app and its groups."""
    infos = list(typer_app.registered_commands)
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            infos += _infos(group.typer_instance)
    return infos


@pytest.mark.parametrize("module", MODULES)
def test_a_module_entry_point_shows_whole_lines_too(
    module: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`python -m musktracker.cli.worker run --help` showed the docstring's source breaks:
    only main.py reflowed help, and a module run as `__main__` does not import it.

    What is shown is checked where a docstring wraps today; that every command of the app
    the module runs was given whole-line help is checked for all, so a docstring that
    wraps later is covered too."""
    monkeypatch.setenv("COLUMNS", "1000")
    script = CLI / f"{module}.py"
    ran: list[typer.Typer] = []
    call = typer.Typer.__call__

    def recorded(self: typer.Typer, *args: Any, **kwargs: Any) -> Any:
        ran.append(self)
        return call(self, *args, **kwargs)

    monkeypatch.setattr(typer.Typer, "__call__", recorded)

    def run_as_main(args: list[str]) -> str:
        """The module's source run as `__main__`, in this process (a subprocess per command
        took three seconds each)."""
        monkeypatch.setattr(sys, "argv", [str(script), *args])
        with pytest.raises(SystemExit) as exited:
            runpy.run_path(str(script), run_name="__main__")
        output = capsys.readouterr().out
        assert exited.value.code == 0, output
        return output

    root = typer.main.get_command(importlib.import_module(f"musktracker.cli.{module}").app)
    _check_listings(root, run_as_main)
    _check_command_help(root, run_as_main)
    unformatted = [info.callback.__name__ for info in _infos(ran[-1]) if info.help is None]
    assert not unformatted, f"shown with the docstring's source line breaks: {unformatted}"


def test_the_entry_points_found_include_the_documented_ones() -> None:
    """The README names these; the source scan above must not miss them."""
    documented = {"migrate", "accounts", "archive", "enrich", "status", "ingest", "train"}
    assert documented | {"worker", "signals", "forecast"} <= set(MODULES)
