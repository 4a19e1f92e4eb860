"""The demo data (SPEC §6): what a person trying ``creditbank demo`` would look at."""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from creditbank import demo
from creditbank.audit import audit
from creditbank.catalogue.models import Outcome
from creditbank.completions.models import Completion
from creditbank.config import Settings
from creditbank.db import Database
from creditbank.institutions import service as institutions
from creditbank.institutions.models import Institution, InstitutionState
from creditbank.kit import clock
from creditbank.learners import service as learner_service
from creditbank.learners.models import InstitutionLearner, Learner
from creditbank.ledger.queries import balance
from creditbank.migrations import upgrade
from creditbank.stats import queries

SPEC_INSTITUTIONS = {
    "YCCEC": "永川区社区教育学院",
    "CQOUYC": "重庆开放大学永川分校",
    "HCZCEC": "皇城镇社区教育中心",
    "XDCEC": "新都社区教育学院",
}
SEED_COURSES = (
    "居民用电安全",
    "玩转微信享受智慧生活",
    "楠竹工艺画",
    "家政育婴师培训",
    "春季蔬菜田间管理培训",
    "智慧助老我能行",
    "家庭教育培训",
    "陶瓷彩绘",
    "拉坯成型",
    "市民自主学习团队",
    "香城社区讲坛",
    "学前教育",
    "现代农业技术基础",
)


@dataclass
class Loaded:
    db: Database
    settings: Settings
    summary: str
    seconds: float
    empty_before: bool


def fresh(path: Path) -> tuple[Database, Settings]:
    """An empty database built by the migrations, as ``creditbank demo`` would see it."""
    path.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{path / 'creditbank.db'}"
    upgrade(url)
    return Database(url), Settings(database_url=url, keys_dir=path / "keys")


def load_fresh(path: Path, **kwargs: int) -> Loaded:
    db, settings = fresh(path)
    empty_before = demo.is_empty(db)
    started = time.perf_counter()
    summary = demo.load(db, settings, **kwargs)
    return Loaded(db, settings, summary, time.perf_counter() - started, empty_before)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    result = load_fresh(tmp_path_factory.mktemp("demo"))
    yield result
    result.db.dispose()


class TestInstitutions:
    def test_is_empty_flips_when_loaded(self, loaded: Loaded) -> None:
        assert loaded.empty_before is True
        assert demo.is_empty(loaded.db) is False

    def test_every_spec_institution_exists_and_is_accredited(self, loaded: Loaded) -> None:
        with loaded.db.reader() as session:
            found = {i.code: i for i in session.execute(select(Institution)).scalars()}
        for code, name in SPEC_INSTITUTIONS.items():
            assert found[code].name_zh == name
        jingdezhen = [i for i in found.values() if "景德镇" in i.name_zh]
        assert {i.kind for i in jingdezhen} >= {"community_school", "vocational_college"}
        assert {i.district for i in jingdezhen} <= {"珠山区", "昌江区"}  # 景德镇's districts
        assert (found["HCZCEC"].district, found["HCZCEC"].township) == ("临淄区", "皇城镇")
        assert all(i.state == InstitutionState.accredited for i in found.values())

    def test_summary_keys_work_for_their_institution(self, loaded: Loaded) -> None:
        keys = dict(
            re.findall(r"^\s+([A-Z]+) \S+\n\s+API 密钥 key: (cbk_[\w-]+)", loaded.summary, re.MULTILINE)
        )
        assert set(keys) == {spec.code for spec in demo.INSTITUTIONS}
        with loaded.db.reader() as session:
            for code, key in keys.items():
                institution, _ = institutions.find_by_api_key(session, key)
                assert institution.code == code

    def test_loading_twice_is_refused(self, loaded: Loaded) -> None:
        with pytest.raises(ValueError):
            demo.load(loaded.db, loaded.settings)
        with loaded.db.reader() as session:
            assert session.execute(select(func.count()).select_from(Institution)).scalar_one() == len(
                demo.INSTITUTIONS
            )


class TestDistrictOffice:
    """The dashboard's headline figures have what they need (issue: "无数据 / 请先录入常住人口")."""

    def test_every_district_of_the_learners_has_a_population_and_a_participation_rate(
        self, loaded: Loaded
    ) -> None:
        with loaded.db.reader() as session:
            lived_in = set(session.execute(select(Learner.district).distinct()).scalars())
            rate = queries.participation_rate(session, queries.Period.of(None, None))
        assert lived_in == {"永川区", "临淄区", "珠山区", "昌江区", "新都区"}
        rows = {(r["district"], r["age_band"]): r for r in rate.rows}
        for district in lived_in:
            for band in ("all", "under_18", "18_59", "60_plus"):
                row = rows[(district, band)]
                assert row["residents"] and row["residents"] >= row["learners"] and row["rate"] is not None
        assert any(r["rate"] > 0 for r in rate.rows)

    def test_coverage_counts_the_institutions_where_they_stand(self, loaded: Loaded) -> None:
        with loaded.db.reader() as session:
            figure = queries.coverage(session)
        rows = {r["key"]: r for r in figure.rows}
        assert set(rows) == {"永川区", "临淄区", "珠山区", "昌江区", "新都区", None}
        assert rows["临淄区"]["townships_covered"] == rows["临淄区"]["townships"] == 1
        assert all(r["townships_covered"] >= 1 and r["township_coverage"] for r in rows.values())
        assert rows["珠山区"]["villages_covered"] == 1 and rows[None]["village_coverage"]

    def test_the_summary_says_the_figures_are_demo_figures(self, loaded: Loaded) -> None:
        assert "演示数字" in loaded.summary and "demo figures" in loaded.summary


class TestCatalogue:
    def test_seed_courses_are_offered(self, loaded: Loaded) -> None:
        with loaded.db.reader() as session:
            titles = list(session.execute(select(Outcome.title_zh)).scalars())
        for course in SEED_COURSES:
            assert any(course in title for title in titles), course

    def test_each_institution_has_three_to_six_outcomes_with_credits(self, loaded: Loaded) -> None:
        with loaded.db.reader() as session:
            outcomes = list(session.execute(select(Outcome)).scalars())
        per_institution = Counter(o.institution_id for o in outcomes)
        assert len(per_institution) == len(demo.INSTITUTIONS)
        assert all(3 <= n <= 6 for n in per_institution.values())
        assert all(o.credits_units > 0 and 1 <= o.level <= 10 and o.title_en for o in outcomes)
        assert any(o.credits_from_hours for o in outcomes) and any(not o.credits_from_hours for o in outcomes)
        assert any(o.validity_years for o in outcomes) and any(o.min_score for o in outcomes)
        assert {o.category for o in outcomes} == {
            "academic",
            "vocational_training",
            "vocational_certificate",
            "community",
            "senior",
            "culture_leisure",
        }


class TestLearners:
    def test_age_spread_has_many_older_learners(self, loaded: Loaded) -> None:
        today = clock.today()
        with loaded.db.reader() as session:
            # Only the birth year is stored: the age reached this calendar year.
            ages = [today.year - year for year in session.execute(select(Learner.birth_year)).scalars()]
        assert len(ages) == 300
        seniors = sum(a >= 60 for a in ages) / len(ages)
        working = sum(18 <= a < 60 for a in ages) / len(ages)
        young = sum(a < 18 for a in ages) / len(ages)
        assert 0.35 <= seniors <= 0.55
        assert 0.35 <= working <= 0.55
        assert 0.04 <= young <= 0.16

    def test_people_look_real(self, loaded: Loaded) -> None:
        with loaded.db.reader() as session:
            people = list(session.execute(select(Learner)).scalars())
        assert all(re.fullmatch(r"[\u4e00-\u9fff]{2,3}", p.name) for p in people)
        assert len({p.name for p in people}) > 200
        # The masked ID keeps the region code only (docs/privacy.md).
        assert all(re.fullmatch(r"\d{6}\*{12}", p.id_masked) for p in people)
        assert Counter(p.gender for p in people)["female"] > 100
        assert all(p.phone is None or re.fullmatch(r"1[3-9]\d{9}", p.phone) for p in people)
        assert {p.id_masked[:6] for p in people} == {"500118", "370305", "360202", "360203", "510114"}
        assert all(p.district and re.search(r"(区|镇|街道)$", p.district) for p in people)

    def test_every_learner_has_a_positive_balance(self, loaded: Loaded) -> None:
        with loaded.db.reader() as session:
            people = list(session.execute(select(Learner)).scalars())
            assert all(balance(session, p).total_units > 0 for p in people)

    def test_the_enrolling_institution_can_see_its_learners(self, loaded: Loaded) -> None:
        with loaded.db.reader() as session:
            links = set(
                session.execute(
                    select(InstitutionLearner.institution_id, InstitutionLearner.learner_id)
                ).all()
            )
            enrolled = session.execute(select(Learner.enrolled_by_id, Learner.id)).all()
        assert all(pair in links for pair in enrolled)


class TestCompletions:
    def test_two_years_of_plausible_completions(self, loaded: Loaded) -> None:
        today = clock.today()
        with loaded.db.reader() as session:
            rows = session.execute(
                select(Completion, Outcome.min_score).join(Outcome, Outcome.id == Completion.outcome_id)
            ).all()
        per_learner = Counter(c.learner_id for c, _ in rows)
        assert len(per_learner) == 300
        assert 3.0 <= len(rows) / len(per_learner) <= 5.0
        assert min(per_learner.values()) >= 2 and max(per_learner.values()) <= 7
        dates = [c.completed_on for c, _ in rows]
        assert max(dates) <= today and min(dates) >= today - timedelta(days=2 * 366)
        assert len({d.year for d in dates}) >= 2
        assert all(c.score is not None and c.score >= minimum for c, minimum in rows if minimum is not None)
        assert len({(c.learner_id, c.outcome_code) for c, _ in rows}) == len(rows)
        assert all(re.fullmatch(r"[A-Z]+-20\d\d-\d{6}", c.external_id) for c, _ in rows)
        assert not any(c.outcome_code in demo.CONVERSION_TARGETS for c, _ in rows)
        assert all(c.api_key_id for c, _ in rows)

    def test_some_learners_studied_outside_their_district(self, loaded: Loaded) -> None:
        home = {
            "500118": {"YCCEC", "CQOUYC"},
            "370305": {"HCZCEC"},
            "360202": {"JDZCS", "JDZVC"},
            "360203": {"JDZCS", "JDZVC"},
            "510114": {"XDCEC"},
        }
        with loaded.db.reader() as session:
            rows = session.execute(
                select(Learner.id, Learner.id_masked, Institution.code)
                .join(Completion, Completion.learner_id == Learner.id)
                .join(Institution, Institution.id == Completion.institution_id)
            ).all()
        away = {learner_id for learner_id, masked, code in rows if code not in home[masked[:6]]}
        assert 0 < len(away) < 60

    def test_the_ledger_audits_clean(self, loaded: Loaded) -> None:
        with loaded.db.reader() as session:
            report = audit(session)
        assert report.ok, report.problems
        assert report.transactions > 900


class TestDeterminism:
    def test_same_seed_same_people_and_courses(self, tmp_path: Path, loaded: Loaded) -> None:
        again = load_fresh(tmp_path / "again")
        try:
            assert _content(again.db) == _content(loaded.db)
        finally:
            again.db.dispose()

    def test_another_seed_other_people(self, tmp_path: Path, loaded: Loaded) -> None:
        other = load_fresh(tmp_path / "other", learners=40, seed=7)
        try:
            names, _, _ = _content(other.db)
            assert len(names) == 40 and names != _content(loaded.db)[0][:40]
        finally:
            other.db.dispose()

    def test_demo_learner_can_activate(self, tmp_path: Path) -> None:
        """The summary's account number and activation code are what a person types into the learner API."""
        trial = load_fresh(tmp_path / "trial", learners=30)
        try:
            found = re.findall(
                r"账号 account: (CB\d{10}[\dX])\n\s+激活码 code: +(\d{4} \d{4} \d{4} \d{4})", trial.summary
            )
            assert len(found) == 2
            for account_no, code in found:
                learner, token = learner_service.activate(
                    trial.db,
                    secret=trial.settings.id_secret(),
                    account_no=account_no,
                    activation_code=code,
                    password="demo-password-1",
                )
                assert token and learner.account_no == account_no
        finally:
            trial.db.dispose()


def _content(db: Database) -> tuple[list[str], list[tuple], list[tuple]]:
    """What should not change between two loads with the same seed (ids and keys do, by design)."""
    with db.reader() as session:
        names = list(session.execute(select(Learner.name).order_by(Learner.id)).scalars())
        courses = sorted(session.execute(select(Outcome.code, Outcome.title_zh, Outcome.credits_units)).all())
        records = sorted(
            session.execute(
                select(
                    Learner.name,
                    Completion.external_id,
                    Completion.outcome_code,
                    Completion.completed_on,
                    Completion.score,
                ).join(Learner, Learner.id == Completion.learner_id)
            ).all()
        )
    return names, courses, records


class TestBackends:
    def test_loads_and_audits_on_sqlite_and_postgresql(self, db_url: str, tmp_path: Path) -> None:
        """``creditbank demo`` against a PostgreSQL URL works the same (schema from the shared migrated template)."""
        db = Database(db_url)
        try:
            assert demo.is_empty(db)
            demo.load(db, Settings(database_url=db_url, keys_dir=tmp_path / "keys"), learners=60)
            with db.reader() as session:
                assert audit(session).ok
                people = list(session.execute(select(Learner)).scalars())
                assert len(people) == 60 and all(balance(session, p).total_units > 0 for p in people)
        finally:
            db.dispose()
