"""One error type for the whole bank, rendered as RFC 9457 problem+json.

Every error carries a stable machine ``code`` and a message in Chinese and English; the
HTTP layer picks the language from ``Accept-Language`` (zh-CN by default). Domain code raises
``CreditbankError`` and never ``HTTPException``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# code -> (HTTP status, 中文, English). Messages may use {placeholders} filled from ``params``.
CODES: dict[str, tuple[int, str, str]] = {
    "validation_error": (422, "请求内容格式不正确", "The request body is not valid"),
    "not_found": (404, "找不到该资源", "Resource not found"),
    "method_not_allowed": (
        405,
        "这个地址不接受 {method} 请求，只接受 {allowed}",
        "{method} is not allowed here; use {allowed}",
    ),
    "unsupported_media_type": (
        415,
        "请求内容应为 JSON（Content-Type: application/json），收到的是 {received}",
        "The request body must be JSON (Content-Type: application/json); got {received}",
    ),
    "invalid_parameter": (
        422,
        "参数 {names} 的值不正确",
        "The value of parameter {names} is not valid",
    ),
    "unauthorized": (401, "需要登录或有效的令牌", "A valid token is required"),
    "forbidden": (403, "无权执行此操作", "You are not allowed to do this"),
    "rate_limited": (429, "尝试次数过多，请稍后再试", "Too many attempts; try again later"),
    "busy": (503, "服务器正忙，请稍等片刻再试", "The server is busy; try again in a moment"),
    "text_has_nul": (
        422,
        "提交的内容含有不允许的空字符（NUL），请删去后再试",
        "The request contains a NUL character, which is not allowed; remove it and retry",
    ),
    "internal_error": (500, "服务器内部错误", "Internal server error"),
    "database_unavailable": (
        503,
        "服务暂时无法使用（数据库暂时连不上），请一分钟后再试",
        "The service is briefly unavailable (its database cannot be reached); try again in a minute",
    ),
    # institutions
    "institution_exists": (409, "机构代码 {code} 已存在", "Institution code {code} already exists"),
    "institution_not_found": (404, "找不到机构 {code}", "Institution {code} not found"),
    "institution_not_accredited": (
        403,
        "机构 {code} 尚未获得认证：只能查看，不能发布课程、开户、登记成果、提出转换规则或做其他更改；"
        "认证由区学分银行办理",
        "Institution {code} is not accredited yet: it can read, but not publish outcomes, enrol, post "
        "completions, propose conversion rules or change anything else; the district office accredits it",
    ),
    "institution_suspended": (
        403,
        "机构 {code} 已被暂停，只能查看：不能开户、发布或登记成果、撤销记录、签发或撤销证书、审核转换；"
        "已有学分仍然有效，如需更正请联系平台运营方",
        "Institution {code} is suspended and read-only: it cannot enrol, publish, post or revoke records, "
        "issue or revoke certificates, or decide conversions; existing credits stay valid — ask the "
        "operator for corrections",
    ),
    "invalid_state_change": (
        409,
        "机构状态不能从 {from_state} 改为 {to_state}",
        "Cannot change institution state from {from_state} to {to_state}",
    ),
    "api_key_not_found": (404, "找不到该 API 密钥", "API key not found"),
    # learners
    "unknown_district": (
        422,
        "区县“{district}”不在本行的区域名录中，可填：{allowed}。如需新增区县，请平台运营方在“统计 → 区域名录”"
        "或“常住人口”中添加",
        "District '{district}' is not in the bank's area list; use one of: {allowed}. To add a district, the "
        "operator adds it under Statistics → Area list or Resident population",
    ),
    "ambiguous_district": (
        422,
        "区县“{district}”可能是 {choices} 中的任一个，请写出完整名称",
        "District '{district}' could be any of {choices}; write its full name",
    ),
    "invalid_national_id": (422, "身份证号无效：{reason}", "Invalid national ID number: {reason}"),
    "birth_date_mismatch": (
        422,
        "出生日期 {given} 与身份证号中的出生日期 {from_id} 不一致：请核对身份证号，出生日期可以不填",
        "Birth date {given} differs from the one in the ID number ({from_id}): check the ID number; "
        "the birth date may be left out",
    ),
    "gender_mismatch": (
        422,
        "性别（{given_zh}）与身份证号中的性别（{from_id_zh}）不一致：请核对身份证号，性别可以不填",
        "Gender {given_en} differs from the one in the ID number ({from_id_en}): check the ID number; "
        "the gender may be left out",
    ),
    "learner_not_found": (404, "找不到学习账户 {ref}", "Learning account {ref} not found"),
    "activation_slip_not_allowed": (
        403,
        "这位学习者由{who_zh}开户：新的激活单只能由开户机构或区学分银行管理员发放，请学习者到那里办理",
        "This learner was enrolled by {who_en}: only the enrolling institution or the district office "
        "can issue a new activation slip; send the learner there",
    ),
    "invalid_activation_code": (
        401,
        "账号或激活码不对，或激活码已过期、已用过（已激活的账户请直接登录）",
        "Wrong account number or activation code, or the code has expired or was used (activated accounts: sign in)",
    ),
    "invalid_credentials": (401, "账号或密码错误", "Wrong account number or password"),
    "weak_password": (422, "密码至少需要 8 位", "The password needs at least 8 characters"),
    "name_correction_not_allowed": (
        403,
        "这位学习者由{who_zh}开户：姓名只能由开户机构或区学分银行更正，请与其联系",
        "This learner was enrolled by {who_en}: only the enrolling institution or the district office "
        "can correct the name; ask them",
    ),
    # catalogue
    "outcome_not_found": (404, "找不到学习成果 {code}", "Learning outcome {code} not found"),
    "credits_or_hours_required": (422, "请填写学分或学时", "Give credits or learning hours"),
    "credits_must_be_positive": (
        422,
        "学分必须大于 0：不计学分的活动不能作为学习成果发布",
        "Credits must be more than 0: an activity worth no credits cannot be published as an outcome",
    ),
    "hours_too_few_for_credit": (
        422,
        "学时不足以折算学分：至少需要 {min_hours} 学时（每学分 {hours_per_credit} 学时）",
        "Too few learning hours to make any credit: at least {min_hours} hours are needed "
        "({hours_per_credit} hours per credit)",
    ),
    # completions and ledger
    "outcome_without_credits": (
        422,
        "学习成果 {code} 计 0 学分，不能登记：请先在目录中为它填写学分或足够的学时（发布新版本）",
        "Outcome {code} is worth 0 credits and cannot be posted: give it credits or enough hours in "
        "the catalogue first (a new version)",
    ),
    "completed_on_in_future": (422, "完成日期 {date} 晚于今天", "Completion date {date} is in the future"),
    "completed_on_before_birth": (
        422,
        "完成日期 {date} 早于学习者的出生年份（{birth_year} 年），请核对日期",
        "Completion date {date} is before the learner's birth year ({birth_year}); check the date",
    ),
    "score_below_minimum": (
        422,
        "成绩 {score} 低于最低要求 {minimum}",
        "Score {score} is below the minimum {minimum}",
    ),
    "score_required": (
        422,
        "该学习成果要求填写成绩（最低 {minimum}）",
        "This outcome needs a score (minimum {minimum})",
    ),
    "duplicate_completion": (
        409,
        "该学习者已登记过学习成果 {code}",
        "The learner already has outcome {code}",
    ),
    "outcome_held_by_conversion": (
        409,
        "该学习者已通过学分转换“{rule}”（规则 {rule_code}，转换申请 {conversion}）获得学习成果 {code}，"
        "同一课程不能重复计入",
        "The learner already holds outcome {code} through the conversion “{rule}” (rule {rule_code}, "
        "request {conversion}); the same course cannot count twice",
    ),
    "external_id_conflict": (
        409,
        "外部编号 {external_id} 已用于内容不同的记录{where}",
        "external_id {external_id} was already used with different content{where}",
    ),
    # {where}: which record — "：见本文件第 3 行" or "：已于 2026-03-05 登记（学习账号 …，成果代码 …）"
    # (completions.service.Poster), so the clerk can find the other one.
    "idempotency_key_reused": (
        409,
        "Idempotency-Key 已用于不同的请求",
        "Idempotency-Key was already used for a different request",
    ),
    "completion_not_found": (404, "找不到学习成果记录 {id}", "Completion {id} not found"),
    "completion_unpublished": (
        404,
        "学习成果记录 {id} 所在的批量导入尚未完成发布：发布后即可查看",
        "Completion {id} belongs to a batch import that has not been published yet: it can be seen once published",
    ),
    "already_revoked": (409, "该记录已撤销", "This completion is already revoked"),
    "completion_not_converted": (
        409,
        "学习成果记录 {id} 的学分没有被学分转换使用，不需要区学分银行强制撤销：请登记这条记录的机构（{institution}）的审批员在机构控制台直接撤销",
        "No conversion used the credits of completion {id}, so the district office need not force its revocation: "
        "an approver of the institution that posted it ({institution}) revokes it in the institution console",
    ),
    "lot_consumed": (
        409,
        "该学分已用于学分转换，不能直接撤销",
        "The credits were already used in a conversion and cannot simply be revoked",
    ),
    "lot_locked": (
        409,
        "该学分尚未使用，但正被待审核的学分转换申请（{requests}）锁定，不能直接撤销："
        "须先由审核学校（{schools}）拒绝该申请，或待申请过期",
        "The credits are not used yet but are locked by a conversion request waiting for a decision "
        "({requests}), so they cannot simply be revoked: the deciding school ({schools}) must reject "
        "the request first, or it must expire",
    ),
    "name_mismatch": (
        422,
        "姓名“{name}”与{ref}登记的姓名不一致：请核对{check}是否填错（学分会记到该号码登记的人名下）；"
        "若号码无误，请学习者到开户机构或区学分银行更正姓名",
        "The name '{name}' does not match the name registered for {ref}: check the {check} (the credits "
        "would go to the person registered under it); if the number is right, the learner should have "
        "their name corrected at the institution that enrolled them or at the district office",
    ),
    # The registered name is never shown: the file's own name, and whose number to check.
    "learner_ref_required": (
        422,
        "请填写 account_no 或 national_id 之一",
        "Give exactly one of account_no or national_id",
    ),
    # certificates and verification
    "certificate_not_found": (404, "找不到证书 {id}", "Certificate {id} not found"),
    "completion_disagrees_with_ledger": (
        409,
        "完成记录 {id} 与账本中的记账不一致（{fields}），记录可能被改动过，不能据此签发证书；请联系平台运营方核查",
        "Completion {id} disagrees with its ledger entry ({fields}): the record may have been altered, so "
        "no certificate can be issued from it; ask the operator to check it",
    ),
    "certificate_data_invalid": (
        409,
        "无法签发证书：记录中的{what_zh}为空或含有不可见、控制字符（{value}），请联系{who_zh}更正后再申请",
        "The certificate cannot be issued: the recorded {what_en} is empty or holds invisible or "
        "control characters ({value}); ask {who_en} to correct it, then try again",
    ),
    "nothing_to_certify": (
        422,
        "还没有可以写入成绩单的学习成果",
        "There are no completions to put on a transcript yet",
    ),
    "pdf_unavailable": (
        503,
        "暂时无法生成证书 PDF：缺少{missing_zh}。解决办法：{fix_zh}",
        "Certificate PDFs are unavailable: missing {missing_en}. To fix: {fix_en}",
    ),
    "pdf_busy": (
        503,
        "正在生成的证书 PDF 太多，请 {retry_after} 秒后再试（已生成过的 PDF 不受影响）",
        "Too many certificate PDFs are being rendered; try again in {retry_after} s (PDFs rendered before are unaffected)",
    ),
    "file_not_found": (404, "找不到文件 {path}", "File not found: {path}"),
    "unusable_input": (422, "无法识别：{reason}", "Cannot read this input: {reason}"),
    "json_too_deep": (
        422,
        "JSON 嵌套超过 {limit} 层上限",
        "The JSON is nested deeper than the limit of {limit} levels",
    ),
    "credential_too_large": (
        413,
        "证书数据超出核验上限（{what}），本行签发的证书远小于此",
        "The credential is beyond what verification accepts ({what}); the bank's own are far smaller",
    ),
    "verification_busy": (
        503,
        "正在核验的上传证书过多，请稍后再试（按编号或二维码核验不受影响）",
        "Too many uploaded credentials are being checked; try again shortly (by id or QR is unaffected)",
    ),
    "credential_too_complex": (
        413,
        "证书数据过于复杂，核验超过 {seconds} 秒工作量上限",
        "The credential needs more than the {seconds} s verification work budget",
    ),
    # transparency log
    "log_size_unknown": (
        404,
        "透明日志还没有签署大小为 {size} 的检查点（最新为 {latest}）",
        "The transparency log has no checkpoint of size {size} yet (latest: {latest})",
    ),
    "log_leaf_not_found": (
        404,
        "透明日志中没有第 {index} 号记录（共 {size} 条）",
        "The transparency log has no leaf {index} (it has {size})",
    ),
    "log_tile_not_found": (404, "没有这个日志瓦片：{path}", "No such log tile: {path}"),
    "log_forked": (
        503,
        "本行数据库里的透明日志与已经公布的不一致（数据库可能被换成了较早的备份），登记和签发已暂停，"
        "这次的内容没有保存。请告知区学分银行平台运营方检查本行（creditbank log status）",
        "The bank's transparency log in its database no longer matches the one it published (the database "
        "may have been replaced by an older backup): recording and issuing are paused and nothing of this "
        "request was saved. Tell the district office's operator to check the bank (creditbank log status)",
    ),
    "cosignature_refused": (403, "未接受的见证签名：{reason}", "Cosignature not accepted: {reason}"),
    # conversion and qualifications
    "invalid_outcome_ref": (
        422,
        "学习成果引用 {ref} 格式应为 机构代码:成果代码",
        "Outcome reference {ref} must look like INSTITUTION:CODE",
    ),
    "rule_target_not_owned": (
        403,
        "只能为本机构的学习成果制定转换规则（{ref}）",
        "A rule can only target your own institution's outcome ({ref})",
    ),
    "rule_cycle": (
        422,
        "该规则会形成循环转换（{cycle}）",
        "This rule would create a conversion cycle ({cycle})",
    ),
    "rule_not_found": (404, "找不到转换规则 {ref}", "Conversion rule {ref} not found"),
    "rule_not_available": (
        409,
        "转换规则 {code} 当前不可用：{reason}",
        "Conversion rule {code} is not available: {reason}",
    ),
    "rule_state_conflict": (
        409,
        "规则当前状态为 {state}，不能执行此操作",
        "The rule is {state}; this action is not possible",
    ),
    "credits_or_ratio_required": (
        422,
        "请填写 credits 或 ratio 之一",
        "Give exactly one of credits or ratio",
    ),
    "qualification_not_found": (404, "找不到资历 {code}", "Qualification {code} not found"),
    "qualification_owned_by_other": (
        403,
        "资历 {code} 属于其他机构",
        "Qualification {code} belongs to another institution",
    ),
    "not_eligible": (422, "还不满足转换条件", "The conversion conditions are not met yet"),
    "lot_not_yours": (403, "学分批次 {lot_id} 不属于你的账户", "Lot {lot_id} is not in your account"),
    "conversion_target_held": (
        409,
        "你已获得学习成果“{title}”（{ref}）的学分，不能再通过转换重复获得",
        "You already hold the credits of “{title}” ({ref}); a conversion cannot grant them twice",
    ),
    "conversion_already_requested": (
        409,
        "你已申请转换为“{title}”（{ref}），正在等待学校审核；被拒绝或过期后才能再申请",
        "You already asked for a conversion into “{title}” ({ref}) and it is waiting for the "
        "school's decision; ask again only if it is refused or expires",
    ),
    "conversion_not_found": (404, "找不到转换申请 {id}", "Conversion request {id} not found"),
    "conversion_already_decided": (
        409,
        "该转换申请已处理（{state}）",
        "This conversion request was already decided ({state})",
    ),
    "conversion_expired": (
        409,
        "该转换申请已过期，锁定的学分已释放",
        "This conversion request expired; its credits were released",
    ),
    "conversion_not_withdrawable": (
        409,
        "这项转换申请{state}，不能再撤回；只有等待学校审核的申请可以撤回",
        "This conversion request {state}; only a request still waiting for the school's decision can be "
        "withdrawn",
    ),
    "conversion_withdrawn": (
        409,
        "学习者已撤回这项转换申请，无需再审核",
        "The learner withdrew this conversion request; there is nothing to decide",
    ),
    "conversion_superseded": (
        409,
        "学校已直接为学习者登记了这门课程（学习成果记录 {completion}），这项转换申请已自动结束，"
        "锁定的学分已退回，无需再审核",
        "The school posted this course for the learner directly (completion {completion}); the "
        "conversion request ended by itself and its credits were released — there is nothing to decide",
    ),
    "conversion_target_importing": (
        409,
        "学习成果 {ref} 已由本机构的批量导入（{import_id}）登记给该学习者，但导入尚未发布，暂不能审核："
        "导入发布后这项转换申请会自动结束、学分退回，无需批准；若该导入已失败，请重新发送同一文件，"
        "或请区学分银行管理员放弃该导入后再审核",
        "Your institution's batch import ({import_id}) has posted outcome {ref} for this learner but "
        "is not published yet, so the request cannot be decided now: once the import is published the "
        "request ends by itself and its credits are released, nothing to approve; if that import "
        "failed, send the same file again, or have the operator abandon it, then decide",
    ),
    "qualification_not_met": (
        422,
        "尚未满足资历 {code} 的要求",
        "The requirements of qualification {code} are not met yet",
    ),
    "lots_changed": (
        409,
        "学分在处理期间发生变化，请重新申请",
        "The credits changed meanwhile; please apply again",
    ),
    "conversion_lot_partly_used": (
        409,
        "「{title_zh}」的学分已有部分用于其他转换；按课程转换需要这门课程的全部学分，且未被使用过，不能批准",
        "Part of the credits of “{title_en}” were already used for another conversion; a conversion by "
        "course needs all of that course's credits, unused, so it cannot be approved",
    ),
    # batch import
    "upload_too_large": (
        413,
        "文件超过 {limit_mb} MB 上限",
        "The file is larger than the {limit_mb} MB limit",
    ),
    "body_too_large": (
        413,
        "请求内容超过 {limit_kb} KB 上限",
        "The request body is larger than the {limit_kb} KB limit",
    ),
    "xlsx_too_large": (
        413,
        "Excel 文件解压后超出上限（{what}），请另存为普通的 .xlsx 或 CSV 后再上传",
        "The Excel file inflates beyond a limit ({what}); save it as a plain .xlsx or CSV and upload again",
    ),
    "too_many_rows": (
        413,
        "文件超过 {limit} 行上限：请把它拆成几个文件，每个不超过 {limit} 行，分别上传",
        "The file has more than {limit} rows: split it into files of at most {limit} rows each and upload "
        "them one by one",
    ),
    "unsupported_file": (
        415,
        "只支持 CSV（UTF-8 或 GB18030）、XLSX 或 JSON",
        "Only CSV (UTF-8 or GB18030), XLSX or JSON are accepted",
    ),
    "unsupported_spreadsheet": (
        415,
        "只支持 CSV（UTF-8 或 GB18030）或 Excel（.xlsx）文件",
        "Only CSV (UTF-8 or GB18030) or Excel (.xlsx) files are accepted",
    ),
    "old_excel_file": (
        415,
        "这是旧版 Excel 文件（.xls），无法读取：请在 Excel/WPS 中“另存为” .xlsx 后再上传",
        "This is an old Excel file (.xls), which cannot be read: save it as .xlsx in Excel or WPS and "
        "upload again",
    ),
    "unsupported_verify_input": (
        415,
        "请上传证书 PDF、证书二维码的照片（PNG 或 JPEG）或凭证 JSON 文件",
        "Upload the certificate PDF, a photo of its QR code (PNG or JPEG) or the credential JSON",
    ),
    "wrong_encoding": (
        422,
        "无法识别文件编码，请另存为 UTF-8 或 GB18030 的 CSV",
        "Unknown text encoding; save the CSV as UTF-8 or GB18030",
    ),
    "missing_columns": (
        422,
        "缺少列：{columns}（表头在第 {line} 行）。表头应有：{accepted}",
        "Missing columns: {columns} (the header is line {line}). A header names: {accepted}",
    ),
    "header_not_found": (
        422,
        "前 {lines} 行中找不到表头。表头应有：{accepted}（中文或英文列名均可）；表头上方可以有标题行",
        "No header in the first {lines} lines. A header names: {accepted} (Chinese or English names); "
        "a title may stand above it",
    ),
    "unknown_columns": (422, "无法识别的列：{columns}", "Unknown columns: {columns}"),
    "empty_file": (422, "文件中没有数据行", "The file has no data rows"),
    "malformed_row": (422, "第 {line} 行格式错误：{reason}", "Row {line} is malformed: {reason}"),
    "empty_row": (422, "空行", "Empty row"),
    "merged_cells": (
        422,
        "表格含有合并单元格 {ranges}，请取消合并后再上传",
        "The sheet has merged cells {ranges}; unmerge them and upload again",
    ),
    "duplicate_in_file": (
        409,
        "与第 {first_line} 行完全相同（外部编号 {external_id}），只导入一次",
        "The same as line {first_line} (external_id {external_id}); imported once",
    ),
    "import_in_progress": (
        409,
        "本机构有一个批量导入正在进行，请在它结束后再提交",
        "A batch import of this institution is in progress; send this again when it has finished",
    ),
    "import_not_found": (404, "没有编号为 {id} 的批量导入", "No batch import with id {id}"),
    "import_published": (
        409,
        "批量导入 {id} 已经发布，不能放弃；请逐条撤销其中的记录",
        "Batch import {id} is published and cannot be abandoned; revoke its completions one by one",
    ),
    "completion_abandoned": (
        409,
        "外部编号 {external_id} 属于一个已放弃的批量导入（已冲销）：请用新的外部编号重新提交",
        "external_id {external_id} belongs to an abandoned batch import (reversed): send it again under a new external_id",
    ),
    "completion_pending": (
        409,
        "外部编号 {external_id} 属于一个未完成的批量导入：请重新上传那个文件以完成导入",
        "external_id {external_id} belongs to a batch import that did not finish: upload that file again to finish it",
    ),
    "batch_rejected": (
        422,
        "有 {rejected} 行不合格，整批未导入",
        "Nothing was imported: rows rejected: {rejected}",
    ),
    "invalid_value": (422, "{field} 的值无效：{reason}", "Invalid value for {field}: {reason}"),
    "invalid_text": (
        422,
        "{field} 含有不可见或控制字符（{char}），常见于从 Excel 或微信复制的文字：请删除后重新输入",
        "{field} contains an invisible or control character ({char}), as text copied from Excel or "
        "WeChat often does: delete it and type the text again",
    ),
    # the VC-API test endpoints (creditbank/vcapi); `errors` carries VC 2.0 ProblemDetails
    "vc_invalid_request": (400, "请求不符合 VC-API：{detail}", "Not a VC-API request: {detail}"),
    "vc_invalid_document": (
        400,
        "文档不符合 VC 2.0 数据模型：{detail}",
        "The document does not follow the VC 2.0 data model: {detail}",
    ),
    "vc_not_this_issuer": (400, "测试端点只以自己的 did:key 签发：{detail}", "Wrong issuer: {detail}"),
    "vc_option_unsupported": (422, "不支持的选项：{detail}", "Unsupported option: {detail}"),
    "vc_cannot_sign": (400, "无法签发：{detail}", "Cannot sign: {detail}"),
    "vc_proof_failed": (400, "证明未通过验证：{detail}", "A proof does not verify: {detail}"),
    "vc_wrong_challenge": (400, "challenge 与要求的不符：{detail}", "Wrong challenge: {detail}"),
    "vc_wrong_domain": (400, "domain 与要求的不符：{detail}", "Wrong domain: {detail}"),
    "vc_not_valid_now": (400, "不在有效期内：{detail}", "Not valid now: {detail}"),
    "vc_revoked": (400, "已被签发方撤销：{detail}", "Revoked by its issuer: {detail}"),
    "vc_too_costly": (
        422,
        "文档处理超出时间预算：{detail}",
        "The document takes too long to process: {detail}",
    ),
    # pages and share links
    "csrf_failed": (
        403,
        "这个表单已失效，请返回上一页刷新后再提交",
        "This form is no longer valid; go back, reload the page and submit again",
    ),
    "form_incomplete": (
        422,
        "表单没有填完整，请返回检查",
        "The form is incomplete; please go back and check it",
    ),
    "passwords_differ": (422, "两次输入的密码不一样", "The two passwords are not the same"),
    "page_not_found": (404, "找不到这个页面", "This page does not exist"),
    "share_link_not_found": (404, "找不到这个分享链接", "This share link does not exist"),
    "share_link_expired": (
        410,
        "这个分享链接已失效：有效期已过",
        "This share link is no longer valid: it has expired",
    ),
    "share_link_revoked": (
        410,
        "这个分享链接已失效：持有人已停用",
        "This share link is no longer valid: its holder stopped it",
    ),
    "share_needs_certificates": (422, "请至少选择一份证书", "Choose at least one certificate"),
    # staff and operator accounts (creditbank/staff) and their pages
    "staff_sign_in_failed": (401, "用户名或密码错误", "Wrong username or password"),
    "operator_sign_in_failed": (
        401,
        "用户名、密码或六位动态验证码错误（验证码每 30 秒更换，每个只能用一次）",
        "Wrong username, password or six-digit code (codes change every 30 seconds and work once)",
    ),
    "staff_weak_password": (
        422,
        "工作人员密码至少需要 10 位",
        "A staff password needs at least 10 characters",
    ),
    "username_taken": (409, "用户名 {username} 已被使用", "The username {username} is taken"),
    "staff_not_found": (404, "找不到这个工作人员账号", "This staff account does not exist"),
    "staff_role_required": (
        403,
        "你的账号没有这个权限：需要“{role_zh}”角色，请找本机构的管理员",
        "Your account may not do this: it needs the {role_en} role; ask your institution's administrator",
    ),
    "operator_required": (
        403,
        "这个页面只对区学分银行管理员（运营方）开放",
        "This page is for the district office (the operator) only",
    ),
    "other_institution": (
        403,
        "这个页面属于另一个机构，你的账号不能打开",
        "This page belongs to another institution; your account cannot open it",
    ),
    "upload_not_found": (404, "找不到这次上传的记录", "This upload does not exist"),
    "unsupported_upload": (
        415,
        "只能上传证书的 PDF 文件或二维码照片（PNG、JPEG）",
        "Upload the certificate's PDF or a photo of its QR code (PNG, JPEG)",
    ),
    # statistics and recognition
    "stats_period_invalid": (
        422,
        "统计期间的开始日期 {from} 晚于结束日期 {to}",
        "The period starts ({from}) after it ends ({to})",
    ),
    "stats_period_out_of_range": (
        422,
        "统计日期 {date} 超出范围，请选 {first} 至 {last} 之间的日期",
        "The date {date} is out of range; choose dates from {first} to {last}",
    ),
    "stats_group_unknown": (
        422,
        "不能按 {group_by} 分组，可选：{allowed}",
        "Cannot group by {group_by}; choose one of: {allowed}",
    ),
    "stats_figure_unknown": (404, "没有统计图表 {figure}", "No statistics figure {figure}"),
    "stats_computing": (
        503,
        "这个期间（或区县）的统计数据量大，正在后台计算，请 {retry_after} 秒后刷新本页",
        "These figures take long to compute and are being computed in the background; "
        "reload in {retry_after} s",
    ),
    "stats_timeout": (
        503,
        "这个期间（或区县）的统计计算超过了 {seconds} 秒的上限，已停止：请选择较短的期间或单个区县；"
        "上限由管理员设置（CREDITBANK_STATS_STATEMENT_TIMEOUT_SECONDS）",
        "Computing these figures took longer than the limit of {seconds} s and was stopped: choose a "
        "shorter period or one district; the limit is the administrator's "
        "(CREDITBANK_STATS_STATEMENT_TIMEOUT_SECONDS)",
    ),
    "population_invalid": (
        422,
        "第 {line} 行：{district} {band} 的常住人口必须是正整数（填写的是“{value}”），未作任何更改",
        "Line {line}: the resident population of {district} {band} must be a positive whole number "
        "(got '{value}'); nothing was changed",
    ),
    "target_invalid": (
        422,
        "目标 {name} 必须是 0 到 100 之间的百分数（填写的是“{value}”），未作任何更改",
        "Target {name} must be a percentage from 0 to 100 (got '{value}'); nothing was changed",
    ),
    "area_invalid": (
        422,
        "第 {line} 行：区域名录需要区县和乡镇/街道名称（{reason}），未作任何更改",
        "Line {line}: the area list needs a district and a 乡镇/街道 name ({reason}); nothing was changed",
    ),
    "stats_file_invalid": (
        422,
        "无法读取该 CSV 文件：{reason}，未作任何更改",
        "Cannot read this CSV file: {reason}; nothing was changed",
    ),
    "award_not_found": (404, "找不到表彰记录 {id}", "Award {id} not found"),
    "award_not_consented": (
        409,
        "该学习者没有同意公开表彰，不能记录表彰",
        "This learner has not agreed to be named; the award cannot be recorded",
    ),
}


STATUS_NAMES: dict[int, tuple[str, str]] = {
    400: ("请求有误", "Bad Request"),
    401: ("未认证", "Unauthorized"),
    403: ("无权操作", "Forbidden"),
    404: ("找不到", "Not Found"),
    405: ("方法不允许", "Method Not Allowed"),
    409: ("与当前状态冲突", "Conflict"),
    410: ("已失效", "Gone"),
    413: ("内容过大", "Content Too Large"),
    415: ("内容类型不支持", "Unsupported Media Type"),
    422: ("内容不符合要求", "Unprocessable Content"),
    429: ("请求过于频繁", "Too Many Requests"),
    500: ("服务器内部错误", "Internal Server Error"),
    503: ("暂时无法处理", "Service Unavailable"),
}
"""The HTTP status of each code, in words (RFC 9110's reason phrases in English)."""

STATUS_ADVICE: dict[int, tuple[str, str]] = {
    400: (
        "请求本身有误：按 detail 中的说明改正后再发送，原样重发仍会失败。",
        "The request itself is wrong: correct it as the message says and send it again; unchanged it "
        "fails again.",
    ),
    401: (
        "没有有效的凭据：请重新登录，或在请求头 Authorization: Bearer 中带上有效的令牌或 API 密钥。原样重发"
        "仍会失败。",
        "No valid credentials: sign in again, or send a valid token or API key in the Authorization: "
        "Bearer header. Unchanged, the request fails again.",
    ),
    403: (
        "本行知道你是谁，但你无权执行此操作：请联系消息中提到的机构或区学分银行（运营方）。原样重发仍会失败。",
        "The bank knows who you are, but you may not do this: ask the institution or the district office "
        "(the operator) the message names. Unchanged, the request fails again.",
    ),
    404: (
        "要找的内容不存在，或不属于你：请核对地址中的编号或代码。",
        "What was asked for does not exist, or is not yours: check the id or code in the address.",
    ),
    405: (
        "这个地址不接受该请求方法：请改用响应头 Allow 列出的方法。",
        "This address does not take this method: use one the Allow header lists.",
    ),
    409: (
        "请求与当前状态冲突（已经做过、已被占用或期间有了变化）：请先查询当前状态再决定；原样重发不会成功。",
        "The request conflicts with the current state (already done, taken, or changed meanwhile): read "
        "the current state first; resending it unchanged will not succeed.",
    ),
    410: (
        "已经失效，不会再恢复：请向持有人索取新的链接。",
        "It is gone for good: ask its holder for a new link.",
    ),
    413: (
        "内容超过上限：请拆分或缩小后重新发送。",
        "The content is over the limit: split it or make it smaller, then send it again.",
    ),
    415: (
        "内容类型不对：请按消息所说的格式发送，并写对请求头 Content-Type。",
        "The kind of content is wrong: send one of the formats the message names, with a matching "
        "Content-Type header.",
    ),
    422: (
        "内容能读取，但不符合要求：请按消息（以及 errors 中的每一项）改正后重新发送；原样重发仍会失败。",
        "The content was read but does not meet the rules: correct it as the message (and each entry of "
        "errors) says, then send it again; unchanged it fails again.",
    ),
    429: (
        "请求过于频繁：请等待响应头 Retry-After 给出的秒数后再试。",
        "Too many requests: wait the number of seconds the Retry-After header gives, then try again.",
    ),
    500: (
        "这是本行程序的错误，不是你的请求造成的：请稍后再试；如果一再出现，请把时间和请求的地址告诉区学分银行"
        "（运营方）。",
        "A fault in the bank, not in your request: try again later; if it keeps happening, tell the "
        "district office (the operator) the time and the address you asked.",
    ),
    503: (
        "暂时无法处理：请等待 Retry-After 给出的秒数（或片刻）后原样重试；带 Idempotency-Key 的 POST 重试"
        "不会重复执行。",
        "Temporarily unable to answer: wait the Retry-After seconds (or a moment) and retry unchanged; a "
        "POST retried with the same Idempotency-Key is not done twice.",
    ),
}
"""What to do next after any code of that status (a code's own advice, :data:`ADVICE`, comes first)."""

ADVICE: dict[str, tuple[str, str]] = {
    "validation_error": (
        "errors 中的每一项说明一处问题：field 是字段（空表示整个请求内容），code 是问题的类型（如 missing、"
        "json_invalid），message_zh / message_en 说明怎样改。JSON 请求体必须是 UTF-8 编码的 JSON 对象。",
        "Each entry of errors is one problem: field names the field (empty: the body as a whole), code "
        "its kind (such as missing or json_invalid), message_zh / message_en how to fix it. A JSON body "
        "must be a JSON object encoded in UTF-8.",
    ),
    "invalid_parameter": (
        "errors 中每一项的 in 说明参数在哪里（query、path、header），field 是参数名。",
        "In each entry of errors, in says where the parameter is (query, path, header) and field names it.",
    ),
    "unsupported_media_type": (
        "JSON 接口请发送 Content-Type: application/json 的 UTF-8 JSON；批量导入另收 CSV 和 XLSX。",
        "JSON routes take UTF-8 JSON sent as Content-Type: application/json; the batch import also takes "
        "CSV and XLSX.",
    ),
    "unauthorized": (
        "令牌有三种：运营方令牌 cbo_…、机构 API 密钥 cbk_…（由运营方签发）、学习者会话 cbs_…"
        "（POST /api/v1/auth/token 获取）。会话过期后请重新获取。",
        "There are three kinds of token: the operator's cbo_…, an institution's API key cbk_… (issued by "
        "the operator) and a learner's session cbs_… (from POST /api/v1/auth/token); get a new session "
        "when one expires.",
    ),
    "institution_not_accredited": (
        "请区学分银行（运营方）认证该机构（POST /api/v1/institutions/{code}/accredit），之后即可发布课程、开户和登记成果。",
        "Ask the district office (the operator) to accredit the institution (POST "
        "/api/v1/institutions/{code}/accredit); then it can publish outcomes, enrol and post.",
    ),
    "idempotency_key_reused": (
        "同一个 Idempotency-Key 只能用于同一个请求：想取回原来的结果，请原样重发原请求；内容不同的新请求请换一个"
        "新的键。",
        "An Idempotency-Key belongs to one request: to get the first answer back, resend that request "
        "unchanged; a different request needs a new key.",
    ),
    "duplicate_completion": (
        "这条学习成果已经登记，学分已经计入，无需重发。如需更正，先撤销原记录"
        "（POST /api/v1/completions/{id}/revoke）再登记。",
        "The outcome is already recorded and its credits counted; do not send it again. To correct it, "
        "revoke the first record (POST /api/v1/completions/{id}/revoke), then post again.",
    ),
    "name_mismatch": (
        "先核对这一行的身份证号或学习账号：多半是号码填错了，学分会记到别人名下。号码无误时，请学习者到开户机构或区学分银行"
        "更正登记的姓名，再导入这一行。空格、全角字母、间隔号（·•・）的写法和更正前的旧姓名都不算不一致。",
        "Check the row's ID or account number first: most likely it is mistyped, and the credits would go to "
        "someone else. If it is right, the learner has the registered name corrected at the institution that "
        "enrolled them or at the district office; then import the row again. Spaces, full-width letters, the "
        "forms of the middle dot (·•・) and a name from before a correction do not count as different.",
    ),
    "external_id_conflict": (
        "外部编号是登记的幂等键：同一编号原样重发会得到原来的结果；内容不同的记录请用新的外部编号，或先撤销原记录。",
        "external_id is the idempotency key of a completion: resent unchanged it answers the first "
        "result; a different record needs a new external_id, or revoke the first one.",
    ),
    "lots_changed": (
        "请重新查询可转换选项（GET /api/v1/me/conversion-options），再按新的结果申请。",
        "Read the conversion options again (GET /api/v1/me/conversion-options) and apply as they now say.",
    ),
    "conversion_lot_partly_used": (
        "请拒绝这项申请：锁定的学分会退回学习者。一门课程的学分只能换一次——按学分数量转换用掉一部分后，就不能再按课程转换。",
        "Reject the request: its locked credits go back to the learner. A course's credits convert once — "
        "after a credits rule used part of them, the course no longer counts for a rule naming it.",
    ),
    "conversion_expired": (
        "如仍需要这项转换，请重新申请一次。",
        "If the conversion is still wanted, apply for it again.",
    ),
    "import_in_progress": (
        "等正在进行的导入结束后，原样重新提交即可。",
        "Once the running import has finished, send this one again unchanged.",
    ),
    "conversion_superseded": (
        "无需任何操作：学习者已通过学习成果记录获得这门课程，申请锁定的学分已退回；学习者在“我的学分”页面会看到说明。",
        "Nothing to do: the learner holds the course through the completion, and the credits the request "
        "held were released; the learner's /me page says so.",
    ),
    "conversion_target_importing": (
        "等该批量导入发布（GET /api/v1/conversions?state=superseded 会列出因此结束的申请）；导入若已失败，"
        "原样重新提交同一文件即可完成它。",
        "Wait for that batch import to publish (GET /api/v1/conversions?state=superseded then lists the "
        "request it ended); if the import failed, send the same file again to finish it.",
    ),
    "body_too_large": (
        "上限由 CREDITBANK_MAX_JSON_BYTES 设定；大量记录请用批量导入（POST /api/v1/completions/batch）。",
        "The limit is CREDITBANK_MAX_JSON_BYTES; send many records through the batch import (POST "
        "/api/v1/completions/batch).",
    ),
    "upload_too_large": (
        "把文件拆成几份，分别上传。",
        "Split the file into parts and upload each.",
    ),
    "too_many_rows": (
        "把文件拆成几份，分别上传。",
        "Split the file into parts and upload each.",
    ),
    "pdf_unavailable": (
        "这是服务器的配置问题：运维人员按 /healthz 中 checks.pdf 的说明补装缺少的组件；证书本身和核验不受影响。",
        "A set-up problem of the server: its administrator installs what /healthz's checks.pdf names; "
        "certificates and their verification are unaffected.",
    ),
    "busy": (
        "这不是故障：此刻同时要处理的请求太多；已保存的数据不受影响，数据库也正常。请等 Retry-After 给出的几秒后"
        "原样重试。运维人员：docs/operations.md 的 Server busy 一节说明原因（每个 worker 的数据库连接都在使用中，"
        "或密码计算排满）和对策，日志中的 server busy 一行给出连接池的数字；不要为此重启数据库。",
        "Nothing is broken: too many requests are being handled at this moment; what was saved is safe and "
        "the database is fine. Retry unchanged after the few seconds Retry-After gives. Administrators: "
        "docs/operations.md, “Server busy”, says why (every database connection of the worker in use, or "
        "the password-hashing queue full) and what to do; the log's “server busy” line gives the "
        "connection pool's figures. Do not restart the database for this.",
    ),
    "log_forked": (
        "这不是你的请求的问题，重试也不会成功，直到运营方处理好：记下要登记或签发的内容，等运营方通知后再提交。"
        "运营方：运行 creditbank log status 比较数据库与已公布的检查点，按 docs/operations.md“恢复到较早的时间点”"
        "处理（/healthz 的 checks.log 和服务器日志中 transparency log 一行说明原因）；处理好后无需重启即恢复。",
        "Nothing is wrong with your request, and retrying will not help until the operator has dealt with "
        "it: keep what you meant to record or issue and send it once the operator says so. Operators: "
        "run creditbank log status to compare the database with the published checkpoint and follow "
        "docs/operations.md, “A restore to an earlier point” (/healthz's checks.log and the server log's "
        "“transparency log” line say why); once it is dealt with, the bank recovers without a restart.",
    ),
    "database_unavailable": (
        "已保存的数据不受影响：请一分钟后原样重试。运维人员：检查 PostgreSQL 是否在运行、能否从"
        "本机连上（/healthz 的 checks.database 说明原因）；数据库恢复后服务立即恢复，无需重启。",
        "What was saved is safe: retry unchanged in a minute. Administrators: check that "
        "PostgreSQL is running and reachable from this host (/healthz's checks.database says why); the "
        "service recovers as soon as the database does, without a restart.",
    ),
    "internal_error": (
        "本行已记录这次错误的详细情况；报告时请附上时间和请求的地址。",
        "The bank logged the details; when reporting it, give the time and the address asked.",
    ),
}
"""A code's own next step, where its status's (:data:`STATUS_ADVICE`) is not enough."""


def next_steps(code: str) -> tuple[list[str], list[str]]:
    """What to do next after ``code`` (Chinese, English): its own advice if it has any, then what
    holds for every code of its status."""
    own = ADVICE.get(code)
    general = STATUS_ADVICE[CODES[code][0]]
    if own is None:
        return [general[0]], [general[1]]
    return [own[0], general[0]], [own[1], general[1]]


def problem_type(base_url: str, code: str) -> str:
    """The RFC 9457 ``type`` of ``code``: its documentation page on the bank itself (§3.1.1: a type
    URI should give human-readable documentation when opened), ``<base_url>/problems/<code>``."""
    return f"{base_url.rstrip('/')}/problems/{code}"


@dataclass
class CreditbankError(Exception):
    """A refusal the caller can act on. ``code`` must be a key of ``CODES``."""

    code: str
    params: dict[str, Any] = field(default_factory=dict)
    errors: list[dict[str, Any]] | None = None
    status: int | None = None
    extensions: dict[str, Any] | None = None
    """More members of the problem (RFC 9457 §3.2), beside ``errors``."""

    def __post_init__(self) -> None:
        if self.code not in CODES:
            raise KeyError(f"unregistered error code {self.code!r}")
        super().__init__(self.code)

    @property
    def http_status(self) -> int:
        return self.status or CODES[self.code][0]

    def message(self, lang: str = "zh") -> str:
        return render(self.code, self.params, lang)

    def __str__(self) -> str:  # shown in CLI output and logs
        return f"{self.code}: {self.message('zh')} / {self.message('en')}"


def render(code: str, params: dict[str, Any], lang: str = "zh") -> str:
    """The message in ``lang``. A parameter given per language (``reason_zh`` and ``reason_en``)
    fills ``{reason}`` in that language, so a Chinese reason never lands in the English message."""
    _, zh, en = CODES[code]
    template = en if lang == "en" else zh
    suffix = "_en" if lang == "en" else "_zh"
    chosen = {key[:-3]: value for key, value in params.items() if key.endswith(suffix)}
    if "reason" in params and "reason" not in chosen:
        halves = _bilingual(str(params["reason"]))
        if halves:
            chosen["reason"] = halves[1] if lang == "en" else halves[0]
    try:
        return template.format(**(params | chosen))
    except (KeyError, IndexError):
        return template


def in_language(text: str, lang: str) -> str:
    """One half of a stored "中文 / English" text (a revocation reason, an older reason), the
    whole text when it is not such a pair."""
    halves = _bilingual(text)
    if halves is None:
        return text
    return halves[1] if lang == "en" else halves[0]


def _has_cjk(text: str) -> bool:
    return any("\u3000" <= ch <= "\u9fff" or "\uff00" <= ch <= "\uffef" for ch in text)


def _bilingual(reason: str) -> tuple[str, str] | None:
    """("必填", "required") from the older "必填 / required" reasons (Chinese, then English after
    " / "), so each message keeps its own language; None when the text is not such a pair (e.g.
    "clerk / approver", "UTF-8 / GB18030"). New code passes reason_zh and reason_en instead."""
    start = 0
    while (at := reason.find(" / ", start)) != -1:
        left, right = reason[:at].strip(), reason[at + 3 :].strip()
        if left and right and _has_cjk(left) and not _has_cjk(right):
            return left, right
        start = at + 3
    return None


def row_error(
    line: int, code: str, field_name: str | None = None, params: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One entry of a batch report; both languages so a file can be fixed by anyone."""
    entry: dict[str, Any] = {
        "line": line,
        "code": code,
        "message_zh": render(code, params or {}, "zh"),
        "message_en": render(code, params or {}, "en"),
    }
    if field_name:
        entry["field"] = field_name
    return entry
