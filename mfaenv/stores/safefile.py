"""Replacing a file safely: one writer at a time, atomically, and never a half-written file.

An exclusive lock on ``NAME.lock`` beside the real file (a symlink's target)
serialises mfaenv's writers, which re-read the file under the lock; the new
bytes go to a temporary file in the same folder that is fsynced and renamed
over the old one, then the folder is fsynced. Just before the rename the file
is checked to be the one that was read, since other programs take no lock; if
it changed, the edit is made again on the new bytes. The lock is a kernel lock
(flock; msvcrt.locking on Windows), so a writer killed at any moment releases
it; the lock file itself stays, empty, because deleting a lock file that
others may be waiting on breaks the exclusion. The standard library is used
rather than ``filelock``, whose releases since 3.24 quietly fall back, where
flock is missing, to a lock file whose mere existence is the lock, which a
killed writer leaves behind. Signals are deferred around the rename, the
owner, group and mode of the old file are kept, a mount point or a full disk
is refused before anything is written.

Every writer of a credentials or config file goes through ``edit_file``:
``--persist`` (persist.py), and the commands that write keys. Knows bytes and
files only: no INI, no shells, no STS.
"""

from __future__ import annotations

import errno
import os
import re
import signal
import stat
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, List, Optional

from mfaenv.errors import PersistError
from mfaenv.profiles import file_kind
from mfaenv.terminal.display import shown

BOM = b"\xef\xbb\xbf"
#: How long a writer waits for another one; a write holds the lock for milliseconds.
LOCK_TIMEOUT_SECONDS = 15.0
LOCK_SUFFIX = ".lock"
#: Temporary files are named ``.credentials.<random>.mfaenv-tmp``; one left by a
#: killed writer is removed by the next writer, under the lock.
TEMP_SUFFIX = ".mfaenv-tmp"
NEW_FILE_MODE = 0o600
NEW_FOLDER_MODE = 0o700

#: How often an edit is re-read and re-applied when another program changes the file meanwhile.
_EDIT_ATTEMPTS = 3
#: Room a session needs beyond the file's present size (a session is ~2 KiB; one filesystem block more).
_SESSION_ROOM_BYTES = 16384


class _ChangedMeanwhile(Exception):
    """The file changed between mfaenv's read and its rename."""


@dataclass(frozen=True)
class Snapshot:
    """A file's bytes and the stat taken from the same open descriptor."""

    data: bytes
    info: os.stat_result

    @classmethod
    def read(cls, target: Path, path: Path) -> Optional["Snapshot"]:
        try:
            # O_NONBLOCK: a FIFO swapped in since the checks must not block; fstat then refuses it.
            fd = os.open(target, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
        except FileNotFoundError:
            return None
        except IsADirectoryError:
            raise PersistError(f"cannot write {path}: it is a directory") from None
        except OSError as error:
            raise PersistError(f"cannot read {path}: {reason(error)}; check its permissions") from None
        with open(fd, "rb") as file:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise _not_regular(path, info)
            return cls(file.read(), info)

    def unchanged(self, target: Path, path: Path) -> bool:
        """Same file, size, times and, since that is cheap for a credentials file, the same bytes."""
        try:
            now = Snapshot.read(target, path)
        except PersistError:
            return False
        fields = ("st_dev", "st_ino", "st_size", "st_mtime_ns", "st_ctime_ns")
        return now is not None and all(getattr(now.info, f) == getattr(self.info, f) for f in fields) \
            and now.data == self.data


def edit_file(path: Path, edit: Callable[[bytes], Optional[bytes]]) -> bool:
    """Apply ``edit`` (old bytes -> new bytes; None: no change) to the file under the lock and replace it atomically; False when nothing changed.

    The lock only orders mfaenv's writers: another program (an editor, `aws
    configure set`) may change the file between the read and the rename. That
    is checked just before the rename; the edit is then made again on the new
    text, and after _EDIT_ATTEMPTS such changes mfaenv gives up without writing.
    """
    target = resolve(path)
    check_target(target, path)
    try:
        _make_folder(target.parent)
    except OSError as error:
        raise PersistError(f"cannot create {target.parent}: {reason(error)}; the credentials file is unchanged") from None
    with _exclusive_lock(target, path):
        _remove_stale_temp_files(target)
        for _attempt in range(_EDIT_ATTEMPTS):
            before = Snapshot.read(target, path)  # again, under the lock: another writer may have changed it
            old = before.data if before is not None else None
            new = edit(old or b"")
            if new is None or new == old:
                return False
            try:
                _replace_atomically(target, new, path, before)
            except _ChangedMeanwhile:
                continue
            return True
    raise PersistError(f"{path} kept changing while mfaenv wrote it (another program is editing it); "
                       f"it is unchanged; try again")


def resolve(path: Path) -> Path:
    """The file a (possibly symlinked) credentials path names: the link stays, its target is rewritten."""
    return Path(os.path.realpath(path))


def reason(error: OSError) -> str:
    return error.strerror or type(error).__name__


def _not_regular(path: Path, info: os.stat_result) -> PersistError:
    return PersistError(f"cannot write {path}: it is {file_kind(info.st_mode)}, not a regular file")


def check_target(target: Path, path: Path) -> None:
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
        raise PersistError(f"cannot write {path}: {reason(error)}") from None
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


def check_free_space(target: Path, path: Path, size: int) -> None:
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


def open_lock(target: Path, path: Path) -> int:
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
        raise PersistError(f"cannot open the lock file {lock_path}: {reason(error)}; {unchanged}") from None
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
    fd = open_lock(target, path)
    lock_path = target.with_name(target.name + LOCK_SUFFIX)
    try:
        try:
            taken = wait_for_lock(fd, LOCK_TIMEOUT_SECONDS)
        except OSError as error:
            raise PersistError(
                f"cannot lock {lock_path}: {reason(error)} (does this filesystem support locks?); {path} is unchanged"
            ) from None
        if not taken:
            raise PersistError(
                f"another process has held {lock_path} for {LOCK_TIMEOUT_SECONDS:g}s; {path} is unchanged; try again"
            )
        yield
    finally:
        os.close(fd)  # releases the lock (flock and msvcrt alike)


def wait_for_lock(fd: int, seconds: float) -> bool:
    """Take the exclusive kernel lock on ``fd``, waiting up to ``seconds``; False when the time ran out.

    OSError when the filesystem cannot lock. Also the session cache's lock
    (cache.py), for which a person may be typing a code meanwhile.
    """
    return _wait_in_kernel(fd, seconds)


def _wait_by_polling(fd: int, seconds: float) -> bool:
    """Try, sleep, try again: only where no blocking wait with a deadline exists. Starves under load."""
    deadline = time.monotonic() + seconds
    delay = 0.002
    while not try_lock(fd):
        if time.monotonic() > deadline:
            return False
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
    return True


if sys.platform == "win32":  # pragma: no cover - the tests run on POSIX
    import msvcrt

    def try_lock(fd: int) -> bool:
        """The lock at once, or False when another process holds it."""
        os.lseek(fd, 0, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    _wait_in_kernel = _wait_by_polling

else:
    import fcntl

    def try_lock(fd: int) -> bool:
        """The lock at once, or False when another process holds it; OSError when locks do not work here."""
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return False
            raise
        return True

    class _LockDeadline(Exception):
        """SIGALRM came while waiting for the lock."""

    def _wait_in_kernel(fd: int, seconds: float) -> bool:
        """Wait for the lock in the kernel, up to ``seconds``.

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
            return _wait_by_polling(fd, seconds)
        started = time.monotonic()
        previous_timer = signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            waiting = False
            return True
        except _LockDeadline:
            return False
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


def _replace_atomically(target: Path, data: bytes, path: Path, before: Optional[Snapshot]) -> None:
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
                raise PersistError(f"cannot create a temporary file in {folder}: {reason(error)}; {path} is unchanged") from None
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
        return PersistError(f"cannot replace {path}: {reason(error)} (is it a single-file mount?); it is unchanged")
    return PersistError(f"cannot write {path}: {reason(error)}; the file is unchanged")


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


def warn_if_readable_by_others(target: Path, path: Path, what: str = "a session token") -> None:
    """A session token (or a key) works for whoever holds it: say so when the file lets others read it."""
    info = _stat_or_none(target)
    if info is None or not hasattr(os, "fchmod") or not info.st_mode & 0o044:
        return
    who = "its group and everyone" if info.st_mode & 0o044 == 0o044 else \
        "its group" if info.st_mode & 0o040 else "everyone"
    _warn(f"{path} is readable by {who} (mode {stat.S_IMODE(info.st_mode):04o}), and now holds {what} "
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
