"""What a person is told after `get`: one line on stderr; and how to load a session when stdout is a terminal.

    mfaenv: stage, account 111111111111, until 23:41 CET (11h59m left); fetched
    mfaenv: admin (role admin), account 210987654321, until 12:41 CET (59m left); reused from the session cache
    mfaenv: stage, account 111111111111, until 23:41 CET (11h59m left); fetched, not cached (MFAENV_CACHE=off; unset it to share sessions)

Nothing secret goes into the line: the profile, the role's name, the account,
the end of the session and where it came from. stdout stays shell code only.
``MFAENV_QUIET=1`` silences it.
"""

from __future__ import annotations

import shlex
import sys
import time
from typing import Mapping, Optional, Sequence

from mfaenv.terminal.display import shown

#: Where a session came from (sessions.SHELL, CACHE, FILE, STS), in words.
ORIGINS = {
    "sts": "fetched",
    "shell": "reused from this shell",
    "cache": "reused from the session cache",
    "file": "reused from the credentials file",
}

#: How each shell loads what `mfaenv ARGS` prints, without the integration.
LOADERS = {
    "fish": "{command} | source",
    "powershell": "{command} | Out-String | Invoke-Expression",
    "nu": "{command} | from json | load-env",
}
POSIX_LOADER = 'eval "$({command})"'


def quiet(environ: Mapping[str, str]) -> bool:
    return environ.get("MFAENV_QUIET", "") not in ("", "0")


def report(prepared, persisted: bool, environ: Mapping[str, str], now: Optional[float] = None) -> None:
    """Print the success line of a `commands.Prepared` on stderr, unless MFAENV_QUIET is set."""
    if quiet(environ):
        return
    chain = prepared.chain
    role = chain.target_role
    line = success_line(
        chain.name, role.arn if role else None, chain.account, prepared.session.expires, prepared.origin,
        persisted, now, getattr(prepared, "uncached", ""),
    )
    print(line, file=sys.stderr)


def success_line(
    profile: str,
    role_arn: Optional[str],
    account: Optional[str],
    expires: int,
    origin: str,
    persisted: bool = False,
    now: Optional[float] = None,
    uncached: str = "",
) -> str:
    """The line itself. The end is in local time, as the clock on the wall shows it; another day is named."""
    from mfaenv.shells.expiry import time_left

    now = time.time() if now is None else now
    who = profile + (f" (role {role_arn.rsplit('/', 1)[-1]})" if role_arn else "")
    where = f", account {account}" if account else ""
    end = time.localtime(expires)
    same_day = end[:3] == time.localtime(now)[:3]
    clock = time.strftime("%H:%M %Z" if same_day else "%a %d %b %H:%M %Z", end)
    what = ORIGINS.get(origin, origin)
    if persisted and origin != "file":  # reused from the file: the file already held it
        what += ", persisted"
    if uncached:  # fetched, and no cache keeps it for the next terminal: why, and the fix
        what += f", not cached ({uncached})"
    return "mfaenv: " + shown(f"{who}{where}, until {clock} ({time_left(int(expires) - int(now))} left); {what}")


def how_to_load(args: Sequence[str], shell: str) -> str:
    """The hint when stdout is a terminal: printed there, the keys would change nothing."""
    command = "mfaenv " + " ".join(shlex.quote(arg) for arg in args)
    loader = LOADERS.get(shell, POSIX_LOADER).format(command=command)
    return (
        f"not showing the session's keys on the terminal, where they change nothing; load them with "
        f"{loader}, or set up the shell integration once (mfaenv init --help), or add --persist"
    )
