"""`mfaenv keys`: long-term keys out of the credentials file and into the OS credential store, and back.

A profile's keys live in its source section ("the key section": for a role,
the section at the bottom of its source_profile chain). In the file they are
the two lines ``aws_access_key_id`` / ``aws_secret_access_key``; in the store
they are one item named by the key id (stores/keystore.py), and the section
keeps ``mfaenv_keyring = KEY_ID`` in their place, so that every reader finds
them without opening the store.

The order of `import` is what makes it safe: the keys are checked with STS
(GetCallerIdentity needs no MFA), stored and read back, and only then are the
two lines replaced in the file (atomically, under the lock). A failure before
the file is written takes back what was stored; a kill at any moment leaves
the keys in the file, or in the store with the marker, never in neither.

Every message is one line on stderr; stdout carries only the `keys` table.
"""

from __future__ import annotations

import os
import sys
from collections import namedtuple
from typing import List, Mapping, Optional, Tuple

from mfaenv.errors import MfaenvError, ProfileError, UsageError
from mfaenv.profiles import KEYRING_MARKER, ProfileStore, is_access_key_id, is_placeholder
from mfaenv.terminal.display import shown


class KeysLocation(namedtuple("KeysLocation", ["section", "key_id", "where", "note"])):
    """One row of `mfaenv keys`: the section, its key id, where the secret is, and a note (or "")."""

    __slots__ = ()


def locations(environ: Mapping[str, str] = os.environ) -> List[KeysLocation]:
    """Every section with long-term keys mfaenv can find, in file order: the files', then the store's.

    Read from the files only (the marker names the store's): the store is not opened.
    """
    store = ProfileStore(environ)
    found: List[KeysLocation] = []
    backend = None
    for origin, sections in (("credentials file", store.credentials), ("config file", store.config)):
        for name, values in sections.items():
            key_id, secret = values.get("aws_access_key_id"), values.get("aws_secret_access_key")
            marker = values.get(KEYRING_MARKER) if origin == "credentials file" else None
            in_file = bool(key_id and secret and not is_placeholder(key_id) and not is_placeholder(secret)
                           and not values.get("aws_session_token"))
            if in_file and (origin == "credentials file" or name not in store.credentials):
                note = ""
                if marker and marker != key_id:
                    note = f"the OS credential store holds {marker}, which is not used (the file wins)"
                found.append(KeysLocation(name, key_id, origin, note))
            elif marker:
                if backend is None:
                    backend = _backend_name()
                note = "" if is_access_key_id(marker) else f"{KEYRING_MARKER} is not an access key id"
                found.append(KeysLocation(name, marker, backend, note))
    return found


def _backend_name() -> str:
    from mfaenv.stores import keystore

    return keystore.backend_name()


def list_keys(environ: Mapping[str, str] = os.environ) -> str:
    rows = [["PROFILE", "KEY ID", "WHERE"]]
    for location in locations(environ):
        where = location.where + (f" ({location.note})" if location.note else "")
        rows.append([shown(location.section), shown(location.key_id), shown(where)])
    if len(rows) == 1:
        return ""
    widths = [max(len(row[index]) for row in rows) for index in range(2)]
    return "".join(f"{row[0].ljust(widths[0])}  {row[1].ljust(widths[1])}  {row[2]}\n" for row in rows)


def _check_keys(store: ProfileStore, profile: str, section: str, key_id: str, secret: str, environ: Mapping[str, str]):
    """GetCallerIdentity signed with the keys (no MFA needed): the keys work, or StsRejectedError says why."""
    from mfaenv.aws import iam

    region = store.call_region(profile, [profile, section])
    return iam.caller_identity(key_id, secret, profile=section, region=region, environ=environ)


def import_keys(profile: str, environ: Mapping[str, str] = os.environ) -> str:
    """Move the key section's keys from the credentials file into the store; the success line."""
    from mfaenv.stores import keystore, persist

    store = ProfileStore(environ)
    _check_known(store, profile)
    section = store.key_section(profile)
    values = store.credentials.get(section, {})
    key_id, secret = values.get("aws_access_key_id"), values.get("aws_secret_access_key")
    old_marker = store.stored_key_id(section)
    if not (key_id and secret) or is_placeholder(key_id) or is_placeholder(secret) or values.get("aws_session_token"):
        if old_marker:
            return f"the keys of [{section}] ({old_marker}) are in the {keystore.backend_name()} already"
        if store.lookup(section, "aws_access_key_id") and not values.get("aws_access_key_id"):
            raise ProfileError(
                f"profile '{section}': its keys are in the config file ({store.config_file}); 'mfaenv keys import' "
                f"moves keys from the credentials file only: move them to [{section}] of {store.credentials_file} first"
            )
        raise ProfileError(
            f"profile '{profile}': no long-term keys in [{section}] of {store.credentials_file} to import; "
            f"'mfaenv keys add {profile}' asks for them",
            reason="no long-term keys",
        )
    if not is_access_key_id(key_id):
        raise ProfileError(f"profile '{section}': aws_access_key_id in [{section}] is not an access key id; fix it first")
    _check_keys(store, profile, section, key_id, secret, environ)
    _store_then_name(store, section, key_id, secret, old_marker,
                     lambda: persist.move_keys_out(store.credentials_path, section, key_id, secret))
    return (f"moved the keys of [{section}] ({key_id}) from {store.credentials_file} into the {keystore.backend_name()}; "
            f"[{section}] keeps {KEYRING_MARKER} = {key_id} in their place")



def _store_then_name(store, section: str, key_id: str, secret: str, old_marker, write_file) -> None:
    """The keys into the credential store (read back), then the file written to name them (``write_file``);
    a failed write takes the item back out, and an item the section named before goes once nothing names it."""
    from mfaenv.stores import keystore

    changed, before = keystore.store(key_id, secret)
    try:
        write_file()
    except BaseException:
        take_back(key_id, changed, before, store.credentials_path, section)
        raise
    if old_marker and old_marker != key_id:
        _tidy(store, keystore, old_marker, section)


def take_back(key_id: str, changed: bool, before: Optional[str], credentials_path, section: str) -> None:
    """Undo a store of this run when the file write failed, so that the store holds nothing new.

    Unless the file names the key after all (a Ctrl-C that landed just after the file was
    replaced, or a file that cannot be read now): then the item stays, or the keys would be in
    neither place. For `keys` and `rotate`.
    """
    from mfaenv.profiles import read_sections
    from mfaenv.stores import keystore

    if not changed:
        return
    try:
        if read_sections(credentials_path).get(section, {}).get(KEYRING_MARKER) == key_id:
            return
    except MfaenvError:
        return
    try:
        if before is None:
            keystore.remove(key_id)
        else:
            keystore.put(key_id, before)
    except MfaenvError:
        pass  # the first failure is the one to report; the file still holds the keys


def _remove_unless_named(store: ProfileStore, keystore, key_id: str, section: str) -> bool:
    """Delete the store's item of key_id unless another section's marker still names it."""
    if _named_elsewhere(store, key_id, section):
        return False
    return keystore.remove(key_id)


def _tidy(store: ProfileStore, keystore, key_id: str, section: str) -> None:
    tidy_store(key_id, section, store.credentials_path)


def tidy_store(key_id: str, section: str, credentials_path) -> None:
    """After the file was written: delete the item of key_id unless a marker (of another section) still names
    it; a failure is a warning, as what the command did is done. For `keys` and `rotate`."""
    from mfaenv.profiles import read_sections
    from mfaenv.stores import keystore

    try:
        sections = read_sections(credentials_path)
        if any(values.get(KEYRING_MARKER) == key_id for values in sections.values()):
            return
        keystore.remove(key_id)
    except MfaenvError as error:
        warn(f"the OS credential store's item of {key_id} (no longer used) could not be deleted: {error}")


def add_keys(profile: str, environ: Mapping[str, str] = os.environ) -> str:
    """Ask for keys on the terminal, check them, store them, and name them in the file; the success line."""
    from mfaenv.stores import keystore, persist
    from mfaenv.terminal import keyinput

    store = ProfileStore(environ)
    section = _add_section(store, profile)
    values = store.credentials.get(section, {})
    if values.get("aws_access_key_id") and not is_placeholder(values["aws_access_key_id"]) \
            and not values.get("aws_session_token"):
        raise ProfileError(
            f"profile '{section}': [{section}] of {store.credentials_file} holds keys; "
            f"'mfaenv keys import {profile}' moves them to the store"
        )
    key_id, secret = keyinput.ask_keys(section)
    if not is_access_key_id(key_id):
        raise UsageError("what was typed is not an access key id (such as AKIA..., capital letters and digits); "
                         "it is not repeated here, in case it was the secret")
    if any(char.isspace() for char in secret):
        raise UsageError("the secret access key cannot contain spaces")
    _check_keys(store, profile, section, key_id, secret, environ)
    old_marker = store.stored_key_id(section)
    _store_then_name(store, section, key_id, secret, old_marker,
                     lambda: persist.set_marker(store.credentials_path, section, key_id))
    return (f"stored the keys of [{section}] ({key_id}) in the {keystore.backend_name()}; "
            f"[{section}] of {store.credentials_file} names them ({KEYRING_MARKER} = {key_id})")


def _add_section(store: ProfileStore, profile: str) -> str:
    """Where `keys add` puts the marker: the key section; a new [PROFILE-default] beside a team layout's
    [PROFILE] (which holds the MFA device and the temporary keys)."""
    if not store.exists(profile):
        return profile
    section = store.key_section(profile)
    values = store.credentials.get(section, {})
    if section == profile and any(key in values for key in ("aws_session_token", "aws_arn_mfa", "aws_mfa_device")):
        return f"{profile}-default"
    return section


def _check_known(store: ProfileStore, profile: str) -> None:
    if not store.exists(profile):
        raise store._not_found(f"profile '{profile}'")


def _stored(store: ProfileStore, profile: str) -> Tuple[str, str]:
    """(key section, key id) of a profile whose keys are in the store; ProfileError otherwise."""
    _check_known(store, profile)
    section = store.key_section(profile)
    key_id = store.stored_key_id(section)
    if key_id is None:
        raise ProfileError(
            f"profile '{profile}': its keys are not in the OS credential store (no {KEYRING_MARKER} in [{section}] "
            f"of {store.credentials_file})",
            reason="keys not in the OS credential store",
        )
    return section, key_id


def remove_keys(profile: str, yes: bool, environ: Mapping[str, str] = os.environ) -> str:
    """Delete the stored keys (after asking, unless ``yes``) and the marker; the success line."""
    from mfaenv.stores import keystore, persist
    from mfaenv.terminal import keyinput

    store = ProfileStore(environ)
    section, key_id = _stored(store, profile)
    backend = keystore.backend_name()
    if not yes:
        question = f"Delete the long-term keys {key_id} of [{section}] from the {backend}?"
        if not keyinput.confirm(question, "pass --yes"):
            raise UsageError("nothing removed")
    removed = _remove_unless_named(store, keystore, key_id, section)
    persist.remove_marker(store.credentials_path, section)
    what = "deleted" if removed else ("kept (another profile names it)" if _named_elsewhere(store, key_id, section)
                                      else "not there any more")
    return (f"removed the keys of [{section}] ({key_id}): the {backend} item {what}, {KEYRING_MARKER} "
            f"removed from {store.credentials_file}; the key itself is still active in IAM")


def warn(message: str) -> None:
    print(f"mfaenv: warning: {shown(message)}", file=sys.stderr)


def _named_elsewhere(store: ProfileStore, key_id: str, section: str) -> bool:
    return any(name != section and values.get(KEYRING_MARKER) == key_id for name, values in store.credentials.items())


def export_keys(profile: str, environ: Mapping[str, str] = os.environ) -> str:
    """Write the stored keys back into the file (plaintext again) and delete the item; the success line."""
    from mfaenv.stores import keystore, persist

    store = ProfileStore(environ)
    section, key_id = _stored(store, profile)
    secret = keystore.secret(section, key_id)
    warn(f"writing the secret access key of [{section}] back into {store.credentials_file}, in plaintext")
    persist.put_keys_back(store.credentials_path, section, key_id, secret)
    _tidy(store, keystore, key_id, section)
    return f"moved the keys of [{section}] ({key_id}) from the {keystore.backend_name()} back into {store.credentials_file}"

