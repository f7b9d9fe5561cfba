"""The session cache in the OS credential store (MFAENV_CACHE=keyring; the default on macOS and Windows).

Exercised on Linux's store, the Secret Service: a real gnome-keyring on a
private bus (tests/secret_service.py), through the real CLI and the STS
stand-in. What the store holds is read back with secretstorage, as another
program on the desktop would see it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Dict, List

import pytest

from conftest import run_mfaenv
from test_cache_cli import (  # noqa: F401 (fixtures)
    assert_asks_for_a_code, assert_reused, cache_env, fetch, new_terminal, runtime, warnings,
)
from test_imports import AWS_SDK, CLI_FRAMEWORKS, imported_modules, loaded, stderr_without_importtime

SERVICE = "mfaenv session cache"


def store_items(environ: Dict[str, str]) -> List[dict]:
    """Every item of mfaenv's service in the Secret Service: its attributes and its secret."""
    script = (
        "import json, secretstorage\n"
        "c = secretstorage.dbus_init()\n"
        "k = secretstorage.get_default_collection(c)\n"
        f"items = k.search_items({{'service': {SERVICE!r}}})\n"
        "print(json.dumps(sorted([dict(i.get_attributes(), secret=i.get_secret().decode()) for i in items],"
        " key=lambda i: i['username'])))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], env=environ, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture
def keyring_env(cache_env: Dict[str, str], fresh_secret_service: Dict[str, str]) -> Dict[str, str]:
    """MFAENV_CACHE=keyring with an empty Secret Service, and no folder the cache could use instead."""
    environ = {name: value for name, value in cache_env.items() if name != "XDG_RUNTIME_DIR"}
    return {**environ, **fresh_secret_service, "MFAENV_CACHE": "keyring"}


def test_sessions_are_kept_found_listed_and_forgotten_in_the_credential_store(keyring_env, sts_standin):
    admin = fetch("admin", keyring_env)
    items = store_items(keyring_env)
    sessions = [item for item in items if item["username"] != "index"]
    assert len(sessions) == 2, "one item per session: the MFA session and the role session"
    assert all(item["secret"].startswith("mfaenv session cache entry 2\n") for item in sessions)
    assert any(admin["AWS_SESSION_TOKEN"] in item["secret"] for item in sessions)
    assert [item["username"] for item in items if item["username"] == "index"] == ["index"]

    reused = assert_reused(new_terminal("admin", keyring_env, sts_standin))
    assert reused["AWS_SESSION_TOKEN"] == admin["AWS_SESSION_TOKEN"]
    assert_reused(new_terminal("dev", keyring_env, sts_standin))  # the MFA session beneath, on its own

    listed = run_mfaenv(["list"], keyring_env)
    assert listed.returncode == 0, listed.stderr
    rows = {line.split()[0]: line for line in listed.stdout.splitlines()[1:] if line[:1].strip()}
    assert "left)" in rows["admin"] and "left)" in rows["dev"]

    forgot = run_mfaenv(["forget", "admin"], keyring_env)
    assert forgot.returncode == 0 and "forgot 2 cached sessions of 'admin'" in forgot.stderr, forgot.stderr
    assert_asks_for_a_code(new_terminal("admin", keyring_env, sts_standin))

    fetch("stage", keyring_env)
    fetch("readonly", keyring_env)
    forgot = run_mfaenv(["forget"], keyring_env)
    assert forgot.returncode == 0 and "forgot 3 cached sessions" in forgot.stderr, forgot.stderr
    assert store_items(keyring_env) == []


def test_an_item_mfaenv_did_not_write_is_ignored_not_fatal(keyring_env, sts_standin):
    fetch("stage", keyring_env)
    (item,) = [item for item in store_items(keyring_env) if item["username"] != "index"]
    spoil = (
        "import keyring.backends.SecretService as s\n"
        f"s.Keyring().set_password({SERVICE!r}, {item['username']!r}, 'someone else was here')\n"
    )
    subprocess.run([sys.executable, "-c", spoil], env=keyring_env, check=True, timeout=60)

    assert_asks_for_a_code(new_terminal("stage", keyring_env, sts_standin))
    assert run_mfaenv(["stage", "123456"], keyring_env).returncode == 0


def test_no_credential_store_is_a_notice_and_the_session_is_not_cached(cache_env):
    environ = {name: value for name, value in cache_env.items() if name not in ("XDG_RUNTIME_DIR", "DISPLAY")}
    environ = {name: value for name, value in environ.items() if not name.startswith("DBUS_")}
    environ["MFAENV_CACHE"] = "keyring"

    result = run_mfaenv(["stage", "123456"], environ)

    assert result.returncode == 0, result.stderr
    (warning,) = warnings(result)
    assert warning.startswith("mfaenv: warning: no OS credential store: the Secret Service cannot be reached")
    assert warning.endswith("; going on without the session cache")
    (line,) = [line for line in result.stderr.splitlines() if line != warning]
    assert line.endswith("; fetched, not cached (no OS credential store: see the warning, or set MFAENV_CACHE_DIR)")


def test_a_hit_through_the_credential_store_loads_only_its_backend(keyring_env):
    fetch("stage", keyring_env)

    modules, result = imported_modules(["credential-process", "stage"], keyring_env)

    assert result.returncode == 0, stderr_without_importtime(result)
    assert '"AccessKeyId": "ASIA' in result.stdout
    assert {"mfaenv.stores.keyringcache", "keyring.backends.SecretService"} <= set(modules)
    assert loaded(modules, CLI_FRAMEWORKS + AWS_SDK) == []
    # keyring's discovery (keyring.get_keyring()) would load every backend it ships.
    assert loaded(modules, ("keyring.backends.chainer", "keyring.backends.kwallet", "keyring.backends.libsecret")) == []


def test_a_session_the_store_cannot_keep_unchanged_is_not_stored_and_breaks_no_later_run(keyring_env, sts_standin):
    """Issue 16 item 11, in the credential store: a newline in a token is exported, never stored."""
    from sts_standin import Response, credentials_body, success

    sts_standin.check_signatures = False
    sts_standin.answer(Response(200, credentials_body("ASIAHOSTILE000000001", "s", "tok\nen", "2099-01-01T00:00:00Z")),
                       success())
    first = run_mfaenv(["dev", "123456"], keyring_env)
    assert first.returncode == 0, first.stderr
    assert "the session of 'dev' is not cached" in first.stderr
    assert [item for item in store_items(keyring_env) if item["username"] != "index"] == []

    later = new_terminal("admin", keyring_env, sts_standin)
    assert_asks_for_a_code(later)
    assert "STS" not in later.stderr


def test_forget_a_profile_forgets_the_roles_assumed_through_it_in_the_credential_store(keyring_env, sts_standin):
    """Issue 16 item 13, in the credential store."""
    fetch("admin", keyring_env)

    result = run_mfaenv(["forget", "dev"], keyring_env)
    assert result.returncode == 0, result.stderr
    assert "forgot 2 cached sessions of 'dev' (1 of them assumed through its session)" in result.stderr
    assert [item for item in store_items(keyring_env) if item["username"] != "index"] == []
    assert_asks_for_a_code(new_terminal("admin", keyring_env, sts_standin))
