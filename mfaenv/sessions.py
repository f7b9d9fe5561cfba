"""Where a session comes from: this shell, the session cache, the credentials file, or STS.

A profile chain becomes a small stack of providers, each with one method,
``retrieve()``, that returns a session and where it came from (as aws-vault's
providers do): the long-term keys at the bottom, GetSessionToken with the MFA
code on them, then AssumeRole signed with the session beneath for each role.
Caching is one wrapper around any provider (try the cache, else call the
wrapped provider and store what it fetched), so no provider knows the cache.

Reuse order for the target, first hit wins: this shell, the cache, the
persisted section, STS. Beneath the target, each session (the MFA session,
each role of a chain) is looked for in the cache before STS is asked.

This module imports no botocore: ``mfaenv.aws.sts`` is imported only when a
provider actually calls STS, so a cache hit costs no AWS library at all.
"""

from __future__ import annotations

import os

from mfaenv.shells import variables
from mfaenv.stores.cache import key_digest, sha256
from mfaenv.stores.sessionstore import open_store
from mfaenv.errors import ProfileError, UsageError
from mfaenv.profiles import IN_STORE, ROLE_MAX_DURATION as ROLE_MAX_SECONDS, configured_endpoint
from mfaenv.shells.variables import REUSE_MARGIN_SECONDS

# A cache hit of `credential-process` runs through here: no typing and no dataclasses at run time.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Dict, List, Mapping, Optional, Tuple

    from mfaenv.profiles import Chain, Profile, Role
    from mfaenv.shells.variables import Session

    Key = Dict[str, str]
    Retrieved = Tuple[Session, str]

#: Where a session came from, as `prepare` reports it.
SHELL, CACHE, FILE, STS = "shell", "cache", "file", "sts"
#: The cache key's "secret" for keys in the OS credential store (see _keys_and_device).
STORE_SECRET = "in-os-credential-store"
#: Length of the MFA session (GetSessionToken) when nothing else is asked for.
MFA_SESSION_SECONDS = 43200
#: Length of a role session when neither duration_seconds nor --duration says.
ROLE_SESSION_SECONDS = 3600
#: STS caps AssumeRole signed with temporary credentials (an MFA session, another role) at one hour.
CHAINED_ROLE_MAX_SECONDS = 3600


class Provider:
    """Gives a session, and where it came from (one of SHELL, CACHE, FILE, STS)."""

    #: What the session depends on: the cache's key. None: never cached (the shell, the file).
    key: Optional[Key] = None

    def retrieve(self) -> Retrieved:
        raise NotImplementedError


class MfaSession(Provider):
    """GetSessionToken with the MFA code, signed with the long-term keys."""

    def __init__(self, base: Profile, duration: int, code: Callable[[], str], environ: Mapping[str, str]):
        self.base, self.duration, self.code, self.environ = base, duration, code, environ
        self.key = mfa_key(base, environ)

    def retrieve(self) -> Retrieved:
        from mfaenv.aws import sts  # the only path that loads botocore

        return sts.get_session_token(
            profile=self.base.name,
            access_key_id=self.base.access_key_id,
            secret_access_key=long_term_secret(self.base),
            serial=self.base.serial,
            code=self.code(),
            duration=self.duration,
            region=self.base.call_region,
            environ=self.environ,
        ), STS


class AssumedRole(Provider):
    """AssumeRole signed with the session beneath (it carries the MFA context: no code is sent)."""

    def __init__(self, role: Role, parent: Provider, duration: int, environ: Mapping[str, str]):
        self.role, self.parent, self.duration, self.environ = role, parent, duration, environ
        self.key = role_key(role, parent.key)

    def retrieve(self) -> Retrieved:
        parent, _origin = self.parent.retrieve()
        from mfaenv.aws import sts

        return sts.assume_role(
            profile=self.role.profile,
            role_arn=self.role.arn,
            session_name=self.role.session_name,
            access_key_id=parent.access_key_id,
            secret_access_key=parent.secret_access_key,
            session_token=parent.session_token,
            external_id=self.role.external_id,
            duration=self.duration,
            region=self.role.call_region,
            environ=self.environ,
        ), STS


class RoleWithCode(Provider):
    """AssumeRole signed with the long-term keys, with the MFA device and code.

    For a role asked for longer than STS allows from a session (one hour): one
    code for this role alone, and no GetSessionToken, which would spend it twice.
    """

    def __init__(self, role: Role, base: Profile, duration: int, code: Callable[[], str], environ: Mapping[str, str]):
        self.role, self.base, self.duration, self.code, self.environ = role, base, duration, code, environ
        self.key = role_key(role, long_term_key(base, environ))

    def retrieve(self) -> Retrieved:
        from mfaenv.aws import sts

        return sts.assume_role(
            profile=self.role.profile,
            role_arn=self.role.arn,
            session_name=self.role.session_name,
            access_key_id=self.base.access_key_id,
            secret_access_key=long_term_secret(self.base),
            external_id=self.role.external_id,
            duration=self.duration,
            serial=self.base.serial,
            code=self.code(),
            region=self.role.call_region,
            environ=self.environ,
        ), STS


class Cached(Provider):
    """Any provider behind the session cache: a cached session first, else the provider's, stored."""

    def __init__(self, inner: Provider, cache, profile: str, reuse: bool, min_seconds_left: int):
        self.inner, self.cache, self.profile, self.reuse, self.min_seconds_left = (
            inner, cache, profile, reuse, min_seconds_left)

    @property
    def key(self) -> Optional[Key]:
        return self.inner.key

    def retrieve(self) -> Retrieved:
        if not self.reuse:  # a code given, or --force: fetched anew whatever is cached
            return self._fetch()
        session = self.cache.get(self.inner.key, self.min_seconds_left)
        if session is not None:
            return session, CACHE
        # Processes that need this session at the same moment fetch it once: the first
        # holds the key's lock while it fetches (and asks for the code), the others wait
        # for it and find the session here. A role holds its own lock while the session
        # beneath takes its parent's, so locks are always taken target first, down the chain.
        from mfaenv.terminal.codeinput import CODE_COMMAND_MARKER  # a miss: a fetch follows, which loads it anyway

        # Started by a code command: the lock may be held by the very mfaenv waiting for that
        # command, so this one takes it only if it is free, and otherwise goes on without it.
        wait = CODE_COMMAND_MARKER not in os.environ
        with self.cache.locked(self.inner.key, self.profile, wait):
            session = self.cache.get(self.inner.key, self.min_seconds_left)
            if session is not None:
                return session, CACHE
            return self._fetch()

    def _fetch(self) -> Retrieved:
        session, origin = self.inner.retrieve()
        if origin == STS:  # what came from the cache or the file is stored already
            self.cache.put(self.inner.key, session, self.profile)
        return session, origin


class Reused(Provider):
    """A session already at hand (this shell's, the persisted one), else the inner provider's.

    Reused while it has time left and still matches what the profile resolves to now:
    ``find`` gives the session and the digest recorded beside it (None: none recorded,
    as by an older mfaenv or another tool, which cannot be shown to match), and
    ``expected`` the digest of the chain (``session_digest``). Unlike the cache, the
    shell and the file hold a session under a profile's name alone: an edited
    role_arn, other long-term keys, another MFA device or another STS endpoint must
    not reuse it. ``find`` looks only when this provider is asked: a cache hit above
    never reads the file's.
    """

    def __init__(self, find: Callable[[], Optional[Tuple[Session, Optional[str]]]], expected: Callable[[], str],
                 origin: str, inner: Provider, min_seconds_left: int):
        self.find, self.expected, self.origin, self.inner, self.min_seconds_left = (
            find, expected, origin, inner, min_seconds_left)

    @property
    def key(self) -> Optional[Key]:
        return self.inner.key

    def retrieve(self) -> Retrieved:
        found = self.find()
        if found is not None:
            session, recorded = found
            if session.seconds_left() > self.min_seconds_left and recorded is not None and recorded == self.expected():
                return session, self.origin
        return self.inner.retrieve()


def obtain(
    chain: Chain,
    environ: Mapping[str, str],
    *,
    code: Optional[str] = None,
    ask_code: Optional[Callable[[], str]] = None,
    force: bool = False,
    duration: Optional[int] = None,
    min_seconds_left: int = REUSE_MARGIN_SECONDS,
    persisted: Callable[[], Optional[Tuple[Session, Optional[str]]]] = lambda: None,
) -> Retrieved:
    """The target's session and its origin: this shell, the cache, the credentials file, or STS.

    A code given, or ``force``, fetches every session anew (and stores it in the
    cache). ``ask_code`` is called only when STS needs a code that was not given,
    and at most once. ``duration`` (--duration) sets the target session's length:
    the MFA session's for a plain profile, the last role's for a role profile.
    ``persisted`` finds the session --persist left in the target's section, and the
    digest written beside it.
    """
    reuse = code is None and not force
    cache = open_store(environ)
    digests: List[str] = []

    def expected() -> str:  # only when a session in the shell or the file is to be judged
        if not digests:
            digests.append(session_digest(chain, environ))
        return digests[0]

    def wrap(provider: Provider, target: bool) -> Provider:
        if target and reuse:
            provider = Reused(persisted, expected, FILE, provider, min_seconds_left)
        if cache is not None:
            provider = Cached(provider, cache, chain.name, reuse, min_seconds_left)
        return provider

    provider = build(chain, environ, _code_source(code, ask_code), duration, wrap)
    if reuse:
        provider = Reused(lambda: _in_shell(chain.name, environ), expected, SHELL, provider, min_seconds_left)
    return provider.retrieve()


def build(
    chain: Chain,
    environ: Mapping[str, str],
    code: Callable[[], str],
    duration: Optional[int],
    wrap: Callable[[Provider, bool], Provider] = lambda provider, target: provider,
) -> Provider:
    """The chain's providers, bottom up; ``wrap(provider, is_target)`` puts each behind the cache."""
    if not chain.roles:
        return wrap(MfaSession(chain.base, duration or MFA_SESSION_SECONDS, code, environ), True)
    durations = role_durations(chain, duration)
    last = len(chain.roles) - 1
    first = chain.roles[0]
    if durations[0] > CHAINED_ROLE_MAX_SECONDS:
        provider = RoleWithCode(first, chain.base, durations[0], code, environ)
    else:
        mfa = wrap(MfaSession(chain.base, MFA_SESSION_SECONDS, code, environ), False)
        provider = AssumedRole(first, mfa, durations[0], environ)
    provider = wrap(provider, last == 0)
    for index, (role, seconds) in enumerate(zip(chain.roles[1:], durations[1:]), start=1):
        provider = wrap(AssumedRole(role, provider, seconds, environ), index == last)
    return provider


def role_durations(chain: Chain, duration: Optional[int]) -> List[int]:
    """Each role's session length: duration_seconds, else one hour; --duration for the target.

    Only the first role can last longer than an hour (assumed with the code, see
    RoleWithCode): the roles after it are assumed from a role's session, which STS
    caps at one hour, so a longer wish is refused here, before a code is spent.
    """
    durations = [role.duration or ROLE_SESSION_SECONDS for role in chain.roles]
    if duration is not None:
        durations[-1] = duration
    for index, (role, seconds) in enumerate(zip(chain.roles, durations)):
        if index and seconds > CHAINED_ROLE_MAX_SECONDS:
            from_option = duration is not None and index == len(durations) - 1
            error = UsageError if from_option else ProfileError
            raise error(
                f"profile '{role.profile}': {'--duration' if from_option else 'duration_seconds'} {seconds} is more "
                f"than STS allows for a role assumed from another role's session "
                f"({CHAINED_ROLE_MAX_SECONDS} s, role chaining); ask for {CHAINED_ROLE_MAX_SECONDS} or less"
            )
    return durations


def cache_keys(chain: Chain, environ: Mapping[str, str] = os.environ) -> List[Key]:
    """The cache key of every session the chain can use (the MFA session, each role), for `forget`.

    Read off the same stacks `obtain` builds, so the two cannot disagree: with the
    first role assumed through the MFA session and, as a role asked for more than an
    hour is, with the code. Forgetting a profile means its next use asks for a code.
    """
    keys: List[Key] = []
    through_mfa = [role._replace(duration=None) for role in chain.roles]
    variants = [chain._replace(roles=tuple(through_mfa))]
    if chain.roles:
        direct = through_mfa[0]._replace(duration=ROLE_MAX_SECONDS)
        variants.append(chain._replace(roles=(direct, *through_mfa[1:])))
    for variant in variants:
        provider: Optional[Provider] = build(variant, environ, no_code, None)
        stacked: List[Key] = []
        while provider is not None:
            stacked.insert(0, provider.key)
            provider = getattr(provider, "parent", None)
        keys += [key for key in stacked if key not in keys]
    return keys


# -- what a session depends on: the cache keys -------------------------------------------------------


def mfa_key(base: Profile, environ: Mapping[str, str]) -> Key:
    """An MFA session depends on the long-term keys, the MFA device and where STS answers."""
    return {"kind": "mfa", **_keys_and_device(base, environ)}


def long_term_key(base: Profile, environ: Mapping[str, str]) -> Key:
    """What a role assumed with the code (no MFA session) depends on, beneath the role itself."""
    return {"kind": "long-term", **_keys_and_device(base, environ)}


def role_key(role: Role, parent: Optional[Key]) -> Key:
    """A role session depends on the session that assumed it, the role, the session name and external id."""
    return {
        "kind": "role",
        "parent": key_digest(parent or {}),
        "role_arn": role.arn,
        "session_name": role.session_name,
        "external_id": role.external_id or "",
    }


def long_term_secret(base: Profile) -> str:
    """The secret access key that signs: from the files, or (only here, for a fetch) from the OS credential store."""
    if base.keys_in != IN_STORE:
        return base.secret_access_key
    from mfaenv.stores import keystore  # loads keyring: never on a cache hit

    return keystore.secret(base.source, base.access_key_id)


def _keys_and_device(base: Profile, environ: Mapping[str, str]) -> Key:
    return {
        "access_key_id": base.access_key_id,
        # A secret edited under the same key id must not reuse a session either; a digest, never the secret.
        # Keys in the OS credential store are named by their key id alone: the store is opened by a
        # fetch only, and `mfaenv keys` checked the secret with STS before storing it under that id.
        "secret": (STORE_SECRET if base.keys_in == IN_STORE
                   else sha256(b"mfaenv long-term secret\0" + base.secret_access_key.encode()).hexdigest()),
        "serial": base.serial,
        "endpoint": sts_endpoint(base.call_region, environ),
    }


def sts_endpoint(region: str, environ: Mapping[str, str]) -> str:
    """Where STS answers, as far as a session depends on it.

    A configured endpoint (an emulator, a VPC endpoint) by a digest of its URL, which
    may hold a password that the cache entry (it keeps its key) must not; otherwise the
    partition, because a session from any regional endpoint of AWS works in all
    regions of that partition (the region of the call must not split the cache).
    """
    configured = configured_endpoint(environ)
    if configured is not None:
        return "url-sha256:" + sha256(configured[1].encode()).hexdigest()
    from mfaenv.aws.endpoints import partition  # botocore's partition data, read without botocore

    return partition(region).id


# -- the pieces around the stack ------------------------------------------------------------------------


def session_in_shell(profile: str, environ: Mapping[str, str]) -> Optional[Session]:
    """The session an earlier export of this profile left in this shell, if any."""
    if environ.get("MFAENV_PROFILE") != profile:
        return None
    return variables.session_from_environment(environ)


def _in_shell(profile: str, environ: Mapping[str, str]) -> Optional[Tuple[Session, Optional[str]]]:
    session = session_in_shell(profile, environ)
    return None if session is None else (session, environ.get(variables.DIGEST_VARIABLE))


def session_digest(chain: Chain, environ: Mapping[str, str]) -> str:
    """What a session for the chain depends on, as one digest, recorded beside a session in the
    shell (MFAENV_SESSION_DIGEST) and in the file (mfaenv_session_digest), as the cache's key is.

    The target's cache key with every role taken through the MFA session: the long-term key
    id (and a digest of its secret), the MFA device, the STS endpoint, and each role's ARN,
    session name and external id; not the durations, nor whether the first role was assumed
    with the code, which do not change whose credentials the session holds. Nothing secret:
    a digest of digests, as the cache's file names are.
    """
    through_mfa = chain._replace(roles=tuple(role._replace(duration=None) for role in chain.roles))
    return key_digest(build(through_mfa, environ, no_code, None).key)


def _code_source(code: Optional[str], ask: Optional[Callable[[], str]]) -> Callable[[], str]:
    """The code given, else asked for once, when the first provider needs it."""
    asked: List[str] = []

    def source() -> str:
        if code is not None:
            return code
        if not asked:
            asked.append((ask or no_code)())
        return asked[0]

    return source


def no_code() -> str:
    raise AssertionError("an MFA code was needed where none can be asked for")
