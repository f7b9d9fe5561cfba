"""When a session ends: the expiry formats, and the session this shell's variables hold.

The one reader of MFAENV_EXPIRES and of the expiry formats, for the prompt (hot: it
runs at every render where a prompt can only run a command) and for everything
else. It imports only ``time``: no typing, no datetime, no re at run time.
"""

from __future__ import annotations

import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Mapping, Optional

#: The credential variables of a session: without all three there is no session in the shell.
CREDENTIAL_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


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
    return [name for name in CREDENTIAL_VARIABLES if not environ.get(name)]


#: ISO 8601 UTC with ``Z``, to the second: what mfaenv writes and the AWS CLI and starship parse.
EXPIRY_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def format_expiry(epoch: int) -> str:
    """``epoch`` as ``2026-11-24T09:41:27Z`` (EXPIRY_FORMAT)."""
    return time.strftime(EXPIRY_FORMAT, time.gmtime(epoch))


def parse_expiry(text: str) -> int:
    """Epoch seconds from an ISO 8601 time as STS, the AWS CLI or peer tools write it.

    Accepts ``Z``, ``+00:00`` and other offsets, fractional seconds, and a space
    instead of ``T``. A time without an offset is read as UTC: aws-mfa writes
    ``expiration`` that way (``%Y-%m-%d %H:%M:%S`` of the UTC time) and reads
    it back as UTC. Raises ValueError for anything else, and for a time outside
    what MFAENV_EXPIRES carries (1970 to 5138): such an expiry counts as unknown.
    """
    value = text.strip()
    epoch = _formatted_epoch(value)
    if epoch is None:  # any other form: datetime, which the usual one does without
        import re
        from datetime import datetime, timezone

        if value.endswith(("Z", "z")):
            value = value[:-1] + "+00:00"
        value = re.sub(r"(\.\d+)", "", value, count=1)  # Python 3.9 rejects most fractions
        parsed = datetime.fromisoformat(value.replace(" ", "T", 1))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=timezone.utc)
        epoch = int(parsed.timestamp())
    if not is_epoch(str(epoch)):
        raise ValueError(f"expiry out of range: {text!r}")
    return epoch


def _formatted_epoch(value: str) -> Optional[int]:
    """The epoch that format_expiry renders as exactly ``value``, else None.

    What mfaenv writes (the session cache at every cached credential-process) is read
    back without loading datetime. The date becomes days since 1970 by the civil-calendar
    formula (H. Hinnant's days_from_civil); rendering the result again and comparing
    checks every field, so a value this does not get exactly right is left to datetime.
    """
    if len(value) != 20 or not value.isascii():
        return None
    try:
        year, month, day = int(value[0:4]), int(value[5:7]), int(value[8:10])
        hours, minutes, seconds = int(value[11:13]), int(value[14:16]), int(value[17:19])
    except ValueError:
        return None
    year -= month <= 2
    era_years = year % 400
    day_of_year = (153 * (month - 3 if month > 2 else month + 9) + 2) // 5 + day - 1
    days = (year // 400) * 146097 + era_years * 365 + era_years // 4 - era_years // 100 + day_of_year - 719468
    epoch = days * 86400 + hours * 3600 + minutes * 60 + seconds
    if epoch < 0:  # before 1970: out of range anyway (and gmtime fails on Windows)
        return None
    try:
        return epoch if format_expiry(epoch) == value else None
    except (OverflowError, OSError, ValueError):
        return None
