"""A user's terminal, driven through tmux: rc files with the init line, a prompt
showing mfaenv_prompt, `mfaenv stage` typed, the code answered on the terminal.

Each test starts its own tmux server (own socket, no tmux config) running a
real interactive shell in a throwaway HOME, types into it with send-keys and
reads the screen with capture-pane, as a person would.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Dict, Iterator

import pytest

from conftest import require_shell

BIN = Path(sys.executable).parent
FRESH = r"stage 111111111111 (11h59|12h00)m"  # moto's expiry may land a second past 12 hours

#: The rc file of each shell, as the README shows it (prompt first, init line last).
RC_FILES = {
    # bash: PROMPT_COMMAND fills a variable with no subshell; PS1 shows it.
    "bash": (".bashrc", """\
eval "$(mfaenv init bash)"
PROMPT_COMMAND="mfaenv_prompt -v mfaenv_segment${PROMPT_COMMAND:+; $PROMPT_COMMAND}"
PS1='[${mfaenv_segment}] bash> '
"""),
    # zsh: compinit first, so that the init line can register completion; a
    # precmd hook fills psvar[1] with no subshell, and %1v shows it.
    "zsh": (".zshrc", """\
autoload -Uz compinit && compinit -u
eval "$(mfaenv init zsh)"
autoload -Uz add-zsh-hook
_update_mfaenv_segment() { mfaenv_prompt -v 'psvar[1]' }
add-zsh-hook precmd _update_mfaenv_segment
PROMPT='[%1v] zsh> '
"""),
    "fish": (".config/fish/config.fish", """\
mfaenv init fish | source
function fish_prompt
    printf '[%s] fish> ' (mfaenv_prompt)
end
function fish_greeting
end
"""),
    # Nushell: the module, which env.nu saves at every start (the README's way to keep it current).
    "nu": (".config/nushell/config.nu", """\
use mfaenv.nu *
$env.config.show_banner = false
$env.PROMPT_COMMAND = {|| $'[(mfaenv_prompt)] nu' }
$env.PROMPT_INDICATOR = '> '
$env.PROMPT_COMMAND_RIGHT = ''
"""),
}
#: Files a shell reads before its rc file.
EARLY_FILES = {"nu": (".config/nushell/env.nu", "mfaenv init nu | save -f ($nu.default-config-dir | path join mfaenv.nu)\n")}
COMMANDS = {"bash": ["bash", "-i"], "zsh": ["zsh", "-d", "-i"], "fish": ["fish", "-i"], "nu": ["nu", "--no-history"]}


class Terminal:
    """One tmux pane running one interactive shell."""

    def __init__(self, shell: str, socket: Path, environ: Dict[str, str]):
        self.shell = shell
        self.socket = socket
        self.environ = environ

    def tmux(self, *args: str) -> str:
        result = subprocess.run(
            ["tmux", "-S", str(self.socket), "-f", os.devnull, *args], env=self.environ,
            capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def type(self, text: str) -> None:
        self.tmux("send-keys", "-t", "mfaenv", "-l", text)

    def press(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "mfaenv", *keys)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "mfaenv")

    def wait_for(self, check: Callable[[str], object], what: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if check(screen):
                return screen
            if time.monotonic() > deadline:
                pytest.fail(f"waited {timeout}s for {what}; the screen shows:\n{screen}")
            time.sleep(0.1)

    def last_line(self) -> str:
        lines = [line.rstrip() for line in self.screen().splitlines() if line.strip()]
        return lines[-1] if lines else ""

    def wait_for_prompt(self, pattern: str, what: str) -> str:
        """The last non-empty line is a prompt matching the regular expression."""
        return self.wait_for(lambda _: re.fullmatch(pattern, self.last_line()), what)


@contextmanager
def interactive_shell(shell: str, home: Path, tmp_path: Path, base_env: Dict[str, str], extra: Dict[str, str],
                      size=("150", "40")) -> Iterator[Terminal]:
    """``shell`` in its own tmux server, its rc files (the integration) in ``home``, up to its first prompt.

    ``extra`` chooses the session cache (and anything else a test needs); the server is killed afterwards.
    """
    command = [require_shell(shell), *COMMANDS[shell][1:]]
    require_shell("tmux")
    for name, text in (RC_FILES[shell], *([EARLY_FILES[shell]] if shell in EARLY_FILES else [])):
        path = home / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    environ = {
        **base_env,
        "PATH": f"{BIN}{os.pathsep}{base_env.get('PATH', os.defpath)}",
        "ZDOTDIR": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "TERM": "xterm-256color",
    }
    environ.pop("MFAENV_SHELL", None)  # the wrapper names its shell itself; the user never sets it
    environ.pop("MFAENV_QUIET", None)  # a person sees the success line
    environ.update(extra)
    term = Terminal(shell, tmp_path / "tmux.sock", environ)
    term.tmux("new-session", "-d", "-s", "mfaenv", "-x", size[0], "-y", size[1], *command)
    try:
        term.wait_for_prompt(r"\[\] \w+>", f"the first {shell} prompt")
        yield term
    finally:
        subprocess.run(["tmux", "-S", str(term.socket), "kill-server"], capture_output=True, timeout=20)


@pytest.fixture
def terminal(request, env, aws_home: Path, tmp_path: Path) -> Iterator[Terminal]:
    # A user's machine has a session cache (here a private runtime folder), so the success line
    # says no "not cached" (which would also wrap the line at this width).
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    with interactive_shell(request.param, aws_home, tmp_path, env, {"XDG_RUNTIME_DIR": str(runtime)}) as term:
        yield term


shells = pytest.mark.parametrize("terminal", ["bash", "zsh", "fish"], indirect=True)
#: The scenarios that read alike in Nushell.
shells_and_nu = pytest.mark.parametrize("terminal", ["bash", "zsh", "fish", "nu"], indirect=True)


@shells_and_nu
def test_typed_stage_asks_for_the_code_and_the_prompt_shows_the_session(terminal):
    terminal.type("mfaenv stage")
    terminal.press("Enter")
    terminal.wait_for(lambda screen: "MFA code for stage (arn:aws:iam::111111111111:mfa/jane):" in screen,
                      "the code prompt on the terminal")
    terminal.type("123456")
    terminal.press("Enter")
    terminal.wait_for_prompt(rf"\[{FRESH}\] \w+>", "the prompt with the session")

    terminal.type("mfaenv status")
    terminal.press("Enter")
    terminal.wait_for(lambda screen: "profile:  stage" in screen, "the status text")

    terminal.type("mfaenv unset")
    terminal.press("Enter")
    terminal.wait_for_prompt(r"\[\] \w+>", "the prompt without a session")


@shells_and_nu
def test_failed_fetch_on_the_terminal_keeps_the_session_and_the_status(terminal):
    terminal.type("mfaenv stage 123456")
    terminal.press("Enter")
    terminal.wait_for_prompt(rf"\[{FRESH}\] \w+>", "the prompt with the session")
    terminal.type(with_status(terminal, "mfaenv nosuch 123456"))
    terminal.press("Enter")
    screen = terminal.wait_for(lambda screen: "rc=3" in screen, "the exit status of the failed fetch")
    assert "profile 'nosuch'" in screen
    terminal.wait_for_prompt(rf"\[{FRESH}\] \w+>", "the unchanged session in the prompt")


@pytest.mark.parametrize("terminal", ["bash", "zsh", "nu"], indirect=True)
def test_tab_completes_shell_names_and_profiles(terminal):
    terminal.type("mfaenv init f")
    terminal.press("Tab")
    terminal.wait_for(lambda screen: "mfaenv init fish" in screen, "init's shell name completed")
    terminal.press("C-u")
    terminal.type("mfaenv get stage-d")
    terminal.press("Tab")
    terminal.wait_for(lambda screen: "mfaenv get stage-default" in screen, "a profile name completed")
    terminal.press("C-u")


@pytest.mark.parametrize("terminal, typed, completed", [
    ("bash", "my", "my\\ profile"), ("zsh", "my", "my\\ profile"),
    ("nu", "my", '"my profile"'), ("nu", "'my p", '"my profile"'),  # Nushell: inside a quote the user opened, too
], indirect=["terminal"])
def test_tab_completes_a_profile_name_with_a_space_as_one_word(terminal, typed, completed, aws_home):
    with open(aws_home / ".aws" / "config", "a", encoding="utf-8") as config:
        config.write("\n[profile my profile]\nsource_profile = stage-default\n")
    terminal.type(f"mfaenv get {typed}")
    terminal.press("Tab")
    terminal.wait_for(lambda screen: f"mfaenv get {completed}" in screen, "the name completed as one word")
    terminal.press("C-u")


QUESTION = "MFA code for stage (arn:aws:iam::111111111111:mfa/jane):"


def lines_from_question(screen: str) -> "list[str]":
    """The screen's lines from the (last) code question on, trailing blanks removed."""
    lines = [line.rstrip() for line in screen.splitlines()]
    start = max(i for i, line in enumerate(lines) if line.startswith(QUESTION))
    return lines[start:]


def exit_status(terminal: Terminal) -> str:
    return {"fish": "$status", "nu": "($env.LAST_EXIT_CODE)"}.get(terminal.shell, "$?")


def with_status(terminal: Terminal, command: str) -> str:
    """The command, then `rc=` and its exit status. In Nushell a failure ends the line: `try` it."""
    if terminal.shell == "nu":
        command = f"try {{ {command} }} catch {{ }}"
    return f"{command}; echo rc={exit_status(terminal)}"


@shells_and_nu
def test_a_mistyped_code_is_asked_again_and_a_spaced_code_is_accepted(terminal):
    terminal.type("mfaenv stage")
    terminal.press("Enter")
    terminal.wait_for(lambda screen: QUESTION in screen, "the code prompt")
    terminal.type("12345")
    terminal.press("Enter")
    terminal.wait_for(lambda screen: screen.count(QUESTION) == 2, "the code prompt asking again")
    assert "The code is six digits; try again." in terminal.screen()
    terminal.type("123 456")  # as an authenticator app shows it
    terminal.press("Enter")
    terminal.wait_for_prompt(rf"\[{FRESH}\] \w+>", "the prompt with the session")
    assert re.search(r"^mfaenv: stage, account 111111111111, until .+; fetched$", terminal.screen(), re.M)


@shells_and_nu
@pytest.mark.parametrize("key, message, question_line", [
    ("C-c", "mfaenv: interrupted", QUESTION + " ^C"),
    ("C-d", "mfaenv: profile 'stage': no MFA code entered", QUESTION),
], ids=["Ctrl-C", "Ctrl-D"])
def test_ctrl_c_or_ctrl_d_at_the_code_prompt_ends_the_line_cleanly(terminal, key, message, question_line):
    """The message gets a line of its own, and so does the next prompt (no zsh `%`/`#` marker)."""
    terminal.type("mfaenv stage")
    terminal.press("Enter")
    terminal.wait_for(lambda screen: QUESTION in screen, "the code prompt")
    terminal.press(key)
    terminal.wait_for(lambda screen: message in screen, "mfaenv's message")
    terminal.wait_for_prompt(r"\[\] \w+>", "the next prompt, without a session")
    lines = [line for line in lines_from_question(terminal.screen()) if line]  # bash adds a blank line after ^C
    assert lines == [question_line, message, lines[-1]]
    assert re.fullmatch(r"\[\] \w+>", lines[-1])
    if key == "C-d":  # after Ctrl-C the shell reports its own interruption (zsh: 2)
        terminal.type(f"echo rc={exit_status(terminal)}")
        terminal.press("Enter")
        terminal.wait_for(lambda screen: "rc=6" in screen, "mfaenv's exit status")


@shells_and_nu
def test_another_shells_syntax_is_refused_and_the_terminal_stays_open(terminal):
    """fish's `set -e VAR; or true` evaluated by bash or zsh turned on errexit and closed the terminal."""
    other = {"bash": "fish", "zsh": "fish", "fish": "powershell", "nu": "bash"}[terminal.shell]
    terminal.type("mfaenv stage 123456")
    terminal.press("Enter")
    terminal.wait_for_prompt(rf"\[{FRESH}\] \w+>", "the prompt with the session")
    terminal.type(f"mfaenv unset --shell {other}")
    terminal.press("Enter")
    terminal.wait_for(lambda screen: f"the {terminal.shell} integration evaluates {terminal.shell} code only" in screen,
                      "the refusal")
    terminal.wait_for_prompt(rf"\[{FRESH}\] \w+>", "the same shell, session kept")


@shells
def test_typed_without_the_wrapper_the_keys_stay_off_the_screen_and_the_code_unspent(terminal):
    """`env mfaenv ...` runs the program itself, as a shell without the integration would: stdout is the terminal.

    STS is a closed port: a call would end with exit 5, not the hint's 2.
    """
    terminal.type(f"env AWS_ENDPOINT_URL_STS=http://127.0.0.1:9 mfaenv stage 123456; echo rc={exit_status(terminal)}")
    terminal.press("Enter")
    terminal.wait_for(lambda screen: re.search(r"^rc=\d+", screen, re.M), "the exit status")
    screen = "".join(terminal.screen().splitlines())  # the hint is longer than the pane is wide
    loader = "mfaenv stage 123456 | source" if terminal.shell == "fish" else 'eval "$(mfaenv stage 123456)"'
    assert loader in screen and "rc=2" in screen
    assert "AWS_SECRET_ACCESS_KEY" not in screen and "MFA code" not in screen
