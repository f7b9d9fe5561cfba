"""The STS calls themselves: GetSessionToken, then AssumeRole signed with that session.

These call ``mfaenv.sts`` directly, over HTTP, against moto's server and the
stand-in of ``tests/sts_standin.py``, which checks each request's SigV4
signature against the secret that should have made it. The end-to-end role
scenarios through the CLI live with the role profiles' tests.
"""

from __future__ import annotations

import time
from typing import Dict

import boto3
import pytest

import sts_standin as standin
from mfaenv import sts
from mfaenv.errors import StsRejectedError

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
    role = assume(sts_standin.url, access_key_id="ASIAPARENT0000000001", secret_access_key="parent/secret",
                  session_token="parent-token", external_id="ext-42")
    assert role.access_key_id == standin.SESSION_KEY_ID
    (request,) = sts_standin.requests
    assert request.signing_key_id == "ASIAPARENT0000000001"
    assert request.signed_with("parent/secret") and not request.signed_with(SECRET)
    assert request.headers.get("X-Amz-Security-Token") == "parent-token"
    assert "x-amz-security-token" in request.headers["Authorization"], "the token must be signed too"
    assert request.form == {
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


CHAINING = standin.error(
    400, "ValidationError",
    "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.")
NOT_AUTHORIZED = standin.error(
    403, "AccessDenied",
    f"User: arn:aws:iam::111111111111:user/jane is not authorized to perform: sts:AssumeRole on resource: {ROLE}")
MAX_SESSION = standin.error(
    400, "ValidationError", "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
EXPIRED = standin.error(403, "ExpiredToken", "The security token included in the request is expired")


@pytest.mark.parametrize("answer, signer, mentions", [
    (NOT_AUTHORIZED, {}, ["trust policy", "MFA condition", "external_id the profile does not set"]),
    (NOT_AUTHORIZED, {"external_id": "ext-42"}, ["trust policy", "a wrong external_id"]),
    (standin.WRONG_CODE, {"serial": SERIAL, "code": "654321"}, ["MFA code was wrong", "next code"]),
    (CHAINING, {"session_token": "parent-token", "duration": 7200}, ["capped at 1 hour", "7200 s", "3600 or less"]),
    (MAX_SESSION, {"duration": 43200}, ["43200 s", "maximum session duration", "MaxSessionDuration"]),
    (EXPIRED, {"session_token": "parent-token"}, ["session that signed", "expired", "next MFA code"]),
    (standin.INVALID_KEY_ID, {}, ["long-term keys", "aws_access_key_id"]),
    (standin.error(400, "RegionDisabledException", "STS is not activated in this region"), {},
     ["RegionDisabledException", "not activated"]),
])
def test_assume_role_refusals_name_the_role_and_the_likely_fix(answer, signer, mentions, sts_standin):
    sts_standin.answer(answer)
    with pytest.raises(StsRejectedError) as raised:
        assume(sts_standin.url, **signer)
    line = str(raised.value)
    assert line.startswith(f"profile 'admin': STS refused to assume role {ROLE}"), line
    assert "\n" not in line
    for text in mentions:
        assert text in line, f"{text!r} missing from: {line}"
    assert len(sts_standin.requests) == 1, "a refusal must not be retried"


def test_assume_role_retries_throttling_like_get_session_token(sts_standin):
    sts_standin.answer(standin.THROTTLED, standin.success())
    assert assume(sts_standin.url).access_key_id == standin.SESSION_KEY_ID
    assert [request.form["Action"] for request in sts_standin.requests] == ["AssumeRole", "AssumeRole"]
