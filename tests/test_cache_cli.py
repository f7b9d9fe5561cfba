"""The session cache through the CLI, as a user meets it: a new terminal needs no code, and no token reaches HOME.

Each test has its own runtime folder (XDG_RUNTIME_DIR, mode 0700, outside
HOME) and fetches from the STS stand-in, which records every request. "A new
terminal" is a new mfaenv process whose environment holds no session: a
reuse must leave the stand-in's record as it was, and with no terminal to ask
for a code, a session not reused ends in the "no terminal" error. (STS on a
closed port cannot prove a hit here: the endpoint is part of what a session
depends on, so another endpoint is, rightly, another cache entry.)
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict

import pytest

from conftest import exported, run_mfaenv, run_shell
from sts_standin import Response, StsStandIn, credentials_body, success

NO_CODE = 6  # CodeInputError: not reused, and no terminal to ask for a code
MFAENV = f"{shlex.quote(sys.executable)} -m mfaenv"
FOREIGN_UID = 4242
ROLE_PROFILES = """
[profile admin]
role_arn = arn:aws:iam::210987654321:role/admin
source_profile = dev

[profile readonly]
role_arn = arn:aws:iam::210987654321:role/readonly
source_profile = dev
"""
DEV_KEYS = "\n[dev]\naws_access_key_id = AKIAEXAMPLEDEV000001\naws_secret_access_key = example/dev+SECRET00000000000000000000000\n"


@pytest.fixture
def runtime(tmp_path: Path) -> Path:
    """The user's XDG_RUNTIME_DIR, as logind makes it: the user's own, mode 0700."""
    folder = tmp_path / "run"
    folder.mkdir(mode=0o700)
    return folder


@pytest.fixture
def cache_env(standin_env: Dict[str, str], runtime: Path, aws_home: Path) -> Dict[str, str]:
    """The stand-in as STS, a runtime folder for the cache, and role profiles on the dev user's keys."""
    with open(aws_home / ".aws" / "config", "a") as config:
        config.write(ROLE_PROFILES)
    with open(aws_home / ".aws" / "credentials", "a") as credentials:
        credentials.write(DEV_KEYS)
    return {**standin_env, "XDG_RUNTIME_DIR": str(runtime), "MFAENV_QUIET": ""}  # forget says what it did


def cache_folder(runtime: Path) -> Path:
    return runtime / "mfaenv"


def fetch(profile: str, environ: Dict[str, str], *more: str) -> Dict[str, str]:
    """`mfaenv PROFILE 123456`: what it exported."""
    result = run_mfaenv([profile, "123456", *more], environ)
    assert result.returncode == 0, result.stderr
    return exported(result.stdout)


def new_terminal(profile: str, environ: Dict[str, str], sts: StsStandIn, *more: str) -> subprocess.CompletedProcess:
    """`mfaenv PROFILE` with no code, in a fresh process, which must not call STS."""
    before = len(sts.requests)
    result = run_mfaenv([profile, *more], environ)
    assert [request.action for request in sts.requests[before:]] == [], "a new terminal called STS"
    return result


def assert_reused(result: subprocess.CompletedProcess) -> Dict[str, str]:
    assert result.returncode == 0, result.stderr
    return exported(result.stdout)


def assert_asks_for_a_code(result: subprocess.CompletedProcess) -> None:
    """Nothing was reused: a code was needed, and there is no terminal to ask it on."""
    assert result.returncode == NO_CODE, result.stderr
    assert result.stdout == ""
    assert "no terminal" in result.stderr


def warnings(result: subprocess.CompletedProcess) -> list:
    return [line for line in result.stderr.splitlines() if line.startswith("mfaenv: warning:")]


# --- a new terminal -------------------------------------------------------------------------------------------


def test_a_new_terminal_reuses_a_plain_profile_from_the_cache(cache_env, sts_standin):
    first = fetch("stage", cache_env)

    reused = assert_reused(new_terminal("stage", cache_env, sts_standin))
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "MFAENV_EXPIRES"):
        assert reused[name] == first[name], name
    assert reused["MFAENV_PROFILE"] == "stage"


def test_a_role_and_the_mfa_session_beneath_are_reused_in_new_terminals(cache_env, sts_standin):
    admin = fetch("admin", cache_env)

    assert assert_reused(new_terminal("admin", cache_env, sts_standin))["AWS_SESSION_TOKEN"] == admin["AWS_SESSION_TOKEN"]
    assert_reused(new_terminal("dev", cache_env, sts_standin))
    before = len(sts_standin.requests)
    assert run_mfaenv(["readonly"], cache_env).returncode == 0, "another role on the cached MFA session needed a code"
    assert [request.action for request in sts_standin.requests[before:]] == ["AssumeRole"]


def test_no_token_or_secret_lands_under_home(cache_env, aws_home, runtime):
    sessions = [fetch("stage", cache_env), fetch("admin", cache_env), fetch("prod", cache_env, "--force")]
    secrets = {s[name].encode() for s in sessions for name in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")}
    assert len(secrets) == 6

    found = []
    for folder, _dirs, files in os.walk(aws_home):
        for name in files:
            data = (Path(folder) / name).read_bytes()
            found += [f"{folder}/{name}" for secret in secrets if secret in data]
    assert found == []
    cached = b"".join(path.read_bytes() for path in cache_folder(runtime).iterdir())
    assert all(secret in cached for secret in secrets), "the scan proves nothing: the tokens are not in the cache either"


def test_a_password_in_the_sts_endpoint_never_reaches_the_cache(cache_env, runtime, sts_standin):
    # A proxy or emulator password in AWS_ENDPOINT_URL_STS is part of where STS answers, so it
    # is part of the key; the entry keeps the key to tell entries apart, never the password.
    host = sts_standin.url.split("://", 1)[1]
    environ = {**cache_env, "AWS_ENDPOINT_URL_STS": f"http://jane:s3cr3t-pass@{host}"}
    fetch("stage", environ)
    entries = list(cache_folder(runtime).iterdir())
    assert entries, "nothing was cached: the scan below would prove nothing"
    assert all(b"s3cr3t-pass" not in path.read_bytes() for path in entries)
    assert_reused(new_terminal("stage", environ, sts_standin))


def test_the_cache_folder_and_files_are_private(cache_env, runtime):
    fetch("admin", cache_env)

    folder = cache_folder(runtime)
    assert oct(folder.stat().st_mode & 0o777) == oct(0o700)
    entries = list(folder.iterdir())
    assert len(entries) == 2, "the role session and the MFA session beneath it"
    assert {oct(path.stat().st_mode & 0o777) for path in entries} == {oct(0o600)}


# --- when the cache is not used -------------------------------------------------------------------------------


def test_mfaenv_cache_off_stores_nothing_and_reuses_nothing(cache_env, runtime, sts_standin):
    off = {**cache_env, "MFAENV_CACHE": "off"}
    fetch("stage", off)

    assert not cache_folder(runtime).exists()
    assert_asks_for_a_code(new_terminal("stage", off, sts_standin))


def test_without_a_runtime_folder_there_is_no_cache(cache_env, runtime, sts_standin):
    environ = {name: value for name, value in cache_env.items() if name != "XDG_RUNTIME_DIR"}
    fetch("stage", environ)

    assert_asks_for_a_code(new_terminal("stage", environ, sts_standin))
    assert not cache_folder(runtime).exists()


@pytest.mark.parametrize("given", [["654321"], ["--force", "--code-command", "echo 654321"]], ids=["a-code-given", "--force"])
def test_a_code_given_or_force_fetches_anew_and_the_cache_keeps_the_new_session(cache_env, sts_standin, given):
    cached = fetch("stage", cache_env)

    before = len(sts_standin.requests)
    result = run_mfaenv(["stage", *given], cache_env)
    fetched = assert_reused(result)
    assert [request.action for request in sts_standin.requests[before:]] == ["GetSessionToken"]
    assert fetched["AWS_ACCESS_KEY_ID"] != cached["AWS_ACCESS_KEY_ID"]
    assert assert_reused(new_terminal("stage", cache_env, sts_standin))["AWS_ACCESS_KEY_ID"] == fetched["AWS_ACCESS_KEY_ID"]


@pytest.mark.parametrize("old, new", [
    ("aws_access_key_id = AKIAEXAMPLESTAGE0001", "aws_access_key_id = AKIAEXAMPLESTAGE0002"),
    ("example/stage+SECRET0000000000000000000", "example/stage+SECRET0000000000000000001"),
    ("111111111111:mfa/jane\n", "111111111111:mfa/jane-new\n"),
], ids=["access-key-id", "secret", "mfa-device"])
def test_editing_the_profile_after_caching_does_not_reuse(cache_env, aws_home, sts_standin, old, new):
    fetch("stage", cache_env)
    path = aws_home / ".aws" / "credentials"
    text = path.read_text()
    assert text.count(old) == 1
    path.write_text(text.replace(old, new))

    assert_asks_for_a_code(new_terminal("stage", cache_env, sts_standin))


# --- what is never read ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("spoil, warning", [
    (lambda folder: folder.chmod(0o755), "mode 0755"),
    (lambda folder: [entry.chmod(0o644) for entry in folder.iterdir()], "mode 0644"),
    (lambda folder: os.chown(folder, FOREIGN_UID, -1), f"owned by uid {FOREIGN_UID}"),
    (lambda folder: [os.chown(entry, FOREIGN_UID, -1) for entry in folder.iterdir()], f"owned by uid {FOREIGN_UID}"),
], ids=["loose-folder", "loose-files", "foreign-folder", "foreign-files"])
def test_a_loose_or_foreign_cache_is_never_read_and_warned_once(cache_env, runtime, sts_standin, spoil, warning):
    if os.geteuid() != 0 and "uid" in warning:
        pytest.skip("chown to another uid needs root")
    fetch("admin", cache_env)
    spoil(cache_folder(runtime))

    result = new_terminal("admin", cache_env, sts_standin)
    assert_asks_for_a_code(result)
    (line,) = warnings(result)
    assert warning in line


def test_a_corrupt_entry_is_ignored_and_replaced_by_the_next_fetch(cache_env, runtime, sts_standin):
    fetch("stage", cache_env)
    (entry,) = cache_folder(runtime).iterdir()
    entry.write_text('{"Version": 1, "AccessKeyId": ')

    result = new_terminal("stage", cache_env, sts_standin)
    assert_asks_for_a_code(result)
    assert warnings(result) == []
    fetch("stage", cache_env)
    assert_reused(new_terminal("stage", cache_env, sts_standin))


# --- forget ---------------------------------------------------------------------------------------------------


def test_forget_removes_every_cached_session(cache_env, runtime, sts_standin):
    fetch("stage", cache_env)
    fetch("admin", cache_env)

    result = run_mfaenv(["forget"], cache_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert result.stderr == "mfaenv: forgot 3 cached sessions\n"
    assert list(cache_folder(runtime).iterdir()) == []
    for profile in ("stage", "admin", "dev"):
        assert_asks_for_a_code(new_terminal(profile, cache_env, sts_standin))


def test_forget_a_profile_keeps_the_others(cache_env, sts_standin):
    fetch("stage", cache_env)
    fetch("prod", cache_env)

    result = run_mfaenv(["forget", "stage"], cache_env)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "mfaenv: forgot 1 cached session of 'stage'\n"
    assert_asks_for_a_code(new_terminal("stage", cache_env, sts_standin))
    assert_reused(new_terminal("prod", cache_env, sts_standin))


def test_forget_a_role_also_forgets_the_mfa_session_beneath(cache_env, sts_standin):
    fetch("admin", cache_env)
    fetch("stage", cache_env)

    result = run_mfaenv(["forget", "admin"], cache_env)
    assert result.returncode == 0, result.stderr
    assert "forgot 2 cached sessions of 'admin'" in result.stderr
    for profile in ("admin", "readonly", "dev"):
        assert_asks_for_a_code(new_terminal(profile, cache_env, sts_standin))
    assert_reused(new_terminal("stage", cache_env, sts_standin))


def test_forget_an_unknown_profile_fails_and_removes_nothing(cache_env, runtime):
    fetch("stage", cache_env)

    result = run_mfaenv(["forget", "nosuch"], cache_env)
    assert result.returncode == 3
    assert result.stdout == ""
    assert "nosuch" in result.stderr
    assert len(list(cache_folder(runtime).iterdir())) == 1


def test_forget_a_profile_since_removed_from_the_files_by_its_name(cache_env, aws_home, runtime):
    fetch("admin", cache_env)
    config = aws_home / ".aws" / "config"
    config.write_text(config.read_text().replace("[profile admin]", "[profile renamed]"))

    result = run_mfaenv(["forget", "admin"], cache_env)
    assert result.returncode == 0, result.stderr
    assert "forgot 2 cached sessions of 'admin'" in result.stderr
    assert list(cache_folder(runtime).iterdir()) == []


@pytest.mark.parametrize("forget, removed", [
    ("forget", True), ("forget stage", True), ("forget prod", False),
], ids=["all", "the-shells-profile", "another-profile"])
def test_forget_removes_the_session_from_the_shell_that_holds_it(cache_env, forget, removed):
    fetch("prod", cache_env)
    script = (
        f"eval \"$({MFAENV} stage 123456)\" || exit 9\n"
        f"[ -n \"$AWS_ACCESS_KEY_ID\" ] || exit 7\n"
        f"out=$({MFAENV} {forget}) || exit 8\n"
        f"eval \"$out\"\n"
        f"printf 'printed=%s\\n' \"${{out:+yes}}\"\n"
        f"printf 'key=%s\\nprofile=%s\\n' \"${{AWS_ACCESS_KEY_ID-gone}}\" \"${{MFAENV_PROFILE-gone}}\"\n"
    )
    result = run_shell("bash", script, cache_env)
    assert result.returncode == 0, result.stderr
    printed, key, profile = result.stdout.splitlines()
    if removed:
        assert (printed, key, profile) == ("printed=yes", "key=gone", "profile=gone")
    else:
        assert printed == "printed=", "forgetting another profile printed shell code"
        assert key.startswith("key=ASIA") and profile == "profile=stage"


def test_forget_without_a_cache_says_so(cache_env):
    result = run_mfaenv(["forget"], {**cache_env, "MFAENV_CACHE": "off"})
    assert result.returncode == 0
    assert result.stdout == ""
    assert result.stderr == "mfaenv: no session cache in use, nothing to forget\n"


# --- list -----------------------------------------------------------------------------------------------------


def test_list_shows_the_cached_sessions_expiry(cache_env):
    stage = fetch("stage", cache_env)

    result = run_mfaenv(["list"], cache_env)
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert "CACHED SESSION" in header
    column = header.index("CACHED SESSION")
    (row,) = [row for row in rows if row.startswith("stage ")]
    assert row[column:].startswith(stage["AWS_CREDENTIAL_EXPIRATION"])
    (other,) = [row for row in rows if row.startswith("prod ")]
    assert other[column:].startswith("-")


# --- many processes, one code (issue 16) -----------------------------------------------------------------------


def start(argv, environ: Dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "mfaenv", *argv], env=environ, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def counting_code_command(tmp_path: Path) -> tuple:
    """(a code command that notes each run in a file, the file)."""
    runs = tmp_path / "code-command-runs"
    return f"echo ran >> {shlex.quote(str(runs))}; echo 424242", runs


def runs_of(runs: Path) -> int:
    return runs.read_text().count("ran") if runs.exists() else 0


def test_eight_parallel_credential_processes_fetch_one_session_with_one_code(cache_env, aws_home, runtime, sts_standin,
                                                                              tmp_path):
    command, runs = counting_code_command(tmp_path)
    with open(aws_home / ".aws" / "config", "a") as config:
        config.write(f"\n[profile stage]\nmfa_process = {command}\n")

    processes = [start(["credential-process", "stage"], cache_env) for _ in range(8)]
    outputs = [process.communicate(timeout=300) for process in processes]

    for process, (stdout, stderr) in zip(processes, outputs):
        assert process.returncode == 0, stderr
        assert json.loads(stdout)["SessionToken"] == sts_standin.issued[0].session_token
    assert sts_standin.actions() == ["GetSessionToken"]
    assert runs_of(runs) == 1, "the code command ran more than once"
    assert [path.suffix for path in cache_folder(runtime).iterdir()] == [".session"], "a lock file was left behind"


def test_parallel_roles_and_their_mfa_session_fetch_each_session_once_and_never_deadlock(cache_env, sts_standin, tmp_path):
    """A role takes its own lock, then the MFA session's: the same order in every process, so none waits for ever."""
    command, runs = counting_code_command(tmp_path)
    environ = {**cache_env, "MFAENV_CODE_COMMAND": command}
    profiles = ["admin", "dev", "readonly", "admin", "readonly", "dev", "admin", "readonly"]

    processes = [start(["credential-process", profile], environ) for profile in profiles]
    outputs = [process.communicate(timeout=300) for process in processes]

    for process, (stdout, stderr) in zip(processes, outputs):
        assert process.returncode == 0, stderr
    assert sorted(sts_standin.actions()) == ["AssumeRole", "AssumeRole", "GetSessionToken"]
    assert runs_of(runs) == 1
    tokens = {profile: json.loads(stdout)["SessionToken"] for profile, (stdout, _) in zip(profiles, outputs)}
    assert len(set(tokens.values())) == 3
    assert all(json.loads(stdout)["SessionToken"] == tokens[profile] for profile, (stdout, _) in zip(profiles, outputs))


def test_a_process_waiting_for_anothers_fetch_says_so_and_takes_what_it_stored(cache_env, sts_standin, tmp_path):
    """The first process sits at its code command (a person typing) until the test lets it go."""
    asked, gate = tmp_path / "asked", tmp_path / "gate"
    os.mkfifo(asked)
    os.mkfifo(gate)
    command = f"echo asked > {shlex.quote(str(asked))}; cat {shlex.quote(str(gate))}"
    first = start(["stage", "--shell", "bash"], {**cache_env, "MFAENV_CODE_COMMAND": command})
    assert asked.read_text() == "asked\n"  # the first holds the lock from before the code is asked for
    second = start(["stage", "--shell", "bash"], cache_env)  # no code command, no terminal: only the wait can serve it
    line = second.stderr.readline()
    assert line == "mfaenv: another mfaenv is fetching a session 'stage' needs; waiting for it (at most 2 minutes)\n"
    gate.write_text("424242\n")

    out_first, err_first = first.communicate(timeout=120)
    out_second, err_second = second.communicate(timeout=120)
    assert first.returncode == 0, err_first
    assert second.returncode == 0, line + err_second
    assert exported(out_second)["AWS_SESSION_TOKEN"] == exported(out_first)["AWS_SESSION_TOKEN"]
    assert "reused from the session cache" in err_second
    assert sts_standin.actions() == ["GetSessionToken"]


def test_a_lock_left_by_a_killed_process_delays_nothing_and_forget_removes_it(cache_env, runtime, sts_standin):
    fetch("stage", cache_env)
    (entry,) = cache_folder(runtime).iterdir()
    lock = entry.with_suffix(".lock")
    assert run_mfaenv(["forget"], cache_env).returncode == 0
    lock.write_text("")  # what a process killed while fetching leaves: the kernel released its lock
    lock.chmod(0o600)

    result = run_mfaenv(["stage", "--code-command", "echo 424242"], cache_env)
    assert result.returncode == 0, result.stderr
    assert "waiting" not in result.stderr
    assert [path.name for path in cache_folder(runtime).iterdir()] == [entry.name]
    lock.write_text("")
    assert run_mfaenv(["forget"], cache_env).returncode == 0
    assert list(cache_folder(runtime).iterdir()) == []


# --- what the cache keeps reads back the same (issue 16) ---------------------------------------------------------


def test_a_session_the_cache_cannot_keep_is_exported_but_never_breaks_a_later_run(cache_env, sts_standin):
    """A token with a newline: exported byte for byte, not cached, and no later run blames STS for it."""
    sts_standin.check_signatures = False
    hostile = Response(200, credentials_body("ASIAHOSTILE000000001", "se'cret", "tok\nen", "2099-01-01T00:00:00Z"))
    sts_standin.answer(hostile, success())
    first = run_shell("bash", f'eval "$({MFAENV} dev 123456)" && printf %s "$AWS_SESSION_TOKEN"', cache_env)
    assert first.returncode == 0, first.stderr
    assert first.stdout == "tok\nen"
    assert "the session of 'dev' is not cached" in first.stderr

    for profile in ("admin", "dev"):
        later = new_terminal(profile, cache_env, sts_standin)
        assert_asks_for_a_code(later)
        assert "STS" not in later.stderr


def test_an_entry_that_is_not_valid_text_is_ignored_by_every_command(cache_env, runtime, sts_standin):
    """A lone surrogate escape in an entry made bash, fish and exec exit 70 and credential-process print bad JSON."""
    fetch("stage", cache_env)
    (entry,) = cache_folder(runtime).iterdir()
    text = entry.read_text()
    token = next(line for line in text.splitlines() if line.startswith("session_token="))
    entry.write_text(text.replace(token, token[:20] + "\\ud800" + token[20:]))

    for argv in (["stage", "--shell", "bash"], ["stage", "--shell", "fish"], ["credential-process", "stage"],
                 ["exec", "stage", "--", "true"]):
        result = new_terminal(argv[0], cache_env, sts_standin, *argv[1:]) if argv[0] == "stage" else \
            run_mfaenv(argv, cache_env)
        assert_asks_for_a_code(result)
    assert sts_standin.actions() == ["GetSessionToken"]


# --- forget: only mfaenv's own, also from a folder it will not use, and what was built on it (issue 16) -----------


def test_forget_removes_only_the_files_mfaenv_writes(cache_env, tmp_path):
    chosen = tmp_path / "shared-folder"
    chosen.mkdir(mode=0o700)
    (chosen / "4f5e.json").write_text("{}")
    (chosen / "notes.tmp").write_text("mine")
    environ = {**cache_env, "MFAENV_CACHE_DIR": str(chosen)}
    fetch("stage", environ)

    result = run_mfaenv(["forget"], environ)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "mfaenv: forgot 1 cached session\n"
    assert sorted(path.name for path in chosen.iterdir()) == ["4f5e.json", "notes.tmp"]


@pytest.mark.parametrize("profile", [None, "stage"], ids=["all", "one-profile"])
def test_forget_cleans_its_own_entries_from_a_folder_it_refuses_to_use_and_says_so(cache_env, runtime, profile):
    fetch("stage", cache_env)
    folder = cache_folder(runtime)
    (folder / "notes.txt").write_text("not mfaenv's")
    subprocess.run(["chmod", "-R", "go+rX", str(folder)], check=True)

    result = run_mfaenv(["forget", *([profile] if profile else [])], cache_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"mfaenv: forgot 1 cached session{'' if profile is None else ' of ' + repr(profile)} "
                           f"from {folder}, which mfaenv does not use: it is open to group or others (mode 0755); "), line
    assert line.endswith(f"run: chmod 700 {folder}")
    assert [path.name for path in folder.iterdir()] == ["notes.txt"]


def test_forget_a_profile_also_forgets_the_roles_assumed_through_its_session(cache_env, sts_standin):
    fetch("admin", cache_env)
    fetch("readonly", cache_env)
    fetch("stage", cache_env)

    result = run_mfaenv(["forget", "dev"], cache_env)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "mfaenv: forgot 3 cached sessions of 'dev' (2 of them assumed through its session)\n"
    for profile in ("admin", "readonly", "dev"):
        assert_asks_for_a_code(new_terminal(profile, cache_env, sts_standin))
    assert_reused(new_terminal("stage", cache_env, sts_standin))
    listed = run_mfaenv(["list"], cache_env).stdout
    header, *rows = listed.splitlines()
    column = header.index("CACHED SESSION")
    (admin,) = [row for row in rows if row.startswith("admin ")]
    assert admin[column:].startswith("-")
