"""The Nushell module (`mfaenv init nu`) run in the real nu, as a Nushell user runs it.

Each scenario saves the module with the README's command into a throwaway
config folder and `use`s it, then calls `mfaenv` by name: the wrapper must
load the record into that Nushell, keep the real command's exit status, and
change nothing when a fetch fails. Nushell has no eval, so no value can run;
the property tests here push arbitrary profile names and STS answers through
the whole path (CLI, JSON, load-env) and demand them back byte for byte. nu
runs with no config file and no terminal (a new session), as in
test_integration.py, whose prompt cases and environments are reused.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Dict, List

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import sts_standin as standin
from conftest import IN_CI, OLDEST_NUSHELL, closed_sts, require_shell, run_mfaenv, run_shell
from test_integration import (  # noqa: F401 (shell_env: a fixture)
    FRESH, PROMPT_CASES, ROOT, SHELL_DIR, assert_printed_by_the_other_commands, names_with_controls, prompt_env,
    session_vars, shell_env, values,
)
from test_shells import CANARY, HOSTILE_PROFILE_NAMES, SERIAL, assert_inert_record, evaluate_by_mistake

#: The variables a session sets, one line: profile, account, token, and the user's MFAENV_SHELL.
SHOW = 'print $"vars=($env.MFAENV_PROFILE? | default "")|($env.MFAENV_ACCOUNT? | default "")|($env.AWS_SESSION_TOKEN? | default "")|($env.MFAENV_SHELL)"'
#: The exit status of the last line, which `try` keeps from ending the script.
RC = 'print $"rc=($env.LAST_EXIT_CODE)"'


def caught(line: str) -> str:
    """A line whose failure is reported, not fatal: an error ends a Nushell script."""
    return f"try {{ {line} }} catch {{ }}; {RC}"


@pytest.fixture(autouse=True, params=["newest", "oldest"])
def nushell_release(request, monkeypatch) -> None:
    """Every scenario runs in the newest Nushell (or the `nu` on PATH) and in the oldest the README
    promises, which is first on PATH for the test (0.108 lost a failed run's status once)."""
    if request.param == "oldest":
        if not OLDEST_NUSHELL.exists():
            message = f"no {OLDEST_NUSHELL}; the README's test command installs it (npm ci --prefix tests/js)"
            pytest.fail(message) if IN_CI else pytest.skip(message)
        monkeypatch.setenv("PATH", f"{OLDEST_NUSHELL.parent}{os.pathsep}{os.environ.get('PATH', os.defpath)}")


def readme_line(start: str) -> str:
    """The README's line that starts so: the tests run the set-up exactly as documented."""
    lines = (ROOT / "docs" / "shells.md").read_text(encoding="utf-8").splitlines()
    return next(line for line in lines if line.startswith(start))


SAVE_MODULE = readme_line("mfaenv init nu | save")
REFRESH_MODULE = readme_line("let mfaenv_init = (^mfaenv init nu")
USE_MODULE = readme_line("use mfaenv.nu")
RIGHT_PROMPT = readme_line("$env.PROMPT_COMMAND_RIGHT")


@pytest.fixture
def config_dir(tmp_path: Path, shell_env: Dict[str, str]) -> Path:
    """Nushell's config folder after the README's set-up step: mfaenv.nu saved into it."""
    folder = tmp_path / "xdg" / "nushell"
    folder.mkdir(parents=True)
    saved = run_shell("nu", SAVE_MODULE, {**shell_env, "XDG_CONFIG_HOME": str(folder.parent)})
    assert saved.returncode == 0 and saved.stderr == "", saved.stderr
    assert (folder / "mfaenv.nu").read_text(encoding="utf-8") == (SHELL_DIR / "mfaenv.nu").read_text(encoding="utf-8")
    return folder


def run_nu(config_dir: Path, script: str, env: Dict[str, str], cwd=None) -> subprocess.CompletedProcess:
    """Run a script in nu (no config file, no terminal) after `use mfaenv.nu *`."""
    path = require_shell("nu")
    return subprocess.run(
        [path, "--no-config-file", "-c", f"use '{config_dir / 'mfaenv.nu'}' *\n{script}"], env=env, cwd=cwd,
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, start_new_session=True,
    )


# --- set-up as the README says -------------------------------------------------------------------


def test_the_env_nu_refresh_leaves_the_module_as_it_was_when_mfaenv_fails(config_dir, shell_env, tmp_path):
    """A failing `mfaenv init nu` (here: a mfaenv that prints half and exits 3) must not truncate the module."""
    fake = tmp_path / "bin" / "mfaenv"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\nprintf 'export def main [] {'\nexit 3\n")
    fake.chmod(0o755)
    before = (config_dir / "mfaenv.nu").read_bytes()
    environ = {**shell_env, "XDG_CONFIG_HOME": str(config_dir.parent), "PATH": f"{fake.parent}{os.pathsep}{shell_env['PATH']}"}
    run_shell("nu", REFRESH_MODULE, environ)
    assert (config_dir / "mfaenv.nu").read_bytes() == before


@pytest.mark.parametrize("saved_by", ["once", "env.nu"])
def test_the_readmes_setup_gives_config_nu_the_wrapper_and_the_prompt(saved_by, shell_env, tmp_path):
    """`use mfaenv.nu *` in config.nu finds the module saved beside it: once by hand, or by
    env.nu at every start (which Nushell runs before it parses config.nu, even the first time)."""
    folder = tmp_path / "xdg" / "nushell"
    folder.mkdir(parents=True)
    environ = {**shell_env, "XDG_CONFIG_HOME": str(folder.parent)}
    if saved_by == "once":
        assert run_shell("nu", SAVE_MODULE, environ).returncode == 0
    (folder / "env.nu").write_text(REFRESH_MODULE + "\n" if saved_by == "env.nu" else "", encoding="utf-8")
    (folder / "config.nu").write_text(f"{USE_MODULE}\n{RIGHT_PROMPT}\n", encoding="utf-8")
    script = f"mfaenv stage 123456; {RC}; print $'right=(do $env.PROMPT_COMMAND_RIGHT)'"
    result = subprocess.run(
        [require_shell("nu"), "--env-config", str(folder / "env.nu"), "--config", str(folder / "config.nu"), "-c", script],
        env=environ, cwd=tmp_path, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    assert values(result.stdout, "rc") == ["0"], result.stderr
    [right] = values(result.stdout, "right")
    assert re.fullmatch(FRESH, right)


def test_the_module_passes_nushells_own_check(tmp_path):
    """nu-check parses it as a module; the same check rejects it with its last closing brace cut."""
    module = SHELL_DIR / "mfaenv.nu"
    lines = module.read_text(encoding="utf-8").splitlines()
    cut = max(i for i, line in enumerate(lines) if line == "}")
    broken = tmp_path / "broken.nu"
    broken.write_text("\n".join(lines[:cut] + lines[cut + 1:]) + "\n", encoding="utf-8")
    checks = [
        subprocess.run([require_shell("nu"), "--no-config-file", "-c", f"nu-check --as-module '{path}'"],
                       capture_output=True, text=True, timeout=60)
        for path in (module, broken)
    ]
    assert [check.stdout.strip() for check in checks] == ["true", "false"], checks[0].stderr


def test_the_module_adds_only_mfaenv_and_mfaenv_prompt(config_dir, shell_env):
    listing = "scope commands | get name | to json"
    before = run_shell("nu", listing, shell_env)
    after = run_nu(config_dir, listing, shell_env)
    assert sorted(set(json.loads(after.stdout)) - set(json.loads(before.stdout))) == ["mfaenv", "mfaenv_prompt"], after.stderr


# --- the wrapper changes this Nushell ------------------------------------------------------------


def test_stage_with_a_code_lands_in_this_nushell_and_its_commands(config_dir, shell_env):
    script = "\n".join(["mfaenv stage 123456", RC, SHOW, 'print $"external=(^printenv MFAENV_PROFILE | str trim)"'])
    result = run_nu(config_dir, script, shell_env)
    assert values(result.stdout, "rc") == ["0"], result.stderr
    [(profile, account, token, mfaenv_shell)] = session_vars(result.stdout)
    assert (profile, account) == ("stage", "111111111111") and token
    assert mfaenv_shell == "powershell"  # the user's MFAENV_SHELL is left as it was
    assert values(result.stdout, "external") == ["stage"]


def test_a_code_with_a_leading_zero_stays_a_string(config_dir, shell_env):
    """Typed bare, 012345 would be the number 12345 to Nushell, which mfaenv refuses as five digits."""
    result = run_nu(config_dir, f"mfaenv stage 012345; {RC}", shell_env)
    assert values(result.stdout, "rc") == ["0"], result.stderr


def test_failed_fetch_keeps_its_exit_status_and_changes_nothing(config_dir, shell_env):
    before = {**shell_env, "MFAENV_PROFILE": "old", "MFAENV_ACCOUNT": "999999999999", "AWS_SESSION_TOKEN": "old-token"}
    script = "\n".join([
        caught("mfaenv nosuch 123456"),  # unknown profile
        caught("mfaenv stage 12345"),  # malformed code
        caught("mfaenv stage"),  # no code and no terminal to ask on
        SHOW,
    ])
    result = run_nu(config_dir, script, before)
    assert values(result.stdout, "rc") == ["3", "2", "6"], result.stderr
    assert session_vars(result.stdout) == [["old", "999999999999", "old-token", "powershell"]]
    assert "profile 'nosuch'" in result.stderr and "six digits" in result.stderr and "no terminal" in result.stderr


def test_an_uncaught_failure_ends_the_script_with_mfaenvs_exit_status(config_dir, shell_env):
    """As a failing external command does in Nushell: nothing after it runs."""
    result = run_nu(config_dir, "mfaenv nosuch 123456\nprint after", shell_env)
    assert result.returncode == 3
    assert "after" not in result.stdout


def test_unreachable_sts_changes_nothing(config_dir, shell_env):
    unreachable = closed_sts({**shell_env, "MFAENV_PROFILE": "old"})
    result = run_nu(config_dir, "\n".join([caught("mfaenv stage 123456"), SHOW]), unreachable)
    assert values(result.stdout, "rc") == ["5"], result.stderr  # STS unavailable
    assert session_vars(result.stdout) == [["old", "", "", "powershell"]]


def test_stage_without_a_code_reuses_the_valid_session(config_dir, shell_env):
    """No terminal here: a wrapper that asked for a code would fail instead."""
    result = run_nu(config_dir, "\n".join(["mfaenv stage 123456", SHOW, "mfaenv stage", RC, SHOW]), shell_env)
    assert values(result.stdout, "rc") == ["0"], result.stderr
    first, second = session_vars(result.stdout)
    assert first == second and first[2]


def test_unset_hides_every_variable_and_a_fetch_hides_a_stale_security_token(config_dir, shell_env):
    """Removed means gone from $env (hide-env), not a null left behind."""
    names = "[MFAENV_PROFILE MFAENV_ACCOUNT MFAENV_EXPIRES MFAENV_SESSION_DIGEST AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_SECURITY_TOKEN AWS_ACCOUNT_ID AWS_CREDENTIAL_EXPIRATION]"
    present = f'print $"present=({names} | where {{|name| $name in ($env | columns) }} | str join ,)"'
    stale = {**shell_env, "AWS_SECURITY_TOKEN": "stale-legacy-token", "AWS_PROFILE": "mine"}
    result = run_nu(config_dir, "\n".join(["mfaenv stage 123456", present, "mfaenv unset", RC, present,
                                           'print $"profile=($env.AWS_PROFILE)"']), stale)
    assert values(result.stdout, "rc") == ["0"], result.stderr
    fetched, cleared = values(result.stdout, "present")
    assert fetched.split(",") == ["MFAENV_PROFILE", "MFAENV_ACCOUNT", "MFAENV_EXPIRES", "MFAENV_SESSION_DIGEST", "AWS_ACCESS_KEY_ID",
                                  "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCOUNT_ID", "AWS_CREDENTIAL_EXPIRATION"]
    assert cleared == ""
    assert values(result.stdout, "profile") == ["mine"]  # AWS_PROFILE is the user's


def test_forget_without_this_shells_session_loads_nothing(config_dir, shell_env, tmp_path):
    """`forget` prints nothing when this shell held none of the sessions it removed."""
    environ = {**shell_env, "MFAENV_CACHE_DIR": str(tmp_path / "cache")}
    result = run_nu(config_dir, "\n".join(["mfaenv forget", RC, SHOW]), {**environ, "MFAENV_PROFILE": "old"})
    assert values(result.stdout, "rc") == ["0"], result.stderr
    assert session_vars(result.stdout) == [["old", "", "", "powershell"]]


def test_other_commands_print_and_are_not_loaded(config_dir, shell_env):
    script = "\n".join([
        caught("mfaenv status"),  # no session yet
        "mfaenv stage 123456",
        "mfaenv status", RC,
        "mfaenv prompt",
        "mfaenv list",
        "mfaenv --version",
        "mfaenv stage --help", RC,
        "mfaenv help", RC,
        "mfaenv init bash | lines | first | print $in",
        'mfaenv exec stage -- sh -c "echo exec=$MFAENV_PROFILE"',
    ])
    result = run_nu(config_dir, script, shell_env)
    assert values(result.stdout, "rc") == ["1", "0", "0", "0"], result.stderr
    assert_printed_by_the_other_commands(result.stdout)
    assert values(result.stdout, "exec") == ["stage"]


def test_another_shells_syntax_is_refused_and_the_session_kept(config_dir, shell_env):
    script = "\n".join([
        "mfaenv stage 123456",
        caught("mfaenv unset --shell bash"), caught("mfaenv stage --shell fish"), SHOW,
        "mfaenv unset --shell nushell", RC, SHOW,
    ])
    result = run_nu(config_dir, script, shell_env)
    assert values(result.stdout, "rc") == ["2", "2", "0"], result.stderr
    kept, cleared = session_vars(result.stdout)
    assert kept[:2] == ["stage", "111111111111"] and cleared[:3] == ["", "", ""]
    assert "--shell bash: the nu integration evaluates nu code only" in result.stderr
    assert "'^mfaenv ... --shell bash'" in result.stderr


# --- any profile name and any STS answer arrive byte for byte ------------------------------------

#: What XML (STS's answer) can carry, and what a profile name on a command line can: no NUL,
#: no surrogates; for XML also no other C0 control but tab and newline, and no CR (normalised).
xml_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"], exclude_characters="\r\x00\ufffe\uffff"
                           ).filter(lambda char: char in "\t\n" or ord(char) >= 0x20),
    min_size=1, max_size=16,
)
nu_fragments = st.sampled_from([
    f"$(touch {CANARY})", f'$"(touch {CANARY})"', f"(touch {CANARY})", f"^touch {CANARY}", f"; touch {CANARY}",
    '"', "'", "`", "\\", "{", "}", "null", '", "X": "', "\n", "\u2019", "\U0001f600", "#",
])
hostile = st.lists(st.one_of(xml_text, nu_fragments), min_size=1, max_size=5).map("".join)
profile_names = hostile.filter(lambda name: not name.startswith("-") and name.strip() and "\r" not in name)


def xml_escaped(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(name=profile_names, key=hostile, secret=hostile, token=hostile)
@example(name=HOSTILE_PROFILE_NAMES[0], key="AS'IA\"$(x)", secret="s\\e\ncret", token="tok`en ^touch pwned")
@example(name=HOSTILE_PROFILE_NAMES[1], key=" padded ", secret="{a: 1}", token="null")
def test_any_profile_name_and_sts_answer_arrive_byte_exact_and_run_nothing(
    name, key, secret, token, config_dir, shell_env, sts_standin, tmp_path,
):
    sts_standin.answer(standin.Response(200, standin.credentials_body(
        xml_escaped(key), xml_escaped(secret), xml_escaped(token), "2099-01-01T00:00:00Z")))
    environ = {**shell_env, "AWS_ENDPOINT_URL_STS": sts_standin.url, "MFAENV_TEST_NAME": name}
    keys = "[MFAENV_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN]"
    script = "\n".join([
        f"mfaenv get $env.MFAENV_TEST_NAME 123456 --source stage-default --serial {SERIAL}",
        f"print --no-newline ({keys} | each {{|name| $env | get $name }} | to json)",
    ])
    result = run_nu(config_dir, script, environ, cwd=tmp_path)
    assert not (tmp_path / CANARY).exists()
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert json.loads(result.stdout) == [name, key, secret, token]
    # The same record where MFAENV_SHELL=nu was inherited by bash, which evaluates it: inert there.
    record = run_mfaenv(["get", name, "123456", "--source", "stage-default", "--serial", SERIAL],
                        {**environ, "MFAENV_SHELL": "nu"})
    assert record.returncode == 0, record.stderr
    assert_inert_record(record.stdout)
    assert json.loads(record.stdout)["AWS_SESSION_TOKEN"] == token
    evaluate_by_mistake("bash", record.stdout, tmp_path)


# --- mfaenv_prompt -------------------------------------------------------------------------------

#: Prints the module's text and the Python command's text, one line each.
BOTH_PROMPTS = 'print $"shell=(mfaenv_prompt)"; print $"python=(^mfaenv prompt | lines | get 0? | default "")"'


@pytest.mark.parametrize("case", PROMPT_CASES)
def test_prompt_function_agrees_with_mfaenv_prompt(case, config_dir, shell_env, tmp_path):
    overrides, expected = PROMPT_CASES[case]
    result = run_nu(config_dir, BOTH_PROMPTS, prompt_env(shell_env, overrides), cwd=tmp_path)
    assert result.stderr == ""
    assert values(result.stdout, "shell") == values(result.stdout, "python") == [expected]
    assert not (tmp_path / "pwned").exists()


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(name=names_with_controls)
def test_any_profile_name_shows_alike_in_the_prompt_function_and_mfaenv_prompt(name, config_dir, shell_env):
    environ = prompt_env(shell_env, {"MFAENV_EXPIRES": 43170, "MFAENV_PROFILE": name})
    result = run_nu(config_dir, BOTH_PROMPTS, environ)
    assert result.stderr == ""
    [text] = values(result.stdout, "python")
    assert values(result.stdout, "shell") == [text]
    assert not re.search("[\x00-\x1f\x7f-\x9f]", text) and text.endswith(" 111111111111 11h59m")


def test_prompt_function_runs_with_no_commands_on_path(config_dir, shell_env):
    """No PATH, no external command: the text still comes out, from Nushell's own clock."""
    environ = prompt_env(shell_env, {"MFAENV_EXPIRES": 43170})
    result = run_nu(config_dir, "$env.PATH = []\nprint (mfaenv_prompt)", environ)
    assert (result.stdout, result.stderr) == ("stage 111111111111 11h59m\n", "")


def test_prompt_render_starts_no_process(config_dir, shell_env, tmp_path):
    """Counted with strace against the same script without the renders (nu itself runs tput
    when it prints without a terminal). CI installs strace; locally it is skipped where missing
    or not permitted to trace."""
    strace = require_shell("strace")
    environ = prompt_env(shell_env, {"MFAENV_EXPIRES": 43170})
    counts = []
    for texts in ("['a' 'b']", "[(mfaenv_prompt) (mfaenv_prompt)]"):
        log = tmp_path / "strace.log"
        result = subprocess.run(
            [strace, "-f", "-qq", "-e", "trace=execve", "-o", str(log), require_shell("nu"), "--no-config-file", "-c",
             f"use '{config_dir / 'mfaenv.nu'}' *\nprint ({texts} | str join (char newline))"],
            env=environ, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
        )
        if result.returncode != 0 and "ptrace" in result.stderr and not IN_CI:
            pytest.skip(f"strace cannot trace here: {result.stderr.strip()}")
        assert result.returncode == 0, result.stderr
        counts.append(len([line for line in log.read_text().splitlines() if "execve" in line and line.endswith("= 0")]))
    assert result.stdout.splitlines() == ["stage 111111111111 11h59m"] * 2
    assert counts[1] == counts[0]


# --- completion ----------------------------------------------------------------------------------


def nu_completions(config_dir: Path, line: str, env: Dict[str, str], tmp_path: Path) -> List[str]:
    """What Nushell's own completion engine offers at the end of `line` (nu --ide-complete)."""
    source = tmp_path / "typed.nu"
    source.write_text(f"use '{config_dir / 'mfaenv.nu'}' *\n{line}", encoding="utf-8")
    result = subprocess.run(
        [require_shell("nu"), "--no-config-file", "--ide-complete", str(len(source.read_bytes())), str(source)],
        env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, start_new_session=True,
    )
    assert result.returncode == 0, result.stderr
    # {"completions": ["a", "b"]}, but with quotes inside an item left as they are (not JSON).
    listing = result.stdout.strip()
    assert listing.startswith('{"completions": [') and listing.endswith("]}"), listing
    items = listing[len('{"completions": ['):-2]
    return sorted(items[1:-1].split('", "')) if items else []


@pytest.mark.parametrize("line, expected", [
    ("mfaenv st", ["stage", "stage-default", "status"]),
    ("mfaenv pro", ["prod", "prod-default", "prompt"]),
    ("mfaenv init ", ["bash", "fish", "nu", "powershell", "zsh"]),
    ("mfaenv get d", ["default", "dev"]),
    ("mfaenv stage --s", ["--serial", "--shell", "--source"]),
    ("mfaenv stage --source prod", ["prod", "prod-default"]),
    ("mfaenv unset --", ["--shell"]),
    ("mfaenv status ", []),
    ("mfaenv e", ["exec"]),
    ("mfaenv credential-process prod-", ["prod-default"]),
    ("mfaenv console prod-", ["prod-default"]),
    ("mfaenv console prod --", ["--destination", "--stdout"]),
    ("mfaenv forget stage --p", ["--persisted"]),
    ("mfaenv exec stage --f", ["--force"]),
    ("mfaenv stage --shell ", ["nu"]),  # the wrapper refuses any other syntax
    ("mfaenv --profile prod", ["prod", "prod-default"]),
])
def test_nu_completes_commands_profiles_and_options(line, expected, config_dir, shell_env, tmp_path):
    assert nu_completions(config_dir, line, shell_env, tmp_path) == expected


def test_nu_completes_a_profile_name_nushell_would_read_as_a_value_quoted(config_dir, shell_env, aws_home, tmp_path):
    """true, false and null are values to Nushell even where a string is expected (0.108 also
    refuses inf and NaN, and reads -inf as null): completed, each still arrives as its name."""
    names = ["true", "Null", "-inf", "NaN", "inform"]
    with open(aws_home / ".aws" / "config", "a", encoding="utf-8") as config:
        config.writelines(f"\n[profile {name}]\nsource_profile = stage-default\n" for name in names)
    completed = [word for word in nu_completions(config_dir, "mfaenv get ", shell_env, tmp_path)
                 if word.strip('"') in names]
    assert sorted(completed) == sorted(['"true"', '"Null"', '"-inf"', '"NaN"', "inform"])
    arrived = run_shell("nu", "def --wrapped f [...names: string] { print ($names | to json --raw) }\n"
                        f"f {' '.join(completed)}", shell_env)
    assert json.loads(arrived.stdout) == [word.strip('"') for word in completed], arrived.stderr


def test_nu_completes_a_profile_name_with_a_space_as_one_quoted_word(config_dir, shell_env, aws_home, tmp_path):
    """Typed after a quote the user opened, see tests/test_tmux.py (--ide-complete parses the
    whole file, and an open quote there swallows the `use` line)."""
    with open(aws_home / ".aws" / "config", "a", encoding="utf-8") as config:
        config.write("\n[profile my profile]\nsource_profile = stage-default\n")
    assert nu_completions(config_dir, "mfaenv get my", shell_env, tmp_path) == ['"my profile"']


def test_doctor_sees_the_module_loaded(config_dir, shell_env):
    """The wrapper tells the commands it runs untouched (doctor) that the integration is there, for that call."""
    result = run_nu(config_dir, "mfaenv doctor | lines | where {|line| $line =~ 'shell integration' } | first | print\n"
                    "print ($env.MFAENV_INTEGRATION? | default 'gone')", shell_env)
    assert result.stdout.splitlines() == ["ok       shell integration: loaded in this shell (nu)", "gone"], result.stderr
