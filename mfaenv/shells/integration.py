"""`mfaenv init SHELL`: print the integration script of one shell from ``shell/``.

Imported on its own by the fast path in ``cli.main`` (no typer, no boto3),
because the rc-file line runs at every new shell.
"""

from __future__ import annotations

import os

from mfaenv.errors import UsageError

SCRIPT_FILES = {
    "bash": "mfaenv.bash", "zsh": "mfaenv.zsh", "fish": "mfaenv.fish", "powershell": "mfaenv.ps1", "nu": "mfaenv.nu",
}
ALIASES = {"pwsh": "powershell", "nushell": "nu"}

# os.path, not pathlib: pathlib (+ urllib.parse, ipaddress) costs ~4 ms at every new shell.
_PACKAGE = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))  # mfaenv/, above shells/


def script_folders():
    """The wheel carries shell/ inside the package; a checkout has it beside it."""
    return (os.path.join(_PACKAGE, "shell"), os.path.join(os.path.dirname(_PACKAGE), "shell"))


def init_script(shell: str) -> str:
    name = ALIASES.get(shell.lower(), shell.lower())
    if name not in SCRIPT_FILES:
        raise UsageError(f"no integration for shell '{shell}'; use one of: {', '.join(SCRIPT_FILES)}")
    for folder in script_folders():
        path = os.path.join(folder, SCRIPT_FILES[name])
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as handle:
                return handle.read()
    raise UsageError(f"integration script {SCRIPT_FILES[name]} is missing from this installation")
