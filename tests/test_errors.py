"""Every failure the SPEC lists, as a user meets it.

Each one must leave stdout empty (so the caller's ``eval`` does nothing),
exit with its documented status, and print exactly one line on stderr that
starts with ``mfaenv: ``, names the profile where there is one, shows no
traceback and no secret.

STS refusals, throttling and hangs come from the local stand-in of
``tests/sts_standin.py``; it also counts requests, which proves that bad
input is refused before anything goes over the network.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Dict, Iterable

import pytest

import sts_standin as standin
from conftest import clean_environ, free_port, run_mfaenv
from conftest import run_mfaenv as run_without_terminal
from sts_standin import sts_standin  # noqa: F401 (fixture)

# Exit statuses of mfaenv/errors.py, as the README documents them.
USAGE, PROFILE, STS_REJECTED, STS_UNAVAILABLE, NO_CODE, INTERNAL = 2, 3, 4, 5, 6, 70

#: The long-term secrets of tests/data/credentials, and what the stand-in hands out.
SECRETS = (
    "example/stage+SECRET0000000000000000000",
    "example/prod+SECRET00000000000000000000",
    "SECRETLINE/in+a+broken+file000000000000",
    standin.SESSION_SECRET,
    standin.SESSION_TOKEN,
)


@pytest.fixture
def standin_env(aws_home: Path, sts_standin) -> Dict[str, str]:  # noqa: F811
    """The throwaway HOME, with STS pointed at the stand-in."""
    environ = clean_environ(aws_home)
    environ["AWS_ENDPOINT_URL_STS"] = sts_standin.url
    return environ


def assert_clean_failure(result, status: int, mentions: Iterable[str] = ()) -> str:
    """Empty stdout, the status, one `mfaenv: ` line naming `mentions`, no traceback, no secret."""
    assert result.stdout == "", "a failure must print nothing for eval to run"
    lines = result.stderr.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{result.stderr}"
    line = lines[0]
    assert line.startswith("mfaenv: "), line
    assert "Traceback" not in result.stderr
    for secret in SECRETS:
        assert secret not in result.stderr, "a secret reached stderr"
    for text in mentions:
        assert text in line, f"{text!r} missing from: {line}"
    assert result.returncode == status, line
    return line


def write_credentials(home: Path, text: str) -> Path:
    path = home / ".aws" / "credentials"
    path.write_text(text)
    return path


# -- profiles ---------------------------------------------------------------------------------


def test_unknown_profile_names_it_and_the_way_out(standin_env, sts_standin):  # noqa: F811
    result = run_mfaenv(["nosuch", "123456"], standin_env)
    line = assert_clean_failure(result, PROFILE, ["'nosuch'", "mfaenv list"])
    assert "not found" in line
    assert sts_standin.requests == []


def test_profile_without_long_term_keys(standin_env, aws_home, sts_standin):  # noqa: F811
    write_credentials(aws_home, "[lonely]\naws_arn_mfa = arn:aws:iam::111111111111:mfa/jane\n")
    result = run_mfaenv(["lonely", "123456"], standin_env)
    assert_clean_failure(result, PROFILE, ["'lonely'", "no long-term keys", "[lonely-default]"])
    assert sts_standin.requests == []


def test_a_session_in_the_source_is_not_long_term_keys(standin_env, aws_home, sts_standin):  # noqa: F811
    write_credentials(aws_home, (
        "[ci]\naws_access_key_id = ASIAOLDSESSION000001\naws_secret_access_key = SECRETLINE/in+a+broken+file000000000000\n"
        "aws_session_token = old-token\nmfa_serial = arn:aws:iam::111111111111:mfa/jane\n"
    ))
    result = run_mfaenv(["ci", "123456"], standin_env)
    assert_clean_failure(result, PROFILE, ["'ci'", "no long-term keys"])
    assert sts_standin.requests == []


def test_profile_without_mfa_device(standin_env, aws_home, sts_standin):  # noqa: F811
    write_credentials(aws_home, (
        "[nomfa-default]\naws_access_key_id = AKIAEXAMPLENOMFA0001\n"
        "aws_secret_access_key = example/stage+SECRET0000000000000000000\n"
    ))
    result = run_mfaenv(["nomfa", "123456"], standin_env)
    assert_clean_failure(result, PROFILE, ["'nomfa'", "no MFA device", "aws_arn_mfa", "mfa_serial"])
    assert sts_standin.requests == []


def test_missing_source_profile(standin_env, sts_standin):  # noqa: F811
    result = run_mfaenv(["stage", "123456", "--source", "gone"], standin_env)
    assert_clean_failure(result, PROFILE, ["'stage'", "'gone'"])


# -- bad arguments, refused before any network call ------------------------------------------


@pytest.mark.parametrize("code", ["12345", "1234567", "abcdef", "12345a", "12 345", "-123456", "",
                                  "\u0661\u0662\u0663\u0664\u0665\u0666", "\uff11\uff12\uff13\uff14\uff15\uff16"],
                         ids=["five", "seven", "letters", "letter", "space", "negative", "empty",
                              "arabic-indic-digits", "fullwidth-digits"])
def test_code_that_is_not_six_digits_never_reaches_sts(code, standin_env, sts_standin):  # noqa: F811
    result = run_mfaenv(["get", "stage", code], standin_env)
    assert_clean_failure(result, USAGE)
    assert "six digits" in result.stderr or "--help" in result.stderr
    assert sts_standin.requests == [], "a malformed code was sent to STS"


@pytest.mark.parametrize("duration", ["899", "129601", "0", "-900"])
def test_duration_out_of_range_never_reaches_sts(duration, standin_env, sts_standin):  # noqa: F811
    result = run_mfaenv(["stage", "123456", f"--duration={duration}"], standin_env)
    assert_clean_failure(result, USAGE, ["--duration", "900", "129600"])
    assert sts_standin.requests == []


@pytest.mark.parametrize("duration", ["abc", "12h", ""])
def test_duration_that_is_not_a_number(duration, standin_env, sts_standin):  # noqa: F811
    result = run_mfaenv(["stage", "123456", f"--duration={duration}"], standin_env)
    assert_clean_failure(result, USAGE, ["--duration"])
    assert sts_standin.requests == []


def test_unknown_shell_is_refused(standin_env, sts_standin):  # noqa: F811
    result = run_mfaenv(["stage", "123456", "--shell", "tcsh"], standin_env)
    assert_clean_failure(result, USAGE, ["tcsh"])
    assert sts_standin.requests == []


# -- STS says no --------------------------------------------------------------------------------


def test_sts_rejects_the_code(standin_env, sts_standin):  # noqa: F811
    sts_standin.answer(standin.WRONG_CODE)
    result = run_mfaenv(["stage", "654321"], standin_env)
    line = assert_clean_failure(result, STS_REJECTED, ["'stage'", "MFA code"])
    assert "next code" in line
    assert len(sts_standin.requests) == 1, "a wrong code must not be retried"
    assert sts_standin.requests[0].form["TokenCode"] == "654321"


@pytest.mark.parametrize("answer", [standin.INVALID_KEY_ID, standin.BAD_SIGNATURE], ids=["invalid-key-id", "bad-signature"])
def test_sts_rejects_the_long_term_keys(answer, standin_env, sts_standin):  # noqa: F811
    sts_standin.answer(answer)
    result = run_mfaenv(["stage", "123456"], standin_env)
    assert_clean_failure(result, STS_REJECTED, ["'stage'", "long-term keys", "aws_secret_access_key"])
    assert len(sts_standin.requests) == 1


def test_sts_refusal_of_another_kind_quotes_sts(standin_env, sts_standin):  # noqa: F811
    sts_standin.answer(standin.error(403, "AccessDenied", "User: arn:aws:iam::111111111111:user/jane is not authorized"))
    result = run_mfaenv(["stage", "123456"], standin_env)
    assert_clean_failure(result, STS_REJECTED, ["'stage'", "AccessDenied", "not authorized"])


def test_whatever_sts_answers_stays_one_plain_line(standin_env, sts_standin):  # noqa: F811
    """A proxy or a fake endpoint controls Code and Message: no second line, no terminal escapes."""
    # (XML 1.0 cannot carry ESC; it can carry newlines and the 8-bit CSI U+009B)
    sts_standin.answer(standin.error(403, "Denied\nmfaenv: all good", "\x9b2J Wiped\r\nreally"))
    result = run_mfaenv(["stage", "123456"], standin_env)
    assert_clean_failure(result, STS_REJECTED, ["'stage'", "Denied", "Wiped"])
    assert "\x9b" not in result.stderr and "\r" not in result.stderr


def test_a_profile_name_with_a_newline_stays_one_line(standin_env):
    result = run_mfaenv(["get", "no\nsuch\x1b[2J", "123456"], standin_env)
    assert_clean_failure(result, PROFILE, ["not found"])
    assert "\x1b" not in result.stderr


# -- STS unavailable: retried, bounded ---------------------------------------------------------


def test_throttling_is_retried_then_gives_up(standin_env, sts_standin):  # noqa: F811
    sts_standin.answer(standin.THROTTLED)
    result = run_mfaenv(["stage", "123456"], standin_env)
    assert_clean_failure(result, STS_UNAVAILABLE, ["'stage'", "Throttling", "try again"])
    assert len(sts_standin.requests) == 3


def test_one_throttle_then_success_exports_the_session(standin_env, sts_standin):  # noqa: F811
    sts_standin.answer(standin.THROTTLED, standin.success())
    result = run_mfaenv(["stage", "123456"], standin_env)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert f"export AWS_ACCESS_KEY_ID='{standin.SESSION_KEY_ID}'" in result.stdout
    assert len(sts_standin.requests) == 2


def test_server_errors_are_retried_then_give_up(standin_env, sts_standin):  # noqa: F811
    sts_standin.answer(standin.INTERNAL_FAILURE)
    result = run_mfaenv(["stage", "123456"], standin_env)
    assert_clean_failure(result, STS_UNAVAILABLE, ["'stage'", "InternalFailure"])
    assert len(sts_standin.requests) == 3


def test_a_page_that_is_not_sts_is_not_a_session(standin_env, sts_standin):  # noqa: F811
    """A captive portal or proxy answering 200 with HTML."""
    sts_standin.answer(standin.Response(200, "<html><body>Please log in to the hotel wifi</body></html>"))
    result = run_mfaenv(["stage", "123456"], standin_env)
    assert_clean_failure(result, STS_UNAVAILABLE, ["not an STS session"])


def test_sts_unreachable_fails_in_seconds(aws_home):
    environ = clean_environ(aws_home)
    environ["AWS_ENDPOINT_URL_STS"] = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    started = time.monotonic()
    result = run_mfaenv(["stage", "123456"], environ, timeout=30)
    elapsed = time.monotonic() - started
    assert_clean_failure(result, STS_UNAVAILABLE, ["'stage'", "cannot reach", "127.0.0.1"])
    assert elapsed < 10


def test_hanging_sts_is_cut_off_by_the_read_timeout(standin_env, sts_standin):  # noqa: F811
    sts_standin.answer(standin.hang(60))
    started = time.monotonic()
    result = run_mfaenv(["stage", "123456"], {**standin_env, "MFAENV_READ_TIMEOUT": "0.5"}, timeout=30)
    elapsed = time.monotonic() - started
    assert_clean_failure(result, STS_UNAVAILABLE, ["'stage'", "no answer in time"])
    assert len(sts_standin.requests) == 3
    assert elapsed < 12, f"took {elapsed:.1f}s against a 60 s hang: the timeout and the retries must be bounded"


@pytest.mark.parametrize("setting", ["inf", "nan", "1e400", "-1", "0", "soon"])
def test_a_nonsense_timeout_setting_does_not_break_the_call(setting, standin_env, sts_standin):  # noqa: F811
    environ = {**standin_env, "MFAENV_READ_TIMEOUT": setting, "MFAENV_CONNECT_TIMEOUT": setting}
    result = run_mfaenv(["stage", "123456"], environ)
    assert result.returncode == 0, result.stderr
    assert len(sts_standin.requests) == 1


@pytest.mark.parametrize("setting", ["inf", "nan", "1e400", "1e9", "-1", "soon"])
def test_a_nonsense_timeout_setting_still_bounds_the_wait(setting):
    from mfaenv import sts

    for variable, default in (("MFAENV_READ_TIMEOUT", sts.READ_TIMEOUT), ("MFAENV_CONNECT_TIMEOUT", sts.CONNECT_TIMEOUT)):
        seconds = sts._timeout(variable, default, {variable: setting})
        assert 0 < seconds <= sts.MAX_TIMEOUT <= 300


# -- a region that is not a region name ------------------------------------------------------


@pytest.fixture
def tcp_listener():
    """A bare TCP port that records every connection (even a TLS handshake to it)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.1)
    connections = []
    stop = threading.Event()

    def accept():
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except OSError:
                continue
            connections.append(connection)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1], connections
    stop.set()
    thread.join(timeout=2)
    for connection in connections:
        connection.close()
    server.close()


@pytest.mark.parametrize("where", ["config", "AWS_REGION"])
def test_a_region_cannot_send_the_signed_request_elsewhere(where, aws_home, tcp_listener):
    """`https://sts.{region}.amazonaws.com` with region `x@127.0.0.1:PORT/` is a URL to 127.0.0.1."""
    port, connections = tcp_listener
    region = f"x@127.0.0.1:{port}/"
    environ = clean_environ(aws_home)  # no endpoint override: the region makes the URL
    if where == "config":
        (aws_home / ".aws" / "config").write_text(f"[profile stage]\nregion = {region}\n")
    else:
        environ["AWS_REGION"] = region
    result = run_mfaenv(["stage", "123456"], environ)
    assert_clean_failure(result, PROFILE, ["'stage'", region, "not a region name"])
    time.sleep(0.2)
    assert connections == [], "the signed request went to the host named in the region"


@pytest.mark.parametrize("region", ["us-east-1 # prod", "eu-west-1\n", "-x", "12345", "a" * 64])
def test_a_malformed_region_is_refused_before_any_network_call(region, standin_env, sts_standin):  # noqa: F811
    result = run_mfaenv(["stage", "123456"], {**standin_env, "AWS_REGION": region})
    assert_clean_failure(result, PROFILE, ["'stage'", "not a region name"])
    assert sts_standin.requests == []


@pytest.mark.parametrize("region", ["us-gov-west-1", "cn-north-1", "eu-isoe-west-1", "ap-southeast-5"])
def test_real_region_names_pass(region, standin_env, sts_standin):  # noqa: F811
    result = run_mfaenv(["stage", "123456"], {**standin_env, "AWS_REGION": region})
    assert result.returncode == 0, result.stderr
    assert sts_standin.requests[0].signing_region == region


# -- malformed files: refused, named, untouched -------------------------------------------------

GOOD_SECTION = (
    "[stage-default]\naws_access_key_id = AKIAEXAMPLESTAGE0001\n"
    "aws_secret_access_key = example/stage+SECRET0000000000000000000\n"
)
MALFORMED = {
    # The junk line holds a secret: configparser's own message would quote it.
    "junk-before-first-section": "aws_secret_access_key = SECRETLINE/in+a+broken+file000000000000\n" + GOOD_SECTION,
    "unterminated-header": "[stage-default\naws_secret_access_key = SECRETLINE/in+a+broken+file000000000000\n",
    "duplicate-section": GOOD_SECTION + "\n" + GOOD_SECTION,
    "duplicate-key": GOOD_SECTION + "aws_secret_access_key = SECRETLINE/in+a+broken+file000000000000\n",
    "line-without-key": GOOD_SECTION + "SECRETLINE/in+a+broken+file000000000000\n",
}


@pytest.mark.parametrize("kind", sorted(MALFORMED))
def test_malformed_credentials_file_is_named_and_left_alone(kind, standin_env, aws_home, sts_standin):  # noqa: F811
    path = write_credentials(aws_home, MALFORMED[kind])
    before = path.read_bytes()
    result = run_mfaenv(["stage", "123456"], standin_env)
    assert_clean_failure(result, PROFILE, [str(path), "malformed"])
    assert path.read_bytes() == before
    assert sts_standin.requests == []


@pytest.mark.parametrize("kind", ["junk-before-first-section", "unterminated-header", "duplicate-section"])
def test_malformed_config_file_is_named(kind, standin_env, aws_home, sts_standin):  # noqa: F811
    config = aws_home / ".aws" / "config"
    text = {
        "junk-before-first-section": "region = us-east-1\n[profile stage]\nregion = eu-west-1\n",
        "unterminated-header": "[profile stage\nregion = eu-west-1\n",
        "duplicate-section": "[profile stage]\nregion = eu-west-1\n[profile stage]\nregion = eu-west-2\n",
    }[kind]
    config.write_text(text)
    result = run_mfaenv(["stage", "123456"], standin_env)
    assert_clean_failure(result, PROFILE, [str(config), "malformed"])
    assert sts_standin.requests == []


def test_credentials_file_that_is_not_utf8(standin_env, aws_home, sts_standin):  # noqa: F811
    path = aws_home / ".aws" / "credentials"
    path.write_bytes(b"[stage-default]\naws_access_key_id = AKIA\xff\xfe\n")
    result = run_mfaenv(["stage", "123456"], standin_env)
    assert_clean_failure(result, PROFILE, [str(path)])


# -- no code and no terminal ----------------------------------------------------------------------




def test_no_code_and_no_terminal_fails_at_once(standin_env, sts_standin):  # noqa: F811
    result = run_without_terminal(["stage"], standin_env)
    assert_clean_failure(result, NO_CODE, ["'stage'", "no terminal", "--code-command"])
    assert sts_standin.requests == []


def test_code_command_that_fails(standin_env, sts_standin):  # noqa: F811
    result = run_without_terminal(["stage", "--code-command", "exit 3"], standin_env)
    assert_clean_failure(result, NO_CODE, ["'stage'", "code command"])
    assert sts_standin.requests == []


def test_code_command_that_prints_no_code(standin_env, sts_standin):  # noqa: F811
    result = run_without_terminal(["stage", "--code-command", "echo touch your key"], standin_env)
    assert_clean_failure(result, NO_CODE, ["'stage'", "six-digit"])
    assert sts_standin.requests == []


# -- bugs in mfaenv itself --------------------------------------------------------------------------

# There is no natural way to make mfaenv fail unexpectedly, so this stands in
# for a bug: `get` raises something that is not an MfaenvError.
_WITH_A_BUG = (
    "import sys\n"
    "import mfaenv.commands\n"
    "def broken(*args, **kwargs):\n"
    "    raise KeyError('a bug')\n"
    "mfaenv.commands.get = broken\n"
    "from mfaenv.cli import main\n"
    "main(sys.argv[1:])\n"
)


def test_internal_error_is_one_line_without_debug(standin_env):
    result = subprocess.run([sys.executable, "-c", _WITH_A_BUG, "stage", "123456"], env=standin_env,
                            capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert_clean_failure(result, INTERNAL, ["internal error", "MFAENV_DEBUG=1"])


def test_internal_error_shows_a_traceback_with_debug(standin_env):
    result = subprocess.run([sys.executable, "-c", _WITH_A_BUG, "stage", "123456"],
                            env={**standin_env, "MFAENV_DEBUG": "1"},
                            capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert result.stdout == ""
    assert result.returncode != 0
    assert "Traceback" in result.stderr and "KeyError: 'a bug'" in result.stderr
