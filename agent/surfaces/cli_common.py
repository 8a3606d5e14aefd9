"""What every `atelier` command shares: stderr for people, and one way to stop with an error."""
from __future__ import annotations

import typer
from rich.console import Console

err = Console(stderr=True)


def fail(message: str, code: int = 2) -> None:
    """One line on stderr, then exit `code` (2: bad input; 1: it ran and failed)."""
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)
