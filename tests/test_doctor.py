"""`mfaenv doctor`: one line per check, no code spent, no secret shown; exit 1 only on a problem.

Run as the user runs it: the real CLI against the STS stand-in, whose answers
carry a ``Date`` header that a test can set off by ``clock_skew`` seconds.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

from conftest import DATA, require_shell, run_mfaenv

BIN = Path(sys.executable).parent
#: Secrets of the example files: never on the report.
SECRETS = ("example/stage+SECRET0000000000000000000",)


def report_lines(result) -> "dict[str, str]":
    """subject -> 'level: text' of each line of the report."""
    lines = {}
    for line in result.stdout.splitlines():
        found = re.fullmatch(r"(ok|warning|problem) +([^:]+): (.*)", line)
        if found:
            lines[found.group(2)] = f"{found.group(1)}: {found.group(3)}"
    return lines


@pytest.fixture
def doctor_env(standin_env, tmp_path):
    cache = tmp_path / "ramcache"
    return {**standin_env, "MFAENV_CACHE_DIR": str(cache)}


def test_a_sound_set_up_is_all_ok_and_spends_no_code(doctor_env, sts_standin, aws_home):
    (aws_home / ".aws" / "credentials").chmod(0o600)
    result = run_mfaenv(["doctor"], doctor_env)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = report_lines(result)
    assert lines[f"credentials file {aws_home}/.aws/credentials"].startswith("ok: ")
    assert lines["profile stage"].startswith("ok: MFA session, keys of stage-default, MFA device arn:aws:iam::111111111111:mfa/jane")
    assert lines["profile default"] == "ok: settings only (no credentials)"
    assert lines["environment"].startswith("ok: ")
    assert lines["clock (via stage-default's keys)"].startswith("ok: within ")
    assert result.stdout.endswith("-- no problem found, 3 warnings\n") or "no problem found" in result.stdout.splitlines()[-1]
    assert sts_standin.actions() == ["GetCallerIdentity"]  # no GetSessionToken: no code
    for secret in SECRETS:
        assert secret not in result.stdout + result.stderr


@pytest.mark.parametrize("skew", [-95, 120])
def test_a_clock_off_by_more_than_30_seconds_is_a_warning_with_the_fix(skew, doctor_env, sts_standin):
    sts_standin.clock_skew = skew
    result = run_mfaenv(["doctor"], doctor_env)
    line = report_lines(result)["clock (via stage-default's keys)"]
    direction = "behind" if skew > 0 else "ahead of"
    found = re.fullmatch(rf"warning: this machine is (\d+) s {direction} STS: MFA codes are refused past ~30 s; "
                         rf"fix: turn on time sync \(NTP\).*", line)
    assert found and abs(int(found.group(1)) - abs(skew)) <= 1, line  # the Date header has whole seconds
    assert result.returncode == 0  # a warning, not a problem


def test_a_small_offset_is_fine(doctor_env, sts_standin):
    sts_standin.clock_skew = 10
    line = report_lines(run_mfaenv(["doctor"], doctor_env))["clock (via stage-default's keys)"]
    assert line.startswith("ok: within "), line


def test_keys_sts_refuses_are_a_problem(doctor_env, sts_standin, aws_home):
    credentials = aws_home / ".aws" / "credentials"
    credentials.write_text(credentials.read_text().replace("example/stage+SECRET", "example/wrong+SECRET"))
    sts_standin.key_files = []  # the stand-in knows the example's real secret only
    sts_standin.allow("AKIAEXAMPLESTAGE0001", "example/stage+SECRET0000000000000000000")
    result = run_mfaenv(["doctor", "--profile", "stage"], doctor_env)
    assert result.returncode == 1
    assert report_lines(result)["keys of stage-default"].startswith("problem: refused by STS")
    assert "example/wrong" not in result.stdout + result.stderr


def test_profile_option_checks_one_profile_and_suggests_a_typo(doctor_env, sts_standin):
    result = run_mfaenv(["doctor", "-p", "stage"], doctor_env)
    lines = report_lines(result)
    assert "profile stage" in lines and "profile prod" not in lines
    typo = run_mfaenv(["doctor", "--profile", "stagee"], doctor_env)
    assert typo.returncode == 1
    assert "did you mean 'stage'" in report_lines(typo)["profile stagee"]


def test_an_unusable_profile_asked_for_is_a_problem_with_the_fix(doctor_env, aws_home, sts_standin):
    with (aws_home / ".aws" / "config").open("a") as config:
        config.write("\n[profile nodevice]\nsource_profile = stage-default\n")
    result = run_mfaenv(["doctor", "--profile", "nodevice"], doctor_env)
    assert result.returncode == 1
    assert report_lines(result)["profile nodevice"].startswith("problem: no MFA device; add aws_arn_mfa")
    everyone = run_mfaenv(["doctor"], doctor_env)
    assert report_lines(everyone)["profile nodevice"].startswith("warning: no MFA device")


def test_a_malformed_file_is_a_problem(doctor_env, aws_home, sts_standin):
    (aws_home / ".aws" / "config").write_text("junk before any section\n[profile x]\n")
    result = run_mfaenv(["doctor"], doctor_env)
    assert result.returncode == 1
    assert report_lines(result)[f"config file {aws_home}/.aws/config"].startswith("problem: cannot be read")
    assert len(result.stderr.splitlines()) == 0, result.stderr


def test_a_credentials_file_others_can_read_is_a_warning(doctor_env, aws_home, sts_standin):
    (aws_home / ".aws" / "credentials").chmod(0o644)
    line = report_lines(run_mfaenv(["doctor"], doctor_env))[f"credentials file {aws_home}/.aws/credentials"]
    assert line.startswith("warning: ") and f"chmod 600 {aws_home}/.aws/credentials" in line


def test_missing_files_are_named(doctor_env, tmp_path, sts_standin):
    environ = {**doctor_env, "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"), "AWS_CONFIG_FILE": str(tmp_path / "nada")}
    result = run_mfaenv(["doctor"], environ)
    assert result.returncode == 1
    assert "does not exist, but AWS_SHARED_CREDENTIALS_FILE names it" in report_lines(result)[f"credentials file {tmp_path}/none"]
    assert sts_standin.requests == []


@pytest.mark.parametrize("variables, subject, words", [
    ({"AWS_PROFILE": "prod"}, "AWS_PROFILE", "JavaScript SDK"),
    ({"AWS_ACCESS_KEY_ID": "AKIAEXAMPLESTAGE0001", "AWS_SECRET_ACCESS_KEY": "x"}, "AWS_ACCESS_KEY_ID", "long-term keys"),
    ({"AWS_SECURITY_TOKEN": "old"}, "AWS_SECURITY_TOKEN", "botocore reads it before"),
])
def test_variables_that_shadow_the_session_are_warnings(variables, subject, words, doctor_env, sts_standin):
    result = run_mfaenv(["doctor"], {**doctor_env, **variables})
    line = report_lines(result)[subject]
    assert line.startswith("warning: ") and words in line
    assert "x" not in line.split(": ", 1)[1].split() and result.returncode == 0


def test_the_cache_in_ram_on_disk_or_off(doctor_env, sts_standin, tmp_path):
    not_made = report_lines(run_mfaenv(["doctor"], doctor_env))["session cache"]
    assert "not made yet (it is made, mode 0700, at the first fetch)" in not_made
    if "/dev/shm" not in str(tmp_path):  # pytest's folder is on disk (or a tmpfs /tmp: then it is RAM, and ok)
        assert not_made.startswith("warning: ") and "is on disk" in not_made or "in RAM (tmpfs)" in not_made
    if os.path.isdir("/dev/shm"):
        shm = {**doctor_env, "MFAENV_CACHE_DIR": f"/dev/shm/mfaenv-test-doctor-{os.getpid()}"}
        assert report_lines(run_mfaenv(["doctor"], shm))["session cache"].startswith("ok: ") and "in RAM (tmpfs)" in \
            report_lines(run_mfaenv(["doctor"], shm))["session cache"]
    off = report_lines(run_mfaenv(["doctor"], {**doctor_env, "MFAENV_CACHE": "off"}))["session cache"]
    assert off.startswith("warning: none (MFAENV_CACHE=off")
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o755)
    loose.chmod(0o755)
    line = report_lines(run_mfaenv(["doctor"], {**doctor_env, "MFAENV_CACHE_DIR": str(loose)}))["session cache"]
    assert line.startswith("warning: ") and f"chmod 700 {loose}" in line


INIT_AND_DOCTOR = {
    "bash": 'eval "$(mfaenv init bash)"\nmfaenv doctor | grep "shell integration"\ncommand mfaenv doctor | grep "shell integration"\n',
    "zsh": 'eval "$(mfaenv init zsh)"\nmfaenv doctor | grep "shell integration"\ncommand mfaenv doctor | grep "shell integration"\n',
    "fish": 'mfaenv init fish | source\nmfaenv doctor | grep "shell integration"\ncommand mfaenv doctor | grep "shell integration"\n',
}
NO_RC = {"bash": ["--norc", "--noprofile"], "zsh": ["-f"], "fish": ["--no-config"]}


@pytest.mark.parametrize("shell", sorted(INIT_AND_DOCTOR))
def test_doctor_sees_the_integration_loaded_in_this_shell(shell, doctor_env, sts_standin):
    import subprocess

    environ = {**doctor_env, "PATH": f"{BIN}{os.pathsep}{doctor_env['PATH']}"}
    result = subprocess.run([require_shell(shell), *NO_RC[shell], "-c", INIT_AND_DOCTOR[shell]], env=environ,
                            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    lines = result.stdout.splitlines()
    assert lines[0] == f"ok       shell integration: loaded in this shell ({shell})", result.stderr
    assert lines[1].startswith("warning  shell integration: not loaded in this shell")


def test_the_integration_variable_does_not_reach_an_exec_command(doctor_env, sts_standin):
    result = run_mfaenv(["exec", "stage", "123456", "--", "sh", "-c", 'echo "${MFAENV_INTEGRATION-unset}"'],
                        {**doctor_env, "MFAENV_INTEGRATION": "bash"})
    assert result.stdout == "unset\n", result.stderr


def test_the_example_files_pass(doctor_env, sts_standin, aws_home):
    """The files the README's demo uses are a set-up doctor calls sound."""
    assert (aws_home / ".aws" / "credentials").read_text() == (DATA / "credentials").read_text()
    (aws_home / ".aws" / "credentials").chmod(0o600)
    assert run_mfaenv(["doctor"], doctor_env).returncode == 0
