"""`mfaenv doctor`: check the whole set-up, one line per check, without spending a code or showing a secret.

Each check is a Finding: ok, warning (works, but something will bite) or problem
(something does not work; the line says the fix). The exit status is 1 when any
problem was found, else 0. The only network call is GetCallerIdentity, signed
with the long-term keys, which needs no MFA code: it proves the keys and reads
STS's clock from the answer's ``Date`` header, since a TOTP code is refused when
the clocks differ by more than about 30 s.
"""

from __future__ import annotations

import os
import stat
import time
from collections import namedtuple
from typing import Iterator, List, Mapping, Optional

from mfaenv.errors import MfaenvError, StsRejectedError
from mfaenv.profiles import Chain, ProfileStore, config_file, credentials_file, read_sections
from mfaenv.terminal.display import shown

OK, WARNING, PROBLEM = "ok", "warning", "problem"
#: Past this, STS refuses codes that are right on the authenticator (TOTP steps are 30 s).
CLOCK_TOLERANCE_SECONDS = 30
#: Keys that make a profile something more than settings (region, output, s3 ...).
CREDENTIAL_KEYS = (
    "aws_access_key_id", "source_profile", "role_arn", "mfa_serial", "aws_arn_mfa", "aws_mfa_device",
    "credential_process", "credential_source", "web_identity_token_file", "sso_session", "sso_start_url",
    "sso_account_id", "mfaenv_keyring",
)
#: Filesystems whose files live in RAM only.
RAM_FILESYSTEMS = ("tmpfs", "ramfs")


class Finding(namedtuple("Finding", ["level", "subject", "text"])):
    """One line of the report: ``problem  profile prod: no MFA device; add aws_arn_mfa ...``."""

    __slots__ = ()

    def line(self) -> str:
        return f"{self.level:<8} {shown(self.subject)}: {shown(self.text)}\n"


def doctor(profile: Optional[str] = None, environ: Mapping[str, str] = os.environ) -> "tuple[str, int]":
    """The report, and the exit status: 1 when a problem was found, else 0."""
    findings = list(_findings(profile, environ))
    status = 1 if any(finding.level == PROBLEM for finding in findings) else 0
    problems = sum(finding.level == PROBLEM for finding in findings)
    warnings = sum(finding.level == WARNING for finding in findings)
    summary = ("no problem found" if not problems else f"{problems} problem{'s' if problems > 1 else ''}") + (
        f", {warnings} warning{'s' if warnings > 1 else ''}" if warnings else "")
    return "".join(finding.line() for finding in findings) + f"-- {summary}\n", status


def _findings(profile: Optional[str], environ: Mapping[str, str]) -> Iterator[Finding]:
    yield from _files(environ)
    store = None
    try:
        store = ProfileStore(environ)
    except MfaenvError:
        pass  # named by the file checks above
    chains: List[Chain] = []
    if store is not None:
        for finding, chain in _profiles(store, profile):
            yield finding
            if chain is not None:
                chains.append(chain)
    yield from _environment(environ)
    yield _integration(environ)
    yield _cache(environ)
    if store is not None:
        yield _clock(chains, environ)


# -- the files ---------------------------------------------------------------------------------------------------


def _files(environ: Mapping[str, str]) -> Iterator[Finding]:
    for what, path, variable in (("credentials file", credentials_file(environ), "AWS_SHARED_CREDENTIALS_FILE"),
                                 ("config file", config_file(environ), "AWS_CONFIG_FILE")):
        subject = f"{what} {path}"
        try:
            info = os.stat(path)
        except OSError:
            if environ.get(variable):
                yield Finding(PROBLEM, subject, f"does not exist, but {variable} names it; fix {variable} or create it")
            elif what == "credentials file":
                yield Finding(PROBLEM, subject, "does not exist; 'mfaenv setup PROFILE' writes a first profile")
            else:
                yield Finding(OK, subject, "not there (optional)")
            continue
        try:
            sections = read_sections(path)
        except MfaenvError as error:
            yield Finding(PROBLEM, subject, f"cannot be read: {error}")
            continue
        mode = stat.S_IMODE(info.st_mode)
        count = f"{len(sections)} section{'' if len(sections) == 1 else 's'}"
        if what == "credentials file" and stat.S_ISREG(info.st_mode) and mode & 0o077:
            yield Finding(WARNING, subject, f"{count}, mode {mode:04o}: others can read the keys; fix: chmod 600 {path}")
        elif stat.S_ISREG(info.st_mode):
            yield Finding(OK, subject, f"{count}, mode {mode:04o}")
        else:
            yield Finding(OK, subject, "empty (/dev/null)")


# -- the profiles --------------------------------------------------------------------------------------------------


def _profiles(store: ProfileStore, only: Optional[str]) -> "Iterator[tuple[Finding, Optional[Chain]]]":
    from mfaenv.commands.get import mfaenv_target

    if only is not None:
        target = mfaenv_target(store.lookup(only, "credential_process") or "")
        if target is not None and target != only:  # what the tools read: check what it asks mfaenv for
            yield Finding(OK, f"profile {only}", f"credential_process -> {target}"), None
            only = target
        try:
            chain = store.chain(only)
        except MfaenvError as error:
            yield Finding(PROBLEM, f"profile {only}", _without_name(str(error), only)), None
            return
        yield Finding(OK, f"profile {only}", _described(chain)), chain
        return
    surveyed = store.survey()
    usable = [chain for _name, chain in surveyed if isinstance(chain, Chain)]
    sources = {chain.base.source: chain.name for chain in usable}
    if not surveyed:
        yield Finding(PROBLEM, "profiles", "none in the credentials or config file; 'mfaenv setup PROFILE' writes one"), None
        return
    if not usable:
        yield Finding(PROBLEM, "profiles", "none is usable for mfaenv; each line below says why"), None
    for name, result in surveyed:
        subject = f"profile {name}"
        if isinstance(result, Chain):
            yield Finding(OK, subject, _described(result)), result
        elif name in sources:
            yield Finding(OK, subject, f"long-term keys of {sources[name]}"), None
        elif mfaenv_target(store.lookup(name, "credential_process") or ""):
            yield Finding(OK, subject, f"credential_process -> {mfaenv_target(store.lookup(name, 'credential_process'))}"), None
        elif "not an MFA profile" in result.reason:
            yield Finding(OK, subject, f"{result.reason}: left to other tools"), None
        elif not any(store.lookup(name, key) for key in CREDENTIAL_KEYS):
            yield Finding(OK, subject, "settings only (no credentials)"), None
        else:
            yield Finding(WARNING, subject, _without_name(str(result), name)), None


def _without_name(message: str, name: str) -> str:
    """The message without its ``profile 'NAME': `` start, which the line's subject already says."""
    start = f"profile '{name}': "
    return message[len(start):] if message.startswith(start) else message


def _described(chain: Chain) -> str:
    role = chain.target_role
    parts = [f"role {role.arn}" if role else "MFA session", f"keys of {chain.base.source}",
             f"MFA device {chain.base.serial}"]
    if chain.region:
        parts.append(f"region {chain.region}")
    return ", ".join(parts)


# -- the environment -------------------------------------------------------------------------------------------------


def _environment(environ: Mapping[str, str]) -> Iterator[Finding]:
    found = False
    if environ.get("AWS_PROFILE"):
        found = True
        yield Finding(WARNING, "AWS_PROFILE", (
            f"set ({environ['AWS_PROFILE']}): the JavaScript SDK (and tools built on it) take that profile's credentials "
            f"before the session in the environment; mfaenv exec removes it for its command, or: unset AWS_PROFILE"))
    if environ.get("AWS_DEFAULT_PROFILE"):
        found = True
        yield Finding(WARNING, "AWS_DEFAULT_PROFILE", "set: older tools read it as AWS_PROFILE; fix: unset AWS_DEFAULT_PROFILE")
    if environ.get("AWS_SECURITY_TOKEN") and environ.get("AWS_SECURITY_TOKEN") != environ.get("AWS_SESSION_TOKEN"):
        found = True
        yield Finding(WARNING, "AWS_SECURITY_TOKEN", (
            "set and not the session's token: botocore reads it before AWS_SESSION_TOKEN; fix: unset AWS_SECURITY_TOKEN"))
    if environ.get("AWS_ACCESS_KEY_ID") and not environ.get("MFAENV_PROFILE"):
        found = True
        if environ.get("AWS_SESSION_TOKEN"):
            text = ("a session not set by mfaenv is in the environment; every tool uses it instead of a profile; "
                    "fix: unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN")
        else:
            text = ("long-term keys are in the environment (no session token): every tool uses them, without MFA, "
                    "instead of a profile; fix: unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY")
        yield Finding(WARNING, "AWS_ACCESS_KEY_ID", text)
    if not found:
        yield Finding(OK, "environment", "no AWS_PROFILE or static AWS keys to shadow mfaenv's sessions")


def _integration(environ: Mapping[str, str]) -> Finding:
    shell = environ.get("MFAENV_INTEGRATION")
    if shell:
        return Finding(OK, "shell integration", f"loaded in this shell ({shell})")
    from mfaenv.shells.dialects import detect_dialect

    try:
        name = detect_dialect(None).name
    except MfaenvError:
        name = "sh"
    lines = {
        "bash": 'eval "$(mfaenv init bash)" in ~/.bashrc', "zsh": 'eval "$(mfaenv init zsh)" in ~/.zshrc',
        "fish": "mfaenv init fish | source in ~/.config/fish/config.fish",
        "powershell": "mfaenv init powershell | Out-String | Invoke-Expression in $PROFILE",
        "nu": "use mfaenv.nu * in config.nu (see 'mfaenv init --help')",
    }
    fix = lines.get(name, "the line of 'mfaenv init --help' in your shell's rc file")
    return Finding(WARNING, "shell integration", f"not loaded in this shell; 'mfaenv PROFILE' needs eval without it; add {fix}")


# -- the session cache -------------------------------------------------------------------------------------------------


def _cache(environ: Mapping[str, str]) -> Finding:
    from mfaenv.stores import sessionstore

    location = sessionstore.locate(environ)
    if location.kind == sessionstore.KEYRING:
        from mfaenv.stores.keyringcache import KeyringCache

        if KeyringCache.open() is None:
            return Finding(WARNING, "session cache", "the OS credential store cannot be used (see the warning); "
                                                     "each terminal asks for its own code")
        return Finding(OK, "session cache", "in the OS credential store")
    if location.kind != sessionstore.FOLDER:
        return Finding(WARNING, "session cache", f"none ({location.reason}); each terminal asks for its own code")
    path = location.path
    where = _filesystem(path)
    in_ram = where in RAM_FILESYSTEMS
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        state = "not made yet (it is made, mode 0700, at the first fetch)"
    except OSError as error:
        return Finding(WARNING, "session cache", f"{path} cannot be used ({error.strerror}); sessions are not shared")
    else:
        if stat.S_ISLNK(info.st_mode):
            return Finding(WARNING, "session cache", f"{path} is a symlink and is not used; fix: rm {path}")
        if not stat.S_ISDIR(info.st_mode):
            return Finding(WARNING, "session cache", f"{path} is not a folder and is not used; fix: remove it")
        if info.st_uid != os.geteuid():
            return Finding(WARNING, "session cache", f"{path} belongs to another user and is not used; fix: remove it")
        if stat.S_IMODE(info.st_mode) & 0o077:
            return Finding(WARNING, "session cache", f"{path} is open to others and is not used; fix: chmod 700 {path}")
        state = "usable (yours, mode 0700)"
    if in_ram:
        return Finding(OK, "session cache", f"{path}, in RAM ({where}), {state}")
    return Finding(WARNING, "session cache", (
        f"{path}, {state}, is on disk ({where or 'unknown filesystem'}): sessions rest there until they expire; "
        f"prefer a RAM folder (MFAENV_CACHE_DIR on a tmpfs) or MFAENV_CACHE=keyring"))


def _filesystem(path: str) -> str:
    """The type of the filesystem that holds ``path`` (or would: its nearest existing folder), from /proc/mounts."""
    try:
        with open("/proc/self/mounts", encoding="utf-8", errors="replace") as mounts:
            table = [line.split() for line in mounts]
    except OSError:
        return ""
    existing = os.path.realpath(path)
    while not os.path.exists(existing) and existing != os.path.dirname(existing):
        existing = os.path.dirname(existing)
    best, kind = "", ""
    for fields in table:
        if len(fields) < 3:
            continue
        point = fields[1].replace("\\040", " ")
        inside = existing == point or existing.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, kind = point, fields[2]
    return kind


# -- the clock (and the keys) ------------------------------------------------------------------------------------------


def _clock(chains: List[Chain], environ: Mapping[str, str]) -> Finding:
    """GetCallerIdentity with the first usable profile's long-term keys (no code); STS's Date against ours."""
    from mfaenv.aws import iam

    if not chains:
        return Finding(WARNING, "clock", "not checked: no usable profile whose keys could ask STS")
    base = chains[0].base
    subject = f"clock (via {base.source}'s keys)"
    asked = time.time()
    try:
        identity = iam.caller_identity(base.access_key_id, base.secret_access_key, profile=base.source,
                                       region=base.call_region, environ=environ)
    except StsRejectedError as error:
        return Finding(PROBLEM, f"keys of {base.source}", f"refused by STS: {error}")
    except MfaenvError as error:
        return Finding(WARNING, "clock", f"not checked: {error}")
    answered = time.time()
    if identity.server_date is None:
        return Finding(WARNING, "clock", "not checked: STS's answer carried no readable Date")
    # The Date header has whole seconds: compare with the middle of the call, and allow that second.
    offset = identity.server_date.timestamp() - (asked + answered) / 2
    if abs(offset) > CLOCK_TOLERANCE_SECONDS:
        direction = "behind" if offset > 0 else "ahead of"
        return Finding(WARNING, subject, (
            f"this machine is {abs(offset):.0f} s {direction} STS: MFA codes are refused past ~{CLOCK_TOLERANCE_SECONDS} s; "
            f"fix: turn on time sync (NTP), e.g. 'sudo timedatectl set-ntp true'"))
    return Finding(OK, subject, f"within {max(1, round(abs(offset)))} s of STS; the keys work (account {identity.account})")
