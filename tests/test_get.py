"""The main flow against the STS emulator: a code in, a session exported into a real shell."""

from __future__ import annotations

import re
import sys
import time

from conftest import run_mfaenv, run_shell


def test_stage_session_lands_in_bash(env):
    result = run_mfaenv(["stage", "123456", "--shell", "bash"], env)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    shell = run_shell("bash", result.stdout + 'printf "%s|%s|%s|%s" "$MFAENV_PROFILE" "$MFAENV_ACCOUNT" "$AWS_CREDENTIAL_EXPIRATION" "$MFAENV_EXPIRES"', env)
    profile, account, expiry, epoch = shell.stdout.split("|")
    assert (profile, account) == ("stage", "111111111111")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", expiry)
    assert abs(int(epoch) - (time.time() + 43200)) < 120


def test_default_command_equals_get(env):
    plain = run_mfaenv(["stage", "123456"], env)
    explicit = run_mfaenv(["get", "stage", "123456"], env)
    assert plain.returncode == explicit.returncode == 0
    names = lambda out: re.findall(r"^(?:export|unset) (\w+)", out, re.M)  # noqa: E731
    assert names(plain.stdout) == names(explicit.stdout)
    assert "AWS_SESSION_TOKEN" in names(plain.stdout)


def test_fetch_never_imports_boto3_itself(env):
    """Only botocore's signer and HTTP session are loaded on the fetch path."""
    code = "import runpy, sys; sys.argv=['mfaenv','stage','123456'];\ntry: runpy.run_module('mfaenv', run_name='__main__')\nexcept SystemExit: pass\nprint('boto3' in sys.modules, 'botocore.client' in sys.modules, file=sys.stderr)"
    import subprocess

    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert "export AWS_SESSION_TOKEN=" in result.stdout
    assert result.stderr.strip().splitlines()[-1] == "False False"
