"""Where the session cache lives, and the store that serves it: a private folder or the OS credential store.

First that applies (SPEC "The session cache"):

1. ``MFAENV_CACHE=off``: no cache; ``MFAENV_CACHE=keyring``: the OS credential store.
2. ``MFAENV_CACHE_DIR``, when it is an absolute path (a relative one is ignored, with a warning).
3. ``$XDG_RUNTIME_DIR/mfaenv``, when XDG_RUNTIME_DIR is absolute (the XDG spec: a relative
   one is ignored) and the folder is owned by this user: root, run with a user's
   environment (``sudo -E``), never makes a folder in that user's runtime folder.
4. On Linux, ``/dev/shm/mfaenv-<uid>`` (tmpfs: RAM), trusted as tmux trusts
   ``/tmp/tmux-<uid>``: a real folder, not a symlink, owned by the user, mode 0700.
5. On macOS and Windows, the OS credential store (Keychain, Credential Manager).

The folder is checked, and refused with a warning, by cache.SessionCache.open; the
credential store is served by keyringcache.KeyringCache. Both offer the same calls
(get, put, forget, clear, entries, close, ``path`` to name it). ``open_store`` gives
the store, or None, and leaves in ``uncached`` why there is none, in a few words with
the fix, for the success line's "not cached".

``MFAENV_TEST_SHM_NAME`` is for mfaenv's own tests only: the name of the folder in
/dev/shm instead of ``mfaenv-<uid>`` (eight test runs of one user share /dev/shm and
must not share, or plant hostile folders in, the user's real cache), or, empty, no
/dev/shm folder at all (the tests that expect no cache). A plain name only.
"""

from __future__ import annotations

import os
import sys
from collections import namedtuple

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Mapping, Optional

SHM = "/dev/shm"
TEST_SHM_NAME = "MFAENV_TEST_SHM_NAME"
FOLDER, KEYRING = "folder", "keyring"

#: Why the last open_store gave no store ("" when it gave one): "not cached (...)" in the success line.
uncached = ""


class Location(namedtuple("Location", ["kind", "path", "reason"])):
    """Where the cache is: kind FOLDER (path), KEYRING, or "" with the reason there is none."""

    __slots__ = ()


def locate(environ: Mapping[str, str]) -> Location:
    """The cache's location by the rules above; warns (once) about a relative MFAENV_CACHE_DIR."""
    mode = environ.get("MFAENV_CACHE", "").lower()
    if mode == "off":
        return Location("", None, "MFAENV_CACHE=off; unset it to share sessions")
    if mode == KEYRING:
        return Location(KEYRING, None, "")
    chosen = environ.get("MFAENV_CACHE_DIR")
    if chosen:
        if os.path.isabs(chosen):
            return Location(FOLDER, chosen, "")
        from mfaenv.stores.cache import warn

        warn(f"MFAENV_CACHE_DIR={chosen} is ignored: it is not an absolute path (give a full path)")
    runtime = environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isabs(runtime) and _own_folder(runtime):
        return Location(FOLDER, os.path.join(runtime, "mfaenv"), "")
    if sys.platform.startswith("linux"):
        name = environ.get(TEST_SHM_NAME, f"mfaenv-{os.geteuid()}")
        if name and "/" not in name and name not in (".", "..") and os.path.isdir(SHM):
            return Location(FOLDER, os.path.join(SHM, name), "")
    if sys.platform in ("darwin", "win32"):
        return Location(KEYRING, None, "")
    return Location("", None, "no RAM folder here: set MFAENV_CACHE_DIR or MFAENV_CACHE=keyring")


def _own_folder(path: str) -> bool:
    try:
        return os.stat(path).st_uid == os.geteuid()
    except (OSError, AttributeError):  # AttributeError: no geteuid (Windows): never reached there
        return False


def open_store(environ: Mapping[str, str] = os.environ, to_clean: bool = False):
    """The session cache's store (SessionCache or KeyringCache), or None; ``uncached`` says why not.

    ``to_clean``: for `forget`, which also cleans a folder too open to be used (cache.SessionCache.open_folder).
    """
    global uncached
    location = locate(environ)
    uncached = location.reason
    if location.kind == FOLDER:
        from mfaenv.stores.cache import SessionCache

        store = SessionCache.open_folder(location.path, to_clean)
        if store is None:
            uncached = "cache folder refused: see the warning"
        return store
    if location.kind == KEYRING:
        from mfaenv.stores.keyringcache import KeyringCache

        return KeyringCache.open()
    return None


def store_failed(reason: str) -> None:
    """A store that stopped working during the run (a credential store that cannot be reached)."""
    global uncached
    uncached = reason
