"""One dialect per shell: how it quotes a value, sets and removes a variable.

Every value placed into shell text goes through its dialect's ``quote``;
nothing else in mfaenv knows any shell's syntax. The integration scripts
(`mfaenv init`) live in the top-level ``shell/`` folder, one file per shell.
"""

from __future__ import annotations

import os
from typing import Dict, Mapping, Optional

from mfaenv.errors import UsageError

# PowerShell treats these as single quotes too (U+2018-U+201B), so a value
# containing one could otherwise close the string.
_POWERSHELL_QUOTES = "'\u2018\u2019\u201a\u201b"


class Dialect:
    """The statements of one shell family. Subclasses own their quoting."""

    name = "sh"

    def quote(self, value: str) -> str:
        raise NotImplementedError

    def set(self, name: str, value: str) -> str:
        raise NotImplementedError

    def unset(self, name: str) -> str:
        raise NotImplementedError

    def render(self, variables: Mapping[str, Optional[str]]) -> str:
        """Shell text for a mapping of name -> value (``None``: remove it)."""
        lines = []
        for name, value in variables.items():
            if value is None:
                lines.append(self.unset(name))
            else:
                _check_value(name, value)
                lines.append(self.set(name, value))
        return "".join(line + "\n" for line in lines)


def _check_value(name: str, value: str) -> None:
    # No shell can hold a NUL in an environment variable; refuse rather than truncate.
    if "\0" in value:
        raise UsageError(f"value of {name} contains a NUL byte and cannot be exported")


class Posix(Dialect):
    """sh, bash and zsh: single quotes, where only ``'`` needs care.

    ``\\export`` and ``\\unset``: a quoted command name is never looked up as an
    alias (a user's ``alias export=echo`` would print the keys and export
    nothing), in bash, zsh and dash alike.
    """

    name = "sh"

    def quote(self, value: str) -> str:
        return "'" + value.replace("'", "'\\''") + "'"

    def set(self, name: str, value: str) -> str:
        return f"\\export {name}={self.quote(value)}"

    def unset(self, name: str) -> str:
        return f"\\unset {name}"


class Fish(Dialect):
    """fish: inside single quotes, only ``\\`` and ``'`` are special."""

    name = "fish"

    def quote(self, value: str) -> str:
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"

    def set(self, name: str, value: str) -> str:
        return f"set -gx {name} {self.quote(value)}"

    def unset(self, name: str) -> str:
        # `set -e` of an absent variable sets $status to 4; `| source` would end with it.
        # `set` is a reserved word in fish; `true` could be a user's function.
        return f"set -e {name}; or builtin true"


class PowerShell(Dialect):
    """PowerShell: verbatim strings, where every single-quote character is doubled."""

    name = "powershell"

    def quote(self, value: str) -> str:
        return "'" + "".join(c + c if c in _POWERSHELL_QUOTES else c for c in value) + "'"

    def set(self, name: str, value: str) -> str:
        return f"$Env:{name} = {self.quote(value)}"

    def unset(self, name: str) -> str:
        return f"Remove-Item Env:{name} -ErrorAction SilentlyContinue"


POSIX = Posix()
FISH = Fish()
POWERSHELL = PowerShell()

#: Shell names accepted by --shell, MFAENV_SHELL and `init`, and what shellingham reports.
DIALECTS: Dict[str, Dialect] = {
    "sh": POSIX,
    "bash": POSIX,
    "zsh": POSIX,
    "dash": POSIX,
    "ksh": POSIX,
    "fish": FISH,
    "powershell": POWERSHELL,
    "pwsh": POWERSHELL,
}

def dialect_for(name: str) -> Dialect:
    try:
        return DIALECTS[name.lower()]
    except KeyError:
        known = ", ".join(sorted(DIALECTS))
        raise UsageError(f"unknown shell '{name}'; use one of: {known}") from None


def detect_dialect(explicit: Optional[str] = None, environ: Mapping[str, str] = os.environ) -> Dialect:
    """The wrapper's shell; else --shell, else $MFAENV_SHELL, else the parent shell, else POSIX sh.

    The `mfaenv init` wrappers set MFAENV_WRAPPER for the one call whose output
    they evaluate: any other syntax would run there as that shell's code (fish's
    ``set -e`` is errexit in bash), so a --shell naming another syntax is refused.
    """
    wrapper = environ.get("MFAENV_WRAPPER")
    if wrapper:
        dialect = dialect_for(wrapper)
        if explicit and dialect_for(explicit) is not dialect:
            raise UsageError(
                f"--shell {explicit}: the {wrapper} integration evaluates {wrapper} code only; "
                f"to print {explicit} code, run the mfaenv program itself ('command mfaenv ... --shell {explicit}')"
            )
        return dialect
    name = explicit or environ.get("MFAENV_SHELL")
    if name:
        return dialect_for(name)
    import shellingham  # only when neither was given: it walks the process tree

    try:
        detected, _path = shellingham.detect_shell()
    except (shellingham.ShellDetectionFailure, RuntimeError, OSError):
        return POSIX
    return DIALECTS.get(detected.lower(), POSIX)
