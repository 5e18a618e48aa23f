"""Command-line interface: one module per command group, each runnable with
`python -m musktracker.cli.<name>`, all gathered under the `musktracker` command."""
