"""Where the session cache lives (SPEC "The session cache"), through the real CLI on the real /dev/shm.

Without MFAENV_CACHE_DIR and an absolute XDG_RUNTIME_DIR, the cache is
/dev/shm/mfaenv-<uid>, trusted only as tmux trusts /tmp/tmux-<uid>. The tests
use the real /dev/shm, but a folder name of their own (MFAENV_TEST_SHM_NAME,
read only by mfaenv/stores/sessionstore.py): every test run of this user
shares /dev/shm, and the user's real mfaenv-<uid> folder must not be planted
with hostile folders or filled with test sessions. The hostile folders are
made there first, as another user (or program) would make them.
"""

from __future__ import annotations

import os
import shutil
import stat
import uuid
from pathlib import Path
from typing import Dict

import pytest

from conftest import run_mfaenv
from test_cache_cli import (  # noqa: F401 (fixtures)
    FOREIGN_UID, assert_asks_for_a_code, assert_reused, cache_env, fetch, new_terminal, runtime, warnings,
)

SHM = Path("/dev/shm")


@pytest.fixture
def shm_folder() -> Path:
    """A fresh name in the real /dev/shm, removed afterwards (whatever the test planted there)."""
    if not SHM.is_dir():
        pytest.skip("no /dev/shm here")
    path = SHM / f"mfaenv-test-{uuid.uuid4().hex[:12]}"
    yield path
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


@pytest.fixture
def shm_env(cache_env: Dict[str, str], shm_folder: Path) -> Dict[str, str]:
    """No XDG_RUNTIME_DIR and no MFAENV_CACHE_DIR (a container, `sudo -i`, SSH without logind)."""
    environ = {name: value for name, value in cache_env.items() if name != "XDG_RUNTIME_DIR"}
    environ["MFAENV_TEST_SHM_NAME"] = shm_folder.name
    return environ


def entries(folder: Path) -> list:
    return sorted(path for path in folder.iterdir() if path.name.endswith(".session"))


def test_without_a_runtime_folder_the_cache_is_a_private_folder_in_dev_shm(shm_env, shm_folder, sts_standin):
    first = fetch("admin", shm_env)

    info = shm_folder.lstat()
    assert stat.S_ISDIR(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o700 and info.st_uid == os.geteuid()
    assert len(entries(shm_folder)) == 2, "the MFA session and the role session"
    assert all(stat.S_IMODE(path.stat().st_mode) == 0o600 for path in entries(shm_folder))
    reused = assert_reused(new_terminal("admin", shm_env, sts_standin))
    assert reused["AWS_SESSION_TOKEN"] == first["AWS_SESSION_TOKEN"]
    listed = run_mfaenv(["list"], shm_env)
    assert listed.returncode == 0 and "left)" in listed.stdout
    forgot = run_mfaenv(["forget"], shm_env)
    assert forgot.returncode == 0 and "forgot 2 cached sessions" in forgot.stderr
    assert entries(shm_folder) == []
    assert_asks_for_a_code(new_terminal("admin", shm_env, sts_standin))


def plant_symlink(folder: Path, tmp_path: Path) -> Path:
    target = tmp_path / "target"
    target.mkdir(mode=0o700)
    folder.symlink_to(target)
    return target


def plant_foreign(folder: Path, tmp_path: Path) -> Path:
    if os.geteuid() != 0:
        pytest.skip("making another user's folder needs root")
    folder.mkdir(mode=0o700)
    os.chown(folder, FOREIGN_UID, FOREIGN_UID)
    return folder


def plant_loose(folder: Path, tmp_path: Path) -> Path:
    folder.mkdir()
    folder.chmod(0o777)
    return folder


def plant_file(folder: Path, tmp_path: Path) -> Path:
    folder.write_text("not a folder\n")
    return folder


@pytest.mark.parametrize("plant, said, fix", [
    (plant_symlink, "is a symlink", "rm "),
    (plant_foreign, f"owned by uid {FOREIGN_UID}, not by you", "rm -r "),
    (plant_loose, "open to group or others (mode 0777)", "chmod 700 "),
    (plant_file, "cannot be used (Not a directory)", None),
], ids=["a-symlink", "another-users-folder", "a-loose-folder", "a-file"])
def test_a_hostile_folder_in_dev_shm_is_refused_never_used_and_never_changed(
    shm_env, shm_folder, tmp_path, sts_standin, plant, said, fix,
):
    planted = plant(shm_folder, tmp_path)
    before = planted.lstat()

    result = run_mfaenv(["stage", "123456"], shm_env)

    assert result.returncode == 0, result.stderr
    (warning,) = warnings(result)
    assert str(shm_folder) in warning and said in warning
    if fix:
        assert f"{fix}{shm_folder}" in warning
    assert "not cached" in result.stderr and "refused" in result.stderr
    after = planted.lstat()
    assert (after.st_mode, after.st_uid, after.st_mtime_ns) == (before.st_mode, before.st_uid, before.st_mtime_ns)
    if planted.is_dir():
        assert list(planted.iterdir()) == [], "a session was written into a refused folder"
    assert_asks_for_a_code(new_terminal("stage", shm_env, sts_standin))


# --- issue 16, item 7: relative folders ---------------------------------------------------------------------


def test_relative_cache_folders_are_ignored_and_nothing_lands_under_the_current_folder(shm_env, shm_folder, tmp_path):
    workdir = tmp_path / "project"
    workdir.mkdir()
    relative_runtime = {**shm_env, "XDG_RUNTIME_DIR": "run"}
    result = run_mfaenv(["stage", "123456"], relative_runtime, cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert warnings(result) == [], "a relative XDG_RUNTIME_DIR is ignored silently, as the XDG spec says"

    relative_chosen = {**shm_env, "MFAENV_CACHE_DIR": ".mfaenv-cache"}
    result = run_mfaenv(["stage", "123456", "--force"], relative_chosen, cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert warnings(result) == [
        "mfaenv: warning: MFAENV_CACHE_DIR=.mfaenv-cache is ignored: it is not an absolute path (give a full path)"
    ]
    assert list(workdir.iterdir()) == [], "a session landed under the current folder"
    assert len(entries(shm_folder)) == 1, "the next place in line (here /dev/shm) keeps the session"


# --- issue 16, item 12: root and a user's runtime folder ----------------------------------------------------


@pytest.fixture
def root_only():
    if os.geteuid() != 0:
        pytest.skip("runs as root")


def test_root_never_makes_a_folder_in_a_runtime_folder_it_does_not_own(root_only, shm_env, shm_folder, tmp_path):
    users_runtime = tmp_path / "run-user"
    users_runtime.mkdir(mode=0o700)
    os.chown(users_runtime, FOREIGN_UID, FOREIGN_UID)  # `sudo -E` keeps the user's XDG_RUNTIME_DIR

    result = run_mfaenv(["stage", "123456"], {**shm_env, "XDG_RUNTIME_DIR": str(users_runtime)})

    assert result.returncode == 0, result.stderr
    assert list(users_runtime.iterdir()) == []
    assert warnings(result) == []
    assert len(entries(shm_folder)) == 1, "root's sessions go to root's own folder"


def test_a_folder_root_left_in_the_users_runtime_folder_is_named_with_its_fix(root_only, cache_env, runtime, tmp_path):
    left = runtime / "mfaenv"
    left.mkdir(mode=0o700)
    os.chown(left, FOREIGN_UID, FOREIGN_UID)  # the other way round: the folder is not the runner's

    result = run_mfaenv(["stage", "123456"], cache_env)

    assert result.returncode == 0, result.stderr
    (warning,) = warnings(result)
    assert warning == (
        f"mfaenv: warning: session cache {left} is owned by uid {FOREIGN_UID}, not by you; not using it "
        f"(it must be yours, mode 0700: rm -r {left})"
    )


# --- "not cached": the success line and credential-process's advice ---------------------------------------


def success_line(result) -> str:
    (line,) = [line for line in result.stderr.splitlines() if not line.startswith("mfaenv: warning:")]
    return line


def test_the_success_line_says_not_cached_with_the_reason_and_the_fix(cache_env, shm_env):
    cached = run_mfaenv(["stage", "123456"], cache_env)
    assert success_line(cached).endswith("; fetched"), cached.stderr
    off = run_mfaenv(["stage", "123456"], {**cache_env, "MFAENV_CACHE": "off"})
    assert success_line(off).endswith("; fetched, not cached (MFAENV_CACHE=off; unset it to share sessions)")
    nowhere = run_mfaenv(["stage", "123456"], {**shm_env, "MFAENV_TEST_SHM_NAME": ""})  # no RAM folder at all
    assert success_line(nowhere).endswith(
        "; fetched, not cached (no RAM folder here: set MFAENV_CACHE_DIR or MFAENV_CACHE=keyring)")


def test_credential_process_advises_a_terminal_only_where_a_cache_would_carry_the_session(cache_env):
    with_cache = run_mfaenv(["credential-process", "stage"], cache_env)
    assert with_cache.returncode == 6 and "run 'mfaenv stage' in a terminal first" in with_cache.stderr

    without = run_mfaenv(["credential-process", "stage"], {**cache_env, "MFAENV_CACHE": "off"})
    assert without.returncode == 6 and without.stdout == ""
    (line,) = without.stderr.splitlines()
    assert "in a terminal first" not in line
    assert line.endswith("set mfa_process in the profile (no session cache to carry one from a terminal: "
                         "MFAENV_CACHE=off; unset it to share sessions)")


@pytest.mark.parametrize("platform, kind", [("darwin", "keyring"), ("win32", "keyring"), ("freebsd14", "")])
def test_where_there_is_no_ram_folder_the_credential_store_is_the_cache(monkeypatch, platform, kind):
    """macOS and Windows (untested here end to end: no Keychain on this machine) default to the OS store."""
    from mfaenv.stores import sessionstore

    monkeypatch.setattr(sessionstore.sys, "platform", platform)
    location = sessionstore.locate({"HOME": "/home/jane"})
    assert location.kind == kind
    assert sessionstore.locate({"MFAENV_CACHE_DIR": "/private/cache"}).kind == "folder"
    assert sessionstore.locate({"MFAENV_CACHE": "off"}).kind == ""
