"""Profiles from the AWS credentials and config files, resolved as the SPEC orders it.

Reads files only: no shells, no boto3. The credentials file is the source of
long-term keys and of a persisted session; the config file adds
``source_profile``, ``mfa_serial``, ``region`` and ``mfa_process``, and a
role profile's ``role_arn``, ``role_session_name``, ``external_id`` and
``duration_seconds``.

A target profile resolves to a ``Chain``: the base (long-term keys and MFA
device, whose MFA session lies beneath everything) and zero or more roles,
found by following ``source_profile`` from the target down to a profile that
is not a role.
"""

from __future__ import annotations

import os
import stat
from collections import namedtuple

from mfaenv.errors import FileFormatError, ProfileError, UnknownProfileError
from mfaenv.shells.variables import Session, account_from_arn
from mfaenv.shells.expiry import parse_expiry

# On the path of a cached `credential-process` (every AWS CLI or SDK start): no typing,
# dataclasses (inspect) or pathlib (urllib.parse, ipaddress) at run time, and no `re` (with
# enum, ~5 ms, a third of Python's own start): names are checked with str methods, and plain
# files are read without configparser (``_plain_sections``). Paths are strings;
# ProfileStore still hands out pathlib.Path objects to the modules that write files.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import configparser
    from pathlib import Path
    from typing import Dict, List, Mapping, Optional, Tuple, Union

#: Suffixes of the credentials section that holds a profile's permanent keys,
#: in the order they are tried (team conventions, see docs/profiles.md).
SOURCE_SUFFIXES = ("-default", "-long-term")
#: The key `mfaenv keys` leaves in the source's credentials section in place of the two key lines:
#: its value is the access key id whose secret the OS credential store holds (stores/keystore.py).
#: The chain reads it from the file, so a cache hit and a Tab never open the store.
KEYRING_MARKER = "mfaenv_keyring"
#: Where a Profile's long-term keys are: the AWS files, or the OS credential store.
IN_FILE, IN_STORE = "file", "store"
#: Keys in which teams' scripts keep the MFA device beside the temporary profile.
SERIAL_KEYS_IN_CREDENTIALS = ("aws_arn_mfa", "aws_mfa_device")
_ASCII_LETTERS_DIGITS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_REGION_CHARACTERS = _ASCII_LETTERS_DIGITS | {"-"}
#: What STS accepts in a RoleSessionName: ``[A-Za-z0-9_+=,.@-]``, 2 to 64 of them.
SESSION_NAME_CHARACTERS = _ASCII_LETTERS_DIGITS | set("_+=,.@-")
_PARTITION_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz-")
#: Keys of profiles whose credentials come from elsewhere than long-term keys and an MFA code,
#: and what such a profile is (the first key found names it).
NOT_MFA_PROFILE_KEYS = {
    "credential_source": "an instance, container or environment credentials profile",
    "web_identity_token_file": "a web identity profile",
    "sso_session": "an IAM Identity Center (SSO) profile",
    "sso_start_url": "an IAM Identity Center (SSO) profile",
    "sso_account_id": "an IAM Identity Center (SSO) profile",
}
#: Written by --persist beside the session: what it depends on (sessions.session_digest).
DIGEST_KEY = "mfaenv_session_digest"
#: The session name when the MFA device names no user (a hardware token's serial).
FALLBACK_SESSION_NAME = "mfaenv"
#: AssumeRole accepts 900 s to 12 h (the role's own maximum may be lower).
ROLE_MIN_DURATION, ROLE_MAX_DURATION = 900, 43200

# The three rules below are regular expressions written out with str methods (no `re` on
# the hot path); tests/test_hot_path_rules.py holds each to its expression on arbitrary text.


def is_region_name(text: str) -> bool:
    """One DNS label, as botocore demands: ``(?![0-9]+$)(?!-)[a-zA-Z0-9-]{1,63}(?<!-)``.

    The region becomes part of the STS endpoint's host name, and "x@attacker.example/"
    would send the signed request, MFA code included, to another host.
    """
    return (
        0 < len(text) <= 63
        and all(char in _REGION_CHARACTERS for char in text)
        and not text.isdigit()
        and text[0] != "-"
        and text[-1] != "-"
    )


def is_session_name(text: str) -> bool:
    """What STS accepts as a RoleSessionName: ``[A-Za-z0-9_+=,.@-]{2,64}``."""
    return 2 <= len(text) <= 64 and all(char in SESSION_NAME_CHARACTERS for char in text)


def is_role_arn(text: str) -> bool:
    """``arn:PARTITION:iam::ACCOUNT:role/NAME``: ``arn:[a-z-]+:iam::[0-9]{12}:role/\\S+``."""
    parts = text.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2:4] != ["iam", ""] or not parts[5].startswith("role/"):
        return False
    partition, account, name = parts[1], parts[4], parts[5][len("role/"):]
    return (
        bool(partition) and all(char in _PARTITION_CHARACTERS for char in partition)
        and len(account) == 12 and account.isascii() and account.isdigit()
        and bool(name) and not any(char.isspace() for char in name)
    )


def credentials_file(environ: Mapping[str, str] = os.environ) -> str:
    return _aws_file(environ, "AWS_SHARED_CREDENTIALS_FILE", "credentials")


def config_file(environ: Mapping[str, str] = os.environ) -> str:
    return _aws_file(environ, "AWS_CONFIG_FILE", "config")


def credentials_path(environ: Mapping[str, str] = os.environ) -> Path:
    """``credentials_file`` as a pathlib.Path, for the modules that write it."""
    from pathlib import Path

    return Path(credentials_file(environ))


def configured_endpoint(environ: Mapping[str, str], service: str = "STS") -> "Optional[Tuple[str, str]]":
    """The endpoint the environment sets for a service, as botocore reads it: (variable, URL), or None.

    One rule for sts.py (where the call goes), sessions.py (what a cached session depends on)
    and iam.py (``service="IAM"``).
    """
    if environ.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "").lower() != "true":
        for variable in (f"AWS_ENDPOINT_URL_{service}", "AWS_ENDPOINT_URL"):
            if environ.get(variable):
                return variable, environ[variable]
    return None


def config_path(environ: Mapping[str, str] = os.environ) -> Path:
    from pathlib import Path

    return Path(config_file(environ))


def _aws_file(environ: Mapping[str, str], variable: str, name: str) -> str:
    """~/.aws/NAME, or the file the variable names with ``~`` expanded, as botocore finds it.

    ``~`` is the HOME of ``environ`` (the one mfaenv was given, not necessarily os.environ).
    """
    value = environ.get(variable)
    home = environ.get("HOME") or os.path.expanduser("~")
    if not value:
        return os.path.join(home, ".aws", name)
    if value == "~" or value.startswith("~/"):
        return os.path.join(home, value[2:]) if value[2:] else home
    return os.path.expanduser(value)


def read_sections(path: Union[str, Path]) -> Dict[str, Dict[str, str]]:
    """Sections of an INI file as plain dicts; {} for a missing file.

    Junk before the first section, unterminated headers and duplicate
    sections or keys raise FileFormatError: such a file is never guessed at.
    """
    try:
        data = read_regular_file(path) or b""
        # A leading BOM (Notepad writes one) is dropped as "utf-8-sig" would, without loading that codec.
        text = (data[3:] if data.startswith(b"\xef\xbb\xbf") else data).decode()
    except (OSError, UnicodeDecodeError) as error:
        raise FileFormatError(f"cannot read {path}: {_reason(error)}") from None
    return parse_sections(text, path)


def read_regular_file(path: Union[str, Path]) -> Optional[bytes]:
    """The bytes of a regular file, None for a missing one, b"" for /dev/null.

    Anything else raises FileFormatError without ever blocking: a FIFO or a
    terminal as AWS_SHARED_CREDENTIALS_FILE would otherwise hang every Tab
    (`profiles`), `list` and `get`. /dev/null is the usual way to say "no
    such file" (AWS_CONFIG_FILE=/dev/null) and reads as empty.
    """
    try:
        info = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    if not stat.S_ISREG(info.st_mode):  # checked before opening: opening a device can act on it
        if stat.S_ISCHR(info.st_mode) and os.path.samestat(info, os.stat(os.devnull)):
            return b""
        raise FileFormatError(f"cannot read {path}: it is {file_kind(info.st_mode)}, not a regular file")
    # O_NONBLOCK: if the path was swapped for a FIFO since the stat, opening it must not wait for a writer.
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    with open(fd, "rb") as file:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise FileFormatError(f"cannot read {path}: it is {file_kind(os.fstat(fd).st_mode)}, not a regular file")
        return file.read()


def file_kind(mode: int) -> str:
    """What a non-regular file is, in words, for error messages."""
    for test, kind in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return kind
    return "a special file"


def parse_sections(text: str, path: Union[str, Path]) -> Dict[str, Dict[str, str]]:
    """Sections of INI text read from ``path``, by the same rules as ``read_sections``.

    persist.py checks a file with this before and after editing it, so that
    what it writes is judged exactly as mfaenv (and botocore) will read it.
    """
    sections = _plain_sections(text)
    return sections if sections is not None else _configparser_sections(text, path)


#: configparser's name for its defaults section, which mfaenv turns off (see below).
_NO_DEFAULT_SECTION = "\0mfaenv-no-default-section"


def _plain_sections(text: str) -> Optional[Dict[str, Dict[str, str]]]:
    """The sections of a plainly written file, exactly as configparser reads them; else None.

    Plainly written: each line is blank, a comment (``#``, ``;``), ``[section]``,
    ``key = value`` (or ``key: value``) or, indented under a key, a continuation of its
    value (the AWS CLI writes ``s3 =`` and its settings so); keys and headers are not
    indented, and no section or key comes twice. Reading that takes no `re`, which
    configparser loads. Anything else (an indented key, text after a header, a ``]``
    inside a section name, which Python 3.9 reads otherwise, a line of neither kind, a
    duplicate) returns None and is left to configparser, whose reading, or error, is the
    rule: a property test (tests/test_hot_path_rules.py) holds the two to one result.
    """
    sections: Dict[str, Dict[str, List[str]]] = {}
    current = None
    value_lines = None  # of the last key; None right after a header
    for line in text.split("\n"):  # configparser's read_string splits at "\n" only
        stripped = line.strip()
        if not stripped:
            if value_lines is not None:
                value_lines.append("")  # kept only if a continuation line follows
            continue
        if stripped[0] in "#;":
            continue
        if line[0].isspace():
            if value_lines is None:
                return None
            value_lines.append(stripped)
            continue
        if stripped[0] == "[":
            name = stripped[1:-1]
            if stripped[-1] != "]" or not name or "]" in name or name in sections or name == _NO_DEFAULT_SECTION:
                return None
            current = sections[name] = {}
            value_lines = None
            continue
        at = min((found for found in (stripped.find("="), stripped.find(":")) if found >= 0), default=-1)
        if current is None or at <= 0:  # junk before the first section, no delimiter, no key
            return None
        key = stripped[:at].rstrip().lower()
        if key in current:
            return None
        value_lines = current[key] = [stripped[at + 1:].strip()]
    return {name: {key: "\n".join(lines).rstrip() for key, lines in keys.items()} for name, keys in sections.items()}


def _configparser_sections(text: str, path: Union[str, Path]) -> Dict[str, Dict[str, str]]:
    import configparser

    parser = configparser.RawConfigParser(
        strict=True,
        interpolation=None,
        # No section is special: a [DEFAULT] profile is just a profile.
        default_section=_NO_DEFAULT_SECTION,
    )
    try:
        parser.read_string(text, source=str(path))
    except configparser.Error as error:
        raise FileFormatError(f"{path} is malformed: {_describe_parse_error(error)}; fix it by hand") from None
    return {name: dict(parser.items(name)) for name in parser.sections()}


def _reason(error: BaseException) -> str:
    return getattr(error, "strerror", None) or type(error).__name__


def _describe_parse_error(error: configparser.Error) -> str:
    # Messages of configparser quote the offending line, which may hold a secret.
    import configparser

    if isinstance(error, configparser.MissingSectionHeaderError):
        return f"line {error.lineno} comes before any [section] header"
    if isinstance(error, configparser.DuplicateSectionError):
        return f"section [{error.section}] appears twice (line {error.lineno})"
    if isinstance(error, configparser.DuplicateOptionError):
        return f"key '{error.option}' appears twice in [{error.section}] (line {error.lineno})"
    if isinstance(error, configparser.ParsingError):
        lines = ", ".join(str(lineno) for lineno, _line in getattr(error, "errors", []))
        return f"cannot parse line {lines or '?'} (an unterminated [section header?)"
    return type(error).__name__


class Profile(namedtuple("Profile", [
    "name",
    "source",  # profile whose long-term keys sign the STS call
    "access_key_id",
    "secret_access_key",
    "serial",  # MFA device ARN (or a hardware token's serial)
    "region",  # exported; from the target or the source profile (or None)
    "call_region",  # region of the STS call itself
    "code_command",  # mfa_process (or None)
    "keys_in",  # IN_FILE, or IN_STORE: then secret_access_key is None until a fetch opens the store
    "keys_warning",  # what a fetch warns about the keys (the store's disagree with the file's), or None
], defaults=(IN_FILE, None))):
    """Everything needed to fetch a session for one target profile."""

    __slots__ = ()

    def __repr__(self) -> str:  # every field but the secret
        shown = ", ".join(f"{name}={value!r}" for name, value in zip(self._fields, self) if name != "secret_access_key")
        return f"Profile({shown})"


class Role(namedtuple("Role", [
    "profile",  # the role profile's name
    "arn",
    "session_name",
    "external_id",  # or None
    "duration",  # duration_seconds of the profile; None: mfaenv's default
    "region",  # of this profile, else of the profiles beneath it (or None)
    "call_region",  # region of the AssumeRole call
    "source",  # the profile named by source_profile (or --source)
])):
    """One AssumeRole step of a chain, as its role profile describes it."""

    __slots__ = ()

    @property
    def account(self) -> Optional[str]:
        return account_from_arn(self.arn)


class Chain(namedtuple("Chain", [
    "name",  # the target profile
    "base",  # the Profile with the long-term keys + MFA device
    "roles",  # the Roles, in the order they are assumed
    "code_command",  # or None
], defaults=((), None))):
    """A target profile resolved: the base's MFA session, then each role in the order it is assumed."""

    __slots__ = ()

    @property
    def target_role(self) -> Optional[Role]:
        return self.roles[-1] if self.roles else None

    @property
    def region(self) -> Optional[str]:
        """The region exported with the target's session."""
        return self.roles[-1].region if self.roles else self.base.region

    @property
    def account(self) -> Optional[str]:
        """The target session's account: the last role's, else the MFA device's."""
        return self.roles[-1].account if self.roles else account_from_arn(self.base.serial)


def default_session_name(serial: str) -> str:
    """The IAM user name of an MFA device ARN (``arn:aws:iam::111:mfa/jane`` -> ``jane``).

    It names the person in the role's CloudTrail entries. Characters STS does not
    accept become ``-``; too short a name, or a hardware token's serial, gives "mfaenv".
    """
    if not serial.startswith("arn:") or ":mfa/" not in serial:
        return FALLBACK_SESSION_NAME
    characters, in_run = [], False
    for char in serial.rsplit("/", 1)[-1]:
        if char in SESSION_NAME_CHARACTERS:
            characters.append(char)
        elif not in_run:  # a run of other characters becomes one "-"
            characters.append("-")
        in_run = char not in SESSION_NAME_CHARACTERS
    name = "".join(characters).strip("-")[:64]
    return name if is_session_name(name) else FALLBACK_SESSION_NAME


class ProfileStore:
    """The credentials and config files, read once."""

    def __init__(self, environ: Mapping[str, str] = os.environ):
        self.environ = environ
        self.credentials_file = credentials_file(environ)
        self.config_file = config_file(environ)
        self.credentials = read_sections(self.credentials_file)
        self.config = _config_profiles(read_sections(self.config_file))

    @property
    def credentials_path(self) -> Path:
        return credentials_path(self.environ)

    @property
    def config_path(self) -> Path:
        return config_path(self.environ)

    def _not_found(self, who: str, source: Optional[str] = None, missing: Optional[str] = None) -> ProfileError:
        """A profile (or the source profile it names) is in neither file.

        'not found in' names only the files that exist: a missing ~/.aws/config is not
        where anything was looked for. A name close to one that exists is suggested.
        """
        what = f"{who}: source profile '{source}'" if source else who
        reason = f"source profile '{source}' not found" if source else "not found"
        missing = source or missing or ""
        known = tuple(self.names())
        existing = [path for path in (self.credentials_file, self.config_file) if os.path.isfile(path)]
        if existing:
            return UnknownProfileError(
                f"{what} not found in {' or '.join(existing)}", reason=reason, missing=missing, known=known,
                otherwise="; run 'mfaenv list' to see usable profiles",
            )
        return UnknownProfileError(
            f"{what} not found: neither {self.credentials_file} nor {self.config_file} exists; "
            f"'mfaenv setup {missing or 'PROFILE'}' asks for the long-term keys and writes a first profile",
            reason=reason, missing=missing,
        )

    def exists(self, name: str) -> bool:
        return name in self.credentials or name in self.config

    def lookup(self, name: str, key: str) -> Optional[str]:
        """A key of a profile: credentials file first, then config file."""
        for sections in (self.credentials, self.config):
            value = sections.get(name, {}).get(key)
            if value:
                return value
        return None

    def names(self) -> List[str]:
        """Every profile named in either file, in file order, without repeats."""
        return list(dict.fromkeys([*self.credentials, *self.config]))

    def survey(self) -> List[Tuple[str, Union[Chain, ProfileError]]]:
        """Every profile, in file order, with its chain, or what keeps it from being used."""
        surveyed: List[Tuple[str, Union[Chain, ProfileError]]] = []
        for name in self.names():
            try:
                surveyed.append((name, self.chain(name)))
            except ProfileError as error:
                surveyed.append((name, error))
        return surveyed

    def is_role(self, name: str) -> bool:
        return self.lookup(name, "role_arn") is not None

    # -- the chain: roles down to the base ------------------------------------------------------

    def chain(self, name: str, source: Optional[str] = None, serial: Optional[str] = None) -> Chain:
        """The target resolved: the base's keys and MFA device, then each role in the order it is assumed.

        ``source`` (--source) replaces the target's source_profile; ``serial`` (--serial)
        is the MFA device of the whole chain.
        """
        self._refuse_non_mfa(name, name)
        if not self.is_role(name):
            base = self.resolve(name, source=source, serial=serial)
            return Chain(name=name, base=base, code_command=base.code_command)
        role_names: List[str] = []  # the target first
        current, explicit = name, source
        while True:
            configured = explicit or self.lookup(current, "source_profile")
            explicit = None
            if not configured:
                raise ProfileError(
                    f"profile '{name}': role profile '{current}' has no source_profile; "
                    f"add source_profile naming the profile with the long-term keys",
                    reason="a role without source_profile",
                )
            role_names.append(current)
            if configured == current and self.lookup(current, "aws_access_key_id"):
                break  # a role profile that holds the keys that assume it (botocore allows this)
            if configured in role_names:
                loop = " -> ".join([*role_names, configured])
                raise ProfileError(
                    f"profile '{name}': source_profile loop ({loop}); "
                    f"end the chain at a profile with long-term keys",
                    reason=f"source_profile loop ({loop})",
                )
            if not self.exists(configured):
                raise self._not_found(f"profile '{name}'", source=configured)
            self._refuse_non_mfa(name, configured)
            if not self.is_role(configured):
                break
            current = configured
        base_name = configured
        base = self._resolve(base_name, target=name, serial=serial or self._role_serial(role_names))
        roles = tuple(self._role(role, role_names[index + 1:] + [base_name, base.source], base.serial)
                      for index, role in reversed(list(enumerate(role_names))))
        return Chain(
            name=name,
            base=base,
            roles=roles,
            code_command=next((self.lookup(role, "mfa_process") for role in role_names
                               if self.lookup(role, "mfa_process")), base.code_command),
        )

    def _refuse_non_mfa(self, target: str, name: str) -> None:
        for key, what in NOT_MFA_PROFILE_KEYS.items():
            if self.lookup(name, key):
                raise ProfileError(
                    f"{_who(target, name)} is {what} ({key}), not an MFA profile; mfaenv needs long-term keys "
                    f"and an MFA device (use that profile with the AWS CLI or SDK directly)",
                    reason=f"{what} ({key}), not an MFA profile",
                )

    def _role_serial(self, role_names: List[str]) -> Optional[str]:
        """The MFA device named by a role profile, the target's first; None: the base's own."""
        for role in role_names:
            serial = self._serial_in_credentials(role) or self.lookup(role, "mfa_serial")
            if serial:
                return serial
        return None

    def _role(self, name: str, beneath: List[str], serial: str) -> Role:
        arn = self.lookup(name, "role_arn") or ""
        if not is_role_arn(arn):
            raise ProfileError(
                f"profile '{name}': role_arn is not a role ARN; write it as arn:aws:iam::ACCOUNT:role/NAME",
                reason="role_arn is not a role ARN",
            )
        session_name = self.lookup(name, "role_session_name")
        if session_name is not None and not is_session_name(session_name):
            raise ProfileError(
                f"profile '{name}': role_session_name must be 2 to 64 characters, each a letter, a digit or one of +=,.@_-",
                reason="role_session_name is not valid",
            )
        region = self._named_region(name, [name, *beneath])
        return Role(
            profile=name,
            arn=arn,
            session_name=session_name or default_session_name(serial),
            external_id=self.lookup(name, "external_id"),
            duration=self._duration_seconds(name),
            region=region,
            call_region=region or self._environment_region(name),
            source=beneath[0],
        )

    def _duration_seconds(self, name: str) -> Optional[int]:
        value = self.lookup(name, "duration_seconds")
        if value is None:
            return None
        if not value.isascii() or not value.isdigit() or not ROLE_MIN_DURATION <= int(value) <= ROLE_MAX_DURATION:
            raise ProfileError(
                f"profile '{name}': duration_seconds must be whole seconds from {ROLE_MIN_DURATION} to "
                f"{ROLE_MAX_DURATION} (STS's limits for a role)",
                reason="duration_seconds is not valid",
            )
        return int(value)

    def _named_region(self, target: str, names: List[str]) -> Optional[str]:
        """The region the first of these profiles names; a malformed one is named with its profile."""
        for name in names:
            region = self.lookup(name, "region")
            if region:
                if not is_region_name(region):
                    # AWS_REGION cannot help here: a profile's region wins over it.
                    raise ProfileError(
                        f"profile '{target}': region {region!r} of profile '{name}' is not a region name; "
                        f"fix region in profile '{name}'",
                        reason="region is not a region name",
                    )
                return region
        return None

    def _environment_region(self, target: str) -> str:
        """The region of the STS call where no profile names one: checked here, where the variable is known,
        so that a bad one is refused before a code is asked for."""
        for variable in ("AWS_REGION", "AWS_DEFAULT_REGION"):
            value = self.environ.get(variable)
            if value:
                if not is_region_name(value):
                    raise ProfileError(
                        f"profile '{target}': {variable} {value!r} is not a region name; fix it or unset it",
                        reason=f"{variable} is not a region name",
                    )
                return value
        return "us-east-1"

    # -- the base: long-term keys and the MFA device ---------------------------------------------

    def resolve(self, name: str, source: Optional[str] = None, serial: Optional[str] = None) -> Profile:
        """A plain (non-role) profile: its long-term keys, MFA device and region."""
        return self._resolve(name, target=name, source=source, serial=serial)

    def _resolve(self, name: str, target: str, source: Optional[str] = None, serial: Optional[str] = None) -> Profile:
        source_name = self._source_name(name, source)
        access_key_id, secret_access_key, keys_in, keys_warning = self._long_term_keys(name, source_name, target)
        serial = serial or self._serial(name, source_name, target)
        region = self._named_region(target, [name, source_name])
        return Profile(
            name=name,
            source=source_name,
            access_key_id=access_key_id,
            secret_access_key=secret_access_key,
            serial=serial,
            region=region,
            call_region=region or self._environment_region(target),
            code_command=self.lookup(name, "mfa_process") or self.lookup(source_name, "mfa_process"),
            keys_in=keys_in,
            keys_warning=keys_warning,
        )

    def _source_name(self, name: str, explicit: Optional[str]) -> str:
        if explicit:
            if not self.exists(explicit):
                raise self._not_found(f"profile '{name}'", source=explicit)
            return explicit
        configured = self.lookup(name, "source_profile")
        if configured:
            return configured
        for suffix in SOURCE_SUFFIXES:
            if name + suffix in self.credentials:
                return name + suffix
        if not self.exists(name):
            raise self._not_found(f"profile '{name}'", missing=name)
        return name

    def _long_term_keys(self, name: str, source: str, target: str) -> Tuple[str, Optional[str], str, Optional[str]]:
        """(key id, secret or None when in the store, IN_FILE or IN_STORE, a warning or None).

        The files first, then the store, as named by the marker: the store is never opened here.
        """
        who = _who(target, name)
        if not self.exists(source):
            raise self._not_found(who, source=source)
        key_id = self.lookup(source, "aws_access_key_id")
        secret = self.lookup(source, "aws_secret_access_key")
        in_store = self.stored_key_id(source)
        if key_id and secret and not is_placeholder(key_id) and not is_placeholder(secret) \
                and not self.lookup(source, "aws_session_token"):
            warning = None
            if in_store and in_store != key_id:
                warning = (
                    f"profile '{source}': the credentials file holds key {key_id}, the OS credential store "
                    f"{in_store} ({KEYRING_MARKER} in [{source}]); using the file's, as the AWS CLI would; run "
                    f"'mfaenv keys import {source}' to keep only the file's in the store, or "
                    f"'mfaenv keys remove {source}'"
                )
            return key_id, secret, IN_FILE, warning
        if in_store:
            return in_store, None, IN_STORE, None
        keys = "aws_access_key_id and aws_secret_access_key"
        if source != name:
            raise ProfileError(
                f"{who}: source profile '{source}' has no long-term keys; add {keys} to [{source}] in {self.credentials_file}",
                reason=f"source profile '{source}' has no long-term keys",
            )
        section = self.credentials.get(name, {})
        if any(key in section for key in (*SERIAL_KEYS_IN_CREDENTIALS, "aws_access_key_id", "aws_session_token")):
            # The team layout: [stage] holds the MFA device and the temporary keys; [stage-default] the permanent ones.
            raise ProfileError(
                f"{who}: no long-term keys; add [{name}-default] with {keys} to {self.credentials_file}, or pass --source",
                reason=f"no long-term keys (no [{name}-default] section)",
            )
        raise ProfileError(
            f"{who}: no long-term keys and no source_profile; add {keys} to [{name}] in {self.credentials_file}, "
            f"or source_profile naming a profile that has them",
            reason="no long-term keys and no source_profile",
        )

    def stored_key_id(self, name: str) -> Optional[str]:
        """The access key id `mfaenv keys` put into the OS credential store for this section, if any."""
        value = self.credentials.get(name, {}).get(KEYRING_MARKER)
        if value and not is_access_key_id(value):
            raise ProfileError(
                f"profile '{name}': {KEYRING_MARKER} in [{name}] of {self.credentials_file} is not an access key id; "
                f"fix it, or run 'mfaenv keys add {name}' to store the keys again",
                reason=f"{KEYRING_MARKER} is not an access key id",
            )
        return value or None

    def key_section(self, name: str) -> str:
        """The section that holds (or would hold) the long-term keys beneath a profile: for a role, those of
        the profile at the bottom of its source_profile chain; for a plain profile, its source."""
        seen = [name]
        while self.is_role(name):
            configured = self.lookup(name, "source_profile")
            if not configured or configured in seen:
                break  # no source, a profile that signs its own role, or a loop: the chain says which
            seen.append(configured)
            name = configured
        return self._source_name(name, None)

    def call_region(self, target: str, names: List[str]) -> str:
        """The region of a call for these profiles: the first one they name, else the environment's."""
        return self._named_region(target, names) or self._environment_region(target)

    def _serial_in_credentials(self, name: str) -> Optional[str]:
        section = self.credentials.get(name, {})
        for key in SERIAL_KEYS_IN_CREDENTIALS:
            if section.get(key) and not is_placeholder(section[key]):
                return section[key]
        return None

    def _serial(self, name: str, source: str, target: str) -> str:
        serial = self._serial_in_credentials(name) or self.lookup(name, "mfa_serial") or self.lookup(source, "mfa_serial")
        if not serial:
            raise ProfileError(
                f"{_who(target, name)}: no MFA device; add aws_arn_mfa or mfa_serial, or pass --serial",
                reason="no MFA device (no mfa_serial or aws_arn_mfa)",
            )
        return serial

    def persisted(self, chain: Chain) -> Optional[Session]:
        """The session --persist left in the target's section; none where that section holds the long-term keys.

        Read only when asked for (reuse, `list`): an expiry in another tool's form goes
        to datetime, which every Tab and every cached credential-process would pay.
        """
        if not chain.roles and chain.base.source == chain.name:
            return None
        return self.persisted_session(chain.name)

    def persisted_with_digest(self, chain: Chain) -> Optional[Tuple[Session, Optional[str]]]:
        """``persisted``, and the digest --persist wrote beside it (None: none written)."""
        session = self.persisted(chain)
        if session is None:
            return None
        return session, self.credentials.get(chain.name, {}).get(DIGEST_KEY)

    def persisted_session(self, name: str) -> Optional[Session]:
        """A complete session in the target's credentials section, if any."""
        section = self.credentials.get(name, {})
        try:
            values = [section[key] for key in ("aws_access_key_id", "aws_secret_access_key", "aws_session_token")]
            expires = parse_expiry(section["expiration"])
        except (KeyError, ValueError):
            return None
        if any(is_placeholder(value) for value in values):
            return None
        return Session(*values, expires=expires)


def _who(target: str, name: str) -> str:
    """The start of a message about ``name``, reached from the target profile."""
    return f"profile '{name}'" if name == target else f"profile '{target}': source profile '{name}'"


def _config_profiles(sections: Dict[str, Dict[str, str]]) -> Dict[str, Dict[str, str]]:
    """Config-file sections by profile name: ``[profile NAME]`` and ``[default]``."""
    profiles: Dict[str, Dict[str, str]] = {}
    for section, values in sections.items():
        if section.startswith("profile "):
            profiles[section[len("profile "):].strip()] = values
        elif section == "default":
            profiles.setdefault("default", values)
    return profiles


def is_access_key_id(text: str) -> bool:
    """What AWS hands out as an access key id: 16 to 128 characters, capital letters and digits."""
    return 16 <= len(text) <= 128 and text.isascii() and text.isalnum() and text == text.upper()


def is_placeholder(value: str) -> bool:
    """Seed files ship ``<auto-generated>`` where mfaenv will write: such a value counts as absent."""
    return value.startswith("<") and value.endswith(">")
