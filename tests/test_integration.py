"""The shell integration (`mfaenv init SHELL`) run in real bash, zsh and fish.

Each scenario sources the printed integration into a fresh shell, as an rc
file would, and calls `mfaenv` by name: the wrapper must change that shell,
keep the real command's exit status, and leave everything alone when a fetch
fails. The shells run in a new session, with no controlling terminal, so a
wrapper that tried to prompt would fail instead of hanging. PowerShell,
where pwsh is not installable, is parsed with the tree-sitter grammar.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import IN_CI, REAL_SHELLS, clean_environ, closed_sts, require_shell, run_mfaenv
from powershell import parse as parse_powershell

ROOT = Path(__file__).resolve().parent.parent
SHELL_DIR = ROOT / "shell"
#: The console script `mfaenv` of the interpreter running the tests (a venv's bin).
BIN = Path(sys.executable).parent
SCRIPTS = {"bash": "mfaenv.bash", "zsh": "mfaenv.zsh", "fish": "mfaenv.fish", "powershell": "mfaenv.ps1", "nu": "mfaenv.nu"}
#: Other names `mfaenv init` takes for a shell.
SCRIPT_ALIASES = {"pwsh": "powershell", "nushell": "nu"}
INIT_LINES = {
    "bash": 'eval "$(mfaenv init bash)"',
    "zsh": 'eval "$(mfaenv init zsh)"',
    "fish": "mfaenv init fish | source",
    "powershell": "mfaenv init powershell | Out-String | Invoke-Expression",
    "nu": "use mfaenv.nu *",  # in config.nu, after saving the module (tests/test_nushell.py)
}
STATUS = {"bash": "$?", "zsh": "$?", "fish": "$status"}
#: A fresh session's prompt text: moto's expiry may land a second past 12 hours.
FRESH = r"stage 111111111111 (11h59|12h00)m"
#: Prints the variables a session sets, one line, in every one of the three shells.
SHOW = 'printf "vars=%s|%s|%s|%s\\n" "$MFAENV_PROFILE" "$MFAENV_ACCOUNT" "$AWS_SESSION_TOKEN" "$MFAENV_SHELL"'


@pytest.fixture
def shell_env(env: Dict[str, str]) -> Dict[str, str]:
    """The emulator environment with this venv's `mfaenv` first on PATH.

    MFAENV_SHELL is deliberately wrong for every shell under test: the wrapper
    must set its own shell for the call, and only for that call.
    """
    assert (BIN / "mfaenv").exists(), f"no mfaenv console script beside {sys.executable}"
    return {**env, "PATH": f"{BIN}{os.pathsep}{env.get('PATH', os.defpath)}", "MFAENV_SHELL": "powershell"}


NO_RC_FILES = {"bash": ["--norc", "--noprofile"], "zsh": ["-f"], "fish": ["--no-config"]}


def run_in(shell: str, script: str, env: Dict[str, str], interactive: bool = False, cwd=None, timeout: float = 60):
    """Run a script in a real shell with no rc files and no controlling terminal."""
    flags = [*NO_RC_FILES[shell], *(["-i"] if interactive else [])]
    return subprocess.run(
        [require_shell(shell), *flags, "-c", script], env=env, cwd=cwd, capture_output=True, text=True,
        timeout=timeout, stdin=subprocess.DEVNULL, start_new_session=True,
    )


def with_init(shell: str, *lines: str) -> str:
    return "\n".join((INIT_LINES[shell], *lines)) + "\n"


def values(stdout: str, key: str) -> List[str]:
    """The values printed as `key=...` lines, in order."""
    return [line[len(key) + 1:] for line in stdout.splitlines() if line.startswith(key + "=")]


def session_vars(stdout: str) -> List[List[str]]:
    return [value.split("|") for value in values(stdout, "vars")]


shells = pytest.mark.parametrize("shell", REAL_SHELLS)
modes = pytest.mark.parametrize("interactive", [False, True], ids=["script", "interactive"])


# --- mfaenv init -----------------------------------------------------------------------------


@pytest.mark.parametrize("shell", [*SCRIPTS, *SCRIPT_ALIASES])
def test_init_prints_the_shell_file(shell, tmp_path):
    result = run_mfaenv(["init", shell], clean_environ(tmp_path))
    assert result.returncode == 0, result.stderr
    name = SCRIPTS[SCRIPT_ALIASES.get(shell, shell)]
    assert result.stdout == (SHELL_DIR / name).read_text(encoding="utf-8")


def test_init_of_an_unknown_shell_is_a_clear_error(tmp_path):
    result = run_mfaenv(["init", "tcsh"], clean_environ(tmp_path))
    assert result.returncode == 2
    assert result.stdout == ""
    assert "tcsh" in result.stderr and "bash" in result.stderr


@pytest.mark.parametrize("command", [["init", "zsh"], ["init", "bash"], ["init", "fish"], ["init", "nu"], ["profiles"]])
def test_init_and_completion_import_no_typer_click_rich_or_boto3(command, env):
    """They run at every new shell and every Tab: -X importtime lists each module imported."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "mfaenv", *command], env=env, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr
    modules = {line.split("|")[-1].strip().split(".")[0] for line in result.stderr.splitlines() if "|" in line}
    assert "mfaenv" in modules  # the check sees our own imports, so it can see theirs
    assert not modules & {"typer", "click", "rich", "boto3", "botocore", "pydantic", "shellingham"}


# --- the scripts as files -------------------------------------------------------------------


def test_bash_integration_passes_shellcheck():
    require_shell("shellcheck")
    result = subprocess.run(["shellcheck", "-s", "bash", str(SHELL_DIR / "mfaenv.bash")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


#: The shell's syntax check, and the line that closes a block in it. fish checks a file with
#: --no-execute; with -c it may report success on a syntax error.
SYNTAX_CHECKS = {"bash": (["-n"], "}"), "zsh": (["-n"], "}"), "fish": (["--no-execute"], "end")}


@shells
def test_integration_script_has_valid_syntax(shell, tmp_path):
    path = require_shell(shell)
    check, closer = SYNTAX_CHECKS[shell]
    result = subprocess.run([path, *check, str(SHELL_DIR / SCRIPTS[shell])], capture_output=True, text=True)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    # The check can fail: the same command rejects the script with its last block closer cut.
    lines = (SHELL_DIR / SCRIPTS[shell]).read_text(encoding="utf-8").splitlines()
    cut = max(i for i, line in enumerate(lines) if line == closer)
    broken = tmp_path / SCRIPTS[shell]
    broken.write_text("\n".join(lines[:cut] + lines[cut + 1:]) + "\n", encoding="utf-8")
    assert subprocess.run([path, *check, str(broken)], capture_output=True).returncode != 0


def nodes(node):
    yield node
    for child in node.children:
        yield from nodes(child)


def powershell_problems(text: str) -> List[str]:
    return [
        f"{node.type}{' (missing)' if node.is_missing else ''} at line {node.start_point[0] + 1}"
        for node in nodes(parse_powershell(text).root_node) if node.type == "ERROR" or node.is_missing
    ]


def test_powershell_integration_parses_without_errors():
    text = (SHELL_DIR / "mfaenv.ps1").read_text(encoding="utf-8")
    assert powershell_problems(text) == []
    # The check can fail: one brace too many is reported.
    broken = text.replace("function global:mfaenv {", "function global:mfaenv {{", 1)
    assert broken != text and powershell_problems(broken)


def test_powershell_integration_defines_only_prefixed_names():
    tree = parse_powershell((SHELL_DIR / "mfaenv.ps1").read_text(encoding="utf-8")).root_node
    names = [
        child.text.decode().split(":", 1)[-1]
        for node in nodes(tree) if node.type == "function_statement"
        for child in node.children if child.type == "function_name"
    ]
    assert {"mfaenv", "mfaenv_prompt"} <= set(names)
    assert [name for name in names if name not in ("mfaenv", "mfaenv_prompt") and not name.startswith("__mfaenv_")] == []


@pytest.mark.parametrize("shell", SCRIPTS)
def test_script_opens_with_a_banner_and_ends_with_the_rc_line(shell):
    lines = [line for line in (SHELL_DIR / SCRIPTS[shell]).read_text(encoding="utf-8").splitlines() if line.strip()]
    assert lines[0].startswith("# mfaenv shell integration for") and f"mfaenv init {shell}" in lines[0]
    assert lines[-1].lstrip("# ") == INIT_LINES[shell]


NAME_LISTS = {
    # Functions and variables of the shell itself, printed before and after sourcing.
    "bash": "compgen -A function; compgen -v",
    "zsh": "print -rl -- ${(k)functions} ${(k)parameters}",
    "fish": "functions -n | string split ,; set -n",
}


@shells
def test_integration_adds_only_mfaenv_names(shell, shell_env):
    listing = NAME_LISTS[shell]
    script = f"{listing}\necho '==='\n{INIT_LINES[shell]}\n{listing}\n"
    result = run_in(shell, script, shell_env)
    before, after = result.stdout.split("===\n")
    added = set(after.split()) - set(before.split()) - {"_"}
    assert {"mfaenv", "mfaenv_prompt"} <= added
    # Not even zsh/datetime's EPOCHSECONDS: only its strftime builtin is loaded.
    # The hook lists that renewal at the prompt joins (PROMPT_COMMAND, precmd_functions), where unset before.
    hooks = {"PROMPT_COMMAND", "precmd_functions"}
    assert [name for name in added if not name.startswith(("__mfaenv_", "mfaenv")) and name not in hooks] == []


# --- the wrapper changes this shell ---------------------------------------------------------


@shells
@modes
def test_stage_with_a_code_lands_in_the_current_shell(shell, interactive, shell_env):
    result = run_in(shell, with_init(shell, "mfaenv stage 123456", f"echo rc={STATUS[shell]}", SHOW), shell_env, interactive)
    assert values(result.stdout, "rc") == ["0"], result.stderr
    [(profile, account, token, mfaenv_shell)] = session_vars(result.stdout)
    assert (profile, account) == ("stage", "111111111111")
    assert token
    assert mfaenv_shell == "powershell"  # the user's MFAENV_SHELL is left as it was


@shells
@modes
def test_failed_fetch_keeps_its_exit_status_and_changes_nothing(shell, interactive, shell_env):
    before = {**shell_env, "MFAENV_PROFILE": "old", "MFAENV_ACCOUNT": "999999999999", "AWS_SESSION_TOKEN": "old-token"}
    script = with_init(
        shell,
        "mfaenv nosuch 123456", f"echo rc={STATUS[shell]}",  # unknown profile
        "mfaenv stage 12345", f"echo rc={STATUS[shell]}",  # malformed code
        "mfaenv stage", f"echo rc={STATUS[shell]}",  # no code and no terminal to ask on
        SHOW,
    )
    result = run_in(shell, script, before, interactive)
    assert values(result.stdout, "rc") == ["3", "2", "6"], result.stderr
    assert session_vars(result.stdout) == [["old", "999999999999", "old-token", "powershell"]]
    assert "profile 'nosuch'" in result.stderr and "six digits" in result.stderr and "no terminal" in result.stderr


@shells
def test_unreachable_sts_changes_nothing(shell, shell_env):
    unreachable = closed_sts({**shell_env, "MFAENV_PROFILE": "old"})
    result = run_in(shell, with_init(shell, "mfaenv stage 123456", f"echo rc={STATUS[shell]}", SHOW), unreachable)
    assert values(result.stdout, "rc") == ["5"], result.stderr  # STS unavailable
    assert session_vars(result.stdout) == [["old", "", "", "powershell"]]


@shells
def test_unset_clears_the_session(shell, shell_env):
    script = with_init(shell, "mfaenv stage 123456", SHOW, "mfaenv unset", f"echo rc={STATUS[shell]}", SHOW)
    result = run_in(shell, script, shell_env)
    assert values(result.stdout, "rc") == ["0"], result.stderr
    fetched, cleared = session_vars(result.stdout)
    assert fetched[0] == "stage"
    assert cleared == ["", "", "", "powershell"]


@shells
def test_stage_without_a_code_reuses_the_valid_session(shell, shell_env):
    """No terminal here: a wrapper that asked for a code would fail instead."""
    script = with_init(shell, "mfaenv stage 123456", SHOW, "mfaenv stage", f"echo rc={STATUS[shell]}", SHOW)
    result = run_in(shell, script, shell_env)
    assert values(result.stdout, "rc") == ["0"], result.stderr
    first, second = session_vars(result.stdout)
    assert first == second and first[2]


@shells
def test_other_commands_print_and_are_not_evaluated(shell, shell_env):
    """Their output reaches the terminal; evaluated, it would be 'command not found'."""
    script = with_init(
        shell,
        "mfaenv status", f"echo rc={STATUS[shell]}",  # no session yet
        "mfaenv stage 123456",
        "mfaenv status", f"echo rc={STATUS[shell]}",
        "mfaenv prompt",
        "mfaenv list",
        "mfaenv --version",
        "mfaenv stage --help", f"echo rc={STATUS[shell]}",
        "mfaenv help", f"echo rc={STATUS[shell]}",
        "mfaenv init bash | head -n 1",
    )
    result = run_in(shell, script, shell_env)
    assert values(result.stdout, "rc") == ["1", "0", "0", "0"], result.stderr
    assert_printed_by_the_other_commands(result.stdout)
    assert "not found" not in result.stderr


def assert_printed_by_the_other_commands(out: str) -> None:
    """What status, prompt, list, --version, --help, help and `init bash` print, after a fetch."""
    assert "profile:  stage" in out
    assert re.search(rf"^{FRESH}$", out, re.M)
    assert re.search(r"^PROFILE\s+ROLE\s+SOURCE", out, re.M)
    assert re.search(r"^mfaenv \d", out, re.M)
    assert "--code-command" in out  # the help text
    assert "Usage: mfaenv PROFILE [CODE]" in out  # mfaenv help
    assert "# mfaenv shell integration for bash" in out


#: Per shell, what a user's rc file may hold before the init line: functions and aliases named like
#: the builtins a wrapper uses, options that change word splitting, arrays and numbers; the init
#: line, which must get past them too; what to undo so that SHOW (printf) works; the prompt call.
SABOTAGE = {
    "bash": {
        "setup": [
            "shopt -s expand_aliases",
            "command() { echo SABOTAGE; }",
            "eval() { echo SABOTAGE; }",
            *(f"alias {name}='echo SABOTAGE'" for name in ("command", "eval", "local", "printf", "export", "unset")),
        ],
        "init": INIT_LINES["bash"].replace("eval", "builtin eval", 1),
        "undo": ["unalias printf"],
        "prompt": "mfaenv_prompt; echo",
        "interactive": True,
    },
    "zsh": {
        "setup": [
            *(f"{name}() {{ echo SABOTAGE; }}" for name in ("command", "eval", "printf", "emulate")),
            *(f"alias {name}='echo SABOTAGE'" for name in ("command", "eval", "local", "printf", "emulate", "export", "unset")),
            "setopt ksh_arrays sh_word_split no_unset octal_zeroes",
        ],
        "init": INIT_LINES["zsh"].replace("eval", "builtin eval", 1),
        "undo": ["unalias printf; unfunction printf emulate"],
        "prompt": "MFAENV_EXPIRES=0$MFAENV_EXPIRES mfaenv_prompt; echo",  # octal_zeroes would misread it
        "interactive": False,
    },
    "fish": {
        "setup": [f"function {name}; echo SABOTAGE; end" for name in ("source", "math", "contains", "count", "date", "true")],
        "init": "mfaenv init fish | builtin source",
        "undo": [],
        "prompt": "mfaenv_prompt; echo",
        "interactive": False,
    },
}


@shells
def test_wrapper_survives_the_users_aliases_functions_and_options(shell, shell_env):
    sabotage = SABOTAGE[shell]
    script = "\n".join([
        *sabotage["setup"], sabotage["init"],
        "mfaenv stage 123456", f"echo rc={STATUS[shell]}",
        "mfaenv nosuch 123456", f"echo rc={STATUS[shell]}",
        *sabotage["undo"], SHOW, sabotage["prompt"],
        "mfaenv stage --help >/dev/null", f"echo rc={STATUS[shell]}",
    ])
    result = run_in(shell, script, shell_env, interactive=sabotage["interactive"])
    assert "SABOTAGE" not in result.stdout
    assert values(result.stdout, "rc") == ["0", "3", "0"], result.stderr
    assert session_vars(result.stdout)[0][:2] == ["stage", "111111111111"]
    assert re.search(rf"^{FRESH}$", result.stdout, re.M)


def test_bash_wrapper_works_under_set_euo_pipefail(shell_env):
    script = "\n".join([
        "set -euo pipefail", INIT_LINES["bash"],
        "mfaenv stage 123456", 'echo "rc=$?"',
        'mfaenv nosuch 123456 || echo "rc=$?"',  # a failure the caller handles does not end the shell
        'mfaenv_prompt; echo', "mfaenv unset", 'mfaenv_prompt; echo "rc=$?"',
    ])
    result = run_in("bash", script, shell_env)
    assert values(result.stdout, "rc") == ["0", "3", "0"], result.stderr
    assert re.search(rf"^{FRESH}$", result.stdout, re.M)


#: Per shell: tracing on, tracing off, and a line that says whether it is on.
TRACING = {
    "bash": ("set -x", "set +x", "[[ $- == *x* ]] && echo trace=on"),
    "zsh": ("setopt xtrace", "unsetopt xtrace", "[[ -o xtrace ]] && echo trace=on"),
    "fish": ("set fish_trace 1", "set -e fish_trace", "set -q fish_trace; and echo trace=on"),
}


@shells
def test_tracing_never_shows_the_keys_and_stays_on(shell, shell_env):
    """set -x, setopt xtrace and fish_trace would print every assignment the wrapper evaluates."""
    on, off, check = TRACING[shell]
    script = with_init(
        shell, on, "mfaenv stage 123456", f"echo rc={STATUS[shell]}", check, off,
        'printf "secret=%s\\n" "$AWS_SECRET_ACCESS_KEY"', 'printf "token=%s\\n" "$AWS_SESSION_TOKEN"',
    )
    result = run_in(shell, script, shell_env)
    assert values(result.stdout, "rc") == ["0"] and values(result.stdout, "trace") == ["on"], result.stderr
    [secret], [token] = values(result.stdout, "secret"), values(result.stdout, "token")
    assert "mfaenv stage 123456" in result.stderr  # the user's own commands were traced
    assert secret and token and secret not in result.stderr and token not in result.stderr


#: A syntax the wrapper's shell would misread: fish's `set -e` is errexit in bash and zsh.
OTHER_SYNTAX = {"bash": "fish", "zsh": "fish", "fish": "powershell"}


@shells
@modes
def test_another_shells_syntax_is_refused_and_the_shell_lives_on(shell, interactive, shell_env):
    other = OTHER_SYNTAX[shell]
    script = with_init(
        shell, "mfaenv stage 123456",
        f"mfaenv unset --shell {other}", f"echo rc={STATUS[shell]}",
        f"mfaenv stage --shell {other}", f"echo rc={STATUS[shell]}",
        SHOW, f"mfaenv unset --shell {shell}", f"echo rc={STATUS[shell]}", SHOW,
    )
    result = run_in(shell, script, shell_env, interactive)
    assert values(result.stdout, "rc") == ["2", "2", "0"], result.stderr
    kept, cleared = session_vars(result.stdout)
    assert kept[:2] == ["stage", "111111111111"] and cleared[:3] == ["", "", ""]
    assert f"--shell {other}: the {shell} integration evaluates {shell} code only" in result.stderr


def test_the_same_syntax_under_another_name_is_accepted(env):
    result = run_mfaenv(["unset", "--shell", "zsh"], {**env, "MFAENV_WRAPPER": "bash"})
    assert (result.returncode, result.stderr) == (0, "")
    assert "\\unset MFAENV_PROFILE\n" in result.stdout


#: What a stand-in for the mfaenv program prints: shell code that says it ran, were it evaluated.
STUB = "#!/bin/sh\nprintf 'echo evaluated-%s-wrapper=%s\\n' \"$1\" \"${MFAENV_WRAPPER-none}\"\n"


@shells
def test_exec_and_credential_process_run_untouched_forget_is_evaluated(shell, shell_env, tmp_path):
    """exec's and credential-process's output belongs to a command or an SDK, console's to a person: not to the shell."""
    stub = tmp_path / "bin" / "mfaenv"
    stub.parent.mkdir()
    stub.write_text(STUB, encoding="utf-8")
    stub.chmod(0o755)
    # After the init line, which the real program prints.
    path = f"set -gx PATH {stub.parent} $PATH" if shell == "fish" else f'PATH="{stub.parent}:$PATH"'
    script = with_init(shell, path, "mfaenv exec stage -- true", "mfaenv credential-process stage", "mfaenv console admin --stdout", "mfaenv help",
                       "mfaenv forget stage", "mfaenv unset")
    result = run_in(shell, script, shell_env)
    assert result.stdout.splitlines() == [
        "echo evaluated-exec-wrapper=none",
        "echo evaluated-credential-process-wrapper=none",
        "echo evaluated-console-wrapper=none",
        "echo evaluated-help-wrapper=none",
        f"evaluated-forget-wrapper={shell}",
        f"evaluated-unset-wrapper={shell}",
    ], result.stderr


@shells
def test_exec_under_the_wrapper_runs_the_command_with_this_shells_session(shell, shell_env):
    """Its output is the command's: evaluated, `key=...` would be a (failing) command, not a line."""
    show_key = "sh -c 'echo key=$AWS_ACCESS_KEY_ID'"
    script = with_init(shell, "mfaenv stage 123456", f"mfaenv exec stage -- {show_key}", f"echo rc={STATUS[shell]}",
                       'echo "mine=$AWS_ACCESS_KEY_ID"')
    result = run_in(shell, script, shell_env)
    assert values(result.stdout, "rc") == ["0"], result.stderr
    assert values(result.stdout, "key") == values(result.stdout, "mine") != [""]


UNSET_TOKEN = {"bash": "unset AWS_SESSION_TOKEN", "zsh": "unset AWS_SESSION_TOKEN", "fish": "set -e AWS_SESSION_TOKEN"}
PROMPT_LINE = {
    "bash": 'echo "prompt=$(mfaenv_prompt)|$(command mfaenv prompt)"',
    "zsh": 'echo "prompt=$(mfaenv_prompt)|$(command mfaenv prompt)"',
    "fish": 'set -l a (mfaenv_prompt); set -l b (command mfaenv prompt); echo "prompt=$a|$b"',
}


@shells
def test_status_and_prompt_see_that_the_credentials_are_gone(shell, shell_env):
    script = with_init(
        shell, "mfaenv stage 123456", PROMPT_LINE[shell], UNSET_TOKEN[shell],
        "mfaenv status", f"echo rc={STATUS[shell]}", PROMPT_LINE[shell],
    )
    result = run_in(shell, script, shell_env)
    assert values(result.stdout, "rc") == ["1"], result.stderr
    with_session, gone = values(result.stdout, "prompt")
    assert re.fullmatch(f"{FRESH}\\|{FRESH}", with_session)
    assert gone == "|"
    assert "the session for 'stage' is no longer in this shell (AWS_SESSION_TOKEN not set)" in result.stderr


# --- mfaenv_prompt ----------------------------------------------------------------------------

#: Seconds left -> the text both `mfaenv_prompt` and `mfaenv prompt` must print. Offsets sit
#: 30 s inside a minute so that the second or two between the two calls cannot change it.
PROMPT_CASES = {
    "fresh session": ({"MFAENV_EXPIRES": 43170}, "stage 111111111111 11h59m"),
    "over an hour": ({"MFAENV_EXPIRES": 3630}, "stage 111111111111 1h00m"),
    "under an hour": ({"MFAENV_EXPIRES": 3570}, "stage 111111111111 59m"),
    "last minutes": ({"MFAENV_EXPIRES": 270}, "stage 111111111111 4m"),
    "last seconds": ({"MFAENV_EXPIRES": 30}, "stage 111111111111 0m"),
    "expired": ({"MFAENV_EXPIRES": -30}, "stage expired"),
    "no account": ({"MFAENV_EXPIRES": 43170, "MFAENV_ACCOUNT": ""}, "stage 11h59m"),
    "no session": ({"MFAENV_EXPIRES": 43170, "MFAENV_PROFILE": ""}, ""),
    "expiry not a number": ({"MFAENV_EXPIRES": "soon"}, ""),
    "expiry with a sign": ({"MFAENV_EXPIRES": "+1"}, ""),
    "expiry hiding code": ({"MFAENV_EXPIRES": "a[$(touch pwned)]"}, ""),
    "expiry with text after the digits": ({"MFAENV_EXPIRES": "1795617666 soon"}, ""),
    "expiry of twelve digits": ({"MFAENV_EXPIRES": "179561766600"}, ""),
    "expiry with a leading zero": ({"MFAENV_EXPIRES": ("0", 43170)}, "stage 111111111111 11h59m"),
    "hostile profile name": ({"MFAENV_EXPIRES": 43170, "MFAENV_PROFILE": "$(touch pwned)`touch pwned`"},
                             "$(touch pwned)`touch pwned` 111111111111 11h59m"),
    # ESC ] 2 ; retitles the window, as does the one-byte OSC U+009D; BEL ends it.
    "terminal controls in the name": (
        {"MFAENV_EXPIRES": 43170, "MFAENV_PROFILE": "st\x1b]2;HIJACKED\x07age\x9d0;x\x9c\x7f\t\r\n",
         "MFAENV_ACCOUNT": "1111\x1b[2J"},
        "st\\x1b]2;HIJACKED\\x07age\\x9d0;x\\x9c\\x7f\\t\\r\\n 1111\\x1b[2J 11h59m"),
    "expired, controls in the name": ({"MFAENV_EXPIRES": -30, "MFAENV_PROFILE": "st\x1bage"}, "st\\x1bage expired"),
    # The credentials are what make a session: without any of them there is none.
    **{f"{name} unset": ({"MFAENV_EXPIRES": 43170, name: None}, "") for name in
       ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")},
    "session token empty": ({"MFAENV_EXPIRES": 43170, "AWS_SESSION_TOKEN": ""}, ""),
    # zsh: an inherited EPOCHSECONDS is no clock (zsh/datetime's parameter is never loaded).
    "inherited clock hiding code": ({"MFAENV_EXPIRES": 43170, "EPOCHSECONDS": "path[$(touch pwned)1]"},
                                    "stage 111111111111 11h59m"),
    "inherited frozen clock": ({"MFAENV_EXPIRES": 43170, "EPOCHSECONDS": "1"}, "stage 111111111111 11h59m"),
}


#: A session's credentials, as an export leaves them.
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "ASIAEXAMPLE000000001", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_SESSION_TOKEN": "token"}


def prompt_env(shell_env, overrides):
    environ = {**shell_env, **CREDENTIALS, "MFAENV_PROFILE": "stage", "MFAENV_ACCOUNT": "111111111111"}
    for key, value in overrides.items():
        if value is None:
            environ.pop(key, None)
            continue
        if isinstance(value, int):  # seconds from now
            value = str(int(time.time()) + value)
        elif isinstance(value, tuple):  # a prefix, then seconds from now
            value = value[0] + str(int(time.time()) + value[1])
        environ[key] = value
    return environ


#: Prints the shell function's text and the Python command's text, one line each.
BOTH_PROMPTS = {
    "bash": 'printf "shell=%s\\n" "$(mfaenv_prompt)"; printf "python=%s\\n" "$(command mfaenv prompt)"',
    "zsh": 'printf "shell=%s\\n" "$(mfaenv_prompt)"; printf "python=%s\\n" "$(command mfaenv prompt)"',
    "fish": 'printf "shell=%s\\n" (mfaenv_prompt); printf "python=%s\\n" (command mfaenv prompt)',
}


@shells
@pytest.mark.parametrize("case", PROMPT_CASES)
def test_prompt_function_agrees_with_mfaenv_prompt(shell, case, shell_env, tmp_path):
    overrides, expected = PROMPT_CASES[case]
    result = run_in(shell, with_init(shell, BOTH_PROMPTS[shell]), prompt_env(shell_env, overrides), cwd=tmp_path)
    assert result.stderr == ""
    assert values(result.stdout, "shell") == values(result.stdout, "python") == [expected]
    assert not (tmp_path / "pwned").exists()


def test_the_readmes_simple_bash_prompt_leaves_no_stray_space(shell_env):
    """The README's one-line PS1 recipe, expanded by bash itself with and without a session."""
    lines = (ROOT / "docs" / "shells.md").read_text(encoding="utf-8").splitlines()
    recipe = lines[next(i for i, line in enumerate(lines) if line.startswith("# bash, simple")) + 1]
    environ = prompt_env(shell_env, {"MFAENV_EXPIRES": 43170})
    script = with_init("bash", "PS1='$ '", recipe, 'printf "with=%s|\\n" "${PS1@P}"',
                       "unset MFAENV_PROFILE", 'printf "without=%s|\\n" "${PS1@P}"')
    result = run_in("bash", script, environ)
    assert values(result.stdout, "with") == ["stage 111111111111 11h59m $ |"], result.stderr
    assert values(result.stdout, "without") == ["$ |"]


@pytest.mark.parametrize("recipe_title", ["# zsh, simple", "# zsh, no subshell"])
def test_the_readmes_zsh_prompts_show_a_percent_in_a_profile_name_as_it_is(recipe_title, shell_env):
    """With prompt_subst, zsh reads %-escapes in what $(...) printed: %F{red} would colour, %~ show a path."""
    lines = (ROOT / "docs" / "shells.md").read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(recipe_title)) + 1
    recipe = lines[start:next(i for i in range(start, len(lines)) if lines[i].startswith(("#", "```")))]
    environ = prompt_env(shell_env, {"MFAENV_EXPIRES": 43170, "MFAENV_PROFILE": "dev%F{red}%~100%"})
    script = with_init("zsh", "setopt prompt_subst", *recipe, "__my_mfaenv_segment 2>/dev/null", 'print -rP -- "$RPROMPT"')
    result = run_in("zsh", script, environ)
    assert result.stdout == "dev%F{red}%~100% 111111111111 11h59m\n", result.stderr


#: Profile names of printable ASCII, every C0 and C1 control, DEL, and some wider characters.
names_with_controls = st.text(
    alphabet=st.one_of(st.characters(min_codepoint=0x20, max_codepoint=0x7E), st.characters(min_codepoint=1, max_codepoint=0x1F),
                       st.characters(min_codepoint=0x7F, max_codepoint=0x9F), st.sampled_from("\u00e9\u4e2d\U0001f600")),
    min_size=1, max_size=12,
)


@shells
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(name=names_with_controls)
def test_any_profile_name_shows_alike_in_the_prompt_function_and_mfaenv_prompt(shell, name, shell_env, tmp_path):
    environ = prompt_env(shell_env, {"MFAENV_EXPIRES": 43170, "MFAENV_PROFILE": name})
    result = run_in(shell, with_init(shell, BOTH_PROMPTS[shell]), environ, cwd=tmp_path)
    assert result.stderr == ""
    [text] = values(result.stdout, "python")
    assert values(result.stdout, "shell") == [text]
    assert not re.search("[\x00-\x1f\x7f-\x9f]", text) and text.endswith(" 111111111111 11h59m")


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_prompt_function_runs_with_no_commands_on_path(shell, shell_env, tmp_path):
    """No PATH, no external command: the text still comes out, from the shell's own clock."""
    environ = prompt_env(shell_env, {"MFAENV_EXPIRES": 43170})
    script = with_init(shell, "PATH=''", "hash -r", "mfaenv_prompt; echo", "mfaenv_prompt -v segment", 'echo "var=$segment"')
    result = run_in(shell, script, environ)
    assert result.stderr == ""
    assert result.stdout.splitlines() == ["stage 111111111111 11h59m", "var=stage 111111111111 11h59m"]


def test_fish_prompt_without_date_on_path_leaves_the_segment_out_quietly(shell_env):
    """fish has no clock of its own: without `date` there is no time left to show, and no error in the prompt."""
    environ = prompt_env(shell_env, {"MFAENV_EXPIRES": 43170})
    result = run_in("fish", with_init("fish", "set -g PATH", "set -l segment (mfaenv_prompt)", 'echo "[$segment]"'), environ)
    assert (result.stdout, result.stderr) == ("[]\n", "")


@pytest.mark.parametrize("clock", [
    "unset EPOCHSECONDS",  # bash before 5.0 has none
    "unset EPOCHSECONDS; EPOCHSECONDS='a[$(touch pwned)0]'",  # a user's variable, which arithmetic would run
    "unset EPOCHSECONDS; EPOCHSECONDS=1",  # a frozen clock
], ids=["unset", "hiding-code", "frozen"])
def test_bash_prompt_reads_printfs_clock_not_epochseconds(clock, shell_env, tmp_path):
    """printf's %(%s)T (bash 4.2+) is the clock: whatever $EPOCHSECONDS holds, it is not read."""
    environ = prompt_env(shell_env, {"MFAENV_EXPIRES": 43170})
    result = run_in("bash", with_init("bash", clock, "PATH=''", "mfaenv_prompt; echo"), environ, cwd=tmp_path)
    assert (result.stdout, result.stderr) == ("stage 111111111111 11h59m\n", "")
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_prompt_function_and_completion_survive_a_hostile_ifs(shell, shell_env):
    """Digits in IFS would split unquoted numbers; an empty IFS would glue a word list into one word."""
    environ = prompt_env(shell_env, {"MFAENV_EXPIRES": 3630 + 11 * 3600})
    lines = ["IFS=0123456789", "mfaenv_prompt; echo"]
    if shell == "bash":
        lines += ["IFS=", "COMP_WORDS=(mfaenv st); COMP_CWORD=1; __mfaenv_complete", 'printf "%s," "${COMPREPLY[@]}"']
    result = run_in(shell, with_init(shell, *lines), environ)
    assert result.stderr == ""
    assert result.stdout.splitlines()[0] == "stage 111111111111 12h00m"
    if shell == "bash":
        assert sorted(result.stdout.splitlines()[1].strip(",").split(",")) == ["stage", "stage-default", "status"]


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_prompt_function_contains_no_subshell_or_pipeline(shell, shell_env):
    """A command substitution, pipe or process substitution would fork on every render."""
    show = "declare -f mfaenv_prompt" if shell == "bash" else "functions mfaenv_prompt"
    body = run_in(shell, with_init(shell, show), shell_env).stdout
    assert "__mfaenv_text" in body  # the body really was printed
    body = body.replace("||", "").replace("&&", "")
    assert not re.search(r"\$\((?!\()|`|<\(|>\(|\||&\s*$", body, re.M), body


@pytest.mark.parametrize("shell, allowed", [("bash", 0), ("zsh", 0), ("fish", 1)])
def test_prompt_render_starts_at_most_the_processes_the_spec_allows(shell, allowed, shell_env, tmp_path):
    """Counted with strace: none for bash and zsh, one `date` for fish.

    CI installs strace; locally it is skipped where missing or not permitted to trace.
    """
    strace = require_shell("strace")
    environ = prompt_env(shell_env, {"MFAENV_EXPIRES": 43170})
    source = "source" if shell != "fish" else "builtin source"
    log = tmp_path / "strace.log"
    # Source the file itself (`mfaenv init` would be a process), then render twice.
    script = f"{source} {SHELL_DIR / SCRIPTS[shell]}\nmfaenv_prompt\necho\nmfaenv_prompt\necho\n"
    result = subprocess.run(
        [strace, "-f", "-qq", "-e", "trace=fork,vfork,clone,clone3,execve", "-o", str(log),
         require_shell(shell), *NO_RC_FILES[shell], "-c", script],
        env=environ, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )
    if result.returncode != 0 and "ptrace" in result.stderr and not IN_CI:
        pytest.skip(f"strace cannot trace here: {result.stderr.strip()}")
    assert result.stdout.splitlines() == ["stage 111111111111 11h59m"] * 2, result.stderr
    calls = log.read_text().splitlines()
    execs = [line for line in calls if "execve" in line and line.endswith("= 0")]
    assert len(execs) == 1 + 2 * allowed, calls  # the shell itself, then `date` per fish render


# --- completion -------------------------------------------------------------------------------


def bash_completions(words: List[str], env) -> List[str]:
    quoted = " ".join(shlex.quote(word) for word in words)
    script = with_init("bash", f"COMP_WORDS=({quoted}); COMP_CWORD={len(words) - 1}", "__mfaenv_complete",
                       'printf "%s\\n" "${COMPREPLY[@]}"', "complete -p mfaenv")
    result = run_in("bash", script, env)
    lines = result.stdout.splitlines()
    assert lines[-1] == "complete -F __mfaenv_complete mfaenv", result.stderr
    return sorted({line for line in lines[:-1] if line})  # readline shows a duplicate once


@pytest.mark.parametrize("words, expected", [
    (["mfaenv", "st"], ["stage", "stage-default", "status"]),
    (["mfaenv", "pro"], ["prod", "prod-default", "prompt"]),
    (["mfaenv", "init", ""], ["bash", "fish", "nu", "powershell", "zsh"]),
    (["mfaenv", "get", "d"], ["default", "dev"]),
    (["mfaenv", "stage", "--s"], ["--serial", "--shell", "--source"]),
    (["mfaenv", "stage", "--source", "prod"], ["prod", "prod-default"]),
    (["mfaenv", "unset", "--"], ["--shell"]),
    (["mfaenv", "status", ""], []),
    (["mfaenv", "e"], ["exec"]),
    (["mfaenv", "c"], ["console", "credential-process"]),
    (["mfaenv", "console", "prod-"], ["prod-default"]),
    (["mfaenv", "console", "prod", "--"], ["--destination", "--stdout"]),
    (["mfaenv", "console", "prod", "--destination", ""], []),
    (["mfaenv", "f"], ["forget"]),
    (["mfaenv", "exec", "stage-"], ["stage-default"]),
    (["mfaenv", "exec", "stage", "--f"], ["--force"]),
    (["mfaenv", "exec", "stage", "--", "printen"], ["printenv"]),
    (["mfaenv", "credential-process", "prod-"], ["prod-default"]),
    (["mfaenv", "forget", "stage", "--"], ["--persisted", "--shell"]),
    (["mfaenv", "stage", "--shell", ""], ["bash"]),  # the wrapper refuses any other syntax
    (["mfaenv", "--profile", "prod"], ["prod", "prod-default"]),  # the AWS CLI's habit
    (["mfaenv", "exec", "-p", "stage-"], ["stage-default"]),
    (["mfaenv", "credential-process", "--profile", "prod-"], ["prod-default"]),
    (["mfaenv", "stage", "--region", ""], []),
])
def test_bash_completes_commands_profiles_and_options(words, expected, shell_env):
    assert bash_completions(words, shell_env) == expected


@pytest.mark.parametrize("typed, expected", [
    ("my", ["my\\ profile"]),
    ("my\\ p", ["my\\ profile"]),
    ("'my p", ["my profile"]),  # inside the quote the user opened
])
def test_bash_completes_a_profile_name_with_a_space_as_one_word(typed, expected, shell_env, aws_home):
    with open(aws_home / ".aws" / "config", "a", encoding="utf-8") as config:
        config.write("\n[profile my profile]\nsource_profile = stage-default\n")
    assert bash_completions(["mfaenv", "get", typed], shell_env) == expected


@pytest.mark.parametrize("line, expected", [
    ("mfaenv st", ["stage", "stage-default", "status"]),
    ("mfaenv init ", ["bash", "fish", "nu", "powershell", "zsh"]),
    ("mfaenv get d", ["default", "dev"]),
    ("mfaenv stage --s", ["--serial", "--shell", "--source"]),
    ("mfaenv stage --source prod", ["prod", "prod-default"]),
    ("mfaenv unset --", ["--shell"]),
    ("mfaenv ex", ["exec"]),
    ("mfaenv credential-process prod-", ["prod-default"]),
    ("mfaenv console prod-", ["prod-default"]),
    ("mfaenv console prod --", ["--destination", "--stdout"]),
    ("mfaenv forget stage --p", ["--persisted"]),
    ("mfaenv exec stage --f", ["--force"]),
    ("mfaenv exec stage -- printen", ["printenv"]),
    ("mfaenv stage --shell ", ["fish"]),
    ("mfaenv --profile prod", ["prod", "prod-default"]),
    ("mfaenv exec -p stage-", ["stage-default"]),
])
def test_fish_completes_commands_profiles_and_options(line, expected, shell_env):
    result = run_in("fish", with_init("fish", f"complete -C '{line}'"), shell_env)
    assert sorted(row.split("\t")[0] for row in result.stdout.splitlines()) == expected, result.stderr


def test_zsh_integration_loads_quietly_without_compinit(shell_env):
    """compdef exists only after compinit; the script must not fail or complain before it."""
    result = run_in("zsh", with_init("zsh", "echo rc=$?"), shell_env)
    assert (result.stdout, result.stderr) == ("rc=0\n", "")


def test_zsh_registers_completion_after_compinit(shell_env, tmp_path):
    script = "\n".join([
        f"autoload -Uz compinit && compinit -u -d {tmp_path / 'zcompdump'}",
        INIT_LINES["zsh"], 'echo "completer=${_comps[mfaenv]}"',
    ])
    result = run_in("zsh", script, shell_env)
    assert values(result.stdout, "completer") == ["__mfaenv_complete"], result.stderr



def test_every_command_whose_output_is_not_shell_code_passes_through_every_wrapper():
    """The wrappers evaluate what `mfaenv WORD ...` prints unless WORD is on their pass-through list:
    a command missing there had its table run as shell code (`mfaenv keys` with a section named
    `x$(touch pwned)` ran the touch). Every command but get, unset and forget (which print shell
    code) must be on the list of every shell's wrapper."""
    from mfaenv import cli

    group = cli._build_app()
    commands = sorted(set(group.commands) - {"get", "unset", "forget"})
    assert {"exec", "console", "rotate", "keys"} <= set(commands)
    shell_folder = Path(__file__).resolve().parent.parent / "shell"
    for script in sorted(shell_folder.iterdir()):
        line = next(line for line in script.read_text().splitlines()
                    if "credential-process" in line and "help" in line and "status" in line and not line.lstrip().startswith("#"))
        words = set(re.findall(r"[\w-]+", line))
        missing = [command for command in commands if command not in words]
        assert missing == [], f"{script.name}: {missing} would be evaluated as shell code: {line.strip()}"
