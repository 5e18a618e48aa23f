"""`musktracker import`: load posts from an archive file."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

from musktracker.cli.helptext import run_module
from musktracker.cli.runtime import console, database, handle_errors, noun, settings
from musktracker.db.session import session_scope
from musktracker.ingest.archive import ArchiveFormat
from musktracker.ingest.importer import ImportReport, import_archive

# Files smaller than this import in well under a second: no progress bar.
PROGRESS_MIN_BYTES = 256 * 1024


def print_report(report: ImportReport) -> None:
    """What was read and stored; the file name and the reasons (which quote the file's
    values) are escaped, or Rich reads "[x]" in them as markup and drops it."""
    console.print(
        f"{escape(str(report.path))}: {report.read} {noun(report.read, 'post')} read, "
        f"{report.inserted} new, "
        f"{report.already_stored} already stored"
        + (
            f", {report.duplicates_in_file} repeated in the file"
            if report.duplicates_in_file
            else ""
        )
    )
    if report.skipped:
        first = "; ".join(f"line {e.line}: {e.reason}" for e in report.skipped[:5])
        console.print(
            f"[yellow]skipped {len(report.skipped)} bad {noun(len(report.skipped), 'line')}"
            f"[/yellow] ({escape(first)})"
        )
    if report.inserted:
        written = report.features_written
        console.print(f"buckets refreshed; {written} feature {noun(written, 'row')} written")


@handle_errors
def import_command(
    path: Path = typer.Argument(..., help="Archive file to import."),
    account: str = typer.Option(
        ..., "--account", "-a", help="Tracked account the posts belong to."
    ),
    fmt: ArchiveFormat | None = typer.Option(
        None,
        "--format",
        "-f",
        help="csv (tweet_id,created_at[,kind][,text]), ids (one id a line; time from the id) "
        "or x-archive (tweets.js). Default: from the file name (.csv, .js, else ids).",
    ),
    skip_bad: bool = typer.Option(
        False,
        "--skip-bad",
        help="Import the good lines and report the bad ones instead of aborting.",
    ),
) -> None:
    """Import posts from an archive file; re-importing adds nothing.

    A bad line aborts the import (file, line and reason are printed) and nothing is written,
    unless --skip-bad is given. Buckets and features are refreshed afterwards.

    Example: musktracker import ../shared/data/elonmusk/posts.csv --account elonmusk
    """
    engine = database()
    store_text = settings().store_post_text
    show = path.is_file() and path.stat().st_size >= PROGRESS_MIN_BYTES
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not show,
    ) as bar:
        # The description column reads markup: a file named "[x].csv" showed as ".csv".
        task = bar.add_task(f"reading {escape(path.name)}", total=None)
        with session_scope(engine) as session:
            report = import_archive(
                session,
                account,
                path,
                fmt,
                skip_bad,
                store_text,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
                on_storing=lambda: bar.update(
                    task, description="storing posts, buckets and features"
                ),
            )
    print_report(report)


app = typer.Typer()
app.command(name="import")(import_command)

if __name__ == "__main__":
    run_module(app)
