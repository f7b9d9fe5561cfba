"""A real Secret Service for the tests: gnome-keyring-daemon inside dbus-run-session.

The OS keyring on Linux is the Secret Service; the tests run the real one,
gnome-keyring, on a private session bus, with a throwaway HOME for its files
and a login keyring unlocked with a throwaway password, as a desktop login
would unlock it. A test process (and every mfaenv it starts) reaches it
through DBUS_SESSION_BUS_ADDRESS. `.ci/run` installs gnome-keyring and dbus.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from typing import Dict, Iterator

import pytest

#: What the daemon's login keyring is unlocked with; nothing secret, thrown away with the bus.
THROWAWAY_PASSWORD = "mfaenv-tests-throwaway"

_START = (
    'printf "%s" "$MFAENV_TEST_KEYRING_PASSWORD" | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1 '
    '&& echo "$DBUS_SESSION_BUS_ADDRESS" && exec cat >/dev/null'  # lives until its stdin closes
)


@contextmanager
def secret_service_bus() -> Iterator[Dict[str, str]]:
    """Start a session bus with an unlocked gnome-keyring; yields the variables that reach it."""
    missing = [tool for tool in ("dbus-run-session", "gnome-keyring-daemon") if shutil.which(tool) is None]
    if missing:
        from conftest import IN_CI

        if IN_CI:
            pytest.fail(f"{', '.join(missing)} missing: .ci/run installs gnome-keyring and dbus")
        pytest.skip(f"{', '.join(missing)} not installed (apt install gnome-keyring dbus)")
    home = tempfile.mkdtemp(prefix="mfaenv-keyring-home-")
    environ = {key: value for key, value in os.environ.items() if not key.startswith(("DBUS_", "GNOME_KEYRING"))}
    environ.update(HOME=home, MFAENV_TEST_KEYRING_PASSWORD=THROWAWAY_PASSWORD, XDG_RUNTIME_DIR="")
    environ.pop("XDG_RUNTIME_DIR")
    process = subprocess.Popen(
        ["dbus-run-session", "--", "sh", "-c", _START], env=environ,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        address = process.stdout.readline().strip()
        if not address:
            pytest.fail("gnome-keyring-daemon did not start on the private session bus")
        yield {"DBUS_SESSION_BUS_ADDRESS": address}
    finally:
        process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def secret_service() -> Iterator[Dict[str, str]]:
    """One unlocked Secret Service for the whole run: add the returned variables to a test's environment.

    Items outlive a test: a test names its own (a fresh profile or key) or removes what it stored.
    """
    with secret_service_bus() as variables:
        yield variables


@pytest.fixture
def fresh_secret_service() -> Iterator[Dict[str, str]]:
    """A Secret Service of its own, for a test that must start from an empty store."""
    with secret_service_bus() as variables:
        yield variables
