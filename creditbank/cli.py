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
from creditbank.kit import sealed

app = typer.Typer(help="creditbank 学分银行 — learning-credit bank", no_args_is_help=True)
console = Console()


def _prepare(settings: Settings) -> Database:
    """Create/upgrade the database and the keys folder; print the operator token on first run."""
    from creditbank.institutions import service as institutions
    from creditbank.migrations import upgrade

    settings.keys_dir.mkdir(parents=True, exist_ok=True)
    secret = settings.id_secret()
    upgrade(settings.database_url, secret=secret)
    sealed.configure(secret)
    db = Database(settings.database_url)
    if settings.admin_token is None:
        with db.unit_of_work() as session:
            token = institutions.ensure_operator_token(session)
        if token:
            console.print(
                f"[bold]Operator token 管理员令牌[/bold] (shown once, only its hash is kept): {token}"
            )
    return db


@app.command()
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    demo: Annotated[bool, typer.Option(help="Load the demo data first if the database is empty")] = False,
) -> None:
    """Run the HTTP service (creates the SQLite database, keys and an operator token on first run)."""
    import os

    import uvicorn

    # Without a configured public address, links and QR codes point at where we actually listen.
    os.environ.setdefault("CREDITBANK_BASE_URL", f"http://{host}:{port}")
    get_settings.cache_clear()
    settings = get_settings()
    db = _prepare(settings)
    if demo:
        from creditbank import demo as demo_data

        if demo_data.is_empty(db):
            console.print(demo_data.load(db, settings))
    from creditbank.app import log_service

    first = log_service(settings, db).checkpoint()
    console.print(f"transparency log: {first.note.splitlines()[0]}, {first.size} entries")
    db.dispose()
    console.print(
        f"creditbank on http://{host}:{port}  ·  API docs: http://{host}:{port}/docs  ·  {settings.database_url}"
    )
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
def import_file(
    file: Path,
    institution: Annotated[str, typer.Option("--institution", help="Institution code")],
    mode: str = "all_or_nothing",
) -> None:
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
    with (
        open(file, "rb") as handle,
        Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed} rows"),
            TimeElapsedColumn(),
            console=console,
        ) as progress,
    ):
        task = progress.add_task(file.name, total=None)
        try:
            with db.unit_of_work() as session:
                rows = (
                    (r.line, r.values) if isinstance(r, Row) else (r.line, r.code, r.params)
                    for r in read_rows(handle, filename=file.name, max_rows=settings.max_batch_rows)
                )
                report = completions.import_rows(
                    session,
                    institution=institutions.get(session, institution),
                    api_key_id=None,
                    secret=settings.id_secret(),
                    rows=rows,
                    mode=mode,
                    progress=lambda n: progress.advance(task, n),
                )
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
    from creditbank.audit import audit as run_audit

    settings = get_settings()
    db = Database(settings.database_url)
    with db.reader() as session:
        report = run_audit(session)
    console.print(
        f"{report.transactions} transactions, {report.postings} postings, {report.accounts} accounts"
    )
    if report.ok:
        console.print("[green]audit passed 审计通过[/green]")
        return
    for line in report.problems:
        console.print(f"[red]{line}[/red]")
    sys.exit(1)


@app.command("expire-conversions")
def expire_conversions() -> None:
    """Release the credits locked by conversion requests nobody decided within 30 days (run daily)."""
    from creditbank.conversion.service import expire_pending

    settings = get_settings()
    with Database(settings.database_url).unit_of_work() as session:
        count = expire_pending(session)
    console.print(f"{count} 个过期申请已释放 / expired requests released")


keys_app = typer.Typer(help="Issuer signing keys 签发密钥", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


def _issuer():
    from creditbank.certificates.service import Issuer

    return Issuer(get_settings())


@keys_app.command("list")
def keys_list() -> None:
    """Every issuer key with its status (active, retired, compromised)."""
    from creditbank.certificates.keys import describe

    issuer = _issuer()
    issuer.keys.ensure_active()
    console.print(f"issuer {issuer.did}")
    for row in describe(issuer.keys.all()):
        console.print("  " + "  ".join(f"{k}={v}" for k, v in row.items() if v is not None))


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Start signing with a new key; the old one is retired but stays published."""
    key = _issuer().keys.rotate()
    console.print(f"active key is now {key.kid}")


@keys_app.command("compromised")
def keys_compromised(
    kid: str, since: Annotated[str, typer.Option(help="ISO time of the compromise")]
) -> None:
    """Mark a key compromised: what it signed from SINCE on no longer verifies."""
    from datetime import datetime

    at = datetime.fromisoformat(since.replace("Z", "+00:00"))
    _issuer().keys.mark_compromised(kid, at)
    console.print(f"{kid} marked compromised since {at.isoformat()}")


log_app = typer.Typer(help="Transparency log 透明日志", no_args_is_help=True)
app.add_typer(log_app, name="log")
log_keys_app = typer.Typer(help="The log's checkpoint keys 日志签名密钥", no_args_is_help=True)
log_app.add_typer(log_keys_app, name="keys")


def _log():
    from creditbank.app import log_service

    settings = get_settings()
    return log_service(settings, Database(settings.database_url))


@log_app.command("checkpoint")
def log_checkpoint() -> None:
    """Sign a checkpoint of everything logged so far (nothing new: print the latest)."""
    from creditbank.translog.service import LogForked

    try:
        row = _log().checkpoint()
    except LogForked as exc:
        console.print(f"[red]拒绝签署：日志与已签署的检查点不一致 / refused to sign: {exc}[/red]")
        raise typer.Exit(1) from None
    sys.stdout.write(row.note)


@log_keys_app.command("list")
def log_keys_list() -> None:
    """The log's keys as verifier keys (vkeys) with their status."""
    from creditbank.kit.signednote import Verifier

    log = _log()
    log.keys.ensure_active()
    origin = log.origin()
    console.print(f"log {origin}")
    for key in log.keys.all():
        console.print(f"  {Verifier(origin, key.public_key).vkey}  {key.kid}  {key.status}")


@log_keys_app.command("rotate")
def log_keys_rotate() -> None:
    """Sign new checkpoints with a new key; the old one is retired but stays published."""
    key = _log().keys.rotate()
    console.print(f"active log key is now {key.kid}")


@app.command()
def witness(
    url: Annotated[
        str | None, typer.Argument(help="The bank's address, e.g. https://bank.example.org")
    ] = None,
    name: Annotated[str, typer.Option(help="This witness's key name, e.g. witness.example.org/w1")] = "",
    log_key: Annotated[
        list[str] | None,
        typer.Option("--log-key", help="The log's vkey (repeat for rotated keys): /api/v1/log/keys"),
    ] = None,
    state: Annotated[Path, typer.Option(help="Where the witness keeps its key and last checkpoints")] = Path(
        "./witness"
    ),
    submit: Annotated[bool, typer.Option(help="Hand the cosignature to the bank")] = True,
    every: Annotated[float, typer.Option(help="Repeat every N seconds (0: once)")] = 0.0,
    print_key: Annotated[
        bool, typer.Option(help="Print this witness's vkey (to configure banks and verifiers)")
    ] = False,
) -> None:
    """Witness a bank's transparency log: check each new checkpoint extends the last one seen, cosign it.

    Exit 0 cosigned, 3 refused (the log rolled back or forked: evidence kept in --state), 2 unusable."""
    import time

    from creditbank.kit import signednote as sn
    from creditbank.translog.client import FetchError, LogClient
    from creditbank.translog.witness import Witness, WitnessRefusal

    if not name:
        console.print("--name is required (the witness's key name, e.g. witness.example.org/w1)")
        raise typer.Exit(2)
    keeper = Witness(state, name)
    if print_key:
        sys.stdout.write(keeper.vkey + "\n")
        return
    if url is None or not log_key:
        console.print("give the bank's URL and --log-key (see its /api/v1/log/keys)")
        raise typer.Exit(2)
    try:
        keys = [sn.parse_vkey(k) for k in log_key]
    except sn.NoteError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    client = LogClient(url)
    while True:
        try:
            outcome = keeper.run(client, keys, submit=submit)
        except WitnessRefusal as exc:
            console.print(f"[red]拒绝见证 REFUSED: {exc}[/red]  evidence: {exc.evidence}")
            raise typer.Exit(3) from None
        except (FetchError, sn.NoteError) as exc:
            console.print(f"[red]{exc}[/red]")
            if not every:
                raise typer.Exit(2) from None
        else:
            sent = {True: "accepted by the bank", False: "REFUSED by the bank", None: "not sent"}[
                outcome.submitted
            ]
            console.print(f"cosigned {outcome.origin} size {outcome.size} (was {outcome.old_size}); {sent}")
            if outcome.submitted is False and not every:
                raise typer.Exit(1)
        if not every:
            return
        time.sleep(every)


@app.command()
def verify(
    target: Annotated[
        str, typer.Argument(help="A PDF, PNG/JPEG photo of the QR, credential JSON, QR URL or payload")
    ],
    offline: Annotated[bool, typer.Option(help="Use only a key file, no database")] = False,
    keys: Annotated[
        Path | None, typer.Option(help="did.json, jwks.json or /api/v1/keys output (with --offline)")
    ] = None,
) -> None:
    """Verify a certificate. Exit 0 valid, 1 invalid, 2 unusable input."""
    from creditbank.verification import inputs
    from creditbank.verification import offline as offline_verifier

    path = Path(target)
    try:
        data = path.read_bytes() if path.is_file() else target.encode()
        submitted = inputs.from_bytes(data, path.name if path.is_file() else None)
    except CreditbankError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    if offline:
        if keys is None:
            console.print("--offline needs --keys FILE (the bank's /.well-known/did.json or /api/v1/keys)")
            raise typer.Exit(2)
        result = offline_verifier.verify(submitted, keys.read_bytes())
    else:
        from creditbank.verification.online import OnlineVerifier

        settings = get_settings()
        sealed.configure(settings.id_secret())
        issuer = _issuer()
        result = OnlineVerifier(Database(settings.database_url), issuer).verify_input(submitted)
    _print_verdict(result)
    raise typer.Exit(0 if result["valid"] else 1)


def _print_verdict(result: dict) -> None:
    labels = {
        "valid": "[green]有效 VALID[/green]",
        "revoked": "[yellow]已撤销 REVOKED[/yellow]",
        "invalid": "[red]无效 INVALID[/red]",
    }
    console.print(labels[result["verdict"]])
    for name, check in result["checks"].items():
        mark = {True: "✓", False: "✗", None: "—"}[check["ok"]]
        console.print(f"  {mark} {name}: {check['detail']}")
    certificate = result.get("certificate") or {}
    if certificate:
        console.print(
            f"  {certificate.get('id')} · {certificate.get('learner_name')} · {certificate.get('total_credits')} 学分"
        )


if __name__ == "__main__":
    app()
