"""Shared fixtures: a real STS emulator over HTTP, a throwaway HOME, real shells.

moto's server runs as a separate process on 127.0.0.1 with a free port and
mfaenv reaches it through AWS_ENDPOINT_URL_STS, exactly as a user would point
it at any endpoint. Nothing in boto3/botocore is mocked.
"""

from __future__ import annotations

import fcntl
import os
import select
import shlex
import shutil
import subprocess
import sys
import termios
import time
from pathlib import Path
from typing import Dict, Optional, Sequence

import pytest

from emulator import DATA, clean_environ, free_port, make_aws_home, moto_server, wait_for_http  # noqa: F401 (re-exported)

#: The STS stand-in's fixtures (sts_standin, standin_env), the Secret Service (secret_service) and the
#: federation stand-in (federation), for every test file.
pytest_plugins = ["sts_standin", "secret_service", "federation_standin"]

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
#: Shells whose emitted code the tests execute for real.
REAL_SHELLS = ("bash", "zsh", "fish")


@pytest.fixture(scope="session")
def sts_endpoint() -> str:
    """URL of a moto server (the STS emulator) running for the whole test session."""
    with moto_server() as url:
        yield url


@pytest.fixture
def aws_home(tmp_path: Path) -> Path:
    """A throwaway HOME whose ~/.aws holds the example credentials and config files."""
    return make_aws_home(tmp_path)


@pytest.fixture
def env(aws_home: Path, sts_endpoint: str) -> Dict[str, str]:
    """Environment for running mfaenv against the emulator from the throwaway HOME."""
    environ = clean_environ(aws_home)
    environ["AWS_ENDPOINT_URL_STS"] = sts_endpoint
    return environ


def run_mfaenv(args: Sequence[str], env: Dict[str, str], input: Optional[str] = None, timeout: float = 60,
               cwd: Optional[Path] = None):
    """Run the installed mfaenv in a subprocess, as a user's shell would.

    It runs in a new session with stdin not a tty, so it has no controlling
    terminal (like cron or CI): a test can never prompt on the developer's
    terminal, and "no terminal" errors are the same locally and in CI.
    """
    return subprocess.run(
        [sys.executable, "-m", "mfaenv", *args],
        env=env,
        input=input,
        stdin=None if input is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        start_new_session=True,
        cwd=cwd,
    )


def run_on_terminal(argv: Sequence[str], environ: Dict[str, str], *keys: str, stdout_on_terminal: bool = False,
                    timeout: float = 30):
    """Run with a pseudo-terminal as the controlling terminal; stdin not on it, stdout only if asked.

    Waits for the question ("MFA code for") on the terminal, types the first
    keys (`"123456\\r"`: a code and Enter; `"\\x04"`: Ctrl-D), waits for the
    question again for the next keys, and returns (process, what the terminal
    showed, stdout, stderr); stdout is "" when it went to the terminal.
    """
    master, slave = os.openpty()
    slave_name = os.ttyname(slave)

    def own_the_terminal():  # in the child: a new session whose controlling terminal is the pty
        os.setsid()
        fd = os.open(slave_name, os.O_RDWR)
        fcntl.ioctl(fd, termios.TIOCSCTTY, 0)
        os.close(fd)

    process = subprocess.Popen(
        list(argv), env=environ, stdin=subprocess.DEVNULL, stdout=slave if stdout_on_terminal else subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, preexec_fn=own_the_terminal,
    )
    os.close(slave)
    screen = b""
    try:
        deadline = time.monotonic() + timeout
        for asked, typed in enumerate(keys, start=1):
            while screen.count(b"MFA code for") < asked:
                assert time.monotonic() < deadline, f"no question #{asked} on the terminal; it showed {screen!r}"
                ready, _, _ = select.select([master], [], [], 0.2)
                try:
                    screen += os.read(master, 4096) if ready else b""
                except OSError:  # EIO: no one has the terminal open (yet: until mfaenv opens /dev/tty)
                    time.sleep(0.05)
            os.write(master, typed.encode())
        stdout, stderr = process.communicate(timeout=timeout)
        while select.select([master], [], [], 0.1)[0]:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            screen += chunk
    finally:
        os.close(master)
        if process.poll() is None:
            process.kill()
            process.wait()
    return process, screen.decode("utf-8", "replace"), stdout or "", stderr


#: Nushell as the README's test command installs it (`npm ci --prefix tests/js`): the official
#: binary from the npm package @nushell/linux-x64, the one the `nushell` package's node launcher
#: would start; run directly, a test starts one process fewer and mfaenv's parent is `nu`.
NPM_NUSHELL = Path(__file__).resolve().parent / "js" / "node_modules" / "@nushell"


#: The oldest Nushell the integration supports (0.108: `@complete`), the same package under another
#: name: tests/test_nushell.py runs every scenario in it too.
OLDEST_NUSHELL = Path(__file__).resolve().parent / "js" / "node_modules" / "nushell-oldest" / "bin" / "nu"


def find_shell(name: str) -> Optional[str]:
    """Path of a shell: the one on PATH wins; Nushell is also looked for where npm put it."""
    path = shutil.which(name)
    if path is None and name == "nu":
        path = next((str(nu) for nu in sorted(NPM_NUSHELL.glob("*/bin/nu")) if os.access(nu, os.X_OK)), None)
    return path


def require_shell(name: str) -> str:
    """Path of a real shell; skipped locally when missing, a failure in CI."""
    path = find_shell(name)
    if path is None:
        if IN_CI:
            pytest.fail(f"{name} is not installed; CI must install it (see .ci/run)")
        pytest.skip(f"{name} is not installed")
    return path


def run_shell(name: str, script: str, env: Dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    """Run a script in a real, non-interactive shell with no rc files and, as run_mfaenv, no terminal."""
    path = require_shell(name)
    flags = {"bash": ["--norc", "--noprofile"], "zsh": ["-f"], "fish": ["--no-config"], "nu": ["--no-config-file"]}[name]
    return subprocess.run(
        [path, *flags, "-c", script], env=env, capture_output=True, text=True, timeout=timeout,
        stdin=subprocess.DEVNULL, start_new_session=True,
    )


def closed_sts(environ: Dict[str, str]) -> Dict[str, str]:
    """The environment with STS at a port nobody listens on: any STS call would fail."""
    return {**environ, "AWS_ENDPOINT_URL_STS": f"http://127.0.0.1:{free_port()}"}


def exported(stdout: str) -> Dict[str, Optional[str]]:
    """NAME -> value of what mfaenv printed for bash; None for an `\\unset NAME`."""
    values: Dict[str, Optional[str]] = {}
    for line in stdout.splitlines():
        if line.startswith("\\export "):
            name, _, quoted = line[len("\\export "):].partition("=")
            values[name] = shlex.split(quoted)[0]
        elif line.startswith("\\unset "):
            values[line.split()[1]] = None
    return values


@pytest.fixture(params=REAL_SHELLS)
def shell_name(request) -> str:
    require_shell(request.param)
    return request.param
