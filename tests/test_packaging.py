"""The wheel carries shell/, and `mfaenv init` finds it there as well as in a checkout."""

from __future__ import annotations

import os
import shutil
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
    assert SHELL_FILES == ["mfaenv.bash", "mfaenv.fish", "mfaenv.nu", "mfaenv.ps1", "mfaenv.zsh"]
    assert sorted(name.split("/")[-1] for name in names if name.startswith("mfaenv/shell/")) == SHELL_FILES


def test_init_from_an_installed_wheel_prints_the_shipped_script(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(wheel)],
        check=True, capture_output=True, timeout=300,
    )
    # Run away from the checkout, with only the installed copy of mfaenv importable.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), *sys.path[1:]])}
    for shell in ("bash", "zsh", "fish", "powershell", "nu"):
        result = subprocess.run(
            [sys.executable, "-c", "import mfaenv.cli, sys; print(mfaenv.cli.__file__, file=sys.stderr); mfaenv.cli.main(['init', sys.argv[1]])", shell],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
        )
        assert result.returncode == 0, result.stderr
        assert result.stderr.startswith(str(target)), "the checkout was imported instead of the wheel"
        shipped = {"powershell": "mfaenv.ps1"}.get(shell, f"mfaenv.{shell}")
        assert result.stdout == (ROOT / "shell" / shipped).read_text(encoding="utf-8")


@pytest.mark.parametrize("layout", ["wheel", "checkout", "both"])
def test_init_finds_the_scripts_in_a_wheel_and_in_a_checkout(tmp_path, layout):
    """A wheel carries shell/ inside the package (hatch force-include); a checkout beside it.

    An editable install of a checkout sees only the one beside it; where both
    exist, the package's own copy wins.
    """
    shutil.copytree(ROOT / "mfaenv", tmp_path / "mfaenv", ignore=shutil.ignore_patterns("__pycache__", "shell"))
    folders = {"wheel": tmp_path / "mfaenv" / "shell", "checkout": tmp_path / "shell"}
    for name, folder in folders.items():
        if layout in (name, "both"):
            folder.mkdir()
            (folder / "mfaenv.zsh").write_text(f"# zsh integration from the {name}\n", encoding="utf-8")
    code = "import sys, mfaenv.shells.integration as m; print(m.__file__); sys.stdout.write(m.init_script('zsh'))"
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(tmp_path)},
                            capture_output=True, text=True)
    module, text = result.stdout.split("\n", 1)
    assert Path(module).is_relative_to(tmp_path), result.stderr  # the copy, not the checkout under test
    assert text == f"# zsh integration from the {'checkout' if layout == 'checkout' else 'wheel'}\n"
