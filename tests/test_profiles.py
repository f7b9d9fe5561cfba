"""Where the keys, the MFA device and the region come from, in the SPEC's order.

Most scenarios resolve small credentials/config files written for the test
with ``ProfileStore`` directly; the end-to-end ones run mfaenv against the STS
stand-in, which checks the request's SigV4 signature against the secret key
that should have made it, so they prove which keys signed the call.
"""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from conftest import run_mfaenv
from mfaenv.errors import ProfileError
from mfaenv.profiles import ProfileStore
from sts_standin import standin_env, sts_standin  # noqa: F401 (fixtures)

SERIAL = "arn:aws:iam::111111111111:mfa/jane"
STAGE_KEY, STAGE_SECRET = "AKIAEXAMPLESTAGE0001", "example/stage+SECRET0000000000000000000"
PROD_KEY, PROD_SECRET = "AKIAEXAMPLEPROD00001", "example/prod+SECRET00000000000000000000"


def make_store(tmp_path: Path, credentials: str = "", config: str = "", **environ: str) -> ProfileStore:
    """A ProfileStore over these files, found through AWS_SHARED_CREDENTIALS_FILE/AWS_CONFIG_FILE."""
    credentials_file = tmp_path / "creds-elsewhere"
    config_file = tmp_path / "config-elsewhere"
    credentials_file.write_text(dedent(credentials))
    config_file.write_text(dedent(config))
    return ProfileStore({
        "AWS_SHARED_CREDENTIALS_FILE": str(credentials_file),
        "AWS_CONFIG_FILE": str(config_file),
        **environ,
    })


def keys(name: str, key_id: str = "AKIAKEYS", secret: str = "secret") -> str:
    return f"[{name}]\naws_access_key_id = {key_id}\naws_secret_access_key = {secret}\n"


# -- long-term keys ---------------------------------------------------------------------------


def test_keys_beside_the_temporary_profile_in_name_default(tmp_path):
    store = make_store(tmp_path, keys("stage-default", STAGE_KEY, STAGE_SECRET) + f"[stage]\naws_arn_mfa = {SERIAL}\n")
    profile = store.resolve("stage")
    assert (profile.source, profile.access_key_id, profile.secret_access_key) == ("stage-default", STAGE_KEY, STAGE_SECRET)
    assert profile.serial == SERIAL


def test_keys_in_name_long_term(tmp_path):
    store = make_store(tmp_path, keys("stage-long-term", "AKIALONGTERM") + f"[stage]\naws_arn_mfa = {SERIAL}\n")
    assert store.resolve("stage").access_key_id == "AKIALONGTERM"


def test_name_default_comes_before_name_long_term(tmp_path):
    store = make_store(tmp_path, keys("stage-long-term", "AKIALONGTERM") + keys("stage-default", "AKIADEFAULT")
                       + f"[stage]\naws_arn_mfa = {SERIAL}\n")
    assert store.resolve("stage").source == "stage-default"


def test_the_target_does_not_need_a_section_of_its_own(tmp_path):
    store = make_store(tmp_path, keys("stage-default", "AKIADEFAULT"), f"[profile stage]\nmfa_serial = {SERIAL}\n")
    assert store.resolve("stage").access_key_id == "AKIADEFAULT"


def test_source_profile_in_config_comes_before_name_default(tmp_path):
    store = make_store(
        tmp_path,
        keys("stage-default", "AKIADEFAULT") + keys("base", "AKIABASE"),
        f"[profile stage]\nsource_profile = base\nmfa_serial = {SERIAL}\n",
    )
    profile = store.resolve("stage")
    assert (profile.source, profile.access_key_id) == ("base", "AKIABASE")


def test_source_profile_in_credentials(tmp_path):
    store = make_store(tmp_path, keys("base", "AKIABASE") + f"[stage]\nsource_profile = base\naws_arn_mfa = {SERIAL}\n")
    assert store.resolve("stage").access_key_id == "AKIABASE"


def test_source_profile_keys_may_live_in_the_config_file(tmp_path):
    store = make_store(tmp_path, "", (
        "[profile base]\naws_access_key_id = AKIACONFIG\naws_secret_access_key = secret\n"
        f"[profile stage]\nsource_profile = base\nmfa_serial = {SERIAL}\n"
    ))
    profile = store.resolve("stage")
    assert (profile.access_key_id, profile.source) == ("AKIACONFIG", "base")
    assert "base" not in store.credentials  # the keys come from the config file alone


def test_source_option_comes_first(tmp_path):
    store = make_store(
        tmp_path,
        keys("stage-default", "AKIADEFAULT") + keys("other", "AKIAOTHER") + keys("base", "AKIABASE"),
        f"[profile stage]\nsource_profile = base\nmfa_serial = {SERIAL}\n",
    )
    assert store.resolve("stage", source="other").access_key_id == "AKIAOTHER"


def test_a_profile_holding_its_own_long_term_keys(tmp_path):
    store = make_store(tmp_path, keys("dev", "AKIADEV"), f"[profile dev]\nmfa_serial = {SERIAL}\n")
    profile = store.resolve("dev")
    assert (profile.source, profile.access_key_id) == ("dev", "AKIADEV")


def test_a_profile_holding_a_session_is_not_a_source(tmp_path):
    store = make_store(tmp_path, keys("dev", "ASIASESSION") + f"aws_session_token = token\nmfa_serial = {SERIAL}\n")
    with pytest.raises(ProfileError, match="no long-term keys"):
        store.resolve("dev")


def test_placeholders_are_not_keys(tmp_path):
    store = make_store(tmp_path, (
        f"[stage]\naws_arn_mfa = {SERIAL}\naws_access_key_id = <auto-generated>\n"
        "aws_secret_access_key = <auto-generated>\n"
    ))
    with pytest.raises(ProfileError, match="no long-term keys"):
        store.resolve("stage")


def test_a_placeholder_mfa_device_is_not_a_device(tmp_path):
    store = make_store(tmp_path, keys("stage-default") + "[stage]\naws_arn_mfa = <your mfa arn>\n")
    with pytest.raises(ProfileError, match="no MFA device"):
        store.resolve("stage")


def test_uppercase_default_section_is_an_ordinary_profile(tmp_path):
    """configparser would copy [DEFAULT]'s keys into every section; AWS tools do not."""
    store = make_store(tmp_path, keys("DEFAULT", "AKIAUPPERDEFAULT") + f"mfa_serial = {SERIAL}\n"
                       + "[stage]\nregion = eu-west-3\n")
    with pytest.raises(ProfileError, match="no long-term keys"):
        store.resolve("stage")
    assert store.resolve("DEFAULT").access_key_id == "AKIAUPPERDEFAULT"
    assert store.names() == ["DEFAULT", "stage"]


def test_lowercase_default_is_the_default_profile_in_both_files(tmp_path):
    store = make_store(tmp_path, keys("default", "AKIADEFAULTPROFILE"), f"[default]\nmfa_serial = {SERIAL}\nregion = sa-east-1\n")
    profile = store.resolve("default")
    assert (profile.access_key_id, profile.serial, profile.region) == ("AKIADEFAULTPROFILE", SERIAL, "sa-east-1")


def test_config_section_without_profile_prefix_is_not_a_profile(tmp_path):
    """In the config file, [stage] is not [profile stage]: the AWS CLI ignores it too."""
    store = make_store(tmp_path, keys("stage-default"), f"[stage]\nmfa_serial = {SERIAL}\n")
    with pytest.raises(ProfileError, match="no MFA device"):
        store.resolve("stage")


# -- MFA device --------------------------------------------------------------------------------

SOURCE_WITH_SERIAL = keys("base") + "mfa_serial = arn:aws:iam::111111111111:mfa/from-source\n"


MFA_DEVICE_CASES = [
    ("serial option first",
     "[stage]\nsource_profile = base\naws_arn_mfa = arn:x:aws_arn_mfa\n", "", "arn:x:option", "arn:x:option"),
    ("aws_arn_mfa before aws_mfa_device",
     "[stage]\nsource_profile = base\naws_arn_mfa = arn:x:aws_arn_mfa\naws_mfa_device = arn:x:device\n", "", None,
     "arn:x:aws_arn_mfa"),
    ("aws_mfa_device before mfa_serial",
     "[stage]\nsource_profile = base\naws_mfa_device = arn:x:device\nmfa_serial = arn:x:target\n", "", None,
     "arn:x:device"),
    ("mfa_serial of the target in config before the source's",
     "[stage]\nsource_profile = base\n", "[profile stage]\nmfa_serial = arn:x:target-config\n", None,
     "arn:x:target-config"),
    ("mfa_serial of the target in credentials",
     "[stage]\nsource_profile = base\nmfa_serial = arn:x:target-credentials\n", "", None, "arn:x:target-credentials"),
    ("mfa_serial of the source last",
     "[stage]\nsource_profile = base\n", "", None, "arn:aws:iam::111111111111:mfa/from-source"),
]


@pytest.mark.parametrize("case, credentials, config, serial_option, expected", MFA_DEVICE_CASES,
                         ids=[case[0].replace(" ", "-") for case in MFA_DEVICE_CASES])
def test_mfa_device_lookup_order(tmp_path, case, credentials, config, serial_option, expected):
    store = make_store(tmp_path, SOURCE_WITH_SERIAL + credentials, config)
    assert store.resolve("stage", serial=serial_option).serial == expected


def test_aws_arn_mfa_counts_only_in_the_credentials_file(tmp_path):
    store = make_store(tmp_path, keys("stage-default"), "[profile stage]\naws_arn_mfa = arn:x:config\n")
    with pytest.raises(ProfileError, match="no MFA device"):
        store.resolve("stage")


# -- region --------------------------------------------------------------------------------------


def test_region_of_the_target_first_then_of_the_source(tmp_path):
    config = (
        "[profile stage-default]\nregion = eu-north-1\n"
        "[profile prod-default]\nregion = ap-northeast-1\n[profile prod]\nregion = eu-west-1\n"
    )
    credentials = keys("stage-default") + keys("prod-default") + f"[stage]\naws_arn_mfa = {SERIAL}\n[prod]\naws_arn_mfa = {SERIAL}\n"
    store = make_store(tmp_path, credentials, config, AWS_REGION="us-west-2")
    prod, stage = store.resolve("prod"), store.resolve("stage")
    assert (prod.region, prod.call_region) == ("eu-west-1", "eu-west-1")
    assert (stage.region, stage.call_region) == ("eu-north-1", "eu-north-1")


# -- files ----------------------------------------------------------------------------------------


def test_default_files_are_in_home_dot_aws(tmp_path):
    (tmp_path / ".aws").mkdir()
    (tmp_path / ".aws" / "credentials").write_text(keys("stage-default", "AKIAHOME") + f"[stage]\naws_arn_mfa = {SERIAL}\n")
    store = ProfileStore({"HOME": str(tmp_path)})
    assert store.credentials_path == tmp_path / ".aws" / "credentials"
    assert store.resolve("stage").access_key_id == "AKIAHOME"


def test_file_variables_replace_home_dot_aws_and_expand_tilde(tmp_path):
    (tmp_path / ".aws").mkdir()
    (tmp_path / ".aws" / "credentials").write_text(keys("stage-default", "AKIAHOME") + f"[stage]\naws_arn_mfa = {SERIAL}\n")
    (tmp_path / "dotfiles").mkdir()
    (tmp_path / "dotfiles" / "creds").write_text(keys("stage-default", "AKIADOTFILES") + f"[stage]\naws_arn_mfa = {SERIAL}\n")
    (tmp_path / "dotfiles" / "conf").write_text("[profile stage]\nregion = eu-south-1\n")
    store = ProfileStore({
        "HOME": str(tmp_path), "AWS_SHARED_CREDENTIALS_FILE": "~/dotfiles/creds", "AWS_CONFIG_FILE": "~/dotfiles/conf",
    })
    profile = store.resolve("stage")
    assert (profile.access_key_id, profile.region) == ("AKIADOTFILES", "eu-south-1")


def test_missing_files_mean_no_profiles(tmp_path):
    store = ProfileStore({"HOME": str(tmp_path / "nowhere")})
    assert store.names() == []
    with pytest.raises(ProfileError, match="'stage' not found"):
        store.resolve("stage")


# -- end to end: which keys sign the call, which region is exported ---------------------------

#: What a shell holds after an earlier session and a manual `export AWS_PROFILE=prod`.
EARLIER_SESSION = {
    "AWS_ACCESS_KEY_ID": "ASIAEARLIERSESSION01",
    "AWS_SECRET_ACCESS_KEY": "earlier/session+secret",
    "AWS_SESSION_TOKEN": "earlier-session-token",
    "AWS_SECURITY_TOKEN": "earlier-security-token",
    "AWS_PROFILE": "prod",
    "AWS_DEFAULT_PROFILE": "prod",
}


def fetch(args, environ, standin):
    result = run_mfaenv([*args, "--shell", "bash"], environ)
    assert result.returncode == 0, result.stderr
    assert len(standin.requests) == 1
    return result.stdout, standin.requests[0]


def test_an_earlier_session_in_the_shell_does_not_sign_the_call(standin_env, sts_standin):  # noqa: F811
    stdout, request = fetch(["stage", "123456"], {**standin_env, **EARLIER_SESSION}, sts_standin)
    assert request.signing_key_id == STAGE_KEY
    assert request.signed_with(STAGE_SECRET)
    # ...and the check can fail: neither the earlier session's secret nor another profile's signed it
    assert not request.signed_with(EARLIER_SESSION["AWS_SECRET_ACCESS_KEY"])
    assert not request.signed_with(PROD_SECRET)
    assert "X-Amz-Security-Token" not in request.headers, "an old session token went along"
    assert request.form["SerialNumber"] == SERIAL and request.form["TokenCode"] == "123456"
    assert "export MFAENV_PROFILE='stage'" in stdout


def test_lone_code_uses_aws_profile(standin_env, sts_standin):  # noqa: F811
    stdout, request = fetch(["123456"], {**standin_env, **EARLIER_SESSION}, sts_standin)
    assert request.signing_key_id == PROD_KEY and request.signed_with(PROD_SECRET)
    assert request.form["SerialNumber"] == "arn:aws:iam::222222222222:mfa/jane"
    assert "export MFAENV_PROFILE='prod'" in stdout
    assert "export AWS_REGION='eu-west-1'" in stdout


def test_source_and_serial_options_reach_sts(standin_env, sts_standin):  # noqa: F811
    serial = "arn:aws:iam::999999999999:mfa/ops"
    stdout, request = fetch(["get", "ops", "123456", "--source", "prod-default", "--serial", serial], standin_env, sts_standin)
    assert request.signed_with(PROD_SECRET)
    assert request.form["SerialNumber"] == serial
    assert "export MFAENV_ACCOUNT='999999999999'" in stdout


def test_profile_region_signs_the_call_and_is_exported(standin_env, sts_standin):  # noqa: F811
    stdout, request = fetch(["prod", "123456"], {**standin_env, "AWS_REGION": "us-west-2"}, sts_standin)
    assert request.signing_region == "eu-west-1"
    assert "export AWS_REGION='eu-west-1'" in stdout
    assert "export AWS_DEFAULT_REGION='eu-west-1'" in stdout


@pytest.mark.parametrize("environ, call_region", [
    ({"AWS_REGION": "eu-central-1", "AWS_DEFAULT_REGION": "us-west-1"}, "eu-central-1"),
    ({"AWS_DEFAULT_REGION": "us-west-1"}, "us-west-1"),
    ({}, "us-east-1"),
])
def test_region_for_the_call_only_is_not_exported(environ, call_region, standin_env, aws_home, sts_standin):  # noqa: F811
    # The default profile's region is not stage's, nor the call's (us-east-1 would hide that)
    (aws_home / ".aws" / "config").write_text("[default]\nregion = ca-central-1\n")
    stdout, request = fetch(["stage", "123456"], {**standin_env, **environ}, sts_standin)
    assert request.signing_region == call_region
    assert "AWS_REGION" not in stdout and "AWS_DEFAULT_REGION" not in stdout


def test_credentials_and_config_from_file_variables(standin_env, sts_standin, tmp_path):  # noqa: F811
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "credentials").write_text(keys("team-default", "AKIAELSEWHERE00001", "elsewhere/secret")
                                           + f"[team]\naws_arn_mfa = {SERIAL}\n")
    (elsewhere / "config").write_text("[profile team]\nregion = eu-west-2\n")
    environ = {**standin_env, "AWS_SHARED_CREDENTIALS_FILE": str(elsewhere / "credentials"),
               "AWS_CONFIG_FILE": str(elsewhere / "config")}
    stdout, request = fetch(["team", "123456"], environ, sts_standin)
    assert request.signing_key_id == "AKIAELSEWHERE00001" and request.signed_with("elsewhere/secret")
    assert request.signing_region == "eu-west-2"
    assert "export AWS_REGION='eu-west-2'" in stdout


def test_generic_endpoint_variable_is_honoured(standin_env, sts_standin):  # noqa: F811
    environ = dict(standin_env)
    environ["AWS_ENDPOINT_URL"] = environ.pop("AWS_ENDPOINT_URL_STS")
    fetch(["stage", "123456"], environ, sts_standin)


def test_sts_endpoint_variable_beats_the_generic_one(standin_env, sts_standin):  # noqa: F811
    environ = {**standin_env, "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}  # discard port: would fail
    fetch(["stage", "123456"], environ, sts_standin)
