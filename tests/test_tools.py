"""`mfaenv exec` and `mfaenv credential-process`: sessions for tools that are not a shell.

mfaenv fetches from the STS stand-in, which records every call and the key
that signed it, so each test can tell a fetch from a reuse and prove that a
failure spent no MFA code. Every run starts without a controlling terminal.
Real AWS clients using these commands are in test_clients.py.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time
from typing import Dict, List

import pytest

from conftest import exported, run_mfaenv, run_shell
from sts_standin import SESSION_KEY_ID, SESSION_SECRET, SESSION_TOKEN
from test_codeinput import add_to_config
from test_reuse import PERSISTED_KEY, persist_session, shell_session
from test_tmux import terminal  # noqa: F401 (the fixture: a tmux pane running an interactive shell)
from mfaenv.stores.cache import SessionCache
from mfaenv.profiles import ProfileStore
from mfaenv.sessions import mfa_key
from mfaenv.shells.variables import Session
from mfaenv.shells.expiry import parse_expiry

CODE_COMMAND = "echo 123456"
MFAENV = f"{shlex.quote(sys.executable)} -m mfaenv"
CACHED_KEY = "ASIACACHEDSESSION001"


def cache_session(environ: Dict[str, str], seconds_left: int) -> None:
    """Put a session for stage into the session cache, as an earlier `mfaenv stage CODE` would."""
    base = ProfileStore(environ).chain("stage").base
    session = Session(CACHED_KEY, "cached/SECRET", "cached-token", int(time.time()) + seconds_left)
    SessionCache.open(environ).put(mfa_key(base, environ), session, "stage")


@pytest.fixture
def cache_env(standin_env, tmp_path) -> Dict[str, str]:
    """The stand-in's HOME with a session cache of its own."""
    return {**standin_env, "MFAENV_CACHE_DIR": str(tmp_path / "cache")}


def env_of(output: str) -> Dict[str, str]:
    """The environment `env -0` printed."""
    return dict(item.split("=", 1) for item in output.split("\0") if item)


def run_exec(args: List[str], environ: Dict[str, str]) -> subprocess.Popen:
    """`mfaenv exec ARGS` started as run_mfaenv does (no terminal), to be waited for by the caller."""
    return subprocess.Popen(
        [sys.executable, "-m", "mfaenv", "exec", *args], env=environ, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )


def assert_one_line_failure(result, status: int, words: str) -> None:
    assert result.returncode == status, result.stderr
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert words in result.stderr


# --- exec ------------------------------------------------------------------------------------------------------


def test_exec_gives_the_command_exactly_what_an_export_sets(standin_env, sts_standin):
    environ = {**standin_env, "AWS_SECURITY_TOKEN": "stale-token", "AWS_PROFILE": "prod", "KEEP_ME": "x y"}
    result = run_mfaenv(["exec", "stage", "123456", "--", "env", "-0"], environ)
    assert result.returncode == 0, result.stderr
    child = env_of(result.stdout)
    export = exported(run_mfaenv(["get", "stage", "123456"], environ).stdout)

    assert {name for name, value in export.items() if value is not None} <= set(child)
    assert not {name for name, value in export.items() if value is None} & set(child), "a removed variable remains"
    assert "AWS_SECURITY_TOKEN" not in child  # botocore would read this stale token first
    assert "AWS_PROFILE" not in child  # see docs/tools.md: the environment's keys are the credentials
    expected_rest = {k: v for k, v in environ.items() if k not in export and k != "AWS_PROFILE"}
    assert {k: v for k, v in child.items() if k not in export} == expected_rest
    assert (child["AWS_ACCESS_KEY_ID"], child["AWS_SECRET_ACCESS_KEY"], child["AWS_SESSION_TOKEN"]) == (
        SESSION_KEY_ID, SESSION_SECRET, SESSION_TOKEN)
    assert parse_expiry(child["AWS_CREDENTIAL_EXPIRATION"]) == int(child["MFAENV_EXPIRES"])
    assert child["MFAENV_PROFILE"] == "stage" and child["MFAENV_ACCOUNT"] == "111111111111"


def test_exec_replaces_mfaenv_so_pid_status_and_signals_are_the_commands(standin_env, sts_standin):
    process = run_exec(["stage", "123456", "--", "sh", "-c", "echo $$; exit 7"], standin_env)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 7, stderr
    assert stdout.strip() == str(process.pid), "the command ran in a child process, not in mfaenv's place"

    killed = run_exec(["stage", "--", "sh", "-c", "kill -TERM $$; sleep 5"],
                      {**standin_env, **shell_session(environ=standin_env)})
    killed.communicate(timeout=60)
    assert killed.returncode == -15, "the signal that ended the command is not what its caller sees"


@pytest.mark.shell
def test_exec_in_a_pipe_ends_on_sigpipe_like_the_command_alone(standin_env, sts_standin):
    """Python ignores SIGPIPE; the exec'd command must not inherit that."""
    environ = {**standin_env, **shell_session(environ=standin_env), "MFAENV": MFAENV}
    result = run_shell("bash", '$MFAENV exec stage -- yes | head -1; echo "status ${PIPESTATUS[0]}"', environ)
    assert result.stdout.splitlines() == ["y", "status 141"], result.stderr
    assert "Broken pipe" not in result.stderr


def test_exec_of_a_missing_command_exits_127_before_any_sts_call(standin_env, sts_standin):
    result = run_mfaenv(["exec", "stage", "123456", "--", "no-such-command-here", "arg"], standin_env)
    assert_one_line_failure(result, 127, "command not found: no-such-command-here")
    assert sts_standin.requests == [], "a code was spent on a command that cannot run"


@pytest.mark.parametrize("kind", ["no-execute-bit", "directory", "etc-passwd", "no-execute-bit-on-path"])
def test_exec_of_what_execve_would_refuse_exits_126_before_any_code_is_asked_for_or_sent(
        kind, standin_env, sts_standin, tmp_path):
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\necho ran\n")
    script.chmod(0o644)
    environ = {**standin_env, "PATH": f"{tmp_path}:{standin_env['PATH']}"}
    program = {"no-execute-bit": str(script), "directory": str(tmp_path), "etc-passwd": "/etc/passwd",
               "no-execute-bit-on-path": "script.sh"}[kind]
    words = "it is a directory" if kind == "directory" else "permission denied"
    with_code = run_mfaenv(["exec", "stage", "123456", "--", program], environ)
    assert_one_line_failure(with_code, 126, words)
    asking = run_mfaenv(["exec", "stage", "--code-command", f"touch {tmp_path / 'asked'}; echo 123456", "--", program],
                        environ)
    assert_one_line_failure(asking, 126, words)
    assert sts_standin.requests == [], "a code was spent on a command that cannot run"
    assert not (tmp_path / "asked").exists(), "a code was asked for a command that cannot run"


def test_exec_skips_a_file_on_path_that_cannot_run_for_a_later_one_that_can(standin_env, sts_standin, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    for folder, mode in ((first, 0o644), (second, 0o755)):
        folder.mkdir()
        (folder / "tool").write_text(f"#!/bin/sh\necho {folder.name}\n")
        (folder / "tool").chmod(mode)
    environ = {**standin_env, "PATH": f"{first}:{second}:{standin_env['PATH']}"}
    result = run_mfaenv(["exec", "stage", "123456", "--", "tool"], environ)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "second\n"


@pytest.mark.parametrize("args, words", [
    (["stage", "123456", "true"], "put the command after '--'"),
    (["stage", "12345", "--", "true"], "six digits"),
])
def test_exec_usage_mistakes_are_one_line_and_call_no_sts(args, words, standin_env, sts_standin):
    result = run_mfaenv(["exec", *args], standin_env)
    assert_one_line_failure(result, 2, words)
    assert sts_standin.requests == []


def test_exec_reuses_this_shells_session_without_a_code(standin_env, sts_standin):
    result = run_mfaenv(["exec", "stage", "--", "printenv", "AWS_ACCESS_KEY_ID"],
                        {**standin_env, **shell_session(environ=standin_env)})
    assert result.returncode == 0, result.stderr
    assert result.stdout == shell_session()["AWS_ACCESS_KEY_ID"] + "\n"
    assert sts_standin.requests == []


def test_exec_without_terminal_or_code_command_runs_nothing(standin_env, sts_standin, tmp_path):
    marker = tmp_path / "ran"
    result = run_mfaenv(["exec", "stage", "--", "touch", str(marker)], standin_env)
    assert_one_line_failure(result, 6, "no terminal")
    assert not marker.exists() and sts_standin.requests == []


def test_exec_takes_the_code_from_the_code_command(standin_env, sts_standin):
    result = run_mfaenv(["exec", "stage", "--code-command", "echo 654321", "--", "true"], standin_env)
    assert result.returncode == 0, result.stderr
    assert [request.form.get("TokenCode") for request in sts_standin.requests] == ["654321"]


def test_exec_passes_the_commands_own_options_and_dashes_untouched(standin_env, sts_standin):
    result = run_mfaenv(["exec", "stage", "123456", "--", "printf", "%s|", "--force", "--", "-h"], standin_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "--force|--|-h|"


# --- credential-process -------------------------------------------------------------------------------------


def test_credential_process_prints_the_json_sdks_read(standin_env, sts_standin):
    result = run_mfaenv(["credential-process", "stage"], {**standin_env, "MFAENV_CODE_COMMAND": CODE_COMMAND})
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert list(document) == ["Version", "AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration", "AccountId"]
    assert document["Version"] == 1
    assert (document["AccessKeyId"], document["SecretAccessKey"], document["SessionToken"]) == (
        SESSION_KEY_ID, SESSION_SECRET, SESSION_TOKEN)
    assert document["Expiration"].endswith("Z")  # botocore fails on a time without an offset
    assert abs(parse_expiry(document["Expiration"]) - (time.time() + 43200)) < 120
    assert document["AccountId"] == "111111111111"
    assert sts_standin.actions() == ["GetSessionToken"]


def test_credential_process_without_terminal_or_code_command_fails_cleanly(standin_env, sts_standin):
    result = run_mfaenv(["credential-process", "stage"], standin_env)
    assert_one_line_failure(result, 6, "no terminal to ask for the MFA code (credential_process)")
    assert "mfa_process" in result.stderr  # what to do about it
    assert sts_standin.requests == []


@pytest.mark.parametrize("minutes_left, handed_out", [(15, False), (16, True)])
def test_credential_process_hands_out_a_session_only_with_more_than_15_minutes(
    minutes_left, handed_out, standin_env, sts_standin, aws_home
):
    """botocore re-runs the process at every access inside the last 15 minutes; `get` still reuses it."""
    persist_session(aws_home, "stage", seconds_left=minutes_left * 60, environ=standin_env)
    environ = {**standin_env, "MFAENV_CODE_COMMAND": CODE_COMMAND}
    result = run_mfaenv(["credential-process", "stage"], environ)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["AccessKeyId"] == (PERSISTED_KEY if handed_out else SESSION_KEY_ID)
    assert sts_standin.actions() == ([] if handed_out else ["GetSessionToken"])

    sts_standin.requests.clear()
    reused = run_mfaenv(["stage"], {**standin_env, "MFAENV_QUIET": "1"})  # no code command: reuse or fail
    assert reused.returncode == 0, reused.stderr
    assert exported(reused.stdout)["AWS_ACCESS_KEY_ID"] == PERSISTED_KEY
    assert sts_standin.requests == []


@pytest.mark.parametrize("minutes_left, handed_out", [(15, False), (16, True)])
def test_a_cached_15_minute_session_is_not_handed_to_an_sdk_yet_get_reuses_it(
    minutes_left, handed_out, cache_env, sts_standin
):
    cache_session(cache_env, minutes_left * 60)
    result = run_mfaenv(["credential-process", "stage"], {**cache_env, "MFAENV_CODE_COMMAND": CODE_COMMAND})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["AccessKeyId"] == (CACHED_KEY if handed_out else SESSION_KEY_ID)
    assert sts_standin.actions() == ([] if handed_out else ["GetSessionToken"])
    if handed_out:
        return
    # The fetched session replaced the cached one: the next SDK start is served without STS.
    sts_standin.requests.clear()
    again = run_mfaenv(["credential-process", "stage"], cache_env)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["AccessKeyId"] == SESSION_KEY_ID and sts_standin.requests == []


def test_get_and_exec_reuse_a_cached_15_minute_session(cache_env, sts_standin):
    cache_session(cache_env, 15 * 60)
    reused = run_mfaenv(["stage"], {**cache_env, "MFAENV_QUIET": "1"})
    assert reused.returncode == 0, reused.stderr
    assert exported(reused.stdout)["AWS_ACCESS_KEY_ID"] == CACHED_KEY
    ran = run_mfaenv(["exec", "stage", "--", "printenv", "AWS_ACCESS_KEY_ID"], cache_env)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == CACHED_KEY + "\n"
    assert sts_standin.requests == []


def test_credential_process_never_runs_the_profiles_own_credential_process(standin_env, sts_standin, aws_home, tmp_path):
    """mfaenv reads keys from the files only, so a credential_process pointing back at it cannot loop."""
    marker = tmp_path / "ran"
    add_to_config(aws_home, f"[profile stage]\ncredential_process = touch {marker}\n")
    result = run_mfaenv(["credential-process", "stage"], {**standin_env, "MFAENV_CODE_COMMAND": CODE_COMMAND})
    assert result.returncode == 0, result.stderr
    assert not marker.exists()
    assert sts_standin.requests[0].signing_key_id == "AKIAEXAMPLESTAGE0001"


def test_credential_process_asks_for_the_code_on_the_terminal_not_stdout(standin_env, sts_standin):
    from test_codeinput import run_on_terminal

    process, screen, stdout, stderr = run_on_terminal(
        [sys.executable, "-m", "mfaenv", "credential-process", "stage"], standin_env, "123456\r")
    assert process.returncode == 0, stderr
    assert "MFA code for stage" in screen
    assert json.loads(stdout)["AccessKeyId"] == SESSION_KEY_ID
    assert [request.form.get("TokenCode") for request in sts_standin.requests] == ["123456"]



def test_inside_a_code_command_mfaenv_that_needs_a_code_fails_at_once(standin_env, sts_standin, aws_home, tmp_path):
    """Started by a code command (the marker in its environment), an mfaenv that would need a code
    of its own runs no code command, asks nothing, calls no STS: one line, empty stdout."""
    ran = tmp_path / "ran"
    add_to_config(aws_home, f"[profile stage]\nmfa_process = touch {ran}; echo 123456\n")
    environ = {**standin_env, "MFAENV_IN_CODE_COMMAND": "stage"}
    for command in (["credential-process", "stage"], ["stage", "--shell", "bash"], ["exec", "stage", "--", "true"]):
        result = run_mfaenv(command, environ)
        assert_one_line_failure(result, 6, "started by the code command of profile 'stage'")
    assert not ran.exists() and sts_standin.requests == []


def test_the_code_command_runs_with_the_marker_naming_its_profile(standin_env, sts_standin, tmp_path):
    seen = tmp_path / "seen"
    result = run_mfaenv(["stage", "--shell", "bash", "--code-command", f"printenv MFAENV_IN_CODE_COMMAND > {seen}; echo 123456"],
                        standin_env)
    assert result.returncode == 0, result.stderr
    assert seen.read_text() == "stage\n"
    assert "MFAENV_IN_CODE_COMMAND" not in exported(result.stdout), "the marker is the code command's alone"


@pytest.mark.parametrize("served_from", ["shell", "cache"])
def test_inside_a_code_command_mfaenv_served_without_a_code_still_works(served_from, cache_env, sts_standin):
    """A code command may itself use an mfaenv session that needs no code: this shell's, or a cached one."""
    if served_from == "shell":
        environ = {**cache_env, **shell_session("stage", environ=cache_env)}
    else:
        environ = cache_env
        cache_session(environ, 3600)
    inner = f"{MFAENV} credential-process stage > /dev/null && echo 654321"
    result = run_mfaenv(["prod", "--shell", "bash", "--code-command", inner], environ)
    assert result.returncode == 0, result.stderr
    assert [request.form.get("TokenCode") for request in sts_standin.requests] == ["654321"]
    assert exported(result.stdout)["MFAENV_PROFILE"] == "prod"


# --- at a terminal ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("terminal", ["bash"], indirect=True)
def test_exec_at_a_terminal_asks_the_code_then_hands_the_terminal_and_ctrl_c_to_the_command(terminal):
    terminal.type("""mfaenv exec stage -- sh -c 'printf "name? "; read -r x; echo "hello $x"'""")
    terminal.press("Enter")
    terminal.wait_for(lambda screen: "MFA code for stage" in screen, "the code prompt")
    terminal.type("123456")
    terminal.press("Enter")
    terminal.wait_for(lambda screen: any(line.startswith("name?") for line in screen.splitlines()),
                      "the command's own question on the terminal")
    terminal.type("jane")
    terminal.press("Enter")
    terminal.wait_for(lambda screen: "hello jane" in screen, "the command reading the terminal")

    # One process that says "started" only once Ctrl-C would end it: with sh -c 'echo started;
    # sleep 300', a Ctrl-C just after the echo could be taken by sh's handler and lost as it exec'd sleep.
    runner = "import signal, time; signal.signal(signal.SIGINT, signal.SIG_DFL); print('st' + 'arted', flush=True); time.sleep(300)"
    terminal.type(f"mfaenv exec stage 123456 -- {shlex.quote(sys.executable)} -c {shlex.quote(runner)}")
    terminal.press("Enter")
    terminal.wait_for(lambda screen: "\nstarted" in screen, "the command running")
    terminal.press("C-c")
    terminal.wait_for_prompt(r"\[\] bash>", "the shell back after Ctrl-C")
    terminal.type("echo rc=$?")
    terminal.press("Enter")
    terminal.wait_for(lambda screen: "rc=130" in screen, "the command's own death by SIGINT as the status")
