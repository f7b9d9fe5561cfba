"""Command-line wiring: which command runs, its arguments, exit codes and the one stderr line.

``main`` serves the hot commands (``HOT_COMMANDS``) before Typer is even
imported: they run at every new shell, Tab, prompt or AWS SDK start.
Everything else goes through Typer.
"""

# No `from __future__ import annotations` and no module-level `typing` import
# (~3 ms at every new shell): `init` must stay as cheap as `import re`. The
# typer commands' annotations are evaluated in _build_app, which imports typing.
import os
import sys

from mfaenv import __version__
from mfaenv.errors import MfaenvError, UsageError

#: Exit status for a bug in mfaenv itself (EX_SOFTWARE).
INTERNAL_ERROR = 70
HELP = """Turn an MFA code into temporary AWS credentials for this shell.

\b
    eval "$(mfaenv stage 123456)"      # bash, zsh
    mfaenv stage 123456 | source       # fish

A lone six-digit argument is a code for $AWS_PROFILE: `mfaenv 123456`.
"""


def _hot_init(args: "list[str]") -> "int | None":
    if len(args) != 1 or args[0].startswith("-"):
        return None
    from mfaenv.integration import init_script

    _write(init_script(args[0]))
    return 0


def _hot_profiles(args: "list[str]") -> "int | None":
    if args:
        return None
    from mfaenv.commands import profile_names

    _write(profile_names())
    return 0


def _hot_prompt(args: "list[str]") -> "int | None":
    if args:
        return None
    from mfaenv.prompt import prompt_segment

    segment = prompt_segment(os.environ)
    _write(segment + "\n" if segment else "")
    return 0


def _hot_credential_process(args: "list[str]") -> "int | None":
    # Served from the cache it imports no botocore either; a fetch imports only that.
    if len(args) != 1 or args[0].startswith("-"):
        return None
    from mfaenv.tools import credential_process

    _write(credential_process(args[0]))
    return 0


#: Commands served before Typer (~60 ms) is imported, because they run so often:
#: name -> function of the arguments after the name, returning the exit status, or
#: None to leave anything but the plain form (--help, options, mistakes) to Typer.
HOT_COMMANDS = {
    "init": _hot_init,  # every new shell (the rc-file line)
    "profiles": _hot_profiles,  # every Tab of shell completion
    "prompt": _hot_prompt,  # every render of a prompt that can only run a command
    "credential-process": _hot_credential_process,  # every AWS CLI or SDK start
}


def main(argv: "list[str] | None" = None) -> None:
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        hot = HOT_COMMANDS.get(args[0]) if args else None
        status = hot(args[1:]) if hot else None
        if status is None:
            status = _run_typer(args)
    except MfaenvError as error:
        _fail(str(error), error.exit_code)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except BrokenPipeError:  # `mfaenv list | head -1`: the reader left, nothing to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(141)
    except Exception as error:  # a bug: one line, unless asked for the traceback
        if os.environ.get("MFAENV_DEBUG") == "1":
            raise
        _fail(f"internal error ({type(error).__name__}); rerun with MFAENV_DEBUG=1 for details", INTERNAL_ERROR)
    sys.exit(status)


def _write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _fail(message: str, status: int) -> None:
    # One line, whatever a profile name or an STS endpoint put into the message.
    from mfaenv.display import shown

    print(f"mfaenv: {shown(message)}", file=sys.stderr)
    sys.exit(status)


def _run_typer(args: "list[str]") -> int:
    import typer

    command = _build_app()
    try:  # typer >= 0.26 carries its own copy of click
        from typer._click import exceptions as click_errors
    except ImportError:
        from click import exceptions as click_errors
    # `mfaenv exec PROFILE [CODE] [OPTIONS] -- COMMAND...`: everything after the first `--`
    # is the command, untouched; click would hand its first word to the optional CODE.
    to_run = None
    if args[:1] == ["exec"] and "--" in args:
        args, to_run = args[: args.index("--")], args[args.index("--") + 1 :]
    elif args[:1] == ["exec"] and not {"-h", "--help"} & set(args):
        raise UsageError("put the command after '--': mfaenv exec PROFILE [CODE] -- COMMAND [ARG]...")
    try:
        result = command.main(args, prog_name="mfaenv", standalone_mode=False, obj=to_run)
    except typer.Abort:
        raise KeyboardInterrupt from None
    except getattr(click_errors, "NoArgsIsHelpError", ()) as error:
        # Bare `mfaenv` (click >= 8.2 raises this): the whole help, not one squashed line.
        print(error.format_message(), file=sys.stderr)
        return error.exit_code
    except click_errors.ClickException as error:
        hint = "; see 'mfaenv --help'" if isinstance(error, click_errors.UsageError) else ""
        _fail(" ".join(error.format_message().split()).rstrip(".") + hint, error.exit_code)
    return result if isinstance(result, int) else 0


def _build_app():
    """The Typer app, built on demand so that `init` never imports Typer."""
    from typing import Optional

    import typer
    from typer.core import TyperGroup

    from mfaenv import commands
    from mfaenv.codeinput import CODE_PATTERN

    class DefaultToGet(TyperGroup):
        """`mfaenv stage 123456` means `mfaenv get stage 123456`.

        Typer cannot give a group a default command without a callback argument
        swallowing subcommand names, so an unknown first word is routed to
        `get` here; a lone six-digit first word is a code for $AWS_PROFILE.
        """

        def parse_args(self, ctx, args):
            if args and args[0] not in self.commands and args[0] not in ("--help", "-h", "--version"):
                if CODE_PATTERN.fullmatch(args[0]):
                    profile = os.environ.get("AWS_PROFILE")
                    if not profile:
                        raise UsageError("no profile given and AWS_PROFILE is not set; run 'mfaenv PROFILE CODE'")
                    args = [profile, *args]
                args = ["get", *args]
            return super().parse_args(ctx, args)

    app = typer.Typer(
        cls=DefaultToGet,
        help=HELP,
        add_completion=False,
        no_args_is_help=True,
        # Click's plain help: typer's rich help imports rich + markdown-it (~70 ms per --help).
        rich_markup_mode=None,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )

    def version(value: bool):
        if value:
            _write(f"mfaenv {__version__}\n")
            raise typer.Exit()

    @app.callback()
    def root(
        _version: bool = typer.Option(False, "--version", callback=version, is_eager=True, help="Print the version."),
    ):
        pass

    @app.command()
    def get(
        profile: str = typer.Argument(..., help="Target profile, e.g. stage."),
        code: Optional[str] = typer.Argument(None, help="Six-digit MFA code; asked on the terminal if omitted."),
        shell: Optional[str] = typer.Option(None, "--shell", help="bash, zsh, fish or powershell (default: $MFAENV_SHELL, else detected)."),
        persist: bool = typer.Option(False, "--persist", help="Also write the session into the credentials file."),
        duration: Optional[int] = typer.Option(None, "--duration", help="Session length in seconds: 900-129600, default 43200; for a role 900-43200, default its duration_seconds or 3600."),
        source: Optional[str] = typer.Option(None, "--source", help="Profile holding the long-term keys."),
        serial: Optional[str] = typer.Option(None, "--serial", help="MFA device ARN."),
        force: bool = typer.Option(False, "--force", help="Fetch even when a valid session exists."),
        code_command: Optional[str] = typer.Option(None, "--code-command", help="Command that prints the MFA code."),
    ):
        """Fetch a session token and print export statements (the default command)."""
        request = commands.GetRequest(profile, code, shell, persist, duration, source, serial, force, code_command)
        _write(commands.get(request))

    @app.command("exec")
    def exec_(
        ctx: typer.Context,
        profile: str = typer.Argument(..., help="Target profile, e.g. stage."),
        code: Optional[str] = typer.Argument(None, help="Six-digit MFA code; asked on the terminal if needed."),
        duration: Optional[int] = typer.Option(None, "--duration", help="Session length in seconds, as for get."),
        source: Optional[str] = typer.Option(None, "--source", help="Profile holding the long-term keys."),
        serial: Optional[str] = typer.Option(None, "--serial", help="MFA device ARN."),
        force: bool = typer.Option(False, "--force", help="Fetch even when a valid session exists."),
        code_command: Optional[str] = typer.Option(None, "--code-command", help="Command that prints the MFA code."),
    ):
        """Run a command with the session in its environment: mfaenv exec PROFILE [CODE] -- COMMAND [ARG]..."""
        from mfaenv.tools import exec_command

        request = commands.GetRequest(profile, code, None, False, duration, source, serial, force, code_command)
        exec_command(request, ctx.obj)

    @app.command("credential-process")
    def credential_process(profile: str = typer.Argument(..., help="Target profile, e.g. stage.")):
        """Print the session as credential_process JSON (credential_process = mfaenv credential-process stage)."""
        from mfaenv.tools import credential_process

        _write(credential_process(profile))

    @app.command()
    def unset(shell: Optional[str] = typer.Option(None, "--shell", help="bash, zsh, fish or powershell.")):
        """Print statements that remove every variable mfaenv sets."""
        _write(commands.unset(shell))

    @app.command()
    def init(shell: str = typer.Argument(..., help="bash, zsh, fish or powershell.")):
        """Print the shell integration: wrapper, prompt function, completion."""
        from mfaenv.integration import init_script

        _write(init_script(shell))

    @app.command()
    def prompt():
        """Print the prompt segment, such as 'stage 123456789012 11h59m'."""
        from mfaenv.prompt import prompt_segment

        segment = prompt_segment(os.environ)
        _write(segment + "\n" if segment else "")

    @app.command()
    def status():
        """Show this shell's session; exit 1 if there is none or it expired."""
        from mfaenv.prompt import status_report

        _write(status_report(os.environ))

    @app.command("list")
    def list_():
        """List profiles: role, source, MFA device and persisted session; what an unusable one lacks."""
        table = commands.list_profiles()
        if not table:
            print("mfaenv: no profiles in the credentials or config file", file=sys.stderr)
        _write(table)

    @app.command()
    def forget(
        profile: Optional[str] = typer.Argument(None, help="Only the sessions this profile uses (default: all)."),
        shell: Optional[str] = typer.Option(None, "--shell", help="bash, zsh, fish or powershell."),
        persisted: bool = typer.Option(
            False, "--persisted", help="Also remove the session --persist wrote into [PROFILE] of the credentials file."
        ),
    ):
        """Remove cached sessions, so that the next use asks for a code."""
        from mfaenv.display import shown

        done = commands.forget(profile, shell, persisted=persisted)
        if done.folder is None:
            message = "no session cache in use" + ("" if persisted else ", nothing to forget")
        else:
            message = f"forgot {done.count} cached session{'' if done.count == 1 else 's'}"
            message += f" of '{profile}'" if profile is not None else ""
        if done.persisted_file is not None:
            message += (f"; removed the session persisted in [{profile}] of {done.persisted_file}" if done.persisted_removed
                        else f"; no persisted session in [{profile}] of {done.persisted_file}")
        message += "; this shell's session was one of them and is removed" if done.shell_text else ""
        if os.environ.get("MFAENV_QUIET") != "1":
            print(f"mfaenv: {shown(message)}", file=sys.stderr)
        _write(done.shell_text)

    @app.command("profiles", hidden=True)
    def profiles():
        """Profile names, one a line, for shell completion."""
        _write(commands.profile_names())

    return typer.main.get_command(app)
