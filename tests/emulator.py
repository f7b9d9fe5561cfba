"""A local STS emulator (moto's server) for tests, the demo and the benchmark."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Dict, Iterator

#: The example credentials and config files, in the layouts users have.
DATA = Path(__file__).parent / "data"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except urllib.error.HTTPError:
            return  # it answered
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not come up in {timeout}s") from None
            time.sleep(0.1)


def clean_environ(home: Path) -> Dict[str, str]:
    """This process's environment without anything AWS or mfaenv, HOME replaced, bash syntax, no success line."""
    env = {
        key: value
        for key, value in os.environ.items()
        # XDG_RUNTIME_DIR: the developer's own session cache is never used; cache tests choose a folder.
        if not key.startswith(("AWS_", "MFAENV_")) and key not in ("NO_COLOR", "XDG_RUNTIME_DIR")
    }
    env["HOME"] = str(home)
    env["MFAENV_SHELL"] = "bash"
    # No /dev/shm fallback cache (mfaenv-<uid> is the developer's, shared by every test run of
    # the user): a test that wants a cache chooses its folder (see mfaenv/stores/sessionstore.py).
    env["MFAENV_TEST_SHM_NAME"] = ""
    # The success line is tested on its own (test_feedback); elsewhere stderr stays for errors and warnings.
    env["MFAENV_QUIET"] = "1"
    return env


def make_aws_home(parent: Path) -> Path:
    """A throwaway HOME under ``parent`` whose ~/.aws holds copies of the example files."""
    home = parent / "home"
    aws = home / ".aws"
    aws.mkdir(parents=True)
    for name in ("credentials", "config"):
        shutil.copy(DATA / name, aws / name)
    (aws / "credentials").chmod(0o600)
    return home


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """Run moto's server on 127.0.0.1 with a free port; yield its URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(url + "/moto-api/")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
