"""mfaenv/stores/oskeyring.py against the real Secret Service (gnome-keyring on a private bus).

Each scenario runs in its own Python process, as mfaenv does: the backend is
chosen once per process, and what one process stores another reads back.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from typing import Dict

#: Runs `body` with oskeyring imported; prints one JSON line of what `body` put in `out`.
PRELUDE = """
import json, sys
from mfaenv.stores import oskeyring
from mfaenv import errors
out = {}
def attempt(name, call, *args):
    try:
        out[name] = call(*args)
    except errors.MfaenvError as error:
        out[name] = [type(error).__name__, str(error), error.exit_code]
"""


def run_store(body: str, environ: Dict[str, str]) -> dict:
    script = PRELUDE + textwrap.dedent(body) + "\nprint(json.dumps(out))\n"
    result = subprocess.run([sys.executable, "-c", script], env=environ, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def store_environ(bus: Dict[str, str]) -> Dict[str, str]:
    environ = {key: value for key, value in os.environ.items() if not key.startswith(("DBUS_", "PYTHON_KEYRING"))}
    environ.update(bus)
    return environ


def test_what_one_process_stores_another_reads_and_removes(secret_service):
    environ = store_environ(secret_service)
    stored = run_store("""
        out["name"] = oskeyring.backend_name()
        oskeyring.put("mfaenv-test-oskeyring", "probe", "line one\\nline two ünïcode")
        oskeyring.write_entry("mfaenv-test-oskeyring", "entry", "mfaenv test entry 1", "body=1\\n")
    """, environ)
    assert stored == {"name": "Secret Service"}
    read = run_store("""
        out["value"] = oskeyring.get("mfaenv-test-oskeyring", "probe")
        out["entry"] = oskeyring.read_entry("mfaenv-test-oskeyring", "entry", "mfaenv test entry 1")
        out["missing"] = oskeyring.get("mfaenv-test-oskeyring", "nothing here")
        out["deleted"] = [oskeyring.delete("mfaenv-test-oskeyring", name) for name in ("probe", "entry", "probe")]
        out["after"] = oskeyring.get("mfaenv-test-oskeyring", "probe")
        # The platform's backend is named directly: keyring's discovery, which imports every backend, never ran.
        out["scanned"] = sorted(m for m in sys.modules if m in ("keyring.backends.chainer", "keyring.backends.kwallet"))
    """, environ)
    assert read == {
        "value": "line one\nline two ünïcode", "entry": "body=1\n", "missing": None,
        "deleted": [True, True, False], "after": None, "scanned": [],
    }


def test_an_item_mfaenv_did_not_write_is_reported_and_left_alone(secret_service):
    environ = store_environ(secret_service)
    result = run_store("""
        oskeyring.put("mfaenv-test-oskeyring", "foreign", "hunter2")
        attempt("read", oskeyring.read_entry, "mfaenv-test-oskeyring", "foreign", "mfaenv test entry 1")
        out["still"] = oskeyring.get("mfaenv-test-oskeyring", "foreign")
        oskeyring.delete("mfaenv-test-oskeyring", "foreign")
    """, environ)
    kind, message, status = result["read"]
    assert (kind, status) == ("CredentialStoreEntryError", 7)
    assert "not one mfaenv wrote" in message and "'mfaenv-test-oskeyring' / 'foreign'" in message
    assert "hunter2" not in message
    assert result["still"] == "hunter2"


def test_a_locked_store_that_is_not_unlocked_is_one_clear_error(fresh_secret_service):
    environ = store_environ(fresh_secret_service)
    # Lock the login keyring; nobody can answer the unlock prompt (no display): the user "refuses".
    lock = ("import secretstorage; c = secretstorage.dbus_init(); k = secretstorage.get_default_collection(c); "
            "k.lock(); assert k.is_locked()")
    subprocess.run([sys.executable, "-c", lock], env=environ, check=True, timeout=60)
    result = run_store('attempt("get", oskeyring.get, "mfaenv-test-oskeyring", "x")', environ)
    kind, message, status = result["get"]
    assert (kind, status) == ("CredentialStoreLockedError", 7)
    assert "Secret Service is locked" in message and "unlock it" in message


def test_no_store_at_all_is_one_clear_error():
    environ = store_environ({})
    environ.pop("DISPLAY", None)  # no bus to autolaunch either: headless Linux
    result = run_store("""
        attempt("get", oskeyring.get, "mfaenv-test-oskeyring", "x")
        out["name"] = oskeyring.backend_name()
    """, environ)
    kind, message, status = result["get"]
    assert (kind, status) == ("NoCredentialStoreError", 7)
    assert message.startswith("no OS credential store: the Secret Service cannot be reached")
    assert "\n" not in message and "Traceback" not in message
    assert result["name"] == "Secret Service"


def test_the_users_keyring_backend_choice_is_honoured():
    environ = {**store_environ({}), "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    result = run_store('attempt("put", oskeyring.put, "mfaenv-test-oskeyring", "x", "y")', environ)
    kind, message, status = result["put"]
    assert (kind, status) == ("NoCredentialStoreError", 7)
    environ["PYTHON_KEYRING_BACKEND"] = "no.such.Backend"
    result = run_store('attempt("get", oskeyring.get, "mfaenv-test-oskeyring", "x")', environ)
    kind, message, _status = result["get"]
    assert kind == "NoCredentialStoreError" and "PYTHON_KEYRING_BACKEND=no.such.Backend cannot be loaded" in message
