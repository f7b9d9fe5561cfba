"""The AWS calls: STS GetSessionToken (long-term keys + MFA code) and AssumeRole.

This is the only module that imports botocore, and it imports only what the
call needs: the SigV4 signer and the HTTP session. Building a full botocore
client would load the endpoint tables, the service model and the retry
configuration (~80 ms) for a single, fixed Query-protocol request. What the
client would add is done here explicitly: the endpoint (``AWS_ENDPOINT_URL_STS``,
``AWS_ENDPOINT_URL``, else the regional endpoint), proxies and CA bundle from
the environment, bounded timeouts (and one deadline for the whole call), and
retries of throttling and transient failures.
"""

from __future__ import annotations

import math
import os
import random
import re
import time
from typing import TYPE_CHECKING, Callable, Iterable, Mapping, NamedTuple, Optional, Tuple, TypeVar
from urllib.parse import urlencode, urlsplit
from xml.etree import ElementTree

from mfaenv.errors import ProfileError, StsRejectedError, StsUnavailableError
from mfaenv.profiles import configured_endpoint, is_region_name
from mfaenv.shells.variables import Session
from mfaenv.shells.expiry import format_expiry, parse_expiry

if TYPE_CHECKING:
    from datetime import datetime

API_VERSION = "2011-06-15"
#: Seconds to wait for a TCP connection, and for the answer.
CONNECT_TIMEOUT = 3.0
READ_TIMEOUT = 5.0
#: Seconds for the whole call, attempts and back-off included: a trickling endpoint
#: never trips the read timeout, which bounds each wait for data, not the answer.
TOTAL_TIMEOUT = 15.0
#: The most of an answer that is read; STS answers are about 1 KiB.
MAX_ANSWER_BYTES = 1024 * 1024
#: Upper bound of any timeout when set through the environment.
MAX_TIMEOUT = 300.0
#: Attempts in all, for throttling, 5xx answers and connection failures (not for
#: a read timeout: that request may have used the MFA code).
MAX_ATTEMPTS = 3
RETRYABLE_CODES = frozenset({
    "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException",
    "RequestThrottled", "ServiceUnavailable", "InternalFailure", "InternalError", "IDPCommunicationError",
})
#: Codes that mean the long-term keys, not the MFA code, are at fault.
KEY_ERROR_CODES = {
    "InvalidClientTokenId": "the access key id is not valid",
    "SignatureDoesNotMatch": "the secret access key does not match the access key id",
    "UnrecognizedClientException": "the access key id is not valid",
    "ExpiredToken": "the keys are a session, not long-term keys",
    "InvalidAccessKeyId": "the access key id is not valid",
}


T = TypeVar("T")


class Identity(NamedTuple):
    """GetCallerIdentity's answer, and the server's clock."""

    account: str
    arn: str
    user_id: str
    #: The IAM user's name (without its path) when the signer is an IAM user's key or its session; else None.
    user_name: Optional[str]
    #: The answer's ``Date`` header, timezone-aware UTC; None when absent or unreadable.
    server_date: Optional[datetime]


class _Keys(NamedTuple):
    """What botocore's signer reads from a credentials object."""

    access_key: str
    secret_key: str
    token: Optional[str] = None


def endpoint_url(region: str, environ: Mapping[str, str] = os.environ, profile: Optional[str] = None) -> str:
    """The STS endpoint, as botocore resolves it: a configured URL (checked), else its endpoint rules.

    The rules take the partition's DNS suffixes from botocore's data, and the FIPS and
    dual-stack settings from AWS_USE_FIPS_ENDPOINT and AWS_USE_DUALSTACK_ENDPOINT (the
    profile's use_fips_endpoint and use_dualstack_endpoint arrive as these: see
    endpoints.with_profile_settings). As botocore does, a configured URL ignores both.
    """
    configured = configured_endpoint(environ)
    if configured is not None:
        _check_endpoint(*configured)
        return configured[1]
    from mfaenv.aws import endpoints

    fips = endpoints.enabled(environ, endpoints.FIPS_SETTING)
    dualstack = endpoints.enabled(environ, endpoints.DUALSTACK_SETTING)
    try:
        return endpoints.sts_url(region, fips, dualstack)
    except endpoints.EndpointError as error:
        who = f"profile '{profile}': " if profile else ""
        raise ProfileError(
            f"{who}no STS endpoint for region {region}: {error}; set use_fips_endpoint or use_dualstack_endpoint "
            f"(or AWS_USE_FIPS_ENDPOINT, AWS_USE_DUALSTACK_ENDPOINT) to false",
            reason="no such STS endpoint",
        ) from None


def check_endpoint(environ: Mapping[str, str] = os.environ, regions: Iterable[str] = ("us-east-1",),
                   profile: Optional[str] = None) -> None:
    """Refuse an endpoint that cannot be used, before a code is asked for (no network, no botocore)."""
    for region in regions:
        if is_region_name(region):
            endpoint_url(region, environ, profile)


def _check_endpoint(variable: str, url: str, service: str = "STS") -> None:
    """One line naming the variable; the URL is never shown, as it may hold a password."""
    reason = None
    try:
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https"):
            reason = "it must start with https:// (or http://)"
        elif not parts.hostname:
            reason = "it names no host"
        elif any(ord(char) <= 32 or ord(char) == 127 for char in url):
            reason = "it contains spaces or control characters"
        elif "@" in url[url.index("//") + 2 + len(parts.netloc):]:
            # A '/', '?' or '#' in a password ends the host part early: the request would go
            # to the user name as a host. Such characters must be percent-encoded.
            reason = "an '@' after the host part: percent-encode '/', '?' and '#' in a user name or password"
        else:
            parts.port  # noqa: B018 (raises ValueError for a port that is not a number in range)
    except ValueError:
        reason = "it is not a well-formed URL (host or port)"
    if reason is not None:
        raise ProfileError(f"{variable} is not a usable {service} endpoint: {reason}; fix it or unset it")


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


def get_caller_identity(
    *,
    profile: str,
    access_key_id: str,
    secret_access_key: str,
    session_token: Optional[str] = None,
    region: str = "us-east-1",
    environ: Mapping[str, str] = os.environ,
) -> Identity:
    """GetCallerIdentity signed with these credentials (long-term keys need no MFA code).

    Same endpoint, deadline, size bound and retries as the other STS calls. A refusal is
    StsRejectedError whose ``aws_code`` is STS's error code (``InvalidClientTokenId`` for
    a key IAM has not made known to STS yet).
    """
    form = {"Action": "GetCallerIdentity", "Version": API_VERSION}

    def rejection(code_name: str, message: str) -> StsRejectedError:
        error = _rejection(profile, code_name, message)
        error.aws_code = code_name
        return error

    def parse(content: bytes, headers: Mapping[str, str], shown: str) -> Identity:
        try:
            root = ElementTree.fromstring(content)
        except ElementTree.ParseError:
            root = None
        values = [_find(root, name) if root is not None else None for name in ("Account", "Arn", "UserId")]
        if not all(values):
            raise StsUnavailableError(f"{shown} answered with something that is not a caller identity")
        account, arn, user_id = (value.strip() for value in values)
        return Identity(account, arn, user_id, _user_name(arn), _http_date(headers.get("Date")))

    return _call(form, _Keys(access_key_id, secret_access_key, session_token or None), region, environ, profile,
                 rejection, parse)


def _user_name(arn: str) -> Optional[str]:
    """``arn:aws:iam::111122223333:user/some/path/jane`` -> ``jane``; None for anything but an IAM user."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[2] != "iam" or not parts[5].startswith("user/"):
        return None
    return parts[5].rsplit("/", 1)[-1] or None


def _http_date(value: Optional[str]) -> Optional[datetime]:
    from email.utils import parsedate_to_datetime

    try:
        stamp = parsedate_to_datetime(value) if value else None
    except (TypeError, ValueError, IndexError):
        return None
    if stamp is None:
        return None
    from datetime import timezone

    return stamp.replace(tzinfo=timezone.utc) if stamp.tzinfo is None else stamp.astimezone(timezone.utc)


def _call(
    form: Mapping[str, str],
    keys: _Keys,
    region: str,
    environ: Mapping[str, str],
    profile: str,
    rejection: Callable[[str, str], StsRejectedError],
    parse: Optional[Callable[[bytes, Mapping[str, str], str], T]] = None,
) -> T:
    """One signed STS Query request, retried on throttling and transient failures, all within a deadline.

    ``parse(body, headers, shown_url)`` reads a 200 answer; by default it is a session.
    """
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.exceptions import BotoCoreError, ReadTimeoutError
    from urllib3.exceptions import HTTPError, ReadTimeoutError as BodyReadTimeoutError
    from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError, ProxyConnectionError, SSLError

    # Raised before a byte of the request left: no connection (DNS, refused, timed out, the
    # proxy's CONNECT) or no TLS session.
    NOT_SENT = (ConnectTimeoutError, EndpointConnectionError, ProxyConnectionError, SSLError)

    if not is_region_name(region):  # profiles.py checked where it came from; the host name is made of it
        raise ProfileError(f"profile '{profile}': region {region!r} is not a region name")
    url = endpoint_url(region, environ, profile)
    total = _timeout("MFAENV_TOTAL_TIMEOUT", TOTAL_TIMEOUT, environ)
    deadline = time.monotonic() + total
    body = urlencode(form)
    http = _http_session(url, environ)
    # With a session token the signer also sends it, as X-Amz-Security-Token.
    signer = SigV4Auth(keys, "sts", region)
    failure = ""
    shown = _without_userinfo(url)
    # The request arrived and may have used the code: a retry with the same code
    # could only be refused as a wrong code.
    no_answer = StsUnavailableError(
        f"profile '{profile}': no answer from {shown} in time; try again with the next MFA code"
    )
    carries_code = "TokenCode" in form
    sent = 0  # requests sent: the deadline can end the loop before the next one
    for attempt in range(MAX_ATTEMPTS):
        if attempt:
            pause = random.uniform(0.2, 0.5) * 2 ** attempt  # jittered backoff
            if time.monotonic() + pause >= deadline:
                break
            time.sleep(pause)
        request = AWSRequest(
            method="POST",
            url=url,
            data=body,
            headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
        )
        signer.add_auth(request)
        prepared = request.prepare()
        prepared.stream_output = True  # read by _exchange, at most MAX_ANSWER_BYTES
        sent += 1
        try:
            status, content, headers = _within(deadline, lambda: _exchange(http, prepared))
        except (_TooLate, ReadTimeoutError, BodyReadTimeoutError):
            raise no_answer from None
        except _TooLarge:
            raise StsUnavailableError(
                f"profile '{profile}': {shown} answered with more than {MAX_ANSWER_BYTES // 1024} KiB, "
                f"which is not an STS answer"
            ) from None
        except NOT_SENT as error:  # no connection, so no request: trying again spends nothing
            failure = f"cannot reach {shown}: {_connection_reason(error)}"
            continue
        except (BotoCoreError, HTTPError, OSError) as error:  # the connection broke once the request was on its way
            if carries_code:  # STS may have read it and spent the code: the same code would only be refused
                raise StsUnavailableError(
                    f"profile '{profile}': the connection to {shown} broke after the request was sent "
                    f"({_connection_reason(error)}); STS may have used the MFA code: wait for the next code "
                    f"and try again"
                ) from None
            failure = f"cannot reach {shown}: {_connection_reason(error)}"
            continue
        if status == 200:
            if parse is not None:
                return parse(content, headers, shown)
            return _parse_credentials(content, shown, profile)
        code_name, message = _parse_error(content)
        if code_name in RETRYABLE_CODES or status >= 500 or status == 429:
            failure = f"{shown} answered {code_name or status}"
            continue
        raise rejection(code_name or f"HTTP {status}", message)
    raise StsUnavailableError(
        f"profile '{profile}': STS unavailable after {sent} attempt{'' if sent == 1 else 's'} ({failure}); try again shortly"
    )


#: One HTTP session (urllib3 connection pools) per endpoint and its settings, for the whole
#: process: a role chain's calls share one TCP and TLS connection while the server keeps it open.
_HTTP_SESSIONS: dict = {}


def _http_session(url: str, environ: Mapping[str, str]):
    """The process's HTTP session for this endpoint; botocore's own socket options (TCP_NODELAY).

    Without TCP_NODELAY, urllib3's separate writes of a request's headers and body
    meet Nagle's algorithm and the server's delayed ACK: about 40 ms per request.
    """
    import socket

    from botocore.httpsession import URLLib3Session
    from botocore.utils import get_environ_proxies

    verify = environ.get("AWS_CA_BUNDLE") or True
    proxies = get_environ_proxies(url)
    timeout = (_timeout("MFAENV_CONNECT_TIMEOUT", CONNECT_TIMEOUT, environ),
               _timeout("MFAENV_READ_TIMEOUT", READ_TIMEOUT, environ))
    parts = urlsplit(url)
    key = (parts.scheme, parts.netloc, verify, tuple(sorted(proxies.items())), timeout)
    if key not in _HTTP_SESSIONS:
        _HTTP_SESSIONS[key] = URLLib3Session(
            verify=verify, proxies=proxies, timeout=timeout,
            socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
        )
    return _HTTP_SESSIONS[key]


class _TooLate(Exception):
    """The deadline of the whole call passed."""


class _TooLarge(Exception):
    """The answer is longer than MAX_ANSWER_BYTES."""


def _exchange(http, prepared) -> Tuple[int, bytes, Mapping[str, str]]:
    """Status, body and headers of one request, reading at most MAX_ANSWER_BYTES of the body."""
    response = http.send(prepared)
    chunks, size = [], 0
    while True:
        chunk = response.raw.read(64 * 1024)
        if not chunk:
            response.raw.release_conn()  # back to the pool, for the next call of this process
            return response.status_code, b"".join(chunks), response.headers
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            response.raw.close()
            raise _TooLarge()
        chunks.append(chunk)


def _within(deadline: float, work: Callable[[], T]) -> T:
    """What ``work`` returns or raises, or _TooLate once the deadline passes.

    A trickling endpoint (a byte every 2 s, in the headers or the body) never
    trips the socket's read timeout; only a deadline on the whole exchange stops
    it. The worker thread is left to finish or fail on its own: it is a daemon,
    and the process is about to report the failure and exit.
    """
    import threading

    outcome: list = []

    def run() -> None:
        try:
            outcome.append((True, work()))
        except BaseException as error:  # handed to the caller's thread
            outcome.append((False, error))

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(max(0.0, deadline - time.monotonic()))
    if not outcome:
        raise _TooLate()
    done, value = outcome[0]
    if not done:
        raise value
    return value


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
        "ProtocolError": "connection closed",
        "ConnectionResetError": "connection reset",
        "RemoteDisconnected": "connection closed",
        "IncompleteRead": "connection closed mid-answer",
    }.get(name, name)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _find(root: ElementTree.Element, name: str) -> Optional[str]:
    """The text of the first element of that name, exactly as sent (as botocore reads it)."""
    for element in root.iter():
        if _local(element.tag) == name:
            return element.text or ""
    return None


def _parse_credentials(content: bytes, url: str, profile: str) -> Session:
    try:
        root = ElementTree.fromstring(content)
        values = [_find(root, name) for name in ("AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration")]
        if not all(values):
            raise ValueError("incomplete credentials")
        access_key_id, secret, token, expiration = values
        # An unreadable or out-of-range expiry counts as none: not a session mfaenv can hand out.
        session = Session(access_key_id, secret, token, expires=parse_expiry(expiration))
    except (ElementTree.ParseError, ValueError):
        raise StsUnavailableError(f"{url} answered with something that is not an STS session") from None
    if session.seconds_left() <= 0:
        raise StsUnavailableError(
            f"profile '{profile}': {url} answered with a session that expired already "
            f"({format_expiry(session.expires)}); check this computer's clock, then try again with the next MFA code"
        )
    return session


def _parse_error(content: bytes):
    try:
        root = ElementTree.fromstring(content)
    except ElementTree.ParseError:
        return None, ""
    return (_find(root, "Code") or "").strip() or None, _one_line(_find(root, "Message") or "")


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
