"""``creditbank`` command line (SPEC §5)."""

from __future__ import annotations

import enum
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn
from rich.text import Text
from sqlalchemy.exc import DBAPIError

from creditbank.config import Settings, get_settings
from creditbank.db import Database, connection_failed
from creditbank.errors import CreditbankError
from creditbank.kit import sealed

ENVIRONMENT_HELP = (
    "Database and settings (every command): CREDITBANK_DATABASE_URL (default sqlite:///./creditbank.db, "
    "in the current folder), CREDITBANK_KEYS_DIR (default ./keys), CREDITBANK_SECRET, "
    "CREDITBANK_KEY_PASSPHRASE, CREDITBANK_BASE_URL and CREDITBANK_BANK_NAME_ZH/_EN (first start only), "
    "CREDITBANK_ADMIN_TOKEN, "
    "CREDITBANK_HOURS_PER_CREDIT, CREDITBANK_DATABASE_REPLICA_URL (optional: a PostgreSQL read replica; "
    "docs/operations.md). 数据库与设置见上述 CREDITBANK_* 环境变量。"
)


class ImportMode(enum.StrEnum):
    all_or_nothing = "all_or_nothing"
    partial = "partial"


app = typer.Typer(
    help="creditbank 学分银行 — learning-credit bank", no_args_is_help=True, epilog=ENVIRONMENT_HELP
)
console = Console(highlight=False)
"""No automatic highlighting: it coloured values by guesswork — half of a DID (``did:w`` plain,
``eb:127.0.0.1`` coloured), digits inside tokens — and colour carries no meaning here."""


def _fail(message: str, code: int = 2) -> NoReturn:
    console.print(f"[bold red]{message}[/bold red]")
    raise typer.Exit(code)


SECRETS_FILE = "first-run-secrets.txt"
_secrets_told: set[Path] = set()
"""Secrets files whose path this process has printed: a first run writes there twice (the operator
token, then the demo's keys and codes) and says so once."""


def show_secrets(settings: Settings, text: str) -> None:
    """Print text carrying secrets (operator token, API keys, activation codes) only to a terminal.

    Under systemd or a pipe, stdout ends up in journald or a log file that others may read: the
    text goes to ``keys/first-run-secrets.txt`` (mode 0600, appended) and only its path is printed."""
    if sys.stdout.isatty():
        console.print(text, markup=False, highlight=False)
        return
    path = settings.keys_dir / SECRETS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as out:
        out.write(text.rstrip("\n") + "\n\n")
    if path.resolve() in _secrets_told:
        return
    _secrets_told.add(path.resolve())
    console.print(
        f"令牌、密钥等秘密信息未打印（输出不是终端），已写入 {path}（仅本用户可读，0600），读完请删除。\n"
        f"Secrets (operator token, API keys, activation codes) are not printed here (output is not a "
        f"terminal); they were written to {path} (mode 0600). Read it, then delete it."
    )


def _ensure_keys_dir(settings: Settings) -> None:
    """The keys folder, created 0700 (docs/deploy.md); an existing one others can enter is warned about."""
    from creditbank.certificates.keys import ensure_keys_dir

    warning = ensure_keys_dir(settings.keys_dir)
    if warning:
        console.print(f"[yellow]{warning}[/yellow]")


def _prepare(settings: Settings, listen_url: str | None = None) -> Database:
    """Create/upgrade the database and the keys folder, fix the issuer identity on first run
    (``_settle_identity``); print the operator token on first run."""
    from creditbank import hooks
    from creditbank.institutions import service as institutions
    from creditbank.learners import secret as deployment_secret
    from creditbank.migrations import upgrade

    hooks.install()

    _check_replica_url(settings)
    _ensure_keys_dir(settings)
    db = Database(settings.database_url, replica_url=settings.database_replica_url)
    try:
        if not settings.has_id_secret() and deployment_secret.database_has_learners(db.engine):
            raise deployment_secret.MISSING  # before the migrations, which may need the secret
        upgrade(settings.database_url, secret=settings.id_secret())
        with db.unit_of_work() as session:
            secret = deployment_secret.guard(session, settings)
    except deployment_secret.SecretRefused as exc:
        console.print(f"[red]{exc.zh}[/red]\n[red]{exc.en}[/red]")
        raise typer.Exit(1) from None
    except DBAPIError as exc:
        if not connection_failed(exc):
            raise
        db.dispose()
        _unreachable(settings.database_url, exc)
    sealed.configure(secret)
    _settle_identity(settings, db, listen_url)
    if settings.admin_token is None:
        with db.unit_of_work() as session:
            token = institutions.ensure_operator_token(session)
        if token:
            show_secrets(
                settings,
                f"管理员令牌 operator token: {token}\n"
                "  （仅显示这一次，库中只存其哈希 / shown once; only its hash is kept）",
            )
    return db


def _unreachable(url: str, exc: DBAPIError) -> NoReturn:
    """PostgreSQL down, or no such database or user: said in both languages, the password masked."""
    shown = _shown_url(url)
    reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
    _fail(f"无法连接数据库 {shown} / cannot reach the database at {shown}: {reason}", 1)


def _check_replica_url(settings: Settings) -> None:
    """A read replica is a PostgreSQL streaming standby of a PostgreSQL primary: anything else is
    refused here, in words, before the engine would fail with a traceback."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    replica = settings.database_replica_url
    if not replica:
        return
    try:
        usable = all(
            make_url(url).get_backend_name() == "postgresql" for url in (settings.database_url, replica)
        )
    except ArgumentError:
        usable = False
    if not usable:
        _fail(
            "CREDITBANK_DATABASE_REPLICA_URL 须是 PostgreSQL 流复制备库的地址（postgresql+psycopg://…），"
            "而且 CREDITBANK_DATABASE_URL 也须是 PostgreSQL：SQLite 没有只读副本。不用副本就删除这个变量。\n"
            "CREDITBANK_DATABASE_REPLICA_URL must name a PostgreSQL streaming standby (postgresql+psycopg://…) "
            "of a PostgreSQL CREDITBANK_DATABASE_URL: SQLite has no read replica. Unset it to read everything "
            "from the database (docs/operations.md, 'A read replica')."
        )


def _settle_identity(settings: Settings, db: Database, listen_url: str | None) -> None:
    """The issuer identity (DID and base URL) is fixed once, when the bank is set up, and stored
    with the keys. First run: ``CREDITBANK_BASE_URL`` if set, else the DID of certificates
    already in the database (a bank set up before identities were stored), else where ``serve``
    listens. Afterwards a different ``CREDITBANK_BASE_URL`` is refused: moving is
    ``creditbank keys move-domain``."""
    from creditbank.certificates import service as certificates
    from creditbank.certificates.keys import KeyStore, KeyStoreError
    from creditbank.kit import clock

    store = KeyStore(settings.keys_dir)
    configured = settings.base_url.rstrip("/") if settings.base_url else None
    try:
        identity = store.identity()
        if identity is None:
            with db.reader() as session:
                recorded = certificates.identity_on_record(session)
            chosen = configured or (recorded.base_url if recorded else None) or listen_url
            identity = store.ensure_identity(
                chosen or certificates.DEFAULT_BASE_URL,
                grace=settings.pdf_seal_grace(),
                name_zh=settings.bank_name_zh,
                name_en=settings.bank_name_en,
            )
            console.print(
                f"签发方身份已确定（此后不随端口或地址变化）：{identity.name_zh} · {identity.did} · "
                f"{identity.base_url}\n"
                f"Issuer identity fixed (never follows the port or address): {identity.name_en} · {identity.did} · "
                f"{identity.base_url} — stored in {store.identity_path}; to move: creditbank keys move-domain URL; "
                f"to rename: creditbank keys rename"
            )
    except (KeyStoreError, ValueError) as error:
        _fail(f"签发方身份无效 / issuer identity unusable: {error}")
    former = next((f for f in reversed(identity.previous) if f.base_url == configured), None)
    if configured and former is not None:
        moved_on = f"{clock.local(former.until):%Y-%m-%d}"
        _fail(
            f"本行已于 {moved_on} 从 {configured} 迁移到 {identity.base_url}（{identity.did}，见 "
            f"{store.identity_path}），但 CREDITBANK_BASE_URL 仍是旧地址。请设置 "
            f"CREDITBANK_BASE_URL={identity.base_url}（或取消这个变量）后再启动。只有确实要迁回旧地址时，"
            f"才运行 creditbank keys move-domain {configured}。\n"
            f"The bank moved from {configured} to {identity.base_url} ({identity.did}, in {store.identity_path}) "
            f"on {moved_on}, but CREDITBANK_BASE_URL still names the old address. Set "
            f"CREDITBANK_BASE_URL={identity.base_url} (or unset it) and start again. Only if you really mean "
            f"to move the bank back, run: creditbank keys move-domain {configured}."
        )
    if configured and configured != identity.base_url:
        _fail(
            f"CREDITBANK_BASE_URL={configured} 与本行的签发方身份 {identity.base_url}（{identity.did}，"
            f"设立时确定，见 {store.identity_path}）不同。要迁移到新地址，请运行 creditbank keys move-domain "
            f"{configured}；否则取消或改正 CREDITBANK_BASE_URL。\n"
            f"CREDITBANK_BASE_URL={configured} differs from the bank's issuer identity {identity.base_url} "
            f"({identity.did}, fixed at setup in {store.identity_path}). To move the bank to the new address "
            f"run: creditbank keys move-domain {configured}; otherwise unset or correct CREDITBANK_BASE_URL."
        )

    named = (settings.bank_name_zh, settings.bank_name_en)
    if any(named) and named != (identity.name_zh, identity.name_en):
        _fail(
            f"CREDITBANK_BANK_NAME_ZH/EN（{named[0] or '未设置'} / {named[1] or '未设置'}）与本行设立时确定的名称"
            f"（{identity.name_zh} / {identity.name_en}，见 {store.identity_path}）不同。要为今后签发的证书改名，"
            f"请运行 creditbank keys rename --zh 名称 --en NAME（已签发的证书保留原名）；否则取消这两个变量。\n"
            f"CREDITBANK_BANK_NAME_ZH/EN ({named[0] or 'unset'} / {named[1] or 'unset'}) differ from the bank's "
            f"name fixed at setup ({identity.name_zh} / {identity.name_en}, in {store.identity_path}). To rename "
            f"the bank for new certificates run: creditbank keys rename --zh NAME --en NAME (certificates already "
            f"issued keep their name); otherwise unset both."
        )


def _check_signing_key(settings: Settings) -> None:
    """Refuse to start when the active signing key cannot be loaded (e.g. a wrong
    ``CREDITBANK_KEY_PASSPHRASE``), instead of failing at the first certificate."""
    from creditbank.certificates.keys import KeyStoreError
    from creditbank.certificates.service import Issuer

    try:
        keys = Issuer(settings).keys
        keys.private_key(keys.ensure_active().kid)
    except KeyStoreError as error:
        _fail(f"签发密钥无法使用，服务未启动 / the signing key is unusable, not starting:\n{error}")


def _check_log_published(settings: Settings, db: Database) -> None:
    """Refuse to start on a database older than the transparency log the bank already published (a
    restore to an earlier point): it would sign checkpoints that contradict the published ones."""
    from creditbank.app import log_service
    from creditbank.translog.published import LogBehind, RecordError

    try:
        log_service(settings, db).settle_published()
    except LogBehind as exc:
        db.dispose()
        _fail(f"{exc.divergence.zh}\n{exc.divergence.en}", 1)
    except RecordError as exc:
        db.dispose()
        _fail(str(exc), 1)


def _apt_can_install() -> list[str] | None:
    """The command prefix that may run apt-get here (root, or sudo without a password), else None."""
    import os
    import shutil
    import subprocess

    if not shutil.which("apt-get") or not shutil.which("dpkg-query"):
        return None
    if os.geteuid() == 0:
        return []
    if shutil.which("sudo"):
        probe = subprocess.run(["sudo", "-n", "true"], capture_output=True, check=False)
        if probe.returncode == 0:
            return ["sudo", "-n"]
    return None


def _dpkg_installed(package: str) -> bool:
    import subprocess

    answer = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True, check=False
    )
    return "install ok installed" in answer.stdout


def _apt_install(prefix: list[str], packages: list[str]) -> bool:
    import os
    import subprocess

    env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
    install = [*prefix, "apt-get", "install", "-y", "--no-install-recommends", *packages]
    if subprocess.run(install, env=env, check=False).returncode == 0:
        return True
    # A fresh machine has no package lists yet: fetch them once and try again.
    subprocess.run([*prefix, "apt-get", "update"], env=env, check=False)
    return subprocess.run(install, env=env, check=False).returncode == 0


def _check_pdf_stack(install: bool) -> None:
    """Certificate PDFs need Pango, a Chinese font and (for speed) HarfBuzz's subsetter. On a
    Debian/Ubuntu machine where we may run apt-get, install what is missing; otherwise say
    plainly what is missing and how to fix it (the PDF route answers 503 ``pdf_unavailable``)."""
    from creditbank.certificates.pdf import readiness

    ready = readiness()
    if (not ready.ok or ready.slow) and install:
        prefix = _apt_can_install()
        missing = [p for p in ready.packages if prefix is not None and not _dpkg_installed(p)]
        if prefix is not None and missing:
            console.print(
                f"证书 PDF 需要 {' '.join(missing)}，正在安装（apt-get install {' '.join(missing)}；"
                f"不想自动安装请用 --no-install-fonts）\n"
                f"Certificate PDFs need {' '.join(missing)}: installing them now (apt-get install "
                f"{' '.join(missing)}; use --no-install-fonts to skip)"
            )
            if _apt_install(prefix, missing):
                ready = readiness()
    if not ready.ok:
        console.print(
            f"[bold yellow]警告：证书 PDF 不可用[/bold yellow]——缺少{ready.missing_zh}。{ready.fix_zh}。\n"
            f"[bold yellow]WARNING: certificate PDFs are unavailable[/bold yellow] — missing {ready.missing_en}. "
            f"To fix: {ready.fix_en}. (/healthz reports degraded; the PDF route answers 503 pdf_unavailable.)"
        )
    elif ready.slow:
        console.print(
            f"[yellow]注意：{ready.missing_zh}。{ready.fix_zh}。[/yellow]\n"
            f"[yellow]Note: missing {ready.missing_en}. To fix: {ready.fix_en}.[/yellow]"
        )


@app.command()
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    demo: Annotated[bool, typer.Option(help="Load the demo data first if the database is empty")] = False,
    install_fonts: Annotated[
        bool,
        typer.Option(
            help="If certificate PDFs lack a Chinese font or library and apt-get may run here (root or "
            "sudo -n), install the Debian packages (fonts-noto-cjk, libharfbuzz-subset0, Pango) at start",
            envvar="CREDITBANK_INSTALL_FONTS",
        ),
    ] = True,
) -> None:
    """Run the HTTP service. On first run it sets up the configured database
    (CREDITBANK_DATABASE_URL: a SQLite file is created; a PostgreSQL database must exist, its tables
    are created), the keys folder, the issuer identity and an operator token."""
    import uvicorn

    from creditbank.certificates.service import Issuer

    get_settings.cache_clear()
    settings = get_settings()
    listen_url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::', '') else host}:{port}"
    db = _prepare(settings, listen_url)
    _check_signing_key(settings)
    _check_log_published(settings, db)
    _check_pdf_stack(install_fonts)
    if not demo:
        from creditbank.deployment import address_problems

        for problem in address_problems(Issuer(settings).base_url):
            console.print(f"[bold yellow]⚠ 警告 WARNING[/bold yellow] {problem}")
    if demo:
        from creditbank import demo as demo_data

        if demo_data.is_empty(db):
            show_secrets(settings, demo_data.load(db, settings))
        else:
            console.print(_demo_not_loaded(settings, db), markup=False)
    from creditbank.app import log_service

    first = log_service(settings, db).checkpoint()  # recorded as published (keys/log-published.json)
    console.print(f"transparency log: {first.note.splitlines()[0]}, {first.size} entries")
    db.dispose()
    issuer = Issuer(settings)
    console.print(_serving_banner(settings, host, port, issuer.did, issuer.base_url))
    if issuer.base_url != listen_url:
        console.print(
            f"注意：本机监听 {listen_url}，证书链接与签发方身份仍为 {issuer.base_url}（设立时确定）。"
            f"对外地址变更请用 creditbank keys move-domain。\n"
            f"Note: listening on {listen_url}; certificate links and the issuer identity stay {issuer.base_url} "
            f"(fixed at setup). To change the public address: creditbank keys move-domain URL."
        )
    if settings.vc_api:
        console.print(
            f"[bold yellow]VC-API 测试端点已开启 / VC-API test endpoints ON[/bold yellow] "
            f"(CREDITBANK_VC_API): POST /credentials/issue, /credentials/verify, /presentations/verify · "
            f"测试签发方（仅供互操作测试，不是本行的签发密钥）/ test-only issuer, not the bank's key: {_vc_api_did(settings)}",
            emoji=False,  # "did:key:" is not the :key: emoji
        )
    uvicorn.run("creditbank.app:create_app", factory=True, host=host, port=port, workers=workers)


def _shown_url(url: str) -> str:
    """A database URL fit for a terminal or a log: the password masked."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _serving_banner(settings: Settings, host: str, port: int, did: str, base_url: str) -> str:
    """What ``serve`` prints once it is ready: where it listens, the database (and the read replica,
    when one is set) without their passwords — this line ends up in service logs — and the issuer."""
    replica = settings.database_replica_url
    return (
        f"creditbank on http://{host}:{port}  ·  API docs: http://{host}:{port}/docs  ·  "
        f"{_shown_url(settings.database_url)}"
        + (f"  ·  只读副本 read replica {_shown_url(replica)}" if replica else "")
        + f"\n签发方 issuer {did}  ·  证书链接 certificate links {base_url}"
    )


def _vc_api_did(settings: Settings) -> str:
    from creditbank.kit import multikey
    from creditbank.vcapi.service import load_test_key

    return multikey.did_key(load_test_key(settings.keys_dir).public_key())


@app.command("vc-api-did")
def vc_api_did() -> None:
    """The did:key the VC-API test endpoints sign with (the issuer id for a W3C test-suite manifest)."""
    console.print(_vc_api_did(get_settings()), emoji=False)


def _demo_not_loaded(settings: Settings, db: Database) -> str:
    """``serve --demo`` or ``demo`` on a database with data: the demo's logins were printed at the
    first start only (never stored: only hashes are), so say so and how to get back in."""
    from sqlalchemy.engine import make_url

    from creditbank import demo as demo_data

    url = make_url(settings.database_url)
    start_over = (
        f"从头开始：删除 {url.database} 和 {settings.keys_dir}/，再运行 creditbank serve --demo\n"
        f"    start over: delete {url.database} and {settings.keys_dir}/, then creditbank serve --demo"
        if url.get_backend_name() == "sqlite" and url.database
        else "从头开始：换一个空数据库和空的密钥文件夹\n    start over: an empty database and keys folder"
    )
    first = "数据库已有数据，未加载演示数据。\nThe database already has data; demo not loaded."
    if demo_data.is_loaded(db):
        first += (
            "\n演示数据已加载过，登录信息只在第一次启动时显示过（不保存）。\n"
            "The demo is already loaded; its logins were shown at first start only."
        )
    return (
        f"{first}\n"
        "忘记了登录信息 / lost the logins:\n"
        "  · 管理员：creditbank operator create 用户名（新建一个管理员账号）\n"
        "    operator: creditbank operator create USERNAME (a new operator account)\n"
        "  · 机构工作人员：creditbank staff create 用户名 --institution 代码 --role clerk\n"
        "    staff: creditbank staff create USERNAME --institution CODE --role clerk\n"
        "  · 学习者：登记学校重新发放激活单（工作台再次登记 → 忘记密码？重新发放激活单）\n"
        "    learner: their school issues a new activation slip (enrol again → new slip)\n"
        f"  · {start_over}"
    )


@app.command()
def demo() -> None:
    """Load the demo institutions, catalogue, learners and two years of completions."""
    from creditbank import demo as demo_data

    settings = get_settings()
    db = _prepare(settings)
    if not demo_data.is_empty(db):  # refused: exit 1, so a script does not carry on as if loaded
        console.print(_demo_not_loaded(settings, db), markup=False)
        raise typer.Exit(1)
    show_secrets(settings, demo_data.load(db, settings))


@app.command("import")
def import_file(
    file: Path,
    institution: Annotated[str, typer.Option("--institution", help="Institution code")],
    mode: Annotated[
        ImportMode,
        typer.Option(
            help="all_or_nothing: any bad row and nothing is imported (default); partial: import the "
            "good rows and list the rejected ones"
        ),
    ] = "all_or_nothing",  # type: ignore[assignment]
) -> None:
    """Import a CSV/XLSX of completions for an institution, with a progress bar; rejected rows are
    listed after it."""
    from creditbank.completions import imports
    from creditbank.completions.batchfile import FileInfo, Row, read_rows
    from creditbank.institutions import service as institutions

    settings = get_settings()
    _set_up_database(settings, upgrades=True).dispose()  # into a bank: never a new empty one
    db = _prepare(settings)
    mode = ImportMode(mode).value  # type: ignore[assignment]
    size = file.stat().st_size
    if size > settings.max_upload_bytes:
        console.print(CreditbankError("upload_too_large", {"limit_mb": settings.max_upload_bytes >> 20}))
        raise typer.Exit(1)
    info = FileInfo()
    read = [0]  # rows read from the file by its first pass (all-or-nothing reads it to check first)
    with (
        open(file, "rb") as handle,
        Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            _RowCount(),
            TimeElapsedColumn(),
            console=console,
        ) as progress,
    ):
        checking = progress.add_task(f"{file.name} 读取 read", total=None)
        writing = progress.add_task(f"{file.name} 导入 imported", total=None, visible=False)
        failure: CreditbankError | None = None
        passes = [0]
        try:
            with db.reader() as session:
                institution_id = institutions.get(session, institution).id

            def rows() -> Iterator[tuple[int, dict[str, Any]] | tuple[int, str, dict[str, Any]]]:
                passes[0] += 1
                counting = passes[0] == 1
                for count, r in enumerate(
                    read_rows(handle, filename=file.name, max_rows=settings.max_batch_rows, info=info),
                    start=1,
                ):
                    if counting and count % 512 == 0:
                        read[0] = count
                        progress.update(checking, completed=count)
                    yield (r.line, r.values) if isinstance(r, Row) else (r.line, r.code, r.params)
                    if counting:
                        read[0] = count
                if counting:
                    progress.update(checking, completed=read[0])

            def written(n: int) -> None:
                progress.update(writing, visible=True)
                progress.advance(writing, n)

            # Staged (completions.imports): checked, committed in chunks, published at once.
            report = imports.run(
                db,
                institution_id=institution_id,
                api_key_id=None,
                secret=settings.id_secret(),
                rows=rows,
                mode=mode,
                progress=written,
            )
        except CreditbankError as exc:
            failure = exc
    # After the progress bar, never into it.
    _print_file_info(info, file.name)
    if failure is not None:
        console.print(f"[red]{failure}[/red]")
        _print_rows(failure.errors or [])
        good = read[0] - len(failure.errors or [])
        if failure.code == "batch_rejected" and good > 0:
            are = "is" if good == 1 else "are"
            console.print(
                f"其余 {good} 行没有问题：改正上面列出的行后重新导入整个文件，或加 --mode partial 先导入这 {good} 行"
                f"（改正的行以后再导入）。\n"
                f"The other {good} {_rows_word(good)} {are} fine: fix the lines listed above and import the whole "
                f"file again, or add --mode partial to import those {good} now (and the fixed ones later).",
                markup=False,
            )
        raise typer.Exit(1)
    console.print(
        f"导入 {report.accepted} 行，已有 {report.replayed} 行，不合格 {report.rejected} 行，重复 {report.duplicates} 行 / "
        f"accepted {report.accepted}, replayed {report.replayed}, rejected {report.rejected}, "
        f"duplicates {report.duplicates}"
    )
    _print_rows(report.errors)
    _print_rows(report.warnings, total=report.duplicates)  # the report lists the first ones only


def _rows_word(n: int) -> str:
    return "row" if n == 1 else "rows"


class _RowCount(ProgressColumn):
    """The bar's count: "1 行 row", "2 行 rows" (Chinese first, the English plural right)."""

    def render(self, task: Any) -> Text:
        n = int(task.completed)
        return Text(f"{n} 行 {_rows_word(n)}")


def _print_file_info(info: Any, name: str) -> None:
    """How the file was read (once its header was found): the sheet, the header's line, the columns
    it has beyond the importer's."""
    if not info.header_line:
        return
    if info.sheet is not None:
        console.print(
            f"{name}：读取工作表“{info.sheet}”，表头在第 {info.header_line} 行 / read sheet "
            f"'{info.sheet}', header on line {info.header_line}",
            markup=False,
        )
    else:
        console.print(
            f"{name}：表头在第 {info.header_line} 行 / header on line {info.header_line}", markup=False
        )
    if info.ignored_columns:
        shown = "、".join(info.ignored_columns)
        console.print(f"未导入的列 / columns not imported: {shown}", markup=False)


def _print_rows(entries: list[dict[str, Any]], limit: int = 50, total: int | None = None) -> None:
    """Row errors or warnings, Chinese first then English, at most ``limit`` (and how many more of
    ``total``, when the list holds only the first ones)."""
    for entry in entries[:limit]:
        console.print(
            f"  第 {entry['line']} 行 line {entry['line']}: {entry['code']} — {entry['message_zh']} / {entry['message_en']}",
            markup=False,
            highlight=False,
        )
    total = len(entries) if total is None else total
    if total > limit:
        more = total - limit
        console.print(f"  …另有 {more} 行 / and {more} more {_rows_word(more)}")


IMPORT_STATES = {
    "running": "进行中 running",
    "failed": "失败 failed",
    "abandoned": "已放弃 abandoned",
    "stopped": "已中断（无心跳）stopped (no heartbeat)",
}


def _set_up_database(settings: Settings, *, replica: bool = False, upgrades: bool = False) -> Database:
    """The bank's existing database, for the commands that repair or inspect one: a URL that names
    no database, or one whose schema is older than this creditbank, is refused with a message (it
    would otherwise be created empty, or fail with a traceback on a missing table). ``replica``:
    with the read replica of the settings. ``upgrades``: the caller brings an older schema up to
    date itself (``_prepare``), so only a database that is missing or not set up is refused."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import OperationalError

    from creditbank.db import is_sqlite
    from creditbank.migrations import alembic_config

    url = settings.database_url
    shown = _shown_url(url)
    if is_sqlite(url):
        path = make_url(url).database
        if path and path != ":memory:" and not path.startswith("file:") and not Path(path).exists():
            _fail(
                f"找不到数据库 {shown}：请检查 CREDITBANK_DATABASE_URL（在哪个文件夹运行？）\n"
                f"No database at {shown}: check CREDITBANK_DATABASE_URL (and the folder you run in)",
                1,
            )
    try:
        db = Database(url, replica_url=settings.database_replica_url if replica else None)
    except ValueError:  # a replica URL beside a SQLite database (or naming one)
        _fail(
            f"CREDITBANK_DATABASE_REPLICA_URL 只能与 PostgreSQL 数据库一起使用（流复制），而数据库是 {shown}："
            f"请删除该设置或改用 PostgreSQL\nCREDITBANK_DATABASE_REPLICA_URL needs PostgreSQL on both sides "
            f"(streaming replication), and the database is {shown}: unset it or use PostgreSQL",
            1,
        )
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    try:
        with db.engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
    except OperationalError as exc:  # PostgreSQL down, or no such database or user
        db.dispose()
        _unreachable(url, exc)
    if current != head and (current is None or not upgrades):
        db.dispose()
        what = "尚未建立" if current is None else "的结构不是最新版本"
        _fail(
            f"数据库 {shown} {what}：请先运行一次 creditbank serve（它会建立或升级数据库）\n"
            f"The database at {shown} is {'not set up' if current is None else 'an older schema'}: "
            f"run creditbank serve once first (it sets up or upgrades the database)",
            1,
        )
    return db


@app.command()
def migrate() -> None:
    """把数据库结构升级到本版本，然后退出（发布新版本时的升级步骤）/ bring the database schema up to
    date, then exit (the upgrade step of a release; serve does it too). Prints the revision before
    and after. Several at once are safe: on PostgreSQL they take turns."""
    from creditbank.learners import secret as deployment_secret
    from creditbank.migrations import current_revision, upgrade

    settings = get_settings()
    url = settings.database_url
    try:
        before = current_revision(url)
        if before is not None and not settings.has_id_secret():
            db = Database(url)
            try:
                if deployment_secret.database_has_learners(db.engine):
                    exc = deployment_secret.MISSING
                    console.print(f"[red]{exc.zh}[/red]\n[red]{exc.en}[/red]")
                    raise typer.Exit(1)
            finally:
                db.dispose()
        upgrade(url, secret=settings.id_secret())
        after = current_revision(url)
    except DBAPIError as exc:
        if not connection_failed(exc):
            raise
        _unreachable(url, exc)
    shown = _shown_url(url)
    if before == after:
        console.print(f"数据库结构已是最新 / the schema is up to date: {after} ({shown})")
    else:
        console.print(f"数据库结构已升级 / schema upgraded: {before or '（空 / empty）'} → {after} ({shown})")


@app.command("abandon-import")
def abandon_import(
    import_id: Annotated[
        str | None,
        typer.Argument(
            help="导入编号（imp_…）；不填则列出未发布的导入 / the import's id; omit it to list them"
        ),
    ] = None,
    reason: Annotated[
        str, typer.Option("--reason", help="放弃的原因，记在每条冲销记录上 / why, kept on each reversed row")
    ] = "",
) -> None:
    """放弃一次失败或中断、不会再重发的批量导入：其待发布记录在账本上冲销（冲正交易，原记录保留）。不填编号：
    列出未发布的导入。Give up a batch import that failed or stopped and will not be sent again: its
    pending rows are reversed on the ledger (compensating transactions; the chain keeps both).
    Without an id: list the imports that did not publish."""
    from creditbank.completions import imports
    from creditbank.completions.service import LEASE
    from creditbank.institutions import service as institutions
    from creditbank.kit import clock

    db = _set_up_database(get_settings())
    if import_id is None:
        unfinished = imports.unfinished(db)
        if not unfinished:
            console.print("没有未发布的批量导入 / no batch import left unpublished")
            return
        with db.reader() as session:
            codes = {i.id: i.code for i in institutions.list_all(session)}
        now = clock.now()
        for item in unfinished:
            state = "stopped" if item.state == "running" and now - item.heartbeat_at > LEASE else item.state
            console.print(
                f"{item.id}  {codes.get(item.institution_id, item.institution_id)}  "
                f"{IMPORT_STATES.get(state, state)}  已写入 {item.rows} 行 rows written  "
                f"开始 started {item.started_at:%Y-%m-%d %H:%M} UTC  "
                f"最后心跳 last heartbeat {item.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC",
                highlight=False,
            )
        return
    try:
        count = imports.abandon(db, import_id=import_id, reason=reason or None)
    except CreditbankError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    console.print(f"{count} 条待发布记录已冲销 / pending rows reversed ({import_id})")


@app.command()
def audit() -> None:
    """Recompute balances, the hash chain, the deployment secret and every transparency-log leaf, tile
    and checkpoint from the rows; exit 1 naming the first row edited, deleted, inserted or reordered."""
    from creditbank.app import log_service
    from creditbank.audit import audit as run_audit
    from creditbank.certificates.keys import KeyStore
    from creditbank.learners import secret as deployment_secret
    from creditbank.translog import published
    from creditbank.translog.published import Record, RecordError

    settings = get_settings()
    if settings.secret is not None or (settings.keys_dir / "secret.key").exists():
        sealed.configure(settings.id_secret())  # certificates issued before migration 0005 are sealed
    db = _set_up_database(settings)
    if not settings.keys_dir.is_dir():
        from sqlalchemy import func, select

        from creditbank.translog.models import TranslogCheckpoint

        with db.reader() as session:
            signed = session.execute(select(func.count()).select_from(TranslogCheckpoint)).scalar_one()
        if signed:  # without the log's keys every checkpoint would be reported as edited
            db.dispose()
            _keys_folder(settings)
    log = log_service(settings, db)
    verifiers = log.verifiers()
    assert log.record is not None  # log_service always keeps the record
    problems: list[str] = []
    try:
        record = log.record.read()
    except RecordError as exc:
        record, problems = Record(None), [str(exc)]
    with db.reader() as session:
        report = run_audit(
            session,
            log_verifiers=verifiers,
            lost_leaves=record.lost_leaves(),
            certificate_keys=KeyStore(settings.keys_dir).get if settings.keys_dir.is_dir() else None,
        )
        # The secret the learners were matched with is part of what must be intact.
        report.problems += deployment_secret.audit(session, settings)
        # The database must still contain what the log published (a restore can take it back).
        divergence = published.compare(session, record.published)
    report.problems += problems
    if divergence is not None:
        report.problems += [divergence.zh, divergence.en]
    for reset in record.resets:  # a declared fork, or records lost, stay visible
        console.print(f"[yellow]{_reset_line(reset)}[/yellow]")
    console.print(
        f"{report.transactions} transactions, {report.postings} postings, {report.accounts} accounts, "
        f"{report.log_leaves} log entries"
    )
    if report.ok:
        console.print("[green]audit passed 审计通过[/green]")
        return
    for line in report.problems:
        console.print(f"[red]{line}[/red]")
    sys.exit(1)


@app.command()
def backup(
    file: Annotated[Path, typer.Argument(help="Where to write the copy (must not exist) 备份文件")],
) -> None:
    """Copy the live SQLite database to FILE, consistently, while the server runs (online backup).

    The secret (CREDITBANK_SECRET or keys/secret.key), the keys/ folder and the key passphrase are
    NOT in it: back them up separately (docs/operations.md). PostgreSQL: use pg_dump."""
    from creditbank import backup as backups

    settings = get_settings()
    try:
        size = backups.backup(settings.database_url, file)
    except backups.BackupError as exc:
        console.print(f"[red]{exc}[/red]")
        sys.exit(1)
    console.print(f"[green]备份完成 backup written[/green]: {file} ({size:,} bytes)")
    console.print(
        "另请备份密钥目录和部署密钥 / also keep the keys folder and the secret: "
        f"{settings.keys_dir} (docs/operations.md)"
    )


@app.command()
def restore(
    file: Annotated[Path, typer.Argument(help="A file written by `creditbank backup` 备份文件")],
    force: Annotated[bool, typer.Option("--force", help="Replace an existing database")] = False,
) -> None:
    """Restore the SQLite database from FILE, bring its schema up to date, then run `audit`.

    Put the keys folder and the secret back first: without the same secret, learners can no
    longer be matched by ID number, so restore refuses to start without one."""
    from creditbank import backup as backups
    from creditbank.migrations import upgrade

    settings = get_settings()
    if settings.secret is None and not (settings.keys_dir / "secret.key").exists():
        console.print(
            "[red]找不到部署密钥：请先恢复 keys/secret.key 或设置 CREDITBANK_SECRET / "
            f"no deployment secret: restore {settings.keys_dir / 'secret.key'} or set CREDITBANK_SECRET first[/red]"
        )
        sys.exit(1)
    try:
        target = backups.restore(file, settings.database_url, force=force)
    except backups.BackupError as exc:
        console.print(f"[red]{exc}[/red]")
        sys.exit(1)
    upgrade(settings.database_url, secret=settings.id_secret())
    console.print(f"[green]已恢复 restored[/green]: {target}")
    audit()


@app.command("expire-conversions")
def expire_conversions() -> None:
    """Release the credits locked by conversion requests nobody decided within 30 days (run daily)."""
    from creditbank.conversion.service import expire_pending

    settings = get_settings()
    with _set_up_database(settings).unit_of_work() as session:
        count = expire_pending(session)
    console.print(f"{count} 个过期申请已释放 / expired requests released")


@app.command("districts")
def districts_command(
    apply: Annotated[
        bool, typer.Option("--apply", help="改写可确定的写法 / rewrite the spellings that name one district")
    ] = False,
) -> None:
    """The bank's districts (its area list and resident population) and the other spellings stored on
    learners, institutions and awards, e.g. 重庆市永川区 for 永川区, which statistics count as a district
    of their own. --apply rewrites each spelling that names exactly one district; the rest are listed
    to fix."""
    from creditbank.institutions import districts
    from creditbank.stats import service as stats

    settings = get_settings()
    with _set_up_database(settings).unit_of_work() as session:
        known = districts.known(session)
        variants = stats.map_district_variants(session) if apply else stats.district_variants(session)
        if not apply:
            session.rollback()
    if not known:
        console.print(
            "本行还没有区域名录或常住人口：区县按填写的保存。请先在“统计 → 区域名录 / 常住人口”中录入。\n"
            "The bank has no area list or resident population yet: districts are kept as written. Enter them "
            "first (Statistics → Area list / Resident population)."
        )
        return
    console.print(f"本行的区县 / the bank's districts: {'、'.join(known)}")
    if not variants:
        console.print("没有其他写法 / no other spellings stored")
        return
    for v in variants:
        target = v.district or "？无法确定 / cannot tell — fix by hand"
        done = "已改写 / rewritten" if apply and v.district else ""
        console.print(
            f"  {v.written} → {target}  （学习者 {v.learners} 人 learners, 机构 {v.institutions} 个 institutions, "
            f"表彰 {v.awards} 项 awards）{done}",
            emoji=False,
        )
    if not apply and any(v.district for v in variants):
        console.print("加 --apply 改写以上可确定的写法 / add --apply to rewrite those that name one district")


@app.command("stats-refresh")
def stats_refresh() -> None:
    """Recompute the statistics kept for a large bank now (every period and district someone looked at,
    and the year to date), e.g. from a nightly cron job; figures computed per request are unaffected."""
    from creditbank.stats.snapshots import Policy, Statistics

    settings = get_settings()
    db = _set_up_database(settings, replica=True)
    statistics = Statistics(
        db,
        Policy(
            settings.stats_live_seconds,
            settings.stats_refresh_seconds,
            settings.stats_wait_seconds,
            settings.stats_statement_timeout_seconds,
        ),
    )
    stopped = False
    try:
        for key, seconds, seq in statistics.refresh_all():
            if isinstance(seq, CreditbankError):  # stopped at the statement timeout: the others go on
                console.print(f"[red]{key}: {seq}[/red]", emoji=False)
                stopped = True
                continue
            console.print(f"{key}: {seconds:.1f} s, 账本第 {seq} 笔 / ledger position {seq}", emoji=False)
    finally:
        statistics.close()
        db.dispose()
    if stopped:
        raise typer.Exit(1)


class StatsFormat(enum.StrEnum):
    table = "table"
    csv = "csv"
    json = "json"
    xlsx = "xlsx"


STATS_SHORT_NAMES = ("district", "township", "age_band", "gender", "category", "month", "rate")
"""``--figure district`` = ``participation-district``, ``--figure rate`` = ``participation-rate``."""


STATS_ALL_DISTRICTS = ("conversions", "certificates")
"""Figures of the whole bank: ``--district`` does not filter them (as ``GET /api/v1/stats/…``)."""


def _stats_date(text: str | None, option: str) -> Any:
    from datetime import date

    if text is None:
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        _fail(
            f"{option} 的日期“{text}”无效，请写成 年-月-日，如 2026-01-31\n"
            f"{option}: '{text}' is not a valid date; write it as YYYY-MM-DD, e.g. 2026-01-31"
        )


def _stats_table(figure: Any, district: str | None) -> str:
    """One figure as an aligned text table (terminal, mail from cron): Chinese headings over English
    ones, each cell as the dashboard's table shows it (``stats.figures.cell``/``shown``)."""
    from rich.cells import cell_len

    from creditbank.stats.figures import cell, shown

    columns = figure.columns
    lines = [f"== {figure.zh} / {figure.en} =="]
    where = []
    if figure.start and figure.end:
        where.append(f"统计期间 period: {figure.start.isoformat()} – {figure.end.isoformat()}")
    if figure.name in STATS_ALL_DISTRICTS:
        where.append("区县 district: 全部（本表不分区县）all (not by district)" if district else "")
    else:
        where.append(f"区县 district: {district or '全部 all'}")
    lines.append("    ".join(w for w in where if w))
    grid = [[c.title("zh") for c in columns], [c.title("en") for c in columns]]
    for row in figure.rows:
        line = []
        for column in columns:
            if column.kind == "label":
                zh, en = cell(column, row, "zh"), cell(column, row, "en")
                translated = any(ch.isascii() and ch.isalpha() for ch in str(en))  # not a place name
                line.append(f"{zh} {en}" if translated and zh != en else zh)
            else:
                line.append(shown(cell(column, row, "zh"), column))
        grid.append(line)
    widths = [max(cell_len(str(r[i])) for r in grid) for i in range(len(columns))]
    for n, row_cells in enumerate(grid):
        padded = []
        for i, (text, column) in enumerate(zip(row_cells, columns, strict=True)):
            gap = " " * (widths[i] - cell_len(str(text)))
            padded.append(f"{text}{gap}" if column.kind in ("label", "text") or n < 2 else f"{gap}{text}")
        lines.append("  ".join(padded).rstrip())
    if not figure.rows:
        lines.append("（无数据 / no rows）")
    for zh, en in figure.notes:
        lines.append(f"注 note: {zh}")
        lines.append(f"        {en}")
    return "\n".join(lines)


@app.command(
    "stats", short_help="统计数据，与仪表盘相同 / the district office's figures, as on the dashboard"
)
def stats(
    start: Annotated[
        str | None,
        typer.Option("--from", help="第一天 first day, YYYY-MM-DD（默认：当年 1 月 1 日 / 1 January)"),
    ] = None,
    end: Annotated[
        str | None,
        typer.Option("--to", help="最后一天（含）last day, included（默认：今天 / today, Beijing)"),
    ] = None,
    district: Annotated[
        str | None, typer.Option("--district", help="只统计这个区县 / only this district")
    ] = None,
    figure: Annotated[
        str | None,
        typer.Option(
            "--figure",
            help="只显示一个图表 / one figure: participation-district|-township|-age_band|-gender|"
            "-category|-month, participation-rate, coverage, credits, conversions, certificates "
            "(or district, …, month, rate)",
        ),
    ] = None,
    fmt: Annotated[
        StatsFormat,
        typer.Option(
            "--format",
            help="table（终端 terminal）, csv / xlsx（同仪表盘导出 as the dashboard's download）, "
            "json（同 API / as GET /api/v1/stats/…）",
        ),
    ] = StatsFormat.table,
    lang: Annotated[
        str, typer.Option("--lang", help="csv/xlsx 表头语言 / language of csv and xlsx headings: zh|en")
    ] = "zh",
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="写入文件（xlsx 必填）/ write to FILE (needed for xlsx)"),
    ] = None,
) -> None:
    """统计数据：与统计仪表盘和 GET /api/v1/stats/… 完全相同的数字（默认：当年至今）——按区县、乡镇/街道、
    年龄段、性别、类别、月份的参与人数与人次，参与率与目标，覆盖率，各机构各类别学分，学分转换，证书签发/核验/撤销。

    The district office's figures, the same numbers as the dashboard and the API (default: the
    year to date). Large bank: figures computed ahead are printed with "数据截至 … / figures as of …";
    `creditbank stats-refresh` recomputes them (e.g. nightly from cron). Definitions: docs/statistics.md."""
    import json

    from creditbank.stats import export, queries
    from creditbank.stats.snapshots import Policy, Statistics

    if lang not in ("zh", "en"):
        _fail(f"--lang 只能是 zh 或 en（填写的是“{lang}”）/ --lang must be zh or en (got '{lang}')")
    if fmt is StatsFormat.xlsx and output is None:
        _fail("xlsx 需要 --output 文件名 / xlsx needs --output FILE")
    name = figure
    if name is not None:
        name = name.strip()
        if name in STATS_SHORT_NAMES:
            name = f"participation-{name}"
        if name not in queries.FIGURES:
            allowed = ", ".join(queries.FIGURES)
            _fail(
                f"没有统计图表 {figure}，可选：{allowed}\nNo statistics figure {figure}; choose one of: {allowed}"
            )
    try:
        period = queries.Period.of(_stats_date(start, "--from"), _stats_date(end, "--to"))
    except CreditbankError as exc:
        _fail(f"{exc.message('zh')}\n{exc.message('en')}")
    settings = get_settings()
    db = _set_up_database(settings)
    if settings.database_replica_url:  # the figures read the replica, as the dashboard's do
        db.dispose()
        db = Database(settings.database_url, replica_url=settings.database_replica_url)
    # A terminal or cron job waits for figures nobody computed yet rather than being told to retry.
    policy = Policy(
        settings.stats_live_seconds,
        settings.stats_refresh_seconds,
        max(3600.0, settings.stats_wait_seconds),
        settings.stats_statement_timeout_seconds,
    )
    statistics = Statistics(db, policy)
    try:
        try:
            refreshing = False
            if name is not None:
                figures = [statistics.figure(name, period, district or None)]
            else:
                shown = statistics.dashboard(period, district or None)
                figures, refreshing = shown.figures, shown.stamp.refreshing
        except CreditbankError as exc:
            _fail(f"{exc.message('zh')}\n{exc.message('en')}", 1)
        data: bytes
        if fmt is StatsFormat.json:
            shaped = figures[0].as_json() if name is not None else [f.as_json() for f in figures]
            data = (json.dumps(shaped, ensure_ascii=False, indent=2) + "\n").encode()
        elif fmt is StatsFormat.csv:
            parts = []
            for f in figures:
                body = export.to_csv(f, lang).decode().removeprefix("\ufeff")
                parts.append(body if name is not None else f"{f.title(lang)}\r\n{body}")
            data = ("\ufeff" + "\r\n".join(parts)).encode()
        elif fmt is StatsFormat.xlsx:
            data = export.to_xlsx_book(figures, lang)
        else:
            from creditbank.stats.figures import as_of_text

            head = []
            zh, en = (as_of_text(figures[0].as_of, figures[0].ledger_seq, x) for x in ("zh", "en"))
            if zh:
                head.append(f"{zh}\n{en}\n")
            data = ("\n".join(head + [_stats_table(f, district) + "\n" for f in figures])).encode()
        if output is not None:
            output.write_bytes(data)
            console.print(f"已写入 written: {output} ({len(data):,} bytes)", highlight=False)
        else:  # a terminal or a pipe: no BOM (the file written with --output keeps it, for Excel)
            sys.stdout.write(data.decode().removeprefix("\ufeff"))
            sys.stdout.flush()
        if refreshing:
            typer.echo(
                "正在后台计算更新的数据，保存后本命令才结束 / newer figures are being computed; "
                "the command ends once they are kept",
                err=True,
            )
        statistics.drain()  # a refresh of kept figures this started finishes before the command exits
    finally:
        statistics.close()
        db.dispose()


operator_app = typer.Typer(help="Operator (district office) accounts 管理员账号", no_args_is_help=True)
app.add_typer(operator_app, name="operator")
staff_app = typer.Typer(help="Institution staff accounts 机构工作人员账号", no_args_is_help=True)
app.add_typer(staff_app, name="staff")


@operator_app.command("create")
def operator_create(
    username: Annotated[str, typer.Argument(help="Sign-in name 用户名 (a–z 0–9 ._-@)")],
    name: Annotated[str, typer.Option("--name", help="The person's name 姓名")] = "",
    password: Annotated[
        str,
        typer.Option(
            "--password", prompt=True, hide_input=True, confirmation_prompt=True, help="≥ 10 characters"
        ),
    ] = "",
) -> None:
    """Create an operator account (password + TOTP) for the district office's pages (/operator).

    Prints the TOTP secret and its otpauth:// URI once: add it to an authenticator app
    (e.g. 腾讯身份验证器, Google Authenticator, FreeOTP). Whoever runs this command holds the
    bootstrap operator's authority (the database and keys/ folder)."""
    from creditbank.errors import CreditbankError
    from creditbank.staff import service as staff_accounts

    settings = get_settings()
    db = _prepare(settings)
    try:
        with db.unit_of_work() as session:
            account, totp_secret = staff_accounts.create_operator(
                session, username=username, name=name, password=password, secret=settings.id_secret()
            )
    except CreditbankError as exc:
        _print_error(exc)
        raise typer.Exit(2) from None
    uri = staff_accounts.provisioning_uri(account.username, totp_secret)
    console.print(f"管理员账号已创建 Operator account created: {account.username}", emoji=False)
    console.print(
        f"  登录 Sign in: {settings.base_url or 'http://127.0.0.1:8000'}/operator/signin", emoji=False
    )
    show_secrets(  # the TOTP secret goes to a terminal only (else keys/first-run-secrets.txt, 0600)
        settings, f"  TOTP 密钥 secret (shown once 仅显示一次): {totp_secret}\n  otpauth URI: {uri}"
    )


@staff_app.command("create")
def staff_create(
    username: Annotated[str, typer.Argument(help="Sign-in name 用户名 (a–z 0–9 ._-@)")],
    institution: Annotated[str, typer.Option("--institution", help="Institution code 机构代码")],
    role: Annotated[list[str], typer.Option("--role", help="clerk and/or approver (repeat)")],
    name: Annotated[str, typer.Option("--name", help="The person's name 姓名")] = "",
    password: Annotated[
        str,
        typer.Option(
            "--password", prompt=True, hide_input=True, confirmation_prompt=True, help="≥ 10 characters"
        ),
    ] = "",
) -> None:
    """Create a staff account of an institution for the console (/console): clerk and/or approver."""
    from creditbank.errors import CreditbankError
    from creditbank.staff import service as staff_accounts

    settings = get_settings()
    _set_up_database(settings, upgrades=True).dispose()  # its institution is in a bank: never a new one
    db = _prepare(settings)
    try:
        with db.unit_of_work() as session:
            account = staff_accounts.create_staff(
                session,
                institution_code=institution,
                username=username,
                name=name or username,
                password=password,
                roles=role,
            )
    except CreditbankError as exc:
        _print_error(exc)
        raise typer.Exit(2) from None
    console.print(
        f"工作人员账号已创建 Staff account created: {account.username} ({account.roles})", emoji=False
    )


keys_app = typer.Typer(help="Issuer signing keys 签发密钥", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


def _keys_folder(settings: Settings) -> None:
    """Refuse a keys folder that does not exist (a mistyped CREDITBANK_KEYS_DIR, another working
    folder): the key commands would otherwise make a new key there — and ``log checkpoint`` would
    sign with it, leaving a checkpoint in the database that ``audit`` then reports as edited."""
    if not settings.keys_dir.is_dir():
        _fail(
            f"找不到密钥目录 {settings.keys_dir}：请检查 CREDITBANK_KEYS_DIR（在哪个文件夹运行？）；"
            f"creditbank serve 在首次运行时建立它\n"
            f"No keys folder at {settings.keys_dir}: check CREDITBANK_KEYS_DIR (and the folder you run in); "
            f"creditbank serve creates it on its first run",
            1,
        )


def _issuer(db: Database | None = None):
    """The issuer as stored with the keys; never set up here, and never taken from a default
    port: without ``issuer.json`` (a bank set up before identities were stored) the DID comes
    from the certificates in the database."""
    from creditbank.certificates import service as certificates
    from creditbank.certificates.keys import KeyStore

    settings = get_settings()
    _keys_folder(settings)
    fallback = None
    if db is not None and KeyStore(settings.keys_dir).identity() is None:
        with db.reader() as session:
            fallback = certificates.identity_on_record(session)
    return certificates.Issuer(settings, create=False, fallback=fallback)


@keys_app.command("list")
def keys_list() -> None:
    """Every issuer key with its status (active, retired, compromised)."""
    from creditbank.certificates.keys import describe
    from creditbank.kit import clock

    issuer = _issuer()
    issuer.keys.ensure_active()
    console.print(f"issuer {issuer.did}  ·  {issuer.base_url}")
    for former in issuer.identity.previous:
        console.print(f"  formerly {former.did}  ·  {former.base_url}  (until {former.until.isoformat()})")
    since = issuer.identity.pdf_seals_since
    if since is not None:
        shown = clock.iso_seconds(since)
        console.print(
            f"自 {shown} 起签发的证书，其 PDF 都带封印 / certificates issued from {shown} on have sealed PDFs"
        )
    for row in describe(issuer.keys.all()):
        console.print("  " + "  ".join(f"{k}={v}" for k, v in row.items() if v is not None))


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Start signing with a new key; the old one is retired but stays published."""
    from creditbank.certificates.keys import KeyStoreError

    try:
        key = _issuer().keys.rotate()
    except KeyStoreError as error:
        _fail(str(error))
    console.print(
        f"现在用密钥 {key.kid} 签名；旧密钥已停用但仍公布，它签发的证书继续有效。\n"
        f"The active key is now {key.kid}; the previous key is retired but stays published, so the "
        f"certificates it signed keep verifying."
    )


@keys_app.command("move-domain")
def keys_move_domain(
    new_url: Annotated[
        str, typer.Argument(help="The bank's new public base URL, e.g. https://xuefen.example.gov.cn")
    ],
) -> None:
    """Move the bank to a new public address: new certificates name the new DID; the old DID stays
    listed (alsoKnownAs, with its keys) so every certificate issued before keeps verifying."""
    from creditbank.certificates.keys import KeyStore, KeyStoreError

    settings = get_settings()
    _keys_folder(settings)
    try:
        moved = KeyStore(settings.keys_dir).move_domain(new_url)
    except (KeyStoreError, ValueError) as error:
        _fail(str(error))
    former = moved.previous[-1]
    console.print(
        f"签发方已迁移：{former.did} → {moved.did}（{moved.base_url}）。旧证书继续有效：旧 DID 列在新的 "
        f"did.json 的 alsoKnownAs 中。请重启 creditbank，并设置 CREDITBANK_BASE_URL={moved.base_url}（或不设置）；"
        f"旧地址最好把 /.well-known/did.json 重定向到新地址。\n"
        f"Issuer moved: {former.did} → {moved.did} ({moved.base_url}). Earlier certificates stay valid: "
        f"the old DID is listed under alsoKnownAs in the new did.json. Restart creditbank with "
        f"CREDITBANK_BASE_URL={moved.base_url} (or unset); ideally redirect the old address's "
        f"/.well-known/did.json to the new one."
    )


@keys_app.command("rename")
def keys_rename(
    zh: Annotated[str, typer.Option("--zh", help="中文名称，如 永川区学分银行")],
    en: Annotated[
        str, typer.Option("--en", help="English name, e.g. Yongchuan District Learning-Credit Bank")
    ],
) -> None:
    """Rename the bank (签发方) for certificates issued from now on; each certificate issued before
    keeps, and verifies with, the name it was signed with."""
    from creditbank.certificates.keys import KeyStore, KeyStoreError

    settings = get_settings()
    _keys_folder(settings)
    try:
        renamed = KeyStore(settings.keys_dir).rename(zh, en)
    except (KeyStoreError, ValueError) as error:
        _fail(str(error))
    console.print(
        f"签发方名称已改为：{renamed.name_zh} / {renamed.name_en}（今后签发的证书使用；已签发的证书保留原名）。"
        f"请重启 creditbank；如设置了 CREDITBANK_BANK_NAME_ZH/EN，请同样修改或取消。\n"
        f"The bank is now named {renamed.name_zh} / {renamed.name_en} on new certificates (those issued "
        f"before keep their name). Restart creditbank; change or unset CREDITBANK_BANK_NAME_ZH/EN if set."
    )


@keys_app.command("compromised")
def keys_compromised(
    kid: str,
    since: Annotated[
        str,
        typer.Option(
            help="泄露时间，ISO 8601；不写时区即北京时间（与运营页面相同），如 2026-01-31T16:00 或 "
            "2026-01-31T08:00:00Z / ISO time of the compromise; without a zone it is Beijing time "
            "(as on the operator's keys page), e.g. 2026-01-31T16:00 or 2026-01-31T08:00:00Z"
        ),
    ],
) -> None:
    """Mark a key compromised: what it signed from SINCE on no longer verifies."""
    from creditbank.certificates.keys import KeyStoreError
    from creditbank.kit import clock

    at = clock.parse_typed(since)
    if at is None:
        _fail(
            f"--since 的时间“{since}”无效，请写成 ISO 8601，如 2026-01-31T08:00:00Z（不写时区即北京时间）\n"
            f"--since: '{since}' is not a valid time; write it as ISO 8601, e.g. 2026-01-31T08:00:00Z "
            "(without a zone it is Beijing time)"
        )
    try:
        _issuer().keys.mark_compromised(kid, at)
    except KeyStoreError as error:
        _fail(str(error))
    utc, beijing = clock.iso_seconds(at), f"{clock.local(at):%Y-%m-%d %H:%M}"
    console.print(
        f"{kid} 已标记为泄露，自 {utc}（北京时间 {beijing}）起 / "
        f"{kid} marked compromised since {utc} ({beijing} Beijing time)"
    )


log_app = typer.Typer(help="Transparency log 透明日志", no_args_is_help=True)
app.add_typer(log_app, name="log")
log_keys_app = typer.Typer(help="The log's checkpoint keys 日志签名密钥", no_args_is_help=True)
log_app.add_typer(log_keys_app, name="keys")


def _log():
    from creditbank.app import log_service

    settings = get_settings()
    _keys_folder(settings)
    return log_service(settings, _set_up_database(settings))


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


def _reset_line(reset: dict) -> str:
    from creditbank.translog.published import when

    at = when(reset["at"])
    if "reappended" in reset:
        first, size = reset["reappended"]["from"], reset["reappended"]["to"]
        return (
            f"{at[0]} 恢复后从已公布日志的副本补回了第 {first}–{size - 1} 条，它们对应的记录已随恢复丢失 / {at[1]}: "
            f"entries {first}–{size - 1} were put back from a copy of the published log after a restore; the "
            f"records they stand for were lost with it"
        )
    abandoned = reset["abandoned"]
    published_at = when(abandoned["signed_at"])
    return (
        f"{at[0]} 恢复后重置了日志：放弃 {published_at[0]} 公布的检查点（{abandoned['size']} 条），从数据库的 "
        f"{reset['database_size']} 条继续 / {at[1]}: the log was reset after a restore — the checkpoint of "
        f"{abandoned['size']} entries published {published_at[1]} was abandoned and the log went on from the "
        f"database's {reset['database_size']} (evidence kept in keys/log-published.json)"
    )


@log_app.command("status")
def log_status() -> None:
    """The log in the database beside the newest checkpoint the bank published (keys/log-published.json).
    Reads only. Exit 0 when the database contains the published checkpoint, 1 when it does not."""
    import base64

    from creditbank.translog import service
    from creditbank.translog.published import RecordError, when

    log = _log()
    assert log.record is not None  # log_service always keeps the record
    try:
        record = log.record.read()
        divergence = log.divergence()
    except RecordError as exc:
        _fail(str(exc), 1)
    with log.db.reader() as session:
        size = service.head(session).size
        newest = service.latest(session)
    console.print(f"透明日志 transparency log: {log.origin()}")
    in_db = (
        f"最新检查点 newest checkpoint {newest.size}, root {base64.b64encode(newest.root).decode()}"
        if newest is not None
        else "没有检查点 no checkpoint"
    )
    console.print(f"数据库 database:   {size} 条 entries · {in_db}")
    mine = record.published
    if mine is None:
        console.print(f"已公布 published:  尚无记录 nothing recorded yet ({log.record.path})")
    else:
        console.print(
            f"已公布 published:  {mine.size} 条 entries · root {base64.b64encode(mine.root).decode()} · "
            f"{' · '.join(when(mine.signed_at))} ({log.record.path})"
        )
    for reset in record.resets:
        console.print(f"[yellow]{_reset_line(reset)}[/yellow]")
    if divergence is not None:
        console.print(f"[red]{divergence.zh}[/red]\n[red]{divergence.en}[/red]")
        raise typer.Exit(1)
    console.print(
        "[green]一致：数据库包含已公布的检查点 / consistent: the database contains the published log[/green]"
    )


@log_app.command("reset-after-restore")
def log_reset_after_restore(
    accept_fork: Annotated[
        bool,
        typer.Option(
            "--accept-fork",
            help="确认放弃已公布、但数据库中已不存在的检查点，日志从数据库继续（分叉）/ give up the published "
            "checkpoint the database no longer holds and go on from the database: a declared fork",
        ),
    ] = False,
    entries_from: Annotated[
        str | None,
        typer.Option(
            "--entries-from",
            help="已公布日志的副本（镜像地址，或存有其 log/tile/… 的文件夹）：从中补回丢失的条目，不分叉 / a copy "
            "of the published log (a mirror's address, or a folder holding its log/tile/…): put the lost "
            "entries back from it, without a fork",
        ),
    ] = None,
) -> None:
    """After a restore to an earlier point that cannot be undone. With --entries-from: put the
    published entries the database lost back from a copy of the published log (checked against the
    signed root), so the log goes on without a fork; the records they stand for stay lost. With
    --accept-fork: the log goes on from the database, abandoning the published checkpoint it no longer
    holds (kept as evidence); witnesses and verifiers holding it will see a fork."""
    from creditbank.translog import service
    from creditbank.translog.published import Published, RecordError, when

    log = _log()
    assert log.record is not None
    try:
        divergence = log.divergence()
    except RecordError as exc:
        _fail(str(exc), 1)
    if divergence is None:
        console.print(
            "数据库包含已公布的检查点，无需重置 / the database contains the published log: nothing to reset"
        )
        return
    if entries_from is not None:
        _reappend(log, divergence, entries_from)
        return
    if not accept_fork:
        console.print(f"{divergence.zh}\n{divergence.en}")
        _fail(
            "确认无法找回后，加 --accept-fork 再运行一次：日志将从数据库继续，这次分叉会被记下；如有已公布日志的"
            "镜像，先试 --entries-from 镜像。\n"
            "If it cannot be recovered, run this again with --accept-fork: the log goes on from the "
            "database and the fork is recorded. If a mirror of the published log exists, try "
            "--entries-from MIRROR first.",
            1,
        )
    with log.db.reader() as session:
        newest = service.latest(session)
        recorded = Published.of(newest) if newest is not None else None
    try:
        log.record.reset(divergence, recorded)
    except RecordError as exc:
        _fail(str(exc), 1)
    lost, size = divergence.published, divergence.database_size
    published_at = when(lost.signed_at)
    console.print(
        f"已记下分叉：放弃 {published_at[0]} 公布的检查点（{lost.size} 条，作为证据保存在 {log.record.path}），"
        f"日志从数据库的 {size} 条继续。请通知见证人：本日志在第 {size} 条之后分叉，请他们清除为本日志保存的"
        f"状态，否则会拒绝新的检查点；告诉验证者：恢复点之后签发的证书已不在数据库中，需要重新签发，"
        f"其 PDF 不会再通过在线验证。然后启动 creditbank serve。\n"
        f"Fork recorded: the checkpoint of {lost.size} entries published {published_at[1]} is abandoned "
        f"(kept as evidence in {log.record.path}); the log goes on from the database's {size} entries. "
        f"Tell your witnesses the log forks after entry {size} and that they must drop their state for it "
        f"(they refuse the new checkpoints until then); tell verifiers that certificates issued after the "
        f"restore point are gone from the database and must be issued again (their PDFs no longer verify "
        f"online). Then start creditbank serve."
    )


@log_app.command("record-published")
def log_record_published(
    source: Annotated[
        str,
        typer.Argument(
            help="本行公布过的检查点：文件（见证人保存的 <origin>.checkpoint、存下的 /log/checkpoint），或提供 "
            "/log/checkpoint 的镜像或 CDN 地址 / a checkpoint the bank published: a file (a witness's "
            "<origin>.checkpoint, a saved /log/checkpoint) or the address of a mirror or CDN serving /log/checkpoint"
        ),
    ],
) -> None:
    """Tell the bank of a checkpoint it published that keys/log-published.json does not hold — when
    keys/ itself came back from a backup, its record is only as new as that backup. The note must
    verify with the log's keys; the record only moves forward. Then `log status` compares with it."""
    from creditbank.kit import signednote as sn
    from creditbank.translog.client import FetchError, client_for
    from creditbank.translog.published import Published, RecordError

    log = _log()
    assert log.record is not None
    try:
        if source.startswith(("http://", "https://")):
            note = client_for(source).checkpoint_note()
        else:
            note = Path(source).read_text(encoding="utf-8")
        checkpoint, _ = sn.open_checkpoint(note, log.verifiers())
    except (OSError, FetchError, sn.NoteError, UnicodeDecodeError) as exc:
        _fail(f"不是本行日志签署的检查点 / not a checkpoint signed by this bank's log: {exc}", 1)
    try:
        recorded = log.record.advance(
            Published(checkpoint.origin, checkpoint.size, checkpoint.root, note, "")
        )
        held = log.record.read().published
    except RecordError as exc:
        _fail(str(exc), 1)
    if not recorded:
        console.print(
            f"记录中已有同样大或更大的检查点（{held.size if held else 0} 条），未改动 / the record already holds a "
            f"checkpoint at least as large ({held.size if held else 0} entries): unchanged"
        )
        return
    console.print(
        f"已记下本行公布过的检查点（{checkpoint.size} 条）；请运行 creditbank log status 与数据库比较 / recorded the "
        f"checkpoint of {checkpoint.size} entries the bank published; run creditbank log status to compare the "
        f"database with it"
    )


def _reappend(log: Any, divergence: Any, source: str) -> None:
    """``reset-after-restore --entries-from``: the published entries the database lost, back from a copy."""
    from creditbank.translog import service
    from creditbank.translog.client import FetchError, client_for
    from creditbank.translog.published import RecordError

    lost = divergence.published
    if not divergence.older:
        _fail(
            f"数据库的日志已有 {divergence.database_size} 条，与已公布的不同，无法补回：请先重新恢复数据库，"
            f"在写入任何新记录之前运行本命令。\nThe database's log has {divergence.database_size} entries and "
            f"differs from the published one: nothing can be put back. Restore the database again and run "
            f"this before anything new is written.",
            1,
        )
    first = divergence.database_size
    try:
        entries = client_for(source).entries_between(first, lost.size)
    except FetchError as exc:
        _fail(
            f"无法从 {source} 读取第 {first}–{lost.size - 1} 条 / cannot read entries {first}–{lost.size - 1} "
            f"from {source}: {exc}",
            1,
        )
    try:
        with log.db.unit_of_work() as session:
            service.reappend(session, log.keys, lost, entries, first=first)
    except service.LogForked as exc:
        _fail(f"没有补回任何条目 / nothing was put back: {exc}", 1)
    try:
        log.record.reappended(first, lost.size)
    except RecordError as exc:
        _fail(str(exc), 1)
    console.print(
        f"已从 {source} 补回第 {first}–{lost.size - 1} 条（{lost.size - first} 条），数据库重新包含已公布的检查点"
        f"（{lost.size} 条），日志不分叉，见证人无需任何操作。这些条目对应的记录（证书、撤销、记账）仍随恢复丢失："
        f"请各机构重新登记恢复点之后的学习成果，丢失的证书需要重新签发。然后启动 creditbank serve。\n"
        f"Put back entries {first}–{lost.size - 1} ({lost.size - first}) from {source}: the database holds the "
        f"published checkpoint of {lost.size} again, the log does not fork and witnesses need do nothing. The "
        f"records those entries stand for (certificates, revocations, postings) are still lost with the "
        f"restore: institutions must post again what they recorded after the restore point, and lost "
        f"certificates must be issued again. Then start creditbank serve."
    )


@log_app.command("verify-consistency")
def log_verify_consistency(
    old: Annotated[Path, typer.Argument(help="A checkpoint you kept (file)")],
    new: Annotated[
        str, typer.Argument(help="A newer checkpoint: a file, or the bank's URL to fetch it from")
    ],
    log_key: Annotated[list[str], typer.Option("--log-key", help="The log's vkey (repeat for rotated keys)")],
    url: Annotated[
        str | None, typer.Option(help="Where to read tiles for the proof (default: NEW when it is a URL)")
    ] = None,
) -> None:
    """Is NEW an extension of OLD? Only the log's public key and the tiles are needed.

    Exit 0 consistent, 1 not (the log rewrote its history), 2 unusable input."""
    from creditbank.kit import merkle
    from creditbank.kit import signednote as sn
    from creditbank.translog.client import FetchError, LogClient

    try:
        keys = [sn.parse_vkey(k) for k in log_key]
        old_checkpoint, _ = sn.open_checkpoint(old.read_text(encoding="utf-8"), keys)
        if new.startswith(("http://", "https://")):
            base = new.removesuffix("/").removesuffix("/log/checkpoint")
            client = LogClient(url or base)
            note = LogClient(base).checkpoint_note()
        else:
            if url is None:
                console.print("NEW is a file: give --url, the bank whose tiles prove it")
                raise typer.Exit(2)
            client, note = LogClient(url), Path(new).read_text(encoding="utf-8")
        new_checkpoint, _ = sn.open_checkpoint(note, keys)
        if new_checkpoint.origin != old_checkpoint.origin:
            console.print(f"[red]different logs: {old_checkpoint.origin} / {new_checkpoint.origin}[/red]")
            raise typer.Exit(2)
        a, b = old_checkpoint, new_checkpoint
        if a.size > b.size:
            a, b = b, a
        if a.size == b.size:
            consistent = a.root == b.root
        elif a.size == 0:
            consistent = a.root == merkle.EMPTY_ROOT
        else:
            proof = client.tree(b.size).consistency_proof(a.size)
            consistent = merkle.verify_consistency(a.size, b.size, proof, a.root, b.root)
    except (OSError, sn.NoteError, FetchError) as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    if consistent:
        console.print(f"[green]一致 CONSISTENT[/green]: {a.origin} size {a.size} → {b.size}")
        return
    console.print(
        f"[red]不一致 NOT CONSISTENT[/red]: {a.origin} size {a.size} is not a prefix of size {b.size} — "
        "the log rewrote its history; keep both checkpoints as evidence"
    )
    raise typer.Exit(1)


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


EXIT_VALID, EXIT_INVALID, EXIT_UNUSABLE, EXIT_UNCHECKED, EXIT_NO_ANSWER, EXIT_KEY_MISSING = 0, 1, 2, 3, 4, 5
_EXIT_CODES = {
    "valid": EXIT_VALID,
    "revoked": EXIT_INVALID,
    "invalid": EXIT_INVALID,
    "unchecked": EXIT_UNCHECKED,
    "unknown_key": EXIT_KEY_MISSING,
}


def _read_target(target: str):
    """A link or a bare ``CB1.…`` payload is text; anything else must be a file that exists."""
    from creditbank.verification import inputs

    text = target.strip()
    if "://" in text or text.startswith("CB1."):
        return inputs.from_text(text)
    path = Path(target)
    try:
        if path.is_file():
            return inputs.from_bytes(path.read_bytes(), path.name)
        missing = not path.exists()
    except OSError:  # e.g. a name too long to be a file
        missing = True
    if missing:
        raise CreditbankError("file_not_found", {"path": target})
    raise CreditbankError("unusable_input", {"reason": f"{target} 不是文件 / {target} is not a file"})


def _load_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        raise CreditbankError("file_not_found", {"path": str(path)}) from None


def _print_error(exc: CreditbankError) -> None:
    """Both languages, each message in its own (errors.render gives a "中文 / English" reason to each
    language its half)."""
    console.print(f"[red]{exc.message('zh')} / {exc.message('en')}[/red] ({exc.code})")


@app.command()
def verify(
    target: Annotated[
        str,
        typer.Argument(
            help="A PDF, PNG/JPEG photo of the QR, credential JSON file, a link (…/v/crt_…, with or "
            "without its #CB1.… fragment) or a bare CB1.… payload"
        ),
    ],
    offline: Annotated[bool, typer.Option(help="Use only a key file: no database, no network")] = False,
    keys: Annotated[
        Path | None,
        typer.Option(help="The bank's /api/v1/keys, /.well-known/did.json or jwks.json (with --offline)"),
    ] = None,
    status_list: Annotated[
        Path | None,
        typer.Option(
            help="A saved status list (GET /api/v1/status-lists/N, the list the certificate names) to "
            "check revocation offline; its signature is checked with --keys"
        ),
    ] = None,
    log_keys: Annotated[
        list[str] | None,
        typer.Option("--log-keys", help="The log's key: a saved /api/v1/log/keys or a vkey (with --offline)"),
    ] = None,
    witness: Annotated[
        list[str] | None, typer.Option("--witness", help="A witness vkey you trust (repeat; with --quorum)")
    ] = None,
    quorum: Annotated[
        int, typer.Option(help="How many of the --witness keys must cosign the checkpoint")
    ] = 0,
) -> None:
    """Verify a certificate. Without --offline, a link, PDF, photo of the QR or credential JSON is
    sent to the bank it names (POST <bank>/api/v1/verify: the link's bank, everything before /v/)
    wherever that bank is not this machine's (no database here, or another bank's address); this
    bank's own are checked in the database and keys/ the CREDITBANK_* variables give. --offline uses
    only --keys (and --status-list).

    Exit codes: 0 valid · 1 invalid or revoked · 2 unusable input (file not found, unreadable, a
    link without its fragment offline) · 3 signature genuine but revocation not checked (offline
    without --status-list) · 4 the bank a link names could not be reached or answered an error · 5
    the --keys file lacks the key that signed (saved before the bank rotated its key, or another
    bank's): download the bank's keys again, from the address printed."""
    from creditbank.verification import offline as offline_verifier

    try:
        submitted = _read_target(target)
        if offline:
            if keys is None:
                raise CreditbankError(
                    "unusable_input",
                    {
                        "reason": "--offline 需要 --keys FILE / --offline needs --keys FILE (the bank's /api/v1/keys or did.json)"
                    },
                )
            log_verifiers = offline_verifier.load_log_keys(
                [_load_file(Path(k)) if Path(k).is_file() else k for k in log_keys or []]
            )
            witnesses = offline_verifier.load_log_keys(witness or [])
            if quorum > len(witnesses):
                raise CreditbankError(
                    "unusable_input",
                    {
                        "reason": f"--quorum {quorum} 需要至少 {quorum} 个 --witness / needs {quorum} --witness keys"
                    },
                )
            result = offline_verifier.verify(
                submitted,
                _load_file(keys),
                _load_file(status_list) if status_list else None,
                log_keys=log_verifiers,
                witnesses=witnesses,
                quorum=quorum,
                key_file_name=str(keys),
            )
        elif (bank := _bank_to_ask(submitted)) is not None:
            result = _verify_at_the_bank(bank, target.strip(), submitted)
        else:
            result = _verify_online(submitted)
    except CreditbankError as exc:
        _print_error(exc)
        raise typer.Exit(EXIT_INVALID if exc.code == "certificate_not_found" else EXIT_UNUSABLE) from None
    _print_verdict(result, offline=offline, submitted=submitted)
    raise typer.Exit(_EXIT_CODES[result["verdict"]])


def _missing_database(settings) -> str | None:
    """The SQLite file the settings name when it is not there (this is not the bank's machine)."""
    from sqlalchemy.engine import make_url

    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
        return url.database
    return None


def _same_address(a: str, b: str) -> bool:
    from urllib.parse import urlsplit

    one, other = urlsplit(a.strip()), urlsplit(b.strip())
    try:
        ports = (one.port, other.port)
    except ValueError:  # a port that is not a number: no bank's address
        return False
    default = {"http": 80, "https": 443}
    return (
        one.scheme.lower() == other.scheme.lower()
        and one.hostname == other.hostname
        and (ports[0] or default.get(one.scheme.lower())) == (ports[1] or default.get(other.scheme.lower()))
        and one.path.rstrip("/") == other.path.rstrip("/")
    )


def _bank_to_ask(submitted) -> str | None:
    """The bank to send ``submitted`` to: the one its link names (a link given, a PDF's or a
    photo's QR) or, for a credential without one, the one its ``id`` names — unless that bank is
    this machine's (its database here and its address, now or before ``keys move-domain``, the
    same), whose database answers. None: nothing names a bank, or this machine is that bank."""
    bank = submitted.bank
    credential_id = (submitted.credential or {}).get("id")
    marker = "/api/v1/certificates/"
    if bank is None and isinstance(credential_id, str) and "://" in credential_id and marker in credential_id:
        bank = credential_id.rsplit(marker, 1)[0]
    if bank is None or _verified_here(bank):
        return None
    return bank


def _verified_here(bank: str) -> bool:
    """Is ``bank`` this machine's bank, to check in its database? Not where there is no database
    (an employer's machine), nor for another bank's address (none of this bank's, now or before
    ``keys move-domain``): that database would only say "not found". Without a keys folder the
    local check says what is missing."""
    settings = get_settings()
    if _missing_database(settings):
        return False
    if not settings.keys_dir.is_dir():
        return True
    db = Database(settings.database_url)
    try:
        issuer = _issuer(db)
    finally:
        db.dispose()
    addresses = [issuer.base_url, *(former.base_url for former in issuer.identity.previous)]
    return any(_same_address(bank, address) for address in addresses)


_MEDIA_TYPES = {"pdf": "application/pdf", "json": "application/json"}


def _verify_at_the_bank(bank: str, target: str, submitted) -> dict:
    """Ask ``bank`` for the verdict, as the web page and POST /api/v1/verify give it: a link as
    ``{"url": …}``, a file (PDF, photo of the QR, credential JSON) as it is — the bank checks the
    file's bytes, its integrity and its status itself."""
    import json
    import urllib.error
    import urllib.request

    if submitted.source in ("url", "payload"):  # a link, given or in a text file
        link = target if "://" in target else Path(target).read_text("utf-8", "replace").strip()
        data, media_type = json.dumps({"url": link}).encode(), "application/json"
    else:
        data = Path(target).read_bytes()
        media_type = _MEDIA_TYPES.get(
            submitted.source, "image/png" if data.startswith(b"\x89PNG") else "image/jpeg"
        )

    def ask(lang: str) -> tuple[int, bytes]:
        request = urllib.request.Request(
            f"{bank}/api/v1/verify",
            data=data,
            headers={"Content-Type": media_type, "Accept-Language": lang},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def problem(body: bytes) -> dict:
        """SPEC §4's problem+json, or nothing when whatever answered is not a creditbank."""
        try:
            answer = json.loads(body)
        except ValueError:
            return {}
        return answer if isinstance(answer, dict) and "code" in answer else {}

    try:
        status, body = ask("zh-CN")
        if status == 200:
            verdict = json.loads(body)
            if isinstance(verdict, dict) and verdict.get("verdict") in _EXIT_CODES:
                console.print(f"由 {bank} 验证 / verified by {bank}", markup=False)
                return verdict
        refusal = problem(body) if status != 200 else {}
        zh = str(refusal.get("detail", ""))
        en = str(problem(ask("en")[1]).get("detail", "")) if refusal else ""
    except (urllib.error.URLError, OSError, ValueError) as exc:
        console.print(
            f"无法连接发证机构 {bank}：{exc}\ncould not reach the bank at {bank}: {exc}",
            style="red",
            markup=False,
        )
        raise typer.Exit(EXIT_NO_ANSWER) from None
    console.print(
        f"{bank} 答复 HTTP {status}：{zh}\n{bank} answered HTTP {status}: {en}", style="red", markup=False
    )
    if refusal.get("code") == "certificate_not_found":  # as the bank's own database would say
        raise typer.Exit(EXIT_INVALID)
    if refusal and status in (400, 413, 415, 422):  # the bank read the link and says what is wrong
        raise typer.Exit(EXIT_UNUSABLE)
    raise typer.Exit(EXIT_NO_ANSWER)


def _verify_online(submitted) -> dict:
    from creditbank.verification.online import OnlineVerifier

    settings = get_settings()
    missing = _missing_database(settings)
    if missing:
        raise CreditbankError(
            "unusable_input",
            {
                "reason_zh": f"没有数据库 {missing}，而所给内容不含发证机构的链接：请给出证书的 PDF、二维码照片或链接，"
                "在本行服务器上运行，或离线验证（--offline --keys FILE）",
                "reason_en": f"no database at {missing}, and what was given names no bank's link: give the "
                "certificate's PDF, a photo of its QR code or its link, run this where the bank runs, or verify "
                "offline (--offline --keys FILE)",
            },
        )
    sealed.configure(settings.id_secret())
    db = Database(settings.database_url)
    from creditbank.app import log_service

    return OnlineVerifier(db, _issuer(db), log_service(settings, db)).verify_input(submitted)


def _print_verdict(result: dict, *, offline: bool = False, submitted=None) -> None:
    labels = {
        "valid": "[green]有效 VALID[/green]",
        "revoked": "[yellow]已撤销 REVOKED[/yellow]",
        "invalid": "[red]无效 INVALID[/red]",
        "unchecked": "[yellow]签名真实；未检查撤销状态 SIGNATURE GENUINE; REVOCATION NOT CHECKED[/yellow]",
        "unknown_key": "[yellow]无法核验：密钥文件中没有签名密钥 NOT CHECKED: THE KEY FILE LACKS THE SIGNING KEY[/yellow]",
    }
    console.print(labels[result["verdict"]])
    for name, check in result["checks"].items():
        mark = {True: "✓", False: "✗", None: "—"}[check["ok"]]
        console.print(f"  {mark} {name}: {check['detail']}")
    for note in result.get("notes", []):
        console.print(f"  · {note}")
    certificate = result.get("certificate") or {}
    if certificate:
        console.print(
            f"  {certificate.get('id')} · {certificate.get('learner_name')} · {certificate.get('total_credits')} 学分"
        )
    missing = result.get("missing_key") or {}
    if result["verdict"] == "unknown_key" and missing.get("keys_url"):
        file, kid = missing.get("key_file") or "bank-keys.json", missing.get("kid")
        fetch = f"curl -s {missing['keys_url']} > {file}"
        console.print(
            f"  密钥文件 {file} 中没有密钥 {kid}（可能保存于发证机构更换密钥之前）。请重新下载后再核验：{fetch}\n"
            f"  The key file {file} lacks key {kid} (probably saved before the bank rotated its key). "
            f"Download it again, then verify: {fetch}",
            markup=False,
        )
    if result["verdict"] == "unchecked" and offline:
        entry = ((getattr(submitted, "credential", None) or {}).get("credentialStatus")) or {}
        where = entry.get("statusListCredential") or "<bank>/api/v1/status-lists/N"
        console.print(
            f"  要核对撤销状态：在线验证，或保存状态列表后加 --status-list：curl -s {where} > status.json\n"
            f"  To check revocation: verify online, or save the status list and add --status-list: "
            f"curl -s {where} > status.json"
        )


def _name_the_environment(typer_app: typer.Typer) -> None:
    """Every command's --help ends by naming the database and the CREDITBANK_* variables."""
    typer_app.info.epilog = typer_app.info.epilog or ENVIRONMENT_HELP
    for command in typer_app.registered_commands:
        command.epilog = command.epilog or ENVIRONMENT_HELP
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            _name_the_environment(group.typer_instance)


_name_the_environment(app)


if __name__ == "__main__":
    app()
