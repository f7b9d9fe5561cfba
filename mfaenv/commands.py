"""What each command does, as plain functions that return the text to print.

The straight line of `get`: arguments -> profile -> (reused or fetched) session
-> variables -> shell text. cli.py only parses arguments and prints.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping, Optional

from mfaenv import codeinput, shells, variables
from mfaenv.errors import MfaenvError, UsageError
from mfaenv.profiles import Profile, ProfileStore
from mfaenv.variables import Session

MIN_DURATION, MAX_DURATION, DEFAULT_DURATION = 900, 129600, 43200


@dataclass(frozen=True)
class GetRequest:
    profile: str
    code: Optional[str] = None
    shell: Optional[str] = None
    persist: bool = False
    duration: int = DEFAULT_DURATION
    source: Optional[str] = None
    serial: Optional[str] = None
    force: bool = False
    code_command: Optional[str] = None


def get(request: GetRequest, environ: Mapping[str, str] = os.environ) -> str:
    """Shell text that exports a session for the profile; raises MfaenvError."""
    # Everything that can be checked locally is checked before any network call.
    code = codeinput.check_code(request.code) if request.code is not None else None
    if not MIN_DURATION <= request.duration <= MAX_DURATION:
        raise UsageError(f"--duration must be between {MIN_DURATION} and {MAX_DURATION} seconds")
    dialect = shells.detect_dialect(request.shell)
    store = ProfileStore(environ)
    profile = store.resolve(request.profile, source=request.source, serial=request.serial)
    if request.persist:
        from mfaenv import persist  # only here: it loads tempfile and the lock

        persist.check_writable(store.credentials_path, profile.name, store.config_path)

    session = None if (code or request.force) else reusable_session(profile, environ)
    if session is None:
        code = code or codeinput.obtain_code(profile.name, profile.serial, request.code_command or profile.code_command)
        session = _fetch(profile, code, request.duration, environ)
    if request.persist:
        # Also a reused session: `mfaenv stage --persist` must leave [stage] holding it
        # (no write happens when the file already does).
        persist.write_session(store.credentials_path, profile.name, persisted_values(session))
    exports = variables.session_exports(session, profile.name, profile.serial, profile.region, environ)
    return dialect.render(exports)


def reusable_session(profile: Profile, environ: Mapping[str, str]) -> Optional[Session]:
    """A session for this profile with more than 5 minutes left: this shell's, else persisted."""
    if environ.get("MFAENV_PROFILE") == profile.name:
        current = variables.session_from_environment(environ)
        if current is not None and current.reusable():
            return current
    if profile.persisted is not None and profile.persisted.reusable():
        return profile.persisted
    return None


def persisted_values(session: Session) -> dict:
    """The keys --persist writes, in this order, into the target's section."""
    return {
        "aws_access_key_id": session.access_key_id,
        "aws_secret_access_key": session.secret_access_key,
        "aws_session_token": session.session_token,
        "expiration": variables.format_expiry(session.expires),
    }


def _fetch(profile: Profile, code: str, duration: int, environ: Mapping[str, str]) -> Session:
    from mfaenv import sts  # the only path that loads botocore

    return sts.get_session_token(
        profile=profile.name,
        access_key_id=profile.access_key_id,
        secret_access_key=profile.secret_access_key,
        serial=profile.serial,
        code=code,
        duration=duration,
        region=profile.call_region,
        environ=environ,
    )


def unset(shell: Optional[str], environ: Mapping[str, str] = os.environ) -> str:
    return shells.detect_dialect(shell).render(variables.unset_all(environ))


def list_profiles(environ: Mapping[str, str] = os.environ) -> str:
    """A table of the profiles that resolve, with source, MFA device and persisted expiry."""
    from mfaenv.prompt import time_left

    store = ProfileStore(environ)
    rows = [("PROFILE", "SOURCE", "MFA DEVICE", "PERSISTED SESSION")]
    for name in store.names():
        try:
            profile = store.resolve(name)
        except MfaenvError:
            continue
        persisted = "-"
        if profile.persisted is not None:
            left = profile.persisted.seconds_left()
            when = variables.format_expiry(profile.persisted.expires)
            persisted = f"{when} ({time_left(left)} left)" if left > 0 else f"{when} (expired)"
        rows.append((name, profile.source, profile.serial, persisted))
    if len(rows) == 1:
        return ""
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths)) + "  " + row[3] + "\n" for row in rows
    )


def profile_names(environ: Mapping[str, str] = os.environ) -> str:
    """One profile name a line, for shell completion (no boto3, no errors)."""
    try:
        store = ProfileStore(environ)
    except MfaenvError:
        return ""
    return "".join(name + "\n" for name in store.names() if "\n" not in name)
