"""`mfaenv rotate PROFILE`: a new long-term access key, with one MFA code, never losing a working key.

The line: profile chain -> where its long-term keys live -> IAM user
(GetCallerIdentity signed with those keys, no code) -> MFA session (cache, or
one code) -> ListAccessKeys -> CreateAccessKey -> the new key written where the
old one was -> wait until STS accepts it -> old key deactivated, then deleted
-> cached sessions of the old key forgotten. Every IAM call is signed with the
MFA session, with ``UserName`` given.

Whatever happens, the file holds a key that IAM knows: the new key is written
only once it exists, and the old one is deactivated only once the new one
works. A failure before the write removes the new key again; a failure after it
says exactly what to do about the old one. stdout stays empty.

`rotate --check` prints the age of each of the user's keys and fails past
``--max-age`` days (active keys only, as AWS Config's access-keys-rotated rule).
"""

from __future__ import annotations

import os
import random
import time
from collections import namedtuple
from datetime import datetime, timezone
from typing import List, Mapping, NamedTuple, Optional

from mfaenv.errors import (
    IamRejectedError, Interrupted, MfaenvError, NoTerminalError, ProfileError, StsRejectedError, StsUnavailableError,
    UsageError,
)
from mfaenv.profiles import Chain, ProfileStore
from mfaenv.shells.expiry import format_expiry

#: Seconds to wait for STS to accept the new key (IAM is eventually consistent): MFAENV_ROTATE_WAIT.
WAIT_SECONDS = 60.0
#: Seconds of the first pause between tries; each pause doubles, up to WAIT_PAUSE_MAX.
WAIT_PAUSE_FIRST, WAIT_PAUSE_MAX = 0.5, 8.0
#: `rotate --check`'s default age limit, AWS Config's access-keys-rotated and Security Hub IAM.3.
MAX_AGE_DAYS = 90


class RotateRequest(namedtuple("RotateRequest", [
    "profile",
    "code",
    "keep_old",  # leave the old key inactive instead of deleting it
    "delete_inactive",  # delete the user's other key first when it is inactive
    "delete_unused",  # delete the user's other key first when it is active and was never used
    "code_command",
], defaults=(None, False, False, False, None))):
    """What `mfaenv rotate` was asked for."""

    __slots__ = ()


class KeyLocation(NamedTuple):
    """Where a profile's long-term keys live: a file and the section in it, or the OS credential store
    (``in_store``), named by the ``mfaenv_keyring`` line of that section."""

    path: object  # a pathlib.Path
    section: str
    in_store: bool = False

    def describe(self) -> str:
        if self.in_store:
            from mfaenv.stores import keystore

            return f"the {keystore.backend_name()} item that [{self.section}] of {self.path} names"
        return f"[{self.section}] of {self.path}"

    def key_id(self, sections: Mapping[str, Mapping[str, str]]) -> Optional[str]:
        """The key id this location holds in these sections (as read from its file)."""
        from mfaenv.profiles import KEYRING_MARKER

        return sections.get(self.section, {}).get(KEYRING_MARKER if self.in_store else "aws_access_key_id")


def key_location(store: ProfileStore, chain: Chain) -> KeyLocation:
    """The section that holds the chain's long-term keys, as ProfileStore.lookup found them."""
    from mfaenv.profiles import IN_STORE

    source = chain.base.source
    if chain.base.keys_in == IN_STORE:
        return KeyLocation(store.credentials_path, source, in_store=True)
    if store.credentials.get(source, {}).get("aws_access_key_id"):
        location = KeyLocation(store.credentials_path, source)
        keys = store.credentials.get(source, {})
    else:
        section = next((name for name in (f"profile {source}", *(["default"] if source == "default" else []))
                        if _config_section(store, name).get("aws_access_key_id")), None)
        if section is None:  # cannot happen: the chain resolved these keys
            raise ProfileError(f"profile '{chain.name}': cannot find the section holding its long-term keys")
        location = KeyLocation(store.config_path, section)
        keys = _config_section(store, section)
    if keys.get("aws_access_key_id") != chain.base.access_key_id or \
            keys.get("aws_secret_access_key") != chain.base.secret_access_key:
        raise ProfileError(
            f"profile '{chain.name}': the access key id and the secret key of [{source}] are in different files; "
            f"put both in one section before rotating"
        )
    return location


def _config_section(store: ProfileStore, name: str) -> Mapping[str, str]:
    from mfaenv.profiles import read_sections

    return read_sections(store.config_file).get(name, {})


def store_new_key(location: KeyLocation, old_key_id: str, new_key_id: str, new_secret: str,
                  created: Optional[datetime]) -> None:
    """Write the new key where the old one was, with the old key's id until it is retired (see _finish).

    The one place a rotated key is stored (the OS credential store may join the file here).
    """
    from mfaenv.stores import persist

    created_text = _iso(created) if created else None
    if not location.in_store:
        persist.replace_long_term_keys(location.path, location.section, old_key_id, new_key_id, new_secret,
                                       created_text, previous=old_key_id)
        return
    from mfaenv.stores import keystore

    try:
        keystore.put(new_key_id, new_secret)  # read back; then the file's line names it
        persist.replace_long_term_keys(location.path, location.section, old_key_id, new_key_id, None,
                                       created_text, previous=old_key_id)
    except BaseException:
        # Taken back only while the file does not name it: an error or a Ctrl-C just after the file was
        # replaced must leave the new key's secret where the file says it is.
        if not _holds(location, new_key_id):
            _forget_stored(new_key_id)
        raise


def _refuse_copies(store: ProfileStore, chain: Chain, location: KeyLocation) -> None:
    """A key pasted into a second section too: rotating would delete the key that section holds. Refused
    before any code is spent, naming the copies."""
    from mfaenv.profiles import KEYRING_MARKER

    key_id = chain.base.access_key_id
    copies = []
    for path, sections in ((store.credentials_path, store.credentials), (store.config_path, store.config)):
        for name, values in sections.items():
            here = path == location.path and location.section in (name, f"profile {name}")
            if not here and key_id in (values.get("aws_access_key_id"), values.get(KEYRING_MARKER)):
                copies.append(f"[{name}] of {path}")
    if copies:
        raise ProfileError(
            f"profile '{chain.name}': the access key {key_id} is also in {', '.join(copies)}, which rotating "
            f"would leave with a deleted key; remove those copies (or give them source_profile = "
            f"{chain.base.name}) first; nothing was changed"
        )


def _forget_stored(key_id: str) -> None:
    """Remove the credential store's item of a key mfaenv stored (best effort)."""
    from mfaenv.stores import keystore

    try:
        keystore.remove(key_id)
    except MfaenvError:
        pass


def retired(location: KeyLocation, key_id: str) -> None:
    """The old key was deleted in IAM: its item in the credential store goes too (mfaenv wrote it)."""
    if location.in_store:
        _forget_stored(key_id)


def previous_key(store: ProfileStore, location: KeyLocation) -> Optional[str]:
    """The old key an earlier rotation wrote beside the new one and did not retire, if any."""
    from mfaenv.stores import persist

    if location.in_store or location.path == store.credentials_path:
        return store.credentials.get(location.section, {}).get(persist.KEY_PREVIOUS)
    return _config_section(store, location.section).get(persist.KEY_PREVIOUS)


def rotation_finished(location: KeyLocation, key_id: str) -> None:
    """The old key is retired: its id goes from beside the new key (best effort: a stale one is harmless)."""
    from mfaenv.stores import persist

    try:
        persist.clear_previous_key(location.path, location.section, key_id)
    except MfaenvError:
        pass


def check_location(location: KeyLocation) -> None:
    from mfaenv.stores import persist

    persist.check_key_section(location.path, location.section)
    if location.in_store:
        from mfaenv.stores import oskeyring

        oskeyring.backend()  # no store: refused before a code is spent


# -- the rotation ---------------------------------------------------------------------------------------------------


def rotate(request: RotateRequest, environ: Mapping[str, str] = os.environ) -> str:
    """Rotate the long-term key beneath PROFILE; the success line (without "mfaenv: "). Raises MfaenvError."""
    from mfaenv.aws import iam

    code = _checked_code(request.code)
    store = ProfileStore(environ)
    chain = store.chain(request.profile)
    base = chain.base
    location = key_location(store, chain)
    # Everything local first: no code is spent on a rotation that cannot be written or sent.
    check_location(location)
    _refuse_copies(store, chain, location)
    _check_endpoints(environ)
    user = _iam_user(chain, environ)
    session = _mfa_session(chain, environ, code, request.code_command)
    client = iam.Iam(session.access_key_id, session.secret_access_key, session.session_token,
                     profile=chain.name, region=base.call_region, environ=environ)
    old = base.access_key_id
    keys = client.list_access_keys(user)
    previous = previous_key(store, location)
    if previous and previous != old and previous in [key.access_key_id for key in keys]:
        return _finish(client, chain, user, old, previous, location, request.keep_old, environ)
    _make_room(client, chain, user, old, location, request, keys)
    try:
        new = client.create_access_key(user)
    except IamRejectedError as error:
        if error.aws_code == "LimitExceeded":
            raise IamRejectedError(
                f"profile '{chain.name}': IAM user {user} got a second access key meanwhile (LimitExceeded); "
                f"nothing was changed: run 'mfaenv rotate {chain.name}' again to see it", error.aws_code,
            ) from None
        raise
    try:
        store_new_key(location, old, new.access_key_id, new.secret_access_key, new.created)
    except BaseException as error:  # a Ctrl-C too: the secret is gone with this process, so is the key
        if not _holds(location, new.access_key_id):
            _remove_unwritten_key(client, chain, user, new.access_key_id, error)
            raise
        if isinstance(error, KeyboardInterrupt):  # just after the file was replaced: it holds the new key
            raise Interrupted(f"interrupted; the new key {new.access_key_id} is in {location.describe()}; "
                              f"the old key {old} is still active: run 'mfaenv rotate {chain.name}' again to finish, "
                              f"or {_delete_advice(chain, user, old)}") from None
    # From here on the file holds the new key: the old key's sessions are of no more use to mfaenv.
    try:
        _forget_sessions_of(old, environ)
        _wait_until_accepted(chain, new.access_key_id, new.secret_access_key, old, user, environ)
        what = _retire_old_key(client, chain, user, old, new.access_key_id, location, request.keep_old)
        rotation_finished(location, new.access_key_id)
    except KeyboardInterrupt:
        raise Interrupted(f"interrupted; the new key {new.access_key_id} is in {location.describe()}; the old key "
                          f"{old} may still be active: run 'mfaenv rotate {chain.name}' again to finish, "
                          f"or {_delete_advice(chain, user, old)}") from None
    return f"rotated the access key of IAM user {user} ({location.describe()}): new key {new.access_key_id}; " \
           f"old key {old} {what}"


def _finish(client, chain: Chain, user: str, key_id: str, previous: str, location: KeyLocation, keep_old: bool,
            environ: Mapping[str, str]) -> str:
    """An earlier rotation wrote ``key_id`` and stopped before retiring ``previous``: retire it now.

    ``key_id`` works: it just signed GetCallerIdentity. No new key is made (this one is new).
    """
    _forget_sessions_of(previous, environ)
    what = _retire_old_key(client, chain, user, previous, key_id, location, keep_old)
    rotation_finished(location, key_id)
    return f"finished the interrupted rotation of IAM user {user} ({location.describe()}): key {key_id} in use; " \
           f"old key {previous} {what}"


def _checked_code(code: Optional[str]) -> Optional[str]:
    if code is None:
        return None
    from mfaenv.terminal import codeinput

    return codeinput.check_code(code)


def _check_endpoints(environ: Mapping[str, str]) -> None:
    from mfaenv.aws import iam, sts

    sts.check_endpoint(environ)
    iam.check_endpoint(environ)


def _iam_user(chain: Chain, environ: Mapping[str, str]) -> str:
    """The IAM user the long-term keys belong to: GetCallerIdentity signed with them, no MFA needed."""
    from mfaenv.aws import iam

    from mfaenv.sessions import long_term_secret

    base = chain.base
    identity = iam.caller_identity(base.access_key_id, long_term_secret(base), profile=chain.name,
                                   region=base.call_region, environ=environ)
    if identity.user_name is None:
        what = "the account's root user" if identity.arn.endswith(":root") else identity.arn
        raise ProfileError(
            f"profile '{chain.name}': the long-term keys of [{base.source}] belong to {what}, not an IAM user; "
            f"mfaenv rotates IAM users' keys only"
        )
    return identity.user_name


def _mfa_session(chain: Chain, environ: Mapping[str, str], code: Optional[str], code_command: Optional[str],
                 ask: bool = True):
    """The MFA session of the chain's base, as `get` obtains it: from the cache, else with one code."""
    from mfaenv import sessions
    from mfaenv.stores.sessionstore import open_store

    asked: List[str] = []

    def code_source() -> str:
        if code is not None:
            return code
        if not asked:
            if not ask:
                raise NoTerminalError("no MFA code")
            from mfaenv.terminal import codeinput

            asked.append(codeinput.obtain_code(chain.name, chain.base.serial, code_command or chain.code_command))
        return asked[0]

    provider = sessions.MfaSession(chain.base, sessions.MFA_SESSION_SECONDS, code_source, environ)
    cache = open_store(environ)
    if cache is not None:
        provider = sessions.Cached(provider, cache, chain.name, code is None, sessions.REUSE_MARGIN_SECONDS)
    session, _origin = provider.retrieve()
    return session


def _make_room(client, chain: Chain, user: str, old: str, location: KeyLocation, request: RotateRequest,
               keys: list) -> None:
    """IAM allows two keys per user: the other one goes first when asked for and safe, else nothing changes."""
    if old not in [key.access_key_id for key in keys]:
        raise IamRejectedError(
            f"profile '{chain.name}': IAM does not list {old}, the key in {location.describe()}, among the keys of "
            f"user {user}; nothing was changed"
        )
    for other in [key for key in keys if key.access_key_id != old]:
        used = client.access_key_last_used(other.access_key_id)
        described = f"{other.access_key_id} ({other.status.lower()}, {_last_used(used)})"
        if other.status == "Inactive":
            if not request.delete_inactive:
                raise IamRejectedError(
                    f"profile '{chain.name}': IAM user {user} already has two access keys, and the other one, "
                    f"{described}, is not in {location.describe()}; nothing was changed: delete it with "
                    f"'mfaenv rotate {chain.name} --delete-inactive'", "LimitExceeded",
                )
        elif used.when is None and request.delete_unused:
            pass  # what a rotation killed before it wrote the file leaves behind
        elif used.when is None:
            raise IamRejectedError(
                f"profile '{chain.name}': IAM user {user} already has two access keys, and the other one, "
                f"{described}, is not in {location.describe()}; nothing was changed: if an interrupted "
                f"'mfaenv rotate' created it, delete it with 'mfaenv rotate {chain.name} --delete-unused'",
                "LimitExceeded",
            )
        else:
            raise IamRejectedError(
                f"profile '{chain.name}': IAM user {user} already has two access keys, and the other one, "
                f"{described}, is active and not in {location.describe()}; nothing was changed: if nothing needs "
                f"it any more, deactivate it in IAM, then run 'mfaenv rotate {chain.name} --delete-inactive'",
                "LimitExceeded",
            )
        client.delete_access_key(user, other.access_key_id)


def _last_used(used) -> str:
    if used.when is None:
        return "never used"
    where = " ".join(part for part in (used.service, used.region) if part)
    return f"last used {_iso(used.when)}" + (f" ({where})" if where else "")


def _holds(location: KeyLocation, key_id: str) -> bool:
    """Whether the file now holds ``key_id``; True when it cannot be read (a key in the file is never deleted)."""
    from mfaenv.profiles import read_sections

    try:
        return location.key_id(read_sections(location.path)) == key_id
    except MfaenvError:
        return True


def _remove_unwritten_key(client, chain: Chain, user: str, key_id: str, cause: BaseException) -> None:
    """The new key could not be written: delete it again (its secret is lost with this process)."""
    try:
        client.delete_access_key(user, key_id)
    except MfaenvError:
        if isinstance(cause, MfaenvError):
            cause.args = (f"{cause}; the new key {key_id} could not be deleted again: delete it with "
                          f"'mfaenv exec {chain.base.name} -- aws iam delete-access-key --user-name {user} "
                          f"--access-key-id {key_id}' (the old key still works)",)


def _wait_until_accepted(chain: Chain, key_id: str, secret: str, old: str, user: str,
                         environ: Mapping[str, str]) -> None:
    """GetCallerIdentity signed with the new key until STS accepts it, with backoff, for about a minute."""
    from mfaenv.aws import iam, sts

    limit = sts._timeout("MFAENV_ROTATE_WAIT", WAIT_SECONDS, environ)
    deadline = time.monotonic() + limit
    pause = WAIT_PAUSE_FIRST
    while True:
        try:
            iam.caller_identity(key_id, secret, profile=chain.name, region=chain.base.call_region, environ=environ)
            return
        except (StsRejectedError, StsUnavailableError) as error:
            not_yet = getattr(error, "aws_code", "") in ("InvalidClientTokenId", "SignatureDoesNotMatch")
            if not not_yet and not isinstance(error, StsUnavailableError):
                raise StsRejectedError(
                    f"{error}; the new key {key_id} is in the credentials file, and the old key {old} is still "
                    f"active: {_delete_advice(chain, user, old)} once the new key works"
                ) from None
            if time.monotonic() + pause >= deadline:
                raise StsUnavailableError(
                    f"profile '{chain.name}': STS did not accept the new key {key_id} within {limit:g} s "
                    f"(IAM is eventually consistent); it is in the credentials file, and the old key {old} is still "
                    f"active: once 'mfaenv {chain.base.name} --force' works, run 'mfaenv rotate {chain.name}' again "
                    f"to finish, or {_delete_advice(chain, user, old)}"
                ) from None
        time.sleep(pause * random.uniform(0.8, 1.2))
        pause = min(pause * 2, WAIT_PAUSE_MAX)


def _delete_advice(chain: Chain, user: str, key_id: str) -> str:
    return (f"delete the old key with 'mfaenv exec {chain.base.name} -- aws iam delete-access-key "
            f"--user-name {user} --access-key-id {key_id}'")


def _retire_old_key(client, chain: Chain, user: str, old: str, new: str, location: KeyLocation,
                    keep_old: bool) -> str:
    """Deactivate, then delete (unless kept), the old key; what became of it, in words."""
    written = f"the new key {new} is in {location.describe()} and works"
    try:
        client.deactivate_access_key(user, old)
    except MfaenvError as error:
        raise type(error)(
            f"{error}; {written}, but the old key {old} is still active: run 'mfaenv rotate {chain.name}' again "
            f"once IAM allows it, or deactivate and delete it in IAM, or {_delete_advice(chain, user, old)}"
        ) from None
    if keep_old:
        return "deactivated (kept: --keep-old)"
    try:
        client.delete_access_key(user, old)
    except MfaenvError as error:
        raise type(error)(
            f"{error}; {written}; the old key {old} is deactivated but not deleted: run 'mfaenv rotate {chain.name}' "
            f"again once IAM allows it, or delete it in IAM, or {_delete_advice(chain, user, old)}"
        ) from None
    retired(location, old)
    return "deleted"


def _forget_sessions_of(key_id: str, environ: Mapping[str, str]) -> int:
    """Remove every cached session built on this long-term key: its MFA sessions and the roles assumed from them."""
    from mfaenv.stores.cache import key_digest
    from mfaenv.stores.sessionstore import open_store

    cache = open_store(environ)
    if cache is None:
        return 0
    try:
        entries = cache.entries()
        doomed = [entry.key for entry in entries if entry.key.get("access_key_id") == key_id]
        digests = {key_digest(key) for key in doomed}
        grew = True
        while grew:  # roles assumed from those sessions, and roles assumed from those roles
            more = [entry.key for entry in entries if entry.key.get("parent") in digests and entry.key not in doomed]
            doomed += more
            digests |= {key_digest(key) for key in more}
            grew = bool(more)
        return cache.forget(doomed)
    finally:
        cache.close()


# -- rotate --check -----------------------------------------------------------------------------------------------


def check(profile: str, max_age: int, code: Optional[str] = None, code_command: Optional[str] = None,
          environ: Mapping[str, str] = os.environ, now: Optional[datetime] = None) -> "tuple[str, List[str]]":
    """(a table of the user's keys and their ages, the active keys older than ``max_age`` days, described).

    Signed with the MFA session when one is cached or a code can be had; with no terminal
    and no code command (cron, CI), with the long-term keys themselves.
    """
    from mfaenv.aws import iam

    if max_age < 0:
        raise UsageError("--max-age must be 0 or more days")
    code = _checked_code(code)
    store = ProfileStore(environ)
    chain = store.chain(profile)
    base = chain.base
    _check_endpoints(environ)
    user = _iam_user(chain, environ)
    try:
        session = _mfa_session(chain, environ, code, code_command)
        signer = (session.access_key_id, session.secret_access_key, session.session_token)
    except NoTerminalError:
        from mfaenv.sessions import long_term_secret

        signer = (base.access_key_id, long_term_secret(base), None)
    client = iam.Iam(*signer, profile=chain.name, region=base.call_region, environ=environ)
    now = now or datetime.now(timezone.utc)
    rows = [["USER", "ACCESS KEY", "STATUS", "CREATED", "AGE"]]
    too_old = []
    for key in client.list_access_keys(user):
        days = (now - key.created).days if key.created else None
        mark = " (this profile's)" if key.access_key_id == base.access_key_id else ""
        rows.append([user, key.access_key_id + mark, key.status, _iso(key.created) if key.created else "-",
                     age_text(days)])
        if key.status == "Active" and days is not None and days > max_age:
            too_old.append(f"{key.access_key_id} ({days} days)")
    from mfaenv.commands.get import _aligned

    return _aligned(rows), too_old


def age_text(days: Optional[int]) -> str:
    if days is None:
        return "-"
    return "today" if days <= 0 else f"{days} day{'' if days == 1 else 's'}"


def key_age(created: Optional[str], now: Optional[float] = None) -> str:
    """`mfaenv list`'s KEY AGE cell: from ``aws_access_key_created``, "-" when unknown."""
    from mfaenv.shells.expiry import parse_expiry

    if not created:
        return "-"
    try:
        epoch = parse_expiry(created)
    except ValueError:
        return "-"
    return age_text(int(((now if now is not None else time.time()) - epoch) // 86400))


def _iso(when: datetime) -> str:
    return format_expiry(int(when.timestamp()))

