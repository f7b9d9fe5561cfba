"""Where an MFA code comes from when none is given: a command, or the terminal.

The terminal is opened directly (``/dev/tty``, the console on Windows), so the
question and the answer never touch stdout: ``eval "$(mfaenv stage)"`` still
prompts, and only shell code reaches the caller's ``eval``.
"""

from __future__ import annotations

import os
import re
import sys

from mfaenv.errors import CodeInputError, NoTerminalError, UsageError

TYPE_CHECKING = False  # no typing at run time: `credential-process` imports this at every SDK start
if TYPE_CHECKING:
    from typing import Optional

# ASCII only: \d alone also matches other scripts' digits, which STS would reject.
CODE_PATTERN = re.compile(r"\d{6}", re.ASCII)  # use fullmatch: `$` would allow a final newline
#: How long a code command (a hardware key waiting for a touch) may take.
CODE_COMMAND_TIMEOUT = 60


def check_code(code: str) -> str:
    """A code must be six digits; anything else is refused before any network call."""
    code = code.strip()
    if not CODE_PATTERN.fullmatch(code):
        raise UsageError("the MFA code must be six digits")
    return code


def code_from_command(command: str, profile: str) -> str:
    """Run a command (``ykman oath accounts code -s aws``) and take the code it prints."""
    import subprocess  # only here: a cached `credential-process` (every SDK start) runs no command

    try:
        # stderr stays the user's: ykman says "Touch your YubiKey..." there, and a
        # password manager says why it failed. Only stdout is read for the code.
        result = subprocess.run(
            command, shell=True, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            text=True, errors="replace", timeout=CODE_COMMAND_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        raise CodeInputError(f"profile '{profile}': code command took more than {CODE_COMMAND_TIMEOUT}s") from None
    except OSError as error:
        raise CodeInputError(f"profile '{profile}': cannot run code command: {error.strerror}") from None
    if result.returncode != 0:
        raise CodeInputError(f"profile '{profile}': code command failed with exit status {result.returncode}")
    # ykman prints "aws:jane  123456"; password managers print the bare code.
    codes = re.findall(r"(?<!\d)\d{6}(?!\d)", result.stdout, re.ASCII)
    if not codes:
        raise CodeInputError(f"profile '{profile}': code command printed no six-digit code")
    return codes[-1]


def code_from_terminal(profile: str, serial: str) -> str:
    """Ask on the controlling terminal; fail at once when there is none."""
    question = f"MFA code for {profile} ({serial}): "
    try:
        if sys.platform == "win32":
            with open("CONOUT$", "w") as out, open("CONIN$") as inp:
                out.write(question)
                out.flush()
                answer = inp.readline()
        else:
            # One stream each way: a text stream opened "r+" needs a seekable
            # file, and a terminal is not one (it would fail as "no terminal").
            with open("/dev/tty", "w", encoding="utf-8") as out, \
                    open("/dev/tty", encoding="utf-8", errors="replace") as inp:
                out.write(question)
                out.flush()
                answer = inp.readline()
    except OSError:
        raise NoTerminalError(
            f"profile '{profile}': no terminal to ask for the MFA code; "
            f"pass the code as an argument or set --code-command"
        ) from None
    if not answer:
        raise CodeInputError(f"profile '{profile}': no MFA code entered")
    return check_code(answer)


def obtain_code(profile: str, serial: str, command: Optional[str]) -> str:
    """--code-command (or mfa_process / MFAENV_CODE_COMMAND), else the terminal."""
    command = command or os.environ.get("MFAENV_CODE_COMMAND")
    if command:
        return code_from_command(command, profile)
    return code_from_terminal(profile, serial)
