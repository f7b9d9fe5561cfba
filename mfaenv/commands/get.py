"""What each command does, as plain functions that return the text to print.

The straight line of `get`: arguments -> profile -> (reused or fetched) session
-> variables -> shell text. cli.py only parses arguments and prints.
"""

from __future__ import annotations

import os
from collections import namedtuple

from mfaenv.shells import variables
from mfaenv.shells.expiry import format_expiry
from mfaenv.terminal.display import shown
from mfaenv.errors import MfaenvError, ProfileError, UsageError
from mfaenv.profiles import ROLE_MAX_DURATION, ROLE_MIN_DURATION, Chain, ProfileStore, credentials_path, read_sections

# `prepare` serves a cached `credential-process` at every AWS CLI or SDK start: this module
# loads no typing or dataclasses (inspect) at run time, and shells only where text is rendered.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Dict, List, Mapping, Optional, Tuple

    from mfaenv.shells.variables import Session

MIN_DURATION, MAX_DURATION = 900, 129600


class GetRequest(namedtuple("GetRequest", [
    "profile",
    "code",
    "shell",
    "persist",
    "duration",  # None: 12 h for an MFA session, duration_seconds (else 1 h) for a role
    "source",
    "serial",
    "force",
    "code_command",
    "region",  # --region: exported and used for the calls, instead of the profiles' (checked by the CLI)
], defaults=(None, None, False, None, None, None, False, None, None))):
    """What `get`, `exec` and `credential-process` were asked for: the profile and the options."""

    __slots__ = ()


class Prepared(namedtuple("Prepared", [
    "chain",
    "session",
    "origin",  # sessions.SHELL, CACHE, FILE or STS
    "variables",  # what to export
    "uncached",  # why the session was fetched and not cached ("": it was, or it was not fetched)
], defaults=("",))):
    """A request carried through: the resolved target, its session, where it came from, what to export."""

    __slots__ = ()


def get(request: GetRequest, environ: Mapping[str, str] = os.environ) -> "Tuple[str, Prepared]":
    """Shell text that exports a session for the profile, and what it was made of; raises MfaenvError."""
    from mfaenv.shells import dialects

    dialect = dialects.detect_dialect(request.shell)  # an unknown shell is refused before any network call
    prepared = prepare(request, environ)
    return dialect.render(prepared.variables), prepared


def prepare(
    request: GetRequest,
    environ: Mapping[str, str] = os.environ,
    min_seconds_left: int = variables.REUSE_MARGIN_SECONDS,
) -> Prepared:
    """The one line of `get`, `exec` and `credential-process`: arguments -> chain -> session -> variables.

    Everything that can be checked locally is checked before any network call.
    """
    from mfaenv import sessions

    code = None
    if request.code is not None:
        from mfaenv.terminal import codeinput  # only with a code to check or to ask for: not on a cache hit

        code = codeinput.check_code(request.code)
    store = ProfileStore(environ)
    chain = store.chain(request.profile, source=request.source, serial=request.serial)
    if request.region:
        chain = with_region(chain, request.region)
    if chain.base.keys_warning:  # keys in the file and in the store that disagree: the file's are used
        import sys

        print(f"mfaenv: warning: {shown(chain.base.keys_warning)}", file=sys.stderr)
    _check_duration(request.duration, chain)
    if request.persist:
        from mfaenv.stores import persist  # only here: it loads the file editor and the lock

        persist.check_writable(store.credentials_path, chain.name, store.config_path)

    from mfaenv.aws.endpoints import with_profile_settings

    # The STS calls (only they) see the profiles' use_fips_endpoint / use_dualstack_endpoint.
    call_environ = with_profile_settings(environ, _names_of(chain), store.lookup)

    def ask_code() -> str:
        from mfaenv.aws import sts  # its endpoint check loads no botocore

        from mfaenv.terminal import codeinput

        # Named before a code is asked for, and wasted on it.
        sts.check_endpoint(call_environ, [chain.base.call_region, *(role.call_region for role in chain.roles)], chain.name)
        return codeinput.obtain_code(chain.name, chain.base.serial, request.code_command or chain.code_command)

    session, origin = sessions.obtain(
        chain, call_environ, code=code, ask_code=ask_code, force=request.force,
        duration=request.duration, min_seconds_left=min_seconds_left, persisted=lambda: store.persisted(chain),
    )
    if request.persist:
        # Also a reused session: `mfaenv stage --persist` must leave [stage] holding it
        # (no write happens when the file already does).
        persist.write_session(store.credentials_path, chain.name, persisted_values(session))
    exports = variables.session_exports(session, chain.name, chain.account, chain.region, environ)
    from mfaenv.stores import sessionstore

    return Prepared(chain, session, origin, exports, sessionstore.uncached if origin == sessions.STS else "")


def with_region(chain: Chain, region: str) -> Chain:
    """The chain with every step's region (exported and of the call) replaced: `--region`."""
    return chain._replace(
        base=chain.base._replace(region=region, call_region=region),
        roles=tuple(role._replace(region=region, call_region=region) for role in chain.roles),
    )


def _names_of(chain: Chain) -> "List[str]":
    """The chain's profiles, the target first and then those beneath it (the order a region is found in)."""
    names = [chain.name, *(role.profile for role in reversed(chain.roles)), chain.base.name, chain.base.source]
    return list(dict.fromkeys(name for name in names if name))


def _check_duration(duration: Optional[int], chain: Chain) -> None:
    if duration is None:
        return
    if chain.roles:
        if not ROLE_MIN_DURATION <= duration <= ROLE_MAX_DURATION:
            raise UsageError(
                f"--duration for role profile '{chain.name}' must be between {ROLE_MIN_DURATION} and "
                f"{ROLE_MAX_DURATION} seconds (STS's limits for a role)"
            )
    elif not MIN_DURATION <= duration <= MAX_DURATION:
        raise UsageError(f"--duration must be between {MIN_DURATION} and {MAX_DURATION} seconds")


def persisted_values(session: Session) -> dict:
    """The keys --persist writes, in this order, into the target's section."""
    return {
        "aws_access_key_id": session.access_key_id,
        "aws_secret_access_key": session.secret_access_key,
        "aws_session_token": session.session_token,
        "expiration": format_expiry(session.expires),
    }


def unset(shell: Optional[str], environ: Mapping[str, str] = os.environ) -> str:
    from mfaenv.shells import dialects

    return dialects.detect_dialect(shell).render(variables.unset_all(environ))


class Column(namedtuple("Column", ["header", "cell"])):
    """One column of `mfaenv list`: its header and ``cell``, the function of a usable profile's Chain to its cell."""

    __slots__ = ()


def list_columns(store: ProfileStore, environ: Mapping[str, str]) -> List[Column]:
    """The columns of `mfaenv list`, left to right; a column may close over state opened once per run."""
    cached = _cached_sessions(environ)
    return [
        Column("PROFILE", lambda chain: chain.name),
        Column("ROLE", lambda chain: chain.target_role.arn if chain.target_role else "-"),
        Column("SOURCE", lambda chain: chain.target_role.source if chain.target_role else chain.base.source),
        Column("MFA DEVICE", lambda chain: chain.base.serial),
        Column("PERSISTED SESSION", lambda chain: session_expiry(store.persisted(chain))),
        Column("CACHED SESSION", cached),
        Column("KEY AGE", lambda chain: _key_age(store, chain)),
    ]


def _key_age(store: ProfileStore, chain: Chain) -> str:
    """The KEY AGE cell: from ``aws_access_key_created``, which `mfaenv rotate` writes beside the keys; else "-"."""
    from mfaenv.commands.rotate import key_age

    return key_age(store.lookup(chain.base.source, "aws_access_key_created"))


def _cached_sessions(environ: Mapping[str, str]) -> Callable[[Chain], str]:
    """The CACHED SESSION cell: the expiry of the session the profile's next use would take from the cache."""
    from mfaenv import sessions
    from mfaenv.stores.cache import key_digest
    from mfaenv.stores.sessionstore import open_store

    cache = open_store(environ)
    found = {key_digest(entry.key): entry.session for entry in cache.entries()} if cache is not None else {}

    def cell(chain: Chain) -> str:
        try:
            key = sessions.build(chain, environ, sessions.no_code, None).key
        except MfaenvError:  # a chain STS would refuse (durations): never cached either
            return "-"
        return session_expiry(found.get(key_digest(key)))

    return cell


def session_expiry(session: Optional[Session]) -> str:
    """``2026-11-24T09:41:27Z (2h30m left)``, ``... (expired)``, or ``-`` for no session."""
    from mfaenv.shells.expiry import time_left

    if session is None:
        return "-"
    left = session.seconds_left()
    when = format_expiry(session.expires)
    return f"{when} ({time_left(left)} left)" if left > 0 else f"{when} (expired)"


def list_profiles(environ: Mapping[str, str] = os.environ) -> str:
    """Every profile: a table of the usable ones, then each unusable one with what it lacks.

    Empty when the files name no profile at all.
    """
    store = ProfileStore(environ)
    surveyed = store.survey()
    usable = [chain for _name, chain in surveyed if isinstance(chain, Chain)]
    columns = list_columns(store, environ)
    rows = [[column.header for column in columns]]
    rows += [[shown(column.cell(chain)) for column in columns] for chain in usable]
    text = _aligned(rows) if usable else ""
    # A profile that only holds another's long-term keys is said to be that: it is no target itself.
    sources: Dict[str, List[str]] = {}
    for chain in usable:
        sources.setdefault(chain.base.source, []).append(chain.name)
    # A profile whose credential_process runs mfaenv is what the tools read: said as such.
    served = {name: mfaenv_target(store.lookup(name, "credential_process") or "")
              for name, error in surveyed if isinstance(error, ProfileError)}
    consumers = [[shown(name), shown(f"credential_process -> {target}")] for name, target in served.items() if target]
    unusable = [
        [shown(name), shown(f"long-term keys of {', '.join(sources[name])} (no MFA device of its own)"
                            if name in sources else error.reason)]
        for name, error in surveyed if isinstance(error, ProfileError) and not served[name]
    ]
    if consumers:
        text += ("\n" if text else "") + "For other tools (mfaenv serves them):\n" + _aligned(consumers, indent="  ")
    if unusable:
        text += ("\n" if text else "") + "Not usable:\n" + _aligned(unusable, indent="  ")
    return text


def mfaenv_target(command: str) -> Optional[str]:
    """The profile a credential_process command line asks mfaenv for, else None.

    ``mfaenv credential-process stage``, ``/path/to/mfaenv credential-process --profile stage``,
    ``python3 -m mfaenv credential-process -p stage``.
    """
    import shlex

    from mfaenv.cli import profile_argument

    try:
        words = shlex.split(command)
    except ValueError:
        return None
    if "credential-process" not in words:
        return None
    at = words.index("credential-process")
    program = words[:at]
    runs_mfaenv = (len(program) == 1 and os.path.basename(program[0]) in ("mfaenv", "mfaenv.exe")) or (
        len(program) == 3 and program[1:] == ["-m", "mfaenv"])
    return profile_argument(words[at + 1:]) if runs_mfaenv else None


def missing_files(environ: Mapping[str, str] = os.environ) -> List[str]:
    """``AWS_SHARED_CREDENTIALS_FILE=/x (does not exist)`` for each file a variable names that is not there."""
    from mfaenv.profiles import config_file, credentials_file

    named = (("AWS_SHARED_CREDENTIALS_FILE", credentials_file(environ)), ("AWS_CONFIG_FILE", config_file(environ)))
    return [f"{variable} names {path}, which does not exist" for variable, path in named
            if environ.get(variable) and not os.path.exists(path)]


def usable_profiles(environ: Mapping[str, str] = os.environ) -> str:
    """What `mfaenv` alone shows at a terminal: the profiles it can use, and how."""
    from mfaenv.profiles import config_file, credentials_file

    store = ProfileStore(environ)
    usable = [chain for _name, chain in store.survey() if isinstance(chain, Chain)]
    if not usable:
        return (f"No usable profile in {credentials_file(environ)} or {config_file(environ)}; "
                f"'mfaenv list' says why, 'mfaenv --help' shows every command.\n")
    rows = [[shown(chain.name), shown(f"role {chain.target_role.arn}" if chain.target_role else chain.base.serial)]
            for chain in usable]
    return ("Usable profiles (mfaenv PROFILE [CODE]; every command: mfaenv --help):\n"
            + _aligned(rows, indent="  "))


def _aligned(rows: List[List[str]], indent: str = "") -> str:
    """Rows of cells in columns two spaces apart; the last column is not padded."""
    widths = [max(len(row[index]) for row in rows) for index in range(len(rows[0]) - 1)]
    return "".join(
        indent + "".join(cell.ljust(width) + "  " for cell, width in zip(row, widths)) + row[-1] + "\n" for row in rows
    )


def profile_names(environ: Mapping[str, str] = os.environ) -> str:
    """One profile name a line, for shell completion, usable targets first (no boto3, no errors)."""
    try:
        surveyed = ProfileStore(environ).survey()
    except MfaenvError:
        return ""
    ordered = [name for name, chain in surveyed if isinstance(chain, Chain)]
    ordered += [name for name, chain in surveyed if not isinstance(chain, Chain)]
    return "".join(name + "\n" for name in ordered if "\n" not in name)


class Forgotten(namedtuple("Forgotten", [
    "folder",  # the cache folder; None: no cache
    "count",  # how many sessions it removed
    "shell_text",  # unset statements when this shell held a forgotten session, else ""
    "persisted_file",  # the credentials file (a Path), when --persisted asked to look there; else None
    "persisted_removed",  # whether a session --persist wrote was removed from it
], defaults=(None, False))):
    """What `forget` did."""

    __slots__ = ()


def forget(
    profile: Optional[str], shell: Optional[str] = None, environ: Mapping[str, str] = os.environ,
    persisted: bool = False,
) -> Forgotten:
    """Remove cached sessions: all, or every one PROFILE would use (for a role, also the MFA session beneath).

    Besides the sessions its chain resolves to now, PROFILE's entries include those
    cached under its name before its keys or MFA device were edited, and they are
    all that is left of a profile since removed from the files. With ``persisted``,
    also the session --persist wrote into [PROFILE] of the credentials file
    (first, so that a refusal leaves everything as it was).
    """
    from mfaenv.shells import dialects
    from mfaenv.stores.sessionstore import open_store

    dialect = dialects.detect_dialect(shell)  # an unknown shell is refused before anything is removed
    persisted_file, removed_key_id = None, None
    if persisted:
        if profile is None:
            raise UsageError("--persisted needs a PROFILE: the section of the credentials file to remove a session from")
        persisted_file, removed_key_id = _forget_persisted(profile, environ)
    cache = open_store(environ)
    keys, unknown = ([], None) if profile is None else _cache_keys(profile, environ)
    if removed_key_id is not None:
        unknown = None  # the profile no longer resolves, but its persisted session was there to remove
    if cache is None:
        if unknown is not None:
            raise unknown
        in_shell = bool(removed_key_id) and environ.get("AWS_ACCESS_KEY_ID") == removed_key_id
        return Forgotten(None, 0, dialect.render(variables.unset_all(environ)) if in_shell else "",
                         persisted_file, removed_key_id is not None)
    with cache:
        entries = cache.entries()
        if profile is None:
            chosen = entries
            count = cache.clear()
        else:
            chosen = [entry for entry in entries if entry.key in keys or entry.profile == profile]
            if unknown is not None and not chosen:
                raise unknown
            count = cache.forget([*keys, *(entry.key for entry in chosen if entry.key not in keys)])
    held = environ.get("AWS_ACCESS_KEY_ID")
    in_shell = bool(held) and (held == removed_key_id or any(entry.session.access_key_id == held for entry in chosen))
    return Forgotten(cache.path, count, dialect.render(variables.unset_all(environ)) if in_shell else "",
                     persisted_file, removed_key_id is not None)


def _forget_persisted(profile: str, environ: Mapping[str, str]):
    """(the credentials file, the access key id of the session removed from [profile] or None)."""
    from mfaenv.stores import persist

    path = credentials_path(environ)
    key_id = read_sections(path).get(profile, {}).get("aws_access_key_id")
    return path, (key_id or "") if persist.remove_session(path, profile) else None


def _cache_keys(profile: str, environ: Mapping[str, str]):
    """(the keys of every session PROFILE would use, None) or ([], the error when it does not resolve)."""
    from mfaenv import sessions

    try:
        chain = ProfileStore(environ).chain(profile)
    except MfaenvError as error:
        return [], error
    return sessions.cache_keys(chain, environ), None
