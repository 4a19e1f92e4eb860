"""Schemathesis over every operation of /openapi.json, once per role (issue 9, continuous checks).

Each role (operator, institution, learner, anonymous) sends generated requests — valid and
invalid — to every operation within a bounded budget, and every response goes through **all**
of schemathesis 4's checks (the CLI's ``--checks all``): never a 5xx; the status code, media type,
headers and body are ones the OpenAPI document declares for that operation; invalid data is
refused and valid data accepted; required headers and authentication are enforced where
declared; unsupported methods answer 405 with ``Allow``. The budget (examples per operation)
keeps the whole file to about a minute; raise ``CREDITBANK_SCHEMATHESIS_EXAMPLES`` for a deeper run.
Figures per role are printed at the end (``-s``).
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, reject, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import CHECKS as REGISTERED_CHECKS
from schemathesis.checks import load_all_checks
from schemathesis.config import SchemathesisConfig

from creditbank.app import create_app
from creditbank.config import Settings
from creditbank.db import Database
from tests.conftest import ADMIN, institution, learner, outcome, signed_in

EXAMPLES = int(os.environ.get("CREDITBANK_SCHEMATHESIS_EXAMPLES", "2"))
ROLES = ("operator", "institution", "learner", "anonymous")
load_all_checks()
CHECKS = tuple(REGISTERED_CHECKS.get_all())  # `--checks all`: every check schemathesis ships
# Valid data must be accepted — except where the bank refuses, with a 422 problem and its own
# code, what JSON Schema cannot express: an ID number's check digit (invalid_national_id), "one of
# account_no or national_id" (learner_ref_required), "credits or hours" (credits_or_hours_required),
# a birth date or gender contradicting the ID number (birth_date_mismatch, gender_mismatch), a file or QR payload that is not a certificate (unusable_input,
# empty_file), first ≤ second in a consistency proof. Any other answer to valid data (400, 405,
# 415, 500, …) still fails the check — but for the batch import, whose multipart `file` is any
# bytes by its schema: a file that is neither CSV nor XLSX is 415 unsupported_file; and verifying an
# upload, whose body may be JSON, a PDF or an image: any other media type is 415 unsupported_file.
ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "422", "429"]
CONFIG = SchemathesisConfig.from_dict(
    {
        "checks": {"positive_data_acceptance": {"expected-statuses": ACCEPTED}},
        "operations": [
            {
                "include-path": path,
                "checks": {"positive_data_acceptance": {"expected-statuses": [*ACCEPTED, "415"]}},
            }
            for path in ("/api/v1/completions/batch", "/api/v1/verify")
        ],
    }
)


@dataclass
class World:
    app: object
    headers: dict[str, dict[str, str]]
    figures: dict[str, Counter]


@pytest.fixture(scope="module")
def world(tmp_path_factory, request) -> World:
    tmp = tmp_path_factory.mktemp("schemathesis")
    url = f"sqlite:///{tmp / 'creditbank.db'}"
    from creditbank.migrations import upgrade

    upgrade(url)
    settings_ = Settings(database_url=url, keys_dir=tmp / "keys", admin_token=ADMIN, secret="test-secret")
    db = Database(url)
    app = create_app(settings_, db)
    with TestClient(app) as client:
        inst = institution(client)
        outcome(client, inst)
        person = learner(client, inst)
        learner_session = signed_in(client, person, "schemathesis-2026")
    headers = {
        "operator": {"Authorization": f"Bearer {ADMIN}"},
        "institution": inst,
        "learner": learner_session,
        "anonymous": {},
    }
    figures: dict[str, Counter] = {role: Counter() for role in ROLES}
    yield World(app, headers, figures)
    print("\nschemathesis figures per role (cases, failures):")
    for role in ROLES:
        print(f"  {role:12} {figures[role]['cases']:5} {figures[role]['failures']:3}")
    db.dispose()


def _failure_text(exc: BaseException) -> str:
    text = str(exc).strip()
    return " | ".join(line.strip() for line in text.splitlines()[:14] if line.strip())[:700]


@pytest.mark.parametrize("role", ROLES)
def test_every_operation_answers_as_declared(role, world):
    """Positive and negative cases for every operation, as this role; all failures listed."""
    api = schemathesis.openapi.from_asgi("/openapi.json", world.app, config=CONFIG)
    failures: list[str] = []
    for result in api.get_all_operations():
        operation = result.ok()
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
                phases=[Phase.explicit, Phase.generate],
            )
            def run(case):
                if mode is schemathesis.GenerationMode.NEGATIVE and any(
                    v == [] for v in (case.query or {}).values()
                ):
                    # An empty array for a query parameter is nothing on the wire: the request sent is
                    # valid, yet schemathesis judges the typed value and calls accepting it a failure.
                    reject()
                world.figures[role]["cases"] += 1
                headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
                case.call_and_validate(headers=headers | world.headers[role], checks=list(CHECKS))

            try:
                run()
            except Unsatisfiable:  # nothing to make invalid (an operation without parameters)
                continue
            except (Exception, BaseExceptionGroup) as exc:  # collect every operation's failure, then report
                world.figures[role]["failures"] += 1
                failures.append(
                    f"{operation.method.upper()} {operation.path} [{mode.value}]: {_failure_text(exc)}"
                )
    assert not failures, f"{len(failures)} operations fail as {role}:\n" + "\n".join(failures)
