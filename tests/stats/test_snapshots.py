"""Figures computed ahead (``stats.snapshots``): what the district office notices on a bank whose
statistics take long to compute — kept figures served with their "as of" time, refreshed in the
background, on request and when targets change — and that a college-sized bank still sees current
figures on every request. "Slow" is a setting (``stats_live_seconds``): 0 makes every computation slow.
Both databases."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from creditbank.app import create_app
from creditbank.config import Settings
from creditbank.db import Database
from creditbank.kit import clock
from creditbank.stats import snapshots
from creditbank.stats.models import Snapshot
from creditbank.stats.snapshots import Key, Policy, due, kept
from tests.conftest import OPERATOR, completion_body, institution, learner, outcome
from tests.web.staffworld import add_operator, csrf, operator_sign_in

FIGURE = "/api/v1/stats/participation"
CATEGORY = {"group_by": "category"}  # the default period: the year to date


def bank(settings: Settings, db: Database, **stats: float) -> TestClient:
    return TestClient(create_app(settings.model_copy(update=stats), db))


@pytest.fixture
def slow(settings: Settings, db: Database) -> Iterator[TestClient]:
    """A bank where every computation counts as slow, kept figures are refreshed only when asked."""
    with bank(settings, db, stats_live_seconds=0.0, stats_refresh_seconds=3600.0) as client:
        yield client


class Posting:
    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.head = institution(client, "YCCEC")
        outcome(client, self.head, "YC-ELEC", category="community")
        outcome(client, self.head, "YC-WECHAT", category="senior")
        self.people = [learner(client, self.head, f"学员{i}")["account_no"] for i in range(3)]

    def post(self, person: int, code: str = "YC-ELEC") -> str:
        on = clock.today().isoformat()  # inside the year to date
        body = completion_body(self.people[person], code, completed_on=on)
        r = self.client.post("/api/v1/completions", json=body, headers=self.head)
        assert r.status_code == 201, r.text
        return r.json()["id"]


def by_category(client: TestClient, **params: str) -> tuple[dict, dict]:
    r = client.get(FIGURE, params=CATEGORY | params, headers=OPERATOR)
    assert r.status_code == 200, r.text
    body = r.json()
    return {row["key"]: (row["learners"], row["completions"]) for row in body["rows"]}, body


def settle(client: TestClient) -> None:
    client.app.state.statistics.drain(timeout=60)  # type: ignore[attr-defined]


def kept_rows(db: Database) -> list[Snapshot]:
    with db.reader() as session:
        return list(session.execute(select(Snapshot)).scalars())


class TestLargeBank:
    def test_kept_figures_are_served_with_their_as_of_time_and_ledger_position(self, slow, db):
        world = Posting(slow)
        world.post(0)
        first, body = by_category(slow)
        assert first == {"community": (1, 1)} and body["as_of"] is None  # nobody computed it before
        settle(slow)  # it was slow: the whole dashboard is computed and kept in the background
        world.post(1)
        served, body = by_category(slow)
        assert served == {"community": (1, 1)}, "the kept figures, not the new completion"
        as_of = datetime.fromisoformat(body["as_of"])
        assert datetime.now(UTC) - as_of < timedelta(minutes=5)
        assert body["ledger_seq"] >= 1
        assert [r.key for r in kept_rows(db)] == [Key.of("dashboard", _ytd(), None).text()]

    def test_a_completion_posted_after_them_is_counted_after_the_next_refresh(self, settings, db):
        with bank(settings, db, stats_live_seconds=0.0, stats_refresh_seconds=0.0) as client:
            world = Posting(client)
            world.post(0)
            by_category(client)
            settle(client)
            world.post(1, "YC-WECHAT")
            before, _ = by_category(client)  # served as kept; being older than 0 s, recomputed
            settle(client)
            after, body = by_category(client)
        assert before == {"community": (1, 1)}
        assert after == {"community": (1, 1), "senior": (1, 1)} and body["as_of"] is not None

    def test_refresh_now_brings_the_latest_completions_in(self, slow):
        world = Posting(slow)
        world.post(0)
        by_category(slow)
        settle(slow)
        _, kept_body = by_category(slow)
        world.post(2)
        r = slow.post("/api/v1/stats/refresh", headers=OPERATOR)
        assert r.status_code == 202 and r.json()["kept"] is True
        # Quick enough to wait for, so it answered with the new time; a slower one says refreshing.
        assert r.json()["refreshing"] or r.json()["as_of"] > kept_body["as_of"]
        settle(slow)
        figures, body = by_category(slow)
        assert figures == {"community": (2, 2)}
        assert body["as_of"] > kept_body["as_of"] and body["ledger_seq"] > kept_body["ledger_seq"]

    def test_a_revoked_completion_drops_out_after_the_refresh(self, slow):
        world = Posting(slow)
        world.post(0)
        revoked = world.post(1)
        by_category(slow)
        settle(slow)
        r = slow.post(
            f"/api/v1/completions/{revoked}/revoke", json={"reason": "录入错误"}, headers=world.head
        )
        assert r.status_code == 200, r.text
        assert by_category(slow)[0] == {"community": (2, 2)}
        slow.post("/api/v1/stats/refresh", headers=OPERATOR)
        settle(slow)
        assert by_category(slow)[0] == {"community": (1, 1)}

    def test_a_new_target_is_shown_at_the_next_view_without_waiting_for_the_interval(self, slow):
        Posting(slow).post(0)
        rate = "/api/v1/stats/participation-rate"
        r = slow.put(
            "/api/v1/stats/population",
            json=[
                {"district": "永川区", "age_band": b, "residents": 1000}
                for b in ("under_18", "18_59", "60_plus")
            ],
            headers=OPERATOR,
        )
        assert r.status_code == 200
        slow.get(rate, headers=OPERATOR)
        settle(slow)
        assert (
            slow.put("/api/v1/stats/targets", json={"participation": 45}, headers=OPERATOR).status_code == 200
        )
        # The change asked for a recomputation, quick enough to wait for: the next view has it.
        rows = slow.get(rate, headers=OPERATOR).json()["rows"]
        assert {row["target"] for row in rows if row["age_band"] == "all"} == {0.45}

    def test_a_period_nobody_computed_yet_asks_the_office_to_come_back_then_has_it(self, settings, db):
        with bank(settings, db, stats_live_seconds=0.0, stats_wait_seconds=0.0) as client:
            Posting(client).post(0)
            r = client.get("/api/v1/stats/credits", headers=OPERATOR)
            assert r.status_code == 503 and r.json()["code"] == "stats_computing"
            assert int(r.headers["Retry-After"]) > 0
            settle(client)
            r = client.get("/api/v1/stats/credits", headers=OPERATOR)
        assert r.status_code == 200 and r.json()["as_of"] is not None
        assert [row["completions"] for row in r.json()["rows"]] == [1]

    def test_the_answer_keeps_its_shape_and_adds_the_as_of_fields(self, slow):
        Posting(slow).post(0)
        _, live = by_category(slow)
        settle(slow)
        _, served = by_category(slow)
        assert (
            set(served)
            == set(live)
            == {"figure", "title_zh", "title_en", "from", "to", "columns", "rows", "as_of", "ledger_seq"}
        )
        assert {k: v for k, v in served.items() if k != "as_of"} == {
            k: v for k, v in live.items() if k != "as_of"
        }

    def test_exports_of_kept_figures_say_as_of_when(self, slow):
        Posting(slow).post(0)
        by_category(slow)
        settle(slow)
        r = slow.get(FIGURE, params=CATEGORY | {"format": "csv"}, headers=OPERATOR)
        assert r.status_code == 200
        assert r.content.decode("utf-8-sig").rstrip().splitlines()[-1].startswith("数据截至 ")

    def test_the_dashboard_says_as_of_when_and_offers_refresh_now(self, slow):
        Posting(slow).post(0)
        operator_sign_in(slow, add_operator(slow))
        assert 'id="as-of"' not in slow.get("/operator/stats").text  # computed for this view
        settle(slow)
        page = slow.get("/operator/stats")
        assert page.status_code == 200 and "数据截至" in page.text and 'id="refresh"' in page.text
        token = csrf(slow, "/operator/stats")
        r = slow.post("/operator/stats/refresh", data={"csrf_token": token}, follow_redirects=False)
        assert r.status_code == 303 and "refreshed=1" in r.headers["location"]

    def test_recognition_candidates_say_as_of_when_like_every_other_figure(self, slow):
        from tests.stats.test_recognition import PERIOD
        from tests.stats.test_recognition import _world as consenting_learners

        consenting_learners(slow)

        def candidates() -> list[dict]:
            r = slow.get("/api/v1/stats/recognition", params=PERIOD, headers=OPERATOR)
            assert r.status_code == 200, r.text
            assert r.json(), "the world has consenting candidates"
            return r.json()

        live = candidates()
        assert {c["as_of"] for c in live} == {None}  # computed for this answer
        assert len({c["ledger_seq"] for c in live}) == 1 and live[0]["ledger_seq"] >= 1
        settle(slow)
        served = candidates()
        as_of = {c["as_of"] for c in served}
        assert len(as_of) == 1 and None not in as_of, "one time for the whole list"
        headers = slow.get("/api/v1/stats/recognition", params=PERIOD, headers=OPERATOR).headers
        assert datetime.fromisoformat(headers["Creditbank-As-Of"]) == datetime.fromisoformat(
            next(iter(as_of))
        )
        assert datetime.now(UTC) - datetime.fromisoformat(as_of.pop()) < timedelta(minutes=5)
        assert {c["ledger_seq"] for c in served} == {live[0]["ledger_seq"]}
        strip = [{k: v for k, v in c.items() if k != "as_of"} for c in served]
        assert strip == [{k: v for k, v in c.items() if k != "as_of"} for c in live]

    def test_recognition_candidates_say_as_of_in_headers_too_also_when_nobody_is_named(self, slow):
        """The answer is a list (as it always was): an empty one had nowhere to say that it is as of
        an earlier moment (nobody consenting then) — the headers say it, for any list."""
        from tests.stats.test_recognition import PERIOD

        Posting(slow).post(0)  # a learner who did not agree to be named

        def candidates():
            r = slow.get("/api/v1/stats/recognition", params=PERIOD, headers=OPERATOR)
            assert r.status_code == 200 and r.json() == [], r.text
            return r.headers

        live = candidates()
        assert "Creditbank-As-Of" not in live and int(live["Creditbank-Ledger-Seq"]) >= 1
        settle(slow)
        kept_ = candidates()
        as_of = datetime.fromisoformat(kept_["Creditbank-As-Of"].replace("Z", "+00:00"))
        assert datetime.now(UTC) - as_of < timedelta(minutes=5)
        assert kept_["Creditbank-Ledger-Seq"] == live["Creditbank-Ledger-Seq"]

    def test_a_learner_who_withdrew_consent_is_not_named_by_kept_candidates(self, slow):
        from tests.stats.test_recognition import PERIOD
        from tests.stats.test_recognition import _world as consenting_learners

        people = consenting_learners(slow)

        def community_of_yongchuan() -> list[tuple[int, str]]:
            r = slow.get("/api/v1/stats/recognition", params=PERIOD | {"top": "1"}, headers=OPERATOR)
            assert r.status_code == 200, r.text
            found = [c for c in r.json() if (c["district"], c["category"]) == ("永川区", "community")]
            return [(c["rank"], c["name"]) for c in found]

        community_of_yongchuan()
        settle(slow)  # kept from here on (refreshed only when asked)
        assert community_of_yongchuan() == [(1, "甲")]
        r = slow.put("/api/v1/me/recognition-consent", json={"named": False}, headers=people["甲"][1])
        assert r.status_code == 200, r.text
        # Not named from the moment they withdrew, not from the next recomputation on; the next
        # consenting learner moves up.
        assert community_of_yongchuan() == [(1, "乙")]


class _Cancelled(Exception):
    sqlstate = "57014"  # PostgreSQL's query_canceled, as a statement timeout raises it


def stopping(calls: list[str]):
    """A computation PostgreSQL stops at the statement timeout (the real thing: TestStatementTimeout)."""

    def stopped(*args, **kwargs):
        calls.append("stopped")
        raise OperationalError("SELECT …", {}, _Cancelled("canceling statement due to statement timeout"))

    return stopped


class TestAComputationStoppedAtTheLimit:
    """A computation stopped at the statement timeout is remembered (every worker): the office is
    told it stopped, and it is not started again by every view — before, a period computed in the
    background said "being computed" for ever while each view started it again for as long."""

    def test_a_period_nobody_computed_yet_says_it_stopped_and_is_not_started_again(
        self, settings, db, monkeypatch
    ):
        calls: list[str] = []
        with bank(settings, db, stats_live_seconds=0.0, stats_wait_seconds=0.0) as client:
            Posting(client).post(0)
            monkeypatch.setattr(snapshots, "compute_dashboard", stopping(calls))
            r = client.get("/api/v1/stats/credits", headers=OPERATOR)
            assert (r.status_code, r.json()["code"]) == (503, "stats_computing")
            settle(client)  # the background computation stopped at the limit
            assert calls == ["stopped"]
            r = client.get("/api/v1/stats/credits", headers=OPERATOR)
            assert (r.status_code, r.json()["code"]) == (503, "stats_timeout"), r.text
            assert "已停止" in r.json()["title"] and 0 < int(r.headers["Retry-After"]) <= 600
            operator_sign_in(client, add_operator(client))
            page = client.get("/operator/stats")
            assert page.status_code == 503 and "已停止" in page.text and "正在后台计算" not in page.text
            settle(client)
            assert calls == ["stopped"]  # nothing started again

    def test_kept_figures_say_their_recomputation_stopped_and_only_refresh_now_tries_again(
        self, slow, monkeypatch
    ):
        Posting(slow).post(0)
        by_category(slow)
        settle(slow)  # kept
        calls: list[str] = []
        computes = snapshots.compute_dashboard
        monkeypatch.setattr(snapshots, "compute_dashboard", stopping(calls))
        operator_sign_in(slow, add_operator(slow))
        refresh = {"csrf_token": csrf(slow, "/operator/stats")}
        slow.post("/operator/stats/refresh", data=refresh)  # the office asks for fresh figures: stops
        settle(slow)
        page = slow.get("/operator/stats")
        assert page.status_code == 200 and "数据截至" in page.text
        assert 'id="stopped"' in page.text and "最近一次更新计算超过了" in page.text, page.text
        slow.get("/operator/stats")
        settle(slow)
        assert calls == ["stopped"]  # not again by itself
        slow.post("/operator/stats/refresh", data=refresh)
        settle(slow)
        assert calls == ["stopped", "stopped"]  # 立即更新 tries at once
        monkeypatch.setattr(snapshots, "compute_dashboard", computes)
        slow.post("/operator/stats/refresh", data=refresh)
        settle(slow)
        assert 'id="stopped"' not in slow.get("/operator/stats").text  # computed and kept: history


class TestCollegeSizedBank:
    def test_figures_kept_in_a_slow_moment_are_computed_per_request_again_once_cheap(self, settings, db):
        with bank(settings, db, stats_live_seconds=0.0) as slow:
            world = Posting(slow)
            world.post(0)
            by_category(slow)
            settle(slow)
        assert len(kept_rows(db)) == 1
        with bank(settings, db, stats_live_seconds=60.0) as quick:
            world.client = quick
            world.post(1)
            quick.get("/api/v1/stats/credits", headers=OPERATOR)  # one figure: computed, the row stays
            settle(quick)
            assert len(kept_rows(db)) == 1
            figures, body = by_category(quick)
            assert figures == {"community": (2, 2)} and body["as_of"] is None
            operator_sign_in(quick, add_operator(quick))
            # The dashboard's own computation finds it cheap: computed for the view, the row dropped.
            assert 'id="as-of"' not in quick.get("/operator/stats").text
            settle(quick)
        assert kept_rows(db) == []

    def test_figures_are_current_on_every_request_and_nothing_is_kept(self, client, db):
        world = Posting(client)
        world.post(0)
        assert by_category(client)[0] == {"community": (1, 1)}
        world.post(1)
        figures, body = by_category(client)
        assert figures == {"community": (2, 2)} and body["as_of"] is None
        operator_sign_in(client, add_operator(client))
        page = client.get("/operator/stats")
        assert page.status_code == 200 and 'id="as-of"' not in page.text
        settle(client)
        assert kept_rows(db) == []
        r = client.post("/api/v1/stats/refresh", headers=OPERATOR)
        assert r.status_code == 202 and r.json() == {
            "kept": False,
            "refreshing": False,
            "as_of": None,
            "ledger_seq": None,
        }


def _ytd():
    from creditbank.stats.queries import Period

    return Period.of(None, None)


class TestWhenFiguresAreRecomputed:
    """The pure decisions, without a database."""

    NOW = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
    POLICY = Policy(live_seconds=1.0, refresh_seconds=600.0)

    def test_figures_computed_in_under_the_live_time_are_computed_for_every_request(self):
        assert not kept(None, self.POLICY) and not kept(0.4, self.POLICY) and kept(49.7, self.POLICY)

    @pytest.mark.parametrize(
        ("age", "asked", "claimed", "expected"),
        [
            (timedelta(minutes=5), False, None, False),  # young, nobody asked
            (timedelta(minutes=11), False, None, True),  # older than the interval
            (timedelta(minutes=1), True, None, True),  # 立即更新, or the targets changed
            (timedelta(minutes=11), True, timedelta(minutes=2), False),  # another worker is on it
            (timedelta(hours=2), False, timedelta(hours=1), True),  # that worker died
        ],
    )
    def test_kept_figures_are_recomputed_when_old_or_asked_for_by_one_worker(
        self, age, asked, claimed, expected
    ):
        decision = due(
            computed_at=self.NOW - age,
            requested_at=self.NOW if asked else None,
            claimed_at=self.NOW - claimed if claimed else None,
            compute_seconds=50.0,
            now=self.NOW,
            policy=self.POLICY,
        )
        assert decision is expected

    def test_the_default_period_is_kept_under_one_key_from_day_to_day(self):
        from creditbank.stats.queries import Period

        today = clock.today()
        ytd = Key.of("dashboard", Period(date(today.year, 1, 1), today), "永川区")
        assert ytd.text() == f"dashboard|{today.year}-01-01|to-date|永川区"
        assert Key.parse(ytd.text()) == ytd
        past = Key.of("dashboard", Period(date(2025, 1, 1), date(2025, 6, 30)), None)
        assert past.text() == "dashboard|2025-01-01|2025-06-30|" and Key.parse(past.text()) == past


def test_the_cron_command_recomputes_the_year_to_date_and_says_how_long_it_took(
    sqlite_url, tmp_path, monkeypatch
):
    from typer.testing import CliRunner

    from creditbank.cli import app
    from creditbank.config import get_settings

    monkeypatch.setenv("CREDITBANK_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("CREDITBANK_KEYS_DIR", str(tmp_path / "keys"))
    monkeypatch.setenv("CREDITBANK_SECRET", "s")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["stats-refresh"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    key = Key.of("dashboard", _ytd(), None).text()
    assert result.output.startswith(f"{key}: ") and "ledger position 0" in result.output
    database = Database(sqlite_url)
    try:
        assert [r.key for r in kept_rows(database)] == [key]
    finally:
        database.dispose()


def test_figures_are_still_served_after_the_app_stopped_and_started_again(settings, db):
    """A server that reloads (or a test client opened twice on one app) runs the app's shutdown and
    then its start again: statistics must not answer 500 'cannot schedule new futures after shutdown'."""
    app = create_app(settings, db)
    with TestClient(app) as first:
        Posting(first).post(0)
        assert by_category(first)[0] == {"community": (1, 1)}
    with TestClient(app) as again:
        r = again.get(FIGURE, params=CATEGORY, headers=OPERATOR)
        assert r.status_code == 200, r.text
        assert by_category(again)[0] == {"community": (1, 1)}


@pytest.fixture
def pg_settings(request: pytest.FixtureRequest, tmp_path) -> Settings:
    from tests.conftest import _fresh_database, _settings

    return _settings(_fresh_database("postgresql", request, tmp_path), tmp_path)


@pytest.mark.postgres
class TestStatementTimeout:
    """On PostgreSQL no statement of a statistics computation runs longer than
    ``stats_statement_timeout_seconds``: a pathological period stops there and says so (503
    ``stats_timeout``, Chinese and English), kept figures are still served, and the next computation
    runs normally. "Too long" here: the completions are locked by another transaction, which the
    computation waits for (a lock wait counts towards the timeout)."""

    LIMIT = 0.3

    @staticmethod
    def _locked(url: str):
        import psycopg

        holder = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))
        holder.execute("LOCK TABLE completion IN ACCESS EXCLUSIVE MODE")
        # Without a statement timeout the computation would wait for ever: let go after a while, so
        # that a regression fails (the figures then arrive with 200) instead of hanging the suite.
        release = threading.Timer(30, holder.close)
        release.daemon = True
        release.start()
        return holder

    def test_a_figure_that_runs_too_long_is_a_503_in_words_and_the_next_one_is_computed(self, pg_settings):
        db = Database(pg_settings.database_url)
        try:
            with bank(pg_settings, db, stats_statement_timeout_seconds=self.LIMIT) as client:
                Posting(client).post(0)
                holder = self._locked(pg_settings.database_url)
                try:
                    r = client.get(FIGURE, params=CATEGORY, headers=OPERATOR)
                    en = client.get(FIGURE, params=CATEGORY, headers=OPERATOR | {"Accept-Language": "en"})
                finally:
                    holder.close()
                assert (r.status_code, r.json()["code"]) == (503, "stats_timeout"), r.text
                assert "超过了 0.3 秒的上限" in r.json()["title"] and "已停止" in r.json()["title"]
                assert "took longer than the limit" in en.json()["title"], en.text
                assert by_category(client)[0] == {"community": (1, 1)}  # nothing held: computed
        finally:
            db.dispose()

    def test_kept_figures_are_still_served_when_their_recomputation_runs_too_long(self, pg_settings):
        db = Database(pg_settings.database_url)
        try:
            with bank(
                pg_settings, db, stats_live_seconds=0.0, stats_refresh_seconds=3600.0,
                stats_statement_timeout_seconds=self.LIMIT,
            ) as client:  # fmt: skip
                Posting(client).post(0)
                by_category(client)
                settle(client)
                _, kept_body = by_category(client)
                assert kept_body["as_of"] is not None
                holder = self._locked(pg_settings.database_url)
                try:
                    assert client.post("/api/v1/stats/refresh", headers=OPERATOR).status_code == 202
                    served, body = by_category(client)  # waits for the recomputation, which stops
                    settle(client)
                finally:
                    holder.close()
                assert served == {"community": (1, 1)} and body["as_of"] == kept_body["as_of"]
                assert [r.claimed_at for r in kept_rows(db)] == [None]  # released: tried again later
        finally:
            db.dispose()

    def test_a_period_computed_in_the_background_that_runs_too_long_says_so_next_time(self, pg_settings):
        """The request stopped waiting (stats_computing); the computation went on in the background
        under the same bound and stopped there: the next view says so (not "being computed" again)."""
        db = Database(pg_settings.database_url)
        try:
            with bank(
                pg_settings, db, stats_live_seconds=0.0, stats_wait_seconds=0.0,
                stats_statement_timeout_seconds=self.LIMIT,
            ) as client:  # fmt: skip
                Posting(client).post(0)
                holder = self._locked(pg_settings.database_url)
                try:
                    r = client.get(FIGURE, params=CATEGORY, headers=OPERATOR)
                    assert (r.status_code, r.json()["code"]) == (503, "stats_computing"), r.text
                    settle(client)
                finally:
                    holder.close()
                r = client.get(FIGURE, params=CATEGORY, headers=OPERATOR)
                assert (r.status_code, r.json()["code"]) == (503, "stats_timeout"), r.text
                assert "超过了 0.3 秒的上限" in r.json()["title"]
        finally:
            db.dispose()

    def test_a_computation_stopped_on_the_replica_is_not_run_again_on_the_primary(self, pg_settings):
        """The replica answered (it stopped the statement at the limit the computation set): running
        it again on the primary would put the pathological query on the primary too, and resting
        the replica would send every other read there for a while."""
        from creditbank.errors import CreditbankError
        from creditbank.stats import queries
        from creditbank.stats.snapshots import Policy, Statistics

        url = pg_settings.database_url
        db = Database(url, replica_url=url)  # the same database stands in for a streaming standby
        statistics = Statistics(db, Policy(wait_seconds=60.0, statement_timeout_seconds=self.LIMIT))
        holder = self._locked(url)
        try:
            with pytest.raises(CreditbankError) as caught:
                statistics.figure("participation-category", queries.Period.of(None, None))
        finally:
            holder.close()
            statistics.close()
        try:
            assert caught.value.code == "stats_timeout"
            assert (db.replica_failures, db.replica_usable) == (0, True)
        finally:
            db.dispose()

    def test_the_cron_command_names_the_period_that_ran_too_long_and_exits_1(self, pg_settings, monkeypatch):
        from typer.testing import CliRunner

        from creditbank.cli import app
        from creditbank.config import get_settings

        monkeypatch.setenv("CREDITBANK_DATABASE_URL", pg_settings.database_url)
        monkeypatch.setenv("CREDITBANK_KEYS_DIR", str(pg_settings.keys_dir))
        monkeypatch.setenv("CREDITBANK_SECRET", "s")
        monkeypatch.setenv("CREDITBANK_STATS_STATEMENT_TIMEOUT_SECONDS", str(self.LIMIT))
        holder = self._locked(pg_settings.database_url)
        get_settings.cache_clear()
        try:
            result = CliRunner().invoke(app, ["stats-refresh"], env={"COLUMNS": "300"})
        finally:
            get_settings.cache_clear()
            holder.close()
        assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
        assert Key.of("dashboard", _ytd(), None).text() in result.output
        assert "stats_timeout" in result.output and "已停止" in result.output
