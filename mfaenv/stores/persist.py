"""Writing a session into one section of the credentials file (and removing it), never damaging the rest.

The file is edited as lines, not re-serialised: only the lines of the target
section's keys change, so comments, blank lines, key order, unknown keys,
CRLF line endings, a UTF-8 BOM and a missing final newline survive byte for
byte. Sections and keys are found by the rules of Python's configparser (the
parser botocore and mfaenv read the file with), and the result is parsed
again before it is written: if anything but the target's keys would change,
nothing is written.

Writing is crash- and race-safe: an exclusive lock on ``credentials.lock``
beside the real file (a symlink's target) serialises writers, which re-read
the file under the lock; the new text goes to a temporary file in the same
folder that is fsynced and renamed over the old one, then the folder is
fsynced. Just before the rename the file is checked to be the one that was
read, since other programs take no lock; if it changed, the edit is made
again on the new text. The lock is a kernel lock (flock; msvcrt.locking on Windows), so a
writer killed at any moment releases it; the lock file itself stays, empty,
because deleting a lock file that others may be waiting on breaks the
exclusion. The standard library is used rather than ``filelock``, whose
releases since 3.24 quietly fall back, where flock is missing, to a lock file
whose mere existence is the lock, which a killed writer leaves behind.

Knows files only: no shells, no STS, no boto3.
"""

from __future__ import annotations

import configparser
import errno
import os
import re
import signal
import stat
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Tuple

from mfaenv.terminal.display import shown
from mfaenv.errors import FileFormatError, PersistError
from mfaenv.profiles import file_kind, is_placeholder, parse_sections, read_sections

BOM = b"\xef\xbb\xbf"
#: How long a writer waits for another one; a write holds the lock for milliseconds.
LOCK_TIMEOUT_SECONDS = 15.0
LOCK_SUFFIX = ".lock"
#: Temporary files are named ``.credentials.<random>.mfaenv-tmp``; one left by a
#: killed writer is removed by the next writer, under the lock.
TEMP_SUFFIX = ".mfaenv-tmp"
NEW_FILE_MODE = 0o600
NEW_FOLDER_MODE = 0o700

# configparser's own patterns, so that a section or key is found exactly where it finds one.
_SECTION_HEADER = configparser.RawConfigParser.SECTCRE
_OPTION_LINE = configparser.RawConfigParser.OPTCRE
_NON_SPACE = configparser.RawConfigParser.NONSPACECRE
_COMMENT_PREFIXES = ("#", ";")
#: The section configparser (and so botocore) reads as defaults for every other one: exactly "DEFAULT".
_DEFAULTS_SECTION = configparser.RawConfigParser().default_section
#: Universal newlines, as Python (and so botocore) reads the file.
_LINE = re.compile(r"([^\r\n]*)(\r\n|\r|\n|\Z)")


def check_writable(path: Path, section: str, config_path: Optional[Path] = None) -> None:
    """Everything --persist can check before the STS call, so that no MFA code is spent on a write
    that cannot happen; raises PersistError or FileFormatError.

    A missing file (or folder) is fine: write_session creates it. A section
    holding long-term keys is refused, in the credentials file and, when
    ``config_path`` is given, in the config file, whose keys a session in the
    credentials file would shadow: that covers the keys signing this call.
    The file must be a regular file that a rename can replace, its lock file
    must open, and its filesystem must have room for the new copy.
    """
    _check_section_name(section, path)
    target = _resolve(path)
    _check_target(target, path)
    snapshot = _Snapshot.read(target, path)
    if snapshot is not None:
        _refuse_long_term_keys(Document.parse(snapshot.data, path), section, path)
    if config_path is not None:
        _refuse_shadowing_config_keys(config_path, section, path)
    if target.parent.is_dir():
        os.close(_open_lock(target, path))
        _check_free_space(target, path, len(snapshot.data) if snapshot else 0)


def write_session(path: Path, section: str, values: Mapping[str, str]) -> None:
    """Set ``values`` in ``[section]`` of the credentials file at ``path``, atomically and under a lock.

    Warns on stderr when others can read the file: the session token is a bearer token.
    """
    _check_section_name(section, path)
    _check_values(values, path)

    def edit(document: Document) -> bytes:
        _refuse_long_term_keys(document, section, path)
        return document.with_values(section, values)

    _edit_file(path, edit)
    _warn_if_readable_by_others(_resolve(path), path)


#: What --persist writes into a section (and aws-mfa's aws_security_token, which it keeps equal to the token).
SESSION_KEYS = ("aws_access_key_id", "aws_secret_access_key", "aws_session_token", "aws_security_token", "expiration")


def remove_session(path: Path, section: str) -> bool:
    """Remove the session --persist wrote into ``[section]``; False when the file holds none there.

    Only the lines of SESSION_KEYS that hold a real value go (with their
    continuation lines); the header, placeholders such as ``<auto-generated>``
    and every other line stay byte for byte. Long-term keys are never removed.
    Locked and atomic like write_session.
    """
    if not section or "\n" in section or "\r" in section:
        return False  # no such section can exist

    def edit(document: Document) -> Optional[bytes]:
        keys = document.before.get(section, {})
        if not any(_real_value(keys.get(key)) for key in ("aws_session_token", "aws_security_token")):
            if _real_value(keys.get("aws_access_key_id")):
                raise PersistError(
                    f"refusing to remove keys from [{section}] of {path}: it holds long-term keys, not a session"
                )
            return None  # no session: nothing to remove
        return document.without_keys(section, [key for key in SESSION_KEYS if _real_value(keys.get(key))])

    if not os.path.lexists(_resolve(path)):
        return False
    return _edit_file(path, edit)


def updated_text(data: bytes, section: str, values: Mapping[str, str], path: Path = Path("credentials")) -> bytes:
    """The file ``data`` with ``values`` set in ``[section]``; everything else byte for byte."""
    _check_section_name(section, path)
    _check_values(values, path)
    return Document.parse(data, path).with_values(section, values)


# --- the line-based editor -------------------------------------------------------------------------------------


@dataclass
class _Option:
    key: str  # lower-cased, as configparser and botocore see it
    line: int
    continuation: List[int] = field(default_factory=list)  # indented lines that belong to the value

    @property
    def last_line(self) -> int:
        return self.continuation[-1] if self.continuation else self.line


@dataclass
class _Section:
    name: str
    header: int
    options: Dict[str, _Option] = field(default_factory=dict)


@dataclass
class Document:
    """A credentials file as (text, line ending) pairs, and where each section and key sits."""

    path: Path
    bom: bool
    lines: List[Tuple[str, str]]
    sections: Dict[str, _Section]
    before: Dict[str, Dict[str, str]]  # what configparser reads from the file

    @classmethod
    def parse(cls, data: bytes, path: Path) -> "Document":
        bom = data.startswith(BOM)
        try:
            text = data[len(BOM):].decode("utf-8") if bom else data.decode("utf-8")
        except UnicodeDecodeError:
            raise FileFormatError(f"{path} is not UTF-8 text; fix it by hand") from None
        lines = _split_lines(text)
        before = _parse_with_configparser(lines, path)  # the error messages mfaenv gives everywhere
        return cls(path, bom, lines, _index_sections(lines, path), before)

    @property
    def line_ending(self) -> str:
        """The file's own line ending (that of its first line), for lines mfaenv adds."""
        return next((ending for _text, ending in self.lines if ending), "\n")

    def with_values(self, section: str, values: Mapping[str, str]) -> bytes:
        lines = list(self.lines)
        newline = self.line_ending
        ends_without_newline = bool(lines) and lines[-1][1] == ""
        target = self.sections.get(section)
        if target is not None and "aws_security_token" in target.options and "aws_session_token" in values:
            # botocore reads aws_security_token before aws_session_token, so the one
            # aws-mfa leaves beside it would shadow the new session: keep them equal.
            values = {**values, "aws_security_token": values["aws_session_token"]}
        if target is None:
            if lines and lines[-1][0].strip():
                lines.append(("", newline))  # a blank line before the new section
            lines.append((f"[{section}]", newline))
            lines.extend((f"{key} = {value}", newline) for key, value in values.items())
        else:
            lines = self._edit_section(lines, target, values, newline)
        # Every line but the last needs an ending; the last keeps the file's choice.
        lines = [(text, ending or newline) for text, ending in lines[:-1]] + lines[-1:]
        if lines:
            last_text, last_ending = lines[-1]
            lines[-1] = (last_text, "" if ends_without_newline else (last_ending or newline))
        data = self._encode(lines)
        self._verify(data, section, {**self.before.get(section, {}), **{key.lower(): v for key, v in values.items()}})
        return data

    def _edit_section(self, lines, target: _Section, values: Mapping[str, str], newline: str):
        replaced: Dict[int, str] = {}
        dropped = set()
        missing = []
        for key, value in values.items():
            option = target.options.get(key.lower())
            if option is None:
                missing.append((key, value))
                continue
            replaced[option.line] = _replace_value(lines[option.line][0], value)
            dropped.update(option.continuation)  # a multi-line value becomes one line
        if target.options:
            last = max(target.options.values(), key=lambda option: option.last_line)
            insert_after = last.last_line
            indent, separator = _style(lines[last.line][0])
        else:
            # Indented no less than the next header, or that header would read as a value's continuation.
            insert_after, indent, separator = target.header, _next_indent(lines, target.header), " = "
        edited = []
        for index, (text, ending) in enumerate(lines):
            if index not in dropped:
                edited.append((replaced.get(index, text), ending))
            if index == insert_after:  # even when that line was a dropped continuation line
                edited.extend((f"{indent}{key}{separator}{value}", newline) for key, value in missing)
        return edited

    def without_keys(self, section: str, keys: Iterable[str]) -> bytes:
        """The file without ``keys`` (and their continuation lines) in ``[section]``; every other line stays."""
        target = self.sections.get(section)
        keys = {key.lower() for key in keys}
        options = [option for key, option in target.options.items() if key in keys] if target else []
        dropped = {index for option in options for index in (option.line, *option.continuation)}
        lines = [line for index, line in enumerate(self.lines) if index not in dropped]
        if lines and self.lines and self.lines[-1][1] == "":
            lines[-1] = (lines[-1][0], "")  # the file still ends without a line break
        data = self._encode(lines)
        remaining = {key: value for key, value in self.before.get(section, {}).items() if key not in keys}
        self._verify(data, section, remaining)
        return data

    def _encode(self, lines: List[Tuple[str, str]]) -> bytes:
        data = "".join(text + ending for text, ending in lines).encode("utf-8")
        return BOM + data if self.bom else data

    def _verify(self, data: bytes, section: str, expected_section: Mapping[str, str]) -> None:
        """The new text must read as the old one with only ``[section]`` changed, to ``expected_section``."""
        expected = {name: dict(keys) for name, keys in self.before.items()}
        expected[section] = dict(expected_section)
        try:
            after = Document.parse(data, self.path).before
        except FileFormatError:
            after = None
        if after != expected or after is None or list(after) != list(expected):
            raise PersistError(
                f"refusing to write {self.path}: the edit of [{section}] would change other lines; "
                f"the file is unchanged (please report this as a bug)"
            )


def _split_lines(text: str) -> List[Tuple[str, str]]:
    lines = []
    for match in _LINE.finditer(text):
        body, ending = match.groups()
        if not body and not ending:  # the empty match at the very end
            continue
        lines.append((body, ending))
    return lines


def _parse_with_configparser(lines: List[Tuple[str, str]], path: Path) -> Dict[str, Dict[str, str]]:
    return parse_sections("".join(text + "\n" for text, _ending in lines), path)


def _index_sections(lines: List[Tuple[str, str]], path: Path) -> Dict[str, _Section]:
    """Where each section and key starts and ends, by configparser's rules (RawConfigParser._read).

    A comment or blank line changes nothing; a line indented deeper than the
    key line before it continues that key's value; only then is a line a
    section header or a key.
    """
    sections: Dict[str, _Section] = {}
    current: Optional[_Section] = None
    option: Optional[_Option] = None
    indent_level = 0
    for index, (text, _ending) in enumerate(lines):
        stripped = text.strip()
        if not stripped or stripped.startswith(_COMMENT_PREFIXES):
            continue
        match = _NON_SPACE.search(text)
        indent = match.start() if match else 0
        if current is not None and option is not None and indent > indent_level:
            option.continuation.append(index)
            continue
        indent_level = indent
        header = _SECTION_HEADER.match(stripped)
        if header:
            name = header.group("header")
            if name in sections:
                raise _malformed(path, f"section [{name}] appears twice (line {index + 1})")
            current = sections[name] = _Section(name, index)
            option = None
            continue
        key_line = _OPTION_LINE.match(stripped)
        if current is None or not key_line or not key_line.group("option"):
            raise _malformed(path, f"cannot parse line {index + 1}")
        key = key_line.group("option").rstrip().lower()
        if key in current.options:
            raise _malformed(path, f"key '{key}' appears twice in [{current.name}] (line {index + 1})")
        option = current.options[key] = _Option(key, index)
    return sections


def _malformed(path: Path, reason: str) -> FileFormatError:
    # configparser accepted the file when this is reached, so the two parsers disagree: never guess.
    return FileFormatError(f"{path} is malformed: {reason}; fix it by hand")


def _replace_value(text: str, value: str) -> str:
    """``  Key = old`` -> ``  Key = value``: the key's spelling, indent and separator stay."""
    stripped = text.strip()
    indent = text[: len(text) - len(text.lstrip())]
    match = _OPTION_LINE.match(stripped)
    head = stripped[: match.start("value")]
    if not match.group("value") and head[-1:] in ("=", ":") and head[:-1] != head[:-1].rstrip():
        head += " "  # `key =` with no value becomes `key = value`, not `key =value`
    return indent + head + value


def _style(text: str) -> Tuple[str, str]:
    """Indent and separator of a key line, copied by keys added after it."""
    stripped = text.strip()
    indent = text[: len(text) - len(text.lstrip())]
    match = _OPTION_LINE.match(stripped)
    if not match.group("value"):
        return indent, " = "
    return indent, stripped[match.end("option"): match.start("value")]


def _next_indent(lines: List[Tuple[str, str]], after: int) -> str:
    """Leading whitespace of the first line after ``after`` that is neither blank nor a comment."""
    for text, _ending in lines[after + 1:]:
        stripped = text.strip()
        if stripped and not stripped.startswith(_COMMENT_PREFIXES):
            return text[: len(text) - len(text.lstrip())]
    return ""


def _check_section_name(section: str, path: Path) -> None:
    header = _SECTION_HEADER.match(f"[{section}]".strip())
    if not section or "\r" in section or "\n" in section or not header or header.group("header") != section:
        raise PersistError(f"cannot --persist a profile named {section!r} into {path}: not a valid section name")
    if section == _DEFAULTS_SECTION:
        raise PersistError(
            f"refusing to --persist into [{section}] of {path}: configparser, which botocore reads the file with, "
            f"applies [{section}] to every section, so every profile would carry this session; "
            f"use a profile with another name"
        )


def _check_values(values: Mapping[str, str], path: Path) -> None:
    for key, value in values.items():
        # configparser strips values and ends them at a line break: such a value cannot be written faithfully.
        if not value or value != value.strip() or "\r" in value or "\n" in value:
            raise PersistError(f"cannot --persist {key} into {path}: the value is empty or spans lines")
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", key):
            raise PersistError(f"cannot --persist key {key!r} into {path}")


def _refuse_long_term_keys(document: Document, section: str, path: Path) -> None:
    """A section with permanent keys is never overwritten, even when mfaenv is not using them."""
    keys = document.before.get(section, {})
    # Not the AKIA/ASIA prefix: emulators (and old tools) hand out sessions with AKIA ids.
    if _real_value(keys.get("aws_access_key_id")) and not _real_value(keys.get("aws_session_token")):
        raise PersistError(
            f"refusing to --persist into [{section}] of {path}: it holds long-term keys "
            f"(aws_access_key_id without aws_session_token); move them to [{section}-default] or pick another profile"
        )


def _refuse_shadowing_config_keys(config_path: Path, section: str, path: Path) -> None:
    """Long-term keys of the profile in the config file would be shadowed: botocore reads the credentials file first."""
    sections = read_sections(config_path)
    names = [f"profile {section}"] + (["default"] if section == "default" else [])
    for name in names:
        keys = sections.get(name, {})
        if _real_value(keys.get("aws_access_key_id")) and not _real_value(keys.get("aws_session_token")):
            raise PersistError(
                f"refusing to --persist into [{section}] of {path}: [{name}] of {config_path} holds long-term keys, "
                f"which a session in the credentials file would hide (botocore reads that file first); "
                f"move them to [{section}-default] of {path} or pick another profile"
            )


def _real_value(value: Optional[str]) -> bool:
    return bool(value) and not is_placeholder(value)


# --- files, the lock, the atomic replace ----------------------------------------------------------------------

#: How often an edit is re-read and re-applied when another program changes the file meanwhile.
_EDIT_ATTEMPTS = 3
#: Room a session needs beyond the file's present size (a session is ~2 KiB; one filesystem block more).
_SESSION_ROOM_BYTES = 16384


class _ChangedMeanwhile(Exception):
    """The file changed between mfaenv's read and its rename."""


@dataclass(frozen=True)
class _Snapshot:
    """A file's bytes and the stat taken from the same open descriptor."""

    data: bytes
    info: os.stat_result

    @classmethod
    def read(cls, target: Path, path: Path) -> Optional["_Snapshot"]:
        try:
            # O_NONBLOCK: a FIFO swapped in since the checks must not block; fstat then refuses it.
            fd = os.open(target, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
        except FileNotFoundError:
            return None
        except IsADirectoryError:
            raise PersistError(f"cannot write {path}: it is a directory") from None
        except OSError as error:
            raise PersistError(f"cannot read {path}: {_reason(error)}; check its permissions") from None
        with open(fd, "rb") as file:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise _not_regular(path, info)
            return cls(file.read(), info)

    def unchanged(self, target: Path, path: Path) -> bool:
        """Same file, size, times and, since that is cheap for a credentials file, the same bytes."""
        try:
            now = _Snapshot.read(target, path)
        except PersistError:
            return False
        fields = ("st_dev", "st_ino", "st_size", "st_mtime_ns", "st_ctime_ns")
        return now is not None and all(getattr(now.info, f) == getattr(self.info, f) for f in fields) \
            and now.data == self.data


def _edit_file(path: Path, edit: Callable[["Document"], Optional[bytes]]) -> bool:
    """Apply ``edit`` (None: no change) to the file under the lock and replace it atomically; False when nothing changed.

    The lock only orders mfaenv's writers: another program (an editor, `aws
    configure set`) may change the file between the read and the rename. That
    is checked just before the rename; the edit is then made again on the new
    text, and after _EDIT_ATTEMPTS such changes mfaenv gives up without writing.
    """
    target = _resolve(path)
    _check_target(target, path)
    try:
        _make_folder(target.parent)
    except OSError as error:
        raise PersistError(f"cannot create {target.parent}: {_reason(error)}; the credentials file is unchanged") from None
    with _exclusive_lock(target, path):
        _remove_stale_temp_files(target)
        for _attempt in range(_EDIT_ATTEMPTS):
            before = _Snapshot.read(target, path)  # again, under the lock: another writer may have changed it
            old = before.data if before is not None else None
            new = edit(Document.parse(old or b"", path))
            if new is None or new == old:
                return False
            try:
                _replace_atomically(target, new, path, before)
            except _ChangedMeanwhile:
                continue
            return True
    raise PersistError(f"{path} kept changing while mfaenv wrote it (another program is editing it); "
                       f"it is unchanged; try again")


def _resolve(path: Path) -> Path:
    """The file a (possibly symlinked) credentials path names: the link stays, its target is rewritten."""
    return Path(os.path.realpath(path))


def _reason(error: OSError) -> str:
    return error.strerror or type(error).__name__


def _not_regular(path: Path, info: os.stat_result) -> PersistError:
    return PersistError(f"cannot write {path}: it is {file_kind(info.st_mode)}, not a regular file")


def _check_target(target: Path, path: Path) -> None:
    """A writable folder, and a regular file that a rename can replace, or none yet."""
    folder = target.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PersistError(f"cannot write {path}: folder {folder} is not writable; check its permissions")
    try:
        info = os.stat(target)
    except FileNotFoundError:
        return
    except OSError as error:
        raise PersistError(f"cannot write {path}: {_reason(error)}") from None
    if not stat.S_ISREG(info.st_mode):
        raise _not_regular(path, info)
    if not os.access(target, os.W_OK):
        raise PersistError(f"cannot write {path}: the file is read-only (its mode, an immutable flag or the filesystem)")
    if _is_mount_point(target):
        raise PersistError(
            f"cannot write {path}: it is a mount point of its own (a single-file bind mount, "
            f"as `docker run -v` makes), which cannot be replaced atomically; mount its folder instead"
        )


def _is_mount_point(target: Path) -> bool:
    """Whether ``target`` is itself mounted (Linux's mountinfo; elsewhere assume not).

    A file bind-mounted from the same filesystem has its folder's st_dev, so
    os.path.ismount cannot see it; renaming over it fails with EBUSY.
    """
    try:
        with open("/proc/self/mountinfo", "rb") as mountinfo:
            lines = mountinfo.read().splitlines()
    except OSError:
        return False
    wanted = os.fsencode(target)
    for line in lines:
        fields = line.split(b" ")
        if len(fields) > 4 and _unescape_mountinfo(fields[4]) == wanted:
            return True
    return False


def _unescape_mountinfo(field_: bytes) -> bytes:
    # The kernel writes space, tab, newline and backslash in mount points as \ooo.
    return re.sub(rb"\\([0-7]{3})", lambda match: bytes([int(match.group(1), 8)]), field_)


def _check_free_space(target: Path, path: Path, size: int) -> None:
    try:
        fs = os.statvfs(target.parent)
    except (OSError, AttributeError):  # no statvfs (Windows): the write itself will tell
        return
    free = (fs.f_bfree if os.geteuid() == 0 else fs.f_bavail) * fs.f_frsize
    if fs.f_blocks and free < size + _SESSION_ROOM_BYTES:
        raise PersistError(
            f"cannot write {path}: its filesystem has {free // 1024} KiB free, "
            f"too little for a copy of the file; free some space"
        )


def _make_folder(folder: Path) -> None:
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for created in reversed(missing):
        try:
            os.mkdir(created, NEW_FOLDER_MODE)
        except FileExistsError:
            continue  # another writer made it first
        os.chmod(created, NEW_FOLDER_MODE)  # whatever the umask


def _open_lock(target: Path, path: Path) -> int:
    """Open (or create) ``<file>.lock`` beside the real file; refuse one that is not ours to trust.

    Never through a symlink (O_NOFOLLOW), never a FIFO or device, never one
    owned by a user other than the caller, root or the credentials file's
    owner: such a lock file could be held forever, or point elsewhere.
    A new lock file gets the credentials file's permissions and group, so that
    every member of a group-shared folder can take it; an existing one the
    caller may only read is opened read-only, which flock accepts.
    """
    lock_path = target.with_name(target.name + LOCK_SUFFIX)
    base = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    unchanged = f"{path} is unchanged"
    created = True
    try:
        try:
            fd = os.open(lock_path, base | os.O_RDWR | os.O_CREAT | os.O_EXCL, NEW_FILE_MODE)
        except FileExistsError:
            created = False
            try:
                fd = os.open(lock_path, base | os.O_RDWR)
            except PermissionError:
                fd = os.open(lock_path, base | os.O_RDONLY)
    except OSError as error:
        if os.path.islink(lock_path):
            raise PersistError(f"the lock file {lock_path} is a symlink; remove it ({unchanged})") from None
        raise PersistError(f"cannot open the lock file {lock_path}: {_reason(error)}; {unchanged}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise PersistError(f"the lock file {lock_path} is {file_kind(info.st_mode)}; remove it ({unchanged})")
        owner = _stat_or_none(target)
        trusted = {0, _euid(), owner.st_uid if owner else _euid()}
        if hasattr(os, "geteuid") and info.st_uid not in trusted:
            raise PersistError(f"the lock file {lock_path} belongs to another user (uid {info.st_uid}); "
                               f"remove it or ask them to ({unchanged})")
        if created and owner is not None and hasattr(os, "fchmod"):
            _share_like(fd, owner, stat.S_IMODE(owner.st_mode) & 0o666)
        return fd
    except BaseException:
        os.close(fd)
        raise


def _euid() -> int:
    return os.geteuid() if hasattr(os, "geteuid") else 0


def _stat_or_none(target: Path) -> Optional[os.stat_result]:
    try:
        return os.stat(target)
    except OSError:
        return None


@contextmanager
def _exclusive_lock(target: Path, path: Path) -> Iterator[None]:
    """Hold ``<file>.lock`` beside the real file; the kernel drops it if this process dies."""
    fd = _open_lock(target, path)
    try:
        _lock(fd, target.with_name(target.name + LOCK_SUFFIX), path)
        yield
    finally:
        os.close(fd)  # releases the lock (flock and msvcrt alike)


def _lock_timeout(lock_path: Path, path: Path) -> PersistError:
    return PersistError(
        f"another process has held {lock_path} for {LOCK_TIMEOUT_SECONDS:g}s; {path} is unchanged; try again"
    )


def _lock_by_polling(fd: int, lock_path: Path, path: Path) -> None:
    """Try, sleep, try again: only where no blocking wait with a deadline exists. Starves under load."""
    deadline = time.monotonic() + LOCK_TIMEOUT_SECONDS
    delay = 0.002
    while not _try_lock(fd, lock_path, path):
        if time.monotonic() > deadline:
            raise _lock_timeout(lock_path, path)
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


if sys.platform == "win32":  # pragma: no cover - the tests run on POSIX
    import msvcrt

    def _try_lock(fd: int, lock_path: Path, path: Path) -> bool:
        os.lseek(fd, 0, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    _lock = _lock_by_polling

else:
    import fcntl

    def _try_lock(fd: int, lock_path: Path, path: Path) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return False
            raise _cannot_lock(lock_path, path, error) from None
        return True

    def _cannot_lock(lock_path: Path, path: Path, error: OSError) -> PersistError:
        return PersistError(
            f"cannot lock {lock_path}: {_reason(error)} (does this filesystem support locks?); {path} is unchanged"
        )

    class _LockDeadline(Exception):
        """SIGALRM came while waiting for the lock."""

    def _lock(fd: int, lock_path: Path, path: Path) -> None:
        """Wait for the lock in the kernel, up to LOCK_TIMEOUT_SECONDS.

        Polling with LOCK_NB starved writers under load: a waiter that backed
        off kept missing the short moments the lock was free. A blocking
        flock is woken by the kernel the moment the lock is released. Its
        deadline is a one-shot ITIMER_REAL whose SIGALRM handler raises,
        which interrupts the flock (PEP 475 retries a system call only when
        the handler returns). No thread is started, so no waiter can be left
        behind holding the lock after a timeout. The handler raises only while
        still waiting, so an alarm that races the grant cannot escape later;
        the previous SIGALRM handler and timer are restored. Signals are only
        available on the main thread: elsewhere this falls back to polling.
        """
        waiting = True

        def on_alarm(_signum, _frame):
            if waiting:
                raise _LockDeadline

        try:
            previous_handler = signal.signal(signal.SIGALRM, on_alarm)
        except ValueError:  # not the main thread
            _lock_by_polling(fd, lock_path, path)
            return
        started = time.monotonic()
        previous_timer = signal.setitimer(signal.ITIMER_REAL, LOCK_TIMEOUT_SECONDS)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            waiting = False
        except _LockDeadline:
            raise _lock_timeout(lock_path, path) from None
        except OSError as error:
            raise _cannot_lock(lock_path, path, error) from None
        finally:
            waiting = False
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous_handler)
            if previous_timer[0] > 0:  # someone else's alarm: let it still ring, a little late at worst
                left = previous_timer[0] - (time.monotonic() - started)
                signal.setitimer(signal.ITIMER_REAL, max(left, 0.001), previous_timer[1])


def _remove_stale_temp_files(target: Path) -> None:
    """Temporary files of writers that were killed; only the lock holder writes one, so any found now is stale.

    Only this file's own: ``.credentials.<random>.mfaenv-tmp``, where the
    random part has no dot, so ``.credentials.work.<random>.mfaenv-tmp`` (the
    temporary file of ``credentials.work``, whose writer holds another lock)
    never matches.
    """
    own = re.compile(re.escape(f".{target.name}.") + r"[a-z0-9_]+" + re.escape(TEMP_SUFFIX))
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return
    for entry in entries:
        if own.fullmatch(entry.name):
            try:
                os.unlink(entry.path)
            except OSError:
                pass


@contextmanager
def _signals_deferred() -> Iterator[None]:
    """SIGTERM and SIGHUP arriving while the block runs end the process right after it.

    Their default action kills at once, which would leave the temporary file (it
    holds the session) in the folder until the next write. The block only writes,
    syncs and renames, which takes moments, so such a signal is recorded, and sent
    again with its default action once the block's cleanup has run. A handler that
    only records has no moment in which it could escape that cleanup, as a raising
    one had at the block's edges. SIGINT needs nothing: KeyboardInterrupt runs the
    except/finally clauses. Signals a program ignores or handles itself are left alone.
    """
    pending: List[int] = []
    replaced = {}
    try:
        for signum in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
            if signum is not None and signal.getsignal(signum) == signal.SIG_DFL:
                replaced[signum] = signal.signal(signum, lambda number, _frame: pending.append(number))
    except ValueError:  # not the main thread: signals are not ours to handle
        pass
    try:
        yield
    finally:
        for signum, handler in replaced.items():
            signal.signal(signum, handler)
        if pending:
            os.kill(os.getpid(), pending[0])  # now with the default action: the process ends here
            raise SystemExit(128 + pending[0])  # only if the signal was blocked


def _replace_atomically(target: Path, data: bytes, path: Path, before: Optional[_Snapshot]) -> None:
    """Temporary file beside the target, fsync, rename over it, fsync the folder: old or new, never half.

    Raises _ChangedMeanwhile, leaving nothing behind, when the file is no longer what was read.
    """
    folder = target.parent
    temp = folder / f".{target.name}.{os.urandom(8).hex()}{TEMP_SUFFIX}"
    with _signals_deferred():
        fd = None
        try:
            try:
                fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), NEW_FILE_MODE)
            except OSError as error:
                raise PersistError(f"cannot create a temporary file in {folder}: {_reason(error)}; {path} is unchanged") from None
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            _copy_ownership_and_mode(fd, before.info if before else None, path)
            os.fsync(fd)
            # Forgotten before it is closed: a Ctrl-C (KeyboardInterrupt) right after the close
            # would otherwise have the cleanup below close it again and fail with EBADF.
            opened, fd = fd, None
            os.close(opened)
            if not (before.unchanged(target, path) if before else not os.path.lexists(target)):
                raise _ChangedMeanwhile
            os.replace(temp, target)
        except BaseException as error:  # OSError, PersistError, _ChangedMeanwhile, KeyboardInterrupt
            if fd is not None:
                os.close(fd)
            try:
                os.unlink(temp)
            except OSError:
                pass
            if isinstance(error, OSError):
                raise _cannot_write(path, error) from None
            raise
    _fsync_folder(folder)


def _cannot_write(path: Path, error: OSError) -> PersistError:
    if error.errno in (errno.EBUSY, errno.EXDEV):
        return PersistError(f"cannot replace {path}: {_reason(error)} (is it a single-file mount?); it is unchanged")
    return PersistError(f"cannot write {path}: {_reason(error)}; the file is unchanged")


def _copy_ownership_and_mode(fd: int, previous: Optional[os.stat_result], path: Path) -> None:
    """A new file is 0600. An existing one keeps its mode, and its owner and group where the caller may set them.

    Only root may give a file away, so for anyone else the file becomes
    theirs; a member of the file's group keeps the group (a team's shared
    file stays the team's). When the group cannot be kept, the group and
    other bits are dropped: they would grant the caller's own group instead.
    """
    if not hasattr(os, "fchmod"):  # Windows: no POSIX modes to keep
        return
    if previous is None:
        os.fchmod(fd, NEW_FILE_MODE)
        return
    _share_like(fd, previous, stat.S_IMODE(previous.st_mode), path)


def _share_like(fd: int, previous: os.stat_result, mode: int, path: Optional[Path] = None) -> None:
    try:
        os.fchown(fd, previous.st_uid, previous.st_gid)
    except OSError:
        try:
            os.fchown(fd, -1, previous.st_gid)
        except OSError:
            if mode & 0o077 and path is not None:
                _warn(f"cannot keep group {previous.st_gid} of {path} (you are not a member); "
                      f"it is now readable by you only (mode {mode & 0o700:04o})")
            mode &= 0o700
    os.fchmod(fd, mode)  # after chown, which may clear setuid/setgid bits


def _warn_if_readable_by_others(target: Path, path: Path) -> None:
    """The session token is a bearer token: say so when the file lets others read it."""
    info = _stat_or_none(target)
    if info is None or not hasattr(os, "fchmod") or not info.st_mode & 0o044:
        return
    who = "its group and everyone" if info.st_mode & 0o044 == 0o044 else \
        "its group" if info.st_mode & 0o040 else "everyone"
    _warn(f"{path} is readable by {who} (mode {stat.S_IMODE(info.st_mode):04o}), and now holds a session token "
          f"anyone who reads it can use; run: chmod 600 {path}")


def _warn(message: str) -> None:
    print(f"mfaenv: warning: {shown(message)}", file=sys.stderr)


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable; not every platform can open a folder."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
