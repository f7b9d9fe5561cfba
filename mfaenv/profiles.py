"""Profiles from the AWS credentials and config files, resolved as the SPEC orders it.

Reads files only: no shells, no boto3. The credentials file is the source of
long-term keys and of a persisted session; the config file adds
``source_profile``, ``mfa_serial``, ``region`` and ``mfa_process``.
"""

from __future__ import annotations

import configparser
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Tuple

from mfaenv.errors import FileFormatError, ProfileError
from mfaenv.variables import Session, parse_expiry

#: Suffixes of the credentials section that holds a profile's permanent keys,
#: in the order they are tried (team conventions, see README).
SOURCE_SUFFIXES = ("-default", "-long-term")
#: Keys in which teams' scripts keep the MFA device beside the temporary profile.
SERIAL_KEYS_IN_CREDENTIALS = ("aws_arn_mfa", "aws_mfa_device")

Section = Mapping[str, str]


def credentials_path(environ: Mapping[str, str] = os.environ) -> Path:
    return _aws_path(environ, "AWS_SHARED_CREDENTIALS_FILE", "credentials")


def config_path(environ: Mapping[str, str] = os.environ) -> Path:
    return _aws_path(environ, "AWS_CONFIG_FILE", "config")


def _aws_path(environ: Mapping[str, str], variable: str, name: str) -> Path:
    value = environ.get(variable)
    home = environ.get("HOME") or str(Path.home())
    if not value:
        return Path(home, ".aws", name)
    if value == "~" or value.startswith("~/"):
        return Path(home, value[2:])
    return Path(value).expanduser()


def read_sections(path: Path) -> Dict[str, Dict[str, str]]:
    """Sections of an INI file as plain dicts; {} for a missing file.

    Junk before the first section, unterminated headers and duplicate
    sections or keys raise FileFormatError: such a file is never guessed at.
    """
    try:
        data = read_regular_file(path)
        text = "" if data is None else data.decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise FileFormatError(f"cannot read {path}: {_reason(error)}") from None
    return parse_sections(text, path)


def read_regular_file(path: Path) -> Optional[bytes]:
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


def parse_sections(text: str, path: Path) -> Dict[str, Dict[str, str]]:
    """Sections of INI text read from ``path``, by the same rules as ``read_sections``.

    persist.py checks a file with this before and after editing it, so that
    what it writes is judged exactly as mfaenv (and botocore) will read it.
    """
    parser = configparser.RawConfigParser(
        strict=True,
        interpolation=None,
        # No section is special: a [DEFAULT] profile is just a profile.
        default_section="\0mfaenv-no-default-section",
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


@dataclass(frozen=True)
class Profile:
    """Everything needed to fetch a session for one target profile."""

    name: str
    source: str  # profile whose long-term keys sign the STS call
    access_key_id: str
    secret_access_key: str = field(repr=False)
    serial: str  # MFA device ARN (or a hardware token's serial)
    region: Optional[str]  # exported; from the target or the source profile
    call_region: str  # region of the STS call itself
    code_command: Optional[str]  # mfa_process
    persisted: Optional[Session]  # a session --persist left in the target's section


class ProfileStore:
    """The credentials and config files, read once."""

    def __init__(self, environ: Mapping[str, str] = os.environ):
        self.environ = environ
        self.credentials_path = credentials_path(environ)
        self.config_path = config_path(environ)
        self.credentials = read_sections(self.credentials_path)
        self.config = _config_profiles(read_sections(self.config_path))

    @property
    def _files(self) -> str:
        return f"{self.credentials_path} or {self.config_path}"

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

    def resolve(self, name: str, source: Optional[str] = None, serial: Optional[str] = None) -> Profile:
        source_name = self._source_name(name, source)
        access_key_id, secret_access_key = self._long_term_keys(name, source_name)
        serial = serial or self._serial(name, source_name)
        region = self.lookup(name, "region") or self.lookup(source_name, "region")
        call_region = region or self.environ.get("AWS_REGION") or self.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        return Profile(
            name=name,
            source=source_name,
            access_key_id=access_key_id,
            secret_access_key=secret_access_key,
            serial=serial,
            region=region,
            call_region=call_region,
            code_command=self.lookup(name, "mfa_process") or self.lookup(source_name, "mfa_process"),
            persisted=None if source_name == name else self.persisted_session(name),
        )

    def _source_name(self, name: str, explicit: Optional[str]) -> str:
        if explicit:
            if not self.exists(explicit):
                raise ProfileError(f"profile '{name}': source profile '{explicit}' not found in {self._files}")
            return explicit
        configured = self.lookup(name, "source_profile")
        if configured:
            return configured
        for suffix in SOURCE_SUFFIXES:
            if name + suffix in self.credentials:
                return name + suffix
        if not self.exists(name):
            raise ProfileError(
                f"profile '{name}' not found in {self._files}; "
                f"run 'mfaenv list' to see usable profiles"
            )
        return name

    def _long_term_keys(self, name: str, source: str) -> Tuple[str, str]:
        if not self.exists(source):
            raise ProfileError(f"profile '{name}': source profile '{source}' not found in {self._files}")
        key_id = self.lookup(source, "aws_access_key_id")
        secret = self.lookup(source, "aws_secret_access_key")
        if not key_id or not secret or is_placeholder(key_id) or is_placeholder(secret) \
                or self.lookup(source, "aws_session_token"):
            hint = f"add [{name}-default] with aws_access_key_id and aws_secret_access_key to {self.credentials_path}, or pass --source"
            which = "" if source == name else f" (source '{source}')"
            raise ProfileError(f"profile '{name}'{which}: no long-term keys; {hint}")
        return key_id, secret

    def _serial(self, name: str, source: str) -> str:
        target = self.credentials.get(name, {})
        for key in SERIAL_KEYS_IN_CREDENTIALS:
            if target.get(key) and not is_placeholder(target[key]):
                return target[key]
        serial = self.lookup(name, "mfa_serial") or self.lookup(source, "mfa_serial")
        if not serial:
            raise ProfileError(f"profile '{name}': no MFA device; add aws_arn_mfa or mfa_serial, or pass --serial")
        return serial

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


def _config_profiles(sections: Dict[str, Dict[str, str]]) -> Dict[str, Dict[str, str]]:
    """Config-file sections by profile name: ``[profile NAME]`` and ``[default]``."""
    profiles: Dict[str, Dict[str, str]] = {}
    for section, values in sections.items():
        if section.startswith("profile "):
            profiles[section[len("profile "):].strip()] = values
        elif section == "default":
            profiles.setdefault("default", values)
    return profiles


def is_placeholder(value: str) -> bool:
    """Seed files ship ``<auto-generated>`` where mfaenv will write: such a value counts as absent."""
    return value.startswith("<") and value.endswith(">")
