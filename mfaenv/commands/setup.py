"""`mfaenv setup PROFILE`: write a working profile for a new user, as `aws configure` and `aws-vault add` do.

Everything is asked on the terminal itself (the secret with echo off), never taken
from argv or stdin. Before anything is asked, the sections it would write must not
exist: setup adds, it never overwrites. The keys are checked with GetCallerIdentity
(no MFA needed) before they are written; the user's MFA devices are listed with
iam:ListMFADevices signed with those keys (AWS's recommended "manage your own MFA"
policy allows it without MFA), and when that is refused the device ARN is asked for.

Layouts:

- seed (default): ``[PROFILE-default]`` with the keys and ``[PROFILE]`` with
  ``aws_arn_mfa``, both in the credentials file;
- standard: ``[PROFILE-long-term]`` with the keys in the credentials file, and
  ``[profile PROFILE]`` with ``source_profile`` and ``mfa_serial`` in the config file.

Both files are written through stores/persist.py (locked, atomic, verified).
"""

from __future__ import annotations

import os
import re
from typing import List, Mapping, Optional, Tuple

from mfaenv.errors import MfaenvError, ProfileError, UsageError
from mfaenv.profiles import ProfileStore, is_access_key_id, is_region_name

LAYOUTS = ("seed", "standard")
#: What a device is named by: a virtual device's ARN, or a hardware token's serial number.
_SERIAL = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:(mfa|u2f)/[\w+=,.@/-]{1,512}|[A-Za-z0-9]{9,256}")
REFUSAL = "run 'mfaenv setup' in a terminal"


def setup(profile: str, layout: str = "seed", environ: Mapping[str, str] = os.environ) -> None:
    """Ask, check, write; then offer a first session. Progress goes to the terminal, the result to stderr."""
    from mfaenv.aws import iam
    from mfaenv.stores import persist
    from mfaenv.terminal import keyinput

    if layout not in LAYOUTS:
        raise UsageError(f"--layout must be seed or standard, not {layout!r}")
    _check_name(profile)
    store = ProfileStore(environ)  # a malformed file is named here, and never written
    key_section = f"{profile}-default" if layout == "seed" else f"{profile}-long-term"
    taken = [name for name in (profile, key_section) if store.exists(name)]
    if taken:
        raise ProfileError(
            f"{' and '.join(f'[{name}]' for name in taken)} exist{'s' if len(taken) == 1 else ''} already in "
            f"{store.credentials_file} or {store.config_file}; mfaenv setup never overwrites a profile: "
            f"pick another name, or edit the files ('mfaenv doctor --profile {profile}' checks one)"
        )
    region = _region(environ)
    key_id, secret = keyinput.ask_keys(key_section, f"mfaenv setup {profile}")
    if not is_access_key_id(key_id):
        raise UsageError("that is not an access key id (AKIA followed by 16 capital letters and digits)")
    if any(char.isspace() for char in secret):
        raise UsageError("the secret access key cannot contain spaces")
    identity = iam.caller_identity(key_id, secret, profile=key_section, region=region, environ=environ)
    keyinput.tell(f"The keys work: {identity.arn}")
    serial = _device(key_id, secret, identity.user_name, key_section, region, environ)
    keys = {"aws_access_key_id": key_id, "aws_secret_access_key": secret}
    if layout == "seed":
        written = [(store.credentials_path, key_section, keys), (store.credentials_path, profile, {"aws_arn_mfa": serial})]
    else:
        written = [(store.credentials_path, key_section, keys),
                   (store.config_path, f"profile {profile}", {"source_profile": key_section, "mfa_serial": serial})]
    done: List[str] = []
    for path, section, values in written:
        try:
            persist.add_section(path, section, values)
        except MfaenvError as error:
            if done:
                raise type(error)(f"{error} (already written: {', '.join(done)})") from None
            raise
        done.append(f"[{section}] in {path}")
    _say(f"wrote {' and '.join(done)}")
    # A first session is worth a code only where the cache keeps it for the next `mfaenv PROFILE`.
    if _cache_in_use(environ) and _wants_first_session(profile):
        _first_session(profile, environ)
    _say(f"next: mfaenv {profile} CODE (or without the shell integration: eval \"$(mfaenv {profile} CODE)\")")


def _check_name(profile: str) -> None:
    if (not profile or profile != profile.strip() or any(char in profile for char in "[]\r\n\t")
            or not profile.isprintable() or profile == "DEFAULT" or profile.startswith(("#", ";", "-"))):
        raise UsageError(f"{profile!r} cannot be a profile name here (no brackets, no spaces around it, no controls)")


def _region(environ: Mapping[str, str]) -> str:
    for variable in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        value = environ.get(variable)
        if value:
            if not is_region_name(value):
                raise UsageError(f"{variable} {value!r} is not a region name; fix it or unset it")
            return value
    return "us-east-1"


def _device(key_id: str, secret: str, user: Optional[str], key_section: str, region: str,
            environ: Mapping[str, str]) -> str:
    """The MFA device: listed and picked, or typed when listing is refused or finds none."""
    from mfaenv.aws import iam
    from mfaenv.errors import IamRejectedError, IamUnavailableError
    from mfaenv.terminal import keyinput

    serials: List[Tuple[str, str]] = []
    try:
        client = iam.Iam(key_id, secret, profile=key_section, region=region, environ=environ)
        answer = client.call("list_mfa_devices", **({"UserName": user} if user else {}))
        serials = [(str(item["SerialNumber"]), _when(item.get("EnableDate"))) for item in answer.get("MFADevices", [])]
        if not serials:
            keyinput.tell("No MFA device is assigned to this user yet: assign one in the IAM console "
                          "(Security credentials, Assign MFA device), then type its ARN.")
    except (IamRejectedError, IamUnavailableError) as error:
        keyinput.tell(f"Listing your MFA devices did not work ({getattr(error, 'aws_code', '') or 'unavailable'}); "
                      f"type the device's ARN (IAM console, Security credentials).")
    if len(serials) == 1:
        keyinput.tell(f"MFA device: {serials[0][0]}")
        return serials[0][0]
    if serials:
        keyinput.tell("MFA devices of this user:")
        for number, (serial, when) in enumerate(serials, start=1):
            keyinput.tell(f"  {number}) {serial}{when}")
        for _attempt in range(3):
            answer = keyinput.ask(f"Which one (1-{len(serials)}): ", REFUSAL)
            if answer.isdigit() and 1 <= int(answer) <= len(serials):
                return serials[int(answer) - 1][0]
            keyinput.tell(f"Type a number from 1 to {len(serials)}.")
        raise UsageError("no MFA device chosen")
    for _attempt in range(3):
        typed = keyinput.ask("MFA device ARN (arn:aws:iam::ACCOUNT:mfa/NAME): ", REFUSAL)
        if not typed:
            break
        if _SERIAL.fullmatch(typed):
            return typed
        keyinput.tell("That is not an MFA device ARN (arn:aws:iam::123456789012:mfa/jane) or a token's serial number.")
    raise UsageError("no MFA device given")


def _when(value) -> str:
    try:
        return f" (since {value:%Y-%m-%d})"
    except (TypeError, ValueError):
        return ""


def _cache_in_use(environ: Mapping[str, str]) -> bool:
    from mfaenv.stores import sessionstore

    store = sessionstore.open_store(environ)
    if store is None:
        return False
    store.close()
    return True


def _wants_first_session(profile: str) -> bool:
    from mfaenv.terminal import keyinput

    return keyinput.confirm(f"Fetch a first session for {profile} now (asks for an MFA code)?", REFUSAL)


def _first_session(profile: str, environ: Mapping[str, str]) -> None:
    """GetSessionToken with a code asked on the terminal; kept in the session cache for the next `mfaenv PROFILE`."""
    from mfaenv.commands import get as get_command
    from mfaenv.terminal import feedback

    prepared = get_command.prepare(get_command.GetRequest(profile, force=True), environ)
    feedback.report(prepared, persisted=False, environ=environ)


def _say(text: str) -> None:
    import sys

    from mfaenv.terminal.display import shown

    print(f"mfaenv: {shown(text)}", file=sys.stderr)
