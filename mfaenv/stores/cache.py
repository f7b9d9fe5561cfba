"""The session cache: temporary sessions kept in RAM and shared by every terminal of the user.

One file per session in a private folder: ``MFAENV_CACHE_DIR``, ``$XDG_RUNTIME_DIR/mfaenv/``
(a per-user tmpfs on Linux, removed at logout) or ``/dev/shm/mfaenv-<uid>/``, as
sessionstore.locate chooses; ``MFAENV_CACHE=off`` turns it off.
A file is named by a digest of its key (what the session depends on, built by
sessions.py) and holds the session, the profile it was made for (for `list` and
`forget`) and the key itself, so that a digest collision or a foreign file is
never taken for the session asked for.

The folder and its files are only used when they are the user's own, not a
symlink and closed to group and others; anything else is a warning, once per
run, and mfaenv goes on as if there were no cache. No cache problem ever fails
a command. Every file operation is relative to the folder's descriptor, opened
without following symlinks, so the folder checked is the folder used.

This module is on the path of a cached `credential-process` (every AWS CLI start):
it imports no botocore and no typer, nor typing, and no json: json loads `re` and
enum, a third of Python's own start-up. An entry is lines of ``name=value``, each
value in Python's ``unicode_escape`` form (ASCII, no line breaks), read back with
``str.partition`` and that codec.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
from collections import namedtuple

# CPython's own SHA-256: hashlib would load OpenSSL's libcrypto (~3-5 ms) at every
# cache hit, and a cached credential-process runs at every AWS CLI or SDK start.
try:
    from _sha2 import sha256  # Python >= 3.12
except ImportError:
    try:
        from _sha256 import sha256  # Python <= 3.11
    except ImportError:  # an interpreter built without them
        from hashlib import sha256

from mfaenv.terminal.display import shown
from mfaenv.shells.variables import Session
from mfaenv.shells.expiry import format_expiry, parse_expiry

TYPE_CHECKING = False  # no typing at run time (see above)
if TYPE_CHECKING:
    from typing import Dict, Iterable, List, Mapping, Optional

#: The first line of an entry file, naming its format; any other file is ignored.
HEADER = "mfaenv session cache entry 2"
SUFFIX = ".session"
#: Entries of earlier versions (JSON): never read, removed by `mfaenv forget`.
OLD_SUFFIXES = (".json",)
#: The session's fields in an entry, after "profile" and the key's "key.NAME" lines.
SESSION_FIELDS = ("access_key_id", "secret_access_key", "session_token", "expiration")
#: Permission bits of group and others: none may be set on the folder or a file.
SHARED_BITS = 0o077
#: An entry is a few hundred bytes; a bigger file is not one (and is not read whole).
MAX_ENTRY_BYTES = 1 << 16

_warned = False


class CacheEntry(namedtuple("CacheEntry", ["key", "profile", "session"])):
    """One cached session (a Session) and what it was cached for: its key (a dict) and profile."""

    __slots__ = ()


def key_digest(key: Mapping[str, Optional[str]]) -> str:
    """SHA-256 of the key's lines, sorted: the entry's file name, and a role key's "parent"."""
    return sha256("\n".join(_key_lines(key)).encode("ascii")).hexdigest()


def _key_lines(key: Mapping[str, Optional[str]]) -> List[str]:
    """``key.NAME=VALUE`` per field of the key, ``key.NAME`` alone for a None, sorted.

    A NAME is one of sessions.py's field names: ASCII letters and ``_`` (no ``=``,
    no line break), so that the lines, and their digest, tell every key apart.
    """
    return sorted(f"key.{name}" if value is None else f"key.{name}={_escaped(value)}" for name, value in key.items())


def _escaped(value: str) -> str:
    """ASCII without line breaks, that ``_unescaped`` turns back into exactly ``value``."""
    return value.encode("unicode_escape").decode("ascii")


def _unescaped(text: str) -> str:
    """The value ``_escaped`` made ``text`` of; ValueError for text it could not have made.

    Escapes it never writes (``\\q``, octal, ``\\N{...}``) are refused before decoding:
    the codec would take some of them with only a DeprecationWarning.
    """
    if any(not escape or escape[0] not in "xuUtnr" for escape in text.replace("\\\\", "").split("\\")[1:]):
        raise ValueError("not an escaped value")
    value = text.encode("ascii").decode("unicode_escape")
    if _escaped(value) != text:
        raise ValueError("not an escaped value")
    return value


def warn(message: str) -> None:
    """One warning line on stderr, the first time in this run only."""
    global _warned
    if not _warned:
        _warned = True
        print(f"mfaenv: warning: {shown(message)}", file=sys.stderr)


def cache_folder(environ: Mapping[str, str]) -> Optional[str]:
    """The folder the cache lives in, or None when the cache is not a folder (see sessionstore.locate)."""
    from mfaenv.stores.sessionstore import FOLDER, locate

    location = locate(environ)
    return location.path if location.kind == FOLDER else None


def _quoted(path: str) -> str:
    """The path as a POSIX shell word, for a fix the user can paste (shlex would load re)."""
    if path and all(char.isalnum() or char in "/._-+=:@%," for char in path):
        return path
    return "'" + path.replace("'", "'\\''") + "'"


def _removal(path: str) -> str:
    """The command that removes a folder the user does not own (root's, another user's)."""
    return f"{'' if os.geteuid() == 0 else 'sudo '}rm -r {_quoted(path)}"


def _unsafe(info: os.stat_result) -> Optional[str]:
    """Why a folder or file with this status must not be used, or None."""
    if info.st_uid != os.geteuid():
        return f"owned by uid {info.st_uid}, not by you"
    if info.st_mode & SHARED_BITS:
        return f"open to group or others (mode {stat.S_IMODE(info.st_mode):04o})"
    return None


class SessionCache:
    """The cache folder, opened and checked; build it with SessionCache.open."""

    def __init__(self, path: str, folder_fd: int):
        self.path = path
        self._fd = folder_fd

    @classmethod
    def open(cls, environ: Mapping[str, str] = os.environ) -> Optional["SessionCache"]:
        """The user's session cache folder, created if missing; None when off, not a folder, or unsafe (warned)."""
        path = cache_folder(environ)
        return None if path is None else cls.open_folder(path)

    @classmethod
    def open_folder(cls, path: str) -> Optional["SessionCache"]:
        """This cache folder, created (0700) if missing; None, with one warning naming the fix, when unsafe.

        Trusted as tmux trusts /tmp/tmux-<uid>: a real folder (a symlink is not
        followed), owned by the user, closed to group and others. Never chmod'ed.
        """
        try:
            try:
                os.mkdir(path, 0o700)
            except FileExistsError:
                pass
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as error:
            if os.path.islink(path):
                warn(f"session cache {path} is a symlink; not using it (remove the link: rm {_quoted(path)})")
            else:
                warn(f"session cache {path} cannot be used ({error.strerror or type(error).__name__}); going on without it")
            return None
        info = os.fstat(fd)
        problem = _unsafe(info)
        if problem is not None:
            os.close(fd)
            fix = _removal(path) if info.st_uid != os.geteuid() else f"chmod 700 {_quoted(path)}"
            warn(f"session cache {path} is {problem}; not using it (it must be yours, mode 0700: {fix})")
            return None
        return cls(path, fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> "SessionCache":
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    def __del__(self):
        try:
            self.close()
        except OSError:
            pass

    def get(self, key: Mapping[str, Optional[str]], min_seconds_left: int) -> Optional[Session]:
        """The session cached for exactly this key with more than min_seconds_left left, else None."""
        name = key_digest(key) + SUFFIX
        entry = self._read(name)
        if entry is None or entry.key != dict(key):
            return None
        left = entry.session.seconds_left()
        if left <= 0:
            self._remove(name)
        return entry.session if left > min_seconds_left else None

    def put(self, key: Mapping[str, Optional[str]], session: Session, profile: str) -> None:
        """Store the session for the key: atomically, mode 0600; a failure only warns."""
        name = key_digest(key) + SUFFIX
        values = (session.access_key_id, session.secret_access_key, session.session_token, format_expiry(session.expires))
        lines = [
            HEADER, f"profile={_escaped(profile)}", *_key_lines(key),
            *(f"{field}={_escaped(value)}" for field, value in zip(SESSION_FIELDS, values)),
        ]
        data = "".join(line + "\n" for line in lines).encode("ascii")
        # A temp name no other writer uses; the rename replaces the entry in one step,
        # so a reader sees the old file or the new one, never half of either.
        temp = f".{name}.{os.getpid()}.{os.urandom(6).hex()}.tmp"
        try:
            fd = os.open(
                temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=self._fd
            )
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temp, name, src_dir_fd=self._fd, dst_dir_fd=self._fd)
        except OSError as error:
            self._remove(temp)
            warn(f"could not write to the session cache {self.path} ({error.strerror or error}); the session is not cached")

    def forget(self, keys: Iterable[Mapping[str, Optional[str]]]) -> int:
        """Remove the entries of these keys; the number removed."""
        return sum(self._remove(key_digest(key) + SUFFIX) for key in keys)

    def clear(self) -> int:
        """Remove every entry (and temp files left by a killed writer); the number of entries removed."""
        removed = 0
        for name in self._names(include_leftovers=True):
            if self._remove(name) and name.endswith((SUFFIX, *OLD_SUFFIXES)):
                removed += 1
        return removed

    def entries(self) -> List[CacheEntry]:
        """Every readable, unexpired entry; expired ones are removed on the way."""
        found = []
        for name in self._names():
            entry = self._read(name)
            if entry is None:
                continue
            if entry.session.seconds_left() <= 0:
                self._remove(name)
            else:
                found.append(entry)
        return found

    def _names(self, include_leftovers: bool = False) -> List[str]:
        try:
            names = os.listdir(self._fd)
        except OSError:
            return []
        return [
            name for name in names
            if (name.endswith(SUFFIX) and not name.startswith("."))
            or (include_leftovers and (name.endswith(".tmp") or name.endswith(OLD_SUFFIXES)))
        ]

    def _read(self, name: str) -> Optional[CacheEntry]:
        """The entry in this file, or None if absent, unsafe (warned) or not a valid entry."""
        try:
            # O_NONBLOCK: a FIFO planted under an entry's name must not hang the command.
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=self._fd)
        except FileNotFoundError:
            return None
        except OSError as error:
            why = "it is a symlink" if error.errno == errno.ELOOP else error.strerror
            warn(f"session cache entry {os.path.join(self.path, name)} not read ({why})")
            return None
        try:
            info = os.fstat(fd)
            problem = "not a regular file" if not stat.S_ISREG(info.st_mode) else _unsafe(info)
            if problem is not None:
                warn(f"session cache entry {os.path.join(self.path, name)} not read: it is {problem}")
                return None
            raw = os.read(fd, MAX_ENTRY_BYTES + 1)
        except OSError:
            return None
        finally:
            os.close(fd)
        return _entry(raw)

    def _remove(self, name: str) -> bool:
        try:
            os.unlink(name, dir_fd=self._fd)
            return True
        except OSError:
            return False


def _entry(raw: bytes) -> Optional[CacheEntry]:
    """An entry from a file's bytes; None for anything that is not a well-formed entry."""
    if len(raw) > MAX_ENTRY_BYTES:
        return None
    try:
        lines = raw.decode("ascii").split("\n")
        if lines[0] != HEADER or lines[-1] != "":
            return None
        key: Dict[str, Optional[str]] = {}
        fields: Dict[str, str] = {}
        for line in lines[1:-1]:
            name, equals, value = line.partition("=")
            if name.startswith("key."):
                if name[4:] in key:
                    return None
                key[name[4:]] = _unescaped(value) if equals else None
            elif name in fields or not equals:
                return None
            else:
                fields[name] = _unescaped(value)
        profile = fields.pop("profile")
        values = [fields.pop(field) for field in SESSION_FIELDS]
        if fields or not key or not all(values):
            return None
        access_key_id, secret, token, expiration = values
        session = Session(access_key_id, secret, token, parse_expiry(expiration))
    except (ValueError, KeyError, OverflowError):
        return None
    return CacheEntry(key, profile, session)
