"""Which environment variables a session sets and removes, and expiry formats.

A mapping of name -> value, where ``None`` means "remove this variable",
carries both exports and removals, so `get` and `unset` share one renderer.
"""

from __future__ import annotations

import time
from collections import namedtuple

from mfaenv.shells.expiry import CREDENTIAL_VARIABLES, expires_from_environment, format_expiry

# A cached `credential-process` (every AWS CLI or SDK start) passes through here: no typing,
# no dataclasses (which loads inspect) and no datetime at run time for the usual expiry form.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict, Mapping, Optional

    Variables = Dict[str, Optional[str]]

#: A session with at most this many seconds left is treated as expired for reuse.
REUSE_MARGIN_SECONDS = 300

EXPIRY_VARIABLES = ("AWS_CREDENTIAL_EXPIRATION", "AWS_SESSION_EXPIRATION")
#: A digest of what the session depends on (source key, MFA device, roles, STS endpoint; see
#: sessions.session_digest): a later run reuses this shell's session only while it still matches.
DIGEST_VARIABLE = "MFAENV_SESSION_DIGEST"
MFAENV_VARIABLES = ("MFAENV_PROFILE", "MFAENV_ACCOUNT", "MFAENV_EXPIRES", DIGEST_VARIABLE)
#: Read by botocore and the SDKs for account-based endpoints.
ACCOUNT_VARIABLE = "AWS_ACCOUNT_ID"
REGION_VARIABLES = ("AWS_REGION", "AWS_DEFAULT_REGION")
#: Read by botocore before AWS_SESSION_TOKEN: a stale one would shadow the new session.
LEGACY_TOKEN_VARIABLE = "AWS_SECURITY_TOKEN"
#: Records the region mfaenv exported, so that only that region is removed later.
REGION_MARKER_VARIABLE = "MFAENV_REGION"
#: MFAENV_SAVED_AWS_REGION...: what a region variable held before mfaenv replaced it, so
#: that `unset` restores it (as virtualenv's `deactivate` restores PATH).
SAVED_REGION_PREFIX = "MFAENV_SAVED_"


class Session(namedtuple("Session", ["access_key_id", "secret_access_key", "session_token", "expires"])):
    """Temporary credentials and when they stop working (``expires``: Unix epoch seconds)."""

    __slots__ = ()

    def __repr__(self) -> str:  # never the secret or the token
        return f"Session(access_key_id={self.access_key_id!r}, expires={self.expires!r})"

    def seconds_left(self, now: Optional[float] = None) -> int:
        return int(self.expires) - int(time.time() if now is None else now)

    def reusable(self, now: Optional[float] = None) -> bool:
        return self.seconds_left(now) > REUSE_MARGIN_SECONDS


def account_from_arn(arn: str) -> Optional[str]:
    """The 12-digit account of an IAM ARN (an MFA device, a role); None for anything else.

    The rule ``arn:[^:]+:iam::([0-9]{12}):`` at the start, written without `re` (the hot
    path loads none); tests/test_hot_path_rules.py holds it to that expression.
    """
    parts = arn.split(":", 5)
    if len(parts) == 6 and parts[0] == "arn" and parts[1] and parts[2:4] == ["iam", ""]:
        account = parts[4]
        if len(account) == 12 and account.isascii() and account.isdigit():
            return account
    return None


def session_exports(
    session: Session,
    profile: str,
    account: Optional[str],
    region: Optional[str],
    environ: Mapping[str, str],
    digest: Optional[str] = None,
) -> Variables:
    """Everything an export sets and removes, in the order it is printed.

    ``account`` is the session's account: a role's (from role_arn), else the MFA device's.
    ``digest`` (sessions.session_digest) is what the session depends on, for a later reuse.
    """
    variables: Variables = {
        "AWS_ACCESS_KEY_ID": session.access_key_id,
        "AWS_SECRET_ACCESS_KEY": session.secret_access_key,
        "AWS_SESSION_TOKEN": session.session_token,
        LEGACY_TOKEN_VARIABLE: None,
        "AWS_CREDENTIAL_EXPIRATION": format_expiry(session.expires),
        "AWS_SESSION_EXPIRATION": format_expiry(session.expires),
        "MFAENV_PROFILE": profile,
        "MFAENV_ACCOUNT": account,
        "MFAENV_EXPIRES": str(session.expires),
        DIGEST_VARIABLE: digest,
        ACCOUNT_VARIABLE: account,
    }
    if region is not None:
        variables.update({name: region for name in REGION_VARIABLES})
        variables[REGION_MARKER_VARIABLE] = region
        variables.update(_saved_regions(environ))
    else:
        variables.update(_region_restores(environ))
    return variables


def unset_all(environ: Mapping[str, str]) -> Variables:
    """Everything `mfaenv unset` removes: the region only if mfaenv set it."""
    names = CREDENTIAL_VARIABLES + (LEGACY_TOKEN_VARIABLE,) + EXPIRY_VARIABLES + MFAENV_VARIABLES + (ACCOUNT_VARIABLE,)
    variables: Variables = {name: None for name in names}
    variables.update(_region_restores(environ))
    return variables


def _mfaenv_region_in_force(name: str, environ: Mapping[str, str]) -> bool:
    """The region variable still holds what mfaenv set (the user has not changed it since)."""
    marker = environ.get(REGION_MARKER_VARIABLE)
    return marker is not None and environ.get(name) == marker


def _saved_regions(environ: Mapping[str, str]) -> Variables:
    """Before mfaenv sets a region: save the user's own value of each region variable.

    Where an earlier mfaenv region is still in force, what it saved stays saved;
    a variable the user never set has nothing saved (`unset` then removes it).
    """
    saved: Variables = {}
    for name in REGION_VARIABLES:
        if _mfaenv_region_in_force(name, environ):
            continue
        if name in environ:
            saved[SAVED_REGION_PREFIX + name] = environ[name]
        elif SAVED_REGION_PREFIX + name in environ:  # saved for a value the user has since removed
            saved[SAVED_REGION_PREFIX + name] = None
    return saved


def _region_restores(environ: Mapping[str, str]) -> Variables:
    """Give back the region variables that still hold what mfaenv set: the value saved
    before mfaenv replaced it, else nothing. A region the user set since is left alone."""
    restores: Variables = {}
    for name in REGION_VARIABLES:
        if _mfaenv_region_in_force(name, environ):
            restores[name] = environ.get(SAVED_REGION_PREFIX + name)
    if REGION_MARKER_VARIABLE in environ:
        restores[REGION_MARKER_VARIABLE] = None
    for name in REGION_VARIABLES:
        if SAVED_REGION_PREFIX + name in environ:
            restores[SAVED_REGION_PREFIX + name] = None
    return restores


def session_from_environment(environ: Mapping[str, str]) -> Optional[Session]:
    """The session an earlier export left in this shell, if it is complete."""
    expires = expires_from_environment(environ)  # None unless the three credentials are there too
    if expires is None:
        return None
    return Session(
        access_key_id=environ["AWS_ACCESS_KEY_ID"],
        secret_access_key=environ["AWS_SECRET_ACCESS_KEY"],
        session_token=environ["AWS_SESSION_TOKEN"],
        expires=expires,
    )
