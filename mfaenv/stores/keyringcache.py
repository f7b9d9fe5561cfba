"""The session cache in the OS credential store (Keychain, Credential Manager, Secret Service).

The default on macOS and Windows, and ``MFAENV_CACHE=keyring`` anywhere. One item
per cached session, under the service ``mfaenv session cache``, named by the
digest of its key (as a cache file is), holding the same text a cache file holds
(cache.py's entry format: the key, the profile, the session), so that a foreign
or damaged item is never taken for the session asked for. The store cannot list
its items by service on every platform, so one more item, ``index``, names the
digests mfaenv stored, for `mfaenv list` and `mfaenv forget` (all); `forget
PROFILE` finds its items by their keys alone.

The same calls as cache.SessionCache. A store that cannot be reached, stays
locked or fails is one warning, and the run goes on without a cache (the
success line says "not cached"): the cache never fails a command.

The per-key fetch lock (several processes needing one session fetch it once)
is the folder cache's; the credential store has no lock of its own (``locked``
holds nothing), so two processes fetching the same session at once may both
fetch (each with its own code, as before the cache); the index is rewritten whole, so of two sessions
stored at the same moment one may be missing from it (then `forget` without a
profile does not reach it; it expires with its session; `forget PROFILE` does).
"""

from __future__ import annotations

from mfaenv.stores import cache as entries
from mfaenv.stores import oskeyring
from mfaenv.errors import CredentialStoreEntryError, CredentialStoreError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Iterable, List, Mapping, Optional

    from mfaenv.shells.variables import Session

SERVICE = "mfaenv session cache"
INDEX = "index"
INDEX_HEADER = "mfaenv session cache index 1"


class KeyringCache:
    """The session cache's items in the OS credential store; build it with KeyringCache.open."""

    #: `forget` cleans a folder mfaenv refuses to use (cache.SessionCache); the credential store is never refused.
    refused = None

    def __init__(self):
        self.path = f"the {oskeyring.backend_name()} (service '{SERVICE}')"
        self._working = True

    @classmethod
    def open(cls) -> Optional["KeyringCache"]:
        """The store, or None with a notice when there is none (keyring missing, no backend)."""
        try:
            oskeyring.backend()
        except CredentialStoreError as error:
            _gone(error)
            return None
        return cls()

    def close(self) -> None:
        pass

    def __enter__(self) -> "KeyringCache":
        return self

    def __exit__(self, *_exc) -> None:
        pass

    def _call(self, function, *args):
        """The credential store's answer; None once it failed (warned once, the run goes on uncached)."""
        if not self._working:
            return None
        try:
            return function(*args)
        except CredentialStoreError as error:
            self._working = False
            _gone(error)
            return None

    def get(self, key: Mapping[str, Optional[str]], min_seconds_left: int) -> Optional[Session]:
        name = entries.key_digest(key)
        entry = self._read(name)
        if entry is None or entry.key != dict(key):
            return None
        left = entry.session.seconds_left()
        if left <= 0:
            self._call(oskeyring.delete, SERVICE, name)
        return entry.session if left > min_seconds_left else None

    def put(self, key: Mapping[str, Optional[str]], session: Session, profile: str) -> None:
        name = entries.key_digest(key)
        data = entries.entry_bytes(key, session, profile)
        if data is None:  # would not read back the same: not stored, nor an older session of the key kept
            self._call(oskeyring.delete, SERVICE, name)
            entries.not_kept(profile)
            return
        self._call(oskeyring.put, SERVICE, name, data.decode("ascii"))
        if self._working:
            names = self._index()
            if name not in names:
                self._write_index([*names, name])

    def locked(self, key: Mapping[str, Optional[str]], profile: str, wait: bool = True) -> "_NoLock":
        """The folder cache's per-key lock has no counterpart here (see above): holds nothing."""
        return _NoLock()

    def forget(self, keys: Iterable[Mapping[str, Optional[str]]]) -> int:
        names = [entries.key_digest(key) for key in keys]
        removed = sum(bool(self._call(oskeyring.delete, SERVICE, name)) for name in names)
        listed = self._index()
        if any(name in listed for name in names):
            self._write_index([name for name in listed if name not in names])
        return removed

    def clear(self) -> int:
        removed = sum(bool(self._call(oskeyring.delete, SERVICE, name)) for name in self._index())
        self._call(oskeyring.delete, SERVICE, INDEX)
        return removed

    def entries(self) -> List[entries.CacheEntry]:
        found, kept = [], []
        listed = self._index()
        for name in listed:
            entry = self._read(name)
            if entry is None:
                continue
            if entry.session.seconds_left() <= 0:
                self._call(oskeyring.delete, SERVICE, name)
                continue
            kept.append(name)
            found.append(entry)
        if kept != listed and self._working:
            self._write_index(kept)
        return found

    def _read(self, name: str) -> Optional[entries.CacheEntry]:
        value = self._call(oskeyring.get, SERVICE, name)
        if value is None:
            return None
        try:
            raw = value.encode("ascii")
        except UnicodeEncodeError:  # not what mfaenv writes: ignored like a corrupt file
            return None
        return entries._entry(raw)

    def _index(self) -> List[str]:
        if not self._working:
            return []
        try:
            text = oskeyring.read_entry(SERVICE, INDEX, INDEX_HEADER)
        except CredentialStoreEntryError:  # damaged: rewritten by the next put
            return []
        except CredentialStoreError as error:
            self._working = False
            _gone(error)
            return []
        return [line for line in (text or "").split("\n") if len(line) == 64 and line.isalnum()]

    def _write_index(self, names: List[str]) -> None:
        if names:
            self._call(oskeyring.write_entry, SERVICE, INDEX, INDEX_HEADER, "".join(name + "\n" for name in names))
        else:
            self._call(oskeyring.delete, SERVICE, INDEX)


class _NoLock:
    def __enter__(self) -> "_NoLock":
        return self

    def __exit__(self, *_exc) -> None:
        pass


def _gone(error: CredentialStoreError) -> None:
    """One notice; the success line says "not cached" with the reason."""
    from mfaenv.stores import sessionstore

    message = str(error)
    entries.warn(f"{message}; going on without the session cache")
    short = "no OS credential store" if message.startswith("no OS credential store") else "OS credential store failed"
    sessionstore.store_failed(f"{short}: see the warning, or set MFAENV_CACHE_DIR")
