"""The main flow against the STS emulator: a code in, a session exported into a real shell."""

from __future__ import annotations

import calendar
import re
import time

from conftest import run_mfaenv, run_shell

#: The names an export sets or removes, in the order it prints them.
EXPORTED_NAMES = re.compile(r"^\\(?:export|unset) (\w+)", re.M)


def test_stage_session_lands_in_bash(env):
    result = run_mfaenv(["stage", "123456", "--shell", "bash"], env)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    shell = run_shell("bash", result.stdout + 'printf "%s|%s|%s|%s" "$MFAENV_PROFILE" "$MFAENV_ACCOUNT" "$AWS_CREDENTIAL_EXPIRATION" "$MFAENV_EXPIRES"', env)
    profile, account, expiry, epoch = shell.stdout.split("|")
    assert (profile, account) == ("stage", "111111111111")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", expiry)
    assert abs(int(epoch) - (time.time() + 43200)) < 120
    assert calendar.timegm(time.strptime(expiry, "%Y-%m-%dT%H:%M:%SZ")) == int(epoch), "the two expiries disagree"


def test_default_command_equals_get(env):
    plain = run_mfaenv(["stage", "123456"], env)
    explicit = run_mfaenv(["get", "stage", "123456"], env)
    assert plain.returncode == explicit.returncode == 0
    assert EXPORTED_NAMES.findall(plain.stdout) == EXPORTED_NAMES.findall(explicit.stdout)
    assert "AWS_SESSION_TOKEN" in EXPORTED_NAMES.findall(plain.stdout)


def test_bare_mfaenv_shows_the_whole_help_on_stderr(env):
    result = run_mfaenv([], env)
    assert result.stdout == ""
    assert result.returncode == 2
    assert result.stderr.startswith("Usage: mfaenv")
    assert len(result.stderr.splitlines()) > 10 and "unset" in result.stderr
