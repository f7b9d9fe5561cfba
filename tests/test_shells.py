"""Hostile values in every shell: what the shell ends up holding is exactly the value, and nothing runs.

bash, zsh, fish and Nushell are run for real, the way users run mfaenv
(``eval "$(...)"``, ``... | source``, ``... | from json | load-env``); each check
reads the values back twice, through the shell's own ``printf`` (Nushell's
``print``) and through ``env -0`` (what the AWS CLI will see), and looks for a
canary file that any executed fragment would create. PowerShell, which
cannot be installed here, goes through the tree-sitter checker of
``tests/powershell.py``, which demands a shape and decodes the strings with
PowerShell's own quoting rule.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import powershell
from conftest import REAL_SHELLS, clean_environ, require_shell, run_mfaenv, run_shell
from mfaenv.shells import dialects
from mfaenv.errors import UsageError

CANARY = "pwned"
#: Fragments that would create the canary file in the current directory if any shell ran them.
EXECUTING_FRAGMENTS = [
    f"$(touch {CANARY})", f"`touch {CANARY}`", f"; touch {CANARY}", f"' ; touch {CANARY}; '",
    f'" ; touch {CANARY}; "', f"\\'; touch {CANARY}; #", f"(touch {CANARY})", f"<(touch {CANARY})",
    f"=(touch {CANARY})", f"\n touch {CANARY}\n", f"'\ntouch {CANARY}\n'", f"&& touch {CANARY}",
    f"| touch {CANARY}", f"${{touch {CANARY}}}", f"$(touch {CANARY}; echo ')",
    f'$"(touch {CANARY})"', f"^touch {CANARY}", f'", "X": (touch {CANARY}), "',  # Nushell's forms
]
#: Characters and sequences that shells give meaning to, or that a quoter may forget.
SPECIAL_FRAGMENTS = [
    "'", '"', "\\", "\\\\", "\\'", "$", "$HOME", "${HOME}", "$'\\x41'", "`", "!", "!!", "%", "%s", "{a,b}",
    "{}", "*", "?", "[a]", "~", "#", "&", "|", ";", "\n", "\r", "\t", " ", "\x1b[31m", "\u00e9", "\u4e2d",
    "\U0001f600", "\u2018", "\u2019", "\u201a", "\u201b", "\u201c", "\u201d", "\u2028", "\ufeff", "\uf600",
    "\ufdd0", "$Env:HOME", "@()",
]
no_nul_text = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\0"), max_size=12)
hostile_values = st.lists(
    st.one_of(no_nul_text, st.sampled_from(EXECUTING_FRAGMENTS), st.sampled_from(SPECIAL_FRAGMENTS)),
    max_size=8,
).map("".join)
hostile_batches = st.lists(hostile_values, min_size=1, max_size=20)

#: A few values a reviewer would try first; they are also run as plain examples.
KNOWN_HOSTILE = [
    "",
    "it's",
    "trailing backslash\\",
    "\\",
    "'",
    "''",
    "a'\\''b",
    "\u2019; Remove-Item ~; \u2019",
    "'; Remove-Item ~; '",
    "line one\nline two\n",
    "\n",
    f"$(touch {CANARY})`touch {CANARY}`; touch {CANARY}",
    "%s %d %% !! !$ {a,b} * ~",
    "\u2018\u2019\u201a\u201b \u201c\u201d caf\u00e9 \U0001f600",
    "\\'\\\\'",
]

SHELL_ENV_EXTRA = {"LC_ALL": "C.UTF-8"}
MFAENV = f"{shlex.quote(sys.executable)} -m mfaenv"


#: How each shell is started: no rc files; "zsh-rc-quotes" is zsh with an option users set
#: in .zshrc that gives '' a meaning inside single quotes.
SHELL_COMMANDS = {
    "bash": ["bash", "--norc", "--noprofile"],
    "zsh": ["zsh", "-f"],
    "zsh-rc-quotes": ["zsh", "-f", "-o", "RC_QUOTES"],
    "fish": ["fish", "--no-config"],
    "dash": ["dash"],
    "nu": ["nu", "--no-config-file"],
}
#: The shells that run what mfaenv prints for real: Nushell loads it as data.
LOADING_SHELLS = (*REAL_SHELLS, "nu")


def load_and_print(shell: str, script_file: Path, names: Sequence[str], env_file: Path) -> str:
    """A script that loads the emitted text as a user would, prints the values NUL-terminated
    with the shell's own printing, then writes what an external command sees (env -0)."""
    if shell == "nu":
        values = " ".join(f"$env.{name}" for name in names)
        return (f"open --raw '{script_file}' | from json | load-env\n"
                f"print --no-newline ([{values}] | each {{|value| $'($value)(char nul)' }} | str join)\n"
                f"^env -0 out> '{env_file}'\n")
    load = f"cat '{script_file}' | source" if shell == "fish" else f"eval \"$(cat '{script_file}')\""
    args = " ".join(f'"${name}"' for name in names)
    return f"{load}\nprintf '%s\\0' {args}\ncommand env -0 > '{env_file}'\n"


def read_back(shell: str, emitted: str, names: Sequence[str], environ: Dict[str, str], directory: Path):
    """Run emitted text as a user would in a real shell; return (printf view, env -0 view, process)."""
    command = SHELL_COMMANDS[shell]
    path = require_shell(command[0])
    script_file = directory / "emitted.txt"
    env_file = directory / "env.out"
    script_file.write_text(emitted, encoding="utf-8")
    script = load_and_print(shell, script_file, names, env_file)
    process = subprocess.run(
        [path, *command[1:], "-c", script], env=environ, cwd=directory, capture_output=True, timeout=60,
        stdin=subprocess.DEVNULL,
    )
    printed = process.stdout.split(b"\0")[: len(names)] if names else []
    exported = {}
    if env_file.exists():
        for item in env_file.read_bytes().split(b"\0"):
            key, _, value = item.partition(b"=")
            exported[key.decode("utf-8", "replace")] = value
    return printed, exported, process


def names_for(values: List[str]) -> List[str]:
    return [f"MFAENV_TEST_V{index}" for index in range(len(values))]


def assert_round_trip(shell: str, values: List[str]) -> None:
    emitted = dialects.dialect_for(SHELL_COMMANDS[shell][0]).render(dict(zip(names_for(values), values)))
    assert_shell_holds(shell, emitted, values)


def assert_shell_holds(shell: str, emitted: str, values: List[str]) -> None:
    """The emitted text leaves MFAENV_TEST_V0.. holding exactly `values` in the shell, and runs nothing."""
    names = names_for(values)
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        environ = {**clean_environ(directory), **SHELL_ENV_EXTRA}
        printed, exported, process = read_back(shell, emitted, names, environ, directory)
        assert not (directory / CANARY).exists(), f"{shell} ran a fragment of {values!r}"
        assert process.returncode == 0 and process.stderr == b"", process.stderr.decode(errors="replace")
        expected = [value.encode("utf-8") for value in values]
        assert printed == expected, f"{shell} holds different values; emitted:\n{emitted}"
        assert [exported.get(name) for name in names] == expected, f"{shell} exported different values"


# -- bash, zsh, fish: property and examples -------------------------------------------------------


@pytest.mark.shell
@pytest.mark.parametrize("shell", [*LOADING_SHELLS, "zsh-rc-quotes", "dash"])
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=hostile_batches)
@example(values=KNOWN_HOSTILE)
def test_any_value_arrives_byte_exact_and_runs_nothing(shell, values):
    assert_round_trip(shell, values)


@pytest.mark.shell
@pytest.mark.parametrize("shell", LOADING_SHELLS)
@pytest.mark.parametrize("value", KNOWN_HOSTILE, ids=range(len(KNOWN_HOSTILE)))
def test_known_hostile_value_alone(shell, value):
    assert_round_trip(shell, [value])


@pytest.mark.shell
def test_the_round_trip_catches_posix_quoting_in_fish():
    """virtualenv's old bug, which the checks above must be able to see: POSIX
    quoting in fish breaks on a trailing backslash."""
    value = "trailing\\"
    emitted = f"set -gx MFAENV_TEST_V0 {dialects.POSIX.quote(value)}\n"
    with pytest.raises(AssertionError):
        assert_shell_holds("fish", emitted, [value])


@pytest.mark.shell
def test_the_round_trip_catches_unescaped_json_in_nu():
    """A JSON writer that forgot escaping, which the checks above must be able to see:
    a quote or a backslash in a value ends the string early or breaks the record."""
    for value in ['say "hi"', "trailing\\"]:
        emitted = '{"MFAENV_TEST_V0": "' + value + '"}\n'
        with pytest.raises(AssertionError):
            assert_shell_holds("nu", emitted, [value])


def test_nu_output_is_one_json_record_of_strings_and_nulls():
    """The shape the README documents: name -> value, null for a variable to remove; pure ASCII."""
    import json

    emitted = dialects.dialect_for("nushell").render({"MFAENV_PROFILE": "caf\u00e9 \U0001f600", "AWS_SECURITY_TOKEN": None})
    assert emitted.isascii()
    assert json.loads(emitted) == {"MFAENV_PROFILE": "caf\u00e9 \U0001f600", "AWS_SECURITY_TOKEN": None}


def test_a_value_that_is_not_unicode_is_refused_for_nu():
    """A lone surrogate (an undecodable byte of an inherited variable) has no UTF-8 form:
    Nushell's parser would reject the whole record, so mfaenv refuses it with one clear line."""
    with pytest.raises(UsageError, match="not valid Unicode"):
        dialects.NUSHELL.render({"MFAENV_SAVED_AWS_REGION": "eu-\udcff"})


# -- the whole CLI: a hostile profile name --------------------------------------------------------

HOSTILE_PROFILE_NAMES = [
    f"it's $(touch {CANARY}) `touch {CANARY}`; touch {CANARY} \"x\" \\",
    f"line\n touch {CANARY}\n\u2019; Remove-Item ~; \u2019 caf\u00e9 \U0001f600 %s !! {{a,b}}\\",
]
SERIAL = "arn:aws:iam::111111111111:mfa/jane"


def fetch_for_hostile_name(name: str, shell: str, env: Dict[str, str]) -> str:
    result = run_mfaenv(["get", name, "123456", "--source", "stage-default", "--serial", SERIAL, "--shell", shell], env)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result.stdout


@pytest.mark.shell
@pytest.mark.parametrize("shell", LOADING_SHELLS)
@pytest.mark.parametrize("name", HOSTILE_PROFILE_NAMES, ids=["quotes-and-substitutions", "newlines-and-unicode"])
def test_hostile_profile_name_runs_nothing(shell, name, env, tmp_path):
    emitted = fetch_for_hostile_name(name, shell, env)
    names = ["MFAENV_PROFILE", "MFAENV_ACCOUNT", "AWS_SESSION_TOKEN"]
    printed, exported, process = read_back(shell, emitted, names, {**env, **SHELL_ENV_EXTRA}, tmp_path)
    assert not (tmp_path / CANARY).exists()
    assert process.returncode == 0 and process.stderr == b"", process.stderr
    assert printed[:2] == [name.encode(), b"111111111111"]
    assert exported["MFAENV_PROFILE"] == name.encode()
    assert exported["AWS_SESSION_TOKEN"] == printed[2] != b""


@pytest.mark.shell
def test_under_nu_the_output_is_json_unasked(env):
    """No --shell, no MFAENV_SHELL: shellingham finds `nu` above mfaenv, and Nushell loads the record."""
    environ = {key: value for key, value in env.items() if key != "MFAENV_SHELL"}
    script = f"^'{sys.executable}' -m mfaenv stage 123456 | from json | load-env; print $env.MFAENV_PROFILE $env.MFAENV_ACCOUNT"
    result = run_shell("nu", script, environ)
    assert (result.stdout, result.stderr) == ("stage\n111111111111\n", "")


@pytest.mark.parametrize("name", HOSTILE_PROFILE_NAMES, ids=["quotes-and-substitutions", "newlines-and-unicode"])
def test_hostile_profile_name_is_one_string_in_powershell(name, env):
    emitted = fetch_for_hostile_name(name, "powershell", env)
    decoded = dict(powershell.check_script(emitted))
    assert decoded["MFAENV_PROFILE"] == name
    assert decoded["AWS_SECURITY_TOKEN"] is None


# -- aliases --------------------------------------------------------------------------------------

#: How each shell is told to expand aliases in a script (bash does not by default).
ALIAS_SETUP = {"bash": "shopt -s expand_aliases\n", "zsh": "", "dash": ""}


@pytest.mark.shell
@pytest.mark.parametrize("shell", ALIAS_SETUP)
def test_aliases_named_export_or_unset_change_nothing(shell, env, tmp_path):
    """`alias export=echo` would print the keys and export nothing; the statements are not alias words."""
    require_shell(shell)
    result = run_mfaenv(["stage", "123456", "--shell", "sh"], env)
    assert result.returncode == 0, result.stderr
    (tmp_path / "emitted.txt").write_text(result.stdout, encoding="utf-8")
    script = (
        ALIAS_SETUP[shell] + "alias export='echo SABOTAGE' unset='echo SABOTAGE'\n"
        "eval \"$(cat emitted.txt)\"\n"
        'printf "legacy=%s\\n" "${AWS_SECURITY_TOKEN-removed}"\n'
        "command env | grep '^MFAENV_PROFILE='\n"
    )
    environ = {**env, "AWS_SECURITY_TOKEN": "stale"}
    ran = subprocess.run([shell, "-c", script], env=environ, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert ran.stdout == "legacy=removed\nMFAENV_PROFILE=stage\n", ran.stdout + ran.stderr


# -- unset, and the stale AWS_SECURITY_TOKEN ------------------------------------------------------

STALE_SESSION = {
    "AWS_ACCESS_KEY_ID": "ASIAOLDSESSION000001",
    "AWS_SECRET_ACCESS_KEY": "old/secret",
    "AWS_SESSION_TOKEN": "old-token",
    "AWS_SECURITY_TOKEN": "stale-legacy-token",
    "AWS_CREDENTIAL_EXPIRATION": "2020-01-01T00:00:00Z",
    "AWS_SESSION_EXPIRATION": "2020-01-01T00:00:00Z",
    "MFAENV_PROFILE": "prod",
    "MFAENV_ACCOUNT": "222222222222",
    "AWS_ACCOUNT_ID": "222222222222",
    "MFAENV_EXPIRES": "1577836800",
    "MFAENV_SESSION_DIGEST": "0" * 64,
    "AWS_REGION": "eu-west-1",
    "AWS_DEFAULT_REGION": "eu-west-1",
    "MFAENV_REGION": "eu-west-1",
}


# That unset removes everything and keeps AWS_PROFILE is checked after a real fetch, in each
# shell, by test_variables.py::test_unset_clears_everything_mfaenv_set_but_not_aws_profile.


@pytest.mark.shell
@pytest.mark.parametrize("shell", LOADING_SHELLS)
def test_unset_keeps_a_region_the_user_set_after_mfaenv(shell, env, tmp_path):
    environ = {**env, **STALE_SESSION, **SHELL_ENV_EXTRA, "AWS_REGION": "us-west-2"}
    result = run_mfaenv(["unset", "--shell", shell], environ)
    assert result.returncode == 0, result.stderr
    _, exported, process = read_back(shell, result.stdout, [], environ, tmp_path)
    assert process.returncode == 0 and process.stderr == b"", process.stderr
    assert "MFAENV_PROFILE" not in exported, "the unset did not run"
    assert exported.get("AWS_REGION") == b"us-west-2"
    assert "AWS_DEFAULT_REGION" not in exported and "MFAENV_REGION" not in exported


@pytest.mark.shell
@pytest.mark.parametrize("shell", LOADING_SHELLS)
def test_new_session_removes_a_stale_security_token(shell, env, tmp_path):
    environ = {**env, **STALE_SESSION, **SHELL_ENV_EXTRA}
    result = run_mfaenv(["stage", "123456", "--shell", shell], environ)
    assert result.returncode == 0, result.stderr
    _, exported, process = read_back(shell, result.stdout, [], environ, tmp_path)
    assert process.returncode == 0 and process.stderr == b"", process.stderr
    assert "AWS_SECURITY_TOKEN" not in exported
    assert exported["AWS_SESSION_TOKEN"] not in (b"", b"old-token")
    assert exported["MFAENV_PROFILE"] == b"stage"
    # stage names no region: the region the prod session exported goes with it
    assert "AWS_REGION" not in exported and "MFAENV_REGION" not in exported


def test_unset_in_powershell_is_only_removals(env):
    result = run_mfaenv(["unset", "--shell", "powershell"], {**env, **STALE_SESSION})
    removed = powershell.check_script(result.stdout)
    assert all(value is None for _, value in removed)
    assert {name for name, _ in removed} == set(STALE_SESSION)


# -- a Nushell record evaluated by another shell by mistake ---------------------------------------

#: Shells that might evaluate a Nushell record by mistake (MFAENV_SHELL=nu inherited), and how.
MISTAKEN_EVALUATION = {
    "bash": ["bash", "--norc", "--noprofile", "-c", 'eval "$(cat record.txt)"'],
    "zsh": ["zsh", "-f", "-c", 'eval "$(cat record.txt)"'],
    "dash": ["dash", "-c", 'eval "$(cat record.txt)"'],
    "fish": ["fish", "--no-config", "-c", "cat record.txt | source"],
}


def assert_inert_record(emitted: str) -> None:
    """Outside the \\uXXXX escapes, the record holds nothing a POSIX shell, fish or PowerShell
    acts on inside double quotes; each line holds only the quotes around its name and value."""
    bare = re.sub(r"\\u[0-9a-f]{4}", "", emitted)
    assert bare.isascii()
    assert not set(bare) & set("$`\\!%'"), emitted
    assert all(line.count('"') in (0, 2, 4) for line in bare.splitlines()), emitted


def evaluate_by_mistake(shell: str, emitted: str, directory: Path) -> None:
    """Let a real shell evaluate a Nushell record in ``directory``; whatever it says, it must run nothing."""
    command = MISTAKEN_EVALUATION[shell]
    path = require_shell(command[0])
    (directory / "record.txt").write_text(emitted, encoding="utf-8")
    subprocess.run([path, *command[1:]], env={**clean_environ(directory), **SHELL_ENV_EXTRA}, cwd=directory,
                   capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    assert not (directory / CANARY).exists(), f"{shell} ran a fragment of the record:\n{emitted}"


@pytest.mark.shell
@pytest.mark.parametrize("shell", MISTAKEN_EVALUATION)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=hostile_batches)
@example(values=KNOWN_HOSTILE)
def test_a_nushell_record_evaluated_by_another_shell_runs_nothing(shell, values):
    emitted = dialects.NUSHELL.render({**dict(zip(names_for(values), values)), "AWS_SECURITY_TOKEN": None})
    assert_inert_record(emitted)
    with tempfile.TemporaryDirectory() as tmp:
        evaluate_by_mistake(shell, emitted, Path(tmp))


@pytest.mark.parametrize("value", ["$", "`", '"', "\\", "!", "%", "'", "\u2019", "\u201c"])
def test_the_nushell_record_spells_what_other_shells_act_on_as_an_escape(value):
    emitted = dialects.NUSHELL.render({"MFAENV_PROFILE": f"a{value}b"})
    assert f'"a\\u{ord(value):04x}b"' in emitted
    assert json.loads(emitted) == {"MFAENV_PROFILE": f"a{value}b"}


@pytest.mark.shell
@pytest.mark.parametrize("name", HOSTILE_PROFILE_NAMES, ids=["quotes-and-substitutions", "newlines-and-unicode"])
def test_mfaenv_shell_nu_inherited_into_bash_runs_nothing_there(name, env, tmp_path):
    """The issue's case: MFAENV_SHELL=nu inherited by bash, then `eval "$(mfaenv ...)"`: bash gets
    the JSON record, and neither a profile name nor a saved region (prod names eu-west-1, so the
    user's AWS_REGION is kept in MFAENV_SAVED_AWS_REGION) runs there."""
    environ = {**env, "MFAENV_SHELL": "nu", "MFAENV_TEST_NAME": name}
    hostile_region = f"$(touch {CANARY})`touch {CANARY}`"
    hostile = f'get "$MFAENV_TEST_NAME" 123456 --source stage-default --serial {SERIAL}'
    script = (f"cd '{tmp_path}'\n"
              f'eval "$({MFAENV} {hostile})"\n'
              f'eval "$(AWS_REGION=\'{hostile_region}\' {MFAENV} prod 123456)"\n'
              f"{MFAENV} {hostile} > named.txt\n"
              f"AWS_REGION='{hostile_region}' {MFAENV} prod 123456 > region.txt\n")
    result = run_shell("bash", script, environ)
    assert "command not found" in result.stderr, result.stderr  # bash did evaluate the records
    assert not (tmp_path / CANARY).exists()
    named, region = (json.loads((tmp_path / file).read_text()) for file in ("named.txt", "region.txt"))
    assert named["MFAENV_PROFILE"] == name
    assert region["MFAENV_SAVED_AWS_REGION"] == hostile_region
    for file in ("named.txt", "region.txt"):
        assert_inert_record((tmp_path / file).read_text())


# -- NUL ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish", "powershell", "nu"])
def test_a_nul_in_a_value_is_refused(shell):
    with pytest.raises(UsageError, match="NUL"):
        dialects.dialect_for(shell).render({"MFAENV_PROFILE": "sta\0ge"})


# -- PowerShell, through the tree-sitter checker --------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(values=hostile_batches)
@example(values=KNOWN_HOSTILE)
def test_any_value_is_one_string_in_powershell(values):
    mapping: Dict[str, Optional[str]] = {f"MFAENV_TEST_V{index}": value for index, value in enumerate(values)}
    mapping["AWS_SECURITY_TOKEN"] = None
    emitted = dialects.POWERSHELL.render(mapping)
    assert powershell.check_script(emitted) == list(mapping.items()), powershell.tree_dump(emitted)


@pytest.mark.parametrize("value, emitted", [
    ("\u0451", "'' + [char]0x0451"),  # UTF-8 D1 91: "Ñ‘" in Windows-1252, and ‘ is a quote to PowerShell
    ("caf\u00e9 it's", "'caf' + [char]0x00E9 + ' it''s'"),
    ("\U0001f600", "'' + [char]0xD83D + [char]0xDE00"),  # one code unit per [char]
    ("\u2019; Remove-Item ~; \u2019", "'' + [char]0x2019 + '; Remove-Item ~; ' + [char]0x2019"),
    ("line\nline", "'line' + [char]0x000A + 'line'"),
    ("", "''"),
])
def test_powershell_values_are_pure_ascii(value, emitted):
    assert dialects.POWERSHELL.quote(value) == emitted
    script = dialects.POWERSHELL.render({"MFAENV_PROFILE": value})
    # What a Windows console with code page 1252 hands PowerShell is the same text.
    assert script.encode("utf-8").decode("cp1252") == script
    assert powershell.check_script(script) == [("MFAENV_PROFILE", value)]


def test_powershell_decoder_follows_the_tokenizer():
    """A quote pair yields its second character; any quote alone ends the string."""
    assert powershell.decode_verbatim("'a''b'") == "a'b"
    assert powershell.decode_verbatim("'\u2018\u2019'") == "\u2019"
    assert powershell.decode_verbatim("\u201b\u201a'\u2019") == "'"
    with pytest.raises(powershell.UnsafeScript):
        powershell.decode_verbatim("'a\u2019b'")  # ends after a
    with pytest.raises(powershell.UnsafeScript):
        powershell.decode_verbatim("'a''")  # never ends


def _naive_quote(value: str) -> str:
    """The quoter a contributor might write: doubles ' but forgets U+2018-U+201B."""
    return "'" + value.replace("'", "''") + "'"


#: Scripts PowerShell would run something in (or choke on), by what is wrong with them.
UNSAFE_SCRIPTS = {
    "semicolon": "$Env:MFAENV_PROFILE = 'x'; Remove-Item ~; ''\n",
    "second-command": "$Env:MFAENV_PROFILE = 'x'\nRemove-Item ~\n",
    "concatenation": "$Env:MFAENV_PROFILE = 'a' + (Remove-Item ~)\n",
    "double-quotes": "$Env:MFAENV_PROFILE = \"$(Remove-Item ~)\"\n",
    "comment": "$Env:MFAENV_PROFILE = 'x' # comment\n",
    "extra-argument": f"{powershell.REMOVE_ITEM} Env:MFAENV_PROFILE -ErrorAction SilentlyContinue -Recurse\n",
    "unterminated": "$Env:MFAENV_PROFILE = 'unterminated\n",
    "naive-quoter-injection": f"$Env:MFAENV_PROFILE = {_naive_quote(chr(0x2019) + '; Remove-Item ~; ' + chr(0x2019))}\n",
    "naive-quoter-unterminated": f"$Env:MFAENV_PROFILE = {_naive_quote('a' + chr(0x2018))}\n",
    # A console's code page turns UTF-8 bytes into other characters, quotes among them.
    "not-ascii": "$Env:MFAENV_PROFILE = '\u0451'\n",
    # [char] + [char] adds two numbers: the value must start with a string.
    "starts-with-a-char": "$Env:MFAENV_PROFILE = [char]0x0451 + [char]0x0452\n",
    "subtraction": "$Env:MFAENV_PROFILE = '' - [char]0x0451\n",
    "another-cast": "$Env:MFAENV_PROFILE = '' + [int]0x0451\n",
    "a-variable": "$Env:MFAENV_PROFILE = '' + $HOME\n",
}


@pytest.mark.parametrize("kind", UNSAFE_SCRIPTS)
def test_powershell_checker_rejects_what_powershell_would_run(kind):
    script = UNSAFE_SCRIPTS[kind]
    # Parsing is not proof: the grammar sees no error in all but the plainly unterminated
    # string (the naive quoter's output included), so the shape check is what fails.
    assert powershell.parse(script).root_node.has_error == (kind == "unterminated")
    with pytest.raises(powershell.UnsafeScript):
        powershell.check_script(script)
