"""The STS calls themselves: GetSessionToken, then AssumeRole signed with that session.

These call ``mfaenv.aws.sts`` directly, over HTTP, against moto's server and the
stand-in of ``tests/sts_standin.py``, which checks each request's SigV4
signature against the secret that should have made it. The end-to-end role
scenarios through the CLI live with the role profiles' tests.
"""

from __future__ import annotations

import dataclasses
import re
import time
from typing import Dict

import boto3
import pytest
from botocore.exceptions import ClientError

import sts_standin as standin
from conftest import exported, run_mfaenv
from test_errors import PROFILE, STS_UNAVAILABLE, assert_clean_failure
from test_reuse import digest_for
from mfaenv.aws import sts
from mfaenv.errors import StsRejectedError, StsUnavailableError

KEY_ID, SECRET = "AKIAEXAMPLESTAGE0001", "example/stage+SECRET0000000000000000000"
SERIAL = "arn:aws:iam::111111111111:mfa/jane"
ROLE = "arn:aws:iam::210987654321:role/admin"


def mfa_session(endpoint: str, code: str = "123456"):
    return sts.get_session_token(
        profile="stage", access_key_id=KEY_ID, secret_access_key=SECRET, serial=SERIAL, code=code,
        duration=43200, region="us-east-1", environ={"AWS_ENDPOINT_URL_STS": endpoint},
    )


def assume(endpoint: str, **given):
    arguments = dict(
        profile="admin", role_arn=ROLE, session_name="jane", access_key_id=KEY_ID, secret_access_key=SECRET,
        duration=3600, region="us-east-1", environ={"AWS_ENDPOINT_URL_STS": endpoint},
    )
    return sts.assume_role(**{**arguments, **given})


def from_session(session) -> Dict[str, str]:
    return dict(access_key_id=session.access_key_id, secret_access_key=session.secret_access_key,
                session_token=session.session_token)


def test_role_session_from_an_mfa_session_on_moto(sts_endpoint):
    parent = mfa_session(sts_endpoint)
    role = assume(sts_endpoint, **from_session(parent), duration=1800)
    assert role.access_key_id.startswith("ASIA") and role.access_key_id != parent.access_key_id
    assert abs(role.expires - (time.time() + 1800)) < 120
    # What mfaenv hands out is what an SDK would use: moto knows it as the role's session.
    client = boto3.client(
        "sts", region_name="us-east-1", endpoint_url=sts_endpoint, aws_access_key_id=role.access_key_id,
        aws_secret_access_key=role.secret_access_key, aws_session_token=role.session_token,
    )
    assert client.get_caller_identity()["Arn"] == "arn:aws:sts::210987654321:assumed-role/admin/jane"


def test_assume_role_signed_with_a_session_sends_its_token_and_no_code(sts_standin):
    parent = mfa_session(sts_standin.url)
    role = assume(sts_standin.url, **from_session(parent), external_id="ext-42")
    assert role.access_key_id not in (parent.access_key_id, KEY_ID)
    first, second = sts_standin.requests
    assert (first.action, first.signer, first.signing_key_id, first.token) == ("GetSessionToken", "long-term", KEY_ID, None)
    assert (second.action, second.signer, second.signing_key_id) == ("AssumeRole", "session", parent.access_key_id)
    assert second.signed_with(parent.secret_access_key) and not second.signed_with(SECRET)
    assert second.token == parent.session_token
    assert "x-amz-security-token" in second.headers["Authorization"], "the token must be signed too"
    assert second.form == {
        "Action": "AssumeRole", "Version": "2011-06-15", "RoleArn": ROLE, "RoleSessionName": "jane",
        "DurationSeconds": "3600", "ExternalId": "ext-42",
    }


def test_assume_role_with_long_term_keys_and_a_code(sts_standin):
    assume(sts_standin.url, duration=7200, serial=SERIAL, code="654321")
    (request,) = sts_standin.requests
    assert request.signing_key_id == KEY_ID and request.signed_with(SECRET)
    assert "X-Amz-Security-Token" not in request.headers
    assert (request.form["SerialNumber"], request.form["TokenCode"], request.form["DurationSeconds"]) == (
        SERIAL, "654321", "7200")
    assert "ExternalId" not in request.form


def test_a_serial_without_a_code_sends_neither(sts_standin):
    assume(sts_standin.url, serial=SERIAL)
    assert not {"SerialNumber", "TokenCode"} & set(sts_standin.requests[0].form)


#: Each refusal as the stand-in decides it (a role's conditions, the 1-hour cap) or as scripted;
#: signed by the long-term keys, or by an MFA session ("session").
REFUSALS = {
    "trust-policy-or-missing-external-id": (
        lambda server: server.role(ROLE, external_id="ext-42"), {},
        ["(AccessDenied)", "trust policy", "MFA condition", "external_id the profile does not set"]),
    "wrong-external-id": (
        lambda server: server.role(ROLE, external_id="ext-42"), {"external_id": "ext-41"},
        ["(AccessDenied)", "trust policy", "a wrong external_id"]),
    "mfa-condition-without-a-code": (
        lambda server: server.role(ROLE, mfa=True), {}, ["(AccessDenied)", "MFA condition the signer does not meet"]),
    "wrong-code": (
        lambda server: server.answer(standin.WRONG_CODE), {"serial": SERIAL, "code": "654321"},
        ["MFA code was wrong", "next code"]),
    "over-an-hour-from-a-session": (
        lambda server: None, {"session": True, "duration": 7200}, ["capped at 1 hour", "7200 s", "3600 or less"]),
    "over-the-role-maximum": (
        lambda server: server.role(ROLE, max_duration=3600), {"duration": 43200},
        ["43200 s", "maximum session duration", "MaxSessionDuration"]),
    "expired-session": (
        lambda server: server.answer(standin.EXPIRED_TOKEN), {"session": True},
        ["session that signed", "expired", "next MFA code"]),
    "unknown-keys": (
        lambda server: None, {"access_key_id": "AKIAUNKNOWN000000001"}, ["long-term keys", "aws_access_key_id"]),
    "sts-off-in-the-region": (
        lambda server: server.answer(standin.error(
            403, "RegionDisabledException", "STS is not activated in this region for account:210987654321.")),
        {}, ["RegionDisabledException", "not activated"]),
}


@pytest.mark.parametrize("setup, signer, mentions", REFUSALS.values(), ids=REFUSALS.keys())
def test_assume_role_refusals_name_the_role_and_the_likely_fix(setup, signer, mentions, sts_standin):
    given = dict(signer)
    if given.pop("session", False):
        given.update(from_session(mfa_session(sts_standin.url)))
    setup(sts_standin)
    with pytest.raises(StsRejectedError) as raised:
        assume(sts_standin.url, **given)
    line = str(raised.value)
    assert line.startswith(f"profile 'admin': STS refused to assume role {ROLE}"), line
    assert "\n" not in line
    for text in mentions:
        assert text in line, f"{text!r} missing from: {line}"
    assert len(sts_standin.calls("AssumeRole")) == 1, "a refusal must not be retried"
    assert sts_standin.calls("AssumeRole")[0].answered != "ok"


def test_assume_role_retries_throttling_like_get_session_token(sts_standin):
    sts_standin.answer(standin.THROTTLED, standin.success())
    assert assume(sts_standin.url).access_key_id == standin.SESSION_KEY_ID
    assert [request.form["Action"] for request in sts_standin.requests] == ["AssumeRole", "AssumeRole"]


# -- the stand-in proves who signed what: the same checks a real SDK meets ----------------------


def sdk(endpoint: str, key_id: str = KEY_ID, secret: str = SECRET, token=None):
    """A real boto3 STS client, as any AWS tool would build it."""
    return boto3.client("sts", region_name="us-east-1", endpoint_url=endpoint, aws_access_key_id=key_id,
                        aws_secret_access_key=secret, aws_session_token=token)


def sdk_of(credentials: Dict[str, str], endpoint: str):
    return sdk(endpoint, credentials["AccessKeyId"], credentials["SecretAccessKey"], credentials["SessionToken"])


def refusal(call) -> str:
    with pytest.raises(ClientError) as raised:
        call()
    return f"{raised.value.response['Error']['Code']}: {raised.value.response['Error']['Message']}"


def test_every_session_is_new_and_remembered_with_who_signed_for_it(sts_standin):
    first = sdk(sts_standin.url).get_session_token(SerialNumber=SERIAL, TokenCode="123456")["Credentials"]
    second = sdk(sts_standin.url).get_session_token()["Credentials"]
    role = sdk_of(first, sts_standin.url).assume_role(RoleArn=ROLE, RoleSessionName="jane")
    assert role["AssumedRoleUser"]["Arn"] == "arn:aws:sts::210987654321:assumed-role/admin/jane"
    keys = [first["AccessKeyId"], second["AccessKeyId"], role["Credentials"]["AccessKeyId"]]
    assert len(set(keys)) == 3 and keys == [issued.access_key_id for issued in sts_standin.issued]
    assert [(one.action, one.mfa, one.parent) for one in sts_standin.issued] == [
        ("GetSessionToken", True, KEY_ID), ("GetSessionToken", False, KEY_ID), ("AssumeRole", True, keys[0])]
    assert [(r.action, r.signer, r.token is not None) for r in sts_standin.requests] == [
        ("GetSessionToken", "long-term", False), ("GetSessionToken", "long-term", False), ("AssumeRole", "session", True)]
    assert (len(sts_standin.calls("GetSessionToken")), len(sts_standin.calls("AssumeRole"))) == (2, 1)


def test_only_the_right_secret_and_token_get_through(sts_standin):
    session = sdk(sts_standin.url).get_session_token()["Credentials"]
    other = sdk(sts_standin.url).get_session_token()["Credentials"]
    key, secret = session["AccessKeyId"], session["SecretAccessKey"]
    assert refusal(lambda: sdk(sts_standin.url, secret="not/the+secret").get_session_token()).startswith(
        "SignatureDoesNotMatch")
    assert refusal(lambda: sdk(sts_standin.url, "AKIANOBODY0000000001").get_session_token()).startswith(
        "InvalidClientTokenId")
    assert refusal(lambda: sdk(sts_standin.url, key, secret).assume_role(RoleArn=ROLE, RoleSessionName="jane")
                   ).startswith("InvalidClientTokenId"), "a session key signed without its token"
    assert refusal(lambda: sdk(sts_standin.url, key, secret, other["SessionToken"]).assume_role(
        RoleArn=ROLE, RoleSessionName="jane")).startswith("InvalidClientTokenId"), "another session's token"
    assert refusal(lambda: sdk(sts_standin.url, key, other["SecretAccessKey"], session["SessionToken"]).assume_role(
        RoleArn=ROLE, RoleSessionName="jane")).startswith("SignatureDoesNotMatch")
    assert refusal(lambda: sdk_of(session, sts_standin.url).get_session_token()).startswith("AccessDenied")
    assert [request.signer for request in sts_standin.requests[2:]] == [None, None, None, None, None, "session"]


def test_keys_a_test_writes_into_home_may_sign(sts_standin, aws_home):
    with open(aws_home / ".aws" / "credentials", "a", encoding="utf-8") as credentials:
        credentials.write("\n[qa]\naws_access_key_id = AKIAEXAMPLEQA0000001\naws_secret_access_key = qa/SECRET\n")
    sdk(sts_standin.url, "AKIAEXAMPLEQA0000001", "qa/SECRET").get_session_token()
    sts_standin.allow("AKIAALLOWED000000001", "allowed/SECRET")
    sdk(sts_standin.url, "AKIAALLOWED000000001", "allowed/SECRET").get_session_token()
    assert [request.answered for request in sts_standin.requests] == ["ok", "ok"]


def test_a_role_session_assumed_from_a_session_is_capped_at_an_hour(sts_standin):
    session = sdk_of(sdk(sts_standin.url).get_session_token()["Credentials"], sts_standin.url)
    assert refusal(lambda: session.assume_role(RoleArn=ROLE, RoleSessionName="jane", DurationSeconds=3601)) == (
        f"ValidationError: {standin.CHAINING_MESSAGE}")
    direct = sdk(sts_standin.url).assume_role(RoleArn=ROLE, RoleSessionName="jane", DurationSeconds=43200)
    assert abs(direct["Credentials"]["Expiration"].timestamp() - (time.time() + 43200)) < 120


def test_a_role_demanding_mfa_accepts_only_an_mfa_signer(sts_standin):
    sts_standin.role(ROLE, mfa=True)
    assume_admin = dict(RoleArn=ROLE, RoleSessionName="jane")
    without_mfa = sdk_of(sdk(sts_standin.url).get_session_token()["Credentials"], sts_standin.url)
    with_mfa = sdk_of(sdk(sts_standin.url).get_session_token(SerialNumber=SERIAL, TokenCode="123456")["Credentials"],
                      sts_standin.url)
    assert refusal(lambda: sdk(sts_standin.url).assume_role(**assume_admin)).startswith("AccessDenied")
    assert refusal(lambda: without_mfa.assume_role(**assume_admin)).startswith("AccessDenied")
    sdk(sts_standin.url).assume_role(**assume_admin, SerialNumber=SERIAL, TokenCode="123456")
    admin = sdk_of(with_mfa.assume_role(**assume_admin)["Credentials"], sts_standin.url)
    # A chain: the role session carries the MFA context on to the next role.
    sts_standin.role("arn:aws:iam::210987654321:role/deeper", mfa=True)
    admin.assume_role(RoleArn="arn:aws:iam::210987654321:role/deeper", RoleSessionName="jane")
    assert [request.answered for request in sts_standin.calls("AssumeRole")] == [
        "AccessDenied", "AccessDenied", "ok", "ok", "ok"]


def test_a_role_with_an_external_id_condition(sts_standin):
    sts_standin.role(ROLE, external_id="ext-42")
    assert refusal(lambda: sdk(sts_standin.url).assume_role(RoleArn=ROLE, RoleSessionName="jane")).startswith(
        "AccessDenied: User: arn:aws:iam::111111111111:user/")
    sdk(sts_standin.url).assume_role(RoleArn=ROLE, RoleSessionName="jane", ExternalId="ext-42")


def test_mfaenv_signs_with_the_source_profiles_long_term_keys(standin_env, sts_standin):
    result = run_mfaenv(["stage", "123456"], standin_env)
    assert result.returncode == 0, result.stderr
    (request,) = sts_standin.requests
    assert (request.signer, request.signing_key_id, request.token) == ("long-term", KEY_ID, None)
    assert request.signed_with(SECRET)
    assert exported(result.stdout)["AWS_ACCESS_KEY_ID"] == sts_standin.issued[0].access_key_id


# -- a hostile or broken endpoint (issue 9, items 9-13) -----------------------------------------


def test_an_endpoint_trickling_its_answer_fails_in_seconds(standin_env, sts_standin):
    sts_standin.answer(standin.trickling(2.0))  # ~1 KiB at a byte every 2 s: over half an hour
    result = run_mfaenv(["stage", "123456"], standin_env, timeout=120)
    assert_clean_failure(result, STS_UNAVAILABLE, ["'stage'", "no answer", "in time", "next MFA code"])
    assert len(sts_standin.requests) == 1, "the code may have been used: no retry"


def test_an_endpoint_trickling_its_headers_fails_within_the_total_timeout(standin_env, sts_standin):
    sts_standin.answer(standin.trickling(1.0, headers=True))
    result = run_mfaenv(["stage", "123456"], {**standin_env, "MFAENV_TOTAL_TIMEOUT": "3"}, timeout=120)
    assert_clean_failure(result, STS_UNAVAILABLE, ["no answer", "in time"])
    assert sts_standin.requests[0].sent_bytes < 200, "the status line and headers were still arriving"


def test_the_total_timeout_covers_the_retries(standin_env, sts_standin):
    sts_standin.answer(dataclasses.replace(standin.THROTTLED, delay=1.5))
    result = run_mfaenv(["stage", "123456"], {**standin_env, "MFAENV_TOTAL_TIMEOUT": "2"}, timeout=120)
    assert result.returncode == STS_UNAVAILABLE, result.stderr
    assert len(sts_standin.requests) < sts.MAX_ATTEMPTS


def test_when_the_deadline_ends_the_retries_the_error_counts_the_requests_sent(sts_standin, monkeypatch):
    """Throttled at once, then a backoff pause (here the longest, 1 s) that would pass the 0.8 s deadline."""
    monkeypatch.setattr(sts.random, "uniform", lambda low, high: high)
    sts_standin.answer(standin.THROTTLED, standin.THROTTLED, standin.THROTTLED)
    with pytest.raises(StsUnavailableError) as raised:
        sts.get_session_token(
            profile="stage", access_key_id=KEY_ID, secret_access_key=SECRET, serial=SERIAL, code="123456",
            duration=43200, region="us-east-1",
            environ={"AWS_ENDPOINT_URL_STS": sts_standin.url, "MFAENV_TOTAL_TIMEOUT": "0.8"},
        )
    assert len(sts_standin.requests) == 1
    assert "after 1 attempt (" in str(raised.value)


def test_a_huge_answer_is_not_read_past_a_mebibyte(standin_env, sts_standin):
    sts_standin.answer(standin.huge(32 * 1024 * 1024))  # well-formed credentials inside
    result = run_mfaenv(["stage", "123456"], standin_env)
    assert_clean_failure(result, STS_UNAVAILABLE, ["'stage'", "more than 1024 KiB", "not an STS answer"])
    assert sts_standin.requests[0].sent_bytes < 16 * 1024 * 1024


def test_an_answer_that_expired_already_is_refused(standin_env, sts_standin):
    sts_standin.answer(standin.expired(seconds_ago=60))
    result = run_mfaenv(["stage", "123456"], standin_env)
    assert_clean_failure(result, STS_UNAVAILABLE, ["'stage'", "expired already", "clock"])


@pytest.mark.parametrize("expiration", ["9999-12-31T23:59:59-23:59", "9999-12-31T23:59:59Z", "tomorrow"])
def test_an_answer_whose_expiry_cannot_be_used_is_not_a_session(expiration, standin_env, sts_standin):
    sts_standin.answer(standin.success(expiration=expiration))
    result = run_mfaenv(["stage", "123456"], standin_env)
    assert_clean_failure(result, STS_UNAVAILABLE, ["not an STS session"])


@pytest.mark.parametrize("expiration", ["9999-12-31T23:59:59-23:59", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00+23:59"])
def test_a_persisted_expiry_out_of_range_counts_as_absent(expiration, standin_env, sts_standin, aws_home):
    credentials = aws_home / ".aws" / "credentials"
    credentials.write_text(credentials.read_text().replace(
        "[prod]\n", f"[prod]\nexpiration = {expiration}\n").replace(
        "[stage]\naws_arn_mfa = arn:aws:iam::111111111111:mfa/jane\n"
        "aws_access_key_id = <auto-generated>\naws_secret_access_key = <auto-generated>\n"
        "aws_session_token = <auto-generated>\n",
        "[stage]\naws_arn_mfa = arn:aws:iam::111111111111:mfa/jane\naws_access_key_id = ASIAPERSISTED0000001\n"
        f"aws_secret_access_key = persisted/secret\naws_session_token = persisted-token\nexpiration = {expiration}\n"
        # What --persist records beside a session: without it, it would not be reused whatever its expiry.
        f"mfaenv_session_digest = {digest_for('stage', standin_env)}\n"))
    listed = run_mfaenv(["list"], standin_env)
    assert listed.returncode == 0, listed.stderr
    assert re.search(r"^stage .* -$", listed.stdout, re.M), listed.stdout
    fetched = run_mfaenv(["stage", "--code-command", "echo 123456"], standin_env)
    assert fetched.returncode == 0, fetched.stderr
    assert exported(fetched.stdout)["AWS_ACCESS_KEY_ID"] == sts_standin.issued[0].access_key_id


BAD_ENDPOINTS = {
    "unclosed-ipv6-host-with-a-password": "http://jane:s3cr3t@[::1",
    "no-scheme": "127.0.0.1:443",
    "a-slash-in-the-password": "http://jane:s3/cr3t@127.0.0.1:443",
    "a-question-mark-in-the-password": "https://jane:s3?cr3t@sts.example.com",
    "port-out-of-range": "http://jane:s3cr3t@127.0.0.1:99999",
    "not-http": "ftp://jane:s3cr3t@sts.example.com",
    "no-host": "https://",
}


@pytest.mark.parametrize("variable", ["AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL"])
@pytest.mark.parametrize("url", BAD_ENDPOINTS.values(), ids=BAD_ENDPOINTS.keys())
def test_a_malformed_endpoint_is_named_before_a_code_is_asked_for(url, variable, standin_env, tmp_path):
    asked = tmp_path / "asked"
    environ = {key: value for key, value in standin_env.items() if not key.startswith("AWS_ENDPOINT_URL")}
    environ[variable] = url
    for debug in ("0", "1"):
        result = run_mfaenv(["stage", "--code-command", f"touch {asked}; echo 123456"],
                            {**environ, "MFAENV_DEBUG": debug})
        assert_clean_failure(result, PROFILE, [variable, "not a usable STS endpoint"])
        assert "cr3t" not in result.stderr, "the password was shown"
    assert not asked.exists(), "the code was asked for although it could not be sent"


def test_credentials_are_used_exactly_as_sts_sent_them(standin_env, sts_standin):
    values = {"key": " ASIAPADDED0000000001", "secret": " padded/secret+0000 ", "token": "padded-token  "}
    sts_standin.answer(standin.Response(200, standin.credentials_body(
        values["key"], values["secret"], values["token"], "2099-01-01T00:00:00Z")))
    result = run_mfaenv(["stage", "123456"], standin_env)
    assert result.returncode == 0, result.stderr
    variables = exported(result.stdout)
    assert (variables["AWS_ACCESS_KEY_ID"], variables["AWS_SECRET_ACCESS_KEY"], variables["AWS_SESSION_TOKEN"]) == (
        values["key"], values["secret"], values["token"])
