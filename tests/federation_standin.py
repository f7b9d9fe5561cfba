"""A local stand-in for the AWS sign-in federation endpoint (``getSigninToken``).

It records each ``Session`` JSON it receives (``sessions``), with the method and
whether the session came in the URL (``in_url``: it never should), checks the
session against ``valid(key_id, secret, token)`` (a test passes the STS stand-in's
issued sessions), and answers ``{"SigninToken": ...}`` with a new token each time
(``tokens``). ``answer(status, body)`` scripts another answer; ``hang`` never answers
in time; ``huge`` answers more than mfaenv reads.

Use the ``federation`` fixture; point mfaenv at it with MFAENV_FEDERATION_URL=``url``.
"""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, List, Optional, Tuple
from urllib.parse import parse_qs, urlsplit

import pytest


@dataclass
class Received:
    method: str
    action: Optional[str]
    session: Optional[dict]
    in_url: bool
    accepted: bool


@dataclass
class FederationStandIn:
    valid: Callable[[str, str, str], bool] = lambda key_id, secret, token: True
    received: List[Received] = field(default_factory=list)
    tokens: List[str] = field(default_factory=list)
    scripted: Optional[Tuple[int, bytes]] = None
    hang: float = 0.0

    def __post_init__(self):
        self._numbers = itertools.count(1)
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/federation"

    def answer(self, status: int, body: bytes) -> "FederationStandIn":
        self.scripted = (status, body)
        return self

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def _handler(self):
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                self._handle(b"")

            def do_POST(self):  # noqa: N802
                self._handle(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

            def _handle(self, body: bytes):
                query = parse_qs(urlsplit(self.path).query)
                form = {**query, **parse_qs(body.decode("utf-8", "replace"))}
                session = None
                try:
                    session = json.loads(form.get("Session", [""])[0])
                except ValueError:
                    pass
                accepted = isinstance(session, dict) and standin.valid(
                    session.get("sessionId", ""), session.get("sessionKey", ""), session.get("sessionToken", ""))
                standin.received.append(Received(self.command, form.get("Action", [None])[0], session,
                                                 "Session" in query, accepted))
                if standin.hang:
                    standin._stopping.wait(standin.hang)
                    return
                if standin.scripted is not None:
                    status, payload = standin.scripted
                elif form.get("Action") != ["getSigninToken"] or not accepted:
                    status, payload = 400, b"<html><body>Bad Request</body></html>"
                else:
                    token = f"STANDIN-SIGNIN-TOKEN-{next(standin._numbers):04d}-" + "t" * 80
                    standin.tokens.append(token)
                    status, payload = 200, json.dumps({"SigninToken": token}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        return Handler


@pytest.fixture
def federation():
    with FederationStandIn() as standin:
        yield standin
