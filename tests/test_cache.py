"""The session cache on real folders and files: where it lives, what it refuses to read, how it writes.

Every case works on a real folder under tmp_path, with real modes, owners and
symlinks. The tests run as root in CI, so a "foreign" file or folder is made by
chown to another uid; a root-owned file is foreign when the test runs as a user
(then chown is refused and the case is skipped).
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mfaenv.stores import cache
from mfaenv.stores.cache import SessionCache, key_digest
from mfaenv.shells.variables import Session

FOREIGN_UID = 4242
#: One clock for the whole module, so that session() built twice compares equal.
NOW = int(time.time())
MFA_KEY = {
    "kind": "mfa", "access_key_id": "AKIAEXAMPLESTAGE0001", "secret": "digest-of-the-secret",
    "serial": "arn:aws:iam::111111111111:mfa/jane", "endpoint": "https://sts.us-east-1.amazonaws.com",
}
ROLE_KEY = {
    "kind": "role", "parent": key_digest(MFA_KEY), "role_arn": "arn:aws:iam::210987654321:role/admin",
    "session_name": "jane", "external_id": None,
}


def session(seconds_left: int = 3600, tag: str = "1") -> Session:
    return Session(f"ASIACACHED00000000{tag:>2}".replace(" ", "0"), f"secret/{tag}", f"token-{tag}", NOW + seconds_left)


@pytest.fixture(autouse=True)
def fresh_warning():
    """Each test is a new run of mfaenv: the warn-once flag starts unset."""
    cache._warned = False
    yield
    cache._warned = False


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path / "run" / "mfaenv"


@pytest.fixture
def environ(tmp_path: Path) -> Dict[str, str]:
    """XDG_RUNTIME_DIR as a logged-in Linux user has it (the folder exists, mode 0700)."""
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    return {"XDG_RUNTIME_DIR": str(runtime), "MFAENV_TEST_SHM_NAME": ""}


def open_cache(environ: Dict[str, str]) -> SessionCache:
    opened = SessionCache.open(environ)
    assert opened is not None
    return opened


def entry_path(folder: Path, key=MFA_KEY) -> Path:
    return folder / (key_digest(key) + cache.SUFFIX)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def chown_or_skip(path: Path, uid: int) -> None:
    try:
        os.chown(path, uid, -1, follow_symlinks=False)
    except PermissionError:
        pytest.skip("chown to another uid needs root")


# --- where it lives -------------------------------------------------------------------------------------------


def test_a_session_put_is_found_again_by_a_new_cache_in_xdg_runtime_dir(environ, folder):
    stored = session()
    open_cache(environ).put(MFA_KEY, stored, "stage")

    assert mode(folder) == 0o700
    assert mode(entry_path(folder)) == 0o600
    assert open_cache(environ).get(MFA_KEY, min_seconds_left=300) == stored
    assert os.listdir(folder) == [entry_path(folder).name], "a temp file was left behind"


def test_the_entry_holds_the_session_the_profile_and_the_key_but_no_long_term_secret(environ, folder):
    open_cache(environ).put(ROLE_KEY, session(), "admin")

    text = entry_path(folder, ROLE_KEY).read_text()
    lines = text.splitlines()
    assert lines[0] == cache.HEADER
    assert "profile=admin" in lines
    assert "key.role_arn=arn:aws:iam::210987654321:role/admin" in lines
    assert "key.external_id" in lines, "a None in the key is the name alone"
    assert f"access_key_id={session().access_key_id}" in lines
    assert "session_token=token-1" in lines
    assert "example/stage+SECRET" not in text


#: Every character a str can hold: controls, newlines, "=", backslashes, non-BMP, lone surrogates.
ANY_TEXT = st.text(st.characters(blacklist_categories=()), max_size=40)


#: What STS sends in a credential: visible ASCII (base64 and the like).
STS_TEXT = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=40)


@settings(max_examples=300, deadline=None)
@given(profile=ANY_TEXT, serial=st.one_of(st.none(), ANY_TEXT), role_arn=ANY_TEXT,
       values=st.lists(st.one_of(STS_TEXT, ANY_TEXT.filter(bool)), min_size=3, max_size=3))
def test_what_is_cached_comes_back_exactly_or_is_not_cached_at_all(tmp_path_factory, profile, serial, role_arn, values):
    """Hostile values (newline, quotes, NUL, lone surrogates, non-BMP...) from STS or the files: never a changed
    session, never a reader that fails on what a writer left, and STS's own kind of values are always kept."""
    folder = tmp_path_factory.mktemp("run") / "mfaenv"
    opened = open_cache({"MFAENV_CACHE_DIR": str(folder)})
    key = {**ROLE_KEY, "role_arn": role_arn, "external_id": serial, "session_name": profile + "=\n"}
    stored = Session(*values, NOW + 3600)
    opened.put(key, stored, profile)

    later = open_cache({"MFAENV_CACHE_DIR": str(folder)})  # a later run
    found, listed = later.get(key, 300), later.entries()
    if found is None:
        assert listed == [] and os.listdir(folder) == [], "half stored"
        assert not all(value.isascii() and value.isprintable() and " " not in value for value in values), (
            "a session as STS sends it was not cached")
    else:
        assert found == stored
        assert [(entry.profile, entry.key, entry.session) for entry in listed] == [(profile, key, stored)]
        for value in (*found[:3], *[entry.profile for entry in listed]):
            value.encode("utf-8")  # valid text: every shell, JSON and file writer can take it
    assert later.get({**key, "role_arn": role_arn + "x"}, 300) is None


def test_a_session_that_cannot_be_cached_unchanged_replaces_the_older_entry_by_none(environ, folder, capsys):
    opened = open_cache(environ)
    opened.put(MFA_KEY, session(), "stage")

    opened.put(MFA_KEY, Session("ASIA", "secret", "to\nken", NOW + 3600), "stage")

    assert opened.get(MFA_KEY, 300) is None, "the next run would reuse the session this one replaced"
    assert os.listdir(folder) == []
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("mfaenv: warning: the session of 'stage' is not cached")


@pytest.mark.parametrize("field, value", [
    ("session_token", "tok\\ud800en"), ("secret_access_key", "\\udcff"), ("profile", "st\\udc80age"),
    ("key.role_arn", "\\ud83d"), ("session_token", "tok\\nen"), ("access_key_id", "AS\\x00IA"),
    ("session_token", "tok en"), ("session_token", "t\\xe9"),
], ids=["lone-surrogate-token", "lone-surrogate-secret", "lone-surrogate-profile", "lone-surrogate-key",
        "newline-token", "nul-key-id", "space-token", "latin-1-token"])
def test_an_entry_that_is_not_valid_text_or_not_a_plain_credential_is_ignored(environ, folder, field, value, capsys):
    """What put never writes, found in an entry (by hand, or an older version): ignored like any corrupt entry."""
    opened = open_cache(environ)
    opened.put(ROLE_KEY, session(), "admin")
    path = entry_path(folder, ROLE_KEY)
    lines = [line for line in path.read_text().splitlines() if not line.startswith(field + "=")]
    assert len(lines) == len(path.read_text().splitlines()) - 1
    path.write_text("".join(line + "\n" for line in [*lines, f"{field}={value}"]))

    assert opened.get(ROLE_KEY, 300) is None
    assert opened.entries() == []
    assert capsys.readouterr().err == ""


def test_mfaenv_cache_dir_chooses_the_folder_and_is_created_0700(tmp_path, environ):
    chosen = tmp_path / "chosen"
    opened = open_cache({**environ, "MFAENV_CACHE_DIR": str(chosen)})
    opened.put(MFA_KEY, session(), "stage")

    assert mode(chosen) == 0o700
    assert entry_path(chosen).is_file()
    assert not (tmp_path / "run" / "mfaenv").exists()


@pytest.mark.parametrize("variables", [
    {"MFAENV_CACHE": "off"},
    {"MFAENV_CACHE": "OFF", "MFAENV_CACHE_DIR": "/somewhere"},
    {"XDG_RUNTIME_DIR": ""},
], ids=["off", "off-beats-a-chosen-folder", "no-runtime-dir-and-none-chosen"])
def test_no_cache_when_turned_off_or_without_a_folder(environ, folder, variables, capsys):
    assert SessionCache.open({**environ, **variables}) is None
    assert not folder.exists()
    assert capsys.readouterr().err == ""


def test_a_key_differing_in_any_value_is_another_entry(environ):
    opened = open_cache(environ)
    opened.put(MFA_KEY, session(tag="1"), "stage")

    for name in MFA_KEY:
        edited = {**MFA_KEY, name: MFA_KEY[name] + "x"}
        assert opened.get(edited, 300) is None, f"a session was reused although {name} changed"
    assert opened.get(dict(reversed(list(MFA_KEY.items()))), 300) == session(tag="1"), "key order must not matter"


# --- expiry ---------------------------------------------------------------------------------------------------


def test_get_honours_min_seconds_left(environ, folder):
    opened = open_cache(environ)
    opened.put(MFA_KEY, session(seconds_left=600), "stage")

    assert opened.get(MFA_KEY, min_seconds_left=300) is not None
    assert opened.get(MFA_KEY, min_seconds_left=900) is None
    assert entry_path(folder).exists(), "a session still valid for other uses must stay"


def test_an_expired_entry_is_removed_when_seen(environ, folder):
    opened = open_cache(environ)
    opened.put(MFA_KEY, session(seconds_left=-5), "stage")
    opened.put(ROLE_KEY, session(seconds_left=-5, tag="2"), "admin")

    assert opened.get(MFA_KEY, 300) is None
    assert not entry_path(folder).exists()
    assert opened.entries() == []
    assert os.listdir(folder) == []


# --- what is never read ---------------------------------------------------------------------------------------


def assert_unused_with_one_warning(environ, capsys, what: str) -> None:
    assert SessionCache.open(environ) is None
    assert SessionCache.open(environ) is None
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1, f"expected one warning, got {lines}"
    assert lines[0].startswith("mfaenv: warning: session cache ")
    assert what in lines[0]


@pytest.mark.parametrize("loose", [0o755, 0o750, 0o701, 0o707])
def test_a_folder_open_to_others_is_never_read(environ, folder, loose, capsys):
    open_cache(environ).put(MFA_KEY, session(), "stage")
    folder.chmod(loose)

    assert_unused_with_one_warning(environ, capsys, f"mode {loose:04o}")


def test_a_foreign_folder_is_never_read(environ, folder, capsys):
    open_cache(environ).put(MFA_KEY, session(), "stage")
    chown_or_skip(folder, FOREIGN_UID)

    assert_unused_with_one_warning(environ, capsys, f"owned by uid {FOREIGN_UID}")


def test_a_symlinked_folder_is_never_followed(environ, folder, tmp_path, capsys):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    open_cache({"MFAENV_CACHE_DIR": str(elsewhere)}).put(MFA_KEY, session(), "stage")
    folder.symlink_to(elsewhere)

    assert_unused_with_one_warning(environ, capsys, "symlink")


def test_a_folder_that_cannot_be_made_warns_and_there_is_no_cache(tmp_path, capsys):
    assert_unused_with_one_warning({"MFAENV_CACHE_DIR": str(tmp_path / "gone" / "deeper")}, capsys, "cannot be used")


@pytest.mark.parametrize("loose", [0o644, 0o640, 0o604, 0o620])
def test_an_entry_open_to_others_is_not_read_and_warned_once(environ, folder, loose, capsys):
    opened = open_cache(environ)
    opened.put(MFA_KEY, session(), "stage")
    opened.put(ROLE_KEY, session(tag="2"), "admin")
    entry_path(folder).chmod(loose)
    entry_path(folder, ROLE_KEY).chmod(loose)

    assert opened.get(MFA_KEY, 300) is None
    assert opened.get(ROLE_KEY, 300) is None
    assert opened.entries() == []
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("mfaenv: warning: session cache entry "), lines
    assert f"mode {loose:04o}" in lines[0]


def test_a_foreign_entry_is_not_read_and_is_replaced_by_the_next_put(environ, folder, capsys):
    opened = open_cache(environ)
    opened.put(MFA_KEY, session(tag="1"), "stage")
    chown_or_skip(entry_path(folder), FOREIGN_UID)

    assert opened.get(MFA_KEY, 300) is None
    assert f"owned by uid {FOREIGN_UID}" in capsys.readouterr().err
    opened.put(MFA_KEY, session(tag="2"), "stage")
    assert os.lstat(entry_path(folder)).st_uid == os.geteuid()
    assert opened.get(MFA_KEY, 300) == session(tag="2")


def test_a_symlinked_entry_is_not_followed(environ, folder, tmp_path, capsys):
    opened = open_cache(environ)
    target = tmp_path / "target.json"
    opened.put(MFA_KEY, session(), "stage")
    entry_path(folder).rename(target)
    entry_path(folder).symlink_to(target)

    assert opened.get(MFA_KEY, 300) is None
    assert "symlink" in capsys.readouterr().err


def test_a_fifo_under_an_entrys_name_does_not_hang(environ, folder, capsys):
    opened = open_cache(environ)
    os.mkfifo(entry_path(folder), 0o600)

    assert opened.get(MFA_KEY, 300) is None
    assert "not a regular file" in capsys.readouterr().err


@pytest.mark.parametrize("content", [
    "", "{", "[]", "null", cache.HEADER + "\n", "\xff\xfe", "=" * 100000,
    '{"Version": 1, "AccessKeyId": "ASIA", "SecretAccessKey": "s", "SessionToken": "t", "Expiration": "2999-01-01T00:00:00Z"}',
    cache.HEADER.replace("2", "3") + "\nprofile=stage\n",
], ids=["empty", "truncated", "list", "null", "no-session", "not-ascii", "no-header", "json-of-an-old-version", "other-version"])
def test_a_corrupt_entry_is_ignored_quietly(environ, folder, content, capsys):
    opened = open_cache(environ)
    entry_path(folder).write_bytes(content.encode("latin-1"))
    entry_path(folder).chmod(0o600)

    assert opened.get(MFA_KEY, 300) is None
    assert opened.entries() == []
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("field, value", [
    ("expiration", "tomorrow"), ("session_token", ""), ("access_key_id", "\\x"), ("profile", None),
    ("secret_access_key", None), ("key.kind", "mfa\\"), ("access_key_id=ASIA\nprofile", "twice"),
    ("session_token", "\\q"), ("session_token", "\\101"), ("session_token", "\\N{DIGIT ONE}"), ("session_token", "\\x41"),
])
@pytest.mark.filterwarnings("error")  # the codec takes some unknown escapes with only a DeprecationWarning
def test_an_entry_with_a_bad_field_is_ignored(environ, folder, field, value):
    """A bad value, a broken escape, a missing or repeated field: not an entry."""
    opened = open_cache(environ)
    opened.put(MFA_KEY, session(), "stage")
    lines = [line for line in entry_path(folder).read_text().splitlines() if not line.startswith(field.split("=")[0] + "=")]
    if value is not None:
        lines.append(f"{field}={value}")
    entry_path(folder).write_text("".join(line + "\n" for line in lines))

    assert opened.get(MFA_KEY, 300) is None
    assert opened.entries() == []


def test_a_file_bigger_than_the_limit_is_not_an_entry(environ, folder):
    opened = open_cache(environ)
    opened.put(MFA_KEY, session(), "")
    padding = cache.MAX_ENTRY_BYTES - entry_path(folder).stat().st_size
    opened.put(MFA_KEY, session(), "p" * padding)
    assert entry_path(folder).stat().st_size == cache.MAX_ENTRY_BYTES
    assert opened.get(MFA_KEY, 300) == session(), "an entry of exactly the limit is one"

    opened.put(MFA_KEY, session(), "p" * (padding + 1))

    assert opened.get(MFA_KEY, 300) is None


def test_an_entry_whose_stored_key_differs_is_not_taken_for_the_one_asked(environ, folder):
    """A digest collision, or another tool's file under the same name: the stored key decides."""
    opened = open_cache(environ)
    opened.put(ROLE_KEY, session(tag="7"), "admin")
    os.replace(entry_path(folder, ROLE_KEY), entry_path(folder, MFA_KEY))

    assert opened.get(MFA_KEY, 300) is None
    assert [entry.profile for entry in opened.entries()] == ["admin"]


# --- writing --------------------------------------------------------------------------------------------------


def test_put_never_fails_the_command_when_the_folder_is_not_writable(environ, folder, capsys):
    opened = open_cache(environ)
    os.rmdir(folder)  # the folder went away (logout, a cleaner) while mfaenv ran

    opened.put(MFA_KEY, session(), "stage")
    opened.put(ROLE_KEY, session(), "admin")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("mfaenv: warning: could not write to the session cache"), lines


def test_files_are_0600_whatever_the_umask(environ, folder):
    previous = os.umask(0o000)
    try:
        open_cache(environ).put(MFA_KEY, session(), "stage")
    finally:
        os.umask(previous)
    assert mode(folder) == 0o700
    assert mode(entry_path(folder)) == 0o600


WRITER = """
import sys, time
from mfaenv.stores.cache import SessionCache
from mfaenv.shells.variables import Session
key = {"kind": "mfa", "access_key_id": "AKIA", "secret": "s", "serial": "arn", "endpoint": "e"}
cache = SessionCache.open({"MFAENV_CACHE_DIR": sys.argv[1]})
tag = sys.argv[2]
for round in range(200):
    cache.put(key, Session("ASIA" + tag, "secret" + tag, "token" + tag * 300, int(time.time()) + 3600), "p" + tag)
    found = cache.get(key, 300)
    assert found is not None and found.session_token == "token" + found.access_key_id[4:] * 300, found
"""


def test_parallel_writers_never_leave_a_torn_entry_or_temp_files(tmp_path):
    folder = tmp_path / "shared"
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(folder), str(tag)], stderr=subprocess.PIPE, text=True)
        for tag in range(4)
    ]
    for writer in writers:
        _, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err
        assert err == ""
    (only,) = os.listdir(folder)
    assert only.endswith(cache.SUFFIX)
    (entry,) = open_cache({"MFAENV_CACHE_DIR": str(folder)}).entries()
    assert entry.profile == "p" + entry.session.access_key_id[4:]


# --- forget and list ------------------------------------------------------------------------------------------


def test_forget_removes_only_the_given_keys_and_clear_removes_all(environ, folder):
    opened = open_cache(environ)
    opened.put(MFA_KEY, session(tag="1"), "stage")
    opened.put(ROLE_KEY, session(tag="2"), "admin")
    digest = "0a1b" * 16
    (folder / f".{digest}.session.4242.0123456789ab.tmp").write_text("{")  # a writer killed before its rename
    (folder / f"{digest}.json").write_text('{"Version": 1}')  # an entry of the first, JSON, cache
    (folder / f"{digest}.lock").write_text("")  # the lock of a process killed while fetching

    assert opened.forget([ROLE_KEY, {"kind": "never-cached"}]) == 1
    assert [entry.profile for entry in opened.entries()] == ["stage"]
    assert opened.clear() == 2
    assert os.listdir(folder) == []


#: Files other programs keep in a folder the user chose for MFAENV_CACHE_DIR: all look a little like mfaenv's.
FOREIGN_NAMES = [
    "4f5e.json", "notes.tmp", ".notes.tmp", "a.session", "A" * 64 + ".session", "0" * 64 + ".session.bak",
    "0" * 64 + ".lockfile", "." + "0" * 64 + ".session.1.ab.tmp", "." + "0" * 64 + ".txt.1.0123456789ab.tmp",
    "0" * 63 + ".json", "." + "0" * 64 + ".session.x1.0123456789ab.tmp", "0" * 64, "README",
]


def test_forget_leaves_every_file_mfaenv_did_not_write(tmp_path):
    """Issue 16: `forget` deleted another program's 4f5e.json and notes.tmp from MFAENV_CACHE_DIR."""
    folder = tmp_path / "chosen"
    opened = open_cache({"MFAENV_CACHE_DIR": str(folder)})
    for name in FOREIGN_NAMES:
        (folder / name).write_text("not mfaenv's")
    opened.put(MFA_KEY, session(), "stage")

    assert opened.clear() == 1
    assert opened.forget([MFA_KEY]) == 0
    assert sorted(os.listdir(folder)) == sorted(FOREIGN_NAMES)


def test_entries_lists_profile_key_and_session(environ):
    opened = open_cache(environ)
    opened.put(MFA_KEY, session(tag="1"), "stage")
    opened.put(ROLE_KEY, session(tag="2"), "admin")

    listed = sorted(opened.entries(), key=lambda entry: entry.profile)
    assert [(entry.profile, entry.key, entry.session) for entry in listed] == [
        ("admin", ROLE_KEY, session(tag="2")), ("stage", MFA_KEY, session(tag="1")),
    ]


def test_a_warning_shows_a_hostile_folder_name_escaped(tmp_path, capsys):
    hostile = tmp_path / "x\x1b]0;pwned\x07\nmfaenv: fine"
    hostile.mkdir(mode=0o755)

    assert SessionCache.open({"MFAENV_CACHE_DIR": str(hostile)}) is None
    (line,) = capsys.readouterr().err.splitlines()
    assert "\\x1b]0;pwned\\x07\\nmfaenv: fine" in line
