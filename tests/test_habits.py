"""Typos and AWS habits: did-you-mean, --profile/-p, --region, `mfaenv` alone, `exec` without a command, `list`.

Each runs the real CLI against the STS stand-in (which checks every signature),
and proves what it must not do: ask for a code or call STS on a mistake.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import exported, run_mfaenv, run_on_terminal

BIN = Path(sys.executable).parent
STAGE_KEY = "AKIAEXAMPLESTAGE0001"


def one_line(result, status: int) -> str:
    assert result.returncode == status, result.stderr
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1, result.stderr
    return result.stderr


# -- did you mean ----------------------------------------------------------------------------------


@pytest.mark.parametrize("typed, meant", [
    ("lsit", "'list'"), ("staus", "'status'"), ("forgt", "'forget'"), ("exce", "'exec'"),
    ("stagee", "'stage'"), ("prd", "'prod'"),
])
def test_a_typo_of_a_command_or_profile_names_the_closest_before_any_code(typed, meant, standin_env, sts_standin):
    result = run_mfaenv([typed], standin_env)
    stderr = one_line(result, 3)  # the exit status of an unknown profile
    assert stderr.startswith(f"mfaenv: no command or profile '{typed}'; did you mean {meant}")
    assert sts_standin.requests == []


@pytest.mark.parametrize("args, meant", [
    (["consle", "admin"], "console"), (["kyes", "list"], "keys"), (["rotat", "stage"], "rotate"),
])
def test_a_mistyped_command_with_its_argument_is_suggested_not_checked_as_a_code(args, meant, standin_env, sts_standin):
    """`mfaenv consle admin` said "the MFA code must be six digits": 'admin' was checked as a code first."""
    stderr = one_line(run_mfaenv(args, standin_env), 3)
    assert stderr == f"mfaenv: no command or profile '{args[0]}'; did you mean '{meant}'?\n"
    assert sts_standin.requests == []


def test_the_suggestion_comes_before_the_code_is_spent(standin_env, sts_standin):
    """With a code given, nothing is sent: the code stays good for the right name."""
    stderr = one_line(run_mfaenv(["stagee", "123456"], standin_env), 3)
    assert "did you mean 'stage'" in stderr
    assert sts_standin.requests == []


def test_a_typo_typed_at_the_terminal_gets_the_suggestion_not_the_eval_hint(standin_env, sts_standin):
    process, screen, _stdout, stderr = run_on_terminal([str(BIN / "mfaenv"), "lsit"], standin_env,
                                                       stdout_on_terminal=True)
    assert process.returncode == 3
    assert stderr == "mfaenv: no command or profile 'lsit'; did you mean 'list'?\n"
    assert "MFA code" not in screen and sts_standin.requests == []


def test_a_word_close_to_nothing_keeps_the_plain_unknown_profile_line(standin_env, sts_standin):
    stderr = one_line(run_mfaenv(["zzzzqqq"], standin_env), 3)
    assert "profile 'zzzzqqq' not found in" in stderr and "run 'mfaenv list'" in stderr


def test_get_exec_and_credential_process_suggest_profiles(standin_env, sts_standin):
    for args in (["get", "stagee"], ["exec", "stagee", "--", "true"], ["credential-process", "stagee"]):
        stderr = one_line(run_mfaenv(args, standin_env), 3)
        assert "profile 'stagee' not found" in stderr and "did you mean 'stage'" in stderr, args
    assert sts_standin.requests == []


def test_a_typo_in_a_source_profile_is_suggested_too(standin_env, aws_home, sts_standin):
    with (aws_home / ".aws" / "config").open("a", encoding="utf-8") as config:
        config.write("\n[profile ops]\nsource_profile = stage-defualt\nmfa_serial = arn:aws:iam::111111111111:mfa/jane\n")
    stderr = one_line(run_mfaenv(["ops", "123456"], standin_env), 3)
    assert "source profile 'stage-defualt' not found" in stderr and "did you mean 'stage-default'" in stderr


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(word=st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1,
                    max_size=12).filter(lambda w: not w.startswith("-") and not "".join(w.split()).isdigit()))
def test_any_unknown_first_word_fails_in_one_line_without_a_call(word, standin_env, sts_standin):
    """Hostile words (controls, quotes, escapes) are shown escaped, on one line, and nothing is sent."""
    result = run_mfaenv(["get", word] if word in ("get", "exec", "list") else [word], standin_env)
    if result.returncode == 0:  # the word named a command that succeeds without a profile (status, prompt...)
        return
    assert result.stdout == "" and len(result.stderr.splitlines()) == 1, result.stderr
    assert "\x1b" not in result.stderr and "Traceback" not in result.stderr
    assert sts_standin.calls("GetSessionToken") == []


# -- --profile / -p ----------------------------------------------------------------------------------


@pytest.mark.parametrize("form", [["--profile", "stage"], ["-p", "stage"], ["--profile=stage"]])
def test_profile_option_as_the_aws_cli_takes_it(form, standin_env, sts_standin):
    result = run_mfaenv([*form, "123456"], standin_env)
    assert result.returncode == 0, result.stderr
    assert exported(result.stdout)["MFAENV_PROFILE"] == "stage"
    assert [call.signing_key_id for call in sts_standin.calls("GetSessionToken")] == [STAGE_KEY]


def test_profile_option_on_get_and_after_the_code(standin_env, sts_standin):
    result = run_mfaenv(["get", "123456", "--profile", "stage"], standin_env)
    assert result.returncode == 0, result.stderr
    assert exported(result.stdout)["MFAENV_PROFILE"] == "stage"


def test_profile_option_and_a_profile_argument_are_refused_before_any_call(standin_env, sts_standin):
    stderr = one_line(run_mfaenv(["--profile", "stage", "prod", "123456"], standin_env), 2)
    assert "--profile stage and the profile 'prod' both given" in stderr
    assert sts_standin.requests == []


def test_exec_takes_profile_option(standin_env, sts_standin):
    result = run_mfaenv(["exec", "--profile", "stage", "123456", "--", "sh", "-c", 'echo "$MFAENV_PROFILE"'],
                        standin_env)
    assert (result.returncode, result.stdout) == (0, "stage\n"), result.stderr
    assert [call.signing_key_id for call in sts_standin.calls("GetSessionToken")] == [STAGE_KEY]


def test_credential_process_takes_profile_option(standin_env, sts_standin, tmp_path):
    cache = tmp_path / "cache"
    environ = {**standin_env, "MFAENV_CACHE_DIR": str(cache)}
    assert run_mfaenv(["stage", "123456"], environ).returncode == 0
    for form in (["--profile", "stage"], ["-p", "stage"], ["--profile=stage"]):
        result = run_mfaenv(["credential-process", *form], environ)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["AccessKeyId"].startswith("ASIA")
    assert len(sts_standin.calls("GetSessionToken")) == 1  # served from the cache
    stderr = one_line(run_mfaenv(["credential-process", "--profile", "stage", "prod"], environ), 2)
    assert "one profile" in stderr


# -- --region ----------------------------------------------------------------------------------------


def test_region_option_replaces_the_exported_region_and_the_calls(standin_env, sts_standin):
    result = run_mfaenv(["prod", "123456", "--region", "ap-northeast-1"], standin_env)  # prod says eu-west-1
    assert result.returncode == 0, result.stderr
    values = exported(result.stdout)
    assert values["AWS_REGION"] == values["AWS_DEFAULT_REGION"] == "ap-northeast-1"
    assert [call.signing_region for call in sts_standin.calls("GetSessionToken")] == ["ap-northeast-1"]


def test_region_option_on_exec(standin_env, sts_standin):
    result = run_mfaenv(["exec", "stage", "123456", "--region", "eu-central-1", "--", "sh", "-c", 'echo "$AWS_REGION"'],
                        standin_env)
    assert (result.returncode, result.stdout) == (0, "eu-central-1\n"), result.stderr
    assert [call.signing_region for call in sts_standin.calls("GetSessionToken")] == ["eu-central-1"]


@pytest.mark.parametrize("region", ["us-east-1 # prod", "eu-west-1;x", "evil.example.com/", ""])
def test_a_region_option_that_is_no_region_is_refused_before_any_call(region, standin_env, sts_standin):
    stderr = one_line(run_mfaenv(["stage", "123456", "--region", region], standin_env), 2)
    assert "is not a region name" in stderr
    assert sts_standin.requests == []


# -- mfaenv alone --------------------------------------------------------------------------------------


def test_mfaenv_alone_at_a_terminal_lists_the_usable_profiles(standin_env):
    process, screen, _stdout, stderr = run_on_terminal([str(BIN / "mfaenv")], standin_env, stdout_on_terminal=True)
    assert process.returncode == 0, stderr
    lines = screen.replace("\r\n", "\n").splitlines()
    assert lines[0].startswith("Usable profiles")
    names = [line.split()[0] for line in lines[1:] if line.startswith("  ")]
    assert names == ["stage", "prod"]  # the usable ones, not stage-default or dev


def test_mfaenv_alone_with_aws_profile_or_not_on_a_terminal_prints_the_help(standin_env):
    process, screen, _stdout, stderr = run_on_terminal([str(BIN / "mfaenv")], {**standin_env, "AWS_PROFILE": "stage"},
                                                       stdout_on_terminal=True)
    assert "Usable profiles" not in screen and "Usage: mfaenv" in stderr
    result = run_mfaenv([], standin_env)
    assert result.stdout == "" and "Usage: mfaenv" in result.stderr


# -- exec without a command ------------------------------------------------------------------------------


def test_exec_without_a_command_starts_the_shell_and_passes_its_status(standin_env, sts_standin):
    environ = {**standin_env, "SHELL": "/bin/sh", "MFAENV_QUIET": "0"}
    script = 'echo "inside=$MFAENV_PROFILE $AWS_ACCESS_KEY_ID"\nexit 7\n'
    result = run_mfaenv(["exec", "stage", "123456"], environ, input=script)
    assert result.returncode == 7, result.stderr
    key = sts_standin.issued[0].access_key_id
    assert result.stdout == f"inside=stage {key}\n"
    assert "; starting /bin/sh with it ('exit' leaves it)" in result.stderr


def test_exec_without_shell_variable_starts_bin_sh(standin_env, sts_standin):
    environ = {key: value for key, value in standin_env.items() if key != "SHELL"}
    result = run_mfaenv(["exec", "stage", "123456"], environ, input='echo "$0 $MFAENV_PROFILE"\n')
    assert (result.returncode, result.stdout) == (0, "/bin/sh stage\n"), result.stderr


def test_exec_inside_exec_replaces_the_session_and_says_so(standin_env, sts_standin):
    """bash reads a piped script a byte at a time, so the inner shell gets its lines, the outer the rest."""
    environ = {**standin_env, "SHELL": "/bin/bash", "MFAENV_QUIET": "0", "PATH": f"{BIN}:{standin_env['PATH']}"}
    script = ('echo "outer=$MFAENV_PROFILE"\n'
              "mfaenv exec prod 654321\n"
              'echo "inner=$MFAENV_PROFILE $AWS_REGION"\n'
              "exit 3\n"
              'echo "back=$MFAENV_PROFILE status=$?"\n'
              "exit 5\n")
    result = run_mfaenv(["exec", "stage", "123456"], environ, input=script)
    assert result.returncode == 5, result.stderr
    assert result.stdout == "outer=stage\ninner=prod eu-west-1\nback=stage status=3\n"
    lines = result.stderr.splitlines()
    assert len(lines) == 2 and lines[0].startswith("mfaenv: stage,") and lines[1].startswith("mfaenv: prod,")
    assert lines[1].endswith("starting /bin/bash with it, replacing the session of 'stage' until it exits ('exit' leaves it)")
    assert [call.signing_key_id for call in sts_standin.calls("GetSessionToken")] == [STAGE_KEY, "AKIAEXAMPLEPROD00001"]


def test_exec_with_a_missing_shell_fails_before_any_call(standin_env, sts_standin):
    stderr = one_line(run_mfaenv(["exec", "stage", "123456"], {**standin_env, "SHELL": "/nonexistent/zsh"}), 127)
    assert "exec: shell ($SHELL) not found: /nonexistent/zsh" in stderr
    assert sts_standin.requests == []


def test_exec_with_words_but_no_double_dash_still_says_where_the_command_goes(standin_env, sts_standin):
    stderr = one_line(run_mfaenv(["exec", "stage", "123456", "terraform", "plan"], standin_env), 2)
    assert "put the command after '--'" in stderr


# -- list -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [
    "mfaenv credential-process stage", "mfaenv credential-process --profile stage",
    "/usr/local/bin/mfaenv credential-process -p stage", "python3 -m mfaenv credential-process --profile=stage",
])
def test_list_shows_a_credential_process_profile_for_what_it_is(command, standin_env, aws_home):
    with (aws_home / ".aws" / "config").open("a", encoding="utf-8") as config:
        config.write(f"\n[profile stage-cp]\ncredential_process = {command}\n\n"
                     "[profile other-cp]\ncredential_process = aws-vault export --format=json stage\n")
    result = run_mfaenv(["list"], standin_env)
    assert result.returncode == 0, result.stderr
    assert "  stage-cp  credential_process -> stage\n" in result.stdout
    not_usable = result.stdout.split("Not usable:\n", 1)[1]
    assert "stage-cp" not in not_usable and "other-cp" in not_usable


@pytest.mark.parametrize("variable", ["AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE"])
def test_list_names_a_set_file_that_does_not_exist(variable, standin_env, tmp_path):
    missing = tmp_path / "nowhere" / "file"
    result = run_mfaenv(["list"], {**standin_env, variable: str(missing)})
    assert f"mfaenv: warning: {variable} names {missing}, which does not exist\n" in result.stderr


def test_list_without_profiles_names_both_files(standin_env, tmp_path):
    credentials, config = tmp_path / "c", tmp_path / "k"
    result = run_mfaenv(["list"], {**standin_env, "AWS_SHARED_CREDENTIALS_FILE": str(credentials),
                                   "AWS_CONFIG_FILE": str(config)})
    assert result.stdout == ""
    assert f"mfaenv: no profiles in {credentials} or {config}\n" in result.stderr


@pytest.mark.parametrize("command, words", [
    ("get", ["session cache", "credentials file"]), ("exec", ["-- COMMAND", "$SHELL"]),
    ("list", ["cached session", "credential_process"]), ("forget", ["cached session", "--persisted"]),
])
def test_help_says_what_the_commands_do_today(command, words, standin_env):
    result = run_mfaenv([command, "--help"], standin_env)
    flat = " ".join(result.stdout.split())
    for word in words:
        assert word in flat, (command, word)


# -- the success line and the prompt agree ------------------------------------------------------------------


@given(now=st.floats(min_value=1.7e9, max_value=1.9e9), left=st.integers(min_value=1, max_value=129600))
def test_the_success_line_and_the_prompt_round_time_left_the_same_way(now, left):
    """At the same moment both show the same time left (the shell/ prompts match the Python one: test_integration)."""
    from mfaenv.shells.prompt import prompt_segment
    from mfaenv.terminal.feedback import success_line

    expires = int(now) + left
    environ = {"MFAENV_PROFILE": "stage", "MFAENV_ACCOUNT": "111111111111", "MFAENV_EXPIRES": str(expires),
               "AWS_ACCESS_KEY_ID": "ASIA", "AWS_SECRET_ACCESS_KEY": "s", "AWS_SESSION_TOKEN": "t"}
    in_prompt = prompt_segment(environ, now=now).rsplit(" ", 1)[1]
    line = success_line("stage", None, "111111111111", expires, "sts", now=now)
    assert f"({in_prompt} left)" in line, (line, in_prompt)


def test_no_files_at_all_points_at_setup(standin_env, tmp_path):
    environ = {**standin_env, "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "c"), "AWS_CONFIG_FILE": str(tmp_path / "k")}
    result = run_mfaenv(["stage", "123456"], environ)
    assert result.returncode == 3
    assert "neither" in result.stderr and "'mfaenv setup stage' asks for the long-term keys" in result.stderr
