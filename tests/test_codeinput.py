"""Where the MFA code comes from when none is given: a command, or the terminal.

A code command (`--code-command`, `mfa_process` in the profile, or
MFAENV_CODE_COMMAND) prints the code; the terminal is asked on /dev/tty, so
the question and the answer never touch stdout and `eval "$(mfaenv stage)"`
works. The STS stand-in records the TokenCode each call sent, which shows
that the code a command printed or a user typed is the one STS received,
and that a failure sends nothing.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List

import pytest

from conftest import clean_environ, require_shell, run_mfaenv, run_on_terminal  # noqa: F401 (test_tools, test_clients)
from mfaenv.terminal import codecommand
from mfaenv.terminal import codeinput
from mfaenv.errors import CodeInputError, UsageError

NO_CODE = 6  # CodeInputError's exit status
BIN = Path(sys.executable).parent


@pytest.fixture
def code_env(aws_home: Path, sts_standin) -> Dict[str, str]:
    """The throwaway HOME, STS pointed at the stand-in, this venv's mfaenv first on PATH."""
    environ = clean_environ(aws_home)
    environ["AWS_ENDPOINT_URL_STS"] = sts_standin.url
    environ["PATH"] = f"{BIN}{os.pathsep}{environ.get('PATH', os.defpath)}"
    return environ


def add_to_config(home: Path, text: str) -> None:
    with open(home / ".aws" / "config", "a", encoding="utf-8") as config:
        config.write("\n" + text)


def sent_codes(standin) -> List[str]:
    return [request.form.get("TokenCode") for request in standin.requests]


# --- code commands, one function at a time ----------------------------------------------------


@pytest.mark.parametrize("output, code", [
    ("aws:jane  123456\n", "123456"),  # ykman oath accounts code -s aws
    ("  654321\n", "654321"),  # a password manager's bare code
    ("account 111111111111 code 246810\n", "246810"),  # twelve digits are an account, not a code
])
def test_code_command_output_yields_the_code(output, code):
    assert codeinput.code_from_command(f"printf '{output}'", "stage") == code


def test_code_command_output_that_is_not_utf8_still_yields_the_code():
    assert codeinput.code_from_command(r"printf '\377\376 135790\n'", "stage") == "135790"


def test_failing_code_command_names_its_exit_status():
    with pytest.raises(CodeInputError, match="code command failed with exit status 3") as error:
        codeinput.code_from_command("echo 123456; exit 3", "stage")
    assert error.value.exit_code == NO_CODE
    assert "'stage'" in str(error.value)


@pytest.mark.parametrize("output", ["touch your key\n", "12345\n", "1234567\n", ""])
def test_code_command_without_a_six_digit_code_is_an_error(output):
    with pytest.raises(CodeInputError, match="printed no six-digit code"):
        codeinput.code_from_command(f"printf '{output}'", "stage")


@pytest.mark.parametrize("answer", ["12ab56", "1234567", "   "])
def test_typed_code_that_is_not_six_digits_is_refused(answer):
    with pytest.raises(UsageError, match="six digits"):
        codeinput.check_code(answer)


def process_is_gone(pid: int, timeout: float = 20) -> bool:
    """True once the process no longer runs (gone, or a zombie nobody has reaped yet)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.1)
    return False


def test_code_command_that_hangs_is_stopped_with_everything_it_started(monkeypatch, tmp_path):
    """On timeout the whole process group goes, not only /bin/sh: no `sleep` lives on."""
    monkeypatch.setattr(codecommand, "TIMEOUT", 1)
    pid_file = tmp_path / "child.pid"
    with pytest.raises(CodeInputError, match="took more than 1s"):
        codeinput.code_from_command(f"sleep 300 & echo $! > {pid_file}; wait", "stage")
    assert process_is_gone(int(pid_file.read_text()))


def test_code_command_printing_without_end_is_cut_off(monkeypatch):
    """A code is one short line; megabytes of output are refused, not read into memory."""
    with pytest.raises(CodeInputError, match="code command printed more than 64 KiB"):
        codeinput.code_from_command("head -c 20000000 /dev/zero; echo 123456", "stage")


# --- code commands end to end -----------------------------------------------------------------


def test_code_command_code_reaches_sts(code_env, sts_standin):
    result = run_mfaenv(["stage", "--code-command", "printf 'aws:jane  654321\\n'"], code_env)
    assert result.returncode == 0, result.stderr
    assert "export AWS_SESSION_TOKEN=" in result.stdout
    assert sent_codes(sts_standin) == ["654321"]


def test_code_command_stderr_reaches_the_user(code_env, sts_standin):
    """ykman asks for a touch on stderr; hiding it would look like a hang."""
    command = "echo 'Touch your YubiKey...' >&2; echo 'aws:jane  654321'"
    result = run_mfaenv(["stage", "--code-command", command], code_env)
    assert result.returncode == 0, result.stderr
    assert "Touch your YubiKey..." in result.stderr
    assert "Touch" not in result.stdout


def test_mfa_process_in_the_config_supplies_the_code(code_env, aws_home, sts_standin):
    add_to_config(aws_home, "[profile stage]\nmfa_process = printf 'aws:jane  222333\\n'\n")
    result = run_mfaenv(["stage"], code_env)
    assert result.returncode == 0, result.stderr
    assert sent_codes(sts_standin) == ["222333"]


def test_mfaenv_code_command_variable_supplies_the_code(code_env, sts_standin):
    result = run_mfaenv(["stage"], {**code_env, "MFAENV_CODE_COMMAND": "echo 444555"})
    assert result.returncode == 0, result.stderr
    assert sent_codes(sts_standin) == ["444555"]


def test_option_beats_mfa_process_which_beats_the_variable(code_env, aws_home, sts_standin):
    add_to_config(aws_home, "[profile stage]\nmfa_process = echo 222222\n")
    environ = {**code_env, "MFAENV_CODE_COMMAND": "echo 333333"}
    assert run_mfaenv(["stage", "--code-command", "echo 111111"], environ).returncode == 0
    assert run_mfaenv(["stage", "--force"], environ).returncode == 0
    assert sent_codes(sts_standin) == ["111111", "222222"]


@pytest.mark.parametrize("command, message", [
    ("exit 3", "code command failed with exit status 3"),
    ("echo 'no code here'", "code command printed no six-digit code"),
])
def test_failing_mfa_process_is_one_clear_error_and_sends_nothing(command, message, code_env, aws_home, sts_standin):
    add_to_config(aws_home, f"[profile stage]\nmfa_process = {command}\n")
    result = run_mfaenv(["stage"], code_env)
    assert result.returncode == NO_CODE
    assert result.stdout == ""
    assert result.stderr == f"mfaenv: profile 'stage': {message}\n"
    assert sts_standin.requests == []


def test_code_given_as_argument_skips_the_code_command(code_env, sts_standin):
    result = run_mfaenv(["stage", "777888"], {**code_env, "MFAENV_CODE_COMMAND": "exit 9"})
    assert result.returncode == 0, result.stderr
    assert sent_codes(sts_standin) == ["777888"]


def test_code_command_background_child_is_not_waited_for(code_env, sts_standin):
    """The code arrived and the command exited: a child it left running (holding stdout) does not matter."""
    command = "echo 123456; (sleep 300; echo late) &"
    result = run_mfaenv(["stage", "--code-command", command], code_env, timeout=45)  # the limit is 60 s
    assert result.returncode == 0, result.stderr
    assert sent_codes(sts_standin) == ["123456"]


def test_sigint_during_a_code_command_says_interrupted_and_stops_it(code_env, sts_standin, tmp_path):
    """SIGINT (as from `kill -INT` or Ctrl-C): exit 130 with its line, nothing on stdout, the command gone."""
    pid_file = tmp_path / "command.pid"
    process = subprocess.Popen(
        [sys.executable, "-m", "mfaenv", "stage", "--code-command", f"echo $$ > {pid_file}.tmp; mv {pid_file}.tmp {pid_file}; sleep 300"],
        env=code_env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not pid_file.exists():
            assert time.monotonic() < deadline and process.poll() is None, "the code command never started"
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert (process.returncode, stdout, stderr) == (130, "", "mfaenv: interrupted\n")
    assert process_is_gone(int(pid_file.read_text()))
    assert sts_standin.requests == []


def test_code_command_may_ask_on_the_terminal(code_env, sts_standin):
    """A password manager asks for its passphrase on /dev/tty: it must get the terminal, not SIGTTIN."""
    command = "printf 'MFA code for the vault: ' > /dev/tty; read -r answer < /dev/tty; echo \"aws:jane $answer\""
    process, screen, stdout, stderr = run_on_terminal(
        [sys.executable, "-m", "mfaenv", "stage", "--code-command", command], code_env, "246802\r",
    )
    assert process.returncode == 0, stderr
    assert "MFA code for the vault: 246802" in screen
    assert sent_codes(sts_standin) == ["246802"]


def test_ctrl_c_while_a_code_command_has_the_terminal_says_interrupted(code_env, sts_standin):
    # One process that asks only once Ctrl-C would end it: with `printf ...; sleep 300`, a
    # Ctrl-C typed right after the question could reach sh just before it exec'd sleep,
    # be taken by sh's handler and lost with the exec, and leave sleep running.
    asker = (
        "import os, signal, time; signal.signal(signal.SIGINT, signal.SIG_DFL); "
        "os.write(os.open('/dev/tty', os.O_WRONLY), b'MFA code for the vault: '); time.sleep(300)"
    )
    command = f"exec {shlex.quote(sys.executable)} -c {shlex.quote(asker)}"
    process, _screen, stdout, stderr = run_on_terminal(
        [sys.executable, "-m", "mfaenv", "stage", "--code-command", command], code_env, "\x03",
    )
    assert (process.returncode, stdout, stderr) == (130, "", "mfaenv: interrupted\n")
    assert sts_standin.requests == []


# --- the terminal -----------------------------------------------------------------------------


def test_no_terminal_fails_at_once_with_empty_stdout(code_env, sts_standin):
    started = time.monotonic()
    result = run_mfaenv(["stage"], code_env)
    assert time.monotonic() - started < 10  # an attempt to read a terminal would hang until the timeout
    assert result.returncode == NO_CODE
    assert result.stdout == ""
    assert "no terminal" in result.stderr and "--code-command" in result.stderr
    assert sts_standin.requests == []


def test_code_is_asked_on_the_terminal_and_stdout_carries_only_shell_code(code_env, sts_standin):
    process, screen, stdout, stderr = run_on_terminal(
        [sys.executable, "-m", "mfaenv", "stage"], code_env, "135246\r",
    )
    assert process.returncode == 0, stderr
    assert "MFA code for stage (arn:aws:iam::111111111111:mfa/jane): " in screen
    assert "MFA code" not in stdout and "MFA code" not in stderr
    assert all(line.startswith(("\\export ", "\\unset ")) for line in stdout.splitlines())
    assert sent_codes(sts_standin) == ["135246"]


def test_eval_of_mfaenv_stage_prompts_and_lands_in_bash(code_env, sts_standin):
    """The SPEC's promise: `eval "$(mfaenv stage)"` asks for the code and updates the shell."""
    script = 'eval "$(mfaenv stage)"; echo "status=$?"; echo "profile=$MFAENV_PROFILE"'
    _process, screen, stdout, stderr = run_on_terminal(
        [require_shell("bash"), "--norc", "--noprofile", "-c", script], code_env, "112233\r",
    )
    assert stdout.splitlines() == ["status=0", "profile=stage"], stderr
    assert "MFA code for stage" in screen
    assert sent_codes(sts_standin) == ["112233"]


def test_three_wrong_codes_typed_on_the_terminal_are_refused_before_sts(code_env, sts_standin):
    process, screen, stdout, stderr = run_on_terminal(
        [sys.executable, "-m", "mfaenv", "stage"], code_env, "12ab56\r", "12345\r", "1234567\r",
    )
    assert process.returncode == 2
    assert stdout == ""
    assert stderr == "mfaenv: the MFA code must be six digits (3 tries)\n"
    assert screen.count("try again") == 2
    assert sts_standin.requests == []


def test_a_mistyped_code_is_asked_again_and_spaces_inside_a_code_are_fine(code_env, sts_standin):
    """Authenticator apps show `123 456`; a slip of the finger gets another try."""
    process, screen, stdout, stderr = run_on_terminal(
        [sys.executable, "-m", "mfaenv", "stage"], code_env, "12345\r", " 123 456 \r",
    )
    assert process.returncode == 0, stderr
    assert "The code is six digits; try again." in screen
    assert screen.count("MFA code for stage") == 2
    assert "export AWS_SESSION_TOKEN=" in stdout
    assert sent_codes(sts_standin) == ["123456"]


def test_the_question_shows_terminal_controls_escaped(code_env, sts_standin):
    """A serial carrying an OSC sequence must not retitle the window while the code is asked."""
    serial = "arn:aws:iam::111111111111:mfa/jane\x1b]2;HIJACKED\x07\x9d"
    _process, screen, _stdout, _stderr = run_on_terminal(
        [sys.executable, "-m", "mfaenv", "stage", "--serial", serial], code_env, "\x04",
    )
    assert "(arn:aws:iam::111111111111:mfa/jane\\x1b]2;HIJACKED\\x07\\x9d): " in screen
    assert "\x1b" not in screen and "\x07" not in screen and "\x9d" not in screen


@pytest.mark.parametrize("keys", ["\r", "\x04"], ids=["empty line", "Ctrl-D"])
def test_an_empty_answer_or_ctrl_d_ends_with_one_message_and_the_line_ended(keys, code_env, sts_standin):
    process, screen, stdout, stderr = run_on_terminal([sys.executable, "-m", "mfaenv", "stage"], code_env, keys)
    assert process.returncode == NO_CODE
    assert stdout == ""
    assert stderr == "mfaenv: profile 'stage': no MFA code entered\n"
    assert screen.count("MFA code for stage") == 1  # not asked again
    # The terminal's line is ended, so the message (and the next prompt) starts a line of its own.
    assert screen.endswith(": \r\n"), repr(screen)
    assert sts_standin.requests == []
