"""Running a code command (`--code-command`, `mfa_process`, MFAENV_CODE_COMMAND) as a shell runs a job.

The command runs in a process group of its own, so that a timeout stops
everything it started, not only /bin/sh. Not a new session (setsid): that
would cut the command off the terminal, where a password manager may ask for
its passphrase. Imported only when a command is to run: a cached
`credential-process` (every SDK start) loads none of this.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from typing import Optional

from mfaenv.errors import CodeInputError
from mfaenv.terminal.codeinput import CODE_COMMAND_MARKER

#: How long a code command (a hardware key waiting for a touch) may take.
TIMEOUT = 60
#: The most a code command may print: a code is one short line.
MAX_OUTPUT = 64 * 1024


def run(command: str, profile: str) -> "tuple[bytes, int]":
    """The command's stdout and exit status, read until the command itself has exited.

    The command runs in a process group of its own, so that a timeout stops
    everything it started, not only /bin/sh; a background child that keeps
    stdout open is not waited for, but stopped. Not a new session: that would cut the
    command off the terminal, where a password manager may ask for its
    passphrase. While it runs, its group holds the terminal (as a shell hands
    the terminal to a foreground job), so it may read there, and Ctrl-C
    reaches it.
    """
    terminal = _ForegroundTerminal() if os.name == "posix" else None
    try:
        # stderr stays the user's: ykman says "Touch your YubiKey..." there, and a
        # password manager says why it failed. Only stdout is read for the code.
        process = subprocess.Popen(
            command, shell=True, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            env={**os.environ, CODE_COMMAND_MARKER: profile},
            preexec_fn=terminal.child_setup if terminal is not None else None,
        )
    except OSError as error:
        if terminal is not None:
            terminal.restore()
        raise CodeInputError(f"profile '{profile}': cannot run code command: {error.strerror}") from None
    try:
        output = _read_until_exit(process, profile)
        return output, process.returncode
    finally:
        process.stdout.close()
        _stop_group(process)  # timeout, too much output, mfaenv interrupted, or a child left behind
        if terminal is not None:
            terminal.restore()


def _read_until_exit(process: subprocess.Popen, profile: str) -> bytes:
    import selectors

    deadline = time.monotonic() + TIMEOUT
    output = bytearray()
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CodeInputError(f"profile '{profile}': code command took more than {TIMEOUT}s")
            exited = process.poll() is not None
            # Once the command has exited, take what it wrote and stop: a child it left
            # in the background may hold the pipe open for a long time.
            if selector.select(0 if exited else min(left, 0.05)):
                chunk = os.read(process.stdout.fileno(), 65536)
                if not chunk:
                    break
                output += chunk
                if len(output) > MAX_OUTPUT:
                    raise CodeInputError(
                        f"profile '{profile}': code command printed more than "
                        f"{MAX_OUTPUT // 1024} KiB; it should print the code"
                    )
            elif exited:
                break
    try:  # the command closed stdout: it is exiting, or should be before the deadline
        process.wait(max(deadline - time.monotonic(), 0.1))
    except subprocess.TimeoutExpired:
        raise CodeInputError(f"profile '{profile}': code command took more than {TIMEOUT}s") from None
    return bytes(output)


def _stop_group(process: subprocess.Popen) -> None:
    """End what is left of the command's group: SIGTERM (a pinentry restores the terminal), then SIGKILL.

    After a timeout that is the command itself; after success, a child it left
    in the background. (Daemons such as gpg-agent start a session of their own
    and are not in the group.)
    """
    if os.name != "posix":
        if process.poll() is None:
            process.kill()
            process.wait()
        return
    if not _signal_group(process, signal.SIGTERM):
        return
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        process.poll()  # reap the leader, so that only live members keep the group
        if not _signal_group(process, 0):
            return
        time.sleep(0.02)
    _signal_group(process, signal.SIGKILL)
    process.wait()


def _signal_group(process: subprocess.Popen, sig: int) -> bool:
    """Send a signal to the command's group; False when no process is left in it."""
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:  # a member changed its user (sudo): it is not ours to stop
        return False
    return True


class _ForegroundTerminal:
    """Hands the controlling terminal to the code command's group, and takes it back.

    Only when mfaenv itself is in the foreground (typed at a prompt, or under
    the wrapper); with no terminal, or in the background, nothing changes.
    The child takes the terminal itself, before exec, as a shell's job does:
    taken afterwards, a command that reads the terminal at once would already
    be stopped by SIGTTIN.
    """

    def __init__(self):
        self.fd: Optional[int] = None
        try:
            fd = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
        except OSError:
            return
        try:
            if os.tcgetpgrp(fd) == os.getpgrp():
                import termios

                self.modes = termios.tcgetattr(fd)
                self.fd = fd
                return
        except (OSError, ImportError):
            pass
        os.close(fd)

    def child_setup(self) -> None:
        """In the child, before exec: a group of its own that holds the terminal."""
        os.setpgrp()
        if self.fd is not None:
            _take_terminal(self.fd)

    def restore(self) -> None:
        if self.fd is None:
            return
        import termios

        try:
            _take_terminal(self.fd)
            termios.tcsetattr(self.fd, termios.TCSANOW, self.modes)  # a killed pinentry may leave raw mode
        except (OSError, termios.error):
            pass
        finally:
            os.close(self.fd)


def _take_terminal(fd: int) -> None:
    """Make this process's group the terminal's foreground group, from the background too."""
    previous = signal.signal(signal.SIGTTOU, signal.SIG_IGN)  # what a background tcsetpgrp is sent
    try:
        os.tcsetpgrp(fd, os.getpgrp())
    finally:
        signal.signal(signal.SIGTTOU, previous)
