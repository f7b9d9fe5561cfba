"""The HTTP layer (mfaenv/aws/sts.py): connections, socket options, endpoints, and a code sent once.

Counted at the STS stand-in (tests/sts_standin.py): one TCP connection carries a
whole role chain; a cache hit opens none; a server that closes after each answer
still gives the right session. Where the request goes (FIPS, dual-stack, EUSC) is
read from the CONNECT line at a recording proxy (tests/tls_proxy.py) that tunnels
to the stand-in over TLS, trusted through AWS_CA_BUNDLE: the host must be the one
a botocore STS client picks for the same settings. Nothing here is timed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict

import pytest

from conftest import exported, run_mfaenv
from sts_standin import SESSION_KEY_ID, StsStandIn, dropped, success
from test_endpoints import BOTOCORE_DATA, botocore_sts_url
from tls_proxy import RecordingProxy, certificate, server_context

ADMIN_ARN = "arn:aws:iam::210987654321:role/admin"
OPS_ARN = "arn:aws:iam::333333333333:role/ops"
ROLES = f"""
[profile admin]
role_arn = {ADMIN_ARN}
source_profile = stage

[profile ops]
role_arn = {OPS_ARN}
source_profile = admin
"""
PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy",
                   "NO_PROXY", "no_proxy")


def add_config(aws_home: Path, text: str) -> None:
    with open(aws_home / ".aws" / "config", "a") as config:
        config.write("\n" + text)


@pytest.fixture
def chain_env(standin_env: Dict[str, str], aws_home: Path, tmp_path: Path) -> Dict[str, str]:
    add_config(aws_home, ROLES)
    environ = {key: value for key, value in standin_env.items() if key not in PROXY_VARIABLES}
    return {**environ, "AWS_REGION": "us-east-1", "MFAENV_CACHE_DIR": str(tmp_path / "cache")}


def ok(args, environ) -> Dict[str, str]:
    result = run_mfaenv(args, environ)
    assert result.returncode == 0, result.stderr
    return exported(result.stdout)


# -- one connection per process --------------------------------------------------------------------


def test_a_role_fetch_uses_one_connection_for_both_calls(chain_env, sts_standin):
    values = ok(["admin", "123456"], chain_env)
    assert sts_standin.actions() == ["GetSessionToken", "AssumeRole"]
    assert sts_standin.connections == 1
    assert [request.connection for request in sts_standin.requests] == [1, 1]
    assert values["AWS_ACCESS_KEY_ID"] == sts_standin.issued[-1].access_key_id


def test_a_two_role_chain_uses_one_connection_and_a_cache_hit_none(chain_env, sts_standin):
    values = ok(["ops", "123456"], chain_env)
    assert sts_standin.actions() == ["GetSessionToken", "AssumeRole", "AssumeRole"]
    assert [request.form.get("RoleArn") for request in sts_standin.requests] == [None, ADMIN_ARN, OPS_ARN]
    assert sts_standin.connections == 1
    assert values["AWS_ACCESS_KEY_ID"] == sts_standin.issued[-1].access_key_id

    again = ok(["ops"], chain_env)  # a new process: served from the session cache
    assert again == values
    assert sts_standin.connections == 1 and len(sts_standin.requests) == 3


def test_a_server_that_closes_after_each_answer_still_gives_the_chain(chain_env, sts_standin):
    sts_standin.keep_alive = False
    values = ok(["ops", "123456"], chain_env)
    assert sts_standin.actions() == ["GetSessionToken", "AssumeRole", "AssumeRole"]
    assert sts_standin.connections == 3
    assert values["AWS_ACCESS_KEY_ID"] == sts_standin.issued[-1].access_key_id
    assert [request.signing_key_id for request in sts_standin.requests[1:]] == [
        issued.access_key_id for issued in sts_standin.issued[:2]]


def test_requests_leave_with_tcp_nodelay(chain_env, sts_standin, tmp_path):
    """As botocore's clients set it: headers and body are written apart, and Nagle would hold the body."""
    strace = shutil.which("strace")
    if strace is None:
        pytest.skip("strace is not installed")
    trace = tmp_path / "trace"
    result = subprocess.run([strace, "-f", "-qq", "-e", "trace=setsockopt,connect", "-o", str(trace),
                             sys.executable, "-m", "mfaenv", "admin", "123456"], stdin=subprocess.DEVNULL,
                            env=chain_env, capture_output=True, text=True, timeout=120)
    if result.returncode != 0 and "ptrace" in result.stderr:
        pytest.skip(f"strace cannot trace here: {result.stderr.strip()[:200]}")
    assert result.returncode == 0, result.stderr
    lines = trace.read_text().splitlines()
    port = chain_env["AWS_ENDPOINT_URL_STS"].rpartition(":")[2]
    connects = [line for line in lines if "connect(" in line and f"htons({port})" in line]
    assert len(connects) == 1, connects
    socket_fd = connects[0].split("connect(", 1)[1].split(",", 1)[0]
    nodelay = [line for line in lines if f"setsockopt({socket_fd}, SOL_TCP, TCP_NODELAY, [1]" in line]
    assert nodelay, "\n".join(line for line in lines if "setsockopt" in line)


# -- a code is sent once (issue 16, item 5) --------------------------------------------------------


def test_a_connection_closed_after_the_code_was_sent_is_not_retried_with_that_code(chain_env, sts_standin):
    sts_standin.answer(dropped(), success())
    result = run_mfaenv(["stage", "123456"], chain_env)
    assert result.returncode == 5, result.stderr
    assert result.stdout == ""
    assert len(sts_standin.calls("GetSessionToken")) == 1, "the same code was sent again"
    assert "may have used the MFA code" in result.stderr and "wait for the next code" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_a_role_assumed_with_the_code_is_not_retried_either(chain_env, aws_home, sts_standin):
    add_config(aws_home, f"[profile long]\nrole_arn = {ADMIN_ARN}\nsource_profile = stage\nduration_seconds = 28800\n")
    sts_standin.answer(dropped(), success())
    result = run_mfaenv(["long", "123456"], chain_env)
    assert result.returncode == 5, result.stderr
    assert [request.form.get("TokenCode") for request in sts_standin.requests] == ["123456"]
    assert "may have used the MFA code" in result.stderr


def test_a_request_without_a_code_is_sent_again_on_a_new_connection(chain_env, sts_standin):
    """AssumeRole signed by the MFA session carries no code: trying it again spends nothing."""
    sts_standin.answer(success(), dropped(), success())
    values = ok(["admin", "123456"], chain_env)
    assert sts_standin.actions() == ["GetSessionToken", "AssumeRole", "AssumeRole"]
    assert [request.connection for request in sts_standin.requests] == [1, 1, 2]
    assert values["AWS_ACCESS_KEY_ID"] == sts_standin.issued[-1].access_key_id != SESSION_KEY_ID


# -- endpoints, seen at a recording proxy ----------------------------------------------------------

HOSTS = [
    "sts.us-east-1.amazonaws.com", "sts-fips.us-east-1.amazonaws.com", "sts.us-east-1.api.aws",
    "sts-fips.us-east-1.api.aws", "sts.eusc-de-east-1.amazonaws.eu", "sts-fips.eusc-de-east-1.amazonaws.eu",
    "sts.eusc-de-east-1.api.amazonwebservices.eu", "sts.us-gov-west-1.amazonaws.com",
    "sts-fips.cn-north-1.amazonaws.com.cn",
]


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    return certificate(tmp_path_factory.mktemp("tls"), HOSTS)


@pytest.fixture
def via_proxy(aws_home, tls_files, tmp_path):
    """(environment, stand-in, proxy): no endpoint variable; HTTPS_PROXY tunnels any host to the TLS stand-in."""
    bundle, cert, key = tls_files
    standin = StsStandIn(key_files=[aws_home / ".aws" / "credentials"], tls=server_context(cert, key))
    with standin, RecordingProxy(standin._server.server_address[:2]) as proxy:
        from emulator import clean_environ

        environ = {key: value for key, value in clean_environ(aws_home).items() if key not in PROXY_VARIABLES}
        environ.update(HTTPS_PROXY=proxy.url, AWS_CA_BUNDLE=str(bundle), MFAENV_CACHE_DIR=str(tmp_path / "cache"))
        yield environ, standin, proxy


@pytest.mark.parametrize("region, fips, dualstack, where", [
    ("us-east-1", False, False, None),
    ("us-east-1", True, False, "env"),
    ("us-east-1", False, True, "config"),
    ("us-east-1", True, True, "config"),
    ("eusc-de-east-1", False, False, None),
    ("eusc-de-east-1", True, False, "config"),
    ("eusc-de-east-1", False, True, "env"),
    ("us-gov-west-1", True, False, "env"),
    ("cn-north-1", True, False, "config"),
])
def test_the_host_is_the_one_botocore_picks(region, fips, dualstack, where, via_proxy, aws_home):
    environ, standin, proxy = via_proxy
    settings = {"use_fips_endpoint": fips, "use_dualstack_endpoint": dualstack}
    if where == "config":  # on the role profile: the whole chain's calls follow it
        add_config(aws_home, ROLES.replace("source_profile = stage\n", "source_profile = stage\n" + "".join(
            f"{key} = {str(value).lower()}\n" for key, value in settings.items()), 1))
    else:
        add_config(aws_home, ROLES)
        if where == "env":
            environ.update(AWS_USE_FIPS_ENDPOINT=str(fips).lower(), AWS_USE_DUALSTACK_ENDPOINT=str(dualstack).lower())
    environ["AWS_REGION"] = region
    expected = botocore_sts_url(region, fips, dualstack).removeprefix("https://")
    assert expected in HOSTS, expected

    values = ok(["admin", "123456"], environ)
    assert proxy.hosts == [expected], proxy.connects
    assert standin.actions() == ["GetSessionToken", "AssumeRole"]
    assert standin.connections == 1 and standin.handshakes == 1
    assert values["AWS_ACCESS_KEY_ID"] == standin.issued[-1].access_key_id


def test_a_variable_set_to_false_wins_over_the_profile(via_proxy, aws_home):
    environ, standin, proxy = via_proxy
    add_config(aws_home, "[profile stage]\nuse_fips_endpoint = true\n")
    ok(["stage", "123456"], {**environ, "AWS_REGION": "us-east-1", "AWS_USE_FIPS_ENDPOINT": "false"})
    assert proxy.hosts == ["sts.us-east-1.amazonaws.com"]


def test_a_combination_botocore_refuses_is_one_line_before_any_code(via_proxy, aws_home, tmp_path):
    environ, standin, proxy = via_proxy
    data = json.loads((BOTOCORE_DATA / "partitions.json").read_text())
    for item in data["partitions"]:
        if item["id"] == "aws-eusc":
            item["outputs"]["supportsFIPS"] = False
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "partitions.json").write_text(json.dumps(data))
    add_config(aws_home, "[profile stage]\nuse_fips_endpoint = true\nmfa_process = echo 424242\n")
    environ.update(AWS_DATA_PATH=str(tmp_path / "data"), AWS_REGION="eusc-de-east-1")

    for args in (["stage", "123456"], ["stage"]):  # a code given, and a code the code command would give
        result = run_mfaenv(args, environ)
        assert result.returncode == 3, result.stderr
        assert result.stdout == ""
        assert result.stderr.strip() == (
            "mfaenv: profile 'stage': no STS endpoint for region eusc-de-east-1: partition aws-eusc offers no "
            "FIPS endpoint; set use_fips_endpoint or use_dualstack_endpoint (or AWS_USE_FIPS_ENDPOINT, "
            "AWS_USE_DUALSTACK_ENDPOINT) to false"
        )
    assert proxy.connects == [] and standin.requests == []


@pytest.mark.parametrize("region, allowed", [("us-east-1", ()), ("eusc-de-east-1", ("re",))])
def test_a_cache_hit_keyed_by_partition_opens_no_connection_and_loads_no_botocore(region, allowed, via_proxy, aws_home):
    """No endpoint variable: the cache key holds the partition, read from botocore's data without botocore
    (and, for the first partition's regions, without json or re)."""
    from test_imports import imported_modules, loaded, stderr_without_importtime

    environ, standin, proxy = via_proxy
    environ["AWS_REGION"] = region
    ok(["stage", "123456"], environ)
    assert standin.connections == 1
    modules, result = imported_modules(["credential-process", "stage"], environ)
    assert result.returncode == 0, stderr_without_importtime(result)
    assert '"AccessKeyId": "%s"' % standin.issued[0].access_key_id in result.stdout
    assert "mfaenv.aws.endpoints" in modules, "the cache key did not take the partition path"
    assert loaded(modules, ("botocore", "boto3", "json", "re", "_hashlib")) == loaded(modules, allowed)
    assert standin.connections == 1 and proxy.connects == [f"sts.{region}.amazonaws{'.eu' if 'eusc' in region else '.com'}:443"]
