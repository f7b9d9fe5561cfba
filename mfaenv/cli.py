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
    profile = profile_argument(args)
    if profile is None:
        return None
    from mfaenv.commands.tools import credential_process

    _write(credential_process(profile))
    return 0


def profile_argument(args: "list[str]") -> "str | None":
    """The profile of ``PROFILE``, ``--profile PROFILE``, ``-p PROFILE`` or ``--profile=PROFILE``; else None."""
    if len(args) == 1 and not args[0].startswith("-"):
        return args[0]
    if len(args) == 1 and args[0].startswith("--profile=") and len(args[0]) > len("--profile="):
        return args[0][len("--profile="):]
    if len(args) == 2 and args[0] in ("--profile", "-p") and args[1] and not args[1].startswith("-"):
        return args[1]
    return None


def _hot_renew(args: "list[str]") -> "int | None":
    # Run by the prompt hooks when this shell's session is due for renewal (hidden).
    if len(args) != 1 or args[0].startswith("-"):
        return None
    from mfaenv.commands.get import renew

    _write(renew(args[0]))  # nothing when nothing was renewed: the hooks then leave the shell as it is
    return 0


#: Commands served before Typer (~60 ms) is imported, because they run so often:
#: name -> function of the arguments after the name, returning the exit status, or
#: None to leave anything but the plain form (--help, options, mistakes) to Typer.
HOT_COMMANDS = {
    "init": _hot_init,  # every new shell (the rc-file line)
    "profiles": _hot_profiles,  # every Tab of shell completion
    "prompt": _hot_prompt,  # every render of a prompt that can only run a command
    "credential-process": _hot_credential_process,  # every AWS CLI or SDK start
    "renew": _hot_renew,  # the prompt hooks, when this shell's session is due (hidden; no Typer command)
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
    if not args and not os.environ.get("AWS_PROFILE") and sys.stdout.isatty():
        # `mfaenv` alone, typed at a terminal: what can be used, rather than the whole help.
        from mfaenv.commands.get import usable_profiles

        _write(usable_profiles())
        return 0
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
    elif args[:1] == ["exec"]:
        to_run = []  # no command: the user's shell, as aws-vault does
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
        if args[:1] == ["exec"] and not to_run and "unexpected extra argument" in error.format_message():
            # `mfaenv exec stage 123456 terraform plan`: the command belongs after `--`.
            raise UsageError("put the command after '--': mfaenv exec PROFILE [CODE] -- COMMAND [ARG]...") from None
        if isinstance(error, click_errors.UsageError):
            # The help of the command that was given: `mfaenv stage --bogus` points at `mfaenv get --help`.
            path = error.ctx.command_path if error.ctx is not None else "mfaenv"
            hint = f"; see '{path} --help'"
        _fail(" ".join(error.format_message().split()).rstrip(".") + hint, error.exit_code)
    return result if isinstance(result, int) else 0


def with_profile_option(named: "str | None", profile: "str | None", code: "str | None") -> "tuple":
    """(profile, code) once --profile NAME is taken into account: `mfaenv --profile stage 123456`
    gives the positional words to the code."""
    if named is None:
        return profile, code
    if code is not None:
        raise UsageError(f"--profile {named} and the profile '{profile}' both given; give one of them")
    return named, profile


def check_region(region: "str | None") -> None:
    """--region is checked as a profile's region is, before anything else happens."""
    from mfaenv.profiles import is_region_name

    if region is not None and not is_region_name(region):
        raise UsageError(f"--region {region!r} is not a region name (such as eu-west-1)")


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

    def profile_option():
        return typer.Option(
            None, "--profile", "-p", metavar="PROFILE", show_default=False,
            help="The profile, as the AWS CLI takes it (instead of the first argument).",
        )

    def region_option():
        return typer.Option(
            None, "--region", metavar="REGION", show_default=False,
            help="Region exported with the session and used for the STS call (instead of the profile's).",
        )

    def commands_of(ctx) -> "list[str]":
        group = ctx.find_root().command
        return [name for name, command in group.commands.items() if not command.hidden]

    def unknown_first_word(ctx, word: str, error: MfaenvError) -> MfaenvError:
        """`mfaenv lsit`: a first word that is neither a command nor a profile, with the closest of both."""
        from mfaenv.errors import ProfileError, UnknownProfileError, did_you_mean

        if isinstance(error, UnknownProfileError) and error.missing == word:
            hint = did_you_mean(word, [*commands_of(ctx), *error.known])
            if hint:
                return ProfileError(f"no command or profile '{word}'{hint}")
        return error

    def check_first_word(ctx, word: str) -> None:
        """Raise the did-you-mean error now for a first word that names no profile (no code asked, no call)."""
        from mfaenv.errors import UnknownProfileError
        from mfaenv.profiles import ProfileStore

        try:
            ProfileStore(os.environ).chain(word)
        except UnknownProfileError as error:
            if error.missing == word:
                raise unknown_first_word(ctx, word, error) from None
        except MfaenvError:
            pass  # anything else is reported where it always was

    @app.command(cls=PlainUsage, short_help="Fetch a session or reuse one (shell, cache, file).")
    def get(
        ctx: typer.Context,
        profile: Optional[str] = typer.Argument(
            None, metavar="PROFILE", show_default=False, help="Target profile, e.g. stage (default: $AWS_PROFILE).",
        ),
        code: Optional[str] = typer.Argument(
            None, metavar="[CODE]", show_default=False,
            help="Six-digit MFA code (spaces allowed). Without it, a valid session in this shell, the session "
            "cache or the credentials file is reused; else the code command runs or the terminal asks.",
        ),
        profile_named: Optional[str] = profile_option(),
        region: Optional[str] = region_option(),
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
        """Fetch a session for PROFILE, or reuse a valid one, and print export statements.

        A session is reused, first hit wins, from this shell, the session cache (another
        terminal fetched it) or the credentials file (--persist wrote it); a CODE or
        --force fetches a new one.

        \b
        mfaenv get is the main form written out: `mfaenv stage 123456` is
        `mfaenv get stage 123456`; use it for a profile named like a command.
        """
        first_word = ctx.meta.get(_BARE_FORM) and profile_named is None and profile
        profile, code = with_profile_option(profile_named, profile, code)
        if ctx.meta.get(_BARE_FORM) and code is None and profile and "".join(profile.split()).isdigit():
            profile, code = None, check_code(profile)  # `mfaenv 12345`: a mistyped code, not a profile
            first_word = None
        if profile is None:
            profile = os.environ.get("AWS_PROFILE")
            if not profile:
                raise UsageError("no profile given and AWS_PROFILE is not set; run 'mfaenv PROFILE [CODE]'")
        check_region(region)
        if first_word and code is not None:
            # `mfaenv consle admin`: the second word would be checked as a code first; an unknown
            # first word is named (with the nearest command or profile) before that.
            check_first_word(ctx, first_word)
        request = get_command.GetRequest(profile, code, shell, persist, duration, source, serial, force, code_command,
                                         region)
        # Printed on the terminal itself (no eval, no integration) the keys would only be shown:
        # refused before a code is asked for or sent. --persist needs no stdout: the file is the point.
        at_terminal = sys.stdout.isatty()
        if at_terminal and not persist:
            from mfaenv.shells.dialects import detect_dialect

            if first_word:
                check_first_word(ctx, first_word)
            raise TerminalOutputError(feedback.how_to_load(ctx.meta.get(_ARGS, []), detect_dialect(shell).name))
        try:
            text, prepared = get_command.get(request)
        except MfaenvError as error:
            if first_word:
                raise unknown_first_word(ctx, first_word, error) from None
            raise
        if not at_terminal:
            _write(text)
        feedback.report(prepared, persisted=persist, environ=os.environ)

    @app.command("exec", cls=PlainUsage, short_help="Run -- COMMAND, or your shell, with the session.")
    def exec_(
        ctx: typer.Context,
        profile: Optional[str] = typer.Argument(
            None, metavar="PROFILE", show_default=False, help="Target profile, e.g. stage (default: $AWS_PROFILE).",
        ),
        code: Optional[str] = typer.Argument(
            None, metavar="[CODE] [-- COMMAND [ARG]...]", show_default=False,
            help="Six-digit MFA code; without it a valid session is reused, else the terminal asks. "
            "Everything after '--' is the command; without one, $SHELL (else /bin/sh) starts.",
        ),
        profile_named: Optional[str] = profile_option(),
        region: Optional[str] = region_option(),
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
        """Run COMMAND with the session in its environment, or start your shell with it.

        \b
            mfaenv exec stage -- terraform plan
            mfaenv exec stage                     # $SHELL with the session; 'exit' leaves it

        The session is reused or fetched as by get (this shell, the session cache, the
        credentials file, else a code). mfaenv becomes the command: its exit status is
        the command's. AWS_PROFILE is removed from the command's environment.
        """
        from mfaenv.commands.tools import exec_command

        profile, code = with_profile_option(profile_named, profile, code)
        if profile is None:
            profile = os.environ.get("AWS_PROFILE")
            if not profile:
                raise UsageError("no profile given and AWS_PROFILE is not set; run 'mfaenv exec PROFILE [CODE] -- COMMAND'")
        check_region(region)
        request = get_command.GetRequest(profile, code, None, False, duration, source, serial, force, code_command,
                                         region)
        exec_command(request, ctx.obj)

    @app.command("credential-process", cls=PlainUsage, short_help="Print the session as credential_process JSON.")
    def credential_process(
        profile: Optional[str] = typer.Argument(None, metavar="PROFILE", show_default=False,
                                                help="Target profile, e.g. stage."),
        profile_named: Optional[str] = profile_option(),
    ):
        """Print the session as credential_process JSON (credential_process = mfaenv credential-process stage)."""
        from mfaenv.commands.tools import credential_process

        profile, extra = with_profile_option(profile_named, profile, None)
        if extra is not None:
            raise UsageError(f"credential-process takes one profile; got '{profile}' and '{extra}'")
        if profile is None:
            raise UsageError("credential-process needs a profile: mfaenv credential-process PROFILE")
        _write(credential_process(profile))

    @app.command(cls=PlainUsage, short_help="Open the AWS console as the profile's role in a browser.")
    def console(
        profile: Optional[str] = typer.Argument(None, metavar="PROFILE", show_default=False,
                                                help="Target profile, e.g. admin."),
        code: Optional[str] = typer.Argument(
            None, metavar="[CODE]", show_default=False,
            help="Six-digit MFA code, when the role session must be fetched (else the code command or the terminal).",
        ),
        profile_named: Optional[str] = profile_option(),
        stdout: bool = typer.Option(
            False, "--stdout", help="Print the sign-in URL instead of opening it (another browser, another machine).",
        ),
        destination: Optional[str] = typer.Option(
            None, "--destination", metavar="PATH|URL", show_default=False,
            help="Where the console opens: a path such as ec2/home, or a console URL (default: the console home "
            "of the profile's region).",
        ),
        code_command: Optional[str] = typer.Option(
            None, "--code-command", metavar="COMMAND",
            help="Command that prints the MFA code, e.g. 'ykman oath accounts code -s aws'.",
        ),
    ):
        """Open the AWS console as the profile's role, signed in through the AWS federation endpoint.

        \b
        A role profile's session (from this shell, the cache or STS, with more than
        15 minutes left) is exchanged for a sign-in token that works once, within 15
        minutes. A plain MFA profile opens its account's sign-in page instead (AWS
        signs only role sessions in), and spends no code. BROWSER chooses the browser.
        """
        from mfaenv.commands.console import console as console_url
        from mfaenv.terminal import browser
        from mfaenv.terminal.display import shown

        profile, code = with_profile_option(profile_named, profile, code)
        if profile is None:
            raise UsageError("console needs a profile: mfaenv console PROFILE [CODE]")
        if code is not None:
            code = check_code(code)  # also for a plain profile, which spends none: a wrong word is a mistake
        found = console_url(profile, destination, code=code, code_command=code_command)
        say = not feedback.quiet(os.environ)
        if stdout:
            _write(found.url + "\n")
            if say:
                print(f"mfaenv: {shown(found.message)}" + (
                    "; the sign-in URL is on stdout: it works once, within 15 minutes, and signs in whoever opens it"
                    if found.secret else "; its URL is on stdout"), file=sys.stderr)
            return
        try:
            (browser.open_secret_url if found.secret else browser.open_url)(found.url)
        except browser.NoBrowser as reason:
            print(f"mfaenv: {shown(found.message)}; cannot open a browser ({reason}; set BROWSER, or use --stdout): "
                  f"the URL is on stdout" + (", it works once within 15 minutes" if found.secret else ""),
                  file=sys.stderr)
            _write(found.url + "\n")
            return
        if say:
            print(f"mfaenv: {shown(found.message)}; opened in the browser", file=sys.stderr)

    @app.command(cls=PlainUsage, short_help="Replace the long-term access key; one MFA code at most.")
    def rotate(
        profile: str = typer.Argument(..., metavar="PROFILE", help="A profile with long-term keys, or resting on them."),
        code: Optional[str] = typer.Argument(
            None, metavar="[CODE]", show_default=False,
            help="Six-digit MFA code; not needed while a cached MFA session is valid, else asked for.",
        ),
        keep_old: bool = typer.Option(False, "--keep-old", help="Leave the old key inactive instead of deleting it."),
        delete_inactive: bool = typer.Option(
            False, "--delete-inactive", help="If the user has a second, inactive key, delete it first.",
        ),
        delete_unused: bool = typer.Option(
            False, "--delete-unused",
            help="If the user has a second, active key that was never used (an interrupted rotation leaves one), "
            "delete it first.",
        ),
        check: bool = typer.Option(
            False, "--check", help="Only print the age of each of the user's keys; exit 1 if one is past --max-age.",
        ),
        max_age: int = typer.Option(90, "--max-age", metavar="DAYS", help="Age limit for --check (active keys)."),
        code_command: Optional[str] = typer.Option(
            None, "--code-command", metavar="COMMAND", help="Command that prints the MFA code.",
        ),
    ):
        """Create a new access key for the IAM user behind PROFILE, write it where the old one was,
        wait until it works, then deactivate and delete the old one. IAM calls are signed with the
        MFA session: one code at most. See docs/rotate.md.
        """
        from mfaenv.commands import rotate as rotate_command
        from mfaenv.terminal.display import shown

        if check:
            table, too_old = rotate_command.check(profile, max_age, code, code_command)
            _write(table)
            if too_old:
                print(f"mfaenv: {shown(', '.join(too_old))} older than {max_age} days; "
                      f"run 'mfaenv rotate {shown(profile)}'", file=sys.stderr)
                return 1
            return 0
        line = rotate_command.rotate(rotate_command.RotateRequest(
            profile, code, keep_old, delete_inactive, delete_unused, code_command))
        if not feedback.quiet(os.environ):
            print(f"mfaenv: {shown(line)}", file=sys.stderr)
        return 0

    @app.command(cls=PlainUsage, short_help="Check files, profiles, integration, cache and clock.")
    def doctor(profile: Optional[str] = profile_option()):
        """Check the set-up without spending a code or showing a secret: one line per check.

        The files (mode, syntax), each profile (or only --profile), variables that shadow
        mfaenv's sessions, the shell integration, the session cache, and the clock against
        STS's (GetCallerIdentity with the long-term keys: no code). Exit status 0 when no
        problem was found, else 1.
        """
        from mfaenv.commands.doctor import doctor as check

        report, status = check(profile)
        _write(report)
        return status

    @app.command(cls=PlainUsage, short_help="Ask for keys and MFA device; write a first profile.")
    def setup(
        profile: str = typer.Argument(..., metavar="PROFILE", help="Name of the profile to write, e.g. stage."),
        layout: str = typer.Option(
            "seed", "--layout", metavar="seed|standard", show_default=False,
            help="seed (default): [PROFILE-default] keys and [PROFILE] with aws_arn_mfa in the credentials file; "
            "standard: [PROFILE-long-term] keys, and [profile PROFILE] with source_profile and mfa_serial in the config file.",
        ),
    ):
        """Write a working profile: asks for the access key (the secret is not shown), checks it with STS,
        lists your MFA devices to pick from, writes the sections (never over existing ones) and offers to
        fetch a first session."""
        from mfaenv.commands.setup import setup as write_profile

        write_profile(profile, layout)

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

    @app.command("list", cls=PlainUsage, short_help="List profiles: source, MFA device, sessions, problems.")
    def list_():
        """List profiles: role, source, MFA device, the persisted and the cached session.

        Then the profiles whose credential_process runs mfaenv, and each unusable
        profile with what it lacks.
        """
        from mfaenv.profiles import config_file, credentials_file
        from mfaenv.terminal.display import shown

        for missing in get_command.missing_files(os.environ):
            print(f"mfaenv: warning: {shown(missing)}", file=sys.stderr)
        table = get_command.list_profiles()
        if not table:
            print(f"mfaenv: no profiles in {shown(credentials_file(os.environ))} or {shown(config_file(os.environ))}",
                  file=sys.stderr)
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
        """Remove cached sessions, so that the next use asks for a code.

        Without PROFILE every cached session; with it, every one PROFILE uses (for a
        role also the MFA session beneath). When this shell holds one of them, it is
        unset too. --persisted also removes what --persist wrote into [PROFILE].
        """
        from mfaenv.terminal.display import shown

        done = get_command.forget(profile, shell, persisted=persisted)
        if done.folder is None:
            message = "no session cache in use" + ("" if persisted else ", nothing to forget")
        else:
            message = f"forgot {done.count} cached session{'' if done.count == 1 else 's'}"
            message += f" of '{profile}'" if profile is not None else ""
            if done.dependants:
                message += f" ({done.dependants} of them assumed through its session)"
            if done.refused is not None:
                message += (f" from {done.folder}, which mfaenv does not use: it is {done.refused}; "
                            f"run: chmod 700 {done.folder}")
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

    app.add_typer(keys_app, name="keys", short_help="Keep long-term keys in the OS credential store.")

    @app.command("profiles", hidden=True)
    def profiles():
        """Profile names, one a line, for shell completion."""
        _write(get_command.profile_names())

    return typer.main.get_command(app)
