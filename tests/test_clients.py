"""Real AWS clients using mfaenv's sessions: boto3, the AWS CLI and the AWS SDK for JavaScript v3.

Each client calls GetCallerIdentity on the STS stand-in, which records the key
that signed every request and checks the signature against the session's
secret. So each test proves that the client signed with the session mfaenv
fetched (the stand-in's), that mfaenv signed its own GetSessionToken with the
long-term keys, and how many sessions were fetched: none beyond what the test
expects. The clients come from the test extras (awscli) and from
tests/js/package.json (`npm ci --prefix tests/js`); missing, they are skipped
locally and fail in CI.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest

from conftest import IN_CI, run_mfaenv, run_shell
from sts_standin import SESSION_KEY_ID, SESSION_SECRET, SESSION_TOKEN
from test_codeinput import add_to_config, run_on_terminal
from mfaenv.shells.expiry import parse_expiry

BIN = Path(sys.executable).parent
JS = Path(__file__).parent / "js"
LONG_TERM_KEY = "AKIAEXAMPLESTAGE0001"  # [stage-default] in tests/data/credentials
MFAENV = f"{shlex.quote(sys.executable)} -m mfaenv"


def require(what: str, present: bool, how: str) -> None:
    if not present:
        if IN_CI:
            pytest.fail(f"{what} is missing; {how}")
        pytest.skip(f"{what} is missing ({how})")


@pytest.fixture
def aws_cli() -> str:
    path = BIN / "aws"
    require("the AWS CLI", path.is_file(), "pip install -e '.[test]' installs it")
    return str(path)


@pytest.fixture
def node_sdk() -> List[str]:
    node = shutil.which("node")
    require("node", node is not None, "install nodejs")
    require("@aws-sdk/client-sts", (JS / "node_modules" / "@aws-sdk" / "client-sts").is_dir(),
            "run: npm ci --prefix tests/js")
    return [node, str(JS / "caller_identity.mjs")]


@pytest.fixture
def client_env(standin_env, aws_home, tmp_path) -> Dict[str, str]:
    """STS at the stand-in; [profile cp] hands out stage's session through credential_process."""
    add_to_config(aws_home, f"[profile cp]\ncredential_process = {MFAENV} credential-process stage\nregion = us-east-1\n")
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    return {
        **standin_env,
        "PATH": f"{BIN}{os.pathsep}{standin_env.get('PATH', os.defpath)}",
        "MFAENV_CACHE_DIR": str(cache),
        "MFAENV_QUIET": "1",
    }


def run(argv: List[str], environ: Dict[str, str]) -> subprocess.CompletedProcess:
    """A client run as from cron: no terminal, stdin closed."""
    return subprocess.run(argv, env=environ, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=120, start_new_session=True)


def assert_signed_with_the_session(standin, fetches: int = 1) -> None:
    """Every client call signed with the stand-in's session; mfaenv fetched it ``fetches`` times, with the long-term keys."""
    sessions, calls = standin.calls("GetSessionToken"), standin.calls("GetCallerIdentity")
    assert len(sessions) == fetches, f"{len(sessions)} GetSessionToken calls, expected {fetches}"
    assert all(r.signing_key_id == LONG_TERM_KEY for r in sessions)
    assert calls, "the client made no call"
    for call in calls:
        assert (call.signing_key_id, call.signer, call.answered) == (SESSION_KEY_ID, "session", "ok")
        assert call.signed_with(SESSION_SECRET), "signed with another secret than the session's"
        assert call.token == SESSION_TOKEN


# --- a credential_process profile ------------------------------------------------------------------------


BOTO3_WHO_AM_I = "import boto3; print(boto3.Session(profile_name='cp').client('sts').get_caller_identity()['UserId'])"


def test_boto3_signs_with_the_session_of_a_credential_process_profile(client_env, sts_standin):
    result = run([sys.executable, "-c", BOTO3_WHO_AM_I], {**client_env, "MFAENV_CODE_COMMAND": "echo 123456"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == SESSION_KEY_ID
    assert_signed_with_the_session(sts_standin)


def test_aws_cli_signs_with_the_session_of_a_credential_process_profile(client_env, sts_standin, aws_cli):
    result = run([aws_cli, "sts", "get-caller-identity", "--profile", "cp", "--output", "json"],
                 {**client_env, "MFAENV_CODE_COMMAND": "echo 123456"})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["UserId"] == SESSION_KEY_ID
    assert_signed_with_the_session(sts_standin)


def test_javascript_sdk_signs_with_the_session_of_a_credential_process_profile(client_env, sts_standin, node_sdk):
    result = run(node_sdk, {**client_env, "AWS_PROFILE": "cp", "MFAENV_CODE_COMMAND": "echo 123456"})
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["AccessKeyId"] == SESSION_KEY_ID
    assert seen["Expiration"] is not None, "the SDK did not read the expiry, so it would never refresh"
    assert_signed_with_the_session(sts_standin)


def test_aws_cli_without_terminal_or_code_command_shows_mfaenvs_line_and_calls_nothing(
    client_env, sts_standin, aws_cli
):
    result = run([aws_cli, "sts", "get-caller-identity", "--profile", "cp"], client_env)
    assert result.returncode != 0
    assert "mfaenv: profile 'stage': no terminal to ask for the MFA code" in result.stderr
    assert sts_standin.requests == [], "neither a fetch nor a client call may happen"


def test_aws_cli_asks_for_the_code_on_the_terminal_through_credential_process(client_env, sts_standin, aws_cli):
    """The AWS CLI captures the process's stdout and stderr; the question goes to /dev/tty."""
    process, screen, stdout, stderr = run_on_terminal(
        [aws_cli, "sts", "get-caller-identity", "--profile", "cp", "--output", "json"], client_env, "123456\r")
    assert process.returncode == 0, stderr
    assert "MFA code for stage" in screen
    assert json.loads(stdout)["UserId"] == SESSION_KEY_ID
    assert [r.form.get("TokenCode") for r in sts_standin.requests if r.form.get("TokenCode")] == ["123456"]
    assert_signed_with_the_session(sts_standin)



def test_a_code_command_that_reaches_mfaenv_again_stops_at_depth_one(client_env, sts_standin, aws_home, aws_cli, tmp_path):
    """The issue's loop: stage's code command reads the code with the AWS CLI through [profile cp],
    whose credential_process is mfaenv for stage again, with nothing cached: that mfaenv needs a code,
    and must fail at once instead of running the code command again. (The command refuses a third
    level by itself, so that the test ends where the rule is broken.)"""
    depth = tmp_path / "depth.log"
    depth.touch()
    add_to_config(aws_home, (
        f"[profile stage]\nmfa_process = [ $(wc -l < {depth}) -lt 3 ] || exit 99; echo level >> {depth}; "
        f"{aws_cli} sts get-caller-identity --profile cp --query UserId --output text\n"))
    result = run([aws_cli, "sts", "get-caller-identity", "--profile", "cp"], client_env)
    assert result.returncode != 0
    assert depth.read_text().splitlines() == ["level"], "the code command ran again inside itself"
    assert "started by the code command of profile 'stage'" in result.stderr, result.stderr
    assert "code command failed with exit status 255" in result.stderr, result.stderr
    assert result.stdout == ""
    assert sts_standin.requests == []


# --- exported variables and exec -----------------------------------------------------------------------------


@pytest.mark.shell
def test_javascript_sdk_reads_the_exported_session_and_its_expiry(client_env, sts_standin, node_sdk):
    script = f'eval "$({MFAENV} stage 123456)" && {shlex.join(node_sdk)} && echo "$AWS_CREDENTIAL_EXPIRATION"'
    result = run_shell("bash", script, client_env)
    assert result.returncode == 0, result.stderr
    output, expiry = result.stdout.splitlines()
    seen = json.loads(output)
    assert seen["AccessKeyId"] == SESSION_KEY_ID
    assert parse_expiry(seen["Expiration"]) == parse_expiry(expiry)
    assert_signed_with_the_session(sts_standin)


def test_aws_cli_under_exec_signs_with_the_session(client_env, sts_standin, aws_cli):
    result = run([sys.executable, "-m", "mfaenv", "exec", "stage", "123456", "--",
                  aws_cli, "sts", "get-caller-identity", "--output", "json"], client_env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["UserId"] == SESSION_KEY_ID
    assert_signed_with_the_session(sts_standin)


def test_javascript_sdk_under_exec_uses_the_session_even_with_aws_profile_set(client_env, sts_standin, node_sdk):
    """With AWS_PROFILE kept, the SDK would sign with that profile's keys and warn (docs/tools.md)."""
    environ = {**client_env, "AWS_PROFILE": "prod-default"}
    result = run([sys.executable, "-m", "mfaenv", "exec", "stage", "123456", "--", *node_sdk], environ)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["AccessKeyId"] == SESSION_KEY_ID
    assert parse_expiry(seen["Expiration"]) > 0
    assert "Multiple credential sources" not in result.stderr
    assert_signed_with_the_session(sts_standin)

    # The same session exported beside AWS_PROFILE, without exec: the SDK takes the profile's keys.
    session = {"AWS_ACCESS_KEY_ID": SESSION_KEY_ID, "AWS_SECRET_ACCESS_KEY": SESSION_SECRET, "AWS_SESSION_TOKEN": SESSION_TOKEN}
    beside = run(node_sdk, {**environ, **session})
    assert beside.returncode == 0, beside.stderr
    assert json.loads(beside.stdout)["AccessKeyId"] == "AKIAEXAMPLEPROD00001", (
        "the SDK no longer prefers AWS_PROFILE over environment keys: revisit exec's decision")


# --- from the session cache: one code, every tool ------------------------------------------------------------


ROLE_PROFILES = """
[profile admin]
role_arn = arn:aws:iam::210987654321:role/admin
source_profile = stage
region = us-east-1

[profile admin-cp]
credential_process = {mfaenv} credential-process admin
region = us-east-1
"""


def test_after_one_code_every_client_signs_with_the_cached_session_and_sts_is_not_called_again(
    client_env, sts_standin, aws_cli, node_sdk
):
    first = run_mfaenv(["stage", "123456"], client_env)
    assert first.returncode == 0, first.stderr
    # No code command and no terminal from here on: only the cache can serve them.
    outputs = [
        run([sys.executable, "-c", BOTO3_WHO_AM_I], client_env),
        run([aws_cli, "sts", "get-caller-identity", "--profile", "cp", "--output", "json"], client_env),
        run(node_sdk, {**client_env, "AWS_PROFILE": "cp"}),
        run([sys.executable, "-m", "mfaenv", "exec", "stage", "--",
             aws_cli, "sts", "get-caller-identity", "--output", "json"], client_env),
        run([sys.executable, "-m", "mfaenv", "exec", "stage", "--", *node_sdk], client_env),
    ]
    for result in outputs:
        assert result.returncode == 0, result.stderr
        assert SESSION_KEY_ID in result.stdout
    assert len(sts_standin.calls("GetCallerIdentity")) == len(outputs)
    assert_signed_with_the_session(sts_standin, fetches=1)


def test_a_role_profile_through_credential_process_uses_the_cached_mfa_session(client_env, sts_standin, aws_home, aws_cli):
    add_to_config(aws_home, ROLE_PROFILES.format(mfaenv=MFAENV))
    assert run_mfaenv(["stage", "123456"], client_env).returncode == 0
    result = run([aws_cli, "sts", "get-caller-identity", "--profile", "admin-cp", "--output", "json"], client_env)
    assert result.returncode == 0, result.stderr
    (role,) = sts_standin.issued[1:]
    identity = json.loads(result.stdout)
    assert (identity["UserId"], identity["Account"]) == (role.access_key_id, "210987654321")
    assert [r.action for r in sts_standin.requests] == ["GetSessionToken", "AssumeRole", "GetCallerIdentity"]
    assume = sts_standin.calls("AssumeRole")[0]
    assert assume.signing_key_id == SESSION_KEY_ID and "TokenCode" not in assume.form, "the role needed a second code"
    call = sts_standin.calls("GetCallerIdentity")[0]
    assert call.signer == "session" and call.signed_with(role.secret_access_key) and call.token == role.session_token


# --- many clients at once, one code (issue 16) ---------------------------------------------------------------


BOTO3_EIGHT_THREADS = """
import boto3, concurrent.futures
def who_am_i(_):
    return boto3.Session(profile_name='cp').client('sts').get_caller_identity()['UserId']
with concurrent.futures.ThreadPoolExecutor(8) as pool:
    print(' '.join(pool.map(who_am_i, range(8))))
"""


def test_boto3_with_eight_threads_on_a_credential_process_profile_spends_one_code(client_env, sts_standin, tmp_path):
    runs = tmp_path / "code-command-runs"
    command = f"echo ran >> {shlex.quote(str(runs))}; echo 424242"
    result = run([sys.executable, "-c", BOTO3_EIGHT_THREADS], {**client_env, "MFAENV_CODE_COMMAND": command})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [SESSION_KEY_ID] * 8
    assert runs.read_text().count("ran") == 1, "the code command ran more than once"
    assert_signed_with_the_session(sts_standin, fetches=1)
