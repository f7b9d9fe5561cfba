"""What a person sees after `mfaenv PROFILE [CODE]`: one line on stderr, and never the keys on a terminal.

The success line names the profile (and role), the account, when the session
ends (local time, time left) and where it came from; stdout stays shell code.
When stdout is the terminal itself (no `eval`, no integration), printing the
keys would show them and change nothing: mfaenv says how to load the session
instead, before any code is asked for or sent.
"""

from __future__ import annotations

import re
import sys
from datetime import datetime
from pathlib import Path
from typing import Dict
from zoneinfo import ZoneInfo

import pytest

import sts_standin as standin
from conftest import exported, run_mfaenv, run_on_terminal
from test_roles import ROLE_PROFILES

USAGE = 2
SECRETS = (standin.SESSION_SECRET, standin.SESSION_TOKEN)
#: Kolkata is UTC+05:30 all year: a clock shown in UTC or the machine's zone would not match.
ZONE = "Asia/Kolkata"


@pytest.fixture
def user_env(standin_env: Dict[str, str], tmp_path: Path) -> Dict[str, str]:
    environ = {**standin_env, "TZ": ZONE, "MFAENV_CACHE_DIR": str(tmp_path / "cache")}
    del environ["MFAENV_QUIET"]  # the tests' default
    return environ


def success_line(stderr: str) -> "re.Match[str]":
    """The one line of a success, parsed."""
    assert stderr.count("\n") == 1, stderr
    line = re.fullmatch(
        r"mfaenv: (?P<who>.+?)(, account (?P<account>\d{12}))?, until (?P<clock>.+) \((?P<left>\S+) left\); "
        r"(?P<what>.+)\n", stderr,
    )
    assert line, stderr
    assert not any(secret in stderr for secret in SECRETS)
    return line


def local_clock(expires: str) -> str:
    return datetime.fromtimestamp(int(expires), ZoneInfo(ZONE)).strftime("%H:%M IST")


def test_a_fetch_says_profile_account_local_end_and_fetched(user_env, sts_standin):
    result = run_mfaenv(["stage", "123456"], user_env)
    assert result.returncode == 0, result.stderr
    session = exported(result.stdout)  # stdout: shell code only
    line = success_line(result.stderr)
    assert (line["who"], line["account"], line["what"]) == ("stage", "111111111111", "fetched")
    assert local_clock(session["MFAENV_EXPIRES"]) in line["clock"]
    assert line["left"] in ("11h59m", "12h00m")


def test_a_role_is_named_with_its_account(user_env, sts_standin, aws_home):
    with open(aws_home / ".aws" / "config", "a", encoding="utf-8") as config:
        config.write(ROLE_PROFILES)
    result = run_mfaenv(["admin", "123456"], user_env)
    assert result.returncode == 0, result.stderr
    line = success_line(result.stderr)
    assert (line["who"], line["account"], line["what"]) == ("admin (role admin)", "210987654321", "fetched")
    assert line["left"] in ("59m", "1h00m")


def test_each_reuse_says_where_the_session_came_from(user_env, sts_standin):
    first = run_mfaenv(["stage", "123456", "--persist"], user_env)
    assert success_line(first.stderr)["what"] == "fetched, persisted"
    session = {name: value for name, value in exported(first.stdout).items() if value is not None}

    # The same endpoint throughout (it is part of the cache key); the stand-in counts the calls.
    from_shell = run_mfaenv(["stage"], {**user_env, **session})
    from_cache = run_mfaenv(["stage"], user_env)
    from_file = run_mfaenv(["stage"], {**user_env, "MFAENV_CACHE": "off"})

    assert success_line(from_shell.stderr)["what"] == "reused from this shell"
    assert success_line(from_cache.stderr)["what"] == "reused from the session cache"
    assert success_line(from_file.stderr)["what"] == "reused from the credentials file"
    assert len(sts_standin.requests) == 1


def test_mfaenv_quiet_silences_the_line_and_nothing_else(user_env, sts_standin):
    result = run_mfaenv(["stage", "123456"], {**user_env, "MFAENV_QUIET": "1"})
    assert (result.returncode, result.stderr) == (0, "")
    assert exported(result.stdout)["MFAENV_PROFILE"] == "stage"


# -- stdout is the terminal -------------------------------------------------------------------


@pytest.mark.parametrize("args", [["stage", "123456"], ["stage"]], ids=["code", "no-code"])
def test_at_a_terminal_the_keys_are_not_shown_and_no_code_is_spent(args, user_env, sts_standin):
    process, screen, _stdout, stderr = run_on_terminal(
        [sys.executable, "-m", "mfaenv", *args], user_env, stdout_on_terminal=True,
    )
    assert process.returncode == USAGE
    assert stderr.count("\n") == 1
    assert f"eval \"$(mfaenv {' '.join(args)})\"" in stderr and "mfaenv init" in stderr and "--persist" in stderr
    assert screen == "" and "MFA code" not in stderr  # no keys, and no question either
    assert sts_standin.requests == []


def test_at_a_terminal_a_nushell_user_is_shown_the_nushell_way(user_env, sts_standin):
    process, _screen, _stdout, stderr = run_on_terminal(
        [sys.executable, "-m", "mfaenv", "stage", "123456"], {**user_env, "MFAENV_SHELL": "nu"}, stdout_on_terminal=True,
    )
    assert process.returncode == USAGE
    assert "load them with mfaenv stage 123456 | from json | load-env," in stderr
    assert sts_standin.requests == []


def test_persist_at_a_terminal_writes_the_file_and_shows_nothing_secret(user_env, sts_standin, aws_home):
    process, screen, _stdout, stderr = run_on_terminal(
        [sys.executable, "-m", "mfaenv", "stage", "123456", "--persist"], user_env, stdout_on_terminal=True,
    )
    assert process.returncode == 0, stderr
    assert screen == ""
    assert success_line(stderr)["what"] == "fetched, persisted"
    assert f"aws_session_token = {standin.SESSION_TOKEN}" in (aws_home / ".aws" / "credentials").read_text()
