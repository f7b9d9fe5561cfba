#!/usr/bin/env python3
"""Network benchmark: an STS fetch over TLS with a real round-trip time, mfaenv beside its peers.

    python bench/network.py              # RTT 50 ms, 5 rounds
    python bench/network.py --rtt 100 --rounds 9

Run it with the interpreter mfaenv is installed in (the dev venv). An STS stand-in
(tests/sts_standin.py) serves HTTPS with a throwaway certificate for the real STS
host names, trusted through AWS_CA_BUNDLE; every client reaches it through
HTTPS_PROXY, a proxy on 127.0.0.1 (tests/tls_proxy.py) that tunnels each CONNECT
to the stand-in and delays every byte by half the RTT each way, and the CONNECT
answer by one RTT (a TCP handshake). No endpoint variable is set: each client picks
its regional endpoint as it would for AWS.

Each round runs every command twice back to back, with and without the added
latency (alternating which goes first). For each command: the median wall time; the TCP connections and TLS handshakes the
stand-in saw per run; whether each connection's socket had TCP_NODELAY (from one
extra run under strace, when strace works here); and the ratio to the physical floor:
the fewest round trips the work needs (TCP 1, TLS 1.3 1, then one per STS call on
one connection) times the RTT, plus the same command's wall time with no added
latency in the same round (its local compute); the median of the rounds' ratios. The peers run where installed in this
interpreter's environment (boto3 always; the AWS CLI and aws-mfa if present):
`pip install aws-mfa` for that row; awsume is not on the package index this
machine reaches.

A benchmark is not a test: it prints the table (Markdown) and exits 0.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from emulator import clean_environ, make_aws_home  # noqa: E402
from sts_standin import StsStandIn  # noqa: E402
from tls_proxy import RecordingProxy, certificate, server_context  # noqa: E402

PY = sys.executable
REGION = "us-east-1"
HOST = f"sts.{REGION}.amazonaws.com"
SERIAL = "arn:aws:iam::111111111111:mfa/jane"
ROLE_ARN = "arn:aws:iam::210987654321:role/admin"
CODE = "123456"
KEYS = ("AKIAEXAMPLESTAGE0001", "example/stage+SECRET0000000000000000000")  # [stage-default] of tests/data

BOTO3_PLAIN = f"""
import boto3
sts = boto3.client("sts", aws_access_key_id={KEYS[0]!r}, aws_secret_access_key={KEYS[1]!r})
c = sts.get_session_token(SerialNumber={SERIAL!r}, TokenCode={CODE!r})["Credentials"]
print(c["AccessKeyId"])
"""
BOTO3_ROLE = BOTO3_PLAIN + f"""
role = boto3.client("sts", aws_access_key_id=c["AccessKeyId"], aws_secret_access_key=c["SecretAccessKey"],
                    aws_session_token=c["SessionToken"])
print(role.assume_role(RoleArn={ROLE_ARN!r}, RoleSessionName="bench")["Credentials"]["AccessKeyId"])
"""


@dataclass
class Row:
    name: str
    argv: List[str]
    calls: int  # STS calls it makes: the floor is (2 + calls) round trips on one connection
    stdin: Optional[str] = None
    walls: Dict[float, List[float]] = field(default_factory=dict)
    connections: List[int] = field(default_factory=list)
    handshakes: List[int] = field(default_factory=list)
    nodelay: str = "?"
    failed: str = ""


def rows(home: Path) -> List[Row]:
    mfaenv = shutil.which("mfaenv", path=str(Path(PY).parent)) or ""
    found = [
        Row("mfaenv stage CODE (plain fetch)", [mfaenv, "stage", CODE] if mfaenv else [PY, "-m", "mfaenv", "stage", CODE], 1),
        Row("mfaenv admin CODE (role fetch)", [mfaenv, "admin", CODE] if mfaenv else [PY, "-m", "mfaenv", "admin", CODE], 2),
        Row("boto3 script: get_session_token", [PY, "-c", BOTO3_PLAIN], 1),
        Row("boto3 script: get_session_token + assume_role", [PY, "-c", BOTO3_ROLE], 2),
    ]
    aws = shutil.which("aws", path=str(Path(PY).parent)) or shutil.which("aws")
    if aws:
        found.append(Row("aws sts get-session-token", [aws, "sts", "get-session-token", "--profile", "stage-default",
                                                       "--serial-number", SERIAL, "--token-code", CODE], 1))
        found.append(Row("aws sts assume-role (with the code)", [
            aws, "sts", "assume-role", "--profile", "stage-default", "--role-arn", ROLE_ARN,
            "--role-session-name", "bench", "--serial-number", SERIAL, "--token-code", CODE], 1))
    aws_mfa = shutil.which("aws-mfa", path=str(Path(PY).parent))
    if aws_mfa:
        with open(home / ".aws" / "credentials", "a") as credentials:
            credentials.write(f"\n[bench-long-term]\naws_access_key_id = {KEYS[0]}\naws_secret_access_key = {KEYS[1]}\n"
                              f"aws_mfa_device = {SERIAL}\n")
        found.append(Row("aws-mfa (GetSessionToken)", [aws_mfa, "--profile", "bench", "--force"], 1, stdin=CODE + "\n"))
        found.append(Row("aws-mfa --assume-role (with the code)", [
            aws_mfa, "--profile", "bench", "--force", "--assume-role", ROLE_ARN, "--role-session-name", "bench"],
            1, stdin=CODE + "\n"))
    return found


def run(row: Row, environ: Dict[str, str], standin: StsStandIn, count: bool) -> float:
    before = (standin.connections, standin.handshakes)
    start = time.perf_counter()
    result = subprocess.run(row.argv, env=environ, input=row.stdin, capture_output=True, text=True, timeout=120)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        row.failed = (result.stderr.strip().splitlines() or ["exit %d" % result.returncode])[-1][:120]
    if count:
        row.connections.append(standin.connections - before[0])
        row.handshakes.append(standin.handshakes - before[1])
    return wall


def nodelay(row: Row, environ: Dict[str, str], proxy_port: int, folder: Path) -> str:
    """"k/n": of the n connections the command opened to the proxy, k had TCP_NODELAY set before connect."""
    strace = shutil.which("strace")
    if not strace:
        return "n/a (no strace)"
    trace = folder / "trace"
    result = subprocess.run([strace, "-f", "-qq", "-e", "trace=setsockopt,connect", "-o", str(trace), *row.argv],
                            env=environ, input=row.stdin, capture_output=True, text=True, timeout=120)
    if not trace.exists() or result.returncode != 0 and "ptrace" in result.stderr:
        return "n/a (strace)"
    flagged, total, with_flag = set(), 0, 0
    for line in trace.read_text().splitlines():
        pid, _, call = line.strip().partition(" ")
        call = call.strip()
        if call.startswith("setsockopt(") and "TCP_NODELAY, [1]" in call:
            flagged.add((pid, call[len("setsockopt("):].split(",", 1)[0]))
        elif call.startswith("connect(") and f"htons({proxy_port})" in call:
            fd = call[len("connect("):].split(",", 1)[0]
            total += 1
            with_flag += (pid, fd) in flagged
            flagged.discard((pid, fd))
    return f"{with_flag}/{total}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rtt", type=float, default=50.0, help="round-trip time to add, in ms (default 50)")
    parser.add_argument("--rounds", type=int, default=5, help="runs of each command per RTT (default 5)")
    args = parser.parse_args()
    rtt = args.rtt / 1000

    with contextlib.ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mfaenv-netbench-")))
        home = make_aws_home(folder)
        with open(home / ".aws" / "config", "a") as config:
            config.write(f"\n[profile admin]\nrole_arn = {ROLE_ARN}\nsource_profile = stage\n")
        bundle, cert, key = certificate(folder / "tls", [HOST])
        standin = stack.enter_context(StsStandIn(key_files=[home / ".aws" / "credentials"], tls=server_context(cert, key)))
        upstream = standin._server.server_address[:2]
        table = rows(home)
        proxies = {delay: stack.enter_context(RecordingProxy(upstream, rtt=delay)) for delay in (0.0, rtt)}
        environs = {}
        for delay, proxy in proxies.items():
            environ = {k: v for k, v in clean_environ(home).items() if "proxy" not in k.lower()}
            environ.update(HTTPS_PROXY=proxy.url, AWS_CA_BUNDLE=str(bundle), AWS_REGION=REGION,
                           AWS_DEFAULT_REGION=REGION, MFAENV_CACHE_DIR=str(folder / "cache"))
            environs[delay] = environ
        for round_number in range(args.rounds):
            for row in table:  # interleaved, and each pair back to back: drift of a shared machine hits both alike
                order = (0.0, rtt) if round_number % 2 == 0 else (rtt, 0.0)
                for delay in order:
                    row.walls.setdefault(delay, []).append(run(row, environs[delay], standin, count=delay == rtt))
        port = int(proxies[0.0].url.rpartition(":")[2])
        for row in table:
            row.nodelay = nodelay(row, environs[0.0], port, folder)

    print(f"RTT {args.rtt:g} ms, {args.rounds} rounds, Python {sys.version.split()[0]}, "
          f"`python bench/network.py --rtt {args.rtt:g} --rounds {args.rounds}`\n")
    print("| command | wall (ms) | local compute (ms) | floor RTTs | x floor | TCP conns | TLS handshakes | TCP_NODELAY |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for row in table:
        print(f"| {row.name} | {statistics.median(row.walls[rtt]) * 1000:.0f} | "
              f"{statistics.median(row.walls[0.0]) * 1000:.0f} | {2 + row.calls} | {ratio(row, rtt):.2f} "
              f"| {_counts(row.connections)} | {_counts(row.handshakes)} | {row.nodelay} |"
              + (f" failed: {row.failed}" if row.failed else ""))
    mfaenv_rows = table[:2]
    if any(set(row.connections) != {1} for row in mfaenv_rows):
        print("\nwarning: an mfaenv run used more than one connection", file=sys.stderr)
    if ratio(mfaenv_rows[1], rtt) > 1.15:
        print("warning: the role fetch is over 1.15x its floor", file=sys.stderr)


def ratio(row: Row, rtt: float) -> float:
    """Median over rounds of: wall time with the RTT / (floor RTTs x RTT + wall time without it, same round)."""
    pairs = zip(row.walls[rtt], row.walls[0.0])
    return statistics.median(wall / ((2 + row.calls) * rtt + local) for wall, local in pairs)


def _counts(values: List[int]) -> str:
    return "/".join(str(v) for v in sorted(set(values))) if values else "?"


if __name__ == "__main__":
    main()
