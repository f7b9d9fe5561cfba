"""The hot path's own readers and checks hold to the library rules they stand in for.

A cached `credential-process` runs at every AWS CLI or SDK start, so it loads
neither `re` nor configparser nor json (tests/test_imports.py). What they did
there is done with str methods: a reader for plainly written INI files, the
checks of a region, a session name and a role ARN, the account of an ARN, the
JSON it prints. Each is held here, on arbitrary text, to the regular
expression, configparser reading or JSON reader it replaces.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from mfaenv import profiles
from mfaenv.commands import tools
from mfaenv.errors import FileFormatError
from mfaenv.shells.variables import Session, account_from_arn

DATA = Path(__file__).parent / "data"

#: Every character a str can hold, lone surrogates included.
ANY_CHARACTER = st.characters(blacklist_categories=())
#: Characters that matter to the rules: ASCII letters and digits, separators, Unicode
#: digits and spaces (\d and \s without re.ASCII know them), controls, newlines.
TRICKY = st.sampled_from(list("aZz09_-+=,.@:/[]#; \t\r\n\x0b\x0c\x1c\x85\xa0\u2028\u0663\u00e9\0\\"))


def tricky_text(max_size: int = 80):
    return st.one_of(st.text(TRICKY, max_size=max_size), st.text(ANY_CHARACTER, max_size=max_size))


# --- INI files: the plain reader and configparser -----------------------------------------------------------

INI_PIECES = st.sampled_from([
    "[", "]", "=", ":", " ", "\t", "\r", "\n", "\x0b", "\x1c", "\xa0", "\u2028", "\x85", "#", ";", "a", "B",
    "[stage]\n", "[profile admin]\n", "[DEFAULT]\n", "[a]]\n", "[]\n", "[x] y\n", "key = value\n", "Key: v\n",
    "k=\n", "  indented = 1\n", "\tcontinued\n", "# comment\n", "; note\n", "\n\n", "dup = 1\n", "=x\n",
])


def configparser_reading(text: str):
    """What configparser makes of the text, or the FileFormatError it gives."""
    try:
        return profiles._configparser_sections(text, "file")
    except FileFormatError as error:
        return error


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.lists(INI_PIECES, max_size=40).map("".join), tricky_text(120)))
@example("[a]\nk = 1\n  x = 2\n")  # a continuation line: part of k's value, not a key
@example("[a]\nk = 1\n\n  more\n")  # a continuation after a blank line: configparser joins it
@example("[a]\nk = 1\n[a]\n")  # a section twice: configparser's error, not a guess
@example("[a]\nk = 1\n[b]\n  x = 2\n")  # an indented key after a header: not k's value
@example("[a]b]\nk = 1\n")  # Python 3.9 reads the header to the first "]", later ones to the last
@example("[a]\nk =\n\n  x = 1\n\n# note\n  y\n\nz = 2\n")  # blank lines and a comment inside a value
@example("k = 1\n[a]\n")  # a key before any section
@example("[a]\nx\n")  # a line of neither kind
def test_the_plain_reader_reads_as_configparser_or_leaves_the_file_to_it(text):
    plain = profiles._plain_sections(text)
    if plain is not None:
        assert plain == configparser_reading(text)


def test_a_section_name_holding_a_bracket_is_left_to_configparser():
    """Python 3.9's configparser ends the name at the first "]", 3.10 and later at the last."""
    assert profiles._plain_sections("[profile a]b]\nk = 1\n") is None
    assert profiles._plain_sections("[profile ab]\nk = 1\n") == {"profile ab": {"k": "1"}}


NAME = st.text(st.characters(blacklist_characters="[]\n", blacklist_categories=("Cs",)), min_size=1, max_size=12)
KEY = st.text(st.characters(blacklist_characters="=:#;[\n", blacklist_categories=("Cs",)), min_size=1, max_size=12)
VALUE = st.text(st.characters(blacklist_characters="\n", blacklist_categories=("Cs",)), max_size=20)


@st.composite
def plain_files(draw):
    """Files as people and the AWS CLI write them: sections, keys, nested settings, comments, blank lines, CRLF."""
    lines = []
    for section in draw(st.lists(NAME.map(str.strip).filter(lambda name: name and "]" not in name), unique=True, max_size=4)):
        lines.append(f"[{section}]")
        for key in draw(st.lists(KEY.map(str.strip).filter(bool), unique_by=str.lower, max_size=4)):
            lines.append(f"{key}{draw(st.sampled_from(['=', ' = ', ': ', ' :']))}{draw(VALUE)}")
            # `aws configure set default.s3.max_concurrent_requests 20` writes "s3 =" and indented settings.
            lines.extend(f"{draw(st.sampled_from(['  ', '    ', chr(9)]))}{setting}" for setting in draw(
                st.lists(VALUE.map(str.strip).filter(lambda text: text and text[0] not in "#;"), max_size=2)))
            lines.extend(draw(st.lists(st.sampled_from(["", "# a comment", "; another", "  # indented comment"]), max_size=2)))
    return draw(st.sampled_from(["\n", "\r\n"])).join(lines) + "\n"


@settings(max_examples=300, deadline=None)
@given(plain_files())
def test_plainly_written_files_take_the_fast_reader_and_read_as_configparser(text):
    plain = profiles._plain_sections(text)
    assert plain is not None, "a plainly written file must not need configparser"
    assert plain == configparser_reading(text)


@pytest.mark.parametrize("path", sorted(DATA.iterdir()), ids=lambda path: path.name)
def test_the_users_example_files_take_the_fast_reader(path):
    text = path.read_text()
    assert profiles._plain_sections(text) is not None
    assert profiles._plain_sections(text) == configparser_reading(text)


# --- names and ARNs: str methods and the regular expressions ------------------------------------------------

REGION = re.compile(r"(?![0-9]+$)(?!-)[a-zA-Z0-9-]{1,63}(?<!-)", re.ASCII)  # botocore's validate_region_name
SESSION_NAME = re.compile(r"[\w+=,.@-]{2,64}", re.ASCII)
ROLE_ARN = re.compile(r"arn:[a-z-]+:iam::[0-9]{12}:role/\S+")
ARN_ACCOUNT = re.compile(r"arn:[^:]+:iam::([0-9]{12}):")


def lengths_around(alphabet: str, limit: int):
    """Text of these characters near a length limit, where an off-by-one would show."""
    return st.integers(min_value=max(0, limit - 2), max_value=limit + 2).flatmap(
        lambda size: st.text(st.sampled_from(list(alphabet)), min_size=size, max_size=size))


@given(st.one_of(tricky_text(70), lengths_around("a1-", 63), lengths_around("1", 3), st.text("ab1-\n", max_size=6)))
@example("us-east-1")
@example("a" * 63)
@example("a" * 64)
@example("123")
@example("eu-\n")
def test_a_region_name_is_what_botocore_accepts(text):
    assert profiles.is_region_name(text) == bool(REGION.fullmatch(text))


@given(st.one_of(tricky_text(70), lengths_around("a_=,.@+-", 64), lengths_around("a", 2)))
def test_a_session_name_is_what_sts_accepts(text):
    assert profiles.is_session_name(text) == bool(SESSION_NAME.fullmatch(text))


ARN_PIECES = st.sampled_from([
    "arn", ":", "aws", "aws-cn", "AWS", "iam", "sts", "role/", "role", "/", "123456789012", "12345678901",
    "\u0663" * 12, "admin", " ", "\xa0", "\n", "x:y", "mfa/jane",
])


@given(st.one_of(st.lists(ARN_PIECES, max_size=12).map("".join), tricky_text(60),
                 st.from_regex(ROLE_ARN, fullmatch=True)))
@example("arn:aws:iam::210987654321:role/path/admin")
@example("arn:aws:iam::210987654321:role/a b")
@example("arn:aws:iam::" + "\u0663" * 12 + ":role/admin")  # Arabic-Indic digits: \d would take them
def test_a_role_arn_is_checked_as_its_expression(text):
    assert profiles.is_role_arn(text) == bool(ROLE_ARN.fullmatch(text))


@given(st.one_of(st.lists(ARN_PIECES, max_size=12).map("".join), tricky_text(60),
                 st.from_regex(ARN_ACCOUNT, fullmatch=False)))
@example("arn:aws:iam::111111111111:mfa/jane")
@example("arn:aws:iam::111111111111")
@example("arn::iam::111111111111:mfa/jane")
@example("arn:aws:iam::" + "\u0663" * 12 + ":mfa/jane")
def test_the_account_of_an_arn_is_read_as_its_expression(text):
    match = ARN_ACCOUNT.match(text)
    assert account_from_arn(text) == (match.group(1) if match else None)


def session_name_by_expression(serial: str) -> str:
    if not serial.startswith("arn:") or ":mfa/" not in serial:
        return profiles.FALLBACK_SESSION_NAME
    name = re.sub(r"[^\w+=,.@-]+", "-", serial.rsplit("/", 1)[-1], flags=re.ASCII).strip("-")[:64]
    return name if SESSION_NAME.fullmatch(name) else profiles.FALLBACK_SESSION_NAME


@given(st.one_of(st.lists(ARN_PIECES, max_size=12).map("".join), tricky_text(90).map(lambda tail: "arn:aws:iam::1:mfa/" + tail)))
@example("arn:aws:iam::111111111111:mfa/jane.doe@example.com")
@example("arn:aws:iam::111111111111:mfa/jöhn  smith!!")
def test_the_default_session_name_is_made_as_by_its_expression(serial):
    assert profiles.default_session_name(serial) == session_name_by_expression(serial)


# --- the credential_process JSON ----------------------------------------------------------------------------


@settings(max_examples=300)
@given(st.text(ANY_CHARACTER, max_size=60))
@example('"\\\x00\x7f\U0001f511\ud800')
def test_a_json_string_reads_back_exactly_and_is_ascii(text):
    spelled = tools.json_string(text)
    assert spelled.isascii()
    # A high and a low surrogate side by side read back as the one character they spell
    # (as from json.dumps); every other text comes back as it was.
    assert json.loads(spelled) == text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


@given(st.text(ANY_CHARACTER.filter(lambda char: char != "\0"), min_size=1, max_size=30),
       st.one_of(st.none(), st.text(ANY_CHARACTER, max_size=14)))
def test_the_credential_process_document_reads_back_as_the_session(value, account):
    session = Session("ASIA" + value, "secret" + value, value, 1795000000)
    document = json.loads(tools.credential_process_json(session, account))
    expected = {
        "Version": 1, "AccessKeyId": "ASIA" + value, "SecretAccessKey": "secret" + value,
        "SessionToken": value, "Expiration": "2026-11-18T11:06:40Z",
    }
    if account:
        expected["AccountId"] = account
    assert document == expected
    assert list(document) == list(expected), "Version first, as the SPEC shows it"
