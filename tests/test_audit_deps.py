"""scripts/audit_deps.py: a known vulnerability fails the run unless recorded as an exception."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "audit_deps.py"
spec = importlib.util.spec_from_file_location("audit_deps", SCRIPT)
assert spec is not None and spec.loader is not None
audit_deps = importlib.util.module_from_spec(spec)
spec.loader.exec_module(audit_deps)

REPORT = {
    "dependencies": [
        {"name": "jinja2", "version": "3.1.2", "vulns": [{"id": "GHSA-h5c8-rqwp-cp95", "aliases": ["CVE-2024-22195"], "fix_versions": ["3.1.3"]}]},
        {"name": "rfc8785", "version": "0.1.4", "vulns": []},
        {"name": "odd", "skip_reason": "Dependency not found on PyPI"},
    ]
}  # fmt: skip


def test_a_known_vulnerability_fails_the_audit():
    status, lines = audit_deps.judge(REPORT, {})
    assert status == 1
    assert any("VULNERABLE jinja2 3.1.2: GHSA-h5c8-rqwp-cp95 (fixed in 3.1.3)" in line for line in lines)
    assert any("not audited odd" in line for line in lines)


def test_a_recorded_exception_by_id_or_alias_passes():
    for key in ("GHSA-h5c8-rqwp-cp95", "CVE-2024-22195"):
        status, lines = audit_deps.judge(REPORT, {key: "templates are ours, never user input"})
        assert status == 0 and any("excepted" in line for line in lines)


def test_the_audited_set_is_creditbanks_dependency_closure():
    pinned = audit_deps.closure()
    assert {"fastapi", "starlette", "pyld", "openpyxl", "pytest"} <= set(pinned)
    assert "creditbank" not in pinned
