"""A small local HTTP stand-in for STS, for the answers moto will not give.

moto accepts any code and any keys; to see what mfaenv does when STS says no,
throttles, fails or hangs, this server answers each POST with the next of a
scripted list of responses (the last one repeats), in the XML real STS sends.
It records every request: the form fields and the access key id that signed it
(from the SigV4 ``Authorization`` header), so tests can prove which keys were
used and that nothing was sent at all.

Use the ``sts_standin`` fixture (``standin_env`` is the throwaway HOME pointed at
it), or ``StsStandIn`` as a context manager.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Dict, List, Optional, Union
from urllib.parse import parse_qs

import pytest

from emulator import clean_environ

NAMESPACE = "https://sts.amazonaws.com/doc/2011-06-15/"
#: What the stand-in hands out on success; tests look for these on stderr.
SESSION_KEY_ID = "ASIASTANDIN000000001"
SESSION_SECRET = "standin/SESSION+secret0000000000000000"
SESSION_TOKEN = "FwoGZXIvYXdzEStandInSessionToken//////////" + "x" * 120


@dataclass(frozen=True)
class Response:
    status: int
    #: The XML, or a function of the request's form fields that builds it.
    body: Union[str, Callable[[Dict[str, str]], str]]
    #: Seconds to wait before answering (a hang, when longer than the client's read timeout).
    delay: float = 0.0


def error(status: int, code: str, message: str, kind: str = "Sender") -> Response:
    """An STS error exactly as STS words it."""
    return Response(status, (
        f'<ErrorResponse xmlns="{NAMESPACE}">\n'
        f"  <Error>\n    <Type>{kind}</Type>\n    <Code>{code}</Code>\n    <Message>{message}</Message>\n  </Error>\n"
        f"  <RequestId>{uuid.uuid4()}</RequestId>\n"
        f"</ErrorResponse>\n"
    ))


WRONG_CODE = error(403, "AccessDenied", "MultiFactorAuthentication failed with invalid MFA one time pass code. ")
INVALID_KEY_ID = error(403, "InvalidClientTokenId", "The security token included in the request is invalid.")
BAD_SIGNATURE = error(
    403, "SignatureDoesNotMatch",
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
)
THROTTLED = error(400, "Throttling", "Rate exceeded")
INTERNAL_FAILURE = error(500, "InternalFailure", "An internal error occurred.", kind="Receiver")


def hang(seconds: float = 30.0) -> Response:
    return Response(200, "", delay=seconds)


def success() -> Response:
    """The action's answer, with an expiry that follows the request's DurationSeconds."""
    return Response(200, _success_body)


def _success_body(form: Dict[str, str]) -> str:
    action = form.get("Action", "GetSessionToken")
    duration = int(form.get("DurationSeconds", 3600 if action == "AssumeRole" else 43200))
    expiration = (datetime.now(timezone.utc) + timedelta(seconds=duration)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    user = ""
    if action == "AssumeRole":
        role_arn, session_name = form.get("RoleArn", ""), form.get("RoleSessionName", "")
        account, role = role_arn.split(":")[4:5] or [""], role_arn.rpartition("/")[2]
        user = (
            f"    <AssumedRoleUser>\n      <AssumedRoleId>AROASTANDIN00000000001:{session_name}</AssumedRoleId>\n"
            f"      <Arn>arn:aws:sts::{account[0]}:assumed-role/{role}/{session_name}</Arn>\n    </AssumedRoleUser>\n"
        )
    return (
        f'<{action}Response xmlns="{NAMESPACE}">\n'
        f"  <{action}Result>\n{user}    <Credentials>\n"
        f"      <SessionToken>{SESSION_TOKEN}</SessionToken>\n"
        f"      <SecretAccessKey>{SESSION_SECRET}</SecretAccessKey>\n"
        f"      <Expiration>{expiration}</Expiration>\n"
        f"      <AccessKeyId>{SESSION_KEY_ID}</AccessKeyId>\n"
        f"    </Credentials>\n  </{action}Result>\n"
        f"  <ResponseMetadata>\n    <RequestId>{uuid.uuid4()}</RequestId>\n  </ResponseMetadata>\n"
        f"</{action}Response>\n"
    )


_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request")


@dataclass
class Request:
    """One POST as the stand-in saw it."""

    path: str
    headers: Dict[str, str]
    form: Dict[str, str]
    body: bytes = b""

    @property
    def signing_key_id(self) -> Optional[str]:
        """The access key id in the SigV4 credential scope."""
        match = _CREDENTIAL.search(self.headers.get("Authorization", ""))
        return match.group(1) if match else None

    @property
    def signing_region(self) -> Optional[str]:
        match = _CREDENTIAL.search(self.headers.get("Authorization", ""))
        return match.group(3) if match else None

    def signed_with(self, secret_access_key: str) -> bool:
        """Whether the SigV4 signature was made with this secret key (checked the way STS does)."""
        authorization = self.headers.get("Authorization", "")
        credential = _CREDENTIAL.search(authorization)
        signed = re.search(r"SignedHeaders=([^,\s]+)", authorization)
        signature = re.search(r"Signature=([0-9a-f]{64})", authorization)
        if not (authorization.startswith("AWS4-HMAC-SHA256 ") and credential and signed and signature):
            return False
        _key_id, day, region, service = credential.groups()
        names = signed.group(1).split(";")
        lower = {name.lower(): value for name, value in self.headers.items()}
        if any(name not in lower for name in names):
            return False
        path, _, query = self.path.partition("?")
        canonical = "\n".join([
            "POST", path or "/", query,
            "".join(f"{name}:{' '.join(lower[name].split())}\n" for name in names),
            ";".join(names),
            hashlib.sha256(self.body).hexdigest(),
        ])
        scope = f"{day}/{region}/{service}/aws4_request"
        to_sign = "\n".join([
            "AWS4-HMAC-SHA256", lower.get("x-amz-date", ""), scope, hashlib.sha256(canonical.encode()).hexdigest(),
        ])
        key = ("AWS4" + secret_access_key).encode()
        for part in (day, region, service, "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, signature.group(1))


@dataclass
class StsStandIn:
    """A threaded HTTP server on 127.0.0.1 with a free port."""

    responses: List[Response] = field(default_factory=lambda: [success()])
    requests: List[Request] = field(default_factory=list)

    def __post_init__(self):
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def answer(self, *responses: Response) -> "StsStandIn":
        """Answer the next requests with these, in order; the last one repeats."""
        with self._lock:
            self.responses = list(responses)
        return self

    def _next(self) -> Response:
        with self._lock:
            return self.responses.pop(0) if len(self.responses) > 1 else self.responses[0]

    def __enter__(self) -> "StsStandIn":
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stopping.set()  # cut short any hanging answer
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _handler_class(self):
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                body = raw.decode("utf-8", "replace")
                form = {key: values[-1] for key, values in parse_qs(body, keep_blank_values=True).items()}
                with standin._lock:
                    standin.requests.append(Request(self.path, dict(self.headers.items()), form, raw))
                response = standin._next()
                if response.delay > 0 and standin._stopping.wait(response.delay):
                    return
                text = response.body if isinstance(response.body, str) else response.body(form)
                payload = text.encode("utf-8")
                try:
                    self.send_response(response.status)
                    self.send_header("Content-Type", "text/xml")
                    self.send_header("Content-Length", str(len(payload)))
                    self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting, as it should

            def log_message(self, *args):  # keep test output clean
                pass

        return Handler


@pytest.fixture
def sts_standin():
    """A running stand-in; point AWS_ENDPOINT_URL_STS at ``sts_standin.url``."""
    with StsStandIn() as standin:
        yield standin


@pytest.fixture
def standin_env(aws_home: Path, sts_standin: StsStandIn) -> Dict[str, str]:
    """The throwaway HOME, with STS pointed at the stand-in."""
    environ = clean_environ(aws_home)
    environ["AWS_ENDPOINT_URL_STS"] = sts_standin.url
    return environ
