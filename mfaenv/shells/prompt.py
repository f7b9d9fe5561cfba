"""The prompt segment and `status` text, computed from this shell's variables.

`mfaenv prompt` is the fallback for prompts that run a command; the shell
functions in ``shell/`` print the same text without starting any process.
"""

from __future__ import annotations

import time

from mfaenv.terminal.display import shown
from mfaenv.errors import NoSessionError
from mfaenv.shells.expiry import expires_from_environment, format_expiry, missing_credentials, time_left

# `mfaenv prompt` runs at every render of a prompt that can only run a command, so this
# module imports neither typing nor variables.py (collections for its namedtuple):
# the annotations are never evaluated.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Mapping, Optional


def prompt_segment(environ: Mapping[str, str], now: Optional[float] = None) -> str:
    """``stage 123456789012 11h59m``, ``stage expired``, or '' without a session."""
    expires = expires_from_environment(environ)
    if expires is None:
        return ""
    left = expires - int(time.time() if now is None else now)
    if left <= 0:
        return shown(f"{environ['MFAENV_PROFILE']} expired")
    parts = [environ["MFAENV_PROFILE"], environ.get("MFAENV_ACCOUNT", ""), time_left(left)]
    return " ".join(shown(part) for part in parts if part)


def status_report(environ: Mapping[str, str], now: Optional[float] = None) -> str:
    """Human-readable state of this shell's session; NoSessionError if none, gone or expired."""
    expires = expires_from_environment(environ)
    profile = environ.get("MFAENV_PROFILE")
    if expires is None:
        missing = missing_credentials(environ)
        if profile and environ.get("MFAENV_EXPIRES") and missing:
            raise NoSessionError(
                f"the session for '{profile}' is no longer in this shell ({', '.join(missing)} not set); run 'mfaenv {profile}'"
            )
        raise NoSessionError("no mfaenv session in this shell; run 'mfaenv PROFILE CODE'")
    left = expires - int(time.time() if now is None else now)
    if left <= 0:
        raise NoSessionError(f"the session for '{profile}' expired at {format_expiry(expires)}; run 'mfaenv {profile}'")
    lines = [
        f"profile:  {shown(profile)}",
        f"account:  {shown(environ.get('MFAENV_ACCOUNT') or 'unknown')}",
        f"expires:  {format_expiry(expires)} ({time_left(left)} left)",
    ]
    if environ.get("MFAENV_REGION"):
        lines.append(f"region:   {shown(environ['MFAENV_REGION'])}")
    return "\n".join(lines) + "\n"
