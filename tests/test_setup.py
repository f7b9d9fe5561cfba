"""`mfaenv setup PROFILE` at a real terminal (tmux): the keys asked with the secret never echoed, checked,
the MFA devices listed from moto's IAM (or typed when listing is refused), the sections written, a first
session fetched; and after it, `mfaenv PROFILE` works.
"""

from __future__ import annotations

import configparser
import os
import subprocess
import uuid
from pathlib import Path

import boto3
import pytest

from conftest import require_shell, run_mfaenv
from sts_standin import error, success
from test_tmux import BIN, RC_FILES, Terminal


#: The tmux servers this module started; each is killed after its test (a server left running kept a
#: `mfaenv setup` waiting at its prompt long after the run).
_STARTED = []


@pytest.fixture(autouse=True)
def _kill_terminals():
    yield
    while _STARTED:
        subprocess.run(["tmux", "-S", str(_STARTED.pop().socket), "kill-server"], capture_output=True, timeout=20)


def start_bash(environ, home: Path, tmp_path: Path) -> Terminal:
    require_shell("tmux")
    name, text = RC_FILES["bash"]
    (home / name).write_text(text, encoding="utf-8")
    environ = {**environ, "PATH": f"{BIN}{os.pathsep}{environ.get('PATH', os.defpath)}", "TERM": "xterm-256color"}
    environ.pop("MFAENV_SHELL", None)
    environ.pop("MFAENV_QUIET", None)
    term = Terminal("bash", tmp_path / "tmux.sock", environ)
    _STARTED.append(term)
    term.tmux("new-session", "-d", "-s", "mfaenv", "-x", "200", "-y", "50", require_shell("bash"), "-i")
    term.wait_for_prompt(r"\[\] bash>", "the first bash prompt")
    return term


def answer(term: Terminal, question: str, text: str) -> None:
    term.wait_for(lambda _screen: question in term.last_line(), repr(question))
    term.type(text)
    term.press("Enter")


@pytest.fixture
def moto_user(sts_endpoint):
    """An IAM user in moto with a key and two enabled virtual MFA devices."""
    iam = boto3.client("iam", endpoint_url=sts_endpoint, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    name = f"jane{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    devices = []
    for device in ("phone", "tablet"):
        serial = iam.create_virtual_mfa_device(VirtualMFADeviceName=f"{name}-{device}")["VirtualMFADevice"]["SerialNumber"]
        iam.enable_mfa_device(UserName=name, SerialNumber=serial, AuthenticationCode1="123456", AuthenticationCode2="654321")
        devices.append(serial)
    return name, key["AccessKeyId"], key["SecretAccessKey"], devices


@pytest.fixture
def new_home(tmp_path: Path) -> Path:
    home = tmp_path / "newhome"  # not the example HOME (`aws_home`) the STS stand-in's fixture makes
    home.mkdir()
    return home


def setup_env(home: Path, endpoint: str, tmp_path: Path) -> dict:
    from emulator import clean_environ

    environ = clean_environ(home)
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700, exist_ok=True)
    environ.update({"AWS_ENDPOINT_URL_STS": endpoint, "AWS_ENDPOINT_URL_IAM": endpoint, "MFAENV_CACHE_DIR": str(cache)})
    return environ


def test_setup_writes_a_working_seed_profile_from_the_devices_iam_lists(moto_user, new_home, sts_endpoint, tmp_path):
    user, key_id, secret, devices = moto_user
    term = start_bash(setup_env(new_home, sts_endpoint, tmp_path), new_home, tmp_path)
    term.type("mfaenv setup stage")
    term.press("Enter")
    answer(term, "Access key id for stage-default:", key_id)
    answer(term, "Secret access key for stage-default (not shown):", secret)
    screen = term.wait_for(lambda s: "Which one (1-2):" in s, "the device question")
    assert secret not in screen  # not echoed
    assert f"The keys work: arn:aws:iam::123456789012:user/{user}" in screen
    assert f"1) {devices[0]}" in screen and f"2) {devices[1]}" in screen
    answer(term, "Which one (1-2):", "2")
    answer(term, "Fetch a first session for stage now (asks for an MFA code)? [y/N]", "y")
    answer(term, "MFA code for stage", "123456")
    screen = term.wait_for(lambda s: "next: mfaenv stage CODE" in s, "the last line of setup")
    assert "mfaenv: stage, account 123456789012, until" in screen and "; fetched" in screen
    assert secret not in screen
    credentials = configparser.RawConfigParser()
    credentials.read(new_home / ".aws" / "credentials")
    assert dict(credentials["stage-default"]) == {"aws_access_key_id": key_id, "aws_secret_access_key": secret}
    assert dict(credentials["stage"]) == {"aws_arn_mfa": devices[1]}
    assert oct((new_home / ".aws" / "credentials").stat().st_mode & 0o777) == "0o600"
    # After it, `mfaenv stage` works: the first session is reused from the cache, no code asked.
    term.type("mfaenv stage")
    term.press("Enter")
    term.wait_for_prompt(r"\[stage 123456789012 (11h59|12h00)m\] bash>", "the prompt with the session")
    assert "reused from the session cache" in term.screen()


def test_setup_asks_for_the_arn_when_listing_is_refused_and_writes_the_standard_layout(
        new_home, sts_standin, tmp_path):
    sts_standin.key_files = []
    sts_standin.allow("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    sts_standin.user("AKIAIOSFODNN7EXAMPLE", "arn:aws:iam::111111111111:user/jane")
    sts_standin.answer(error(403, "AccessDenied", "User is not authorized to perform: iam:ListMFADevices"))
    (new_home / ".aws").mkdir()
    (new_home / ".aws" / "config").write_text("# mine\n[default]\nregion = eu-west-1\n", encoding="utf-8")
    term = start_bash(setup_env(new_home, sts_standin.url, tmp_path), new_home, tmp_path)
    term.type("mfaenv setup stage --layout standard")
    term.press("Enter")
    answer(term, "Access key id for stage-long-term:", "AKIAIOSFODNN7EXAMPLE")
    answer(term, "(not shown):", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    answer(term, "MFA device ARN (arn:aws:iam::ACCOUNT:mfa/NAME):", "not an arn")
    answer(term, "MFA device ARN (arn:aws:iam::ACCOUNT:mfa/NAME):", "arn:aws:iam::111111111111:mfa/jane")
    screen = term.wait_for(lambda s: "[y/N]" in s, "the offer of a first session")
    assert "Listing your MFA devices did not work (AccessDenied)" in screen
    assert "That is not an MFA device ARN" in screen
    answer(term, "[y/N]", "n")
    term.wait_for(lambda s: "next: mfaenv stage CODE" in s, "the last line of setup")
    assert (new_home / ".aws" / "config").read_text() == (
        "# mine\n[default]\nregion = eu-west-1\n\n[profile stage]\nsource_profile = stage-long-term\n"
        "mfa_serial = arn:aws:iam::111111111111:mfa/jane\n")
    assert (new_home / ".aws" / "credentials").read_text() == (
        "[stage-long-term]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\n"
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n")
    assert sts_standin.calls("GetSessionToken") == []  # no first session: no code spent
    # `mfaenv stage CODE` works with what was written.
    sts_standin.answer(success())
    done = run_mfaenv(["stage", "123456"], setup_env(new_home, sts_standin.url, tmp_path))
    assert done.returncode == 0, done.stderr
    assert [call.signing_key_id for call in sts_standin.calls("GetSessionToken")] == ["AKIAIOSFODNN7EXAMPLE"]


def test_setup_never_overwrites_and_asks_nothing_then(standin_env, aws_home, sts_standin):
    before = (aws_home / ".aws" / "credentials").read_bytes()
    result = run_mfaenv(["setup", "stage"], standin_env)
    assert result.returncode == 3 and result.stdout == ""
    assert "[stage] and [stage-default] exist already" in result.stderr and "never overwrites" in result.stderr
    assert (aws_home / ".aws" / "credentials").read_bytes() == before
    assert sts_standin.requests == []


def test_setup_without_a_terminal_writes_nothing(new_home, sts_standin, tmp_path):
    result = run_mfaenv(["setup", "stage"], setup_env(new_home, sts_standin.url, tmp_path), input="AKIA\nsecret\n")
    assert result.returncode == 6 and "no terminal" in result.stderr, result.stderr
    assert not (new_home / ".aws").exists()


@pytest.mark.parametrize("name", ["", "a]b", "DEFAULT", " stage", "x\ty"])
def test_setup_refuses_a_name_that_cannot_be_a_section(name, new_home, sts_standin, tmp_path):
    result = run_mfaenv(["setup", name], setup_env(new_home, sts_standin.url, tmp_path))
    assert result.returncode == 2, result.stderr
    assert not (new_home / ".aws").exists()


def test_setup_with_keys_sts_refuses_writes_nothing(new_home, sts_standin, tmp_path):
    sts_standin.key_files = []
    term = start_bash(setup_env(new_home, sts_standin.url, tmp_path), new_home, tmp_path)
    term.type("mfaenv setup stage; echo status=$?")
    term.press("Enter")
    answer(term, "Access key id for stage-default:", "AKIAIOSFODNN7EXAMPLE")
    answer(term, "(not shown):", "wrong/secret")
    screen = term.wait_for(lambda s: "\nstatus=" in s, "the end of setup")
    assert "status=4" in screen and "wrong/secret" not in screen
    assert not (new_home / ".aws" / "credentials").exists()
