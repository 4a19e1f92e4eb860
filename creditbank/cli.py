"""``creditbank`` command line (SPEC §5)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from creditbank.config import Settings, get_settings
from creditbank.db import Database
from creditbank.errors import CreditbankError

app = typer.Typer(help="creditbank 学分银行 — learning-credit bank", no_args_is_help=True)
console = Console()


def _prepare(settings: Settings) -> Database:
    """Create/upgrade the database and the keys folder; print the operator token on first run."""
    from creditbank.institutions import service as institutions
    from creditbank.migrations import upgrade

    upgrade(settings.database_url)
    settings.keys_dir.mkdir(parents=True, exist_ok=True)
    settings.id_secret()
    db = Database(settings.database_url)
    if settings.admin_token is None:
        with db.unit_of_work() as session:
            token = institutions.ensure_operator_token(session)
        if token:
            console.print(f"[bold]Operator token 管理员令牌[/bold] (shown once, only its hash is kept): {token}")
    return db


@app.command()
def serve(host: str = "127.0.0.1", port: int = 8000, workers: int = 1,
          demo: Annotated[bool, typer.Option(help="Load the demo data first if the database is empty")] = False) -> None:
    """Run the HTTP service (creates the SQLite database, keys and an operator token on first run)."""
    import uvicorn

    settings = get_settings()
    db = _prepare(settings)
    if demo:
        from creditbank import demo as demo_data

        if demo_data.is_empty(db):
            console.print(demo_data.load(db, settings))
    db.dispose()
    console.print(f"creditbank on http://{host}:{port}  ·  API docs: http://{host}:{port}/docs  ·  {settings.database_url}")
    uvicorn.run("creditbank.app:create_app", factory=True, host=host, port=port, workers=workers)


@app.command()
def demo() -> None:
    """Load the demo institutions, catalogue, learners and two years of completions."""
    from creditbank import demo as demo_data

    settings = get_settings()
    db = _prepare(settings)
    if not demo_data.is_empty(db):
        console.print("The database already has data; demo not loaded. 数据库已有数据，未加载演示数据。")
        raise typer.Exit(1)
    console.print(demo_data.load(db, settings))


@app.command("import")
def import_file(file: Path, institution: Annotated[str, typer.Option("--institution", help="Institution code")],
                mode: str = "all_or_nothing") -> None:
    """Import a CSV/XLSX of completions for an institution, with a progress bar."""
    from creditbank.completions import service as completions
    from creditbank.institutions import service as institutions
    from creditbank.ledger.batchfile import Row, read_rows

    settings = get_settings()
    db = _prepare(settings)
    if mode not in ("all_or_nothing", "partial"):
        console.print("mode must be all_or_nothing or partial")
        raise typer.Exit(2)
    size = file.stat().st_size
    if size > settings.max_upload_bytes:
        console.print(CreditbankError("upload_too_large", {"limit_mb": settings.max_upload_bytes >> 20}))
        raise typer.Exit(1)
    with open(file, "rb") as handle, Progress(TextColumn("{task.description}"), BarColumn(),
                                              TextColumn("{task.completed} rows"), TimeElapsedColumn(),
                                              console=console) as progress:
        task = progress.add_task(file.name, total=None)
        try:
            with db.unit_of_work() as session:
                rows = ((r.line, r.values) if isinstance(r, Row) else (r.line, r.code, r.params)
                        for r in read_rows(handle, filename=file.name, max_rows=settings.max_batch_rows))
                report = completions.import_rows(
                    session, institution=institutions.get(session, institution), api_key_id=None,
                    secret=settings.id_secret(), rows=rows, mode=mode,
                    progress=lambda n: progress.advance(task, n))
        except CreditbankError as exc:
            console.print(f"[red]{exc}[/red]")
            for error in (exc.errors or [])[:50]:
                console.print(f"  line {error['line']}: {error['code']} — {error['message_zh']}")
            raise typer.Exit(1) from None
    console.print(f"accepted {report.accepted}, replayed {report.replayed}, rejected {report.rejected}")
    for error in report.errors[:50]:
        console.print(f"  line {error['line']}: {error['code']} — {error['message_zh']}")


@app.command()
def audit() -> None:
    """Recompute balances from postings and check the hash chain; exit 1 naming the first bad row."""
    from creditbank.ledger.audit import audit as run_audit

    settings = get_settings()
    db = Database(settings.database_url)
    with db.reader() as session:
        report = run_audit(session)
    console.print(f"{report.transactions} transactions, {report.postings} postings, {report.accounts} accounts")
    if report.ok:
        console.print("[green]audit passed 审计通过[/green]")
        return
    for line in report.problems:
        console.print(f"[red]{line}[/red]")
    sys.exit(1)


if __name__ == "__main__":
    app()
