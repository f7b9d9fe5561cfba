"""Who signs (GetCallerIdentity), and the IAM calls of the rare commands (rotate, keys, setup, doctor).

``caller_identity`` is an STS call and goes through sts.py's hand-rolled request
(same endpoint, deadline, size bound and retries as GetSessionToken). The IAM
calls use botocore's client, imported here and only when one is built: the
many operations of IAM's Query protocol are what the client is for, and
the commands that call IAM are rare (the hot paths never import this module).

Endpoint: ``AWS_ENDPOINT_URL_IAM``, else ``AWS_ENDPOINT_URL`` (unless
``AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true``), checked as the STS one is; else
botocore's own rule for the partition's global endpoint (``iam.amazonaws.com``,
``iam.cn-north-1.amazonaws.com.cn`` for ``cn-`` regions, ``iam.us-gov.amazonaws.com``
for ``us-gov-`` ones). The profile's files and ``AWS_PROFILE`` play no part: the
credentials are given, and a stray ``AWS_PROFILE`` must not break the call.
Every call has bounded timeouts, botocore's standard retries (3 attempts in all)
and one deadline (``MFAENV_TOTAL_TIMEOUT``, 15 s); a failure is one line
(IamRejectedError, IamUnavailableError) that names the operation, never a secret.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from typing import Any, Dict, List, Mapping, NamedTuple, Optional

from mfaenv.aws import sts
from mfaenv.aws.sts import Identity
from mfaenv.errors import IamRejectedError, IamUnavailableError, ProfileError
from mfaenv.profiles import configured_endpoint, is_region_name

__all__ = ["Identity", "caller_identity", "endpoint_url", "check_endpoint", "Iam", "AccessKey", "NewKey"]

#: Codes that mean the credentials signing the IAM call are at fault, not the request.
SIGNER_ERROR_CODES = ("InvalidClientTokenId", "SignatureDoesNotMatch", "ExpiredToken", "UnrecognizedClientException",
                      "InvalidAccessKeyId")


def caller_identity(
    access_key_id: str,
    secret_access_key: str,
    session_token: Optional[str] = None,
    *,
    profile: str,
    region: str = "us-east-1",
    environ: Mapping[str, str] = os.environ,
) -> Identity:
    """GetCallerIdentity signed with these credentials: account, ARN, user id, IAM user name, server ``Date``.

    Long-term keys need no MFA code for it. ``profile`` names the keys in messages.
    Raises StsRejectedError (``aws_code`` tells why: ``InvalidClientTokenId`` for a
    key STS does not know, or not yet) or StsUnavailableError.
    """
    return sts.get_caller_identity(
        profile=profile, access_key_id=access_key_id, secret_access_key=secret_access_key,
        session_token=session_token, region=region, environ=environ,
    )


def endpoint_url(environ: Mapping[str, str] = os.environ) -> Optional[str]:
    """The IAM endpoint the environment sets, checked; None: the partition's global endpoint."""
    configured = configured_endpoint(environ, "IAM")
    if configured is None:
        return None
    sts._check_endpoint(*configured, service="IAM")
    return configured[1]


def check_endpoint(environ: Mapping[str, str] = os.environ) -> None:
    """Refuse a malformed IAM endpoint variable before a code is asked for (no network, no botocore)."""
    endpoint_url(environ)


class AccessKey(NamedTuple):
    """One of a user's access keys, as ListAccessKeys tells it."""

    access_key_id: str
    status: str  # "Active" or "Inactive"
    created: Optional[datetime]  # timezone-aware UTC


class NewKey(NamedTuple):
    """What CreateAccessKey returned; the secret is never shown."""

    access_key_id: str
    secret_access_key: str
    created: Optional[datetime]

    def __repr__(self) -> str:
        return f"NewKey(access_key_id={self.access_key_id!r}, created={self.created!r})"


class LastUsed(NamedTuple):
    """GetAccessKeyLastUsed: when (None: never) and on which service and region."""

    when: Optional[datetime]
    service: Optional[str]
    region: Optional[str]


class Iam:
    """An IAM client signed with the given credentials (with ``session_token``: a session, e.g. the MFA one).

    ``call(operation, **params)`` runs one IAM operation within the deadline and
    maps every failure to one line; the methods below are the ones mfaenv uses.
    """

    def __init__(
        self,
        access_key_id: str,
        secret_access_key: str,
        session_token: Optional[str] = None,
        *,
        profile: str,
        region: str = "us-east-1",
        environ: Mapping[str, str] = os.environ,
    ):
        if not is_region_name(region):
            raise ProfileError(f"profile '{profile}': region {region!r} is not a region name")
        url = endpoint_url(environ)
        self.profile = profile
        self.environ = environ
        self.shown = sts._without_userinfo(url) if url else "IAM"
        import botocore.session
        from botocore.config import Config

        # No profile at all: the keys are given, and AWS_PROFILE naming a missing profile must not matter.
        session = botocore.session.Session(session_vars={"profile": (None, None, None, None)})
        self.client = session.create_client(
            "iam",
            region_name=region,
            endpoint_url=url,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            aws_session_token=session_token or None,
            config=Config(
                connect_timeout=sts._timeout("MFAENV_CONNECT_TIMEOUT", sts.CONNECT_TIMEOUT, environ),
                read_timeout=sts._timeout("MFAENV_READ_TIMEOUT", sts.READ_TIMEOUT, environ),
                retries={"total_max_attempts": sts.MAX_ATTEMPTS, "mode": "standard"},
                ignore_configured_endpoint_urls=True,  # the endpoint is the one chosen above, or botocore's default
                user_agent_extra="mfaenv",
            ),
        )
        if url is None:
            self.shown = self.client.meta.endpoint_url

    def call(self, operation: str, **params: Any) -> Dict[str, Any]:
        """One IAM operation (botocore's Python name, e.g. ``list_access_keys``), within the deadline."""
        from botocore.exceptions import BotoCoreError, ClientError

        total = sts._timeout("MFAENV_TOTAL_TIMEOUT", sts.TOTAL_TIMEOUT, self.environ)
        import time

        deadline = time.monotonic() + total
        name = _operation_name(operation)
        try:
            return sts._within(deadline, lambda: getattr(self.client, operation)(**params))
        except sts._TooLate:
            raise IamUnavailableError(
                f"profile '{self.profile}': no answer from {self.shown} to {name} in time; try again shortly"
            ) from None
        except ClientError as error:
            raise self._refusal(name, error) from None
        except BotoCoreError as error:
            raise IamUnavailableError(
                f"profile '{self.profile}': cannot reach {self.shown} for {name}: {sts._connection_reason(error)}"
            ) from None

    def _refusal(self, name: str, error) -> Exception:
        details = error.response.get("Error", {}) if isinstance(getattr(error, "response", None), dict) else {}
        code = str(details.get("Code") or "")
        message = sts._one_line(str(details.get("Message") or ""))
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0
        if code in sts.RETRYABLE_CODES or status >= 500:
            return IamUnavailableError(
                f"profile '{self.profile}': IAM unavailable for {name} ({code or status}); try again shortly"
            )
        if code in SIGNER_ERROR_CODES:
            return IamRejectedError(
                f"profile '{self.profile}': IAM refused the credentials that signed {name} ({code}); "
                f"the MFA session may be expired or revoked: run 'mfaenv forget {self.profile}' and try again",
                code,
            )
        detail = f": {message}" if message else ""
        return IamRejectedError(f"profile '{self.profile}': IAM refused {name} ({code or status}{detail})", code)

    # -- the operations mfaenv uses ------------------------------------------------------------------------------

    def list_access_keys(self, user: str) -> List[AccessKey]:
        """The user's access keys (at most two), oldest first."""
        answer = self.call("list_access_keys", UserName=user)
        keys = [
            AccessKey(str(item["AccessKeyId"]), str(item.get("Status", "")), _utc(item.get("CreateDate")))
            for item in answer.get("AccessKeyMetadata", [])
        ]
        return sorted(keys, key=lambda key: key.created or datetime.max.replace(tzinfo=timezone.utc))

    def create_access_key(self, user: str) -> NewKey:
        answer = self.call("create_access_key", UserName=user)["AccessKey"]
        return NewKey(str(answer["AccessKeyId"]), str(answer["SecretAccessKey"]), _utc(answer.get("CreateDate")))

    def deactivate_access_key(self, user: str, key_id: str) -> None:
        self.call("update_access_key", UserName=user, AccessKeyId=key_id, Status="Inactive")

    def delete_access_key(self, user: str, key_id: str) -> None:
        self.call("delete_access_key", UserName=user, AccessKeyId=key_id)

    def access_key_last_used(self, key_id: str) -> LastUsed:
        used = self.call("get_access_key_last_used", AccessKeyId=key_id).get("AccessKeyLastUsed", {})
        service, region = used.get("ServiceName"), used.get("Region")
        return LastUsed(
            _utc(used.get("LastUsedDate")),
            None if service in (None, "", "N/A") else str(service),
            None if region in (None, "", "N/A") else str(region),
        )


def _operation_name(operation: str) -> str:
    """``list_access_keys`` -> ``ListAccessKeys``, as IAM names it in its own errors."""
    return "".join(part.capitalize() for part in operation.split("_"))


def _utc(value: Any) -> Optional[datetime]:
    if not isinstance(value, datetime):
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)

