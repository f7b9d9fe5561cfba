"""The prompt segment and `status` text, computed from this shell's variables.

`mfaenv prompt` is the fallback for prompts that run a command; the shell
functions in ``shell/`` print the same text without starting any process.
"""

from __future__ import annotations

import time

from mfaenv.display import shown
from mfaenv.errors import NoSessionError

# `mfaenv prompt` runs at every render of a prompt that can only run a command, so this
# module imports neither typing nor variables.py (dataclasses, datetime, re: ~10 ms):
# the annotations are never evaluated, and status imports what it needs when it runs.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Mapping, Optional

#: The credential variables of a session; variables.py exports them under the name
#: CREDENTIAL_VARIABLES (the prompt, hot, cannot import variables.py).
SESSION_CREDENTIALS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


def time_left(seconds: int) -> str:
    """``11h59m``, ``4m``: hours and minutes, as the prompt shows them."""
    minutes = max(0, seconds) // 60
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m"


def is_epoch(value: str) -> bool:
    """An expiry as MFAENV_EXPIRES carries it: plain ASCII digits, at most 11 of them.

    The shell prompt functions feed it to shell arithmetic, which must never see
    anything else; 11 digits (year 5138) are what Python's datetime and fish's
    floating-point math both handle. The same rule stands in each shell/ script.
    """
    return value.isascii() and value.isdigit() and len(value) <= 11


def expires_from_environment(environ: Mapping[str, str]) -> Optional[int]:
    """MFAENV_EXPIRES of this shell's session, or None without a (well-formed) session.

    A session is in this shell only while its credentials are: after
    `unset AWS_SESSION_TOKEN` (or any of the three) there is none, whatever
    MFAENV_* still say. The shell/ prompt functions apply the same rules.
    """
    value = environ.get("MFAENV_EXPIRES", "")
    if not (environ.get("MFAENV_PROFILE") and is_epoch(value)) or missing_credentials(environ):
        return None
    return int(value)


def missing_credentials(environ: Mapping[str, str]) -> List[str]:
    """The session credential variables this shell does not hold (unset or empty)."""
    return [name for name in SESSION_CREDENTIALS if not environ.get(name)]


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
    from mfaenv.variables import format_expiry

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
