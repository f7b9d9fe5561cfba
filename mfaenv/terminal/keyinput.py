"""Asking a person for long-term keys, and for a yes, on the terminal itself (`mfaenv keys`).

Like the code prompt, the terminal is opened directly (``/dev/tty``), so nothing
touches stdout or stdin; the secret is read with the terminal's echo off
(restored whatever happens, Ctrl-C included) and is never an argument.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager

from mfaenv.errors import NoTerminalError, UsageError
from mfaenv.terminal.codeinput import end_line, open_terminal
from mfaenv.terminal.display import shown

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Iterator, Tuple


@contextmanager
def _terminal(why: str) -> Iterator[Tuple[object, object]]:
    try:
        out, inp = open_terminal()
    except OSError:
        raise NoTerminalError(f"no terminal to {why}") from None
    with out, inp:
        try:
            yield out, inp
        except KeyboardInterrupt:
            end_line(out)
            raise


def _read_line(out, inp, question: str) -> str:
    out.write(question)
    out.flush()
    answer = inp.readline()
    if not answer.endswith("\n"):  # Ctrl-D leaves the cursor on the line
        end_line(out)
    return answer.strip()


@contextmanager
def _echo_off(inp) -> Iterator[None]:
    """The terminal's echo off while the secret is typed; back as it was afterwards."""
    if sys.platform == "win32":
        yield
        return
    import termios

    fd = inp.fileno()
    before = termios.tcgetattr(fd)
    quiet = list(before)
    quiet[3] &= ~termios.ECHO
    termios.tcsetattr(fd, termios.TCSAFLUSH, quiet)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSAFLUSH, before)


def ask_keys(profile: str, command: str = "") -> Tuple[str, str]:
    """(access key id, secret access key), typed on the terminal; the secret is not echoed.

    ``command``: what to run in a terminal instead (default: `mfaenv keys add PROFILE`).
    """
    command = command or f"mfaenv keys add {profile}"
    with _terminal(f"ask for the keys of '{profile}' on; run '{command}' in a terminal") as (out, inp):
        key_id = _read_line(out, inp, f"Access key id for {shown(profile)}: ")
        if not key_id:
            raise UsageError("no access key id entered")
        if sys.platform == "win32":
            import getpass

            secret = getpass.getpass(f"Secret access key for {shown(profile)} (not shown): ", stream=out).strip()
        else:
            with _echo_off(inp):
                secret = _read_line(out, inp, f"Secret access key for {shown(profile)} (not shown): ")
            end_line(out)  # the Enter typed was not echoed either
        if not secret:
            raise UsageError("no secret access key entered")
    return key_id, secret


def confirm(question: str, refusal: str) -> bool:
    """A yes (y, yes) typed on the terminal; NoTerminalError naming ``refusal`` (e.g. "pass --yes") without one."""
    with _terminal(f"ask '{question}' on; {refusal}") as (out, inp):
        return _read_line(out, inp, f"{shown(question)} [y/N] ").lower() in ("y", "yes")


def ask(question: str, refusal: str) -> str:
    """One line typed on the terminal (stripped); NoTerminalError naming ``refusal`` without a terminal."""
    with _terminal(f"ask '{question}' on; {refusal}") as (out, inp):
        return _read_line(out, inp, question)


def tell(text: str) -> None:
    """A line for the person at the terminal, where the questions are (stderr when there is none)."""
    try:
        with _terminal("tell") as (out, _inp):
            out.write(shown(text) + "\n")
            out.flush()
    except NoTerminalError:
        print(shown(text), file=sys.stderr)
