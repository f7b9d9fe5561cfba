"""Roles assumed with MFA: one code in the morning, every account all day.

End to end through the CLI, each mfaenv run its own process (as in separate
terminals), against the STS stand-in, which records every call: its action,
its form and which key signed it (the signature checked against the secret
that should have made it). The session cache lives in a folder of the test.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Dict

import pytest

import sts_standin as standin
from conftest import exported, run_mfaenv
from mfaenv.stores.cache import key_digest
from mfaenv.commands.get import GetRequest, prepare
from mfaenv.profiles import ProfileStore, default_session_name
from mfaenv.sessions import cache_keys
from mfaenv.shells.expiry import format_expiry
from test_errors import PROFILE, STS_REJECTED, USAGE, assert_clean_failure
from test_imports import AWS_SDK, imported_modules, loaded, stderr_without_importtime

STAGE_KEY, STAGE_SECRET = "AKIAEXAMPLESTAGE0001", "example/stage+SECRET0000000000000000000"
STAGE_SERIAL = "arn:aws:iam::111111111111:mfa/jane"
ADMIN_ARN = "arn:aws:iam::210987654321:role/admin"
READONLY_ARN = "arn:aws:iam::210987654321:role/readonly"
AUDIT_ARN = "arn:aws:iam::345678901234:role/audit"

#: Role profiles on top of tests/data, in the config file: sourced from the team layout's
#: [stage] (keys in [stage-default], MFA device in [stage]), as a team would add them.
ROLE_PROFILES = f"""
[profile admin]
role_arn = {ADMIN_ARN}
source_profile = stage
region = eu-central-1

[profile readonly]
role_arn = {READONLY_ARN}
source_profile = stage

# A chain: audit is assumed from admin's session.
[profile audit]
role_arn = {AUDIT_ARN}
source_profile = admin
external_id = audit-7f3c
role_session_name = jane.audit
"""


@pytest.fixture
def roles_env(standin_env: Dict[str, str], aws_home: Path, tmp_path: Path) -> Dict[str, str]:
    """The stand-in's HOME with role profiles added and a session cache of its own."""
    config = aws_home / ".aws" / "config"
    config.write_text(config.read_text() + ROLE_PROFILES)
    return {**standin_env, "MFAENV_CACHE_DIR": str(tmp_path / "cache")}


def add_config(aws_home: Path, text: str) -> None:
    config = aws_home / ".aws" / "config"
    config.write_text(config.read_text() + "\n" + text)


def ok(args, environ) -> Dict[str, str]:
    result = run_mfaenv([*args, "--shell", "bash"], environ)
    assert result.returncode == 0, result.stderr
    return exported(result.stdout)


# -- one code for the day -----------------------------------------------------------------------


def test_one_code_then_two_roles_in_separate_processes(roles_env, sts_standin):
    # Both roles demand MFA in their trust policy: the MFA session carries it.
    sts_standin.role(ADMIN_ARN, mfa=True).role(READONLY_ARN, mfa=True)
    admin = ok(["admin", "123456"], roles_env)
    assert sts_standin.actions() == ["GetSessionToken", "AssumeRole"]
    mfa_call, role_call = sts_standin.requests
    mfa_session = sts_standin.issued[0]
    # The code goes to GetSessionToken, signed with the long-term keys...
    assert mfa_call.signer == "long-term" and mfa_call.signed_with(STAGE_SECRET)
    assert (mfa_call.form["SerialNumber"], mfa_call.form["TokenCode"]) == (STAGE_SERIAL, "123456")
    assert mfa_call.form["DurationSeconds"] == "43200", "the MFA session beneath keeps 12 hours"
    # ...and AssumeRole is signed with that MFA session, its token attached, and carries no code.
    assert role_call.signer == "session" and role_call.answered == "ok"
    assert role_call.signing_key_id == mfa_session.access_key_id and role_call.token == mfa_session.session_token
    assert "TokenCode" not in role_call.form and "SerialNumber" not in role_call.form
    assert (role_call.form["RoleArn"], role_call.form["RoleSessionName"]) == (ADMIN_ARN, "jane")
    assert role_call.form["DurationSeconds"] == "3600"
    role_session = sts_standin.issued[1]
    assert admin["AWS_ACCESS_KEY_ID"] == role_session.access_key_id and admin["AWS_SESSION_TOKEN"] == role_session.session_token
    assert (admin["MFAENV_PROFILE"], admin["MFAENV_ACCOUNT"], admin["AWS_ACCOUNT_ID"]) == ("admin", "210987654321", "210987654321")
    assert admin["AWS_REGION"] == "eu-central-1" and role_call.signing_region == "eu-central-1"
    assert int(admin["MFAENV_EXPIRES"]) == int(role_session.expires)

    # Another role on the same source, in another process, with no code: one AssumeRole call,
    # signed with the same MFA session.
    readonly = ok(["readonly"], roles_env)
    assert sts_standin.actions() == ["GetSessionToken", "AssumeRole", "AssumeRole"]
    third = sts_standin.requests[2]
    assert third.form["RoleArn"] == READONLY_ARN and third.answered == "ok"
    assert third.signing_key_id == mfa_session.access_key_id and "TokenCode" not in third.form
    assert readonly["MFAENV_PROFILE"] == "readonly" and readonly["AWS_ACCOUNT_ID"] == "210987654321"

    # admin again in a new terminal: its role session comes from the cache, no call at all.
    again = ok(["admin"], roles_env)
    assert len(sts_standin.requests) == 3
    assert again["AWS_SESSION_TOKEN"] == role_session.session_token


def test_the_prompt_shows_the_role_profile_and_the_roles_account(roles_env, sts_standin):
    admin = ok(["admin", "123456"], roles_env)
    shell = {**roles_env, **{name: value for name, value in admin.items() if value is not None}}
    result = run_mfaenv(["prompt"], shell)
    assert re.fullmatch(r"admin 210987654321 (1h00m|59m|58m)\n", result.stdout), result.stdout


def test_the_plain_profiles_session_serves_its_roles(roles_env, sts_standin):
    stage = ok(["stage", "123456"], roles_env)
    assert stage["AWS_ACCOUNT_ID"] == "111111111111"
    ok(["admin"], roles_env)
    assert sts_standin.actions() == ["GetSessionToken", "AssumeRole"]


def test_a_code_given_fetches_a_new_mfa_session_and_assumes_the_role_again(roles_env, sts_standin):
    ok(["admin", "123456"], roles_env)
    ok(["admin", "654321"], roles_env)
    assert sts_standin.actions() == ["GetSessionToken", "AssumeRole"] * 2
    assert sts_standin.requests[2].form["TokenCode"] == "654321"


def test_force_without_a_code_asks_for_one_even_with_everything_cached(roles_env, sts_standin):
    ok(["admin", "123456"], roles_env)
    result = run_mfaenv(["admin", "--force"], roles_env)
    assert result.returncode != 0 and result.stdout == ""
    assert "terminal" in result.stderr or "code" in result.stderr
    assert len(sts_standin.requests) == 2


def test_without_a_cache_a_new_process_needs_a_new_code(roles_env, sts_standin):
    environ = {**roles_env, "MFAENV_CACHE": "off"}
    ok(["admin", "123456"], environ)
    result = run_mfaenv(["readonly"], environ)
    assert result.returncode != 0 and result.stdout == ""
    assert len(sts_standin.requests) == 2


def test_this_shells_role_session_is_reused_before_the_cache(roles_env, sts_standin):
    admin = ok(["admin", "123456"], {**roles_env, "MFAENV_CACHE": "off"})
    shell = {**roles_env, **{name: value for name, value in admin.items() if value is not None}}
    again = ok(["admin"], shell)
    assert again["AWS_SESSION_TOKEN"] == admin["AWS_SESSION_TOKEN"]
    assert len(sts_standin.requests) == 2


def test_a_role_session_comes_from_the_shell_then_the_cache_then_the_file_then_sts(roles_env, aws_home, sts_standin):
    """prepare's reuse order for a role, as `get`, `exec` and `credential-process` see it."""
    request = GetRequest("admin")
    fetched = prepare(GetRequest("admin", code="123456"), roles_env)
    assert fetched.origin == "sts" and len(sts_standin.requests) == 2
    assert prepare(request, roles_env).origin == "cache"
    in_shell = {**roles_env, **{name: value for name, value in fetched.variables.items() if value is not None}}
    assert prepare(request, in_shell).origin == "shell"
    # A session --persist left in [admin] serves when the cache has none.
    credentials = aws_home / ".aws" / "credentials"
    credentials.write_text(credentials.read_text() + "\n[admin]\naws_access_key_id = ASIAPERSISTED0000001\n"
                           "aws_secret_access_key = file/SECRET\naws_session_token = file-token\n"
                           f"expiration = {format_expiry(int(time.time()) + 1800)}\n"
                           f"mfaenv_session_digest = {fetched.variables['MFAENV_SESSION_DIGEST']}\n")
    from_file = prepare(request, {**roles_env, "MFAENV_CACHE": "off"})
    assert (from_file.origin, from_file.session.access_key_id) == ("file", "ASIAPERSISTED0000001")
    assert prepare(request, roles_env).origin == "cache", "the cache comes before the file"
    assert len(sts_standin.requests) == 2


def test_a_role_session_is_reused_only_with_the_time_left_the_caller_needs(roles_env, aws_home, sts_standin):
    """credential-process wants 15 minutes left where get wants 5: a 15-minute role is renewed, without a code."""
    add_config(aws_home, f"[profile brief]\nrole_arn = {READONLY_ARN}\nsource_profile = stage\nduration_seconds = 900\n")
    prepare(GetRequest("brief", code="123456"), roles_env)
    assert prepare(GetRequest("brief"), roles_env, min_seconds_left=300).origin == "cache"
    renewed = prepare(GetRequest("brief"), roles_env, min_seconds_left=900)
    assert renewed.origin == "sts"
    assert sts_standin.actions() == ["GetSessionToken", "AssumeRole", "AssumeRole"]


# -- what a role profile may say ----------------------------------------------------------------


def test_a_chain_assumes_each_role_in_order_with_its_external_id_and_session_name(roles_env, sts_standin):
    sts_standin.role(AUDIT_ARN, external_id="audit-7f3c", mfa=True)
    audit = ok(["audit", "123456"], roles_env)
    assert sts_standin.actions() == ["GetSessionToken", "AssumeRole", "AssumeRole"]
    _mfa, first, second = sts_standin.requests
    assert first.form["RoleArn"] == ADMIN_ARN and "ExternalId" not in first.form
    assert first.form["RoleSessionName"] == "jane"
    assert second.form["RoleArn"] == AUDIT_ARN and second.answered == "ok"
    assert (second.form["ExternalId"], second.form["RoleSessionName"]) == ("audit-7f3c", "jane.audit")
    # audit is assumed with admin's session (the second one issued), which it carries MFA from.
    admin_session = sts_standin.issued[1]
    assert (second.signing_key_id, second.token) == (admin_session.access_key_id, admin_session.session_token)
    assert audit["AWS_SESSION_TOKEN"] == sts_standin.issued[2].session_token
    assert (audit["MFAENV_PROFILE"], audit["AWS_ACCOUNT_ID"]) == ("audit", "345678901234")
    # The region is admin's: audit names none, so the profile beneath it speaks.
    assert audit["AWS_REGION"] == "eu-central-1"
    # The admin session assumed on the way is cached too.
    ok(["admin"], roles_env)
    assert len(sts_standin.requests) == 3


def test_duration_seconds_and_duration_option_set_the_role_session(roles_env, aws_home, sts_standin):
    add_config(aws_home, f"[profile short]\nrole_arn = {READONLY_ARN}\nsource_profile = stage\nduration_seconds = 1800\n")
    ok(["short", "123456"], roles_env)
    assert sts_standin.requests[-1].form["DurationSeconds"] == "1800"
    ok(["short", "--duration", "900", "123456"], roles_env)
    assert sts_standin.requests[-1].form["DurationSeconds"] == "900"
    assert [r.form["DurationSeconds"] for r in sts_standin.requests if r.form["Action"] == "GetSessionToken"] == ["43200"] * 2


@pytest.mark.parametrize("how", ["duration_seconds", "--duration"])
def test_a_role_longer_than_an_hour_is_assumed_with_the_code_and_no_mfa_session(how, roles_env, aws_home, sts_standin):
    add_config(aws_home, f"[profile long]\nrole_arn = {ADMIN_ARN}\nsource_profile = stage\n"
               + ("duration_seconds = 28800\n" if how == "duration_seconds" else ""))
    args = ["long", "123456"] + (["--duration", "28800"] if how == "--duration" else [])
    sts_standin.role(ADMIN_ARN, mfa=True)
    ok(args, roles_env)
    assert sts_standin.actions() == ["AssumeRole"], "the code must be spent once, on AssumeRole alone"
    call = sts_standin.requests[0]
    assert call.signer == "long-term" and call.signed_with(STAGE_SECRET) and call.answered == "ok"
    assert call.token is None
    assert (call.form["SerialNumber"], call.form["TokenCode"]) == (STAGE_SERIAL, "123456")
    assert call.form["DurationSeconds"] == "28800"


def test_a_long_role_is_cached_too(roles_env, aws_home, sts_standin):
    add_config(aws_home, f"[profile long]\nrole_arn = {ADMIN_ARN}\nsource_profile = stage\nduration_seconds = 28800\n")
    ok(["long", "123456"], roles_env)
    ok(["long"], roles_env)
    assert len(sts_standin.requests) == 1


def test_spec_layout_source_with_keys_and_mfa_serial_on_the_role(standin_env, aws_home, tmp_path, sts_standin):
    """The SPEC's example: keys in [jane] of the credentials file, the role and its MFA device in the config."""
    credentials = aws_home / ".aws" / "credentials"
    credentials.write_text(credentials.read_text()
                           + "\n[jane]\naws_access_key_id = AKIAJANE000000000001\naws_secret_access_key = jane/secret\n")
    add_config(aws_home, f"[profile ops]\nrole_arn = {ADMIN_ARN}\nsource_profile = jane\n"
                         "mfa_serial = arn:aws:iam::111111111111:mfa/jane.doe@example.com\n")
    ok(["ops", "123456"], {**standin_env, "MFAENV_CACHE_DIR": str(tmp_path / "cache")})
    mfa_call, role_call = sts_standin.requests
    assert mfa_call.signed_with("jane/secret")
    assert mfa_call.form["SerialNumber"] == "arn:aws:iam::111111111111:mfa/jane.doe@example.com"
    assert role_call.form["RoleSessionName"] == "jane.doe@example.com"


def test_credentials_file_layout_role_in_the_credentials_file(standin_env, aws_home, tmp_path, sts_standin):
    """Everything in ~/.aws/credentials: the role beside the team layout's sections, the device as aws_arn_mfa."""
    credentials = aws_home / ".aws" / "credentials"
    credentials.write_text(credentials.read_text() + f"\n[deploy]\nrole_arn = {ADMIN_ARN}\nsource_profile = prod-default\n"
                           "aws_arn_mfa = arn:aws:iam::222222222222:mfa/jane\nexternal_id = ci-42\n")
    values = ok(["deploy", "123456"], {**standin_env, "MFAENV_CACHE_DIR": str(tmp_path / "cache")})
    mfa_call, role_call = sts_standin.requests
    assert mfa_call.signed_with("example/prod+SECRET00000000000000000000")
    assert mfa_call.form["SerialNumber"] == "arn:aws:iam::222222222222:mfa/jane"
    assert role_call.form["ExternalId"] == "ci-42"
    assert values["MFAENV_PROFILE"] == "deploy"


# -- errors ---------------------------------------------------------------------------------------


def test_a_wrong_code_fails_before_any_role_is_asked(roles_env, sts_standin):
    sts_standin.answer(standin.WRONG_CODE)
    result = run_mfaenv(["admin", "123456"], roles_env)
    assert_clean_failure(result, STS_REJECTED, ["MFA code"])
    assert sts_standin.actions() == ["GetSessionToken"]


def test_assume_role_denied_names_the_role_and_the_likely_causes(roles_env, aws_home, sts_standin):
    # The trust policy demands an external id the profile does not send.
    sts_standin.role(ADMIN_ARN, external_id="corp-1234")
    result = run_mfaenv(["admin", "123456"], roles_env)
    assert_clean_failure(result, STS_REJECTED, ["'admin'", ADMIN_ARN, "trust policy", "external_id"])
    assert [request.answered for request in sts_standin.requests] == ["ok", "AccessDenied"]
    # The MFA session was good and is cached: once the profile is fixed, no new code is needed.
    config = aws_home / ".aws" / "config"
    config.write_text(config.read_text().replace("source_profile = stage\nregion", "source_profile = stage\nexternal_id = corp-1234\nregion"))
    ok(["admin"], roles_env)
    assert sts_standin.actions() == ["GetSessionToken", "AssumeRole", "AssumeRole"]
    assert sts_standin.requests[-1].answered == "ok"


def test_a_revoked_cached_mfa_session_says_to_give_a_new_code(roles_env, sts_standin):
    ok(["admin", "123456"], roles_env)
    sts_standin.answer(standin.EXPIRED_TOKEN)  # e.g. its sessions were revoked in IAM since the morning
    result = run_mfaenv(["readonly"], roles_env)
    assert_clean_failure(result, STS_REJECTED, ["'readonly'", READONLY_ARN, "expired or revoked", "MFA code"])
    sts_standin.answer(standin.success())
    ok(["readonly", "654321"], roles_env)
    assert sts_standin.actions()[-2:] == ["GetSessionToken", "AssumeRole"]


def test_a_chained_role_asked_for_more_than_an_hour_is_refused_before_any_call(roles_env, aws_home, sts_standin):
    result = run_mfaenv(["audit", "123456", "--duration", "7200"], roles_env)
    assert_clean_failure(result, USAGE, ["'audit'", "3600"])
    add_config(aws_home, f"[profile deep]\nrole_arn = {AUDIT_ARN}\nsource_profile = admin\nduration_seconds = 7200\n")
    result = run_mfaenv(["deep", "123456"], roles_env)
    assert_clean_failure(result, PROFILE, ["'deep'", "duration_seconds", "3600"])
    assert sts_standin.requests == []


def test_a_role_asked_for_more_than_its_maximum_is_one_clear_line(roles_env, sts_standin):
    sts_standin.role(ADMIN_ARN, max_duration=3600)
    result = run_mfaenv(["admin", "123456", "--duration", "7200"], roles_env)
    assert_clean_failure(result, STS_REJECTED, ["'admin'", ADMIN_ARN])
    assert [(request.action, request.answered) for request in sts_standin.requests] == [("AssumeRole", "ValidationError")]


NOT_MFA = {
    "credential-source": ("credential_source = Ec2InstanceMetadata\n", "credential_source"),
    "web-identity": ("web_identity_token_file = /var/run/token\n", "web_identity_token_file"),
    "sso-session": ("sso_session = corp\nsso_account_id = 210987654321\n", "SSO"),
    "sso-start-url": ("sso_start_url = https://corp.awsapps.com/start\n", "SSO"),
}


@pytest.mark.parametrize("kind", NOT_MFA)
def test_a_profile_that_is_not_an_mfa_profile_says_so(kind, roles_env, aws_home, sts_standin):
    settings, mention = NOT_MFA[kind]
    add_config(aws_home, f"[profile other]\nrole_arn = {ADMIN_ARN}\n{settings}")
    result = run_mfaenv(["other", "123456"], roles_env)
    assert_clean_failure(result, PROFILE, ["'other'", mention, "not an MFA profile"])
    # Reached as the source of a role, it is named as such.
    add_config(aws_home, f"[profile above]\nrole_arn = {READONLY_ARN}\nsource_profile = other\n")
    result = run_mfaenv(["above", "123456"], roles_env)
    assert_clean_failure(result, PROFILE, ["'above'", "'other'", "not an MFA profile"])
    assert sts_standin.requests == []


def test_a_source_profile_loop_is_named(roles_env, aws_home, sts_standin):
    add_config(aws_home, f"[profile ping]\nrole_arn = {ADMIN_ARN}\nsource_profile = pong\n"
                         f"[profile pong]\nrole_arn = {READONLY_ARN}\nsource_profile = ping\n")
    result = run_mfaenv(["ping", "123456"], roles_env)
    assert_clean_failure(result, PROFILE, ["loop", "ping -> pong -> ping"])
    assert sts_standin.requests == []


@pytest.mark.parametrize("setting, mentions", [
    ("source_profile = nowhere\n", ["'nowhere'", "not found"]),
    ("", ["source_profile"]),
    ("source_profile = stage\nrole_session_name = a b\n", ["role_session_name"]),
    ("source_profile = stage\nduration_seconds = 12h\n", ["duration_seconds"]),
])
def test_a_broken_role_profile_is_named_before_any_call(setting, mentions, roles_env, aws_home, sts_standin):
    add_config(aws_home, f"[profile broken]\nrole_arn = {ADMIN_ARN}\n{setting}")
    result = run_mfaenv(["broken", "123456"], roles_env)
    assert_clean_failure(result, PROFILE, ["'broken'", *mentions])
    assert sts_standin.requests == []


def test_a_role_arn_that_is_not_a_role_is_named_before_any_call(roles_env, aws_home, sts_standin):
    add_config(aws_home, "[profile typo]\nrole_arn = arn:aws:iam::210987654321:user/admin\nsource_profile = stage\n")
    result = run_mfaenv(["typo", "123456"], roles_env)
    assert_clean_failure(result, PROFILE, ["'typo'", "role_arn", "arn:aws:iam::ACCOUNT:role/NAME"])
    assert sts_standin.requests == []


# -- the cache follows the profile ---------------------------------------------------------------


def test_editing_the_role_after_caching_assumes_the_new_role(roles_env, aws_home, sts_standin):
    ok(["admin", "123456"], roles_env)
    config = aws_home / ".aws" / "config"
    config.write_text(config.read_text().replace(f"role_arn = {ADMIN_ARN}", "role_arn = arn:aws:iam::210987654321:role/poweruser"))
    ok(["admin"], roles_env)  # the MFA session still serves: no code
    assert sts_standin.actions() == ["GetSessionToken", "AssumeRole", "AssumeRole"]
    assert sts_standin.requests[-1].form["RoleArn"] == "arn:aws:iam::210987654321:role/poweruser"


def test_editing_the_keys_after_caching_needs_a_new_code(roles_env, aws_home, sts_standin):
    ok(["admin", "123456"], roles_env)
    credentials = aws_home / ".aws" / "credentials"
    credentials.write_text(credentials.read_text().replace("AKIAEXAMPLESTAGE0001", "AKIAEXAMPLESTAGE0002"))
    result = run_mfaenv(["admin"], roles_env)
    assert result.returncode != 0 and result.stdout == "", "a session of the old keys was reused"
    assert len(sts_standin.requests) == 2


def test_a_cached_role_session_loads_no_aws_sdk(roles_env, sts_standin):
    ok(["admin", "123456"], roles_env)
    modules, result = imported_modules(["admin", "--shell", "bash"], roles_env)
    assert result.returncode == 0, stderr_without_importtime(result)
    assert "export MFAENV_PROFILE='admin'" in result.stdout
    assert {"mfaenv.sessions", "mfaenv.stores.cache"} <= set(modules), "the reuse did not go through the cache"
    assert loaded(modules, AWS_SDK) == []
    assert len(sts_standin.requests) == 2


# -- the chain and its cache keys, resolved from files --------------------------------------------


@pytest.mark.parametrize("serial, name", [
    ("arn:aws:iam::111111111111:mfa/jane", "jane"),
    ("arn:aws:iam::111111111111:mfa/team/ops/jane.doe@example.com", "jane.doe@example.com"),
    ("arn:aws:iam::111111111111:mfa/J\u00e4ne D\u0153", "J-ne-D"),
    ("arn:aws:iam::111111111111:mfa/" + "x" * 80, "x" * 64),
    ("arn:aws:iam::111111111111:mfa/j", "mfaenv"),
    ("GAHT12345678", "mfaenv"),  # a hardware token's serial names nobody
])
def test_the_default_session_name_is_the_iam_user_of_the_mfa_device(serial, name):
    assert default_session_name(serial) == name


def make_store(tmp_path: Path, credentials: str, config: str) -> ProfileStore:
    """A store over tmp_path/credentials and tmp_path/config (some tests read them again by name),
    with AWS_REGION set: the region a chain falls back to."""
    (tmp_path / "credentials").write_text(credentials)
    (tmp_path / "config").write_text(config)
    return ProfileStore({"AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
                         "AWS_CONFIG_FILE": str(tmp_path / "config"), "AWS_REGION": "us-west-2"})


JANE = "[jane]\naws_access_key_id = AKIAJANE\naws_secret_access_key = jane-secret\nmfa_serial = arn:aws:iam::111111111111:mfa/jane\n"


def test_a_chain_resolves_roles_in_assumption_order_with_regions_falling_through(tmp_path):
    store = make_store(tmp_path, JANE, (
        f"[profile admin]\nrole_arn = {ADMIN_ARN}\nsource_profile = jane\nregion = eu-west-3\n"
        f"[profile audit]\nrole_arn = {AUDIT_ARN}\nsource_profile = admin\n"
    ))
    chain = store.chain("audit")
    assert [role.profile for role in chain.roles] == ["admin", "audit"]
    assert [role.source for role in chain.roles] == ["jane", "admin"]
    assert (chain.base.access_key_id, chain.base.serial) == ("AKIAJANE", "arn:aws:iam::111111111111:mfa/jane")
    assert [role.call_region for role in chain.roles] == ["eu-west-3", "eu-west-3"]
    assert (chain.region, chain.account) == ("eu-west-3", "345678901234")
    assert chain.base.call_region == "us-west-2"  # jane names no region: the call's comes from the environment


def test_the_role_profiles_mfa_serial_comes_before_the_sources(tmp_path):
    store = make_store(tmp_path, JANE, f"[profile admin]\nrole_arn = {ADMIN_ARN}\nsource_profile = jane\n"
                                       "mfa_serial = arn:aws:iam::111111111111:mfa/jane-yubikey\n")
    chain = store.chain("admin")
    assert chain.base.serial == "arn:aws:iam::111111111111:mfa/jane-yubikey"
    assert chain.roles[0].session_name == "jane-yubikey"


def test_a_role_profile_may_hold_the_keys_that_assume_it(tmp_path):
    """botocore allows source_profile naming the profile itself when it holds long-term keys."""
    store = make_store(tmp_path, JANE.replace("[jane]", "[self]"), f"[profile self]\nrole_arn = {ADMIN_ARN}\nsource_profile = self\n")
    chain = store.chain("self")
    assert (chain.base.access_key_id, [role.profile for role in chain.roles]) == ("AKIAJANE", ["self"])


def test_source_option_replaces_the_roles_source_profile(tmp_path):
    store = make_store(tmp_path, JANE + JANE.replace("[jane]", "[other]").replace("AKIAJANE", "AKIAOTHER"),
                       f"[profile admin]\nrole_arn = {ADMIN_ARN}\nsource_profile = jane\n")
    assert store.chain("admin", source="other").base.access_key_id == "AKIAOTHER"


def test_cache_keys_follow_what_each_session_depends_on(tmp_path):
    config = f"[profile admin]\nrole_arn = {ADMIN_ARN}\nsource_profile = jane\n"
    environ = {"AWS_ENDPOINT_URL_STS": "http://127.0.0.1:9"}
    keys = cache_keys(make_store(tmp_path, JANE, config).chain("admin"), environ)
    mfa, through_mfa, with_code = keys
    assert mfa["kind"] == "mfa" and mfa["access_key_id"] == "AKIAJANE" and "jane-secret" not in str(keys)
    assert through_mfa == {"kind": "role", "parent": key_digest(mfa), "role_arn": ADMIN_ARN,
                           "session_name": "jane", "external_id": ""}
    assert with_code["kind"] == "role" and with_code["parent"] != through_mfa["parent"]
    # Another secret, device, session name or endpoint: other keys.
    for credentials, other_config, other_environ in [
        (JANE.replace("jane-secret", "rotated"), config, environ),
        (JANE.replace("mfa/jane", "mfa/jane2"), config, environ),
        (JANE, config + "role_session_name = ops\n", environ),
        (JANE, config, {"AWS_ENDPOINT_URL_STS": "http://127.0.0.1:10"}),
    ]:
        other = cache_keys(make_store(tmp_path, credentials, other_config).chain("admin"), other_environ)
        assert other[1] != through_mfa


def test_the_region_of_the_call_does_not_split_the_cache_but_the_partition_does(tmp_path):
    config = f"[profile admin]\nrole_arn = {ADMIN_ARN}\nsource_profile = jane\n"
    make_store(tmp_path, JANE, config)
    files = {"AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"), "AWS_CONFIG_FILE": str(tmp_path / "config")}
    keys = {}
    for region in ("us-west-2", "eu-west-1", "cn-north-1", "us-gov-west-1"):
        environ = {**files, "AWS_REGION": region}
        keys[region] = cache_keys(ProfileStore(environ).chain("admin"), environ)[0]
    assert keys["us-west-2"] == keys["eu-west-1"]
    assert len({keys[region]["endpoint"] for region in ("us-west-2", "cn-north-1", "us-gov-west-1")}) == 3
