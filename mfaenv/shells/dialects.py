"""One dialect per shell: how it quotes a value, sets and removes a variable.

Every value placed into shell text goes through its dialect's ``quote``;
nothing else in mfaenv knows any shell's syntax. The integration scripts
(`mfaenv init`) live in the top-level ``shell/`` folder, one file per shell.
"""

from __future__ import annotations

import os
import re
from typing import Dict, Mapping, Optional

from mfaenv.errors import UsageError


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


#: Runs of printable ASCII, which a PowerShell verbatim string carries as they are.
_PRINTABLE_ASCII = re.compile(r"[ -~]+")


class PowerShell(Dialect):
    """PowerShell: pure ASCII, as verbatim strings and ``[char]0xNNNN`` code units.

    A Windows console decodes a native command's output with its code page:
    the UTF-8 bytes of ``ё`` (D1 91) read as ``Ñ‘`` in Windows-1252, and PowerShell
    takes ``‘`` (like U+2018-U+201B) for a single quote, which would end the
    string. So only printable ASCII goes into a string (its ``'`` doubled);
    every other character, controls included, is one ``[char]0xNNNN`` per
    UTF-16 code unit, joined with `` + `` to an expression that starts with a
    string (``[char] + [char]`` would add numbers): ``'' + [char]0x0451``.
    """

    name = "powershell"

    def quote(self, value: str) -> str:
        terms = []
        position = 0
        for run in _PRINTABLE_ASCII.finditer(value):
            terms.extend(_char_casts(value[position:run.start()]))
            terms.append("'" + run.group().replace("'", "''") + "'")
            position = run.end()
        terms.extend(_char_casts(value[position:]))
        if not terms or not terms[0].startswith("'"):
            terms.insert(0, "''")
        return " + ".join(terms)

    def set(self, name: str, value: str) -> str:
        return f"$Env:{name} = {self.quote(value)}"

    def unset(self, name: str) -> str:
        # Module-qualified: a user's alias or function named Remove-Item cannot stand in for it.
        return f"Microsoft.PowerShell.Management\\Remove-Item Env:{name} -ErrorAction SilentlyContinue"


def _char_casts(text: str) -> "list[str]":
    units = text.encode("utf-16-le", "surrogatepass")
    return [f"[char]0x{int.from_bytes(units[i:i + 2], 'little'):04X}" for i in range(0, len(units), 2)]


#: What the Nushell record writes as it is: letters, digits, space and ``_+=,./:@-``, which no
#: shell acts on inside double quotes. Everything else is ``\\uXXXX``.
_NU_LITERAL = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _+=,./:@-")


class Nushell(Dialect):
    """Nushell: no statements at all, one JSON record for ``from json | load-env``.

    Nushell cannot evaluate text, so the variables travel as data: each name
    maps to its value, or to ``null`` for a variable to remove (the `mfaenv`
    wrapper hides those with ``hide-env``; loaded as they are, a null reaches
    no external command). A value is a JSON string, which carries anything and
    runs nothing in Nushell. Inside it, every character but letters, digits,
    space and ``_+=,./:@-`` is spelled ``\\uXXXX`` (UTF-16 code units, as JSON
    has it): ``$``, a backtick, ``"``, ``\\``, ``!``, ``%`` and quotes of any
    script never appear, so the record stays inert when a POSIX shell, fish or
    PowerShell evaluates it by mistake (``MFAENV_SHELL=nu`` inherited into
    bash), and pure ASCII, as for PowerShell: a console's code page cannot
    alter it on the way. Nushell reads the same values.
    """

    name = "nu"

    def quote(self, value: str) -> str:
        """``value`` as a JSON string that holds only inert ASCII."""
        if all(char in _NU_LITERAL for char in value):
            return f'"{value}"'
        units = value.encode("utf-16-be", "surrogatepass")
        spelled, index = [], 0
        for char in value:
            width = 4 if ord(char) > 0xFFFF else 2
            if char in _NU_LITERAL:
                spelled.append(char)
            else:
                spelled += [f"\\u{int.from_bytes(units[at:at + 2], 'big'):04x}" for at in range(index, index + width, 2)]
            index += width
        return '"' + "".join(spelled) + '"'

    def render(self, variables: Mapping[str, Optional[str]]) -> str:
        fields = []
        for name, value in variables.items():
            if value is not None:
                _check_value(name, value)
                _check_unicode(name, value)
            fields.append(f"  {self.quote(name)}: {'null' if value is None else self.quote(value)}")
        # The layout of json.dumps(indent=2), which the README shows.
        return "{\n" + ",\n".join(fields) + "\n}\n" if fields else "{}\n"


def _check_unicode(name: str, value: str) -> None:
    # A lone surrogate (an undecodable byte of an inherited variable) has no UTF-8 form:
    # Nushell's `from json` would reject the whole record with a parser error.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(f"value of {name} is not valid Unicode text and cannot be exported") from None


POSIX = Posix()
FISH = Fish()
POWERSHELL = PowerShell()
NUSHELL = Nushell()

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
    "nu": NUSHELL,
    "nushell": NUSHELL,
}

def dialect_for(name: str) -> Dialect:
    try:
        return DIALECTS[name.lower()]
    except KeyError:
        raise UsageError(f"unknown shell '{name}'; use bash, zsh, fish, powershell or nu (sh for other POSIX shells)") from None


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
            program = "^mfaenv" if dialect is NUSHELL else "command mfaenv"  # how that shell names the program
            raise UsageError(
                f"--shell {explicit}: the {wrapper} integration evaluates {wrapper} code only; "
                f"to print {explicit} code, run the mfaenv program itself ('{program} ... --shell {explicit}')"
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
