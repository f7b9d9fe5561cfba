"""`mfaenv console PROFILE`: the AWS console as the profile's role, or the account's sign-in page.

End to end through the CLI: STS is the stand-in (it checks every signature and
counts calls), the federation endpoint a stand-in of its own that checks the
Session it receives is the role session STS issued, and the browser a BROWSER
script that records what it was given and fetches it as a browser would.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Dict, List
from urllib.parse import parse_qs, urlsplit

import pytest

import sts_standin as standin
from conftest import run_mfaenv
from federation_standin import FederationStandIn
from mfaenv.aws import signin
from test_errors import PROFILE, SECRETS, STS_REJECTED, STS_UNAVAILABLE, USAGE, assert_clean_failure
from test_roles import ADMIN_ARN, ROLE_PROFILES, add_config

#: A browser that records the URL it was given (its command line), follows mfaenv's one-time
#: local address once as a browser does, records the redirect, and tries the address again.
BROWSER_SCRIPT = """\
import http.client, json, sys
from urllib.parse import urlsplit

record = {"argv": sys.argv[1:]}
parts = urlsplit(sys.argv[1])
if parts.hostname == "127.0.0.1":
    for attempt in ("first", "again"):
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        connection.request("GET", parts.path)
        answer = connection.getresponse()
        record[attempt] = [answer.status, answer.getheader("Location")]
        connection.close()
with open(sys.argv[0] + ".record", "a") as out:
    out.write(json.dumps(record) + "\\n")
sys.exit(int(open(sys.argv[0] + ".status").read()) if __import__("os").path.exists(sys.argv[0] + ".status") else 0)
"""


@pytest.fixture
def browser(tmp_path: Path) -> Path:
    script = tmp_path / "bin" / "recording-browser"
    script.parent.mkdir()
    script.write_text(f"#!{sys.executable}\n" + BROWSER_SCRIPT)
    script.chmod(0o755)
    return script


def opened(browser: Path) -> List[dict]:
    record = Path(str(browser) + ".record")
    return [json.loads(line) for line in record.read_text().splitlines()] if record.exists() else []


@pytest.fixture
def console_env(standin_env: Dict[str, str], aws_home: Path, tmp_path: Path, sts_standin, federation,
                browser: Path) -> Dict[str, str]:
    """Role profiles, a cache of the test's own, the federation stand-in, and the recording browser.

    The stand-in accepts exactly the sessions the STS stand-in issued.
    """
    add_config(aws_home, ROLE_PROFILES)
    federation.valid = lambda key_id, secret, token: any(
        (one.access_key_id, one.secret_access_key, one.session_token) == (key_id, secret, token)
        for one in sts_standin.issued
    )
    environ = {key: value for key, value in standin_env.items() if key not in ("DISPLAY", "WAYLAND_DISPLAY", "TERM")}
    environ.update(MFAENV_CACHE_DIR=str(tmp_path / "cache"), MFAENV_FEDERATION_URL=federation.url,
                   BROWSER=str(browser), PATH=str(browser.parent), MFAENV_CODE_COMMAND="echo 123456")
    environ["PATH"] = os.pathsep.join([str(browser.parent), "/usr/bin", "/bin"])
    return environ


def login_parameters(url: str) -> Dict[str, str]:
    query = parse_qs(urlsplit(url).query, strict_parsing=True)
    assert all(len(values) == 1 for values in query.values()), url
    return {name: values[0] for name, values in query.items()}


def assert_no_secret(text: str, federation: FederationStandIn, sts_standin) -> None:
    for secret in (*SECRETS, *federation.tokens, *(one.secret_access_key for one in sts_standin.issued),
                   *(one.session_token for one in sts_standin.issued)):
        assert secret not in text


# -- a role profile: signed in through the federation endpoint ------------------------------------------


def test_a_role_profile_opens_the_console_signed_in_as_the_role(console_env, sts_standin, federation, browser):
    sts_standin.role(ADMIN_ARN, mfa=True)
    result = run_mfaenv(["console", "admin"], {**console_env, "MFAENV_QUIET": ""})
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    # One code: an MFA session, then the role assumed with it; that role session went to the federation endpoint.
    assert sts_standin.actions() == ["GetSessionToken", "AssumeRole"]
    role_session = sts_standin.issued[-1]
    assert role_session.role_arn == ADMIN_ARN
    [received] = federation.received
    assert (received.method, received.action, received.in_url, received.accepted) == ("POST", "getSigninToken", False, True)
    assert received.session == {"sessionId": role_session.access_key_id, "sessionKey": role_session.secret_access_key,
                                "sessionToken": role_session.session_token}
    # The browser got a one-time local address, never the token; the address redirected once to the login URL.
    [visit] = opened(browser)
    assert not any(token in arg for arg in visit["argv"] for token in federation.tokens)
    assert visit["argv"][0].startswith("http://127.0.0.1:")
    status, location = visit["first"]
    assert status == 303
    assert visit["again"][0] == 404, "the one-time address answered twice"
    assert location.startswith(federation.url + "?")
    assert login_parameters(location) == {
        "Action": "login",
        "Issuer": "mfaenv",
        "Destination": "https://eu-central-1.console.aws.amazon.com/console/home?region=eu-central-1",
        "SigninToken": federation.tokens[0],
    }
    assert "console for admin (role admin, account 210987654321)" in result.stderr
    assert "fetched" in result.stderr and "opened in the browser" in result.stderr
    assert_no_secret(result.stderr, federation, sts_standin)


def test_the_code_can_be_given_as_for_get_and_exec(console_env, sts_standin, federation, browser):
    """`mfaenv console admin 654321` and --code-command: the no-code advice names them, so console takes them."""
    environ = {**console_env, "MFAENV_CODE_COMMAND": ""}
    result = run_mfaenv(["console", "admin", "654321"], environ)
    assert result.returncode == 0, result.stderr
    assert [request.form.get("TokenCode") for request in sts_standin.calls("GetSessionToken")] == ["654321"]
    other = run_mfaenv(["console", "admin", "--code-command", "echo 111222", "--stdout"],
                       {**environ, "MFAENV_CACHE_DIR": str(Path(environ["MFAENV_CACHE_DIR"]) / "other")})
    assert other.returncode == 0, other.stderr
    assert [request.form.get("TokenCode") for request in sts_standin.calls("GetSessionToken")] == ["654321", "111222"]
    bad = run_mfaenv(["console", "admin", "12345"], environ)
    assert (bad.returncode, bad.stdout) == (2, "") and "six digits" in bad.stderr


def test_a_plain_profile_refuses_a_bad_destination_too(console_env, sts_standin):
    result = run_mfaenv(["console", "stage", "--destination", "http://evil.example/"], console_env)
    assert (result.returncode, result.stdout) == (2, "")
    assert sts_standin.requests == []


def test_the_role_session_is_reused_from_the_cache_without_a_code(console_env, sts_standin, federation, browser):
    assert run_mfaenv(["console", "admin"], console_env).returncode == 0
    again = run_mfaenv(["console", "admin"], {**console_env, "MFAENV_CODE_COMMAND": "false"})
    assert again.returncode == 0, again.stderr
    assert sts_standin.actions() == ["GetSessionToken", "AssumeRole"], "the second console called STS"
    assert [one.accepted for one in federation.received] == [True, True]
    assert len(opened(browser)) == 2


def test_a_cached_role_session_with_15_minutes_or_less_left_is_replaced(console_env, sts_standin, federation):
    """As credential-process: a session about to end would end the console with it; a new one, with no code."""
    sts_standin.answer(standin.success(), standin.success(expires_in=14 * 60), standin.success())
    assert run_mfaenv(["get", "admin"], console_env).returncode == 0  # caches a 14-minute role session
    result = run_mfaenv(["console", "admin", "--stdout"], {**console_env, "MFAENV_CODE_COMMAND": "false"})
    assert result.returncode == 0, result.stderr
    assert sts_standin.actions() == ["GetSessionToken", "AssumeRole", "AssumeRole"]
    assert federation.received[-1].session["sessionId"] == sts_standin.issued[-1].access_key_id


def test_stdout_prints_the_login_url_and_opens_no_browser(console_env, sts_standin, federation, browser):
    result = run_mfaenv(["console", "admin", "--stdout", "--destination", "ec2/home#Instances"], console_env)
    assert result.returncode == 0, result.stderr
    assert opened(browser) == []
    url = result.stdout.strip()
    assert result.stdout == url + "\n"
    assert url.startswith(federation.url + "?")
    parameters = login_parameters(url)
    assert parameters["SigninToken"] == federation.tokens[0]
    assert parameters["Destination"] == "https://eu-central-1.console.aws.amazon.com/ec2/home?region=eu-central-1#Instances"
    assert result.stderr == ""  # MFAENV_QUIET


@pytest.mark.parametrize("destination, expected", [
    ("s3/buckets", "https://eu-central-1.console.aws.amazon.com/s3/buckets?region=eu-central-1"),
    ("/cloudwatch/home?region=us-west-2", "https://eu-central-1.console.aws.amazon.com/cloudwatch/home?region=us-west-2"),
    ("https://s3.console.aws.amazon.com/s3/buckets", "https://s3.console.aws.amazon.com/s3/buckets"),
])
def test_destination_paths_and_console_urls(console_env, federation, destination, expected):
    result = run_mfaenv(["console", "admin", "--stdout", "--destination", destination], console_env)
    assert result.returncode == 0, result.stderr
    assert login_parameters(result.stdout.strip())["Destination"] == expected


@pytest.mark.parametrize("destination", [
    "https://evil.example/console.aws.amazon.com", "http://console.aws.amazon.com/", "https://console.amazonaws.cn/",
    "ec2/home now",
])
def test_a_destination_off_the_partitions_console_is_refused_before_any_call(console_env, sts_standin, federation,
                                                                            destination):
    result = run_mfaenv(["console", "admin", "--destination", destination], console_env)
    assert_clean_failure(result, USAGE, ["--destination"])
    assert sts_standin.requests == [] and federation.received == []


# -- a plain MFA profile: the account's sign-in page --------------------------------------------------


def test_a_plain_profile_opens_its_accounts_sign_in_page_with_no_sts_call(console_env, sts_standin, federation, browser):
    result = run_mfaenv(["console", "stage"], {**console_env, "MFAENV_QUIET": "", "MFAENV_CODE_COMMAND": "false"})
    assert result.returncode == 0, result.stderr
    assert sts_standin.requests == [] and federation.received == []
    [visit] = opened(browser)
    assert visit["argv"] == ["https://111111111111.signin.aws.amazon.com/console"]
    [line] = result.stderr.splitlines()
    assert "plain MFA profile" in line and "account 111111111111" in line and "no code" in line
    assert_no_secret(result.stdout + result.stderr, federation, sts_standin)


def test_a_plain_profile_with_stdout_prints_the_sign_in_page(console_env, sts_standin):
    result = run_mfaenv(["console", "prod", "--stdout"], console_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "https://222222222222.signin.aws.amazon.com/console\n"
    assert sts_standin.requests == []


# -- partitions ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("region, signin_host, console_host", [
    ("eu-central-1", "signin.aws.amazon.com", "console.aws.amazon.com"),
    ("cn-north-1", "signin.amazonaws.cn", "console.amazonaws.cn"),
    ("us-gov-west-1", "signin.amazonaws-us-gov.com", "console.amazonaws-us-gov.com"),
    ("eusc-de-east-1", "signin.amazonaws-eusc.eu", "console.amazonaws-eusc.eu"),
])
def test_each_partition_has_its_sign_in_and_console_hosts(region, signin_host, console_host):
    hosts = signin.partition_hosts(region)
    assert (hosts.signin, hosts.console) == (signin_host, console_host)
    assert hosts.federation_url({}) == f"https://{region}.{signin_host}/federation"
    assert hosts.console_home() == f"https://{region}.{console_host}/console/home?region={region}"
    assert hosts.account_signin_page("123456789012") == f"https://123456789012.{signin_host}/console"


@pytest.mark.parametrize("region, console_host, signin_host", [
    ("cn-northwest-1", "console.amazonaws.cn", "signin.amazonaws.cn"),
    ("us-gov-east-1", "console.amazonaws-us-gov.com", "signin.amazonaws-us-gov.com"),
    ("eusc-de-east-1", "console.amazonaws-eusc.eu", "signin.amazonaws-eusc.eu"),
])
def test_the_profiles_region_chooses_the_partition_end_to_end(console_env, aws_home, federation, region, console_host,
                                                              signin_host):
    add_config(aws_home, f"[profile far]\nrole_arn = {ADMIN_ARN}\nsource_profile = stage\nregion = {region}\n"
                         f"[profile far-plain]\nsource_profile = stage-default\nregion = {region}\n"
                         f"mfa_serial = arn:aws:iam::111111111111:mfa/jane\n")
    result = run_mfaenv(["console", "far", "--stdout"], console_env)
    assert result.returncode == 0, result.stderr
    assert login_parameters(result.stdout.strip())["Destination"] == (
        f"https://{region}.{console_host}/console/home?region={region}")
    plain = run_mfaenv(["console", "far-plain", "--stdout"], console_env)
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout == f"https://111111111111.{signin_host}/console\n"


# -- errors -------------------------------------------------------------------------------------------


def test_the_federation_endpoint_refusing_the_session(console_env, sts_standin, federation):
    federation.valid = lambda *session: False
    result = run_mfaenv(["console", "admin"], console_env)
    assert_clean_failure(result, STS_REJECTED, ["'admin'", "refused the role session", "HTTP 400"])
    assert_no_secret(result.stderr, federation, sts_standin)


@pytest.mark.parametrize("answer, mentions", [
    ((503, b"busy"), ["unavailable after 3 attempts", "HTTP 503"]),
    ((200, b"<html>not json</html>"), ["not a sign-in token"]),
    ((200, json.dumps({"SigninToken": "has spaces in it"}).encode()), ["not a sign-in token"]),
    ((200, b"{" + b" " * (2 * 1024 * 1024) + b"}"), ["more than 1024 KiB"]),
])
def test_the_federation_endpoint_answering_nonsense_or_failing(console_env, sts_standin, federation, answer, mentions):
    federation.answer(*answer)
    result = run_mfaenv(["console", "admin"], console_env)
    assert_clean_failure(result, STS_UNAVAILABLE, ["'admin'", *mentions])
    assert_no_secret(result.stderr, federation, sts_standin)


def test_the_federation_endpoint_unreachable_or_slow(console_env, sts_standin, federation):
    from conftest import free_port

    closed = run_mfaenv(["console", "admin"], {**console_env, "MFAENV_FEDERATION_URL": f"http://127.0.0.1:{free_port()}/"})
    assert_clean_failure(closed, STS_UNAVAILABLE, ["'admin'", "cannot reach it"])
    federation.hang = 30
    slow = run_mfaenv(["console", "admin"], {**console_env, "MFAENV_TOTAL_TIMEOUT": "1"})
    assert_clean_failure(slow, STS_UNAVAILABLE, ["'admin'", "no answer in time"])


def test_a_malformed_federation_url_is_refused_before_a_code_is_spent(console_env, sts_standin):
    result = run_mfaenv(["console", "admin"], {**console_env, "MFAENV_FEDERATION_URL": "ftp://nowhere"})
    assert_clean_failure(result, PROFILE, ["MFAENV_FEDERATION_URL"])
    assert sts_standin.requests == []


def test_a_role_too_short_for_the_console_is_refused_before_a_code_is_spent(console_env, aws_home, sts_standin):
    add_config(aws_home, f"[profile brief]\nrole_arn = {ADMIN_ARN}\nsource_profile = stage\nduration_seconds = 900\n")
    result = run_mfaenv(["console", "brief"], console_env)
    assert_clean_failure(result, PROFILE, ["'brief'", "duration_seconds 900", "too short"])
    assert sts_standin.requests == []


def test_a_role_session_sts_hands_out_too_short_is_refused(console_env, sts_standin, federation):
    sts_standin.answer(standin.success(), standin.success(expires_in=10 * 60))
    result = run_mfaenv(["console", "admin"], console_env)
    assert_clean_failure(result, PROFILE, ["'admin'", "minutes left"])
    assert federation.received == []


def test_an_unknown_profile(console_env, sts_standin, federation):
    result = run_mfaenv(["console", "nosuch"], console_env)
    assert_clean_failure(result, PROFILE, ["'nosuch'"])
    assert sts_standin.requests == [] and federation.received == []


def test_no_browser_prints_the_url_on_stdout_and_says_so(console_env, sts_standin, federation):
    """No BROWSER and nothing webbrowser knows on PATH (a server, an SSH session): the URL goes to stdout."""
    environ = {key: value for key, value in console_env.items() if key != "BROWSER"}
    environ["PATH"] = str(Path(sys.executable).parent)
    result = run_mfaenv(["console", "admin"], environ)
    assert result.returncode == 0, result.stderr
    assert login_parameters(result.stdout.strip())["SigninToken"] == federation.tokens[0]
    [line] = result.stderr.splitlines()
    assert "cannot open a browser" in line and "--stdout" in line and "on stdout" in line
    assert_no_secret(result.stderr, federation, sts_standin)


def test_a_failing_browser_prints_the_url_on_stdout(console_env, federation, browser):
    Path(str(browser) + ".status").write_text("3")
    result = run_mfaenv(["console", "admin"], console_env)
    assert result.returncode == 0, result.stderr
    assert login_parameters(result.stdout.strip())["SigninToken"] == federation.tokens[0]
    assert "cannot open a browser (the browser failed" in result.stderr


# -- the hand-over to the browser, and what --destination accepts -------------------------------------


def test_the_one_time_address_answers_only_a_connection_of_this_user():
    """The owner of the connecting socket, as /proc/net/tcp shows it (Linux); no such connection, no answer."""
    import socket

    from mfaenv.terminal import browser

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    client = socket.create_connection(server.getsockname())
    try:
        if not Path("/proc/net/tcp").exists():
            pytest.skip("no /proc/net/tcp")
        client_port, server_port = client.getsockname()[1], server.getsockname()[1]
        assert browser._same_user(client_port, server_port)
        other = next(port for port in range(1024, 65536) if port not in (client_port, server_port))
        assert not browser._same_user(client_port, other), "a connection that does not exist was let in"
    finally:
        client.close()
        server.close()


def test_a_role_session_in_this_shell_serves_without_sts(console_env, sts_standin, federation):
    from conftest import exported

    shell = exported(run_mfaenv(["get", "admin"], console_env).stdout)
    # The same STS endpoint (a session is reused only for the endpoint it came from), and no STS call made.
    environ = {**console_env, "MFAENV_CACHE": "off", "MFAENV_QUIET": ""}
    environ.update((name, value) for name, value in shell.items() if value is not None)
    before = len(sts_standin.requests)
    result = run_mfaenv(["console", "admin", "--stdout"], environ)
    assert result.returncode == 0, result.stderr
    assert len(sts_standin.requests) == before
    assert federation.received[-1].session["sessionId"] == shell["AWS_ACCESS_KEY_ID"]
    assert "reused from this shell" in result.stderr


from hypothesis import given, settings, strategies as st  # noqa: E402


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_any_destination_lands_on_the_partitions_console_or_is_refused(destination):
    from mfaenv.commands.console import destination_url
    from mfaenv.errors import UsageError

    hosts = signin.Hosts("eu-central-1", "eu-central-1.signin.aws.amazon.com", "signin.aws.amazon.com",
                         "console.aws.amazon.com")
    try:
        url = destination_url(destination, hosts)
    except UsageError:
        return
    parts = urlsplit(url)
    assert parts.scheme == "https"
    assert parts.hostname == "console.aws.amazon.com" or parts.hostname.endswith(".console.aws.amazon.com")
    assert parts.username is None and parts.password is None


def test_a_browser_that_never_asks_for_the_page_leaves_the_url_on_stdout(console_env, federation):
    """`true` as the browser: started fine, never fetches; after MFAENV_BROWSER_TIMEOUT the URL is printed instead."""
    result = run_mfaenv(["console", "admin"], {**console_env, "BROWSER": "true", "MFAENV_BROWSER_TIMEOUT": "0.5"})
    assert result.returncode == 0, result.stderr
    assert login_parameters(result.stdout.strip())["SigninToken"] == federation.tokens[0]
    assert "did not ask for the sign-in page within 0.5 s" in result.stderr


def test_stdout_says_on_stderr_what_the_url_is_and_never_shows_it_there(console_env, sts_standin, federation):
    result = run_mfaenv(["console", "admin", "--stdout"], {**console_env, "MFAENV_QUIET": ""})
    assert result.returncode == 0, result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith("mfaenv: console for admin (role admin, account 210987654321)")
    assert "works once, within 15 minutes" in line
    assert_no_secret(line, federation, sts_standin)


def test_the_profile_option_as_the_aws_cli_takes_it(console_env, sts_standin):
    result = run_mfaenv(["console", "--profile", "prod", "--stdout"], console_env)
    assert (result.returncode, result.stdout) == (0, "https://222222222222.signin.aws.amazon.com/console\n"), result.stderr
    assert_clean_failure(run_mfaenv(["console"], console_env), USAGE, ["console needs a profile"])
    # As for get: with --profile, the word after it is the code, checked before anything else.
    assert_clean_failure(run_mfaenv(["console", "-p", "prod", "stage"], console_env), USAGE, ["six digits"])


def test_every_region_botocore_lists_gets_the_sign_in_hosts_of_its_partition():
    """The sign-in rules and aws/endpoints.py (the STS calls' partition) read the same partitions.json alike."""
    from mfaenv.aws import endpoints

    domains = {"aws": "aws.amazon.com", "aws-cn": "amazonaws.cn", "aws-us-gov": "amazonaws-us-gov.com",
               "aws-eusc": "amazonaws-eusc.eu"}
    seen = set()
    for partition in endpoints.partitions():
        for region in sorted(partition.regions):
            hosts = signin.partition_hosts(region)
            assert hosts.regional_signin == f"{region}.{hosts.signin}"
            assert hosts.console == "console." + hosts.signin[len("signin."):]
            if endpoints.partition(region).id in domains:
                assert hosts.signin == "signin." + domains[endpoints.partition(region).id], region
                seen.add(endpoints.partition(region).id)
    assert seen == set(domains)
