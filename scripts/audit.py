"""Known vulnerabilities in the installed packages (pip-audit), for `scripts/test.sh`.

The advisory database is online. When it cannot be reached, or knows none of the installed
packages (a private package mirror answers "not found" for every one), the audit is reported as
skipped with the reason, on one visible line, instead of failing the tests or claiming a clean
result it did not have. A vulnerability found fails.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

TIMEOUT_SECONDS = 120


def main() -> int:
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "audit.json"
        command = [
            sys.executable, "-m", "pip_audit", "--skip-editable", "--progress-spinner", "off",
            "--format", "json", "--output", str(report),
        ]  # fmt: skip
        try:
            run = subprocess.run(
                command, capture_output=True, text=True, timeout=TIMEOUT_SECONDS, check=False
            )
        except subprocess.TimeoutExpired:
            print(f"pip-audit skipped: no answer from the advisory database in {TIMEOUT_SECONDS} s")
            return 0
        try:
            found = json.loads(report.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            lines = [line for line in run.stderr.splitlines() if line.strip()]
            reason = lines[-1] if lines else f"pip-audit exited with {run.returncode}"
            print(f"pip-audit skipped: the advisory database could not be read ({reason})")
            return 0
    deps = found.get("dependencies", [])
    vulnerable = [d for d in deps if d.get("vulns")]
    for dep in vulnerable:
        for vuln in dep["vulns"]:
            fixes = ", ".join(vuln.get("fix_versions", [])) or "no fixed version yet"
            print(f"{dep['name']} {dep['version']}: {vuln['id']} (fixed in: {fixes})")
    if vulnerable:
        print(f"pip-audit: {len(vulnerable)} installed packages have known vulnerabilities")
        return 1
    audited = [d for d in deps if "skip_reason" not in d]
    if not audited:
        reason = deps[0]["skip_reason"] if deps else "no packages listed"
        print(
            f"pip-audit skipped: the advisory database knew none of the {len(deps)} installed "
            f"packages (e.g. {reason})"
        )
        return 0
    print(
        f"pip-audit: no known vulnerabilities in {len(audited)} packages "
        f"({len(deps) - len(audited)} could not be audited)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
