#!/usr/bin/env python3
"""Start-up benchmark: mfaenv's commands side by side with what they replace.

    python bench/bench.py            # ~15 rounds
    python bench/bench.py --quick    # 5 rounds, core rows only

Run it with the interpreter mfaenv is installed in (the dev venv): it uses
that interpreter's `mfaenv` console script (else `python -m mfaenv`), starts
a moto server on a free local port as the STS endpoint, and runs everything
from a throwaway HOME holding copies of tests/data/credentials and config.

Every comparison is measured pairwise: in each round the command and its
baseline run back to back, in alternating order, and the reported ratio is
the median of the per-round ratios, which cancels most of the drift of a
shared machine. Wall time is time.perf_counter() around subprocess.run();
CPU time is the child's user+sys from getrusage(RUSAGE_CHILDREN).

A benchmark is not a test: it prints "over" and a warning when a target is
missed, and still exits 0.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from emulator import clean_environ, make_aws_home, moto_server  # noqa: E402  (shared with the tests and the demo)

from mfaenv.sessions import MFA_SESSION_SECONDS  # noqa: E402
from mfaenv.profiles import Chain, Profile, ProfileStore  # noqa: E402
from mfaenv.sessions import ROLE_SESSION_SECONDS  # noqa: E402

PY = sys.executable
PROFILE = "stage"
CODE = "123456"
#: A role profile on top of stage's keys and MFA device, added to the throwaway config.
ROLE_PROFILE = "admin"
ROLE_CONFIG = f"""
[profile {ROLE_PROFILE}]
role_arn = arn:aws:iam::210987654321:role/admin
source_profile = {PROFILE}
"""


@dataclass
class Command:
    label: str
    argv: List[str]
    env: Optional[Dict[str, str]] = None  # None: the benchmark's base environment
    ok_codes: Sequence[int] = (0,)


@dataclass
class Pair:
    subject: Command
    baseline: Command
    target: Optional[float]  # highest acceptable median ratio; None: for reference only
    wall: List[float] = field(default_factory=list)
    base_wall: List[float] = field(default_factory=list)
    cpu: List[float] = field(default_factory=list)
    base_cpu: List[float] = field(default_factory=list)
    note: str = ""


# --------------------------------------------------------------------------- set-up


def start_moto(stack: contextlib.ExitStack) -> Optional[str]:
    """URL of a moto server that lives as long as ``stack``, or None if moto is not installed."""
    try:
        import moto.server  # noqa: F401
    except ImportError:
        return None
    return stack.enter_context(moto_server())


def base_environ(home: Path) -> Dict[str, str]:
    # Also without PYTHON*: a PYTHONPATH or PYTHONDEVMODE would skew every timing.
    return {k: v for k, v in clean_environ(home).items() if not k.startswith("PYTHON")}


def mfaenv_command() -> tuple:
    script = Path(PY).parent / "mfaenv"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)], f"console script {script}"
    return [PY, "-m", "mfaenv"], f"{PY} -m mfaenv (no console script beside the interpreter)"


def aws_cli() -> Optional[str]:
    """The `aws` installed beside this interpreter (the test extras), else the real one on PATH.

    A pyenv shim would add its own start-up to every run, so it is resolved first.
    """
    beside = Path(PY).parent / "aws"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    path = shutil.which("aws")
    if path and "/shims/" in path and shutil.which("pyenv"):
        real = subprocess.run(["pyenv", "which", "aws"], capture_output=True, text=True)
        if real.returncode == 0 and real.stdout.strip():
            return real.stdout.strip()
    return path


def stage_call(env: Dict[str, str]) -> Profile:
    """What mfaenv resolves for `stage` (source keys, MFA device, call region), so the
    reference scripts and the AWS CLI make exactly its call."""
    return ProfileStore(env).resolve(PROFILE)


PRINT_EXPORTS = """
for name, key in (("AWS_ACCESS_KEY_ID", "AccessKeyId"), ("AWS_SECRET_ACCESS_KEY", "SecretAccessKey"),
                  ("AWS_SESSION_TOKEN", "SessionToken")):
    print(f"export {name}='{r[key]}'")
print(f"export AWS_CREDENTIAL_EXPIRATION='{r['Expiration'].strftime('%Y-%m-%dT%H:%M:%SZ')}'")
"""


def sts_script(module: str, client: str, call: Profile) -> str:
    """A minimal script: import ``module``, build the STS client with ``client``, make the call, print exports."""
    return (
        f"import {module}\n"
        f"c = {client}('sts', region_name={call.call_region!r}, aws_access_key_id={call.access_key_id!r}, "
        f"aws_secret_access_key={call.secret_access_key!r})\n"
        f"r = c.get_session_token(SerialNumber={call.serial!r}, TokenCode={CODE!r}, "
        f"DurationSeconds={MFA_SESSION_SECONDS})['Credentials']\n" + PRINT_EXPORTS
    )


def role_script(chain: Chain) -> str:
    """A minimal boto3 script doing what `mfaenv admin CODE` does: GetSessionToken, then AssumeRole with that session."""
    base, role = chain.base, chain.roles[-1]
    return (
        "import boto3\n"
        f"c = boto3.client('sts', region_name={base.call_region!r}, aws_access_key_id={base.access_key_id!r}, "
        f"aws_secret_access_key={base.secret_access_key!r})\n"
        f"s = c.get_session_token(SerialNumber={base.serial!r}, TokenCode={CODE!r}, "
        f"DurationSeconds={MFA_SESSION_SECONDS})['Credentials']\n"
        f"c = boto3.client('sts', region_name={role.call_region!r}, aws_access_key_id=s['AccessKeyId'], "
        "aws_secret_access_key=s['SecretAccessKey'], aws_session_token=s['SessionToken'])\n"
        f"r = c.assume_role(RoleArn={role.arn!r}, RoleSessionName={role.session_name!r}, "
        f"DurationSeconds={ROLE_SESSION_SECONDS})['Credentials']\n" + PRINT_EXPORTS
    )


TRIVIAL_TYPER_APP = """
import typer
app = typer.Typer(add_completion=False)
@app.command()
def hello(name: str = "world"):
    print(name)
app(["--name", "x"])
"""


def session_environ(env: Dict[str, str], exports: str) -> Dict[str, str]:
    """env plus the variables of `export NAME='value'` lines (values never hold quotes here).

    bash and zsh text spells it `\\export`, so that an alias named export cannot intervene.
    """
    result = dict(env)
    for line in exports.splitlines():
        line = line[1:] if line.startswith("\\") else line
        if line.startswith("export ") and "=" in line:
            name, _, value = line[len("export "):].partition("=")
            result[name] = value.strip("'\"")
    return result


def tool_pairs(mfaenv: List[str], env: Dict[str, str], exports: str, aws: Optional[str], quick: bool) -> List[Pair]:
    """Rows of the tools that are not a shell, served from the session cache of ``env`` (filled already).

    The AWS CLI row compares a `credential_process` profile with a profile whose keys
    (the same session's) sit in the credentials file: the cost of the process itself.
    """
    pairs = [
        Pair(Command(f"mfaenv credential-process {PROFILE}", [*mfaenv, "credential-process", PROFILE], env=env),
             Command("python -c pass", [PY, "-c", "pass"]), 2.0),
        # What the standard library's INI and JSON readers alone would cost (both load re, and
        # re loads enum), with no mfaenv code at all: a cache hit reads and writes without them.
        Pair(Command("python -c 'import configparser, json'", [PY, "-c", "import configparser, json"]),
             Command("python -c pass", [PY, "-c", "pass"]), None),
        Pair(Command(f"mfaenv exec {PROFILE} -- true", [*mfaenv, "exec", PROFILE, "--", "true"], env=env),
             Command("python -c 'import typer'", [PY, "-c", "import typer"]), 1.3),
    ]
    if aws and not quick:
        session = session_environ({}, exports)
        home = Path(env["HOME"])
        with open(home / ".aws" / "config", "a", encoding="utf-8") as config:
            config.write(f"\n[profile cp]\ncredential_process = {shlex.join(mfaenv)} credential-process {PROFILE}\n"
                         f"region = us-east-1\n\n[profile keys]\nregion = us-east-1\n")
        with open(home / ".aws" / "credentials", "a", encoding="utf-8") as credentials:
            credentials.write(f"\n[keys]\naws_access_key_id = {session['AWS_ACCESS_KEY_ID']}\n"
                              f"aws_secret_access_key = {session['AWS_SECRET_ACCESS_KEY']}\n"
                              f"aws_session_token = {session['AWS_SESSION_TOKEN']}\n")
        who = [aws, "sts", "get-caller-identity", "--output", "json", "--profile"]
        pairs.append(Pair(Command("aws sts get-caller-identity --profile cp", [*who, "cp"], env=env),
                          Command("the same, keys in the credentials file", [*who, "keys"], env=env), 1.1))
    return pairs


# --------------------------------------------------------------------------- measuring


def other_cache_pairs(mfaenv: List[str], env: Dict[str, str], stack: contextlib.ExitStack,
                      warnings: List[str]) -> List[Pair]:
    """A cache hit where there is no XDG_RUNTIME_DIR: in /dev/shm, and in the OS credential store (Secret Service)."""
    typer_cmd = Command("python -c 'import typer'", [PY, "-c", "import typer"])
    pairs = []
    places = []
    if os.path.isdir("/dev/shm"):
        # A name of its own in the real /dev/shm (the user's mfaenv-<uid> is left alone), removed afterwards.
        name = f"mfaenv-bench-{os.getpid()}"
        stack.callback(shutil.rmtree, f"/dev/shm/{name}", True)
        places.append(("/dev/shm", {**env, "MFAENV_TEST_SHM_NAME": name}, 1.3))
    if shutil.which("gnome-keyring-daemon") and shutil.which("dbus-run-session"):
        from secret_service import secret_service_bus

        bus = stack.enter_context(secret_service_bus())
        places.append(("the Secret Service", {**env, **bus, "MFAENV_CACHE": "keyring"}, None))
    else:
        warnings.append("gnome-keyring-daemon or dbus-run-session missing: the keyring cache row is skipped")
    for where, cache_env, target in places:
        fill = Command(f"fill the cache in {where}", [*mfaenv, PROFILE, CODE], env=cache_env)
        failed = check(fill, run(fill, env)[2])
        if failed:
            warnings.append(failed)
            continue
        hit = Command(f"mfaenv {PROFILE} (cache hit, {where})", [*mfaenv, PROFILE], env=cache_env)
        pairs.append(Pair(hit, typer_cmd, target))
    return pairs


#: Renders of the bash prompt per run of the prompt-hook row: the hook's cost shows above bash's start.
RENDERS = 500


def prompt_hook_pair(session_env: Dict[str, str]) -> Pair:
    """bash rendering the prompt with the renewal hook, nothing due, against the same renders with no hook."""
    script = ROOT / "shell" / "mfaenv.bash"
    renders = f"for ((i = 0; i < {RENDERS}; i++)); do __mfaenv_renew; mfaenv_prompt -v segment; done"
    with_hook = f"source {shlex.quote(str(script))}; {renders}"
    without = f"source {shlex.quote(str(script))}; " + renders.replace("__mfaenv_renew; ", "")
    return Pair(
        Command(f"bash: {RENDERS} prompts with the renewal hook", ["bash", "--norc", "-c", with_hook], env=session_env),
        Command(f"bash: {RENDERS} prompts, no hook", ["bash", "--norc", "-c", without], env=session_env),
        1.5,
    )


def run(command: Command, env: Dict[str, str]) -> tuple:
    """(wall seconds, cpu seconds, completed process) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(
        command.argv, env=command.env or env, stdin=subprocess.DEVNULL, capture_output=True, text=True
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, result


def check(command: Command, result: subprocess.CompletedProcess) -> str:
    if result.returncode in command.ok_codes:
        return ""
    last = (result.stderr.strip().splitlines() or [""])[-1][:120]
    return f"{command.label} exits {result.returncode}: {last}"


def measure(pairs: List[Pair], rounds: int, env: Dict[str, str], progress: bool) -> None:
    for pair in pairs:  # warm-up: .pyc files, page cache, moto's first request
        for command in (pair.subject, pair.baseline):
            _, _, result = run(command, env)
            pair.note = pair.note or check(command, result)
    for number in range(rounds):
        if progress:
            print(f"\rround {number + 1}/{rounds}", end="", file=sys.stderr, flush=True)
        for pair in pairs:
            order = (pair.subject, pair.baseline) if number % 2 == 0 else (pair.baseline, pair.subject)
            for command in order:
                wall, cpu, result = run(command, env)
                pair.note = pair.note or check(command, result)
                if command is pair.subject:
                    pair.wall.append(wall)
                    pair.cpu.append(cpu)
                else:
                    pair.base_wall.append(wall)
                    pair.base_cpu.append(cpu)
    if progress:
        print(file=sys.stderr)


def ratio(values: List[float], bases: List[float]) -> float:
    return statistics.median(v / b for v, b in zip(values, bases) if b > 0)


# --------------------------------------------------------------------------- report


def table(pairs: List[Pair]) -> List[str]:
    lines = [
        "| command | median ms | baseline | baseline ms | ratio | cpu ratio | target | |",
        "|---|---:|---|---:|---:|---:|---:|---|",
    ]
    for pair in pairs:
        wall_ratio = ratio(pair.wall, pair.base_wall)
        cpu_ratio = ratio(pair.cpu, pair.base_cpu)
        if pair.target is None:
            verdict, target = "ref", "-"
        else:
            verdict, target = ("ok" if wall_ratio <= pair.target else "over"), f"<= {pair.target:.1f}x"
        if pair.note:
            verdict += " (!)"
        lines.append(
            f"| `{pair.subject.label}` | {statistics.median(pair.wall) * 1000:.0f} | `{pair.baseline.label}` "
            f"| {statistics.median(pair.base_wall) * 1000:.0f} | {wall_ratio:.2f}x | {cpu_ratio:.2f}x "
            f"| {target} | {verdict} |"
        )
    return lines


def versions(aws: Optional[str]) -> str:
    def version(module: str) -> str:
        try:
            from importlib.metadata import version as dist_version

            return dist_version(module)
        except Exception:
            return "not installed"

    parts = [
        f"Python {platform.python_version()}",
        f"mfaenv {version('mfaenv')}",
        f"boto3 {version('boto3')}",
        f"botocore {version('botocore')}",
        f"typer {version('typer')}",
        f"click {version('click')}",
    ]
    if aws:
        result = subprocess.run([aws, "--version"], capture_output=True, text=True)
        parts.append((result.stdout or result.stderr).strip().split(" ")[0])
    return ", ".join(parts) + f"; {platform.system()} {platform.machine()}, {os.cpu_count()} CPUs"


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=None, help="rounds of each pair (default 15, --quick 5)")
    parser.add_argument("--quick", action="store_true", help="5 rounds, core rows only (no AWS CLI, --version, prompt, status)")
    options = parser.parse_args(argv)
    rounds = options.rounds or (5 if options.quick else 15)

    mfaenv, how = mfaenv_command()
    aws = None if options.quick else aws_cli()

    with tempfile.TemporaryDirectory(prefix="mfaenv-bench-") as scratch:
        home = make_aws_home(Path(scratch))
        with open(home / ".aws" / "config", "a") as config:
            config.write(ROLE_CONFIG)
        env = base_environ(home)
        pairs: List[Pair] = []
        warnings: List[str] = []

        with contextlib.ExitStack() as stack:
            moto = start_moto(stack)
            if moto is None:
                warnings.append("moto is not installed (pip install 'moto[server]'): fetch rows skipped")
                session_env = env
            else:
                env["AWS_ENDPOINT_URL_STS"] = moto
                call = stage_call(env)
                boto3_cmd = Command("boto3 script", [PY, "-c", sts_script("boto3", "boto3.client", call)])
                fetch = Command(f"mfaenv {PROFILE} {CODE}", [*mfaenv, PROFILE, CODE])
                pairs.append(Pair(fetch, boto3_cmd, 0.9))
                # A role: GetSessionToken with the code, then AssumeRole signed with that session
                # (no cache here: the benchmark's environment has no XDG_RUNTIME_DIR).
                role_fetch = Command(f"mfaenv {ROLE_PROFILE} {CODE}", [*mfaenv, ROLE_PROFILE, CODE])
                role_baseline = Command("boto3 script, GetSessionToken + AssumeRole",
                                        [PY, "-c", role_script(ProfileStore(env).chain(ROLE_PROFILE))])
                pairs.append(Pair(role_fetch, role_baseline, 0.7))
                botocore_cmd = Command("botocore-client script", [
                    PY, "-c", sts_script("botocore.session", "botocore.session.get_session().create_client", call)])
                pairs.append(Pair(botocore_cmd, boto3_cmd, None))
                if aws:
                    awscmd = Command(
                        "aws sts get-session-token",
                        [aws, "sts", "get-session-token", "--profile", call.source, "--region", call.call_region,
                         "--serial-number", call.serial, "--token-code", CODE,
                         "--duration-seconds", str(MFA_SESSION_SECONDS), "--output", "json"],
                    )
                    pairs.append(Pair(awscmd, boto3_cmd, None))
                elif not options.quick:
                    warnings.append("AWS CLI not found: its row is skipped")
                _, _, first = run(fetch, env)  # the session for the prompt and status rows (no cache here)
                session_env = session_environ(env, first.stdout)
                # A new terminal: no session in the environment, the session cache in a private
                # runtime folder filled by one fetch; the hit itself calls no STS.
                runtime = Path(scratch) / "run"
                runtime.mkdir(mode=0o700)
                cache_env = {**env, "XDG_RUNTIME_DIR": str(runtime)}
                fill = Command("fill the cache", [*mfaenv, PROFILE, CODE], env=cache_env)
                failed = check(fill, run(fill, env)[2])
                if failed:  # the cache-hit, credential-process and exec rows would measure failures
                    warnings.append(failed)
                hit = Command(f"mfaenv {PROFILE} (cache hit)", [*mfaenv, PROFILE], env=cache_env)
                cache_hit = Pair(hit, Command("python -c 'import typer'", [PY, "-c", "import typer"]), 1.3)
                pairs.extend(tool_pairs(mfaenv, cache_env, first.stdout, aws, options.quick))
                if not options.quick:
                    pairs += other_cache_pairs(mfaenv, env, stack, warnings)

            typer_cmd = Command("python -c 'import typer'", [PY, "-c", "import typer"])
            if moto is not None:
                pairs.append(cache_hit)
            pairs.append(Pair(Command("mfaenv unset", [*mfaenv, "unset"]), typer_cmd, 1.3))
            pairs.append(Pair(Command("mfaenv --help", [*mfaenv, "--help"]), typer_cmd, 1.3))
            if not options.quick:
                pairs.append(Pair(Command("mfaenv --version", [*mfaenv, "--version"]), typer_cmd, 1.3))
                # With this shell's session in the environment, as the prompt would render it.
                pairs.append(Pair(Command("mfaenv prompt", [*mfaenv, "prompt"], env=session_env),
                                  Command("python -c pass", [PY, "-c", "pass"]), 1.5))
                pairs.append(Pair(Command("mfaenv status", [*mfaenv, "status"], env=session_env,
                                              ok_codes=(0,) if moto else (0, 1)), typer_cmd, 1.3))
                pairs.append(prompt_hook_pair(session_env))
            # Every Tab of completion: both AWS files read, every profile name printed.
            pairs.append(Pair(Command("mfaenv profiles", [*mfaenv, "profiles"]),
                              Command("python -c pass", [PY, "-c", "pass"]), 1.5))
            # typer's own cost, absolute: a typer upgrade moves the `import typer` baseline too,
            # and typer 0.29 imports pydantic only when an app runs (SPEC "Speed").
            pairs.append(Pair(Command("trivial typer app", [PY, "-c", TRIVIAL_TYPER_APP]), typer_cmd, None))
            init = Command("mfaenv init zsh", [*mfaenv, "init", "zsh"])
            pairs.append(Pair(init, Command("python -c pass", [PY, "-c", "pass"]), 1.5))
            # The floor of an older console script: pip < 24's wrapper does `import re` (~5 ms).
            pairs.append(Pair(init, Command("python -c 'import re'", [PY, "-c", "import re"]), None))
            # Nushell's module, when env.nu saves it at every start (README, "Nushell").
            pairs.append(Pair(Command("mfaenv init nu", [*mfaenv, "init", "nu"]),
                              Command("python -c pass", [PY, "-c", "pass"]), 1.5))

            measure(pairs, rounds, env, progress=sys.stderr.isatty())

    print(f"{rounds} rounds, pairwise; median of per-round ratios. {versions(aws)}.")
    print(f"mfaenv: {how}.")
    print()
    print("\n".join(table(pairs)))
    for pair in pairs:
        if pair.note:
            warnings.append(pair.note)
        if pair.target is not None and ratio(pair.wall, pair.base_wall) > pair.target:
            warnings.append(f"{pair.subject.label} is over its target of {pair.target:.1f}x {pair.baseline.label}")
    if warnings:
        print()
        for warning in warnings:
            print(f"warning: {warning}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
