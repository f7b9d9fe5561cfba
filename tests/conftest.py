"""Shared fixtures: a real STS emulator over HTTP, a throwaway HOME, real shells.

moto's server runs as a separate process on 127.0.0.1 with a free port and
mfaenv reaches it through AWS_ENDPOINT_URL_STS, exactly as a user would point
it at any endpoint. Nothing in boto3/botocore is mocked.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, Optional, Sequence

import pytest

from emulator import DATA, clean_environ, free_port, make_aws_home, moto_server, wait_for_http  # noqa: F401 (re-exported)

#: The STS stand-in's fixtures (sts_standin, standin_env), for every test file.
pytest_plugins = ["sts_standin"]

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


def run_mfaenv(args: Sequence[str], env: Dict[str, str], input: Optional[str] = None, timeout: float = 60):
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
    )


def require_shell(name: str) -> str:
    """Path of a real shell; skipped locally when missing, a failure in CI."""
    path = shutil.which(name)
    if path is None:
        if IN_CI:
            pytest.fail(f"{name} is not installed; CI must install it (see .ci/run)")
        pytest.skip(f"{name} is not installed")
    return path


def run_shell(name: str, script: str, env: Dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    """Run a script in a real, non-interactive shell with no rc files and, as run_mfaenv, no terminal."""
    path = require_shell(name)
    flags = {"bash": ["--norc", "--noprofile"], "zsh": ["-f"], "fish": ["--no-config"]}[name]
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
