"""What ``GET /healthz`` answers, for the OpenAPI document (the route is in ``creditbank.app``).

A monitor reads ``status``; ``checks`` says which part is wrong. The route answers what it builds
(a model in between would cost the check that must answer while every thread waits); these models
only describe it, and tests/api/test_openapi_responses.py checks they say every field."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class DatabaseCheck(BaseModel):
    ok: bool = Field(description="数据库有应答 · The database answered")
    busy: bool | None = Field(
        default=None,
        description="连接池已满（数据库仍在运行） · Every pooled connection is in use (it is up)",
    )
    detail: str | None = Field(default=None, description="为何未应答 · Why it did not answer, or why busy")


class PdfCheck(BaseModel):
    ok: bool = Field(description="可以生成中文证书 PDF · Chinese certificate PDFs can be rendered")
    slow: bool | None = Field(
        default=None, description="可以生成但每页需数秒 · Rendering works but takes seconds a page"
    )
    missing_zh: str | None = Field(default=None, description="缺少什么（中文） · What is missing, in Chinese")
    missing_en: str | None = Field(default=None, description="缺少什么（英文） · What is missing, in English")
    fix_zh: str | None = Field(default=None, description="如何修复（中文） · How to fix it, in Chinese")
    fix_en: str | None = Field(default=None, description="如何修复（英文） · How to fix it, in English")


class LogCheck(BaseModel):
    ok: bool = Field(
        description="透明日志包含本行已公布的检查点 · The transparency log contains the checkpoint the bank published"
    )
    detail: str | None = Field(
        default=None,
        description="为何不一致（英文）；此时登记和签发答 503 log_forked · Why not (English); "
        "writes then answer 503 log_forked",
    )
    detail_zh: str | None = Field(default=None, description="为何不一致（中文） · Why not, in Chinese")


class Checks(BaseModel):
    database: DatabaseCheck = Field(description="主数据库 · The primary database")
    replica: DatabaseCheck | None = Field(
        default=None, description="只读副本（配置时） · The read replica, when one is configured"
    )
    pdf: PdfCheck = Field(description="证书 PDF 打印 · Printing certificate PDFs")
    log: LogCheck | None = Field(
        default=None,
        description="透明日志（数据库有应答时） · The transparency log, when the database answered",
    )


class Health(BaseModel):
    status: Literal["ok", "degraded", "down"] = Field(
        description="ok 正常；degraded 仍可服务（PDF、副本、连接池或透明日志有问题）；down 数据库无应答（HTTP 503） · "
        "ok; degraded: still serving (PDFs, the replica, a saturated pool or the transparency log); down: "
        "the database does not answer (HTTP 503)"
    )
    version: str = Field(description="creditbank 版本 · The creditbank version")
    checks: Checks = Field(description="各项检查 · Each check")


RESPONSES: dict[int | str, dict] = {
    200: {"model": Health, "description": "ok or degraded · 正常或降级"},
    503: {"model": Health, "description": "down: the database does not answer (Retry-After) · 数据库无应答"},
}
