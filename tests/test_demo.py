"""The newcomer's demo (`python tests/demo.py`) runs the whole flow and shows only what a user would see."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

DEMO = Path(__file__).parent / "demo.py"


def test_demo_runs_the_whole_flow_and_lists_only_the_users_variables():
    result = subprocess.run(
        [sys.executable, str(DEMO)], capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    listed = [line.split("=", 1)[0] for line in result.stdout.splitlines() if line.startswith(("AWS_", "MFAENV_"))]
    assert "MFAENV_PROFILE" in listed and "AWS_SESSION_TOKEN" in listed
    # "secrets shortened here": the secret key and the token show four characters, then "...".
    secrets = [line for line in result.stdout.splitlines() if line.startswith(("AWS_SECRET_ACCESS_KEY=", "AWS_SESSION_TOKEN="))]
    assert secrets and all(len(line.split("=", 1)[1]) == 7 and line.endswith("...") for line in secrets), secrets
    assert {"MFAENV_SHELL", "MFAENV_WRAPPER"}.isdisjoint(listed)  # the tests' and the wrapper's; never a user's
    assert "now: prod 222222222222" in result.stdout  # the session was reused without a code
    assert "now: admin 210987654321 " in result.stdout  # a role through the MFA session
    assert "new terminal: readonly 210987654321" in result.stdout  # no code: the MFA session came from the cache
    if shutil.which("aws", path=str(Path(sys.executable).parent)):  # the AWS CLI (test extra, Python 3.10+)
        assert result.stdout.count("arn:aws:sts::") == 2, result.stdout  # exec and credential_process
        assert "assumed-role/readonly/jane" in result.stdout, "the AWS CLI did not get the cached role session"
    assert result.stdout.count("exit status 1") == 1  # `mfaenv status` after unset
