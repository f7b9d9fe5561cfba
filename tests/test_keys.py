"""`mfaenv keys`: long-term keys in the OS credential store, on real parts.

The store is the tests' real Secret Service (gnome-keyring on a private bus);
STS is the stand-in, which checks every signature against the secret it was
told, so a fetch that signs with the stored secret is proven by the stand-in
accepting it. Each test makes keys of its own (the store outlives a test).
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, Optional

import pytest

from conftest import run_mfaenv
from test_rotate import world  # noqa: F401 (the rotate fixture: a moto IAM user behind IamGate)
from test_imports import AWS_SDK, CLI_FRAMEWORKS, KEYRING, imported_modules, loaded, stderr_without_importtime

SERVICE = "mfaenv long-term keys"
HEADER = "mfaenv long-term keys 1"
SERIAL = "arn:aws:iam::333333333333:mfa/jane"
ROLE = "arn:aws:iam::444444444444:role/admin"


def new_keys():
    """A key id and secret no other test uses."""
    return "AKIA" + secrets.token_hex(8).upper(), "test/" + secrets.token_urlsafe(27)


def credentials_text(key_id: str, secret: str) -> str:
    return (
        "# keys of the team layout; this comment and the blank lines stay\n"
        "[dev-default]\n"
        f"aws_access_key_id = {key_id}\n"
        "region = eu-west-1\n"
        f"aws_secret_access_key = {secret}\n"
        "\n"
        "[dev]\n"
        f"aws_arn_mfa = {SERIAL}\n"
    )


CONFIG = f"""\
[profile admin]
role_arn = {ROLE}
source_profile = dev
"""


@pytest.fixture
def keys_env(standin_env, secret_service, aws_home, tmp_path, sts_standin) -> Dict[str, str]:
    """The throwaway HOME with [dev-default]'s new keys, STS the stand-in, the real Secret Service."""
    key_id, secret = new_keys()
    (aws_home / ".aws" / "credentials").write_text(credentials_text(key_id, secret))
    (aws_home / ".aws" / "config").write_text(CONFIG)
    sts_standin.allow(key_id, secret)  # the stand-in keeps knowing them once they leave the file
    environ = {key: value for key, value in standin_env.items() if not key.startswith(("DBUS_", "PYTHON_KEYRING"))}
    environ.update(secret_service)
    environ["MFAENV_CACHE_DIR"] = str(tmp_path / "cache")
    environ["TEST_KEY_ID"], environ["TEST_SECRET"] = key_id, secret
    return environ


def store_item(environ: Dict[str, str], key_id: str, value: Optional[str] = None, delete: bool = False) -> Optional[str]:
    """The store's item for key_id as raw text (None: none); writes ``value`` first, or deletes, when asked."""
    script = (
        "import sys, json; from mfaenv.stores import oskeyring as k\n"
        f"service, name = {SERVICE!r}, {key_id!r}\n"
        + (f"k.put(service, name, {value!r})\n" if value is not None else "")
        + ("k.delete(service, name)\n" if delete else "")
        + "print(json.dumps(k.get(service, name)))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], env=environ, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def credentials(aws_home: Path) -> bytes:
    return (aws_home / ".aws" / "credentials").read_bytes()


def imported(key_id: str) -> bytes:
    """credentials_text after `keys import`: the two key lines gone, the marker at the end of the section."""
    return (
        "# keys of the team layout; this comment and the blank lines stay\n"
        "[dev-default]\n"
        "region = eu-west-1\n"
        f"mfaenv_keyring = {key_id}\n"
        "\n"
        "[dev]\n"
        f"aws_arn_mfa = {SERIAL}\n"
    ).encode()


def only_line(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("mfaenv: ") and "Traceback" not in stderr
    return lines[0]


def test_import_then_fetch_role_and_credential_process_sign_with_the_stored_secret(keys_env, aws_home, sts_standin, tmp_path):
    key_id, secret = keys_env["TEST_KEY_ID"], keys_env["TEST_SECRET"]
    result = run_mfaenv(["keys", "import", "dev"], {**keys_env, "MFAENV_QUIET": ""})
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert f"moved the keys of [dev-default] ({key_id})" in only_line(result.stderr)
    assert secret not in result.stderr
    # Checked first (GetCallerIdentity, no code), with the secret that was then stored.
    assert sts_standin.actions() == ["GetCallerIdentity"]
    assert sts_standin.calls("GetCallerIdentity")[0].signed_with(secret)
    assert credentials(aws_home) == imported(key_id)
    item = store_item(keys_env, key_id)
    assert item.startswith(HEADER + "\n") and json.loads(item.split("\n", 1)[1]) == {
        "aws_access_key_id": key_id, "aws_secret_access_key": secret}

    listed = run_mfaenv(["keys"], keys_env)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[1].split() == ["dev-default", key_id, "Secret", "Service"]
    usable = run_mfaenv(["list"], keys_env)
    assert [line.split()[0] for line in usable.stdout.splitlines()[1:3]] == ["dev", "admin"], usable.stdout
    assert "dev-default  long-term keys of dev, admin" in usable.stdout

    fetched = run_mfaenv(["get", "dev", "123456"], keys_env)
    assert fetched.returncode == 0, fetched.stderr
    mfa_call = sts_standin.calls("GetSessionToken")[-1]
    assert mfa_call.signing_key_id == key_id and mfa_call.signed_with(secret) and mfa_call.answered == "ok"

    role = run_mfaenv(["get", "admin"], keys_env)  # the cached MFA session assumes the role: no code, no store
    assert role.returncode == 0, role.stderr
    assert sts_standin.calls("AssumeRole")[-1].answered == "ok"
    assert len(sts_standin.calls("GetSessionToken")) == 1

    # A cache hit and a Tab never open the store: with no store reachable at all, both still work.
    no_store = {**keys_env, "DBUS_SESSION_BUS_ADDRESS": f"unix:path={tmp_path}/no-bus"}
    hit = run_mfaenv(["credential-process", "admin"], no_store)
    assert hit.returncode == 0, hit.stderr
    assert json.loads(hit.stdout)["SessionToken"]
    tab = run_mfaenv(["profiles"], no_store)
    assert tab.returncode == 0 and "dev" in tab.stdout.split()
    ran = run_mfaenv(["exec", "admin", "--", sys.executable, "-c", "import os; print(os.environ['AWS_SESSION_TOKEN'])"],
                     no_store)
    assert ran.returncode == 0 and ran.stdout.strip() == json.loads(hit.stdout)["SessionToken"], ran.stderr

    # credential-process fetching anew (another cache, the code from a command) signs with the stored secret.
    fresh = {**keys_env, "MFAENV_CACHE_DIR": str(tmp_path / "other-cache"), "MFAENV_CODE_COMMAND": "echo 654321"}
    process = run_mfaenv(["credential-process", "admin"], fresh)
    assert process.returncode == 0, process.stderr
    last_mfa = sts_standin.calls("GetSessionToken")[-1]
    assert last_mfa.form["TokenCode"] == "654321" and last_mfa.signed_with(secret) and last_mfa.answered == "ok"
    assert secret not in process.stdout + process.stderr + fetched.stderr + role.stderr


def test_a_cached_credential_process_with_stored_keys_loads_no_keyring(keys_env, tmp_path):
    run_mfaenv(["keys", "import", "dev"], keys_env)
    assert run_mfaenv(["get", "dev", "123456"], keys_env).returncode == 0
    modules, result = imported_modules(["credential-process", "dev"], keys_env)
    assert result.returncode == 0, stderr_without_importtime(result)
    assert "mfaenv.profiles" in modules
    assert loaded(modules, KEYRING + ("mfaenv.stores.keystore", "mfaenv.stores.oskeyring")) == []
    assert loaded(modules, CLI_FRAMEWORKS + AWS_SDK) == []
    modules, result = imported_modules(["profiles"], keys_env)
    assert result.returncode == 0 and loaded(modules, KEYRING + ("mfaenv.stores.keystore",)) == []


def test_rejected_keys_are_neither_stored_nor_removed_from_the_file(keys_env, aws_home, sts_standin):
    key_id, secret = new_keys()
    text = credentials_text(key_id, secret)  # keys the stand-in does not know: InvalidClientTokenId
    (aws_home / ".aws" / "credentials").write_text(text)
    sts_standin.key_files = []
    result = run_mfaenv(["keys", "import", "dev-default"], keys_env)
    assert result.returncode == 4, result.stderr
    assert result.stdout == ""
    assert "InvalidClientTokenId" in only_line(result.stderr) and secret not in result.stderr
    assert credentials(aws_home) == text.encode()
    assert store_item(keys_env, key_id) is None


def test_a_file_edit_that_fails_takes_back_what_was_stored(keys_env, aws_home):
    """Another program edits the section while mfaenv holds the keys in hand: the file wins, the store is emptied."""
    key_id = keys_env["TEST_KEY_ID"]
    path = aws_home / ".aws" / "credentials"
    lock = os.open(str(path) + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(lock, fcntl.LOCK_EX)
    process = subprocess.Popen([sys.executable, "-m", "mfaenv", "keys", "import", "dev"], env=keys_env,
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: store_item(keys_env, key_id) is not None, "the keys in the store")
        edited = path.read_text().replace("region = eu-west-1", "region = eu-west-2")
        changed_secret = edited.replace(keys_env["TEST_SECRET"], "test/edited+meanwhile")
        path.write_text(changed_secret)
    finally:
        os.close(lock)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 3, stderr
    assert stdout == "" and "changed while its keys were being stored" in only_line(stderr)
    assert path.read_text() == changed_secret
    assert store_item(keys_env, key_id) is None


def wait_until(check, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"waited {timeout}s for {what}"


def test_a_kill_during_import_leaves_the_keys_in_the_file_or_the_store(keys_env, aws_home, sts_standin):
    """Killed (SIGKILL) once the keys are stored, while it waits to write the file: the file still has them;
    the next import finishes the move."""
    key_id, secret = keys_env["TEST_KEY_ID"], keys_env["TEST_SECRET"]
    path = aws_home / ".aws" / "credentials"
    before = path.read_bytes()
    lock = os.open(str(path) + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(lock, fcntl.LOCK_EX)
    process = subprocess.Popen([sys.executable, "-m", "mfaenv", "keys", "import", "dev"], env=keys_env,
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: store_item(keys_env, key_id) is not None, "the keys in the store")
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=60)
    finally:
        os.close(lock)
    assert process.returncode == -signal.SIGKILL
    assert path.read_bytes() == before  # the keys are in the file: every reader still finds them
    fetched = run_mfaenv(["get", "dev", "123456"], keys_env)
    assert fetched.returncode == 0, fetched.stderr
    assert sts_standin.calls("GetSessionToken")[-1].signed_with(secret)
    again = run_mfaenv(["keys", "import", "dev"], keys_env)
    assert again.returncode == 0, again.stderr
    assert path.read_bytes() == imported(key_id)


@pytest.mark.parametrize("moment", [0.3, 0.6, 0.9, 1.2])
def test_killed_at_any_moment_the_keys_are_in_the_file_or_the_store(keys_env, aws_home, moment):
    """SIGKILL after a moment (whatever it hits: the check, the store, the write); the invariant holds."""
    key_id, secret = keys_env["TEST_KEY_ID"], keys_env["TEST_SECRET"]
    process = subprocess.Popen([sys.executable, "-m", "mfaenv", "keys", "import", "dev"], env=keys_env,
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        process.wait(timeout=moment)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
    text = credentials(aws_home)
    assert text in (credentials_text(key_id, secret).encode(), imported(key_id))
    if text == imported(key_id):
        item = store_item(keys_env, key_id)
        assert item is not None and json.loads(item.split("\n", 1)[1])["aws_secret_access_key"] == secret
    finished = run_mfaenv(["keys", "import", "dev"], keys_env)  # whatever the kill left, import completes
    assert finished.returncode == 0, finished.stderr
    assert credentials(aws_home) == imported(key_id)


def test_both_places_that_disagree_the_file_wins_with_a_warning(keys_env, aws_home, sts_standin):
    key_id, secret = keys_env["TEST_KEY_ID"], keys_env["TEST_SECRET"]
    assert run_mfaenv(["keys", "import", "dev"], keys_env).returncode == 0
    # `aws configure` (or a hand edit) puts new keys into the section; the marker stays.
    new_id, new_secret = new_keys()
    sts_standin.allow(new_id, new_secret)
    path = aws_home / ".aws" / "credentials"
    path.write_text(path.read_text().replace(
        "region = eu-west-1\n", f"region = eu-west-1\naws_access_key_id = {new_id}\naws_secret_access_key = {new_secret}\n"))
    result = run_mfaenv(["get", "dev", "123456"], keys_env)
    assert result.returncode == 0, result.stderr
    warning = only_line(result.stderr)
    assert warning.startswith("mfaenv: warning: profile 'dev-default': the credentials file holds key " + new_id)
    assert key_id in warning and "using the file's" in warning
    assert sts_standin.calls("GetSessionToken")[-1].signed_with(new_secret)
    listed = run_mfaenv(["keys"], keys_env)
    assert f"holds {key_id}, which is not used (the file wins)" in listed.stdout
    # Importing the file's keys replaces the store's: one item again, the old one deleted.
    assert run_mfaenv(["keys", "import", "dev"], keys_env).returncode == 0
    assert store_item(keys_env, key_id) is None and store_item(keys_env, new_id) is not None
    assert secret not in result.stderr


def test_an_item_that_is_not_ours_is_one_error_and_left_alone(keys_env, aws_home):
    key_id = keys_env["TEST_KEY_ID"]
    store_item(keys_env, key_id, value="hunter2")
    before = credentials(aws_home)
    result = run_mfaenv(["keys", "import", "dev"], keys_env)
    assert result.returncode == 7, result.stderr
    assert "is not one mfaenv wrote" in only_line(result.stderr) and result.stdout == ""
    assert credentials(aws_home) == before
    assert store_item(keys_env, key_id) == "hunter2"
    # A marker naming it: a fetch says the same, and nothing is sent to STS with it.
    (aws_home / ".aws" / "credentials").write_text(f"[dev-default]\nmfaenv_keyring = {key_id}\n\n[dev]\naws_arn_mfa = {SERIAL}\n")
    fetched = run_mfaenv(["get", "dev", "123456"], keys_env)
    assert fetched.returncode == 7 and "is not one mfaenv wrote" in only_line(fetched.stderr)
    damaged = store_item(keys_env, key_id, value=HEADER + "\n{not json")
    assert damaged.endswith("{not json")
    fetched = run_mfaenv(["get", "dev", "123456"], keys_env)
    assert fetched.returncode == 7 and "is damaged" in only_line(fetched.stderr)
    store_item(keys_env, key_id, delete=True)
    missing = run_mfaenv(["get", "dev", "123456"], keys_env)
    assert missing.returncode == 3, missing.stderr
    assert f"holds no item for key {key_id}" in only_line(missing.stderr) and "mfaenv keys add dev-default" in missing.stderr


def test_no_store_at_all_is_one_error_and_the_file_keeps_the_keys(keys_env, aws_home, tmp_path):
    environ = {**keys_env, "DBUS_SESSION_BUS_ADDRESS": f"unix:path={tmp_path}/no-bus"}
    environ.pop("DISPLAY", None)
    before = credentials(aws_home)
    result = run_mfaenv(["keys", "import", "dev"], environ)
    assert result.returncode == 7, result.stderr
    assert only_line(result.stderr).startswith("mfaenv: no OS credential store")
    assert credentials(aws_home) == before


def test_a_locked_store_the_user_does_not_unlock_is_one_error(fresh_secret_service, standin_env, aws_home, sts_standin):
    key_id, secret = new_keys()
    (aws_home / ".aws" / "credentials").write_text(credentials_text(key_id, secret))
    environ = {key: value for key, value in standin_env.items() if not key.startswith(("DBUS_", "PYTHON_KEYRING"))}
    environ.update(fresh_secret_service)
    lock = ("import secretstorage; c = secretstorage.dbus_init(); k = secretstorage.get_default_collection(c); "
            "k.lock(); assert k.is_locked()")
    subprocess.run([sys.executable, "-c", lock], env=environ, check=True, timeout=60)
    before = credentials(aws_home)
    result = run_mfaenv(["keys", "import", "dev"], environ)
    assert result.returncode == 7, result.stderr
    assert "is locked" in only_line(result.stderr)
    assert credentials(aws_home) == before


def test_remove_asks_first_and_export_puts_the_keys_back(keys_env, aws_home, tmp_path):
    key_id, secret = keys_env["TEST_KEY_ID"], keys_env["TEST_SECRET"]
    original = credentials(aws_home)
    assert run_mfaenv(["keys", "import", "dev"], keys_env).returncode == 0
    # No terminal to ask on and no --yes: nothing removed.
    refused = run_mfaenv(["keys", "remove", "admin"], keys_env)
    assert refused.returncode == 6 and "pass --yes" in only_line(refused.stderr)
    assert store_item(keys_env, key_id) is not None
    # export: the keys back in the file (the two lines at the end of the section), the item gone.
    exported = run_mfaenv(["keys", "export", "dev"], keys_env)
    assert exported.returncode == 0, exported.stderr
    assert "in plaintext" in exported.stderr and secret not in exported.stderr
    assert credentials(aws_home) == original.replace(
        f"aws_access_key_id = {key_id}\nregion = eu-west-1\naws_secret_access_key = {secret}\n".encode(),
        f"region = eu-west-1\naws_access_key_id = {key_id}\naws_secret_access_key = {secret}\n".encode())
    assert store_item(keys_env, key_id) is None
    # remove --yes: the item and the marker go; the profile then has no keys.
    assert run_mfaenv(["keys", "import", "dev"], keys_env).returncode == 0
    removed = run_mfaenv(["keys", "remove", "dev", "--yes"], {**keys_env, "MFAENV_QUIET": ""})
    assert removed.returncode == 0, removed.stderr
    assert "item deleted" in only_line(removed.stderr)
    assert store_item(keys_env, key_id) is None
    assert b"mfaenv_keyring" not in credentials(aws_home)
    gone = run_mfaenv(["get", "dev", "123456"], keys_env)
    assert gone.returncode == 3 and "no long-term keys" in gone.stderr


def test_keys_add_asks_on_the_terminal_and_never_shows_the_secret(keys_env, aws_home, tmp_path, sts_standin):
    tmux = pytest.importorskip("shutil").which("tmux")
    if tmux is None:
        pytest.skip("tmux not installed")
    key_id, secret = new_keys()
    sts_standin.allow(key_id, secret)
    environ = {**keys_env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{keys_env.get('PATH', os.defpath)}",
               "MFAENV_QUIET": "", "TERM": "xterm-256color", "PS1": "$ "}
    socket = str(tmp_path / "tmux.sock")

    def run(*args: str) -> str:
        done = subprocess.run(["tmux", "-S", socket, "-f", os.devnull, *args], env=environ,
                              capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def screen() -> str:
        return run("capture-pane", "-p", "-t", "keys")

    def wait_for(text: str, line_start: bool = False) -> str:
        deadline = time.monotonic() + 30
        while not (any(line.startswith(text) for line in screen().splitlines()) if line_start else text in screen()):
            assert time.monotonic() < deadline, f"no {text!r} on the screen:\n{screen()}"
            time.sleep(0.1)
        return screen()

    run("new-session", "-d", "-s", "keys", "-x", "150", "-y", "30", "bash", "--norc", "--noprofile", "-i")
    try:
        wait_for("$")
        run("send-keys", "-t", "keys", "-l", "mfaenv keys add ops; echo EXIT=$?")
        run("send-keys", "-t", "keys", "Enter")
        wait_for("Access key id for ops:")
        run("send-keys", "-t", "keys", "-l", key_id)
        run("send-keys", "-t", "keys", "Enter")
        wait_for("Secret access key for ops (not shown):")
        run("send-keys", "-t", "keys", "-l", secret)
        run("send-keys", "-t", "keys", "Enter")
        shown = wait_for("EXIT=", line_start=True)
    finally:
        subprocess.run(["tmux", "-S", socket, "kill-server"], capture_output=True, timeout=20)
    assert "EXIT=0" in shown, shown
    assert secret not in shown and secret[:12] not in shown
    assert key_id in shown  # the key id is no secret, and it is echoed as typed
    assert f"stored the keys of [ops] ({key_id})" in shown
    assert sts_standin.calls("GetCallerIdentity")[-1].signed_with(secret)
    text = (aws_home / ".aws" / "credentials").read_text()
    assert text.endswith(f"\n[ops]\nmfaenv_keyring = {key_id}\n") and secret not in text
    assert json.loads(store_item(keys_env, key_id).split("\n", 1)[1])["aws_secret_access_key"] == secret
    listed = run_mfaenv(["keys"], keys_env)
    assert any(line.split()[:2] == ["ops", key_id] for line in listed.stdout.splitlines())


def test_persist_refuses_the_section_whose_keys_are_in_the_store(keys_env, aws_home, sts_standin):
    """A session written there would hide the stored keys from every reader, as it would hide keys in the file."""
    key_id = keys_env["TEST_KEY_ID"]
    assert run_mfaenv(["keys", "import", "dev"], keys_env).returncode == 0
    config = aws_home / ".aws" / "config"
    config.write_text(config.read_text() + f"\n[profile dev-default]\nmfa_serial = {SERIAL}\n")
    before = credentials(aws_home)
    result = run_mfaenv(["get", "dev-default", "123456", "--persist"], keys_env)
    assert result.returncode == 3, result.stderr
    assert "its long-term keys are in the OS credential store" in only_line(result.stderr)
    assert credentials(aws_home) == before and sts_standin.calls("GetSessionToken") == []
    assert store_item(keys_env, key_id) is not None


def test_rotate_writes_the_new_key_into_the_store_where_the_old_one_was(world, secret_service, tmp_path):
    """Keys in the store are rotated there: the new item, the marker moved to it (and the key's age), the old item gone."""
    from test_rotate import changed_lines

    environ = {key: value for key, value in world.env.items() if not key.startswith(("DBUS_", "PYTHON_KEYRING"))}
    environ.update(secret_service, MFAENV_CACHE_DIR=str(tmp_path / "cache"))

    def stored_secret(key_id: str):
        item = store_item(environ, key_id)
        return {json.loads(item.split("\n", 1)[1])["aws_secret_access_key"]} if item else set()

    world.standin.key_lookup = stored_secret  # the stand-in reads the new key's secret where mfaenv put it
    assert run_mfaenv(["keys", "import", "stage"], environ).returncode == 0
    imported_text = world.credentials.read_bytes()
    assert world.old_secret.encode() not in imported_text
    assert run_mfaenv(["stage", "123456"], environ).returncode == 0
    result = world.rotate("stage", env={**environ, "MFAENV_QUIET": ""})
    assert result.returncode == 0, result.stderr
    [new] = [key for key in world.keys() if key != world.old_key]
    assert world.keys() == {new: "Active"}
    assert f"(the Secret Service item that [stage-default] of {world.credentials} names): new key {new}" in result.stderr
    diff = changed_lines(imported_text, world.credentials.read_bytes())
    assert [line.split("=")[0].strip() for line in diff] == [
        "- mfaenv_keyring", "+ mfaenv_keyring", "+ aws_access_key_created"], diff
    assert f"mfaenv_keyring = {new}\n" in world.credentials.read_text()
    assert store_item(environ, world.old_key) is None
    [new_secret] = stored_secret(new)
    assert new_secret.encode() not in world.credentials.read_bytes() and new_secret not in result.stderr
    # The next fetch signs with the new key, read from the store.
    fetched = run_mfaenv(["stage", "654321"], environ)
    assert fetched.returncode == 0, fetched.stderr
    last = world.standin.calls("GetSessionToken")[-1]
    assert last.signing_key_id == new and last.signed_with(new_secret)
    assert any(line.startswith("stage ") and line.rstrip().endswith("today")
               for line in run_mfaenv(["list"], environ).stdout.splitlines())
