"""Help text of whole lines for every command, whether it runs under `musktracker` or as
`python -m musktracker.cli.<name>`.

Typer's rich help keeps the single line breaks of a docstring (wrapped at 100 columns in the
source) and then wraps again at the terminal's width, so a listing and a command's --help
showed ragged broken lines ("... Needs a / migrated / database.").
"""

from __future__ import annotations

import inspect

import typer


def _first_paragraph(text: str) -> str:
    """A docstring's first paragraph on one line, as a listing of commands should show it."""
    return " ".join(inspect.cleandoc(text).split("\n\n")[0].split())


def _reflowed(text: str) -> str:
    """Each paragraph's wrapped lines joined into one, list items ("- ") kept on lines of
    their own: the terminal wraps them again at its own width."""
    paragraphs = []
    for paragraph in inspect.cleandoc(text).split("\n\n"):
        lines: list[str] = []
        for line in paragraph.splitlines():
            if lines and not line.lstrip().startswith("- "):
                lines[-1] += " " + line.strip()
            else:
                lines.append(line.strip())
        paragraphs.append("\n".join(lines))
    return "\n\n".join(paragraphs)


def whole_line_help(typer_app: typer.Typer) -> None:
    """Give every command a one-line short help and a help of whole lines, in every group.

    A help or short help the command sets itself is kept.
    """
    for info in typer_app.registered_commands:
        docstring = inspect.getdoc(info.callback) if info.callback else None
        if info.short_help is None and docstring:
            info.short_help = _first_paragraph(docstring)
        if info.help is None and docstring:
            info.help = _reflowed(docstring)
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            whole_line_help(group.typer_instance)


def run_module(typer_app: typer.Typer) -> None:
    """Run one command group as `python -m musktracker.cli.<name>`, with the same help as
    under `musktracker` (main.py, which formats the commands it gathers, is not imported)."""
    whole_line_help(typer_app)
    typer_app()
