"""`mfaenv rotate`: a new long-term key with one code, never losing a working key (SPEC "Rotating the long-term key").

Real parts: the CLI in a subprocess; the STS stand-in for STS (it checks every
signature, and reads the HOME's credentials file, so it accepts the new key once
mfaenv wrote it, or only after a few refusals with ``refuse_new_keys``); moto's
server for IAM (users, keys, the limit of two, UpdateAccessKey, DeleteAccessKey),
reached through ``IamGate``, a pass-through proxy that records each IAM request
(to check who signed it), and on demand denies an action, kills mfaenv while
moto carries out an action, or scripts what moto cannot know (when a key was
last used, an old creation date).
"""

from __future__ import annotations

import difflib
import os
import re
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Dict, List, Optional, Set
from urllib.parse import parse_qs

import boto3
import pytest

from conftest import run_mfaenv
from sts_standin import Request, StsStandIn

SEED_KEY, SEED_SECRET = "AKIAEXAMPLESTAGE0001", "example/stage+SECRET0000000000000000000"
ACCOUNT = "123456789012"  # moto's


class IamGate:
    """A proxy in front of moto's IAM: records, denies, kills, rewrites answers on demand."""

    def __init__(self, upstream: str):
        self.upstream = upstream
        self.requests: List[Request] = []
        self.denied: Set[str] = set()
        self.kill_during: Optional[str] = None
        self.pid: List[int] = []  # the process to kill, set by the test once it started it
        self.rewrites: Dict[str, Callable[[str], str]] = {}
        self.before: Dict[str, Callable[[], None]] = {}
        #: Called with (key id, secret) of each key CreateAccessKey made (to let the STS stand-in know it).
        self.on_created: Optional[Callable[[str, str], None]] = None
        gate = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                form = {key: values[-1] for key, values in parse_qs(raw.decode(), keep_blank_values=True).items()}
                request = Request(self.path, dict(self.headers.items()), form, raw)
                gate.requests.append(request)
                action = form.get("Action", "")
                if action in gate.denied:
                    return self._send(403, (
                        '<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type>'
                        f"<Code>AccessDenied</Code><Message>User: arn:aws:iam::{ACCOUNT}:user/jane is not authorized "
                        f"to perform: iam:{action} with an explicit deny</Message></Error>"
                        "<RequestId>gate</RequestId></ErrorResponse>").encode())
                if action in gate.before:
                    gate.before[action]()
                upstream = urllib.request.Request(gate.upstream + self.path, data=raw, method="POST", headers={
                    name: value for name, value in self.headers.items() if name.lower() not in ("host", "content-length")})
                try:
                    with urllib.request.urlopen(upstream, timeout=30) as answer:
                        status, body = answer.status, answer.read()
                except urllib.error.HTTPError as refused:
                    status, body = refused.code, refused.read()
                if action == gate.kill_during:
                    # IAM did it, and mfaenv never hears of it: killed before the answer arrives.
                    os.kill(gate.pid[0], signal.SIGKILL)
                    return
                created = re.search(r"<AccessKeyId>([^<]+)</AccessKeyId>.*<SecretAccessKey>([^<]+)</SecretAccessKey>",
                                    body.decode(), re.S) if action == "CreateAccessKey" else None
                if created and gate.on_created is not None:
                    gate.on_created(created.group(1), created.group(2))
                if action in gate.rewrites:
                    body = gate.rewrites[action](body.decode()).encode()
                self._send(status, body)

            def _send(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def actions(self) -> List[str]:
        return [request.action for request in self.requests]

    def __enter__(self) -> "IamGate":
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.server.shutdown()
        self.server.server_close()


class World:
    """The seed HOME whose [stage-default] holds a key of a moto IAM user, and what the test looks at."""

    def __init__(self, home: Path, env: Dict[str, str], standin: StsStandIn, gate: IamGate, moto_url: str):
        self.home, self.env, self.standin, self.gate = home, env, standin, gate
        self.credentials = home / ".aws" / "credentials"
        self.iam = boto3.client("iam", endpoint_url=moto_url, region_name="us-east-1",
                                aws_access_key_id="testing", aws_secret_access_key="testing")
        self.user = f"jane-{uuid.uuid4().hex[:8]}"
        self.arn = f"arn:aws:iam::{ACCOUNT}:user/{self.user}"
        self.iam.create_user(UserName=self.user)
        key = self.iam.create_access_key(UserName=self.user)["AccessKey"]
        self.old_key, self.old_secret = key["AccessKeyId"], key["SecretAccessKey"]
        text = self.credentials.read_text()
        assert SEED_KEY in text and SEED_SECRET in text
        self.credentials.write_text(text.replace(SEED_KEY, self.old_key).replace(SEED_SECRET, self.old_secret))
        self.seed = self.credentials.read_bytes()
        standin.user(self.old_key, self.arn)

    def keys(self) -> Dict[str, str]:
        """Key id -> status of the user's keys in moto."""
        listed = self.iam.list_access_keys(UserName=self.user)["AccessKeyMetadata"]
        return {key["AccessKeyId"]: key["Status"] for key in listed}

    def file_key(self, section: str = "stage-default") -> Dict[str, str]:
        import configparser

        parser = configparser.RawConfigParser()
        parser.read(self.credentials)
        return dict(parser[section])

    def rotate(self, *args: str, env: Optional[Dict[str, str]] = None) -> subprocess.CompletedProcess:
        result = run_mfaenv(["rotate", *args], env or self.env)
        self.assert_no_secret(result)
        return result

    def secrets(self) -> List[str]:
        found = [self.old_secret, self.file_key().get("aws_secret_access_key", "")]
        found += [issued.secret_access_key for issued in self.standin.issued]
        found += [issued.session_token for issued in self.standin.issued]
        return [secret for secret in found if secret]

    def assert_no_secret(self, result: subprocess.CompletedProcess) -> None:
        assert result.stdout == "" or result.args[3:5] == ["rotate", "--check"] or "--check" in result.args
        for secret in self.secrets():
            assert secret not in result.stdout and secret not in result.stderr
        assert "Traceback" not in result.stderr


@pytest.fixture
def world(aws_home: Path, standin_env: Dict[str, str], sts_standin: StsStandIn, sts_endpoint: str):
    with IamGate(sts_endpoint) as gate:
        env = {**standin_env, "AWS_ENDPOINT_URL_IAM": gate.url}
        yield World(aws_home, env, sts_standin, gate, sts_endpoint)


def loud(env: Dict[str, str]) -> Dict[str, str]:
    return {name: value for name, value in env.items() if name != "MFAENV_QUIET"}


def changed_lines(before: bytes, after: bytes) -> List[str]:
    return [line for line in difflib.ndiff(before.decode().splitlines(True), after.decode().splitlines(True))
            if line[:2] in ("+ ", "- ")]


# -- the whole rotation -------------------------------------------------------------------------------------------


def test_a_whole_rotation_in_the_seed_layout_changes_only_the_key_lines(world, runtime_cache):
    env = {**loud(world.env), **runtime_cache}
    # An earlier `mfaenv stage` left the MFA session in the cache: the rotation needs no code at all.
    fetched = run_mfaenv(["stage", "123456"], world.env | runtime_cache)
    assert fetched.returncode == 0, fetched.stderr
    result = world.rotate("stage", env=env)
    assert result.returncode == 0, result.stderr
    new = world.file_key()["aws_access_key_id"]
    assert new != world.old_key and world.keys() == {new: "Active"}
    assert result.stderr == (f"mfaenv: rotated the access key of IAM user {world.user} ([stage-default] of "
                             f"{world.credentials}): new key {new}; old key {world.old_key} deleted\n")
    diff = changed_lines(world.seed, world.credentials.read_bytes())
    assert sorted(line[:2] + line[2:].split("=")[0].strip() for line in diff) == [
        "+ aws_access_key_created", "+ aws_access_key_id", "+ aws_secret_access_key",
        "- aws_access_key_id", "- aws_secret_access_key",
    ], diff
    assert re.fullmatch(r"\+ aws_access_key_created = \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\n", diff[-1])
    # One code in all (the cached session's), and every IAM call signed with that MFA session.
    [mfa] = world.standin.issued
    assert len(world.standin.calls("GetSessionToken")) == 1
    assert world.gate.actions() == ["ListAccessKeys", "CreateAccessKey", "UpdateAccessKey", "DeleteAccessKey"]
    for request in world.gate.requests:
        assert request.signing_key_id == mfa.access_key_id and request.token == mfa.session_token
        assert request.signed_with(mfa.secret_access_key)
        assert request.form.get("UserName") == world.user
    # The user is found with the old long-term key, the new one proven the same way.
    identities = world.standin.calls("GetCallerIdentity")
    assert [request.signing_key_id for request in identities] == [world.old_key, new]
    # The cached session of the old key is forgotten: the next `mfaenv stage` asks for a code, and the new key signs.
    again = run_mfaenv(["stage"], world.env | runtime_cache)
    assert again.returncode == 6 and again.stdout == ""
    fetched = run_mfaenv(["stage", "654321"], world.env | runtime_cache)
    assert fetched.returncode == 0, fetched.stderr
    assert world.standin.calls("GetSessionToken")[-1].signing_key_id == new
    # `mfaenv list` knows the key's age now.
    listed = run_mfaenv(["list"], world.env)
    header, stage_row = listed.stdout.splitlines()[0], next(
        line for line in listed.stdout.splitlines() if line.startswith("stage "))
    assert "KEY AGE" in header and stage_row.rstrip().endswith("today")


@pytest.fixture
def runtime_cache(tmp_path: Path) -> Dict[str, str]:
    folder = tmp_path / "runtime"
    folder.mkdir(mode=0o700)
    return {"XDG_RUNTIME_DIR": str(folder)}


def test_keep_old_through_a_role_profile_with_a_code_asked_once(world):
    config = world.home / ".aws" / "config"
    config.write_text(config.read_text() + "\n[profile admin]\nrole_arn = arn:aws:iam::210987654321:role/admin\n"
                                           "source_profile = stage\n")
    result = world.rotate("admin", "123456", "--keep-old", env=loud(world.env))
    assert result.returncode == 0, result.stderr
    new = world.file_key()["aws_access_key_id"]
    assert world.keys() == {new: "Active", world.old_key: "Inactive"}
    assert "deactivated (kept: --keep-old)" in result.stderr
    [mfa] = world.standin.calls("GetSessionToken")
    assert mfa.form["TokenCode"] == "123456" and mfa.signing_key_id == world.old_key
    assert world.standin.calls("AssumeRole") == []  # the role plays no part: the user's keys are rotated


def test_the_code_asked_on_the_terminal_is_asked_once(world):
    from conftest import run_on_terminal

    process, screen, stdout, stderr = run_on_terminal(
        [sys.executable, "-m", "mfaenv", "rotate", "stage"], world.env, "123456\r")
    assert process.returncode == 0, stderr
    assert stdout == "" and screen.count("MFA code for") == 1
    [mfa] = world.standin.calls("GetSessionToken")
    assert mfa.form["TokenCode"] == "123456"
    assert world.keys() == {world.file_key()["aws_access_key_id"]: "Active"}


def test_without_a_code_or_a_terminal_nothing_changes(world):
    result = world.rotate("stage")
    assert result.returncode == 6 and "MFA code" in result.stderr
    assert world.credentials.read_bytes() == world.seed and world.keys() == {world.old_key: "Active"}
    assert world.gate.requests == []


def test_keys_in_the_os_credential_store_are_rotated_there(world, secret_service):
    env = {key: value for key, value in world.env.items() if not key.startswith(("DBUS_", "PYTHON_KEYRING"))}
    env.update(secret_service)
    world.standin.allow(world.old_key, world.old_secret)  # STS keeps knowing the keys once they leave the file
    world.gate.on_created = world.standin.allow
    moved = run_mfaenv(["keys", "import", "stage-default"], env)
    assert moved.returncode == 0, moved.stderr
    before = world.credentials.read_bytes()
    assert world.old_secret.encode() not in before and f"mfaenv_keyring = {world.old_key}".encode() in before
    result = world.rotate("stage", "123456", env=loud(env))
    assert result.returncode == 0, result.stderr
    new = world.file_key()["mfaenv_keyring"]
    assert new != world.old_key and world.keys() == {new: "Active"}
    assert f"(the Secret Service item that [stage-default] of {world.credentials} names): new key {new}" in result.stderr
    # Only the line naming the item changed in the file (and the creation time came along); no secret in it.
    diff = changed_lines(before, world.credentials.read_bytes())
    assert sorted(line[:2] + line[2:].split("=")[0].strip() for line in diff) == [
        "+ aws_access_key_created", "+ mfaenv_keyring", "- mfaenv_keyring"], diff
    assert b"aws_secret_access_key" not in world.credentials.read_bytes().split(b"[stage-default]")[1].split(b"[")[0]
    # The new key signs from the store; the old key's item is gone with the key.
    fetched = run_mfaenv(["stage", "654321"], env)
    assert fetched.returncode == 0, fetched.stderr
    assert world.standin.calls("GetSessionToken")[-1].signing_key_id == new
    items = subprocess.run([sys.executable, "-c",
                            "import sys, json; from mfaenv.stores import oskeyring as k\n"
                            f"print(json.dumps([k.get('mfaenv long-term keys', n) is not None for n in sys.argv[1:]]))",
                            world.old_key, new], env=env, capture_output=True, text=True, timeout=60)
    assert items.stdout.strip() == "[false, true]", items.stderr


# -- two keys already ---------------------------------------------------------------------------------------------


def test_an_inactive_second_key_is_named_then_deleted_with_delete_inactive(world):
    other = world.iam.create_access_key(UserName=world.user)["AccessKey"]["AccessKeyId"]
    world.iam.update_access_key(UserName=world.user, AccessKeyId=other, Status="Inactive")
    refused = world.rotate("stage", "123456")
    assert refused.returncode == 4
    assert f"the other one, {other} (inactive, never used)" in refused.stderr
    assert "--delete-inactive" in refused.stderr and "nothing was changed" in refused.stderr
    assert world.credentials.read_bytes() == world.seed
    assert world.keys() == {world.old_key: "Active", other: "Inactive"}
    assert "CreateAccessKey" not in world.gate.actions()
    done = world.rotate("stage", "234567", "--delete-inactive")
    assert done.returncode == 0, done.stderr
    assert world.keys() == {world.file_key()["aws_access_key_id"]: "Active"}


def test_an_active_second_key_in_use_is_an_error_naming_it_and_nothing_changes(world):
    other = world.iam.create_access_key(UserName=world.user)["AccessKey"]["AccessKeyId"]
    world.gate.rewrites["GetAccessKeyLastUsed"] = lambda body: body.replace(
        "<AccessKeyLastUsed>", "<AccessKeyLastUsed><LastUsedDate>2026-11-30T08:15:00Z</LastUsedDate>", 1
    ).replace("<ServiceName>N/A</ServiceName>", "<ServiceName>s3</ServiceName>")
    for flags in ([], ["--delete-inactive"], ["--delete-unused"]):
        refused = world.rotate("stage", "123456", *flags)
        assert refused.returncode == 4, refused.stderr
        assert f"{other} (active, last used 2026-11-30T08:15:00Z" in refused.stderr, refused.stderr
        assert refused.stderr.count("\n") == 1 and "nothing was changed" in refused.stderr
    assert world.credentials.read_bytes() == world.seed
    assert world.keys() == {world.old_key: "Active", other: "Active"}
    assert "CreateAccessKey" not in world.gate.actions() and "DeleteAccessKey" not in world.gate.actions()


# -- never lose a working key -------------------------------------------------------------------------------------


def test_a_key_pasted_into_a_second_section_is_refused_before_a_code_is_spent(world):
    """Rotating would delete the old key in IAM, and the second section would be left holding it."""
    text = world.credentials.read_text()
    world.credentials.write_text(text + f"\n[copy]\naws_access_key_id = {world.old_key}\n"
                                        f"aws_secret_access_key = {world.old_secret}\n")
    before = world.credentials.read_bytes()
    refused = world.rotate("stage", "123456")
    assert (refused.returncode, refused.stdout) == (3, "")
    assert f"the access key {world.old_key} is also in [copy] of" in refused.stderr and refused.stderr.count("\n") == 1
    assert world.credentials.read_bytes() == before
    assert world.standin.calls("GetSessionToken") == [] and world.gate.actions() == []
    assert world.keys() == {world.old_key: "Active"}


def test_the_new_key_kept_in_the_store_survives_an_interruption_after_the_file_names_it(secret_service, tmp_path,
                                                                                       monkeypatch):
    """A Ctrl-C (or any error) just after the file was replaced: the file names the new key, so its item stays."""
    from mfaenv.commands import rotate
    from mfaenv.stores import keystore, persist

    for name, value in secret_service.items():
        monkeypatch.setenv(name, value)
    path = tmp_path / "credentials"
    path.write_text("[stage-default]\nmfaenv_keyring = AKIAOLDOLDOLDOLD0001\n")
    real = persist.replace_long_term_keys

    def replaced_then_interrupted(*args, **kwargs):
        real(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(persist, "replace_long_term_keys", replaced_then_interrupted)
    location = rotate.KeyLocation(path, "stage-default", True)
    new_key = f"AKIANEW{uuid.uuid4().hex[:13].upper()}"
    with pytest.raises(KeyboardInterrupt):
        rotate.store_new_key(location, "AKIAOLDOLDOLDOLD0001", new_key, "new-secret/" + new_key, None)
    assert f"mfaenv_keyring = {new_key}" in path.read_text()
    keystore._read.clear()  # what this process read before: the store itself is asked
    assert keystore.read(new_key) == "new-secret/" + new_key, "the file names a key whose secret was taken back"
    keystore.remove(new_key)


def test_killed_after_create_access_key_the_next_rotate_offers_to_delete_the_unused_key(world):
    world.gate.kill_during = "CreateAccessKey"
    process = subprocess.Popen([sys.executable, "-m", "mfaenv", "rotate", "stage", "123456"], env=world.env,
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               start_new_session=True)
    world.gate.pid.append(process.pid)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL, stderr
    assert stdout == b"" and world.credentials.read_bytes() == world.seed  # the old key still works
    [extra] = [key for key in world.keys() if key != world.old_key]
    world.gate.kill_during = None
    refused = world.rotate("stage", "234567")
    assert refused.returncode == 4
    assert f"{extra} (active, never used)" in refused.stderr and "--delete-unused" in refused.stderr
    assert world.credentials.read_bytes() == world.seed
    done = world.rotate("stage", "345678", "--delete-unused")
    assert done.returncode == 0, done.stderr
    assert world.keys() == {world.file_key()["aws_access_key_id"]: "Active"}


def test_a_file_changed_meanwhile_is_left_alone_and_the_new_key_deleted_again(world):
    def someone_edits_the_file():
        world.credentials.write_text(world.credentials.read_text().replace(world.old_key, "AKIAEDITEDBYHAND0001"))

    world.gate.before["CreateAccessKey"] = someone_edits_the_file
    edited = None
    result = world.rotate("stage", "123456")
    edited = world.credentials.read_bytes()
    assert result.returncode == 3 and "no longer holds the access key" in result.stderr
    assert b"AKIAEDITEDBYHAND0001" in edited  # their edit stands
    assert world.keys() == {world.old_key: "Active"}  # the new key is gone again
    assert world.gate.actions()[-1] == "DeleteAccessKey"


def test_a_new_key_that_works_only_after_a_few_refusals_is_waited_for(world):
    world.standin.refuse_new_keys(2)
    result = world.rotate("stage", "123456")
    assert result.returncode == 0, result.stderr
    new = world.file_key()["aws_access_key_id"]
    tries = [request for request in world.standin.calls("GetCallerIdentity") if request.signing_key_id == new]
    assert [request.answered for request in tries] == ["InvalidClientTokenId", "InvalidClientTokenId", "ok"]
    assert world.keys() == {new: "Active"}
    # The old key went only after the new one worked.
    assert world.gate.actions().index("UpdateAccessKey") > world.gate.actions().index("CreateAccessKey")


def test_a_new_key_never_accepted_stays_in_the_file_and_the_old_one_active(world):
    world.standin.refuse_new_keys(10_000)
    result = world.rotate("stage", "123456", env={**world.env, "MFAENV_ROTATE_WAIT": "1"})
    assert result.returncode == 5
    new = world.file_key()["aws_access_key_id"]
    assert new != world.old_key and world.keys() == {new: "Active", world.old_key: "Active"}
    assert f"did not accept the new key {new}" in result.stderr
    assert (f"aws iam delete-access-key --user-name {world.user} --access-key-id {world.old_key}"
            in result.stderr)
    assert "UpdateAccessKey" not in world.gate.actions()
    assert world.file_key()["aws_access_key_previous"] == world.old_key
    # Once STS accepts the new key, the next rotate finishes the rotation instead of starting another.
    world.standin.refuse_new_keys(0)
    world.standin.user(new, world.arn)
    finished = world.rotate("stage", "234567")
    assert finished.returncode == 0, finished.stderr
    assert world.keys() == {new: "Active"} and world.gate.actions().count("CreateAccessKey") == 1
    assert sorted(line[:2] + line[2:].split("=")[0].strip()
                  for line in changed_lines(world.seed, world.credentials.read_bytes())) == [
        "+ aws_access_key_created", "+ aws_access_key_id", "+ aws_secret_access_key",
        "- aws_access_key_id", "- aws_secret_access_key",
    ]


def test_killed_after_the_write_the_next_rotate_finishes_the_rotation(world):
    world.gate.kill_during = "UpdateAccessKey"  # the old key is deactivated, and mfaenv never hears of it
    process = subprocess.Popen([sys.executable, "-m", "mfaenv", "rotate", "stage", "123456"], env=world.env,
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               start_new_session=True)
    world.gate.pid.append(process.pid)
    stdout, _stderr = process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL and stdout == b""
    new = world.file_key()["aws_access_key_id"]
    assert world.keys() == {new: "Active", world.old_key: "Inactive"}
    world.gate.kill_during = None
    world.standin.user(new, world.arn)
    finished = world.rotate("stage", "234567")
    assert finished.returncode == 0, finished.stderr
    assert world.keys() == {new: "Active"} and world.file_key()["aws_access_key_id"] == new
    assert "aws_access_key_previous" not in world.file_key()


def test_ctrl_c_while_waiting_for_the_new_key_says_what_is_where(world):
    import time

    world.standin.refuse_new_keys(10_000)
    process = subprocess.Popen([sys.executable, "-m", "mfaenv", "rotate", "stage", "123456"], env=world.env,
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    deadline = time.monotonic() + 60
    while not any(request.action == "GetCallerIdentity" and request.signing_key_id not in (None, world.old_key)
                  for request in list(world.standin.requests)):
        assert time.monotonic() < deadline and process.poll() is None, "mfaenv never tried the new key"
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    new = world.file_key()["aws_access_key_id"]
    assert process.returncode == 130 and stdout == ""
    assert stderr.startswith(f"mfaenv: interrupted; the new key {new} is in [stage-default]") and stderr.count("\n") == 1
    assert f"--access-key-id {world.old_key}" in stderr and "Traceback" not in stderr
    assert world.keys() == {new: "Active", world.old_key: "Active"}


def test_a_denied_delete_leaves_the_new_key_in_the_file_and_says_what_to_do(world):
    world.gate.denied.add("DeleteAccessKey")
    result = world.rotate("stage", "123456")
    assert result.returncode == 4
    new = world.file_key()["aws_access_key_id"]
    assert world.keys() == {new: "Active", world.old_key: "Inactive"}
    line = result.stderr
    assert line.count("\n") == 1 and "IAM refused DeleteAccessKey (AccessDenied" in line
    assert f"the new key {new} is in [stage-default]" in line
    assert f"the old key {world.old_key} is deactivated but not deleted" in line
    assert f"aws iam delete-access-key --user-name {world.user} --access-key-id {world.old_key}" in line
    assert "run 'mfaenv rotate stage' again once IAM allows it" in line
    # Once IAM allows it, the next rotate finishes this one: no new key, the old one deleted.
    world.gate.denied.clear()
    world.standin.user(new, world.arn)
    finished = world.rotate("stage", "234567", env=loud(world.env))
    assert finished.returncode == 0, finished.stderr
    assert finished.stderr == (f"mfaenv: finished the interrupted rotation of IAM user {world.user} ([stage-default] "
                               f"of {world.credentials}): key {new} in use; old key {world.old_key} deleted\n")
    assert world.keys() == {new: "Active"} and world.file_key()["aws_access_key_id"] == new
    assert "aws_access_key_previous" not in world.file_key()


def test_a_denied_deactivation_leaves_both_keys_active_and_says_what_to_do(world):
    world.gate.denied.add("UpdateAccessKey")
    result = world.rotate("stage", "123456")
    assert result.returncode == 4 and result.stderr.count("\n") == 1
    new = world.file_key()["aws_access_key_id"]
    assert world.keys() == {new: "Active", world.old_key: "Active"}
    assert f"the old key {world.old_key} is still active: run 'mfaenv rotate stage' again" in result.stderr
    assert "DeleteAccessKey" not in world.gate.actions()


def test_keys_kept_in_the_config_file_are_rotated_where_they_are(world):
    # The key only in the config file: in a second section too, rotating it would be refused.
    world.credentials.write_bytes(world.seed.replace(world.old_key.encode(), SEED_KEY.encode())
                                  .replace(world.old_secret.encode(), SEED_SECRET.encode()))
    seed = world.credentials.read_bytes()
    config = world.home / ".aws" / "config"
    config.write_text(config.read_text() + f"\n[profile ci]\naws_access_key_id = {world.old_key}\n"
                      f"aws_secret_access_key = {world.old_secret}\nmfa_serial = arn:aws:iam::{ACCOUNT}:mfa/jane\n")
    before = config.read_bytes()
    result = world.rotate("ci", "123456")
    assert result.returncode == 0, result.stderr
    diff = changed_lines(before, config.read_bytes())
    assert sorted(line[:2] + line[2:].split("=")[0].strip() for line in diff) == [
        "+ aws_access_key_created", "+ aws_access_key_id", "+ aws_secret_access_key",
        "- aws_access_key_id", "- aws_secret_access_key",
    ], diff
    assert world.credentials.read_bytes() == seed


def test_keys_of_no_iam_user_and_a_bad_iam_endpoint_are_refused_before_a_code_is_spent(world):
    world.standin.user(world.old_key, f"arn:aws:iam::{ACCOUNT}:root")
    root = world.rotate("stage", "123456")
    assert root.returncode == 3 and "the account's root user, not an IAM user" in root.stderr
    bad = world.rotate("stage", "123456", env={**world.env, "AWS_ENDPOINT_URL_IAM": "ftp://user:pa55@host"})
    assert bad.returncode == 3 and "AWS_ENDPOINT_URL_IAM is not a usable IAM endpoint" in bad.stderr
    assert "pa55" not in bad.stderr
    assert world.standin.calls("GetSessionToken") == [] and world.gate.requests == []
    assert world.credentials.read_bytes() == world.seed


def test_list_with_its_key_age_loads_no_aws_library(world):
    from test_imports import AWS_SDK, imported_modules

    modules, result = imported_modules(["list"], world.env)
    assert result.returncode == 0 and "KEY AGE" in result.stdout
    assert "mfaenv.commands.rotate" in modules
    assert [name for name in modules if name.split(".")[0] in AWS_SDK] == []


# -- rotate --check -------------------------------------------------------------------------------------------------


def test_check_prints_key_ages_and_fails_past_max_age(world):
    world.gate.rewrites["ListAccessKeys"] = lambda body: re.sub(
        r"<CreateDate>\d{4}", "<CreateDate>2020", body)
    young = world.rotate("--check", "stage", "123456", "--max-age", "100000")
    assert young.returncode == 0, young.stderr
    assert young.stdout.splitlines()[0].split() == ["USER", "ACCESS", "KEY", "STATUS", "CREATED", "AGE"]
    assert f"{world.old_key} (this profile's)" in young.stdout and "Active" in young.stdout
    old = world.rotate("--check", "stage")  # the cached-less, terminal-less cron job: signed with the long-term key
    assert old.returncode == 1, old.stderr
    assert f"{world.old_key} (" in old.stderr and "older than 90 days" in old.stderr
    assert world.gate.requests[-1].signing_key_id == world.old_key
    assert len(world.standin.calls("GetSessionToken")) == 1  # only the first check's code
    assert world.credentials.read_bytes() == world.seed and "CreateAccessKey" not in world.gate.actions()


# -- the file edit, on hostile layouts ------------------------------------------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from mfaenv.errors import FileFormatError, PersistError  # noqa: E402
from mfaenv.profiles import parse_sections  # noqa: E402
from mfaenv.stores import persist  # noqa: E402
from test_persist import credentials_files, encode, real  # noqa: E402

NEW_KEY, NEW_SECRET, CREATED = "AKIANEWKEY0000000001", "new/SECRET+0000000000000000000000000000", "2026-12-02T10:00:00Z"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(credentials_files(), st.sampled_from(["stage", "prod", "stage-default"]))
def test_the_key_lines_are_replaced_in_place_and_nothing_else_changes(generated, target):
    import tempfile

    _preamble, sections, _newline, bom, _final = generated
    old, header_offsets = encode(*generated)
    names = [name for name, _header, _body in sections]
    try:
        before = parse_sections(old.decode("utf-8-sig"), Path("credentials"))
    except FileFormatError:
        return
    section = before.get(target, {})
    old_key = section.get("aws_access_key_id")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "credentials"
        path.write_bytes(old)
        if not old_key or real(section.get("aws_session_token")):
            with pytest.raises(PersistError, match="no longer holds"):
                persist.replace_long_term_keys(path, target, old_key or "AKIAOLD", NEW_KEY, NEW_SECRET, CREATED)
            assert path.read_bytes() == old
            return
        persist.replace_long_term_keys(path, target, old_key, NEW_KEY, NEW_SECRET, CREATED)
        new = path.read_bytes()
    after = parse_sections(new.decode("utf-8-sig"), path)
    assert after[target] == {**section, "aws_access_key_id": NEW_KEY, "aws_secret_access_key": NEW_SECRET,
                             "aws_access_key_created": CREATED}
    assert {k: v for k, v in after.items() if k != target} == {k: v for k, v in before.items() if k != target}
    assert new.startswith(b"\xef\xbb\xbf") == bom
    index = names.index(target)
    start = header_offsets[index]
    stop = header_offsets[index + 1] if index + 1 < len(names) else len(old)
    assert new.startswith(old[:start]) and new.endswith(old[stop:])


def test_keys_kept_in_the_config_file_are_rotated_there(tmp_path):
    config = tmp_path / "config"
    config.write_text("[profile ci]\r\n# keys\r\naws_access_key_id=AKIAOLDKEY0000000001\r\n"
                      "aws_secret_access_key=old/SECRET\r\nregion = eu-west-1\r\n")
    persist.replace_long_term_keys(config, "profile ci", "AKIAOLDKEY0000000001", NEW_KEY, NEW_SECRET, CREATED)
    assert config.read_bytes() == (
        f"[profile ci]\r\n# keys\r\naws_access_key_id={NEW_KEY}\r\naws_secret_access_key={NEW_SECRET}\r\n"
        f"region = eu-west-1\r\naws_access_key_created = {CREATED}\r\n").encode()  # in the last key's style
