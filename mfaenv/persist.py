"""Writing a session into one section of the credentials file, never damaging the rest.

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
fsynced. The lock is a kernel lock (flock; msvcrt.locking on Windows), so a
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
import stat
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Mapping, Optional, Tuple

from mfaenv.errors import FileFormatError, PersistError
from mfaenv.profiles import is_placeholder, parse_sections, read_sections

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
    """Everything --persist can check before the STS call; raises PersistError or FileFormatError.

    A missing file (or folder) is fine: write_session creates it. A section
    holding long-term keys is refused, in the credentials file and, when
    ``config_path`` is given, in the config file, whose keys a session in the
    credentials file would shadow: that covers the keys signing this call.
    """
    _check_section_name(section, path)
    target = _resolve(path)
    _check_folder_writable(target, path)
    data = _read(target, path)
    if data is not None:
        _refuse_long_term_keys(Document.parse(data, path), section, path)
    if config_path is not None:
        _refuse_shadowing_config_keys(config_path, section, path)


def write_session(path: Path, section: str, values: Mapping[str, str]) -> None:
    """Set ``values`` in ``[section]`` of the credentials file at ``path``, atomically and under a lock."""
    _check_section_name(section, path)
    _check_values(values, path)
    target = _resolve(path)
    _check_folder_writable(target, path)
    try:
        _make_folder(target.parent)
    except OSError as error:
        raise PersistError(f"cannot create {target.parent}: {_reason(error)}; the credentials file is unchanged") from None
    with _exclusive_lock(target, path):
        _remove_stale_temp_files(target)
        old = _read(target, path)  # again, under the lock: another writer may have changed it
        document = Document.parse(old or b"", path)
        _refuse_long_term_keys(document, section, path)
        new = document.with_values(section, values)
        if new != old:
            _replace_atomically(target, new, path, previous=_stat(target) if old is not None else None)


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
        data = "".join(text + ending for text, ending in lines).encode("utf-8")
        data = BOM + data if self.bom else data
        self._verify(data, section, values)
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

    def _verify(self, data: bytes, section: str, values: Mapping[str, str]) -> None:
        """The new text must read as the old one with only the target's keys set."""
        expected = {name: dict(keys) for name, keys in self.before.items()}
        expected.setdefault(section, {}).update({key.lower(): value for key, value in values.items()})
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


def _resolve(path: Path) -> Path:
    """The file a (possibly symlinked) credentials path names: the link stays, its target is rewritten."""
    return Path(os.path.realpath(path))


def _reason(error: OSError) -> str:
    return error.strerror or type(error).__name__


def _read(target: Path, path: Path) -> Optional[bytes]:
    try:
        return target.read_bytes()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise PersistError(f"cannot --persist into {path}: it is a directory") from None
    except OSError as error:
        raise PersistError(f"cannot read {path}: {_reason(error)}; check its permissions") from None


def _stat(target: Path) -> Optional[os.stat_result]:
    try:
        return os.stat(target)
    except OSError:
        return None


def _check_folder_writable(target: Path, path: Path) -> None:
    folder = target.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PersistError(f"cannot --persist into {path}: folder {folder} is not writable; check its permissions")
    if target.exists() and not os.access(target, os.W_OK):
        raise PersistError(f"cannot --persist into {path}: the file is read-only (its mode, an immutable flag or the filesystem)")


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


@contextmanager
def _exclusive_lock(target: Path, path: Path) -> Iterator[None]:
    """Hold ``<file>.lock`` beside the real file; the kernel drops it if this process dies."""
    lock_path = target.with_name(target.name + LOCK_SUFFIX)
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(lock_path, flags, NEW_FILE_MODE)
    except OSError as error:
        raise PersistError(f"cannot open the lock file {lock_path}: {_reason(error)}; {path} is unchanged") from None
    try:
        deadline = time.monotonic() + LOCK_TIMEOUT_SECONDS
        delay = 0.002
        while not _try_lock(fd, lock_path, path):
            if time.monotonic() > deadline:
                raise PersistError(
                    f"another process has held {lock_path} for {LOCK_TIMEOUT_SECONDS:g}s; "
                    f"{path} is unchanged; try again"
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
        yield
    finally:
        _unlock(fd)
        os.close(fd)


if sys.platform == "win32":  # pragma: no cover - the tests run on POSIX
    import msvcrt

    def _try_lock(fd: int, lock_path: Path, path: Path) -> bool:
        os.lseek(fd, 0, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        except OSError:
            pass

else:
    import fcntl

    def _try_lock(fd: int, lock_path: Path, path: Path) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return False
            raise PersistError(
                f"cannot lock {lock_path}: {_reason(error)} (does this filesystem support locks?); {path} is unchanged"
            ) from None
        return True

    def _unlock(fd: int) -> None:
        pass  # closing the descriptor releases the flock


def _remove_stale_temp_files(target: Path) -> None:
    """Temporary files of writers that were killed; only the lock holder writes one, so any found now is stale."""
    for leftover in target.parent.glob(f".{_glob_escape(target.name)}.*{TEMP_SUFFIX}"):
        try:
            leftover.unlink()
        except OSError:
            pass


def _glob_escape(name: str) -> str:
    return re.sub(r"([*?[])", r"[\1]", name)


def _replace_atomically(target: Path, data: bytes, path: Path, previous: Optional[os.stat_result]) -> None:
    """Temporary file beside the target, fsync, rename over it, fsync the folder: old or new, never half."""
    folder = target.parent
    try:
        fd, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=TEMP_SUFFIX, dir=folder)
    except OSError as error:
        raise PersistError(f"cannot create a temporary file in {folder}: {_reason(error)}; {path} is unchanged") from None
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            _copy_ownership_and_mode(fd, previous)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp_name, target)
    except OSError as error:
        try:
            os.unlink(temp_name)
        except OSError:
            pass
        raise PersistError(f"cannot write {path}: {_reason(error)}; the file is unchanged") from None
    _fsync_folder(folder)


def _copy_ownership_and_mode(fd: int, previous: Optional[os.stat_result]) -> None:
    if not hasattr(os, "fchmod"):  # Windows: no POSIX modes to keep
        return
    if previous is None:
        os.fchmod(fd, NEW_FILE_MODE)
        return
    if hasattr(os, "fchown"):
        try:
            os.fchown(fd, previous.st_uid, previous.st_gid)
        except OSError:
            pass  # only root may give a file away; the file then belongs to whoever runs mfaenv
    os.fchmod(fd, stat.S_IMODE(previous.st_mode))  # after chown, which may clear setgid bits


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
