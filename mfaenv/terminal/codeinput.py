"""Where an MFA code comes from when none is given: a command, or the terminal.

The terminal is opened directly (``/dev/tty``, the console on Windows), so the
question and the answer never touch stdout: ``eval "$(mfaenv stage)"`` still
prompts, and only shell code reaches the caller's ``eval``.
"""

from __future__ import annotations

import os
import re
import sys

from mfaenv.terminal.display import shown
from mfaenv.errors import CodeInputError, NoTerminalError, UsageError

TYPE_CHECKING = False  # no typing at run time: `credential-process` imports this at every SDK start
if TYPE_CHECKING:
    from typing import Optional

# ASCII only: \d alone also matches other scripts' digits, which STS would reject.
CODE_PATTERN = re.compile(r"\d{6}", re.ASCII)  # use fullmatch: `$` would allow a final newline
#: Set in a code command's environment to the profile it reads a code for. An mfaenv started
#: under it (the code command's `aws ... --profile X`, where X has `credential_process =
#: mfaenv credential-process ...`) that would need a code of its own fails at once, instead
#: of running a code command again: the chain stops at depth one.
CODE_COMMAND_MARKER = "MFAENV_IN_CODE_COMMAND"
#: How often the terminal asks before giving up.
TERMINAL_TRIES = 3


def check_code(code: str) -> str:
    """A code is six digits, spaces allowed inside (`123 456`, as authenticator apps show it)."""
    code = "".join(code.split())
    if not CODE_PATTERN.fullmatch(code):
        raise UsageError("the MFA code must be six digits")
    return code


def code_from_command(command: str, profile: str) -> str:
    """Run a command (``ykman oath accounts code -s aws``) and take the code it prints."""
    from mfaenv.terminal import codecommand  # only here: a cached `credential-process` (every SDK start) runs no command

    output, status = codecommand.run(command, profile)
    if status < 0 and -status == 2:  # SIGINT: Ctrl-C reached the command, which had the terminal
        raise KeyboardInterrupt
    if status != 0:
        raise CodeInputError(f"profile '{profile}': code command failed with exit status {status}")
    # ykman prints "aws:jane  123456"; password managers print the bare code.
    codes = re.findall(r"(?<!\d)\d{6}(?!\d)", output.decode("utf-8", "replace"), re.ASCII)
    if not codes:
        raise CodeInputError(f"profile '{profile}': code command printed no six-digit code")
    return codes[-1]


def open_terminal():
    """The controlling terminal as (out, inp) text streams, whatever stdin and stdout are; OSError without one.

    One stream each way: a text stream opened "r+" needs a seekable file, and a
    terminal is not one (it would fail as "no terminal").
    """
    if sys.platform == "win32":
        return open("CONOUT$", "w"), open("CONIN$")
    out = open("/dev/tty", "w", encoding="utf-8")
    try:
        return out, open("/dev/tty", encoding="utf-8", errors="replace")
    except OSError:
        out.close()
        raise


def code_from_terminal(profile: str, serial: str) -> str:
    """Ask on the controlling terminal, up to three times; fail at once when there is none."""
    question = f"MFA code for {shown(profile)} ({shown(serial)}): "
    try:
        out, inp = open_terminal()
    except OSError:
        raise NoTerminalError(
            f"profile '{profile}': no terminal to ask for the MFA code; "
            f"pass the code as an argument or set --code-command"
        ) from None
    with out, inp:
        for attempt in range(1, TERMINAL_TRIES + 1):
            out.write(question)
            out.flush()
            try:
                answer = inp.readline()
            except KeyboardInterrupt:
                end_line(out)  # after the terminal's ^C, so that "interrupted" starts a line
                raise
            if not answer.strip():  # an empty line, or Ctrl-D (which leaves the cursor on the line)
                if not answer.endswith("\n"):
                    end_line(out)
                raise CodeInputError(f"profile '{profile}': no MFA code entered")
            try:
                return check_code(answer)
            except UsageError:
                if attempt < TERMINAL_TRIES:
                    out.write("The code is six digits; try again.\n")
    raise UsageError(f"the MFA code must be six digits ({TERMINAL_TRIES} tries)")


def end_line(out) -> None:
    """End the line the cursor is on (after Ctrl-C or Ctrl-D at a prompt); a closed terminal is let be."""
    try:
        out.write("\n")
        out.flush()
    except (OSError, ValueError):
        pass


def obtain_code(profile: str, serial: str, command: Optional[str]) -> str:
    """--code-command (or mfa_process / MFAENV_CODE_COMMAND), else the terminal.

    Never inside a code command: that mfaenv was started by one (through a tool whose
    profile runs `mfaenv credential-process`), and asking again would start it again.
    """
    outer = os.environ.get(CODE_COMMAND_MARKER)
    if outer is not None:
        raise CodeInputError(
            f"profile '{shown(profile)}' needs an MFA code, but this mfaenv was started by the code command of "
            f"profile '{shown(outer)}', which must not need one itself (it would start again and again); "
            f"give the code command credentials that need no code, or run 'mfaenv {shown(profile)}' first"
        )
    command = command or os.environ.get("MFAENV_CODE_COMMAND")
    if command:
        return code_from_command(command, profile)
    return code_from_terminal(profile, serial)
