"""Opening a URL in the user's browser, with Python's webbrowser (it honours BROWSER).

A URL with no secret (an account's sign-in page) is handed over as it is. A
console login URL carries the sign-in token, a bearer secret: on the browser's
command line every user of the machine could read it (``ps``, /proc). So the
browser is given a one-time local address instead, ``http://127.0.0.1:PORT/NONCE``,
and that address answers once, with a redirect to the login URL, to a request
from this user (on Linux, the connecting socket's owner is checked in
/proc/net/tcp), then closes. The token never leaves this process but to the browser.
"""

from __future__ import annotations

import os
import threading
from typing import Mapping, Optional

#: Seconds the browser has to ask for the one-time address once it was started.
HANDOFF_SECONDS = 60.0


class NoBrowser(Exception):
    """No browser could be started (none found, or it failed), or it never asked for the page."""


def open_url(url: str, environ: Mapping[str, str] = os.environ) -> None:
    """Open a URL that holds no secret; NoBrowser when there is no browser to open it."""
    browser = _browser()
    if not browser.open(url):
        raise NoBrowser("the browser failed")


def open_secret_url(url: str, environ: Mapping[str, str] = os.environ) -> None:
    """Open ``url`` through a one-time local redirect, so that it appears on no command line."""
    import secrets

    browser = _browser()
    handoff = _Handoff(url, "/" + secrets.token_urlsafe(24))
    try:
        if not browser.open(handoff.address):
            raise NoBrowser("the browser failed")
        seconds = _seconds(environ.get("MFAENV_BROWSER_TIMEOUT"), HANDOFF_SECONDS)
        if not handoff.served.wait(seconds):
            raise NoBrowser(f"the browser did not ask for the sign-in page within {seconds:g} s")
    finally:
        handoff.close()


def _browser():
    import webbrowser

    try:
        return webbrowser.get()
    except webbrowser.Error:
        raise NoBrowser("no browser found") from None


def _seconds(text: Optional[str], default: float) -> float:
    try:
        value = float(text) if text else default
    except ValueError:
        return default
    return min(max(value, 0.1), 600.0) if value == value else default


class _Handoff:
    """A server on 127.0.0.1 that answers one GET of ``path`` by this user with a redirect to ``target``."""

    def __init__(self, target: str, path: str):
        from http.server import BaseHTTPRequestHandler, HTTPServer

        handoff = self
        self.served = threading.Event()

        class Handler(BaseHTTPRequestHandler):
            timeout = 5  # a connection that sends nothing cannot hold the one-request server

            def do_GET(self):  # noqa: N802 (http.server's naming)
                if handoff.served.is_set() or self.path != path:
                    self.send_error(404)
                    return
                handoff.served.set()
                self.send_response(303)
                self.send_header("Location", target)
                self.send_header("Cache-Control", "no-store")
                self.send_header("Referrer-Policy", "no-referrer")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):  # the request line holds the one-time path: never logged
                pass

        class Server(HTTPServer):
            def verify_request(self, request, client_address) -> bool:
                # Another user's connection is closed before a byte of it is read.
                return _same_user(client_address[1], self.server_address[1])

        self.server = Server(("127.0.0.1", 0), Handler)
        port = self.server.server_address[1]
        self.address = f"http://127.0.0.1:{port}{path}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _same_user(client_port: int, server_port: int) -> bool:
    """Whether the connection from ``client_port`` belongs to this user (Linux); True where that cannot be told."""
    lines = []
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):  # a browser may connect from an IPv6 socket (::ffff:127.0.0.1)
        try:
            with open(name) as table:
                lines += table.read().splitlines()[1:]
        except OSError:
            pass
    if not lines:  # not Linux: the loopback connection's owner cannot be told
        return True
    for line in lines:
        fields = line.split()
        if len(fields) > 7 and fields[1].endswith(f":{client_port:04X}") and fields[2].endswith(f":{server_port:04X}"):
            return fields[7] == str(os.getuid())
    return False
