"""What each command does, as plain functions that return the text to print.

The straight line of `get`: arguments -> profile -> (reused or fetched) session
-> variables -> shell text. cli.py only parses arguments and prints.
"""

from __future__ import annotations

import os
import sys
from collections import namedtuple

from mfaenv.shells import variables
from mfaenv.shells.expiry import format_expiry
from mfaenv.terminal.display import shown
from mfaenv.errors import MfaenvError, NoSessionError, ProfileError, UsageError
from mfaenv.profiles import DIGEST_KEY, ROLE_MAX_DURATION, ROLE_MIN_DURATION, Chain, ProfileStore, credentials_path, read_sections

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
    ask: bool = True,
) -> Prepared:
    """The one line of `get`, `exec` and `credential-process`: arguments -> chain -> session -> variables.

    Everything that can be checked locally is checked before any network call.
    With ``ask`` false no code is ever asked for or run (RenewalNotPossible instead).
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
        if not ask:
            raise RenewalNotPossible(f"profile '{chain.name}': a new session needs an MFA code")
        from mfaenv.aws import sts  # its endpoint check loads no botocore

        from mfaenv.terminal import codeinput

        # Named before a code is asked for, and wasted on it.
        sts.check_endpoint(call_environ, [chain.base.call_region, *(role.call_region for role in chain.roles)], chain.name)
        return codeinput.obtain_code(chain.name, chain.base.serial, request.code_command or chain.code_command)

    session, origin = sessions.obtain(
        chain, call_environ, code=code, ask_code=ask_code, force=request.force,
        duration=request.duration, min_seconds_left=min_seconds_left, persisted=lambda: store.persisted_with_digest(chain),
    )
    # What the session depends on, recorded beside it in the shell and the file: a later run
    # reuses it from there only while the profile still resolves to the same (sessions.Reused).
    digest = sessions.session_digest(chain, call_environ)
    if request.persist:
        # Also a reused session: `mfaenv stage --persist` must leave [stage] holding it
        # (no write happens when the file already does).
        persist.write_session(store.credentials_path, chain.name, persisted_values(session, digest))
    exports = variables.session_exports(session, chain.name, chain.account, chain.region, environ, digest)
    from mfaenv.stores import sessionstore

    return Prepared(chain, session, origin, exports, sessionstore.uncached if origin == sessions.STS else "")


def with_region(chain: Chain, region: str) -> Chain:
    """The chain with every step's region (exported and of the call) replaced: `--region`."""
    return chain._replace(
        base=chain.base._replace(region=region, call_region=region),
        roles=tuple(role._replace(region=region, call_region=region) for role in chain.roles),
    )


class RenewalNotPossible(NoSessionError):
    """`renew`: no session can be had without a code (nothing cached that would do)."""


class _RenewalTimeout(BaseException):
    """`renew` ran out of time; a BaseException, so that no library's `except Exception` takes it."""


#: The prompt hooks renew a session with this much time left, or less.
RENEW_WITHIN_SECONDS = 300
#: What a renewed session must have left: more than the window, so the next prompt does not renew again.
RENEWED_MIN_SECONDS = RENEW_WITHIN_SECONDS + 60
#: How long a renewal may take before the prompt is drawn without it.
RENEW_DEADLINE_SECONDS = 5


def renew(shell: str, environ: Mapping[str, str] = os.environ) -> str:
    """`mfaenv renew SHELL`, run by the prompt hooks: shell text that renews this shell's session, or ''.

    Due when the session of MFAENV_PROFILE has RENEW_WITHIN_SECONDS or less left (or
    expired). Renewed only where no code is needed (a cached session of the profile,
    a cached MFA session beneath a role, the persisted session): never a code prompt,
    never a code command, never the terminal; within RENEW_DEADLINE_SECONDS. Returns
    '' when not due, off (MFAENV_RENEW=off) or not possible; prints the one line
    about a renewal on stderr (unless MFAENV_QUIET).
    """
    import signal
    import time

    from mfaenv.shells import dialects
    from mfaenv.terminal import feedback

    dialect = dialects.detect_dialect(shell)
    profile = environ.get("MFAENV_PROFILE", "")
    expires = environ.get("MFAENV_EXPIRES", "")
    if environ.get("MFAENV_RENEW", "").lower() == "off" or not profile or not (expires.isdigit() and len(expires) <= 11):
        return ""
    if int(expires) - time.time() > RENEW_WITHIN_SECONDS:
        return ""

    def out_of_time(_signum, _frame):
        raise _RenewalTimeout()

    previous = signal.signal(signal.SIGALRM, out_of_time)
    signal.setitimer(signal.ITIMER_REAL, RENEW_DEADLINE_SECONDS)
    try:
        prepared = prepare(GetRequest(profile), environ, min_seconds_left=RENEWED_MIN_SECONDS, ask=False)
        signal.setitimer(signal.ITIMER_REAL, 0)
    except (MfaenvError, _RenewalTimeout):
        return ""
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    if prepared.session.expires <= int(expires):
        return ""
    if not feedback.quiet(environ):
        line = feedback.success_line(
            profile, prepared.chain.target_role.arn if prepared.chain.target_role else None, prepared.chain.account,
            prepared.session.expires, prepared.origin, uncached=prepared.uncached,
        )
        print("mfaenv: renewed at the prompt: " + line[len("mfaenv: "):], file=sys.stderr)
    return dialect.render(prepared.variables)


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


def persisted_values(session: Session, digest: str) -> dict:
    """The keys --persist writes, in this order, into the target's section."""
    return {
        "aws_access_key_id": session.access_key_id,
        "aws_secret_access_key": session.secret_access_key,
        "aws_session_token": session.session_token,
        "expiration": format_expiry(session.expires),
        DIGEST_KEY: digest,
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
    "refused",  # why mfaenv does not use the folder it cleaned (open to others), else None
    "dependants",  # how many of ``count`` were assumed through a forgotten session (forget PROFILE)
], defaults=(None, False, None, 0))):
    """What `forget` did."""

    __slots__ = ()


def forget(
    profile: Optional[str], shell: Optional[str] = None, environ: Mapping[str, str] = os.environ,
    persisted: bool = False,
) -> Forgotten:
    """Remove cached sessions: all, or every one PROFILE would use (for a role, also the MFA session beneath).

    Besides the sessions its chain resolves to now, PROFILE's entries include those
    cached under its name before its keys or MFA device were edited, and they are
    all that is left of a profile since removed from the files. Every cached role
    session assumed through a forgotten session goes too, down the chain: it would
    otherwise outlive the session it was built on. With ``persisted``, also the
    session --persist wrote into [PROFILE] of the credentials file (first, so that
    a refusal leaves everything as it was). A cache folder too open to be used is
    cleaned all the same (``Forgotten.refused`` says why it is not used).
    """
    from mfaenv.shells import dialects
    from mfaenv.stores.sessionstore import open_store

    dialect = dialects.detect_dialect(shell)  # an unknown shell is refused before anything is removed
    persisted_file, removed_key_id = None, None
    if persisted:
        if profile is None:
            raise UsageError("--persisted needs a PROFILE: the section of the credentials file to remove a session from")
        persisted_file, removed_key_id = _forget_persisted(profile, environ)
    cache = open_store(environ, to_clean=True)
    keys, unknown = ([], None) if profile is None else _cache_keys(profile, environ)
    if removed_key_id is not None:
        unknown = None  # the profile no longer resolves, but its persisted session was there to remove
    if cache is None:
        if unknown is not None:
            raise unknown
        in_shell = bool(removed_key_id) and environ.get("AWS_ACCESS_KEY_ID") == removed_key_id
        return Forgotten(None, 0, dialect.render(variables.unset_all(environ)) if in_shell else "",
                         persisted_file, removed_key_id is not None)
    dependants = 0
    with cache:
        entries = cache.entries()
        if profile is None:
            chosen = entries
            count = cache.clear()
        else:
            chosen = [entry for entry in entries if entry.key in keys or entry.profile == profile]
            if unknown is not None and not chosen:
                raise unknown
            built_on = _assumed_through([*keys, *(entry.key for entry in chosen)], entries)
            chosen += [entry for entry in built_on if entry not in chosen]
            forgotten = [*keys, *(entry.key for entry in chosen if entry.key not in keys)]
            count = cache.forget(forgotten)
            dependants = min(count, sum(entry.key not in keys and entry.profile != profile for entry in built_on))
    held = environ.get("AWS_ACCESS_KEY_ID")
    in_shell = bool(held) and (held == removed_key_id or any(entry.session.access_key_id == held for entry in chosen))
    return Forgotten(cache.path, count, dialect.render(variables.unset_all(environ)) if in_shell else "",
                     persisted_file, removed_key_id is not None, cache.refused, dependants)


def _assumed_through(keys, entries):
    """The entries of role sessions assumed through a session of these keys, or through one of those, and so on."""
    from mfaenv.stores.cache import key_digest

    parents = {key_digest(key) for key in keys}
    found = []
    grew = True
    while grew:
        grew = False
        for entry in entries:
            if entry not in found and entry.key.get("parent") in parents:
                found.append(entry)
                parents.add(key_digest(entry.key))
                grew = True
    return found


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
