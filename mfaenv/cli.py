"""Command-line wiring: which command runs, its arguments, exit codes and the one stderr line.

``main`` serves `mfaenv init SHELL` before Typer is even imported, because the
rc-file line runs at every new shell. Everything else goes through Typer.
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


def main(argv: "list[str] | None" = None) -> None:
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        if len(args) == 2 and args[0] == "init" and not args[1].startswith("-"):
            from mfaenv.integration import init_script

            _write(init_script(args[1]))
            status = 0
        elif args == ["profiles"]:  # runs at every Tab of shell completion: no typer either
            from mfaenv.commands import profile_names

            _write(profile_names())
            status = 0
        else:
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
    try:
        result = command.main(args, prog_name="mfaenv", standalone_mode=False)
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

    @app.command("profiles", hidden=True)
    def profiles():
        """Profile names, one a line, for shell completion."""
        _write(commands.profile_names())

    return typer.main.get_command(app)
