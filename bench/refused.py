"""A file refused row by row: how long until its report comes back, and how big it is.

    python bench/refused.py [--rows 100000] [--reason outcome|id]

A clerk's term file with something wrong on every row — an outcome code the catalogue does not
have (``outcome``), or ID numbers whose check digit is wrong (``id``) — sent three ways, on SQLite,
in this process (``TestClient``: the server's work and the answer's encoding, not a network):

* ``POST /api/v1/completions/batch`` (CSV), ``mode=all_or_nothing``: 422 ``batch_rejected``;
* the same with ``mode=partial``: the 200 report;
* the console's upload (``staff.uploads.import_upload``, what ``POST /console/{code}/upload`` runs).

Wall and CPU seconds of each and the answer's size are printed, with the load average before and
after (the machine is shared). Nothing is asserted: bench/README.md records the runs.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

ADMIN = "cbo_bench-operator-token"
OPERATOR = {"Authorization": f"Bearer {ADMIN}"}


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def refused_file(reason: str, rows: int, accounts: list[str]) -> bytes:
    from creditbank.kit import idcard

    out = io.StringIO()
    writer = csv.writer(out)
    if reason == "outcome":
        writer.writerow(["external_id", "account_no", "outcome_code", "completed_on"])
        for k in range(rows):
            writer.writerow([f"LMS-{k:07d}", accounts[k % len(accounts)], f"NOPE-{k % 7}", "2025-03-01"])
    else:
        writer.writerow(["external_id", "national_id", "outcome_code", "completed_on"])
        for k in range(rows):
            good = idcard.make("500118", date(1960, 1, 1) + timedelta(days=k % 3000), k % 1000)
            writer.writerow(
                [f"LMS-{k:07d}", good[:-1] + ("1" if good[-1] == "0" else "0"), "BN-1", "2025-03-01"]
            )
    return out.getvalue().encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--reason", choices=("outcome", "id"), default="outcome")
    args = parser.parse_args()

    from fastapi.testclient import TestClient

    from creditbank.app import create_app
    from creditbank.config import Settings
    from creditbank.db import Database
    from creditbank.kit import idcard
    from creditbank.migrations import upgrade
    from creditbank.staff import service as staff
    from creditbank.staff import uploads

    with tempfile.TemporaryDirectory(prefix="cb-refused-") as folder:
        work = Path(folder)
        url = f"sqlite:///{work}/creditbank.db"
        upgrade(url)
        settings = Settings(
            database_url=url,
            keys_dir=work / "keys",
            admin_token=ADMIN,
            secret="bench-secret",
            rate_limit_file=work / "ratelimit",
            log_checkpoint_interval=0,
        )
        db = Database(url)
        try:
            with TestClient(create_app(settings, db)) as client:
                client.post(
                    "/api/v1/institutions", json={"code": "BENCH", "name_zh": "基准学院"}, headers=OPERATOR
                )
                client.post("/api/v1/institutions/BENCH/accredit", headers=OPERATOR)
                key = client.post("/api/v1/institutions/BENCH/api-keys", json={}, headers=OPERATOR).json()[
                    "key"
                ]
                inst = {"Authorization": f"Bearer {key}"}
                course = {"title_zh": "居民用电安全", "category": "community", "level": 2, "credits": 1}
                client.put("/api/v1/catalogue/BN-1", json=course, headers=inst)
                accounts = [
                    client.post(
                        "/api/v1/learners",
                        json={"name": f"学员{i}", "national_id": idcard.make("500118", date(1960, 1, 1), i)},
                        headers=inst,
                    ).json()["account_no"]
                    for i in range(20)
                ]
                data = refused_file(args.reason, args.rows, accounts)
                print(
                    f"{args.rows} rows refused for {args.reason}, {len(data) / 1e6:.1f} MB CSV; load {load()}"
                )
                for mode in ("all_or_nothing", "partial"):
                    t0, c0 = time.perf_counter(), time.process_time()
                    answer = client.post(
                        f"/api/v1/completions/batch?mode={mode}",
                        content=data,
                        headers=inst | {"Content-Type": "text/csv"},
                    )
                    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
                    print(
                        f"API {mode:<14} {answer.status_code}  {wall:6.2f} s wall  {cpu:6.2f} s CPU  "
                        f"answer {len(answer.content) / 1e6:5.2f} MB"
                    )
            with db.unit_of_work() as session:
                account = staff.create_staff(
                    session,
                    institution_code="BENCH",
                    username="bench-clerk",
                    name="文员",
                    password="bench-password-2026",
                    roles="clerk",
                )
                clerk = staff._staff_user(session, account)
            t0, c0 = time.perf_counter(), time.process_time()
            result = uploads.import_upload(
                db,
                user=clerk,
                institution_id=clerk.institution_id or 0,
                file=io.BytesIO(data),
                filename="term.csv",
                secret=settings.id_secret(),
                max_rows=settings.max_batch_rows,
            )
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            print(f"console upload     {len(result.refused)} refused  {wall:6.2f} s wall  {cpu:6.2f} s CPU")
            with db.reader() as session:
                t0 = time.perf_counter()
                _, book = uploads.refused_file(
                    session, institution_id=result.upload.institution_id, upload_id=result.upload.id
                )
                print(
                    f"console download   refused.xlsx {len(book) / 1e6:.1f} MB  {time.perf_counter() - t0:6.2f} s wall"
                )
        finally:
            db.dispose()
    print(f"load {load()}")


if __name__ == "__main__":
    main()
