"""`mfaenv console PROFILE`: the AWS console, signed in as the profile's role.

A role profile: the role session as `get` obtains it (this shell, the cache or
STS; with more than 15 minutes left, else a new one) -> ``getSigninToken`` at the
partition's federation endpoint -> a login URL -> the browser (or stdout).

A plain MFA profile cannot federate: the endpoint refuses GetSessionToken
credentials, and GetFederationToken would drop the MFA context that a "deny
without MFA" policy asks for. Its account's own sign-in page opens instead,
where the user signs in with password and MFA device; no code is spent.
"""

from __future__ import annotations

import os
from typing import Mapping, NamedTuple, Optional
from urllib.parse import quote, urlsplit

from mfaenv.commands import get as get_command
from mfaenv.errors import SessionTooShortError, UsageError
from mfaenv.profiles import Chain, ProfileStore

#: A console sign-in needs a role session with more than this left: the sign-in token
#: itself is valid for 15 minutes, and the console session ends with the role session.
CONSOLE_MIN_SECONDS = 15 * 60


class Console(NamedTuple):
    """What `console` decided: the URL, whether it holds a secret, and the line for stderr."""

    url: str
    secret: bool  # a login URL with a sign-in token (True), or an account's sign-in page
    message: str


def console(profile: str, destination: Optional[str] = None, environ: Mapping[str, str] = os.environ,
            code: Optional[str] = None, code_command: Optional[str] = None) -> Console:
    """The URL that opens the console for ``profile``; raises MfaenvError.

    ``code`` and ``code_command`` are get's: the code for a role session that must be fetched.
    """
    from mfaenv.aws import signin

    store = ProfileStore(environ)
    chain = store.chain(profile)
    hosts = signin.partition_hosts(_console_region(chain))
    landing = destination_url(destination, hosts)  # a bad --destination is refused before any code is asked for
    if not chain.roles:
        page = hosts.account_signin_page(chain.account)
        account = f"account {chain.account}" if chain.account else "the account"
        return Console(page, False, (
            f"'{profile}' is a plain MFA profile, and AWS signs only role sessions in to the console: the sign-in "
            f"page of {account}, where you sign in with your password and MFA device (no code was used)"
        ))
    federation_url = hosts.federation_url(environ)
    _check_role_duration(chain)
    prepared = get_command.prepare(get_command.GetRequest(profile, code, code_command=code_command), environ, min_seconds_left=CONSOLE_MIN_SECONDS)
    session = prepared.session
    left = session.seconds_left()
    if left <= CONSOLE_MIN_SECONDS:
        raise SessionTooShortError(
            f"profile '{profile}': the role session has only {left // 60} minutes left, and the console needs more "
            f"than {CONSOLE_MIN_SECONDS // 60}; check this computer's clock, and duration_seconds"
        )
    token = signin.get_signin_token(
        profile=profile, access_key_id=session.access_key_id, secret_access_key=session.secret_access_key,
        session_token=session.session_token, federation_url=federation_url, environ=environ,
    )
    from mfaenv.shells.expiry import time_left
    from mfaenv.terminal.feedback import ORIGINS

    role = chain.target_role
    return Console(signin.login_url(federation_url, landing, token), True, (
        f"console for {profile} (role {role.arn.rsplit('/', 1)[-1]}, account {chain.account}) with the role session "
        f"{ORIGINS.get(prepared.origin, prepared.origin)} ({time_left(left)} left)"
    ))


def _console_region(chain: Chain) -> str:
    """The profile's region, else the region its STS calls go to (AWS_REGION, else us-east-1)."""
    if chain.region:
        return chain.region
    return chain.target_role.call_region if chain.roles else chain.base.call_region


def _check_role_duration(chain: Chain) -> None:
    """A role configured for 15 minutes or less can never serve: said before a code is spent on it."""
    from mfaenv.sessions import role_durations

    seconds = role_durations(chain, None)[-1]
    if seconds <= CONSOLE_MIN_SECONDS:
        raise SessionTooShortError(
            f"profile '{chain.name}': duration_seconds {seconds} gives role sessions too short for the console, "
            f"which needs more than {CONSOLE_MIN_SECONDS // 60} minutes; set duration_seconds to 1800 or more"
        )


def destination_url(destination: Optional[str], hosts) -> str:
    """Where the console opens: its home in the profile's region, a PATH there, or a console URL.

    A PATH (``ec2/home``, ``/s3/buckets``) is put on the region's console host with
    ``region=`` added; a URL must be https on the partition's console host (or one
    of its subdomains), which is all the sign-in endpoint will send a browser to.
    """
    if destination is None or destination.strip() == "":
        return hosts.console_home()
    text = destination.strip()
    if any(ord(char) < 32 or ord(char) == 127 or char.isspace() for char in text):
        raise UsageError("--destination must not contain spaces or control characters")
    if "://" in text:
        try:
            parts = urlsplit(text)
            host = (parts.hostname or "").lower()
            parts.port  # noqa: B018 (a malformed port raises ValueError)
        except ValueError:
            raise UsageError("--destination is not a well-formed URL") from None
        if parts.scheme.lower() != "https" or parts.username or parts.password or not (
            host == hosts.console or host.endswith("." + hosts.console)
        ):
            raise UsageError(
                f"--destination must be a PATH (e.g. ec2/home) or an https:// URL on {hosts.console}"
            )
        return text
    text, hash_, fragment = text.partition("#")  # the console's pages route on the fragment: it stays last
    path, _, query = text.lstrip("/").partition("?")
    query = query if "region=" in query else "&".join(filter(None, [query, f"region={quote(hosts.region)}"]))
    return f"https://{hosts.region}.{hosts.console}/{path}?{query}{hash_}{fragment}"
