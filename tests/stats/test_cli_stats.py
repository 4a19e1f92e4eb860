"""``creditbank stats`` as a district office's operator runs it from a terminal or a cron job: the
figures printed are the API's for the same data (SPEC §3.9, §5), on SQLite and PostgreSQL; json has
the API's shape; a bad date or figure name is said in both languages with exit ≠ 0 (no traceback);
an empty bank prints zeros; --district filters."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from creditbank.cli import app
from creditbank.config import Settings, get_settings
from creditbank.stats.queries import FIGURES
from tests.conftest import OPERATOR
from tests.stats.test_statistics import PERIOD, build, formula_world

GROUPS = ("district", "township", "age_band", "gender", "category", "month")
API_PATHS = {  # figure -> (path under /api/v1/stats/, extra query)
    **{f"participation-{g}": ("participation", {"group_by": g}) for g in GROUPS},
    **{
        name: (name, {})
        for name in ("participation-rate", "coverage", "credits", "conversions", "certificates")
    },
}
NO_PERIOD = {"coverage"}
NO_DISTRICT = {"conversions", "certificates"}


def run(
    settings: Settings,
    *args: str,
    monkeypatch: pytest.MonkeyPatch,
    live_seconds: str = "60",
    refresh_seconds: str = "600",
):
    monkeypatch.setenv("CREDITBANK_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("CREDITBANK_KEYS_DIR", str(settings.keys_dir))
    monkeypatch.setenv("CREDITBANK_SECRET", "test-secret")
    # As the test app: computed for every run, never kept (unless a test asks for kept figures).
    monkeypatch.setenv("CREDITBANK_STATS_LIVE_SECONDS", live_seconds)
    monkeypatch.setenv("CREDITBANK_STATS_REFRESH_SECONDS", refresh_seconds)
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(app, ["stats", *args], env={"COLUMNS": "300"})
    finally:
        get_settings.cache_clear()


def api(client, name: str, **params: str) -> dict:
    path, extra = API_PATHS[name]
    query = {} if name in NO_PERIOD else dict(PERIOD)
    if "district" in params and name not in NO_DISTRICT:
        query["district"] = params["district"]
    r = client.get(f"/api/v1/stats/{path}", params=query | extra, headers=OPERATOR)
    assert r.status_code == 200, r.text
    return r.json()


def test_every_figure_printed_as_json_is_the_apis_for_the_same_data_and_district(
    client, settings, monkeypatch
):
    build(client)
    period = ["--from", PERIOD["from"], "--to", PERIOD["to"]]
    result = run(settings, *period, "--format", "json", monkeypatch=monkeypatch)
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert [f["figure"] for f in printed] == [
        "participation-rate",
        *[f"participation-{g}" for g in GROUPS],
        "coverage",
        "credits",
        "conversions",
        "certificates",
    ]
    assert sorted(f["figure"] for f in printed) == sorted(FIGURES)
    for figure in printed:
        assert figure == api(client, figure["figure"]), figure["figure"]
    assert any(row["learners"] for row in printed[1]["rows"])  # the world has participants to compare

    one = run(
        settings,
        *period,
        "--district",
        "永川区",
        "--figure",
        "township",
        "--format",
        "json",
        monkeypatch=monkeypatch,
    )
    assert one.exit_code == 0, one.output
    township = json.loads(one.stdout)
    assert township == api(client, "participation-township", district="永川区")
    keys = [row["key"] for row in township["rows"] if row["learners"]]
    assert keys and not any(k and k.startswith("临淄区") for k in keys)
    everywhere = api(client, "participation-township")
    assert len(everywhere["rows"]) > len(township["rows"])  # the filter removed the other district


def test_the_table_shows_the_apis_numbers_and_the_csv_is_the_dashboards_export(
    client, settings, monkeypatch, tmp_path
):
    build(client)
    period = ["--from", PERIOD["from"], "--to", PERIOD["to"]]
    result = run(settings, *period, "--figure", "participation-gender", monkeypatch=monkeypatch)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "== 按性别的学习参与 / Participation by gender =="
    assert "参与人数" in lines[2] and "learners" in lines[3]
    for row in api(client, "participation-gender")["rows"]:
        shown = next(line for line in lines if line.startswith(f"{row['label_zh']} {row['label_en']} "))
        assert shown.split()[-2:] == [f"{row['learners']:,}", f"{row['completions']:,}"]

    exported = client.get(
        "/api/v1/stats/participation",
        params=PERIOD | {"group_by": "gender", "format": "csv"},
        headers=OPERATOR,
    )
    csv_run = run(
        settings, *period, "--figure", "participation-gender", "--format", "csv", monkeypatch=monkeypatch
    )
    assert csv_run.exit_code == 0, csv_run.output
    assert csv_run.stdout_bytes == exported.content.removeprefix("\ufeff".encode())  # no BOM on a terminal
    saved = tmp_path / "gender.csv"
    to_file = run(
        settings, *period, "--figure", "gender", "--format", "csv", "-o", str(saved), monkeypatch=monkeypatch
    )
    assert to_file.exit_code == 0 and str(saved) in to_file.output, to_file.output
    assert saved.read_bytes() == exported.content  # the file Excel opens: with its BOM


def test_an_empty_bank_prints_zeros_not_an_error(settings, monkeypatch):
    result = run(settings, "--figure", "conversions", monkeypatch=monkeypatch)
    assert result.exit_code == 0, result.output
    counts = [line.split()[2] for line in result.stdout.splitlines()[4:10]]
    assert counts == ["0"] * 6, result.stdout
    whole = run(settings, "--format", "json", monkeypatch=monkeypatch)
    assert whole.exit_code == 0, whole.output
    assert len(json.loads(whole.stdout)) == len(FIGURES)


@pytest.mark.parametrize(
    ("args", "zh", "en"),
    [
        (["--from", "2026-13-01"], "日期“2026-13-01”无效", "not a valid date"),
        (["--from", "2026-06-30", "--to", "2026-01-01"], "晚于结束日期", "starts (2026-06-30) after it ends"),
        (
            ["--figure", "bogus"],
            "没有统计图表 bogus，可选：participation-district",
            "choose one of: participation-district",
        ),
        (["--format", "xlsx"], "需要 --output", "needs --output"),
    ],
)
def test_a_bad_date_or_figure_is_refused_in_both_languages(sqlite_settings, monkeypatch, args, zh, en):
    result = run(sqlite_settings, *args, monkeypatch=monkeypatch)
    assert result.exit_code == 2, result.output
    assert zh in result.output and en in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_a_database_not_set_up_gets_the_same_message_as_the_other_commands(tmp_path, monkeypatch):
    empty = tmp_path / "empty.db"
    empty.touch()
    settings = Settings(database_url=f"sqlite:///{empty}", keys_dir=tmp_path / "keys", secret="s")
    result = run(settings, monkeypatch=monkeypatch)
    assert result.exit_code == 1, result.output
    assert "尚未建立" in result.output and "creditbank serve" in result.output


def test_stats_refresh_with_a_replica_beside_sqlite_is_said_in_both_languages(sqlite_settings, monkeypatch):
    """stats-refresh reads on the replica when there is one: a replica URL beside a SQLite database
    (a copied PostgreSQL configuration) printed a traceback (ValueError from Database)."""
    from creditbank.cli import app as cli

    monkeypatch.setenv("CREDITBANK_DATABASE_URL", sqlite_settings.database_url)
    monkeypatch.setenv("CREDITBANK_KEYS_DIR", str(sqlite_settings.keys_dir))
    monkeypatch.setenv("CREDITBANK_SECRET", "test-secret")
    monkeypatch.setenv("CREDITBANK_DATABASE_REPLICA_URL", "postgresql+psycopg://cb@127.0.0.1:5433/creditbank")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["stats-refresh"], env={"COLUMNS": "300"})
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert (
        "只能与 PostgreSQL 数据库一起使用" in result.output
        and "needs PostgreSQL on both sides" in result.output
    )


def test_xlsx_holds_one_sheet_per_figure(sqlite_settings, monkeypatch, tmp_path):
    from openpyxl import load_workbook

    out = tmp_path / "stats.xlsx"
    result = run(sqlite_settings, "--format", "xlsx", "--output", str(out), monkeypatch=monkeypatch)
    assert result.exit_code == 0, result.output
    assert sorted(load_workbook(out).sheetnames) == sorted(FIGURES)


def test_figures_kept_for_a_large_bank_are_printed_with_their_as_of_time(sqlite_settings, monkeypatch):
    first = run(sqlite_settings, monkeypatch=monkeypatch, live_seconds="0")  # computed, then kept
    assert first.exit_code == 0, first.output
    assert "数据截至" not in first.stdout
    kept = run(sqlite_settings, monkeypatch=monkeypatch, live_seconds="0")
    assert kept.exit_code == 0, kept.output
    zh, en = kept.stdout.splitlines()[:2]
    assert zh.startswith("数据截至 ") and "（北京时间）" in zh and en.startswith("Figures as of ")
    as_json = run(
        sqlite_settings, "--figure", "credits", "--format", "json", monkeypatch=monkeypatch, live_seconds="0"
    )
    assert json.loads(as_json.stdout)["as_of"] is not None


def test_kept_figures_due_for_a_refresh_are_recomputed_before_the_command_ends(sqlite_settings, monkeypatch):
    from sqlalchemy import select

    from creditbank.db import Database
    from creditbank.stats.models import Snapshot

    def computed_at():
        database = Database(sqlite_settings.database_url)
        try:
            with database.reader() as session:
                return [row.computed_at for row in session.execute(select(Snapshot)).scalars()]
        finally:
            database.dispose()

    assert run(sqlite_settings, monkeypatch=monkeypatch, live_seconds="0").exit_code == 0
    [before] = computed_at()
    again = run(sqlite_settings, monkeypatch=monkeypatch, live_seconds="0", refresh_seconds="0")
    assert again.exit_code == 0, again.output
    assert again.stdout.startswith("数据截至 ")  # the kept figures, printed at once
    assert "newer figures are being computed" in again.output
    [after] = computed_at()
    assert after > before  # the refresh it started was kept, not abandoned with the process


def test_csv_and_xlsx_hold_no_formulas(client, settings, monkeypatch, tmp_path):
    """As the API's files (tests/stats/test_statistics.py): a district typed as ``=1+2`` is text."""
    from openpyxl import load_workbook

    formula_world(client)
    period = ["--from", PERIOD["from"], "--to", PERIOD["to"]]
    result = run(settings, *period, "--figure", "district", "--format", "csv", monkeypatch=monkeypatch)
    assert result.exit_code == 0, result.output
    assert "'=1+2,1,1" in result.stdout.splitlines()
    out = tmp_path / "stats.xlsx"
    result = run(settings, *period, "--format", "xlsx", "--output", str(out), monkeypatch=monkeypatch)
    assert result.exit_code == 0, result.output
    book = load_workbook(out)
    assert not [c.coordinate for s in book for row in s.iter_rows() for c in row if c.data_type == "f"]
    assert "=1+2" in [row[0].value for row in book["participation-district"].iter_rows()]
