"""The wheel carries shell/, and `mfaenv init` finds it there as well as in a checkout."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHELL_FILES = sorted(path.name for path in (ROOT / "shell").iterdir())


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out), str(ROOT)],
        check=True, capture_output=True, timeout=300,
    )
    (found,) = out.glob("mfaenv-*.whl")
    return found


def test_wheel_ships_every_integration_script(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert SHELL_FILES == ["mfaenv.bash", "mfaenv.fish", "mfaenv.ps1", "mfaenv.zsh"]
    assert sorted(name.split("/")[-1] for name in names if name.startswith("mfaenv/shell/")) == SHELL_FILES


def test_init_from_an_installed_wheel_prints_the_shipped_script(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(wheel)],
        check=True, capture_output=True, timeout=300,
    )
    # Run away from the checkout, with only the installed copy of mfaenv importable.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), *sys.path[1:]])}
    for shell in ("bash", "zsh", "fish", "powershell"):
        result = subprocess.run(
            [sys.executable, "-c", "import mfaenv.cli, sys; print(mfaenv.cli.__file__, file=sys.stderr); mfaenv.cli.main(['init', sys.argv[1]])", shell],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
        )
        assert result.returncode == 0, result.stderr
        assert result.stderr.startswith(str(target)), "the checkout was imported instead of the wheel"
        shipped = {"powershell": "mfaenv.ps1"}.get(shell, f"mfaenv.{shell}")
        assert result.stdout == (ROOT / "shell" / shipped).read_text(encoding="utf-8")
