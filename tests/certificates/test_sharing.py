"""Share links in the domain (SPEC §3.7): only the owner's certificates, 30–180 days, revocable,
expired or revoked links show nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from creditbank.certificates import sharing
from creditbank.errors import CreditbankError
from creditbank.kit import clock
from tests.web.world import build


@pytest.fixture
def world(client):
    return build(client)


def _learner_ids(db, world):
    from sqlmodel import select

    from creditbank.certificates.models import Certificate

    with db.reader() as session:
        owner = session.exec(
            select(Certificate.learner_id).where(Certificate.id == world.other_certificate)
        ).one()
    return owner


class TestCreate:
    @pytest.mark.parametrize("days", [29, 181, 0])
    def test_lifetime_outside_30_to_180_days_is_refused(self, db, world, days):
        owner = _learner_ids(db, world)
        with pytest.raises(CreditbankError) as error, db.unit_of_work() as session:
            sharing.create(
                session, learner_id=owner, certificate_ids=[world.other_certificate], days=days, note=None
            )
        assert error.value.code == "invalid_value"

    def test_another_learners_certificate_is_not_found(self, db, world):
        owner = _learner_ids(db, world)
        with pytest.raises(CreditbankError) as error, db.unit_of_work() as session:
            sharing.create(
                session, learner_id=owner + 1, certificate_ids=[world.other_certificate], days=30, note=None
            )
        assert error.value.code == "certificate_not_found"

    def test_nothing_chosen_is_refused(self, db, world):
        with pytest.raises(CreditbankError) as error, db.unit_of_work() as session:
            sharing.create(
                session, learner_id=_learner_ids(db, world), certificate_ids=[], days=30, note=None
            )
        assert error.value.code == "share_needs_certificates"


class TestOpenAndRevoke:
    def test_each_opening_is_counted(self, db, world):
        for _ in range(2):
            with db.unit_of_work() as session:
                shared = sharing.open_link(session, world.other_link)
        assert shared.certificate_ids == [world.other_certificate]
        with db.reader() as session:
            [mine] = sharing.for_learner(session, _learner_ids(db, world))
        assert mine.link.open_count == 2 and mine.link.last_opened_at is not None

    def test_only_the_owner_may_revoke_and_then_the_link_is_gone(self, db, world):
        owner = _learner_ids(db, world)
        with pytest.raises(CreditbankError) as error, db.unit_of_work() as session:
            sharing.revoke(session, learner_id=owner + 1, link_id=world.other_link)
        assert error.value.code == "share_link_not_found"
        with db.unit_of_work() as session:
            sharing.open_link(session, world.other_link)  # still open
            sharing.revoke(session, learner_id=owner, link_id=world.other_link)
        with pytest.raises(CreditbankError) as error, db.unit_of_work() as session:
            sharing.open_link(session, world.other_link)
        assert error.value.code == "share_link_revoked" and error.value.http_status == 410

    def test_an_expired_link_is_gone(self, db, world, monkeypatch):
        later = clock.now() + timedelta(days=31)
        monkeypatch.setattr(clock, "now", lambda: later)
        with pytest.raises(CreditbankError) as error, db.unit_of_work() as session:
            sharing.open_link(session, world.other_link)
        assert error.value.code == "share_link_expired" and "有效期已过" in error.value.message("zh")
