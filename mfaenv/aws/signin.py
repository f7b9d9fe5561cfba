"""The AWS sign-in service: where a partition signs people in, and the federation call.

``getSigninToken`` exchanges a role session (key id, secret, token) for a sign-in
token, a bearer secret that opens the console once, within 15 minutes. It goes
over the same HTTP machinery as the STS calls (``aws/sts.py``): one deadline for
the whole call, bounded timeouts, at most MAX_ANSWER_BYTES read, proxies and
AWS_CA_BUNDLE from the environment. The session travels in a POST body, never in
a URL (proxies log URLs), and neither it nor the token ever reaches an error.

The hosts come from botocore's own data, not from a table kept here: the endpoint
rules of its ``signin`` service give each region's sign-in host
(``https://eu-central-1.signin.aws.amazon.com``, ``...signin.amazonaws.cn``,
``...signin.amazonaws-us-gov.com``, ``...signin.amazonaws-eusc.eu``), and the
console lives beside it (``console.`` in place of ``signin.``).
"""

from __future__ import annotations

import json
import os
import time
from typing import Mapping, NamedTuple, Optional
from urllib.parse import quote, urlencode

from mfaenv.errors import FederationRejectedError, FederationUnavailableError, ProfileError

#: Points the federation call (and the login URL) elsewhere: a proxy, a test's stand-in.
FEDERATION_URL_VARIABLE = "MFAENV_FEDERATION_URL"
#: What the login URL's Issuer names: shown by AWS when the console session ends.
ISSUER = "mfaenv"
#: A sign-in token works once, within this many seconds of being issued.
SIGNIN_TOKEN_SECONDS = 15 * 60


class Hosts(NamedTuple):
    """Where a region's partition signs people in, and where its console is."""

    region: str
    regional_signin: str  # "eu-central-1.signin.aws.amazon.com": the federation endpoint's host
    signin: str  # "signin.aws.amazon.com": the partition's sign-in host (ACCOUNT.signin... is an account's page)
    console: str  # "console.aws.amazon.com"

    def federation_url(self, environ: Mapping[str, str] = os.environ) -> str:
        """The federation endpoint: MFAENV_FEDERATION_URL when set (checked), else the region's."""
        configured = environ.get(FEDERATION_URL_VARIABLE)
        if configured:
            from mfaenv.aws import sts

            sts._check_endpoint(FEDERATION_URL_VARIABLE, configured, service="federation")
            return configured
        return f"https://{self.regional_signin}/federation"

    def console_home(self) -> str:
        return f"https://{self.region}.{self.console}/console/home?region={quote(self.region)}"

    def account_signin_page(self, account: Optional[str]) -> str:
        """The page where an IAM user of ``account`` signs in with password and MFA."""
        return f"https://{account + '.' if account else ''}{self.signin}/console"


def partition_hosts(region: str) -> Hosts:
    """The sign-in and console hosts of ``region``'s partition, from botocore's endpoint data.

    aws/endpoints.py knows each partition's DNS suffix, but the sign-in hosts are not
    made of it (``signin.aws.amazon.com``, not ``amazonaws.com``), so the rules of the
    sign-in service itself are read; they find the region's partition in the same
    partitions.json, with botocore's own rule engine (this command is rare: the cost of
    botocore's data loader is paid only here). The one place that knows where the hosts
    come from.
    """
    from botocore.endpoint_provider import EndpointProvider
    from botocore.exceptions import BotoCoreError, DataNotFoundError
    from botocore.loaders import create_loader

    loader = create_loader()
    try:
        rules = loader.load_service_model("signin", "endpoint-rule-set-1")
    except DataNotFoundError:
        raise ProfileError(
            "this botocore has no data on the AWS sign-in service, which 'mfaenv console' reads its hosts from; "
            "upgrade boto3 and botocore"
        ) from None
    try:
        url = EndpointProvider(rules, loader.load_data("partitions")).resolve_endpoint(
            Region=region, UseFIPS=False, UseDualStack=False,
        ).url
    except BotoCoreError:
        raise ProfileError(f"region {region!r}: botocore knows no sign-in endpoint for it") from None
    host = url.split("://", 1)[-1].split("/", 1)[0]
    prefix = region + ".signin."
    if not host.startswith(prefix):  # every partition's rule has this shape; say so rather than guess
        raise ProfileError(f"region {region!r}: botocore's sign-in endpoint {host} is not REGION.signin.DOMAIN")
    domain = host[len(prefix):]
    return Hosts(region, host, "signin." + domain, "console." + domain)


def get_signin_token(
    *,
    profile: str,
    access_key_id: str,
    secret_access_key: str,
    session_token: str,
    federation_url: str,
    environ: Mapping[str, str] = os.environ,
) -> str:
    """The sign-in token for a role session; FederationRejectedError or FederationUnavailableError."""
    import random

    from botocore.awsrequest import AWSRequest
    from botocore.exceptions import BotoCoreError, ReadTimeoutError
    from urllib3.exceptions import HTTPError, ReadTimeoutError as BodyReadTimeoutError

    from mfaenv.aws import sts

    session = json.dumps({"sessionId": access_key_id, "sessionKey": secret_access_key, "sessionToken": session_token})
    body = urlencode({"Action": "getSigninToken", "Session": session})
    shown = sts._without_userinfo(federation_url)
    deadline = time.monotonic() + sts._timeout("MFAENV_TOTAL_TIMEOUT", sts.TOTAL_TIMEOUT, environ)
    http = sts._http_session(federation_url, environ)  # the process's pool for it, TCP_NODELAY as botocore sets it
    where = f"profile '{profile}': the AWS sign-in federation endpoint {shown}"
    failure, sent = "", 0
    # Nothing is spent by this call (no code): connection failures and 5xx answers are retried.
    for attempt in range(sts.MAX_ATTEMPTS):
        if attempt:
            pause = random.uniform(0.2, 0.5) * 2 ** attempt
            if time.monotonic() + pause >= deadline:
                break
            time.sleep(pause)
        prepared = AWSRequest(
            method="POST", url=federation_url, data=body,
            headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
                     "Accept": "application/json"},
        ).prepare()
        prepared.stream_output = True
        sent += 1
        try:
            status, content, _headers = sts._within(deadline, lambda: sts._exchange(http, prepared))
        except (sts._TooLate, ReadTimeoutError, BodyReadTimeoutError):
            raise FederationUnavailableError(f"{where} gave no answer in time; try again") from None
        except sts._TooLarge:
            raise FederationUnavailableError(
                f"{where} answered with more than {sts.MAX_ANSWER_BYTES // 1024} KiB, which is not a sign-in token"
            ) from None
        except BotoCoreError as error:
            failure = f"cannot reach it: {sts._connection_reason(error)}"
            continue
        except (HTTPError, OSError):
            failure = "cannot reach it: connection closed"
            continue
        if status == 200:
            return _token(content, where)
        if status >= 500 or status == 429:
            failure = f"it answered HTTP {status}"
            continue
        # The body is not shown: it is the endpoint's, and could repeat what was sent.
        raise FederationRejectedError(
            f"{where} refused the role session (HTTP {status}); the session may be revoked, or the role's "
            f"permissions deny console sign-in; fetch a new one with 'mfaenv forget {profile}' and try again"
        )
    raise FederationUnavailableError(
        f"{where} is unavailable after {sent} attempt{'' if sent == 1 else 's'} ({failure}); try again shortly"
    )


def _token(content: bytes, where: str) -> str:
    try:
        token = json.loads(content.decode("utf-8"))["SigninToken"]
    except (UnicodeDecodeError, ValueError, TypeError, KeyError):
        token = None
    if not isinstance(token, str) or not token or any(char.isspace() for char in token):
        raise FederationUnavailableError(f"{where} answered with something that is not a sign-in token")
    return token


def login_url(federation_url: str, destination: str, token: str) -> str:
    """The URL that signs the browser in with ``token`` and lands on ``destination``."""
    query = urlencode({"Action": "login", "Issuer": ISSUER, "Destination": destination, "SigninToken": token},
                      quote_via=quote)
    return f"{federation_url}{'&' if '?' in federation_url else '?'}{query}"
