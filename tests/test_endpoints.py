"""Partitions and STS hosts, held to botocore's own resolver (mfaenv/aws/endpoints.py).

botocore is the reference: for each region and each FIPS / dual-stack setting, the
host mfaenv picks is the one a botocore STS client picks, and where botocore's rules
refuse the setting, mfaenv refuses it too. The session cache's key takes its
partition from the same function, and a cache hit reads the data without json or re.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from mfaenv.aws import endpoints
from mfaenv.profiles import is_region_name

BOTOCORE_DATA = Path(endpoints.data_file()).parent


@functools.lru_cache(maxsize=None)
def botocore_session():
    import botocore.session

    return botocore.session.get_session()


@functools.lru_cache(maxsize=None)
def botocore_library():
    from botocore.endpoint_provider import RuleSetStandardLibary

    return RuleSetStandardLibary(json.loads((BOTOCORE_DATA / "partitions.json").read_text()))


def botocore_sts_url(region: str, fips: bool, dualstack: bool, session=None) -> str:
    """The URL botocore's endpoint rules give GetSessionToken, or "refused: ..."."""
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError

    try:
        client = (session or botocore_session()).create_client(
            "sts", region_name=region, aws_access_key_id="AKIAEXAMPLE", aws_secret_access_key="secret",
            config=Config(use_fips_endpoint=fips, use_dualstack_endpoint=dualstack),
        )
        operation = client.meta.service_model.operation_model("GetSessionToken")
        return client._ruleset_resolver.construct_endpoint(operation, None, {}).url
    except BotoCoreError as error:
        return f"refused: {error}"


def mfaenv_sts_url(region: str, fips: bool, dualstack: bool) -> str:
    try:
        return endpoints.sts_url(region, fips, dualstack)
    except endpoints.EndpointError as error:
        return f"refused: {error}"


def botocore_partition(region: str) -> str:
    return botocore_library().aws_partition(region)["name"]


EVERY_LISTED_REGION = sorted(region for p in endpoints.partitions() for region in p.regions)
VARIANTS = [(False, False), (True, False), (False, True), (True, True)]
#: Dual-stack in two air-gapped partitions: botocore's STS rules give a host, but its client
#: refuses to be built because its legacy endpoint table (endpoints.json, 1.2 MB) models no
#: dual-stack endpoint there. mfaenv follows the rules (docs/network.md says so); this list
#: holds the difference to what it is, so that a botocore release that changes it is noticed.
LEGACY_TABLE_REFUSES = {(region, fips, True) for region in ("eu-isoe-west-1", "us-isof-east-1", "us-isof-south-1")
                        for fips in (False, True)}


def test_the_data_holds_every_partition_botocore_knows_including_eusc():
    ids = [p.id for p in endpoints.partitions()]
    assert ids[0] == "aws" and {"aws-cn", "aws-us-gov", "aws-eusc"} <= set(ids)
    eusc = endpoints.partition("eusc-de-east-1")
    assert (eusc.id, eusc.dns_suffix, eusc.dual_stack_dns_suffix) == ("aws-eusc", "amazonaws.eu", "api.amazonwebservices.eu")
    assert eusc.supports_fips and eusc.supports_dual_stack


@pytest.mark.parametrize("region", EVERY_LISTED_REGION + ["xx-unknown-7", "us-gov-1", "eusc-de-south-4", "cn-west-9"])
def test_every_host_is_the_one_botocore_picks(region):
    for fips, dualstack in VARIANTS:
        ours, botocores = mfaenv_sts_url(region, fips, dualstack), botocore_sts_url(region, fips, dualstack)
        if (region, fips, dualstack) in LEGACY_TABLE_REFUSES:
            assert botocores.startswith("refused: Unable to construct a modeled endpoint") and ours.startswith("https://")
        else:
            assert ours == botocores, (fips, dualstack)
    assert endpoints.partition(region).name == botocore_partition(region)


@settings(max_examples=300, deadline=None)
@given(st.from_regex(r"[a-z0-9-]{1,20}", fullmatch=True).filter(is_region_name)
       | st.builds("-".join, st.lists(st.sampled_from(["us", "eu", "cn", "gov", "iso", "isob", "isoe", "eusc", "de",
                                                       "east", "west", "1", "2", "x"]), min_size=1, max_size=5)))
def test_any_region_name_is_classified_as_botocore_classifies_it(region):
    assert endpoints.partition(region).name == botocore_partition(region)


def test_a_setting_botocore_refuses_is_refused_by_name(tmp_path, monkeypatch):
    """A partition without FIPS or dual-stack (none ships so today: the data is the test's own, as AWS_DATA_PATH allows)."""
    data = json.loads((BOTOCORE_DATA / "partitions.json").read_text())
    for item in data["partitions"]:
        if item["id"] == "aws-eusc":
            item["outputs"].update(supportsFIPS=False, supportsDualStack=False)
    (tmp_path / "partitions.json").write_text(json.dumps(data))
    monkeypatch.setenv("AWS_DATA_PATH", str(tmp_path))
    monkeypatch.setattr(endpoints, "_partitions", [])
    import botocore.session

    session = botocore.session.get_session()  # a new one: it reads AWS_DATA_PATH
    for fips, dualstack in VARIANTS[1:]:
        ours = mfaenv_sts_url("eusc-de-east-1", fips, dualstack)
        botocores = botocore_sts_url("eusc-de-east-1", fips, dualstack, session)
        assert ours.startswith("refused: partition aws-eusc offers no"), ours
        assert botocores.startswith("refused: "), botocores
    assert mfaenv_sts_url("eusc-de-east-1", False, False) == "https://sts.eusc-de-east-1.amazonaws.eu"


def test_the_cache_key_takes_its_partition_from_the_same_data(aws_home):
    from mfaenv.sessions import sts_endpoint

    environ = {"HOME": str(aws_home)}
    for region in EVERY_LISTED_REGION + ["eusc-de-west-3", "cn-south-5"]:
        assert sts_endpoint(region, environ) == endpoints.partition(region).id == botocore_partition(region)
    # Two regions of one partition share sessions; two partitions do not.
    assert sts_endpoint("eu-west-1", environ) == sts_endpoint("us-east-1", environ)
    assert sts_endpoint("eusc-de-east-1", environ) != sts_endpoint("eu-central-1", environ)


def imports_of(code: str) -> list:
    result = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True,
                            timeout=60, env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)})
    assert result.returncode == 0, result.stderr[-2000:]
    return [line.split("|")[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")]


def test_a_region_of_the_first_partition_loads_neither_json_nor_re_nor_botocore():
    modules = imports_of("from mfaenv.aws.endpoints import partition; assert partition('eu-west-1').id == 'aws'")
    assert "mfaenv.aws.endpoints" in modules and "_json" in modules, "the parsed list is wrong"
    assert [m for m in modules if m.split(".")[0] in ("json", "re", "botocore", "typing")] == []


def test_other_partitions_load_re_but_no_botocore():
    modules = imports_of("from mfaenv.aws.endpoints import partition; assert partition('eusc-de-east-1').id == 'aws-eusc'")
    assert "re" in modules
    assert [m for m in modules if m.split(".")[0] in ("json", "botocore")] == []
