"""The AWS calls: STS GetSessionToken (long-term keys + MFA code) and AssumeRole.

This is the only module that imports botocore, and it imports only what the
call needs: the SigV4 signer and the HTTP session. Building a full botocore
client would load the endpoint tables, the service model and the retry
configuration (~80 ms) for a single, fixed Query-protocol request. What the
client would add is done here explicitly: the endpoint (``AWS_ENDPOINT_URL_STS``,
``AWS_ENDPOINT_URL``, else the regional endpoint), proxies and CA bundle from
the environment, bounded timeouts, and retries of throttling and transient
failures.
"""

from __future__ import annotations

import math
import os
import random
import re
import time
from typing import Callable, Mapping, NamedTuple, Optional
from urllib.parse import urlencode
from xml.etree import ElementTree

from mfaenv.errors import ProfileError, StsRejectedError, StsUnavailableError
from mfaenv.variables import Session, parse_expiry

API_VERSION = "2011-06-15"
#: Seconds to wait for a TCP connection, and for the answer.
CONNECT_TIMEOUT = 3.0
READ_TIMEOUT = 5.0
#: Upper bound of either timeout when set through the environment.
MAX_TIMEOUT = 300.0
#: Attempts in all, for throttling, 5xx answers and connection failures (not for
#: a read timeout: that request may have used the MFA code).
MAX_ATTEMPTS = 3
RETRYABLE_CODES = frozenset({
    "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException",
    "RequestThrottled", "ServiceUnavailable", "InternalFailure", "InternalError", "IDPCommunicationError",
})
#: A region is one DNS label, as botocore demands (validate_region_name): it becomes part
#: of the endpoint's host name, and "x@attacker.example/" would send the signed request,
#: MFA code included, to another host.
REGION_NAME = re.compile(r"(?![0-9]+$)(?!-)[a-zA-Z0-9-]{1,63}(?<!-)", re.ASCII)
#: Codes that mean the long-term keys, not the MFA code, are at fault.
KEY_ERROR_CODES = {
    "InvalidClientTokenId": "the access key id is not valid",
    "SignatureDoesNotMatch": "the secret access key does not match the access key id",
    "UnrecognizedClientException": "the access key id is not valid",
    "ExpiredToken": "the keys are a session, not long-term keys",
    "InvalidAccessKeyId": "the access key id is not valid",
}


class _Keys(NamedTuple):
    """What botocore's signer reads from a credentials object."""

    access_key: str
    secret_key: str
    token: Optional[str] = None


def endpoint_url(region: str, environ: Mapping[str, str] = os.environ) -> str:
    """The STS endpoint, as botocore would choose it for regional endpoints."""
    if environ.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "").lower() != "true":
        for variable in ("AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL"):
            if environ.get(variable):
                return environ[variable]
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"https://sts.{region}.{suffix}"


def get_session_token(
    *,
    profile: str,
    access_key_id: str,
    secret_access_key: str,
    serial: str,
    code: str,
    duration: int,
    region: str,
    environ: Mapping[str, str] = os.environ,
) -> Session:
    """Fetch an MFA session; raise StsRejectedError or StsUnavailableError on failure."""
    form = {"Action": "GetSessionToken", "Version": API_VERSION, "DurationSeconds": str(duration),
            "SerialNumber": serial, "TokenCode": code}
    return _call(form, _Keys(access_key_id, secret_access_key), region, environ, profile,
                 lambda code_name, message: _rejection(profile, code_name, message))


def assume_role(
    *,
    profile: str,
    role_arn: str,
    session_name: str,
    access_key_id: str,
    secret_access_key: str,
    session_token: Optional[str] = None,
    external_id: Optional[str] = None,
    duration: int,
    serial: Optional[str] = None,
    code: Optional[str] = None,
    region: str,
    environ: Mapping[str, str] = os.environ,
) -> Session:
    """Assume a role, signed with long-term keys or a session (then with its token).

    The MFA device and code are sent only when both are given: a session obtained
    with MFA carries the MFA context itself, and STS would refuse a code spent twice.
    """
    form = {"Action": "AssumeRole", "Version": API_VERSION, "RoleArn": role_arn,
            "RoleSessionName": session_name, "DurationSeconds": str(duration)}
    if external_id:
        form["ExternalId"] = external_id
    if serial and code:
        form.update(SerialNumber=serial, TokenCode=code)
    keys = _Keys(access_key_id, secret_access_key, session_token or None)

    def rejection(code_name: str, message: str) -> StsRejectedError:
        return _role_rejection(profile, role_arn, code_name, message, keys.token is not None, form, duration)

    return _call(form, keys, region, environ, profile, rejection)


def _call(
    form: Mapping[str, str],
    keys: _Keys,
    region: str,
    environ: Mapping[str, str],
    profile: str,
    rejection: Callable[[str, str], StsRejectedError],
) -> Session:
    """One signed STS Query request, retried on throttling and transient failures."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.exceptions import BotoCoreError, ReadTimeoutError
    from botocore.httpsession import URLLib3Session
    from botocore.utils import get_environ_proxies

    if not REGION_NAME.fullmatch(region):
        raise ProfileError(
            f"profile '{profile}': region {region!r} is not a region name; fix region in the config file or AWS_REGION"
        )
    url = endpoint_url(region, environ)
    body = urlencode(form)
    http = URLLib3Session(
        verify=environ.get("AWS_CA_BUNDLE") or True,
        proxies=get_environ_proxies(url),
        timeout=(_timeout("MFAENV_CONNECT_TIMEOUT", CONNECT_TIMEOUT, environ),
                 _timeout("MFAENV_READ_TIMEOUT", READ_TIMEOUT, environ)),
    )
    # With a session token the signer also sends it, as X-Amz-Security-Token.
    signer = SigV4Auth(keys, "sts", region)
    failure = ""
    shown = _without_userinfo(url)
    try:
        for attempt in range(MAX_ATTEMPTS):
            if attempt:
                time.sleep(random.uniform(0.2, 0.5) * 2 ** attempt)  # jittered backoff
            request = AWSRequest(
                method="POST",
                url=url,
                data=body,
                headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
            )
            signer.add_auth(request)
            try:
                response = http.send(request.prepare())
            except ReadTimeoutError:
                # The request arrived and may have used the code: a retry with the same
                # code could only be refused as a wrong code.
                raise StsUnavailableError(
                    f"profile '{profile}': no answer from {shown} in time; "
                    f"try again with the next MFA code"
                ) from None
            except BotoCoreError as error:
                failure = f"cannot reach {shown}: {_connection_reason(error)}"
                continue
            status, content = response.status_code, response.content
            if status == 200:
                return _parse_credentials(content, shown)
            code_name, message = _parse_error(content)
            if code_name in RETRYABLE_CODES or status >= 500 or status == 429:
                failure = f"{shown} answered {code_name or status}"
                continue
            raise rejection(code_name or f"HTTP {status}", message)
    finally:
        http.close()
    raise StsUnavailableError(
        f"profile '{profile}': STS unavailable after {MAX_ATTEMPTS} attempts ({failure}); try again shortly"
    )


def _without_userinfo(url: str) -> str:
    """An endpoint as shown in messages: a user:password@ part is left out."""
    scheme, sep, rest = url.partition("://")
    host, slash, path = rest.partition("/")
    return scheme + sep + host.rpartition("@")[2] + slash + path


def _timeout(variable: str, default: float, environ: Mapping[str, str]) -> float:
    try:
        value = float(environ.get(variable, default))
    except ValueError:
        return default
    # inf, nan or 1e400 would break the socket's timeout or never end: keep the wait bounded.
    return min(max(0.1, value), MAX_TIMEOUT) if math.isfinite(value) else default


def _connection_reason(error: Exception) -> str:
    name = type(error).__name__
    return {
        "ConnectTimeoutError": "connection timed out",
        "ReadTimeoutError": "no answer in time",
        "EndpointConnectionError": "connection failed",
        "SSLError": "TLS failed (set AWS_CA_BUNDLE?)",
        "ProxyConnectionError": "proxy failed",
        "ConnectionClosedError": "connection closed",
    }.get(name, name)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _find(root: ElementTree.Element, name: str) -> Optional[str]:
    for element in root.iter():
        if _local(element.tag) == name:
            return (element.text or "").strip()
    return None


def _parse_credentials(content: bytes, url: str) -> Session:
    try:
        root = ElementTree.fromstring(content)
        values = [_find(root, name) for name in ("AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration")]
        if not all(values):
            raise ValueError("incomplete credentials")
        access_key_id, secret, token, expiration = values
        return Session(access_key_id, secret, token, expires=parse_expiry(expiration))
    except (ElementTree.ParseError, ValueError):
        raise StsUnavailableError(f"{url} answered with something that is not an STS session") from None


def _parse_error(content: bytes):
    try:
        root = ElementTree.fromstring(content)
    except ElementTree.ParseError:
        return None, ""
    return _find(root, "Code"), _one_line(_find(root, "Message") or "")


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()[:300]


def _rejection(profile: str, code_name: str, message: str) -> StsRejectedError:
    if code_name in KEY_ERROR_CODES:
        return StsRejectedError(
            f"profile '{profile}': STS rejected the long-term keys ({code_name}: {KEY_ERROR_CODES[code_name]}); "
            f"check the source profile's aws_access_key_id and aws_secret_access_key"
        )
    if code_name == "AccessDenied" and "MultiFactorAuthentication" in message:
        return StsRejectedError(
            f"profile '{profile}': STS rejected the MFA code (AccessDenied); "
            f"wait for the next code and try again, and check the MFA device ARN"
        )
    detail = f": {message}" if message else ""
    return StsRejectedError(f"profile '{profile}': STS refused the request ({code_name}{detail})")


def _role_rejection(
    profile: str, role_arn: str, code_name: str, message: str, from_session: bool, form: Mapping[str, str],
    duration: int,
) -> StsRejectedError:
    """An AssumeRole refusal as one line that names the role and the likely fix."""
    where = f"profile '{profile}': STS refused to assume role {role_arn}"
    if code_name == "AccessDenied" and "MultiFactorAuthentication" in message:
        return StsRejectedError(
            f"{where}: the MFA code was wrong (AccessDenied); wait for the next code and try again, "
            f"and check the MFA device ARN"
        )
    if code_name in KEY_ERROR_CODES and from_session:
        return StsRejectedError(
            f"{where}: the session that signed the request is expired or revoked ({code_name}); "
            f"fetch a new one with the next MFA code (give the code, or --force)"
        )
    if code_name in KEY_ERROR_CODES:
        return StsRejectedError(
            f"{where}: the long-term keys were rejected ({code_name}: {KEY_ERROR_CODES[code_name]}); "
            f"check the source profile's aws_access_key_id and aws_secret_access_key"
        )
    if code_name == "AccessDenied":
        external = "a wrong external_id" if "ExternalId" in form else "an external_id the profile does not set"
        mfa = "an MFA condition the signer does not meet" if "TokenCode" not in form else "an MFA condition"
        return StsRejectedError(
            f"{where} (AccessDenied); likely causes: the role's trust policy does not trust this user, "
            f"{mfa}, or {external}"
        )
    if code_name == "ValidationError" and "DurationSeconds" in message:
        if from_session or "chaining" in message:
            return StsRejectedError(
                f"{where}: a role session assumed from another session is capped at 1 hour, "
                f"and {duration} s was asked; set duration_seconds or --duration to 3600 or less"
            )
        return StsRejectedError(
            f"{where}: {duration} s is longer than the role's maximum session duration; "
            f"lower duration_seconds or --duration, or raise the role's MaxSessionDuration"
        )
    detail = f": {message}" if message else ""
    return StsRejectedError(f"{where} ({code_name}{detail})")
