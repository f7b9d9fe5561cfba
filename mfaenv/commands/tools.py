"""Sessions for tools that are not a shell: `mfaenv exec` and `mfaenv credential-process`.

Both start where `get` does (``get_command.prepare``: profile chain -> session ->
variables) and end elsewhere: `exec` turns the variables into a program's
environment and becomes that program; `credential-process` prints them as the
JSON that botocore's ``ProcessProvider`` and the other SDKs read.
"""

from __future__ import annotations

import os
import sys
from mfaenv.commands import get as get_command
from mfaenv.shells import variables
from mfaenv.shells.expiry import format_expiry
from mfaenv.errors import CommandNotExecutableError, CommandNotFoundError, NoTerminalError

TYPE_CHECKING = False  # `credential-process` runs at every SDK start: no typing at run time
if TYPE_CHECKING:
    from typing import Dict, Mapping, NoReturn, Optional, Sequence

#: botocore refreshes process credentials inside the last 15 minutes (its advisory
#: window; the JavaScript SDK's is 5): a session handed out with less would make every
#: credential access re-run `mfaenv credential-process`, so it must have more.
CREDENTIAL_PROCESS_MIN_SECONDS = 15 * 60
#: Removed from exec's child: the child's credentials are the ones in its environment.
#: With AWS_PROFILE still set the JavaScript SDK skips environment keys for that
#: profile's own (and warns); botocore and the AWS CLI take the environment keys.
#: Without it, every SDK uses the session (docs/tools.md).
PROFILE_VARIABLES = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE")


def child_environment(environ: Mapping[str, str], exports: variables.Variables) -> Dict[str, str]:
    """``environ`` as an export would leave it (``None`` removes), without the profile variables."""
    # MFAENV_INTEGRATION is the wrapper's word to this one call (for `doctor`), never the command's.
    child = {name: value for name, value in environ.items() if name not in PROFILE_VARIABLES + ("MFAENV_INTEGRATION",)}
    for name, value in exports.items():
        if value is None:
            child.pop(name, None)
        else:
            child[name] = value
    return child


def exec_command(request: get_command.GetRequest, command: Sequence[str], environ: Mapping[str, str] = os.environ) -> NoReturn:
    """Replace this process with ``command``, the profile's session in its environment.

    Without a command, the user's shell ($SHELL, else /bin/sh) starts, as aws-vault
    does; the line on stderr says so, and which session it replaces when the shell
    it is started from already holds one (`mfaenv exec` inside `mfaenv exec`).
    """
    shell = not command
    if shell:
        command = [environ.get("SHELL") or "/bin/sh"]
    # What execve would refuse fails before any code is asked for or sent: a missing
    # command (127), one that cannot be run (126: no execute bit, a directory).
    try:
        _check_runnable(command[0], environ)
    except CommandNotFoundError:
        if shell and environ.get("SHELL"):
            raise CommandNotFoundError(f"exec: shell ($SHELL) not found: {command[0]}") from None
        raise
    prepared = get_command.prepare(request, environ)
    if shell:
        _report_shell(prepared, command[0], environ)
    run_in_place(command, child_environment(environ, prepared.variables))


def _report_shell(prepared: get_command.Prepared, shell: str, environ: Mapping[str, str]) -> None:
    """``mfaenv: admin, ...; fetched; starting /bin/bash with it, replacing the session of 'stage' until it exits ...``."""
    from mfaenv.shells.expiry import expires_from_environment
    from mfaenv.terminal import feedback
    from mfaenv.terminal.display import shown

    if feedback.quiet(environ):
        return
    chain = prepared.chain
    role = chain.target_role
    line = feedback.success_line(chain.name, role.arn if role else None, chain.account, prepared.session.expires,
                                 prepared.origin)
    replaced = ""
    if expires_from_environment(environ) is not None:
        replaced = f", replacing the session of '{environ.get('MFAENV_PROFILE', '')}' until it exits"
    print(line + shown(f"; starting {shell} with it{replaced} ('exit' leaves it)"), file=sys.stderr)


def _check_runnable(program: str, environ: Mapping[str, str]) -> None:
    """Raise what ``run_in_place`` would raise for ``program``, found as execvpe finds it.

    A path is taken as given. A bare name is searched along PATH as execvpe does: the
    first runnable file wins, even after one that is not runnable; with none, a file
    that is there but cannot be run gives "permission denied", as execvpe's EACCES.
    """
    import stat

    if os.sep in program or (os.altsep and os.altsep in program):
        try:
            mode = os.stat(program).st_mode
        except (FileNotFoundError, NotADirectoryError):
            raise CommandNotFoundError(f"exec: command not found: {program}") from None
        except OSError as error:  # a folder on the way that cannot be searched (EACCES), a loop
            raise CommandNotExecutableError(f"exec: cannot run {program}: {error.strerror}") from None
        if stat.S_ISDIR(mode):
            raise CommandNotExecutableError(f"exec: cannot run {program}: it is a directory")
        if not os.access(program, os.X_OK):
            raise CommandNotExecutableError(f"exec: permission denied: {program} (not executable)")
        return
    import shutil

    path = environ.get("PATH", os.defpath)
    if shutil.which(program, mode=os.X_OK, path=path) is not None:
        return
    if shutil.which(program, mode=os.F_OK, path=path) is not None:
        raise CommandNotExecutableError(f"exec: permission denied: {program} (not executable)")
    raise CommandNotFoundError(f"exec: command not found: {program}")


def run_in_place(command: Sequence[str], env: Mapping[str, str]) -> NoReturn:
    """os.execvpe: same pid, so the command's exit status, signals and terminal are its own."""
    import signal  # only here: credential-process (every SDK start) does not need it

    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    # Python ignores SIGPIPE (and SIGXFSZ) and an ignored signal stays ignored across exec:
    # `mfaenv exec stage -- yes | head -1` must end as plain `yes | head -1` does.
    for name in ("SIGPIPE", "SIGXFSZ"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_DFL)
    program = command[0]
    try:
        os.execvpe(program, list(command), dict(env))
    except FileNotFoundError:
        raise CommandNotFoundError(f"exec: command not found: {program}") from None
    except PermissionError:
        raise CommandNotExecutableError(f"exec: permission denied: {program}") from None
    except OSError as error:
        raise CommandNotExecutableError(f"exec: cannot run {program}: {error.strerror}") from None


def credential_process(profile: str, environ: Mapping[str, str] = os.environ) -> str:
    """The `credential_process` JSON of the profile's session, with more than 15 minutes left."""
    request = get_command.GetRequest(profile)
    try:
        prepared = get_command.prepare(request, environ, min_seconds_left=CREDENTIAL_PROCESS_MIN_SECONDS)
    except NoTerminalError:
        # The usual case for an SDK started by an IDE, a CI job or a daemon.
        from mfaenv.stores import sessionstore

        if sessionstore.uncached:  # a session fetched in a terminal would not reach this process
            advice = f"set mfa_process in the profile (no session cache to carry one from a terminal: {sessionstore.uncached})"
        else:
            advice = f"run 'mfaenv {profile}' in a terminal first, or set mfa_process in the profile"
        raise NoTerminalError(
            f"profile '{profile}': no terminal to ask for the MFA code (credential_process); {advice}"
        ) from None
    return credential_process_json(prepared.session, prepared.variables.get("MFAENV_ACCOUNT"))


def credential_process_json(session: variables.Session, account: Optional[str]) -> str:
    """Version 1 of the format, ``Expiration`` in UTC with ``Z`` (botocore fails on a naive time).

    Written without the json module, which loads `re` and enum (a third of Python's own
    start-up) at every AWS CLI or SDK start: the document is flat, and every value but
    ``Version`` a string.
    """
    document = {
        "AccessKeyId": session.access_key_id,
        "SecretAccessKey": session.secret_access_key,
        "SessionToken": session.session_token,
        "Expiration": format_expiry(session.expires),
    }
    if account:
        document["AccountId"] = account
    fields = "".join(f", {json_string(name)}: {json_string(value)}" for name, value in document.items())
    return '{"Version": 1' + fields + "}\n"


def json_string(text: str) -> str:
    """``text`` as a JSON string in ASCII, which a JSON reader turns back into ``text``.

    Printable ASCII stays as it is; ``"``, ``\\``, controls and every other character
    become ``\\uXXXX``, and a character beyond U+FFFF a surrogate pair (RFC 8259), as
    ``json.dumps`` does. (So, as there, a lone surrogate stays one, which strict readers
    refuse, and two that happen to form a pair read back as the character they spell.)
    """
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'
    spelled = []
    for char in text:
        code = ord(char)
        if " " <= char <= "~" and char not in '"\\':
            spelled.append(char)
        elif code > 0xFFFF:
            code -= 0x10000
            spelled.append(f"\\u{0xD800 | code >> 10:04x}\\u{0xDC00 | code & 0x3FF:04x}")
        else:
            spelled.append(f"\\u{code:04x}")
    return '"' + "".join(spelled) + '"'
