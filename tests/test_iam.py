"""aws/iam.py: GetCallerIdentity (for rotate, keys, setup, doctor) and the IAM client, on real parts.

GetCallerIdentity goes to the STS stand-in, which checks the signature; IAM to
moto's server, reached through AWS_ENDPOINT_URL_IAM as a user would point it
anywhere. Nothing in botocore is mocked.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import boto3
import pytest

from conftest import free_port
from mfaenv.aws import iam
from mfaenv.errors import IamRejectedError, IamUnavailableError, ProfileError, StsRejectedError
from sts_standin import StsStandIn, hang

STAGE_KEY, STAGE_SECRET = "AKIAEXAMPLESTAGE0001", "example/stage+SECRET0000000000000000000"


def moto_iam(url: str):
    return boto3.client("iam", endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def test_caller_identity_names_the_iam_user_and_the_server_clock(sts_standin):
    sts_standin.user(STAGE_KEY, "arn:aws:iam::111111111111:user/team/jane")
    identity = iam.caller_identity(STAGE_KEY, STAGE_SECRET, profile="stage",
                                   environ={"AWS_ENDPOINT_URL_STS": sts_standin.url})
    assert identity.account == "111111111111"
    assert identity.arn == "arn:aws:iam::111111111111:user/team/jane"
    assert identity.user_name == "jane"  # without its path: what IAM's UserName takes
    assert identity.server_date is not None and identity.server_date.tzinfo is not None
    # The stand-in's own clock, read from its Date header: the same machine.
    assert abs(identity.server_date - datetime.now(timezone.utc)) < timedelta(hours=1)
    [request] = sts_standin.calls("GetCallerIdentity")
    assert request.signer == "long-term" and request.signed_with(STAGE_SECRET) and request.token is None


def test_caller_identity_of_a_non_user_has_no_user_name(sts_standin):
    identity = iam.caller_identity(STAGE_KEY, STAGE_SECRET, profile="stage",
                                   environ={"AWS_ENDPOINT_URL_STS": sts_standin.url})
    assert identity.user_name is None and identity.arn.startswith("arn:aws:sts::")


def test_caller_identity_refused_says_why_without_the_secret(sts_standin):
    with pytest.raises(StsRejectedError) as raised:
        iam.caller_identity("AKIAUNKNOWN000000001", "no/such+SECRET", profile="stage",
                            environ={"AWS_ENDPOINT_URL_STS": sts_standin.url})
    assert raised.value.aws_code == "InvalidClientTokenId"
    assert "no/such+SECRET" not in str(raised.value) and "profile 'stage'" in str(raised.value)


def test_iam_client_manages_a_users_keys(sts_endpoint, monkeypatch):
    user = f"jane-{uuid.uuid4().hex[:8]}"
    moto_iam(sts_endpoint).create_user(UserName=user)
    # A stray AWS_PROFILE naming no profile must not break the client: the keys are given.
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
    client = iam.Iam("AKIAANYTHING00000001", "any", "token", profile="stage",
                     environ={"AWS_ENDPOINT_URL_IAM": sts_endpoint})
    assert client.list_access_keys(user) == []
    new = client.create_access_key(user)
    assert new.secret_access_key not in repr(new)
    [listed] = client.list_access_keys(user)
    assert listed.access_key_id == new.access_key_id and listed.status == "Active"
    assert listed.created is not None and listed.created.tzinfo is not None
    assert client.access_key_last_used(new.access_key_id).when is None  # never used
    client.deactivate_access_key(user, new.access_key_id)
    assert client.list_access_keys(user)[0].status == "Inactive"
    client.delete_access_key(user, new.access_key_id)
    assert client.list_access_keys(user) == []
    with pytest.raises(IamRejectedError) as raised:
        client.list_access_keys("no-such-user-" + user)
    assert raised.value.aws_code == "NoSuchEntity" and "ListAccessKeys" in str(raised.value)


def test_the_general_endpoint_variable_serves_iam_too(sts_endpoint):
    client = iam.Iam("AKIAANYTHING00000001", "any", profile="stage", environ={"AWS_ENDPOINT_URL": sts_endpoint})
    assert client.shown == sts_endpoint


@pytest.mark.parametrize("region, endpoint", [
    ("eu-west-1", "https://iam.amazonaws.com"),
    ("cn-northwest-1", "https://iam.cn-north-1.amazonaws.com.cn"),
    ("us-gov-east-1", "https://iam.us-gov.amazonaws.com"),
])
def test_without_a_set_endpoint_iam_is_the_partitions_global_one(region, endpoint):
    assert iam.Iam("AKIAANYTHING00000001", "any", profile="p", region=region, environ={}).shown == endpoint


def test_ignore_configured_endpoint_urls_is_honoured():
    environ = {"AWS_ENDPOINT_URL_IAM": "http://127.0.0.1:1", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true"}
    assert iam.Iam("AKIAANYTHING00000001", "any", profile="p", environ=environ).shown == "https://iam.amazonaws.com"


@pytest.mark.parametrize("url", ["ftp://example.com", "http://", "https://user:pa/ss@example.com"])
def test_a_malformed_iam_endpoint_is_refused_by_its_variable_without_showing_it(url):
    with pytest.raises(ProfileError) as raised:
        iam.check_endpoint({"AWS_ENDPOINT_URL_IAM": url})
    assert "AWS_ENDPOINT_URL_IAM is not a usable IAM endpoint" in str(raised.value)
    assert "pa/ss" not in str(raised.value)


def test_an_unreachable_iam_is_one_line():
    environ = {"AWS_ENDPOINT_URL_IAM": f"http://127.0.0.1:{free_port()}", "MFAENV_CONNECT_TIMEOUT": "1"}
    with pytest.raises(IamUnavailableError) as raised:
        iam.Iam("AKIAANYTHING00000001", "any", profile="stage", environ=environ).list_access_keys("jane")
    assert "ListAccessKeys" in str(raised.value) and "\n" not in str(raised.value)


def test_a_hanging_iam_ends_at_the_deadline():
    with StsStandIn(check_signatures=False) as hanging:
        hanging.answer(hang(60))
        environ = {"AWS_ENDPOINT_URL_IAM": hanging.url, "MFAENV_TOTAL_TIMEOUT": "1", "MFAENV_READ_TIMEOUT": "60"}
        with pytest.raises(IamUnavailableError) as raised:
            iam.Iam("AKIAANYTHING00000001", "any", profile="stage", environ=environ).create_access_key("jane")
    assert "no answer" in str(raised.value) and "in time" in str(raised.value)
