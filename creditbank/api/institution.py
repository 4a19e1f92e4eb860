"""Institution routes: catalogue, enrolment, completions, balances (SPEC §3.2–§3.4)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError

from creditbank.api.deps import (
    ActingInstitution,
    ActingInstitutionOrOperator,
    DbDep,
    IdempotencyKey,
    InstitutionOrOperator,
    Principal,
    Remember,
    SettingsDep,
    body_digest,
    write,
    write_in_steps,
)
from creditbank.api.problems import validation_errors
from creditbank.catalogue import service as catalogue
from creditbank.catalogue.models import Outcome
from creditbank.catalogue.schemas import OutcomeOut, OutcomeSpec
from creditbank.completions import imports
from creditbank.completions import service as completions
from creditbank.completions.batchfile import COLUMNS, FileInfo, Row, read_rows
from creditbank.completions.schemas import (
    BatchJsonIn,
    BatchReportOut,
    CompletionIn,
    CompletionOut,
    FileReadOut,
    RevokeIn,
    RowErrorOut,
)
from creditbank.errors import CreditbankError
from creditbank.httpio import JsonRoute, spool_body
from creditbank.institutions import service as institutions
from creditbank.kit import jsonbody
from creditbank.kit.units import credits
from creditbank.learners import names
from creditbank.learners import service as learners
from creditbank.learners.schemas import (
    ActivationSlipOut,
    EnrolmentIn,
    EnrolmentOut,
    NameCorrectedOut,
    NameCorrectionIn,
    NameCorrectionOut,
    NameHistoryOut,
)
from creditbank.ledger import queries
from creditbank.ledger.schemas import BalanceOut
from creditbank.staff import service as activity

router = APIRouter(route_class=JsonRoute, prefix="/api/v1", tags=["institution 机构"])


def outcome_out(o: Outcome) -> dict:
    return OutcomeOut(
        code=o.code,
        version=o.version,
        title_zh=o.title_zh,
        title_en=o.title_en,
        category=o.category,
        level=o.level,
        credits=credits(o.credits_units),
        hours=o.hours,
        credits_from_hours=o.credits_from_hours,
        validity_years=o.validity_years,
        min_score=o.min_score,
    ).model_dump(mode="json")


def completion_out(p: completions.Posted) -> dict:
    return CompletionOut(
        id=p.id,
        external_id=p.external_id,
        account_no=p.account_no,
        outcome_code=p.outcome_code,
        credits=credits(p.credits_units),
        transaction_id=p.transaction_id,
        completed_on=p.completed_on,
        state=p.state,  # type: ignore[arg-type]  # a str column; pydantic checks it against the Literal
    ).model_dump(mode="json")


def balance_out(b: queries.Balance) -> dict:
    return BalanceOut(
        account_no=b.account_no,
        total=credits(b.total_units),
        by_category={k: credits(v) for k, v in sorted(b.by_category.items())},
        by_level={str(k): credits(v) for k, v in sorted(b.by_level.items())},
        convertible=credits(b.convertible_units),
    ).model_dump(mode="json")


@router.put(
    "/catalogue/{outcome_code}",
    response_model=OutcomeOut,
    summary="发布学习成果 · Publish or edit a learning outcome (a change adds a version)",
)
def put_outcome(
    outcome_code: str, body: OutcomeSpec, db: DbDep, settings: SettingsDep, principal: ActingInstitution
) -> Response:
    if not _valid_code(outcome_code):
        raise CreditbankError(
            "invalid_value", {"field": "outcome_code", "reason": "字母、数字、._- / letters, digits, ._-"}
        )

    def use_case(session):
        # Read afresh in the writing transaction, as the console does: a suspension (or anything but
        # accreditation) that committed after the key was checked publishes nothing either.
        institutions.require_accredited(session, principal.institution.id)
        outcome, created = catalogue.upsert(
            session,
            institution_id=principal.institution.id,
            code=outcome_code,
            spec=body,
            hours_per_credit=settings.hours_per_credit,
        )
        return (201 if created else 200), outcome_out(outcome)

    return write(db, principal, use_case)


def _valid_code(code: str) -> bool:
    return 1 <= len(code) <= 64 and all(c.isalnum() or c in "._-" for c in code)


@router.get("/catalogue", response_model=list[OutcomeOut], summary="学习成果目录 · The current catalogue")
def get_catalogue(
    db: DbDep,
    principal: InstitutionOrOperator,
    institution: Annotated[str | None, Query(description="Operator: whose catalogue")] = None,
) -> list[dict]:
    with db.reader() as session:
        if principal.role == "institution":
            owner = principal.institution
        elif institution is None:
            raise CreditbankError("invalid_value", {"field": "institution", "reason": "必填 / required"})
        else:
            owner = institutions.get(session, institution)
        return [
            outcome_out(o) for o in catalogue.current_catalogue(session, institution_id=owner.id).values()
        ]


@router.post(
    "/learners",
    response_model=EnrolmentOut,
    status_code=201,
    summary="学习者开户 · Enrol a learner (same ID number → same account)",
)
def enroll(
    body: EnrolmentIn,
    request: Request,
    db: DbDep,
    settings: SettingsDep,
    principal: ActingInstitutionOrOperator,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    secret = settings.id_secret()

    def use_case(session):
        enrolment = learners.enroll(
            session, secret=secret, institution_id=_institution_id(principal), **body.model_dump()
        )
        out = EnrolmentOut(
            account_no=enrolment.learner.account_no,
            activation_code=enrolment.activation_code,
            created=enrolment.created,
            name_differs=enrolment.name_differs,
        )
        return (201 if enrolment.created else 200), out.model_dump(mode="json")

    return write(
        db,
        principal,
        use_case,
        idempotency_key=idempotency_key,
        request_hash=body_digest(request, body),
        secret_fields=("activation_code",),  # never stored: a replay answers it as null (item 8)
    )


def _institution_id(principal: Principal) -> int | None:
    return principal.institution.id if principal.institution else None


@router.post(
    "/learners/{account_no}/activation-slips",
    response_model=ActivationSlipOut,
    status_code=201,
    summary="重新发放激活单 · A new activation slip for a learner who forgot their password",
    description="For the institution that enrolled the learner, or the operator. The answer's code "
    "is shown once (print it on a slip; an Idempotency-Key replay answers it as null). Nothing "
    "changes for the learner until they activate with it (`POST /api/v1/auth/activate`): then the "
    "new password replaces the old one and every session of the account ends. Recorded in the "
    "activity log (who, when; never the code). Another institution that taught or re-enrolled the "
    "learner: 403 `activation_slip_not_allowed`; one that cannot see them: 404.",
)
def new_activation_slip(
    account_no: Annotated[str, Path(max_length=20)],
    request: Request,
    db: DbDep,
    settings: SettingsDep,
    principal: ActingInstitutionOrOperator,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    secret = settings.id_secret()

    def use_case(session):
        slip = learners.new_activation_slip(
            session, secret=secret, account_no=account_no, institution_id=_institution_id(principal)
        )
        who = f"API key {principal.api_key.id}" if principal.api_key else "operator token"
        activity.record_api(
            session,
            "new activation slip",
            f"{slip.learner.account_no} ({who})",
            institution_id=_institution_id(principal),
        )
        out = ActivationSlipOut(
            account_no=slip.learner.account_no,
            activation_code=slip.activation_code,
            expires_at=slip.expires_at,
            had_password=slip.had_password,
        )
        return 201, out.model_dump(mode="json")

    return write(
        db,
        principal,
        use_case,
        idempotency_key=idempotency_key,
        request_hash=body_digest(request, None),
        secret_fields=("activation_code",),
    )


@router.post(
    "/completions",
    response_model=CompletionOut,
    status_code=201,
    summary="登记学习成果 · Post one completion (replay of the same external_id returns the original)",
    description="Validated, then recorded with its ledger transaction in one database transaction. "
    "Refused, each with its own `code`: a learner who already has this outcome (any version) — 409 "
    "`duplicate_completion` when it was posted, 409 `outcome_held_by_conversion` when an approved (not "
    "reversed) conversion granted it (the message names the rule and the conversion; 同一课程不能重复计入); "
    "the same `external_id` with other content 409 `external_id_conflict`; a score below the minimum, a "
    "date in the future or before the learner's birth 422.",
    responses={200: {"description": "Replay: the completion already posted with this external_id"}},
)
def post_completion(
    body: CompletionIn,
    request: Request,
    db: DbDep,
    settings: SettingsDep,
    principal: ActingInstitution,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    secret = settings.id_secret()

    def use_case(session):
        posted = completions.post_one(
            session,
            institution=principal.institution,  # read afresh inside: a suspension just committed counts
            api_key_id=principal.api_key.id,
            secret=secret,
            values=body.model_dump(),
        )
        return (200 if posted.replayed else 201), completion_out(posted)

    return write(
        db, principal, use_case, idempotency_key=idempotency_key, request_hash=body_digest(request, body)
    )


_BATCH_DOC = """Import many completions at once · 批量导入.

Send **CSV** (UTF-8, UTF-8 with BOM, or GB18030) or **XLSX**, either as the raw body
(`Content-Type: text/csv` / the XLSX media type) or as multipart field `file`; or **JSON**
`{"mode": ..., "rows": [{...}]}`. Columns: `external_id, account_no | national_id, outcome_code,
completed_on, score, hours, name` (Chinese headers 外部编号, 学习账号, 身份证号, 成果代码, 完成日期, 成绩, 学时, 姓名
work too). `name` (姓名) is optional and not imported: when given, each row's name must be the one
registered for its ID number or account — or one the learner had before a correction; spaces,
full-width letters, the forms of the middle dot (·•・) and case do not count — else the row is refused
with `name_mismatch` (most likely a wrong ID number: the credits would go to someone else). The
message never says the registered name.

`mode=all_or_nothing` (default): any bad row → 422 `batch_rejected`, and nothing is written; its
`errors` lists the first 100 bad rows of each code (by line, with both messages), `error_counts`
counts the rows of each code and `error_lines` gives every bad row's line by code — as the 200
report of `mode=partial` does. `mode=partial`: good rows are written, bad rows are listed. Each row is checked
as a single post is (e.g. `duplicate_completion`, `outcome_held_by_conversion` for a course the learner
holds through an approved conversion). `external_id_conflict` says which record has the id: the line
of the same file, or the date it was posted (with its account and outcome). A row repeated word for
word counts once: `duplicates` and `warning_counts` count every such row, `warnings` lists the first 100.
Limits: 20 MB, 100 000 rows → 413."""


@router.post(
    "/completions/batch",
    response_model=BatchReportOut,
    summary="批量导入 · Batch import",
    description=_BATCH_DOC,
    openapi_extra={
        "requestBody": {
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
                    "schema": {"type": "string", "format": "binary"}
                },
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"file": {"type": "string", "format": "binary"}},
                    }
                },
                "application/json": {
                    "schema": BatchJsonIn.model_json_schema(ref_template="#/components/schemas/{model}")
                },
            }
        }
    },
)
async def post_batch(
    request: Request,
    db: DbDep,
    settings: SettingsDep,
    principal: ActingInstitution,
    mode: Literal["all_or_nothing", "partial"] | None = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    secret = settings.id_secret()
    source: Callable[[], Iterable[tuple[int, dict[str, Any]] | tuple[int, str, dict[str, Any]]]]
    read: FileInfo | None = None  # how a CSV/XLSX was read (the header's line, the sheet, extra columns)
    if request.headers.get("content-type", "").startswith("application/json"):
        # Parsed by hand (the body may also be CSV/XLSX), as every other JSON body is (httpio.JsonRoute):
        # malformed JSON is then reported at the same place in the same words.
        raw = await _limited_json(request, settings.max_upload_bytes)
        if not raw.strip():  # as FastAPI reports an empty body on the other routes
            missing = [{"type": "missing", "loc": ("body",), "msg": "Field required"}]
            raise CreditbankError("validation_error", errors=validation_errors(missing))
        try:
            body = BatchJsonIn.model_validate(jsonbody.loads(raw))
        except (jsonbody.NotJson, json.JSONDecodeError) as exc:
            raise CreditbankError("validation_error", errors=[jsonbody.problem_entry(exc)]) from None
        except ValidationError as exc:
            raise CreditbankError("validation_error", errors=validation_errors(exc.errors())) from None
        chosen_mode = mode or body.mode
        request_hash = body_digest(request, {"mode": chosen_mode, "rows": body.rows})
        rows = [(i + 1, {c: r.get(c) for c in COLUMNS}) for i, r in enumerate(body.rows)]
        for line, _values in rows:
            unknown = set(body.rows[line - 1]) - set(COLUMNS)
            if unknown:
                raise CreditbankError("unknown_columns", {"columns": ", ".join(sorted(unknown))})
        source = lambda: rows  # noqa: E731
    else:
        file, file_hash, filename = await spool_body(request, settings.max_upload_bytes)
        chosen_mode = mode or "all_or_nothing"
        request_hash = body_digest(request, {"mode": chosen_mode, "sha256": file_hash})
        read = FileInfo()
        source = lambda: (  # noqa: E731
            (r.line, r.values) if isinstance(r, Row) else (r.line, r.code, r.params)
            for r in read_rows(file, filename=filename, max_rows=settings.max_batch_rows, info=read)
        )

    def shape(report: completions.BatchReport) -> dict:
        refused = completions.listing(report.errors)
        return BatchReportOut(
            mode=report.mode,
            total_rows=report.total_rows,
            accepted=report.accepted,
            replayed=report.replayed,
            rejected=report.rejected,
            duplicates=report.duplicates,
            committed=report.committed,
            errors=[RowErrorOut.model_validate(e) for e in refused.errors],
            error_counts=refused.counts,
            error_lines=refused.lines,
            warnings=[RowErrorOut.model_validate(e) for e in report.warnings],
            warning_counts=report.warning_counts,
            file=None if read is None else FileReadOut.model_validate(read.as_dict()),
        ).model_dump(mode="json")

    def use_case(remember: Remember) -> tuple[int, dict]:
        # Staged: committed in chunks, published at once, so other writers keep moving meanwhile.
        report = imports.run(
            db,
            institution_id=principal.institution.id,
            api_key_id=principal.api_key.id,
            secret=secret,
            rows=source,
            mode=chosen_mode,
            on_publish=lambda session, report: remember(session, 200, shape(report)),
        )
        return 200, shape(report)

    try:
        return await run_in_threadpool(
            write_in_steps,
            db,
            principal,
            use_case,
            idempotency_key=idempotency_key,
            request_hash=request_hash,
        )
    except CreditbankError as exc:
        if exc.code != "batch_rejected" or exc.errors is None:
            raise
        refused = completions.listing(exc.errors)
        raise CreditbankError(
            exc.code,
            exc.params,
            errors=refused.errors,
            extensions={"error_counts": refused.counts, "error_lines": refused.lines},
        ) from None


async def _limited_json(request: Request, limit: int) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise CreditbankError("upload_too_large", {"limit_mb": limit // (1024 * 1024)})
        chunks.append(chunk)
    return b"".join(chunks)


@router.get("/completions/{completion_id}", response_model=CompletionOut, summary="查看记录 · One completion")
def get_completion(completion_id: str, db: DbDep, principal: InstitutionOrOperator) -> dict:
    with db.reader() as session:
        completion, account_no = completions.get(session, completion_id)
        if principal.role == "institution" and completion.institution_id != principal.institution.id:
            raise CreditbankError("completion_not_found", {"id": completion_id})
        return completion_out(completions.as_posted(completion, account_no, replayed=True))


@router.post(
    "/completions/{completion_id}/revoke",
    response_model=CompletionOut,
    summary="撤销记录 · Revoke a mistaken completion (reverses its credits)",
)
def revoke_completion(
    completion_id: str,
    body: RevokeIn,
    request: Request,
    db: DbDep,
    principal: ActingInstitutionOrOperator,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    if body.force and principal.role != "operator":
        raise CreditbankError("forbidden")

    def use_case(session):
        posted = completions.revoke(
            session,
            completion_id=completion_id,
            institution_id=_institution_id(principal),
            reason=body.reason,
            force=body.force,
            revoked_by=principal.key,
        )
        return 200, completion_out(posted)

    return write(
        db, principal, use_case, idempotency_key=idempotency_key, request_hash=body_digest(request, body)
    )


@router.get(
    "/learners/{account_no}/balance",
    response_model=BalanceOut,
    summary="学分余额 · A learner's balance (learners this institution enrolled or taught)",
)
def learner_balance(account_no: str, db: DbDep, principal: InstitutionOrOperator) -> dict:
    with db.autocommit_reader() as session:  # two statements, each complete: no transaction needed
        learner = learners.visible_to(
            session,
            account_no,
            institution_id=principal.institution.id if principal.role == "institution" else None,
        )
        return balance_out(queries.balance(session, learner))


def correction_out(c: names.Correction) -> NameCorrectionOut:
    return NameCorrectionOut(
        id=c.id,
        old_name=c.old_name,
        new_name=c.new_name,
        reason=c.reason,
        corrected_at=c.corrected_at,
        institution_code=c.institution_code,
        institution_name=c.institution_name_zh,
    )


@router.post(
    "/learners/{account_no}/name-corrections",
    response_model=NameCorrectedOut,
    status_code=201,
    summary="更正姓名 · Correct a learner's name (the enrolling institution, the operator)",
    description="The old name, the new one, the reason, who and when are kept "
    "(`GET …/name-corrections`); certificates already issued keep the name they were signed with "
    "and stay valid. The ID number cannot be corrected: another ID number is another person (enrol "
    "them). The name the learner already has: 200, `changed: false`, nothing recorded.",
    responses={200: {"description": "The name was this already: nothing changed"}},
)
def correct_name(
    account_no: str,
    body: NameCorrectionIn,
    request: Request,
    db: DbDep,
    principal: ActingInstitutionOrOperator,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    def use_case(session):
        done = names.correct(
            session,
            account_no=account_no,
            name=body.name,
            reason=body.reason,
            institution_id=_institution_id(principal),
            corrected_by=principal.key,
        )
        out = NameCorrectedOut(
            account_no=done.learner.account_no,
            name=done.learner.name,
            changed=done.changed,
            correction=correction_out(done.correction) if done.correction else None,
        )
        return (201 if done.changed else 200), out.model_dump(mode="json")

    return write(
        db, principal, use_case, idempotency_key=idempotency_key, request_hash=body_digest(request, body)
    )


@router.get(
    "/learners/{account_no}/name-corrections",
    response_model=NameHistoryOut,
    summary="姓名更正记录 · A learner's name and its corrections (learners this institution enrolled or taught)",
)
def name_history(account_no: str, db: DbDep, principal: InstitutionOrOperator) -> dict:
    with db.reader() as session:
        learner = learners.visible_to(
            session,
            account_no,
            institution_id=principal.institution.id if principal.role == "institution" else None,
        )
        return NameHistoryOut(
            account_no=learner.account_no,
            name=learner.name,
            corrections=[correction_out(c) for c in names.history(session, learner.id)],
        ).model_dump(mode="json")
