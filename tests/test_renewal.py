"""Sessions that renew themselves at the prompt (SPEC "Sessions that renew themselves at the prompt").

A user's terminal through tmux (tests/test_tmux.py's Terminal and rc files):
`mfaenv admin 123456` gets a role session that the STS stand-in lets live 4
minutes, so the very next prompt is due; the hook renews it from the cached
MFA session (one more AssumeRole, no code), and then leaves it alone. The
processes a prompt starts are counted with strace, as for mfaenv_prompt.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path
from typing import Dict, Iterator

import pytest

import sts_standin as standin
from conftest import IN_CI, require_shell
from test_cache_cli import DEV_KEYS, ROLE_PROFILES
from test_integration import CREDENTIALS, NO_RC_FILES, SCRIPTS, SHELL_DIR
from test_tmux import BIN, Terminal, interactive_shell

ROLE_PROMPT = r"\[admin 210987654321 (59m|1h00m)\] \w+>"
SHORT = 240  # seconds the stand-in gives the first role session: inside the 5-minute window


@pytest.fixture
def renewal(request, standin_env: Dict[str, str], sts_standin, aws_home: Path, tmp_path: Path) -> Iterator[Terminal]:
    """An interactive shell in tmux, its integration loaded, a session cache, role profiles on dev's keys."""
    shell = request.param
    with open(aws_home / ".aws" / "config", "a") as config:
        config.write(ROLE_PROFILES)
    with open(aws_home / ".aws" / "credentials", "a") as credentials:
        credentials.write(DEV_KEYS)
    # GetSessionToken: 12 h; the first AssumeRole: 4 minutes; every later one: 1 h.
    sts_standin.answer(standin.success(), standin.success(expires_in=SHORT), standin.success())
    cache = {"MFAENV_CACHE_DIR": str(tmp_path / "cache")}
    with interactive_shell(shell, aws_home, tmp_path, standin_env, cache, size=("200", "50")) as term:
        yield term


def enter(terminal: Terminal, line: str, prompt: str, what: str) -> None:
    """Type a line, then wait until one more prompt matching ``prompt`` is the last line."""
    prompts = re.compile(r"\] \w+>", re.M)
    before = len(prompts.findall(terminal.screen()))
    terminal.type(line)
    terminal.press("Enter")
    terminal.wait_for(
        lambda screen: len(prompts.findall(screen)) > before and re.fullmatch(prompt, terminal.last_line()), what)


def show_key(terminal: Terminal) -> str:
    return 'echo $"key=($env.AWS_ACCESS_KEY_ID)"' if terminal.shell == "nu" else "echo key=$AWS_ACCESS_KEY_ID"


@pytest.mark.parametrize("renewal", ["bash", "zsh", "fish", "nu"], indirect=True)
def test_a_role_session_due_at_the_prompt_is_renewed_once_without_a_code(renewal, sts_standin):
    enter(renewal, "mfaenv admin 123456", ROLE_PROMPT, "the prompt with the renewed role session")

    assert sts_standin.actions() == ["GetSessionToken", "AssumeRole", "AssumeRole"]
    screen = renewal.screen()
    assert "MFA code for" not in screen
    assert len(re.findall(r"^mfaenv: renewed at the prompt: admin \(role admin\), account 210987654321, until .+ "
                          r"\((59m|1h00m) left\); fetched$", screen, re.M)) == 1, screen
    first, renewed = sts_standin.issued[1], sts_standin.issued[2]
    enter(renewal, show_key(renewal), ROLE_PROMPT, "the key in this shell")
    assert f"key={renewed.access_key_id}" in renewal.screen()
    assert first.access_key_id != renewed.access_key_id

    enter(renewal, "", ROLE_PROMPT, "another prompt")
    enter(renewal, "", ROLE_PROMPT, "and another")
    assert sts_standin.actions() == ["GetSessionToken", "AssumeRole", "AssumeRole"], "renewed although not due"


@pytest.mark.parametrize("renewal", ["bash"], indirect=True)
def test_a_session_that_needs_a_code_is_not_renewed_and_nothing_is_asked(renewal, sts_standin):
    sts_standin.answer(standin.success(expires_in=SHORT))  # the MFA session itself is short: nothing beneath it
    enter(renewal, "mfaenv stage 123456", r"\[stage 111111111111 [34]m\] \w+>", "the short session in the prompt")
    enter(renewal, "", r"\[stage 111111111111 [34]m\] \w+>", "another prompt")

    assert sts_standin.actions() == ["GetSessionToken"]
    assert "MFA code for" not in renewal.screen()
    assert "renewed" not in renewal.screen()


@pytest.mark.parametrize("renewal", ["zsh"], indirect=True)
def test_mfaenv_renew_off_turns_it_off(renewal, sts_standin):
    enter(renewal, "export MFAENV_RENEW=off", r"\[\] \w+>", "the prompt")
    enter(renewal, "mfaenv admin 123456", r"\[admin 210987654321 [34]m\] \w+>", "the short role session, left alone")

    assert sts_standin.actions() == ["GetSessionToken", "AssumeRole"]


# --- no process while nothing is due ------------------------------------------------------------------------


RENDER = {
    # What the shell runs before drawing a prompt, then the segment; sourced from the file itself.
    "bash": "source {file}\n{{ eval \"$PROMPT_COMMAND\"; mfaenv_prompt; echo; }}\n",
    "zsh": "source {file}\n{{ for f in $precmd_functions; do $f; done; mfaenv_prompt; echo; }}\n",
    "fish": "builtin source {file}\nbegin; emit fish_prompt; mfaenv_prompt; echo; end\n",
}


def traced_execs(shell: str, script: str, environ: Dict[str, str], log: Path) -> list:
    strace = require_shell("strace")
    result = subprocess.run(
        [strace, "-f", "-qq", "-e", "trace=execve", "-o", str(log), require_shell(shell), *NO_RC_FILES[shell], "-c", script],
        env=environ, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )
    if result.returncode != 0 and "ptrace" in result.stderr and not IN_CI:
        pytest.skip(f"strace cannot trace here: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr
    return [line for line in log.read_text().splitlines() if "execve(" in line and line.endswith("= 0")], result


@pytest.mark.parametrize("shell, allowed", [("bash", 0), ("zsh", 0), ("fish", 1)])
def test_the_hook_starts_no_process_while_nothing_is_due(shell, allowed, shell_env_for_renewal, tmp_path):
    environ = {**shell_env_for_renewal, "MFAENV_EXPIRES": str(int(time.time()) + 43170)}
    render = RENDER[shell].format(file=SHELL_DIR / SCRIPTS[shell])
    execs, result = traced_execs(shell, render * 2, environ, tmp_path / "strace.log")
    assert result.stdout.splitlines() == ["stage 111111111111 11h59m"] * 2, result.stderr
    assert len(execs) == 1 + 2 * allowed, execs  # the shell itself, then fish's one `date` per render


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_a_due_renewal_that_renews_nothing_is_tried_once_then_not_at_every_prompt(shell, shell_env_for_renewal, tmp_path):
    environ = {**shell_env_for_renewal, "MFAENV_EXPIRES": str(int(time.time()) + 120), "MFAENV_CACHE": "off"}
    render = RENDER[shell].format(file=SHELL_DIR / SCRIPTS[shell])
    execs, result = traced_execs(shell, render * 3, environ, tmp_path / "strace.log")
    lines = result.stdout.splitlines()
    assert len(lines) == 3 and all(re.fullmatch(r"stage 111111111111 [12]m", line) for line in lines), result.stdout
    runs = [line for line in execs if re.search(r'/mfaenv", \["mfaenv", "renew"', line)]
    assert len(runs) == 1, execs
    assert result.stderr == "", "nothing to say when nothing was renewed"


@pytest.fixture
def shell_env_for_renewal(aws_home: Path) -> Dict[str, str]:
    """A shell holding a session of stage; STS on a closed port (nothing may reach it here)."""
    from conftest import clean_environ, closed_sts

    environ = closed_sts(clean_environ(aws_home))
    return {**environ, **CREDENTIALS, "MFAENV_PROFILE": "stage", "MFAENV_ACCOUNT": "111111111111",
            "PATH": f"{BIN}{os.pathsep}{environ.get('PATH', os.defpath)}"}


@pytest.mark.parametrize("renewal", ["bash"], indirect=True)
def test_a_renewal_that_sts_does_not_answer_gives_up_and_the_prompt_is_drawn(renewal, sts_standin):
    # The renewal's AssumeRole hangs far longer than the wait for the prompt: only giving up draws it.
    sts_standin.answer(standin.success(), standin.success(expires_in=SHORT), standin.hang(600))
    enter(renewal, "mfaenv admin 123456", r"\[admin 210987654321 [34]m\] \w+>", "the prompt, without a renewal")

    assert sts_standin.actions()[:3] == ["GetSessionToken", "AssumeRole", "AssumeRole"]
    assert "renewed" not in renewal.screen() and "MFA code for" not in renewal.screen()


def test_powershell_renewal_is_written_as_the_others_and_parses():
    """No pwsh here: the PowerShell hook is parsed (tree-sitter) and held to the same shape, not run."""
    from test_integration import nodes, parse_powershell, powershell_problems

    text = (SHELL_DIR / "mfaenv.ps1").read_text(encoding="utf-8")
    assert powershell_problems(text) == []
    functions = {
        child.text.decode().split(":", 1)[-1]: node.text.decode()
        for node in nodes(parse_powershell(text).root_node) if node.type == "function_statement"
        for child in node.children if child.type == "function_name"
    }
    renew = functions["__mfaenv_renew"]
    assert "-gt 300" in renew and "$Env:MFAENV_RENEW -eq 'off'" in renew
    assert "$null | & (__mfaenv_application) renew powershell" in renew, "stdin must be empty: never the console"
    assert "$global:LASTEXITCODE = $exitCode" in renew, "the prompt's exit status must survive"
    assert functions["mfaenv_prompt"].split("{", 1)[1].strip().startswith("__mfaenv_renew")
