"""Check creditbank's installed dependency set against known vulnerabilities (pip-audit).

Run by scripts/test.sh (so by CI). Fails on any known vulnerability that has no recorded
exception in scripts/audit-exceptions.txt (one ``ID  reason`` a line; # comments). The set
audited is what is installed for ``creditbank[test]``: the package's requirements, followed
transitively through the installed distributions' metadata, pinned to the installed versions.

pip-audit needs a vulnerability service: PyPI's JSON API per release
(``/pypi/<name>/<version>/json``) or OSV. Where neither can be reached — as on machines whose
only way out is a package mirror — the audit cannot run: it says so in a banner and exits 0,
unless CREDITBANK_AUDIT_REQUIRED=1, which turns that into a failure (set it where the service
is reachable, so a broken network never passes silently there).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
EXCEPTIONS = HERE / "audit-exceptions.txt"
SERVICE = "pypi"


def _name(requirement: str) -> tuple[str, str]:
    """(distribution name, the requirement's marker part) of a Requires-Dist line."""
    name = re.split(r"[\s;\[<>=!~(]", requirement, maxsplit=1)[0]
    marker = requirement.partition(";")[2]
    return name, marker


def _applies(marker: str, extras: set[str]) -> bool:
    if not marker.strip():
        return True
    from packaging.markers import Marker

    try:
        return any(Marker(marker).evaluate({"extra": e}) for e in (extras or {""}))
    except Exception:
        return True


def closure(root: str = "creditbank", extras: tuple[str, ...] = ("test",)) -> dict[str, str]:
    """{distribution: installed version} for root[extras] and everything it pulls in."""
    pinned: dict[str, str] = {}
    todo: list[tuple[str, set[str]]] = [(root, set(extras))]
    while todo:
        name, wanted = todo.pop()
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        key = dist.metadata["Name"].lower().replace("_", "-")
        if key in pinned:
            continue
        pinned[key] = dist.version
        for requirement in dist.requires or []:
            dep, marker = _name(requirement)
            if _applies(marker, wanted):
                extra = re.search(r"\[([^\]]+)\]", requirement.split(";")[0])
                todo.append((dep, set(extra.group(1).split(",")) if extra else set()))
    pinned.pop("creditbank", None)
    return pinned


def recorded_exceptions() -> dict[str, str]:
    found = {}
    if EXCEPTIONS.exists():
        for line in EXCEPTIONS.read_text(encoding="utf-8").splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                vuln_id, _, reason = line.partition(" ")
                found[vuln_id] = reason.strip()
    return found


def service_reachable(name: str, version: str) -> str | None:
    """None if PyPI's per-release JSON (what pip-audit's pypi service reads) answers; else why not."""
    url = f"https://pypi.org/pypi/{name}/{version}/json"
    try:
        with urllib.request.urlopen(url, timeout=15) as response:
            json.load(response)
        return None
    except urllib.error.HTTPError as exc:
        return f"{url} answered HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return f"{url} unreachable ({exc})"


def judge(report: dict, exceptions: dict[str, str]) -> tuple[int, list[str]]:
    """Exit status and the lines to print, from pip-audit's JSON report."""
    lines, failing = [], 0
    for dep in report.get("dependencies", []):
        for vuln in dep.get("vulns", []):
            ids = {vuln["id"], *vuln.get("aliases", [])}
            excepted = sorted(ids & set(exceptions))
            fix = ", ".join(vuln.get("fix_versions", [])) or "no fixed release"
            where = f"{dep['name']} {dep.get('version', '?')}: {vuln['id']} (fixed in {fix})"
            if excepted:
                lines.append(f"  excepted  {where} — {exceptions[excepted[0]]}")
            else:
                failing += 1
                lines.append(f"  VULNERABLE {where}")
        if dep.get("skip_reason"):
            lines.append(f"  not audited {dep['name']}: {dep['skip_reason']}")
    if failing:
        lines.append(
            f"{failing} known vulnerabilit{'y' if failing == 1 else 'ies'} without a recorded exception: "
            f"upgrade, or record the id and the reason in {EXCEPTIONS.name}"
        )
    return (1 if failing else 0), lines


def main() -> int:
    pinned = closure()
    required = os.environ.get("CREDITBANK_AUDIT_REQUIRED") == "1"
    probe = next(iter(sorted(pinned.items())))
    why_not = service_reachable(*probe)
    if why_not is not None:
        banner = "!" * 78
        print(
            f"{banner}\n!! DEPENDENCY AUDIT SKIPPED: pip-audit cannot reach its vulnerability service\n"
            f"!! from this machine: {why_not}.\n!! {len(pinned)} packages were NOT checked for known "
            f"vulnerabilities.\n{banner}",
            file=sys.stderr,
        )
        return 1 if required else 0
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as reqs:
        reqs.write("".join(f"{name}=={version}\n" for name, version in sorted(pinned.items())))
    try:
        result = subprocess.run(
            [sys.executable, "-m", "pip_audit", "-r", reqs.name, "--no-deps", "--disable-pip",
             "--vulnerability-service", SERVICE, "--format", "json", "--progress-spinner", "off"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
    finally:
        os.unlink(reqs.name)
    try:
        report = json.loads(result.stdout)
    except ValueError:
        print(result.stdout + result.stderr, file=sys.stderr)
        print("dependency audit: pip-audit gave no report", file=sys.stderr)
        return 1
    status, lines = judge(report, recorded_exceptions())
    print(f"dependency audit: {len(pinned)} packages against {SERVICE}")
    print("\n".join(lines))
    return status


if __name__ == "__main__":
    sys.exit(main())
