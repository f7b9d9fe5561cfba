"""`mfaenv init SHELL`: print the integration script of one shell from ``shell/``.

Imported on its own by the fast path in ``cli.main`` (no typer, no boto3),
because the rc-file line runs at every new shell.
"""

from __future__ import annotations

from pathlib import Path

from mfaenv.errors import UsageError

SCRIPT_FILES = {"bash": "mfaenv.bash", "zsh": "mfaenv.zsh", "fish": "mfaenv.fish", "powershell": "mfaenv.ps1"}
ALIASES = {"pwsh": "powershell"}

_PACKAGE = Path(__file__).resolve().parent


def script_folders():
    """The wheel carries shell/ inside the package; a checkout has it beside it."""
    return (_PACKAGE / "shell", _PACKAGE.parent / "shell")


def init_script(shell: str) -> str:
    name = ALIASES.get(shell.lower(), shell.lower())
    if name not in SCRIPT_FILES:
        raise UsageError(f"no integration for shell '{shell}'; use one of: {', '.join(SCRIPT_FILES)}")
    for folder in script_folders():
        path = folder / SCRIPT_FILES[name]
        if path.is_file():
            return path.read_text(encoding="utf-8")
    raise UsageError(f"integration script {SCRIPT_FILES[name]} is missing from this installation")
