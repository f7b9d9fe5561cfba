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
from mfaenv.errors import Interrupted, MfaenvError, TerminalOutputError, UsageError

#: Exit status for a bug in mfaenv itself (EX_SOFTWARE).
INTERNAL_ERROR = 70
HELP = """Turn an MFA code into temporary AWS credentials for this shell.

\b
    eval "$(mfaenv stage 123456)"      # bash, zsh, without the shell integration
    mfaenv stage 123456 | source       # fish
    mfaenv stage 123456                # with the integration (see 'mfaenv init --help')

Without a CODE, a valid session is reused, else the code is asked for. A lone
number is a code for $AWS_PROFILE: `mfaenv 123456`. Options of the main form:
'mfaenv get --help'.
"""


def _hot_init(args: "list[str]") -> "int | None":
    if len(args) != 1 or args[0].startswith("-"):
        return None
    from mfaenv.shells.integration import init_script

    _write(init_script(args[0]))
    return 0


def _hot_profiles(args: "list[str]") -> "int | None":
    if args:
        return None
    from mfaenv.commands.get import profile_names

    _write(profile_names())
    return 0


def _hot_prompt(args: "list[str]") -> "int | None":
    if args:
        return None
    from mfaenv.shells.prompt import prompt_segment

    segment = prompt_segment(os.environ)
    _write(segment + "\n" if segment else "")
    return 0


def _hot_credential_process(args: "list[str]") -> "int | None":
    # Served from the cache it imports no botocore either; a fetch imports only that.
    if len(args) != 1 or args[0].startswith("-"):
        return None
    from mfaenv.commands.tools import credential_process

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
        error = Interrupted()
        _fail(str(error), error.exit_code)
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
    from mfaenv.terminal.display import shown

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
        # Bare `mfaenv` (click >= 8.2 raises this): the whole help, not one squashed error line.
        print(error.format_message(), file=sys.stderr)
        return error.exit_code
    except click_errors.ClickException as error:
        hint = ""
        if isinstance(error, click_errors.UsageError):
            # The help of the command that was given: `mfaenv stage --bogus` points at `mfaenv get --help`.
            path = error.ctx.command_path if error.ctx is not None else "mfaenv"
            hint = f"; see '{path} --help'"
        _fail(" ".join(error.format_message().split()).rstrip(".") + hint, error.exit_code)
    return result if isinstance(result, int) else 0


#: Set in the context when the first word was not a command: `mfaenv stage`, `mfaenv 123456`.
_BARE_FORM = "mfaenv.bare_form"
#: The arguments as typed, for the hint that repeats them.
_ARGS = "mfaenv.args"
SHELLS_METAVAR = "[bash|zsh|fish|powershell|nu]"


def _build_app():
    """The Typer app, built on demand so that `init` never imports Typer."""
    from typing import Optional

    import typer
    from typer.core import TyperCommand, TyperGroup

    from mfaenv.commands import get as get_command
    from mfaenv.terminal import feedback
    from mfaenv.terminal.codeinput import check_code

    class DefaultToGet(TyperGroup):
        """`mfaenv stage 123456` means `mfaenv get stage 123456`.

        Typer cannot give a group a default command without a callback argument
        swallowing subcommand names, so an unknown first word is routed to `get`
        here (and `get` reads a lone number as a code for $AWS_PROFILE).
        """

        def parse_args(self, ctx, args):
            ctx.meta[_ARGS] = list(args)
            if args and args[0] not in self.commands and args[0] not in ("--help", "-h", "--version"):
                ctx.meta[_BARE_FORM] = True
                args = ["get", *args]
            return super().parse_args(ctx, args)

        def invoke(self, ctx):
            try:
                return super().invoke(ctx)
            except KeyboardInterrupt:  # typer would turn it into a silent exit status 130
                raise Interrupted() from None

        def format_usage(self, ctx, formatter):
            # The main form first: it is what people type.
            formatter.write_usage(ctx.command_path, "PROFILE [CODE] [OPTIONS]")
            formatter.write_usage(ctx.command_path, "COMMAND [ARGS]...", prefix="   or: ")

    class PlainUsage(TyperCommand):
        """Arguments in the usage line as their metavars say (`PROFILE [CODE]`), not typer's `{profile}`."""

        def collect_usage_pieces(self, ctx):
            return [self.options_metavar] + [
                param.metavar for param in self.get_params(ctx) if param.param_type_name == "argument"
            ]

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

    @app.command(cls=PlainUsage, short_help="Fetch or reuse a session; print export statements.")
    def get(
        ctx: typer.Context,
        profile: Optional[str] = typer.Argument(
            None, metavar="PROFILE", show_default=False, help="Target profile, e.g. stage (default: $AWS_PROFILE).",
        ),
        code: Optional[str] = typer.Argument(
            None, metavar="[CODE]", show_default=False,
            help="Six-digit MFA code (spaces allowed). Without it, a valid session in this shell or the "
            "credentials file is reused; else the code command runs or the terminal asks.",
        ),
        shell: Optional[str] = typer.Option(
            None, "--shell", metavar=SHELLS_METAVAR, show_default=False,
            help="Syntax of the output (default: the shell that runs mfaenv).",
        ),
        persist: bool = typer.Option(False, "--persist", help="Also write the session into ~/.aws/credentials."),
        duration: Optional[int] = typer.Option(
            None, "--duration", metavar="SECONDS", show_default=False,
            help="Session length: 900-129600, default 43200 (12 hours); for a role 900-43200, "
            "default its duration_seconds or 3600.",
        ),
        source: Optional[str] = typer.Option(None, "--source", metavar="PROFILE", help="Profile holding the long-term keys."),
        serial: Optional[str] = typer.Option(None, "--serial", metavar="ARN", help="MFA device ARN (or a hardware token's serial)."),
        force: bool = typer.Option(False, "--force", help="Fetch a new session even when a valid one exists."),
        code_command: Optional[str] = typer.Option(
            None, "--code-command", metavar="COMMAND",
            help="Command that prints the MFA code, e.g. 'ykman oath accounts code -s aws'.",
        ),
    ):
        """Fetch a session for PROFILE (or reuse a valid one) and print export statements.

        \b
        mfaenv get is the main form written out: `mfaenv stage 123456` is
        `mfaenv get stage 123456`; use it for a profile named like a command.
        """
        if ctx.meta.get(_BARE_FORM) and code is None and profile and "".join(profile.split()).isdigit():
            profile, code = None, check_code(profile)  # `mfaenv 12345`: a mistyped code, not a profile
        if profile is None:
            profile = os.environ.get("AWS_PROFILE")
            if not profile:
                raise UsageError("no profile given and AWS_PROFILE is not set; run 'mfaenv PROFILE [CODE]'")
        request = get_command.GetRequest(profile, code, shell, persist, duration, source, serial, force, code_command)
        # Printed on the terminal itself (no eval, no integration) the keys would only be shown:
        # refused before a code is asked for or sent. --persist needs no stdout: the file is the point.
        at_terminal = sys.stdout.isatty()
        if at_terminal and not persist:
            from mfaenv.shells.dialects import detect_dialect

            raise TerminalOutputError(feedback.how_to_load(ctx.meta.get(_ARGS, []), detect_dialect(shell).name))
        text, prepared = get_command.get(request)
        if not at_terminal:
            _write(text)
        feedback.report(prepared, persisted=persist, environ=os.environ)

    @app.command("exec", cls=PlainUsage, short_help="Run a command with the session in its environment.")
    def exec_(
        ctx: typer.Context,
        profile: str = typer.Argument(..., metavar="PROFILE", help="Target profile, e.g. stage."),
        code: Optional[str] = typer.Argument(
            None, metavar="[CODE]", show_default=False, help="Six-digit MFA code; asked on the terminal if needed.",
        ),
        duration: Optional[int] = typer.Option(
            None, "--duration", metavar="SECONDS", show_default=False, help="Session length in seconds, as for get.",
        ),
        source: Optional[str] = typer.Option(None, "--source", metavar="PROFILE", help="Profile holding the long-term keys."),
        serial: Optional[str] = typer.Option(None, "--serial", metavar="ARN", help="MFA device ARN."),
        force: bool = typer.Option(False, "--force", help="Fetch even when a valid session exists."),
        code_command: Optional[str] = typer.Option(
            None, "--code-command", metavar="COMMAND", help="Command that prints the MFA code.",
        ),
    ):
        """Run a command with the session in its environment: mfaenv exec PROFILE [CODE] -- COMMAND [ARG]..."""
        from mfaenv.commands.tools import exec_command

        request = get_command.GetRequest(profile, code, None, False, duration, source, serial, force, code_command)
        exec_command(request, ctx.obj)

    @app.command("credential-process", cls=PlainUsage, short_help="Print the session as credential_process JSON.")
    def credential_process(profile: str = typer.Argument(..., metavar="PROFILE", help="Target profile, e.g. stage.")):
        """Print the session as credential_process JSON (credential_process = mfaenv credential-process stage)."""
        from mfaenv.commands.tools import credential_process

        _write(credential_process(profile))

    @app.command(cls=PlainUsage, short_help="Print statements that remove mfaenv's variables.")
    def unset(
        shell: Optional[str] = typer.Option(None, "--shell", metavar=SHELLS_METAVAR, help="Syntax of the output."),
    ):
        """Print statements that remove every variable mfaenv sets."""
        _write(get_command.unset(shell))

    @app.command(cls=PlainUsage, short_help="Print the wrapper, prompt function and completion.")
    def init(shell: str = typer.Argument(..., metavar="SHELL", help="bash, zsh, fish, powershell or nu.")):
        """Print the shell integration: the mfaenv wrapper, mfaenv_prompt and completion.

        Add one line to your shell's start-up file:

        \b
            ~/.bashrc                    eval "$(mfaenv init bash)"
            ~/.zshrc (after compinit)    eval "$(mfaenv init zsh)"
            ~/.config/fish/config.fish   mfaenv init fish | source
            $PROFILE (PowerShell)        mfaenv init powershell | Out-String | Invoke-Expression

        Nushell reads a module: save it once, then use it in config.nu:

        \b
            mfaenv init nu | save -f ($nu.default-config-dir | path join mfaenv.nu)
            use mfaenv.nu *
        """
        from mfaenv.shells.integration import init_script

        _write(init_script(shell))

    @app.command(cls=PlainUsage, short_help="Print the prompt segment: 'stage 123456789012 11h59m'.")
    def prompt():
        """Print the prompt segment, such as 'stage 123456789012 11h59m'."""
        from mfaenv.shells.prompt import prompt_segment

        segment = prompt_segment(os.environ)
        _write(segment + "\n" if segment else "")

    @app.command(cls=PlainUsage, short_help="Show this shell's session; exit 1 if none or expired.")
    def status():
        """Show this shell's session; exit 1 if there is none or it expired."""
        from mfaenv.shells.prompt import status_report

        _write(status_report(os.environ))

    @app.command("list", cls=PlainUsage, short_help="List profiles: role, source, MFA device, session.")
    def list_():
        """List profiles: role, source, MFA device and persisted session; what an unusable one lacks."""
        table = get_command.list_profiles()
        if not table:
            print("mfaenv: no profiles in the credentials or config file", file=sys.stderr)
        _write(table)

    @app.command(cls=PlainUsage, short_help="Remove cached sessions; the next use asks for a code.")
    def forget(
        profile: Optional[str] = typer.Argument(
            None, metavar="[PROFILE]", show_default=False, help="Only the sessions this profile uses (default: all).",
        ),
        shell: Optional[str] = typer.Option(None, "--shell", metavar=SHELLS_METAVAR, help="Syntax of the output."),
        persisted: bool = typer.Option(
            False, "--persisted", help="Also remove the session --persist wrote into [PROFILE] of the credentials file."
        ),
    ):
        """Remove cached sessions, so that the next use asks for a code."""
        from mfaenv.terminal.display import shown

        done = get_command.forget(profile, shell, persisted=persisted)
        if done.folder is None:
            message = "no session cache in use" + ("" if persisted else ", nothing to forget")
        else:
            message = f"forgot {done.count} cached session{'' if done.count == 1 else 's'}"
            message += f" of '{profile}'" if profile is not None else ""
        if done.persisted_file is not None:
            message += (f"; removed the session persisted in [{profile}] of {done.persisted_file}" if done.persisted_removed
                        else f"; no persisted session in [{profile}] of {done.persisted_file}")
        message += "; this shell's session was one of them and is removed" if done.shell_text else ""
        if not feedback.quiet(os.environ):
            print(f"mfaenv: {shown(message)}", file=sys.stderr)
        _write(done.shell_text)

    @app.command("help", cls=PlainUsage, short_help="Show this help, or a command's: 'mfaenv help get'.")
    def help_(ctx: typer.Context, name: Optional[str] = typer.Argument(None, metavar="[COMMAND]")):
        """Show the help of mfaenv, or of one command."""
        group = ctx.parent.command
        if name is None:
            _write(ctx.parent.get_help() + "\n")
            return
        command = group.get_command(ctx.parent, name)
        if command is None:
            raise UsageError(f"no command '{name}'; see 'mfaenv --help'")
        with typer.Context(command, info_name=name, parent=ctx.parent) as sub:
            _write(command.get_help(sub) + "\n")

    keys_app = typer.Typer(
        help="Long-term keys in the OS credential store (Keychain, Credential Manager, Secret Service).\n\n"
        "Without a command: list every profile's long-term keys and where they are.",
        add_completion=False, rich_markup_mode=None, pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )

    def _said(message: str) -> None:
        from mfaenv.terminal.display import shown

        if not feedback.quiet(os.environ):
            print(f"mfaenv: {shown(message)}", file=sys.stderr)

    @keys_app.callback(invoke_without_command=True)
    def keys(ctx: typer.Context):
        """List every profile's long-term keys and where they are: the files, or the OS credential store."""
        if ctx.invoked_subcommand is None:
            from mfaenv.commands import keys as keys_command

            table = keys_command.list_keys()
            if not table:
                print("mfaenv: no long-term keys in the credentials or config file, nor named in the store", file=sys.stderr)
            _write(table)

    profile_argument = typer.Argument(..., metavar="PROFILE", help="The profile (for a role: the keys beneath it).")

    @keys_app.command("import", cls=PlainUsage, short_help="Move a profile's keys from the credentials file into the store.")
    def keys_import(profile: str = profile_argument):
        """Move PROFILE's long-term keys from the credentials file into the OS credential store.

        The keys are checked with STS (GetCallerIdentity, no MFA), stored and read
        back; only then are the two lines replaced in the file by mfaenv_keyring.
        """
        from mfaenv.commands import keys as keys_command

        _said(keys_command.import_keys(profile))

    @keys_app.command("add", cls=PlainUsage, short_help="Ask for a profile's keys on the terminal and store them.")
    def keys_add(profile: str = profile_argument):
        """Ask for PROFILE's access key id and secret on the terminal (not echoed), check and store them."""
        from mfaenv.commands import keys as keys_command

        _said(keys_command.add_keys(profile))

    @keys_app.command("remove", cls=PlainUsage, short_help="Delete a profile's keys from the store.")
    def keys_remove(
        profile: str = profile_argument,
        yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    ):
        """Delete PROFILE's long-term keys from the OS credential store (the IAM key stays active)."""
        from mfaenv.commands import keys as keys_command

        _said(keys_command.remove_keys(profile, yes))

    @keys_app.command("export", cls=PlainUsage, short_help="Move a profile's keys back into the credentials file.")
    def keys_export(profile: str = profile_argument):
        """Undo 'keys import': write PROFILE's keys back into the credentials file, in plaintext, and delete the item."""
        from mfaenv.commands import keys as keys_command

        _said(keys_command.export_keys(profile))

    app.add_typer(keys_app, name="keys", short_help="Long-term keys in the OS credential store: list, import, add, remove.")

    @app.command("profiles", hidden=True)
    def profiles():
        """Profile names, one a line, for shell completion."""
        _write(get_command.profile_names())

    return typer.main.get_command(app)
