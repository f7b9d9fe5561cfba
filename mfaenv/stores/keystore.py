"""Long-term keys in the OS credential store: one item per access key id.

The item's service is ``SERVICE`` and its name the access key id; its value is
a header line (oskeyring checks it, so an item another program left there is
never taken for ours) and a JSON object with the key id and the secret.

The credentials file names the item: ``mfaenv_keyring = AKIA...`` in the
source profile's section (profiles.KEYRING_MARKER), in place of the two key
lines. The chain reads that marker with the rest of the file, so resolving a
profile, a Tab of completion and a cache hit never open the store (it may ask
to be unlocked, and loading keyring costs ~0.1 s); only a fetch calls
``secret`` here. Everything about keyring itself (backend, errors) is in
oskeyring.py.
"""

from __future__ import annotations

import json

from mfaenv.errors import CredentialStoreEntryError, CredentialStoreError, ProfileError
from mfaenv.profiles import KEYRING_MARKER, is_access_key_id
from mfaenv.stores import oskeyring

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict, Optional, Tuple

#: The service of every item of long-term keys (the Keychain shows it as the item's name).
SERVICE = "mfaenv long-term keys"
#: The first line of the item's value: what wrote it, and in which form.
HEADER = "mfaenv long-term keys 1"

class DamagedEntryError(CredentialStoreEntryError):
    """An item under mfaenv's header whose body is not the keys it is named for: mfaenv may replace it."""


#: Secrets read in this run, by key id: a chain needs its keys once per provider.
_read: Dict[str, str] = {}


def backend_name() -> str:
    """The store in words: ``Secret Service``, ``macOS Keychain``, ``Windows Credential Manager``."""
    return oskeyring.backend_name()


def read(key_id: str) -> Optional[str]:
    """The secret stored under this key id, or None when there is no item.

    CredentialStoreEntryError when the item is not one mfaenv wrote, or is damaged.
    """
    if key_id in _read:
        return _read[key_id]
    body = oskeyring.read_entry(SERVICE, key_id, HEADER)
    if body is None:
        return None
    try:
        values = json.loads(body)
        stored_id, secret = values["aws_access_key_id"], values["aws_secret_access_key"]
    except (ValueError, TypeError, KeyError):
        stored_id = secret = None
    if stored_id != key_id or not isinstance(secret, str) or not secret or "\n" in secret:
        raise DamagedEntryError(
            f"the {backend_name()} item '{SERVICE}' / '{key_id}' is damaged (it does not hold the keys of "
            f"{key_id}); it was left as it is: run 'mfaenv keys add PROFILE' to store the keys again"
        )
    _read[key_id] = secret
    return secret


def secret(profile: str, key_id: str) -> str:
    """The secret of the source profile's keys, which the marker in its section says are in the store."""
    found = read(key_id)
    if found is None:
        raise ProfileError(
            f"profile '{profile}': the {backend_name()} holds no item for key {key_id}, which {KEYRING_MARKER} "
            f"in [{profile}] names; run 'mfaenv keys add {profile}' to store the keys again",
            reason=f"no keys in the {backend_name()} for {key_id}",
        )
    return found


def store(key_id: str, secret_access_key: str) -> Tuple[bool, Optional[str]]:
    """Store the keys and read them back: (whether the item changed, the secret it held before or None).

    An item of another program under this name is refused (CredentialStoreEntryError), one of
    mfaenv's that is damaged is replaced. Raises CredentialStoreError when the store cannot take
    the keys or gives back something else.
    """
    if not is_access_key_id(key_id):
        raise CredentialStoreError(f"refusing to store '{key_id}': it is not an access key id")
    try:
        before = read(key_id)
    except DamagedEntryError:
        before = None
    if before == secret_access_key:
        return False, before
    put(key_id, secret_access_key)
    return True, before


def put(key_id: str, secret_access_key: str) -> None:
    """Write the item and read it back (CredentialStoreError when it comes back otherwise)."""
    body = json.dumps({"aws_access_key_id": key_id, "aws_secret_access_key": secret_access_key})
    _read.pop(key_id, None)
    oskeyring.write_entry(SERVICE, key_id, HEADER, body)
    if read(key_id) != secret_access_key:
        raise CredentialStoreError(
            f"the {backend_name()} did not give back the keys of {key_id} just stored; the credentials "
            f"file is unchanged"
        )


def remove(key_id: str) -> bool:
    """Delete the item of this key id; False when there was none."""
    _read.pop(key_id, None)
    return oskeyring.delete(SERVICE, key_id)


def describe() -> Tuple[str, str]:
    """(service, backend) for messages and `mfaenv keys`."""
    return SERVICE, backend_name()
