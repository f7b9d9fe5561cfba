"""A small local HTTP stand-in for STS: it checks who signed what, and says no on demand.

moto accepts any code and any keys. This server behaves like STS where mfaenv's
correctness depends on it, and answers whatever a test scripts where it does not.

Use the ``sts_standin`` fixture (``standin_env`` is the throwaway HOME pointed at
it), or ``StsStandIn`` as a context manager; ``url`` is its endpoint.

Who may sign (checked on every request, before anything else, as STS does):
- Long-term keys: those of ``tests/data/credentials``, those in the test HOME's
  ``~/.aws/credentials`` and ``~/.aws/config`` (re-read on every request, so a
  test may write its own; the fixture sets ``key_files``), any added with
  ``allow(key_id, secret)``, and those ``key_lookup(key_id)`` finds elsewhere (the
  OS credential store of `mfaenv keys`).
- Sessions the stand-in issued, with their ``X-Amz-Security-Token``.
The SigV4 signature is verified against that secret. An unknown key id, a session
key without its token (or with another one's) is ``InvalidClientTokenId``; a wrong
secret ``SignatureDoesNotMatch``; an expired session ``ExpiredToken``. Set
``check_signatures = False`` to accept anything.

What it answers: ``answer(*responses)`` scripts the next answers in order (the last
one repeats); the default is ``[success()]``. ``success()`` issues a new, distinct
session, as STS does:
- GetSessionToken: refused (AccessDenied) when signed with a session; the session
  has MFA when SerialNumber and TokenCode were sent. Any code is accepted.
- AssumeRole: ``AssumedRoleUser`` and ``Credentials`` XML; a session signed by
  temporary credentials is capped at 3600 s (``ValidationError`` as real STS words
  it, ``CHAINING_MESSAGE``); roles set up with ``role(arn, external_id=...,
  mfa=True, max_duration=...)`` demand that ExternalId, demand MFA (long-term keys
  must send SerialNumber/TokenCode, a session must have been obtained with MFA;
  a role session has MFA when its signer had it or it sent a code) and cap the
  duration (default 43200 s). Roles not set up accept everything.
GetCallerIdentity, which real clients (boto3, the AWS CLI, the JavaScript SDK) call
to prove their credentials, is answered for whoever signed, apart from the script:
an IAM user's ARN for long-term keys given to ``user(key_id, arn)`` (and for the
sessions they obtained), else a federated user's. Every answer carries a ``Date``,
``clock_skew`` seconds off this machine's clock (for `mfaenv doctor`'s clock check).
``refuse_new_keys(times)``: a long-term key that was not known when this was called
(a key a test or ``mfaenv rotate`` just wrote into the HOME's files) is refused with
``InvalidClientTokenId`` for its first ``times`` requests, as STS refuses a key IAM
has not made known to it yet.
Other answers: ``error(status, code, message)`` and the ready ones (``WRONG_CODE``,
``INVALID_KEY_ID``, ``BAD_SIGNATURE``, ``EXPIRED_TOKEN``, ``THROTTLED``,
``INTERNAL_FAILURE``); ``hang(seconds)``; ``expired(seconds_ago)`` and
``success(expires_in=..., expiration="text")`` for a session with that expiry;
``trickling(seconds_per_byte, headers=False)`` sends a session a byte at a time;
``huge(size)`` a well-formed answer padded to ``size`` bytes;
``Response(200, credentials_body(key, secret, token, expiration))`` exactly these
values. Any ``Response`` takes ``delay`` (seconds before answering).
The first session issued is ``SESSION_KEY_ID``/``SESSION_SECRET``/``SESSION_TOKEN``;
``issued`` lists them all (``Issued``: key id, secret, token, expiry, action,
role, mfa, parent key id).

Connections: HTTP/1.1 with keep-alive, as STS (``keep_alive = False`` closes after each
answer); ``connections`` counts the TCP connections accepted, ``handshakes`` the TLS
handshakes when ``tls`` (an ``ssl.SSLContext``, see tls_proxy.py) makes it HTTPS, and
each ``Request.connection`` says which connection carried it. ``dropped()`` reads a
request and closes the connection without an answer.

What it records: ``requests`` holds every ``Request`` in order: ``action``, ``form``
fields, ``signing_key_id``, ``signer`` ("long-term", "session" or None when refused
before), ``token`` (the X-Amz-Security-Token sent, or None), ``answered`` (the
error code, or "ok"), ``sent_bytes`` and ``signed_with(secret)``. ``calls(action)`` filters them,
e.g. ``len(standin.calls("AssumeRole"))``.
"""

from __future__ import annotations

import configparser
import dataclasses
import hashlib
import hmac
import itertools
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Set, Union
from urllib.parse import parse_qs

import pytest

from emulator import DATA, clean_environ

NAMESPACE = "https://sts.amazonaws.com/doc/2011-06-15/"
#: The first session the stand-in hands out; tests look for these on stderr.
SESSION_KEY_ID = "ASIASTANDIN000000001"
SESSION_SECRET = "standin/SESSION+secret0000000000000000"
SESSION_TOKEN = "FwoGZXIvYXdzEStandInSessionToken//////////" + "x" * 120
#: STS's words for AssumeRole over 3600 s signed by temporary credentials.
CHAINING_MESSAGE = "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining."
MAX_SESSION_MESSAGE = "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."


@dataclass(frozen=True)
class Response:
    status: int
    #: The XML, or a function of the request's form fields that builds it.
    body: Union[str, Callable[[Dict[str, str]], str]]
    #: Seconds to wait before answering (a hang, when longer than the client's read timeout).
    delay: float = 0.0
    #: Issue a session as STS would (``success()``), instead of ``body``.
    issue: bool = False
    #: For an issued session: seconds until it expires instead of DurationSeconds (negative: already
    #: expired), or the Expiration text itself.
    expires_in: Optional[float] = None
    expiration: Optional[str] = None
    #: Seconds between bytes sent: from the status line on when ``trickle_headers``, else the body's.
    trickle: float = 0.0
    trickle_headers: bool = False
    #: Read the request, then close the connection without a word (the request may have been acted on).
    drop: bool = False


def error(status: int, code: str, message: str, kind: str = "Sender") -> Response:
    """An STS error exactly as STS words it."""
    return Response(status, _error_body(code, message, kind))


def _error_body(code: str, message: str, kind: str = "Sender") -> str:
    return (
        f'<ErrorResponse xmlns="{NAMESPACE}">\n'
        f"  <Error>\n    <Type>{kind}</Type>\n    <Code>{code}</Code>\n    <Message>{message}</Message>\n  </Error>\n"
        f"  <RequestId>{uuid.uuid4()}</RequestId>\n"
        f"</ErrorResponse>\n"
    )


WRONG_CODE = error(403, "AccessDenied", "MultiFactorAuthentication failed with invalid MFA one time pass code. ")
INVALID_KEY_ID = error(403, "InvalidClientTokenId", "The security token included in the request is invalid.")
BAD_SIGNATURE = error(
    403, "SignatureDoesNotMatch",
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
)
EXPIRED_TOKEN = error(403, "ExpiredToken", "The security token included in the request is expired")
THROTTLED = error(400, "Throttling", "Rate exceeded")
INTERNAL_FAILURE = error(500, "InternalFailure", "An internal error occurred.", kind="Receiver")


def hang(seconds: float = 30.0) -> Response:
    return Response(200, "", delay=seconds)


def success(expires_in: Optional[float] = None, expiration: Optional[str] = None) -> Response:
    """Issue a new session for the request (its expiry follows DurationSeconds), as STS does."""
    return Response(200, "", issue=True, expires_in=expires_in, expiration=expiration)


def expired(seconds_ago: float = 60) -> Response:
    """A session whose Expiration has already passed."""
    return success(expires_in=-seconds_ago)


def trickling(seconds_per_byte: float = 2.0, headers: bool = False) -> Response:
    """A session sent one byte at a time: the body, or everything from the status line on."""
    return dataclasses.replace(success(), trickle=seconds_per_byte, trickle_headers=headers)


def dropped() -> Response:
    """Read the request, then close the connection without answering: the client cannot know if it arrived."""
    return Response(200, "", drop=True)


def huge(size: int = 32 * 1024 * 1024) -> Response:
    """A GetSessionToken answer that is well-formed, and padded by a comment to ``size`` bytes."""
    answer = credentials_body("ASIAHUGE000000000001", "huge/secret", "huge-token", "2099-01-01T00:00:00Z")
    head, _, tail = answer.partition("\n")
    return Response(200, head + "\n<!--" + " " * max(0, size - len(answer) - 8) + "-->\n" + tail)


def credentials_body(access_key_id: str, secret: str, token: str, expiration: str,
                     action: str = "GetSessionToken") -> str:
    """An answer holding exactly these values (what a scripted ``Response`` may send)."""
    return (
        f'<{action}Response xmlns="{NAMESPACE}">\n'
        f"  <{action}Result>\n    <Credentials>\n"
        f"      <SessionToken>{token}</SessionToken>\n"
        f"      <SecretAccessKey>{secret}</SecretAccessKey>\n"
        f"      <Expiration>{expiration}</Expiration>\n"
        f"      <AccessKeyId>{access_key_id}</AccessKeyId>\n"
        f"    </Credentials>\n  </{action}Result>\n"
        f"</{action}Response>\n"
    )


@dataclass(frozen=True)
class Issued:
    """A session the stand-in handed out."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str = field(repr=False)
    expires: float
    action: str
    #: Obtained with MFA: a code was sent, or (for a role) its signer had MFA.
    mfa: bool
    #: The access key id that signed the call that issued it.
    parent: str
    role_arn: Optional[str] = None
    session_name: Optional[str] = None


@dataclass(frozen=True)
class Role:
    """Conditions of a role's trust policy, and its MaxSessionDuration."""

    external_id: Optional[str] = None
    mfa: bool = False
    max_duration: int = 43200


_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request")


@dataclass
class Request:
    """One POST as the stand-in saw it."""

    path: str
    headers: Dict[str, str]
    form: Dict[str, str]
    body: bytes = b""
    #: "long-term" or "session" once the signature checked out; None when refused before.
    signer: Optional[str] = None
    #: The error code answered, or "ok".
    answered: str = ""
    #: Bytes of the answer written to the client before it stopped reading.
    sent_bytes: int = 0
    #: Which TCP connection carried it: 1 for the first the stand-in accepted, and so on.
    connection: int = 0

    @property
    def action(self) -> Optional[str]:
        return self.form.get("Action")

    @property
    def token(self) -> Optional[str]:
        """The X-Amz-Security-Token sent, if any."""
        lower = {name.lower(): value for name, value in self.headers.items()}
        return lower.get("x-amz-security-token")

    def header(self, name: str) -> str:
        """A header's value, whatever its case (the JavaScript SDK sends `authorization`); '' if absent."""
        return next((value for key, value in self.headers.items() if key.lower() == name.lower()), "")

    @property
    def signing_key_id(self) -> Optional[str]:
        """The access key id in the SigV4 credential scope."""
        match = _CREDENTIAL.search(self.header("Authorization"))
        return match.group(1) if match else None

    @property
    def signing_region(self) -> Optional[str]:
        match = _CREDENTIAL.search(self.header("Authorization"))
        return match.group(3) if match else None

    def signed_with(self, secret_access_key: str) -> bool:
        """Whether the SigV4 signature was made with this secret key (checked the way STS does)."""
        authorization = self.header("Authorization")
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


def long_term_keys(paths: Sequence[Path]) -> Dict[str, Set[str]]:
    """Key id -> secrets of every section without a session token in these AWS files."""
    keys: Dict[str, Set[str]] = {}
    for path in paths:
        parser = configparser.RawConfigParser(default_section="\0none")
        try:
            parser.read(path, encoding="utf-8")
        except (configparser.Error, UnicodeDecodeError, OSError):
            continue
        for section in parser.sections():
            values = parser[section]
            if "aws_session_token" not in values and values.get("aws_access_key_id") and values.get(
                    "aws_secret_access_key"):
                keys.setdefault(values["aws_access_key_id"].strip(), set()).add(values["aws_secret_access_key"].strip())
    return keys


@dataclass
class StsStandIn:
    """A threaded HTTP server on 127.0.0.1 with a free port."""

    responses: List[Response] = field(default_factory=lambda: [success()])
    requests: List[Request] = field(default_factory=list)
    issued: List[Issued] = field(default_factory=list)
    #: Seconds added to the clock of every answer's ``Date`` header: a server clock ahead (or behind, negative).
    clock_skew: float = 0.0
    #: AWS files whose long-term keys may sign, re-read on every request.
    key_files: List[Path] = field(default_factory=lambda: [DATA / "credentials"])
    check_signatures: bool = True
    #: HTTP/1.1 keep-alive, as STS does: a client may send its next request on the same connection.
    #: False: "Connection: close" after each answer.
    keep_alive: bool = True
    #: TCP connections accepted so far, and TLS handshakes completed (with ``tls``).
    connections: int = 0
    handshakes: int = 0
    #: Serve HTTPS with this ssl.SSLContext (its certificate trusted through AWS_CA_BUNDLE), not HTTP.
    tls: Optional[object] = None
    #: Secrets of a long-term key the files do not hold (kept elsewhere: the OS credential store), by key id.
    key_lookup: Optional[Callable[[str], Set[str]]] = None

    def __post_init__(self):
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._keys: Dict[str, Set[str]] = {}
        self._roles: Dict[str, Role] = {}
        self._users: Dict[str, str] = {}
        self._known_keys: Optional[Set[str]] = None  # refuse_new_keys: the keys known when it was called
        self._new_key_refusals = 0
        self._refused: Dict[str, int] = {}
        self._numbers = itertools.count(1)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        if self.tls is not None:  # the handshake happens in the connection's own thread, on first read
            self._server.socket = self.tls.wrap_socket(self._server.socket, server_side=True,
                                                       do_handshake_on_connect=False)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{'https' if self.tls is not None else 'http'}://{host}:{port}"

    def answer(self, *responses: Response) -> "StsStandIn":
        """Answer the next requests with these, in order; the last one repeats."""
        with self._lock:
            self.responses = list(responses)
        return self

    def allow(self, access_key_id: str, secret_access_key: str) -> "StsStandIn":
        """Let these long-term keys sign."""
        with self._lock:
            self._keys.setdefault(access_key_id, set()).add(secret_access_key)
        return self

    def user(self, access_key_id: str, user_arn: str) -> "StsStandIn":
        """GetCallerIdentity signed with this key (or a session it obtained) answers this IAM user's ARN."""
        with self._lock:
            self._users[access_key_id] = user_arn
        return self

    def refuse_new_keys(self, times: int) -> "StsStandIn":
        """Refuse each long-term key unknown so far for its first ``times`` requests (InvalidClientTokenId)."""
        with self._lock:
            self._known_keys = set(long_term_keys(self.key_files)) | set(self._keys)
            self._new_key_refusals = times
        return self

    def role(self, role_arn: str, *, external_id: Optional[str] = None, mfa: bool = False,
             max_duration: int = 43200) -> "StsStandIn":
        """Set up a role's trust-policy conditions and maximum session duration."""
        with self._lock:
            self._roles[role_arn] = Role(external_id, mfa, max_duration)
        return self

    def calls(self, action: str) -> List[Request]:
        """The requests for this action, in order."""
        return [request for request in self.requests if request.action == action]

    def actions(self) -> List[Optional[str]]:
        """The action of every request, in order."""
        return [request.action for request in self.requests]

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

    # -- what STS would decide ------------------------------------------------------------------

    def _authenticate(self, request: Request) -> Union[Issued, str, Response]:
        """The issued session or "long-term" that signed the request, or the refusal."""
        key_id = request.signing_key_id or ""
        session = next((one for one in self.issued if one.access_key_id == key_id), None)
        if session is not None:
            if request.token != session.session_token:
                return INVALID_KEY_ID
            if not request.signed_with(session.secret_access_key):
                return BAD_SIGNATURE
            return EXPIRED_TOKEN if session.expires <= time.time() else session
        secrets = long_term_keys(self.key_files).get(key_id, set()) | self._keys.get(key_id, set())
        if not secrets and self.key_lookup is not None and request.token is None:
            secrets = self.key_lookup(key_id)
        if not secrets or request.token is not None:
            return INVALID_KEY_ID
        if self._known_keys is not None and key_id not in self._known_keys:
            self._refused[key_id] = self._refused.get(key_id, 0) + 1
            if self._refused[key_id] <= self._new_key_refusals:
                return INVALID_KEY_ID
        return "long-term" if any(request.signed_with(secret) for secret in secrets) else BAD_SIGNATURE

    def _issue(self, request: Request, signer: Union[Issued, str], response: Response) -> Response:
        form, key_id = request.form, request.signing_key_id or ""
        action = form.get("Action", "GetSessionToken")
        from_session = isinstance(signer, Issued)
        code_sent = bool(form.get("SerialNumber") and form.get("TokenCode"))
        role_arn = form.get("RoleArn")
        if action == "GetSessionToken":
            if from_session:
                return error(403, "AccessDenied", "Cannot call GetSessionToken with session credentials")
            duration, mfa = int(form.get("DurationSeconds", 43200)), code_sent
        elif action == "AssumeRole" and role_arn:
            duration = int(form.get("DurationSeconds", 3600))
            mfa = code_sent or (from_session and signer.mfa)
            role = self._roles.get(role_arn, Role())
            caller = (f"arn:aws:sts::{_account(signer.role_arn)}:assumed-role/{signer.role_arn.rpartition('/')[2]}/"
                      f"{signer.session_name}" if from_session and signer.role_arn
                      else f"arn:aws:iam::111111111111:user/{signer.parent if from_session else key_id}")
            denied = error(403, "AccessDenied",
                           f"User: {caller} is not authorized to perform: sts:AssumeRole on resource: {role_arn}")
            if (role.external_id is not None and form.get("ExternalId") != role.external_id) or (role.mfa and not mfa):
                return denied
            if from_session and duration > 3600:
                return error(400, "ValidationError", CHAINING_MESSAGE)
            if duration > role.max_duration:
                return error(400, "ValidationError", MAX_SESSION_MESSAGE)
        else:
            return error(400, "InvalidAction", f"Could not find operation {action} for version 2011-06-15")
        number = next(self._numbers)
        issued = Issued(
            access_key_id=SESSION_KEY_ID if number == 1 else f"ASIASTANDIN{number:09d}",
            secret_access_key=SESSION_SECRET if number == 1 else f"standin/SESSION+secret{number:016d}",
            session_token=SESSION_TOKEN if number == 1 else f"FwoGZXIvYXdzEStandIn{number:06d}" + "y" * 120,
            expires=time.time() + (duration if response.expires_in is None else response.expires_in),
            action=action, mfa=mfa, parent=key_id,
            role_arn=role_arn if action == "AssumeRole" else None,
            session_name=form.get("RoleSessionName") if action == "AssumeRole" else None,
        )
        self.issued.append(issued)
        return dataclasses.replace(response, body=_success_body(issued, response.expiration), issue=False)

    def _decide(self, request: Request) -> Response:
        with self._lock:
            if self.check_signatures:
                signer = self._authenticate(request)
                if isinstance(signer, Response):
                    return signer
                request.signer = "session" if isinstance(signer, Issued) else "long-term"
            else:
                signer = "long-term"
        if request.action == "GetCallerIdentity":  # not one of the scripted answers
            key_id = request.signing_key_id or ""
            user = self._users.get(signer.parent if isinstance(signer, Issued) and not signer.role_arn else key_id)
            return Response(200, _caller_identity_body(key_id, signer, user))
        response = self._next()
        if not response.issue:
            return response
        with self._lock:
            return self._issue(request, signer, response)

    def _handler_class(self):
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # one handler per connection; it serves requests until one closes it

            def setup(self):
                with standin._lock:
                    standin.connections += 1
                    self.number = standin.connections
                self.refused = False
                if standin.tls is not None:
                    try:
                        self.request.do_handshake()
                    except OSError:  # the client refused the certificate, or left
                        self.refused = True
                    else:
                        with standin._lock:
                            standin.handshakes += 1
                super().setup()

            def handle(self):
                if self.refused:
                    return
                try:
                    super().handle()
                except (ConnectionError, OSError):
                    pass  # a client that goes away between requests, or a refused handshake

            def do_POST(self):  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                body = raw.decode("utf-8", "replace")
                form = {key: values[-1] for key, values in parse_qs(body, keep_blank_values=True).items()}
                request = Request(self.path, dict(self.headers.items()), form, raw, connection=self.number)
                with standin._lock:
                    standin.requests.append(request)
                response = standin._decide(request)
                if response.drop:
                    request.answered = "dropped"
                    self.close_connection = True
                    return
                if response.delay > 0 and standin._stopping.wait(response.delay):
                    return
                text = response.body if isinstance(response.body, str) else response.body(form)
                found = re.search(r"<Code>([^<]*)</Code>", text) if response.status != 200 else None
                request.answered = found.group(1) if found else ("ok" if response.status == 200 else str(response.status))
                payload = text.encode("utf-8")
                keep = standin.keep_alive and response.trickle == 0  # a trickle ends with the connection
                head = (
                    f"HTTP/1.1 {response.status} {self.responses.get(response.status, ('',))[0]}\r\n"
                    f"Content-Type: text/xml\r\nContent-Length: {len(payload)}\r\nDate: {formatdate(time.time() + standin.clock_skew, usegmt=True)}\r\n"
                    f"x-amzn-RequestId: {uuid.uuid4()}\r\nConnection: {'keep-alive' if keep else 'close'}\r\n\r\n"
                ).encode("ascii")
                self.close_connection = not keep
                try:
                    if response.trickle > 0:
                        if not response.trickle_headers:
                            self.wfile.write(head)
                            head = b""
                        for byte in head + payload:
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                            request.sent_bytes += 1
                            if standin._stopping.wait(response.trickle):
                                return
                    else:
                        self.wfile.write(head)
                        for start in range(0, len(payload), 64 * 1024):
                            self.wfile.write(payload[start:start + 64 * 1024])
                            request.sent_bytes += len(payload[start:start + 64 * 1024])
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting, as it should

            def log_message(self, *args):  # keep test output clean
                pass

        return Handler


def _account(arn: Optional[str]) -> str:
    parts = (arn or "").split(":")
    return parts[4] if len(parts) > 4 else ""


def _caller_identity_body(key_id: str, signer: Union[Issued, str], user_arn: Optional[str] = None) -> str:
    role_arn = signer.role_arn if isinstance(signer, Issued) else None
    account = _account(role_arn) or _account(user_arn) or "111111111111"
    arn = user_arn or f"arn:aws:sts::{account}:federated-user/standin"
    return (
        f'<GetCallerIdentityResponse xmlns="{NAMESPACE}">\n'
        f"  <GetCallerIdentityResult>\n"
        f"    <Arn>{arn}</Arn>\n"
        f"    <UserId>{key_id}</UserId>\n    <Account>{account}</Account>\n"
        f"  </GetCallerIdentityResult>\n"
        f"  <ResponseMetadata>\n    <RequestId>{uuid.uuid4()}</RequestId>\n  </ResponseMetadata>\n"
        f"</GetCallerIdentityResponse>\n"
    )


def _success_body(issued: Issued, expiration: Optional[str] = None) -> str:
    action = issued.action
    stamp = datetime.fromtimestamp(issued.expires, timezone.utc)
    expiration = expiration or stamp.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    user = ""
    if action == "AssumeRole":
        name, role = issued.session_name, (issued.role_arn or "").rpartition("/")[2]
        user = (
            f"    <AssumedRoleUser>\n      <AssumedRoleId>AROASTANDIN00000000001:{name}</AssumedRoleId>\n"
            f"      <Arn>arn:aws:sts::{_account(issued.role_arn)}:assumed-role/{role}/{name}</Arn>\n"
            f"    </AssumedRoleUser>\n"
        )
    return (
        f'<{action}Response xmlns="{NAMESPACE}">\n'
        f"  <{action}Result>\n{user}    <Credentials>\n"
        f"      <SessionToken>{issued.session_token}</SessionToken>\n"
        f"      <SecretAccessKey>{issued.secret_access_key}</SecretAccessKey>\n"
        f"      <Expiration>{expiration}</Expiration>\n"
        f"      <AccessKeyId>{issued.access_key_id}</AccessKeyId>\n"
        f"    </Credentials>\n  </{action}Result>\n"
        f"  <ResponseMetadata>\n    <RequestId>{uuid.uuid4()}</RequestId>\n  </ResponseMetadata>\n"
        f"</{action}Response>\n"
    )


@pytest.fixture
def sts_standin(aws_home: Path):
    """A running stand-in that knows the throwaway HOME's keys; point AWS_ENDPOINT_URL_STS at ``.url``."""
    with StsStandIn(key_files=[DATA / "credentials", aws_home / ".aws" / "credentials", aws_home / ".aws" / "config"]) as standin:
        yield standin


@pytest.fixture
def standin_env(aws_home: Path, sts_standin: StsStandIn) -> Dict[str, str]:
    """The throwaway HOME, with STS pointed at the stand-in."""
    environ = clean_environ(aws_home)
    environ["AWS_ENDPOINT_URL_STS"] = sts_standin.url
    return environ
