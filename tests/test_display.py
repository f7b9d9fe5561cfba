"""Terminal controls in profile text reach no terminal raw: one escaping rule for everything shown.

A profile name, an account or a region is whatever the files or the inherited
environment say; ESC, BEL and the one-byte C1 controls (U+009D starts an OSC
just as ESC ] does) would retitle the window or rewrite the screen.
"""

from __future__ import annotations

import re
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import run_mfaenv
from mfaenv.terminal.display import shown

#: Every C0 control, DEL and every C1 control: what a terminal acts on.
CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f]")
RETITLE = "\x1b]2;HIJACKED\x07"
HOSTILE = f"stage{RETITLE}\x9d0;OSC\x9c\x9b2J\x7f\r\n"


def test_every_control_is_shown_escaped():
    assert shown("\x1b]2;HIJACKED\x07") == "\\x1b]2;HIJACKED\\x07"
    assert shown("\x9d\x9b\x7f\x00") == "\\x9d\\x9b\\x7f\\x00"
    assert shown("a\nb\tc\rd") == "a\\nb\\tc\\rd"
    assert shown("caf\u00e9 \U0001f600 it's $x") == "caf\u00e9 \U0001f600 it's $x"


@given(st.text())
def test_nothing_shown_is_a_control_and_printable_text_is_unchanged(text):
    assert not CONTROLS.search(shown(text))
    assert shown(text) == text or not text.isprintable()


def hostile_session(expires_in: int = 43200):
    return {
        "AWS_ACCESS_KEY_ID": "ASIAEXAMPLE000000001",
        "AWS_SECRET_ACCESS_KEY": "secret",
        "AWS_SESSION_TOKEN": "token",
        "MFAENV_PROFILE": HOSTILE,
        "MFAENV_ACCOUNT": f"1111{RETITLE}",
        "MFAENV_REGION": f"eu-west-1{RETITLE}",
        "MFAENV_EXPIRES": str(int(time.time()) + expires_in),
    }


@pytest.mark.parametrize("command", [["status"], ["prompt"]])
def test_status_and_prompt_show_controls_escaped(command, env):
    result = run_mfaenv(command, {**env, **hostile_session()})
    assert result.returncode == 0, result.stderr
    assert not CONTROLS.search(result.stdout.replace("\n", ""))
    assert "stage\\x1b]2;HIJACKED\\x07\\x9d0;OSC" in result.stdout
    assert "1111\\x1b]2;HIJACKED\\x07" in result.stdout


def test_an_expired_session_of_a_hostile_profile_is_one_escaped_line(env):
    result = run_mfaenv(["status"], {**env, **hostile_session(-60)})
    assert result.returncode == 1
    assert not CONTROLS.search(result.stderr[:-1]) and result.stderr.endswith("\n")
    assert "stage\\x1b]2;HIJACKED" in result.stderr
