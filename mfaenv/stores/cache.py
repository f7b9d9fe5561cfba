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
without following symlinks, so the folder checked is the folder used. `forget`
also cleans a folder of the user's that is too open to be used, and touches
only the names mfaenv writes (``_own_name``), wherever the folder is.

Processes that need the same session at the same moment fetch it once: the
first takes the key's lock (``locked``: a kernel lock on ``DIGEST.lock``) for
the fetch, the others wait for it and then find the session stored.

What is stored reads back exactly as it was, or it is not stored: a session
whose values are not plain visible ASCII (all STS sends; anything else could not
be sent back to AWS in a signed header) is not cached, and an entry is re-read
before it is written, so no later run can fail on what an earlier one cached.

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
    from typing import Dict, Iterable, List, Mapping, Optional, Tuple

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
#: ``DIGEST.lock``: held by the process fetching that session, removed by it when done.
LOCK_SUFFIX = ".lock"
#: How long a process waits for another one fetching the same session: long enough for
#: a person to type a code (or touch a key) at the other one's prompt.
LOCK_WAIT_SECONDS = 120
#: Temporary files are ``.DIGEST.session.PID.RANDOM.tmp``: RANDOM has this many hex digits.
TEMP_SUFFIX = ".tmp"
_TEMP_RANDOM_BYTES = 6
_HEX = frozenset("0123456789abcdef")

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


def _is_hex(text: str, length: int) -> bool:
    return len(text) == length and _HEX.issuperset(text)


def _own_name(name: str) -> bool:
    """A name mfaenv writes in the cache folder: ``DIGEST.session``, ``DIGEST.lock``, a temporary file of either
    version's entries (``.DIGEST.session.PID.RANDOM.tmp``), or an entry of an earlier version (``DIGEST.json``).

    `forget` removes these and nothing else: the folder may be one the user chose and shares with other files.
    """
    if name.startswith("."):
        parts = name[1:].split(".")
        return (
            len(parts) == 5 and "." + parts[-1] == TEMP_SUFFIX and _is_hex(parts[0], 64)
            and "." + parts[1] in (SUFFIX, *OLD_SUFFIXES)
            and parts[2].isascii() and parts[2].isdigit() and _is_hex(parts[3], 2 * _TEMP_RANDOM_BYTES)
        )
    digest, _dot, suffix = name.partition(".")
    return _is_hex(digest, 64) and "." + suffix in (SUFFIX, LOCK_SUFFIX, *OLD_SUFFIXES)


def _plain(value: str) -> bool:
    """Visible ASCII, no space: what STS sends, and what can go back to AWS in a signed request's header."""
    return value.isascii() and value.isprintable() and " " not in value


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
    value.encode("utf-8")  # UnicodeEncodeError (a ValueError) for a lone surrogate: not text
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

    def __init__(self, path: str, folder_fd: int, refused: Optional[str] = None):
        self.path = path
        self._fd = folder_fd
        #: Why mfaenv does not use this folder, when it was opened only to be cleaned (``open(to_clean=True)``).
        self.refused = refused

    @classmethod
    def open(cls, environ: Mapping[str, str] = os.environ) -> Optional["SessionCache"]:
        """The user's session cache folder, created if missing; None when off, not a folder, or unsafe (warned)."""
        path = cache_folder(environ)
        return None if path is None else cls.open_folder(path)

    @classmethod
    def open_folder(cls, path: str, to_clean: bool = False) -> Optional["SessionCache"]:
        """This cache folder, created (0700) if missing; None, with one warning naming the fix, when unsafe.

        Trusted as tmux trusts /tmp/tmux-<uid>: a real folder (a symlink is not
        followed), owned by the user, closed to group and others. Never chmod'ed.

        ``to_clean`` (`forget`): a folder of the user's that is open
        to group or others is opened anyway, quietly, with the reason in ``refused``,
        so that mfaenv's own files can be removed from it; nothing else may use it
        then. Its files are read whatever their modes, only to choose what to remove.
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
            if to_clean and info.st_uid == os.geteuid():
                return cls(path, fd, refused=problem)
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
        """Store the session for the key: atomically, mode 0600; a failure only warns.

        Stored only if the entry reads back as exactly this key, profile and session
        (see the module's docstring); otherwise an older entry of the key goes too,
        so that the next run fetches anew rather than reuse what this one replaced.
        """
        name = key_digest(key) + SUFFIX
        data = entry_bytes(key, session, profile)
        if data is None:
            self._remove(name)
            not_kept(profile)
            return
        # A temp name no other writer uses; the rename replaces the entry in one step,
        # so a reader sees the old file or the new one, never half of either.
        temp = f".{name}.{os.getpid()}.{os.urandom(_TEMP_RANDOM_BYTES).hex()}{TEMP_SUFFIX}"
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

    def locked(self, key: Mapping[str, Optional[str]], profile: str, wait: bool = True) -> "FetchLock":
        """Hold the key's lock while its session is fetched: ``with cache.locked(key, profile): ...``.

        Another process holding it is waited for, up to LOCK_WAIT_SECONDS (a line on
        stderr says so); after that, or when the lock cannot be had at all, the block
        runs without it (a warning): the cache never fails a command. Without ``wait``,
        a lock another process holds is not waited for: the block runs without it. Taken from the
        target down to the MFA session (a role's key before its parent's), never the
        other way round, so two processes cannot each hold what the other waits for.
        """
        return FetchLock(self, key_digest(key) + LOCK_SUFFIX, profile, wait)

    def forget(self, keys: Iterable[Mapping[str, Optional[str]]]) -> int:
        """Remove the entries of these keys (and their lock files, when free); the number removed."""
        removed = 0
        for key in keys:
            digest = key_digest(key)
            removed += self._remove(digest + SUFFIX)
            self._remove_lock(digest + LOCK_SUFFIX)
        return removed

    def clear(self) -> int:
        """Remove every entry, and what killed processes left (temp files, free locks); the number of entries removed.

        Only names mfaenv writes (``_own_name``): another program's files in the folder stay.
        """
        removed = 0
        for name in self._names(own=True):
            if name.endswith(LOCK_SUFFIX):
                self._remove_lock(name)
            elif self._remove(name) and name.endswith((SUFFIX, *OLD_SUFFIXES)):
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

    def _names(self, own: bool = False) -> List[str]:
        """The entries' file names; ``own``: every name mfaenv writes."""
        try:
            names = os.listdir(self._fd)
        except OSError:
            return []
        return [name for name in names if _own_name(name) and (own or name.endswith(SUFFIX) and name[0] != ".")]

    def _read(self, name: str) -> Optional[CacheEntry]:
        """The entry in this file, or None if absent, unsafe (warned) or not a valid entry."""
        try:
            # O_NONBLOCK: a FIFO planted under an entry's name must not hang the command.
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=self._fd)
        except FileNotFoundError:
            return None
        except OSError as error:
            why = "it is a symlink" if error.errno == errno.ELOOP else error.strerror
            if self.refused is None:
                warn(f"session cache entry {os.path.join(self.path, name)} not read ({why})")
            return None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                problem: Optional[str] = "not a regular file"
            else:  # a folder opened only to be cleaned: read, whatever the modes, only to choose what to remove
                problem = _unsafe(info) if self.refused is None else None
            if problem is not None:
                if self.refused is None:
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

    def _remove_lock(self, name: str) -> None:
        """Remove a lock file no process holds (one a killed process left); a held one stays."""
        from mfaenv.stores import safefile

        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=self._fd)
        except OSError:
            return
        try:
            if safefile.try_lock(fd):  # a waiter that gets it later sees the name gone, and starts over
                self._remove(name)
        except OSError:
            pass
        finally:
            os.close(fd)

    def _open_lock(self, name: str) -> "Optional[Tuple[int, os.stat_result]]":
        """The lock file, created if missing: (descriptor, status); None, warned, if it cannot serve."""
        try:
            fd = os.open(name, os.O_RDONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o600,
                         dir_fd=self._fd)
        except OSError as error:
            why = "it is a symlink" if error.errno == errno.ELOOP else error.strerror
            warn(f"cannot open the lock {os.path.join(self.path, name)} ({why}); "
                 f"other processes may fetch the same session meanwhile")
            return None
        info = os.fstat(fd)
        problem = "not a regular file" if not stat.S_ISREG(info.st_mode) else _unsafe(info)
        if problem is not None:
            os.close(fd)
            warn(f"the lock {os.path.join(self.path, name)} is {problem}; not using it "
                 f"(other processes may fetch the same session meanwhile)")
            return None
        return fd, info

    def _take_lock(self, name: str, profile: str, wait: bool) -> Optional[int]:
        """The descriptor holding the lock, or None to go on without it (warned)."""
        from mfaenv.stores import safefile  # only before a fetch: a cache hit takes no lock

        said = False
        while True:
            opened = self._open_lock(name)
            if opened is None:
                return None
            fd, info = opened
            try:
                taken = safefile.try_lock(fd)
                if not taken and not wait:
                    os.close(fd)
                    return None
                if not taken:
                    if not said:
                        said = True
                        print(f"mfaenv: another mfaenv is fetching a session '{shown(profile)}' needs; "
                              f"waiting for it (at most {LOCK_WAIT_SECONDS // 60} minutes)", file=sys.stderr)
                    taken = safefile.wait_for_lock(fd, LOCK_WAIT_SECONDS)
            except OSError as error:
                os.close(fd)
                warn(f"cannot lock {os.path.join(self.path, name)} ({error.strerror or error}); "
                     f"other processes may fetch the same session meanwhile")
                return None
            except BaseException:  # Ctrl-C while waiting
                os.close(fd)
                raise
            if not taken:
                os.close(fd)
                warn(f"another mfaenv has been fetching a session '{profile}' needs for {LOCK_WAIT_SECONDS // 60} "
                     f"minutes; not waiting longer")
                return None
            # The holder before us removed the file when done (and `forget` may): a lock on a
            # removed file excludes no one, so start over on the file now under that name.
            try:
                now = os.stat(name, dir_fd=self._fd, follow_symlinks=False)
            except OSError:
                now = None
            if now is not None and (now.st_dev, now.st_ino) == (info.st_dev, info.st_ino):
                return fd
            os.close(fd)


class FetchLock:
    """``SessionCache.locked``: the key's lock, held inside the ``with`` block."""

    def __init__(self, cache: SessionCache, name: str, profile: str, wait: bool):
        self.cache, self.name, self.profile, self.wait = cache, name, profile, wait
        self._fd: Optional[int] = None

    def __enter__(self) -> "FetchLock":
        self._fd = self.cache._take_lock(self.name, self.profile, self.wait)
        return self

    def __exit__(self, *_exc) -> None:
        if self._fd is not None:
            # Removed while still held, so that no lock file outlives the fetch; a waiter
            # that gets this (now nameless) file's lock sees that, and starts over.
            self.cache._remove(self.name)
            os.close(self._fd)
            self._fd = None


def entry_bytes(key: Mapping[str, Optional[str]], session: Session, profile: str) -> Optional[bytes]:
    """The entry of this session (a file's bytes, a credential store item's text), or None when it
    would not read back as exactly this key, profile and session: then it must not be stored."""
    values = (session.access_key_id, session.secret_access_key, session.session_token, format_expiry(session.expires))
    lines = [
        HEADER, f"profile={_escaped(profile)}", *_key_lines(key),
        *(f"{field}={_escaped(value)}" for field, value in zip(SESSION_FIELDS, values)),
    ]
    data = "".join(line + "\n" for line in lines).encode("ascii")
    return data if _entry(data) == (dict(key), profile, session) else None


def not_kept(profile: str) -> None:
    """The warning for a session entry_bytes refused."""
    warn(f"the session of '{profile}' is not cached: it holds text the session cache cannot keep unchanged "
         f"(a space, a control character or non-ASCII text in a credential, or an unreadable profile name)")


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
        if not all(_plain(value) for value in values):
            return None  # what put never stores: a hand-made or damaged entry
        access_key_id, secret, token, expiration = values
        session = Session(access_key_id, secret, token, parse_expiry(expiration))
    except (ValueError, KeyError, OverflowError):
        return None
    return CacheEntry(key, profile, session)
