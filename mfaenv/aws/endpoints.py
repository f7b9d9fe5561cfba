"""AWS partitions and the STS endpoint of a region, from botocore's own partition data.

botocore resolves an endpoint from ``botocore/data/partitions.json`` (which region
belongs to which partition, each partition's DNS suffixes and whether it offers FIPS
and dual-stack endpoints) and the STS endpoint rules. This module reads that one
small file, never botocore's client machinery, so that a new partition (such as the
European Sovereign Cloud, ``aws-eusc``) comes with a botocore upgrade, not with an
edit here.

The session cache's key holds the partition of the STS call (sessions.py), and a
cache hit must stay cheap: it imports no botocore, no ``json`` and no ``re``. The
file is parsed with the standard library's C JSON scanner (``_json``, which
``json`` wraps; ``json`` itself would load ``re``), and the region is classified as
botocore does it: partition by partition, in the file's order, a region listed in
the partition or matching its ``regionRegex``; no match is the first partition.
A region listed in the first partition needs no regular expression (nothing comes
before it); any other loads ``re``. Both the cache key and the STS host come from
``partition()``: one rule, one source.
"""

from __future__ import annotations

import os
import sys

#: Where botocore keeps the partition data, inside its package folder.
DATA_PATH = ("botocore", "data", "partitions.json")
#: botocore's settings for endpoint variants: (environment variable, config file key).
FIPS_SETTING = ("AWS_USE_FIPS_ENDPOINT", "use_fips_endpoint")
DUALSTACK_SETTING = ("AWS_USE_DUALSTACK_ENDPOINT", "use_dualstack_endpoint")


class EndpointError(ValueError):
    """A setting botocore's endpoint rules refuse (FIPS in a partition without it, ...)."""


class Partition:
    """One partition of partitions.json, with the outputs botocore's rules read."""

    __slots__ = ("id", "name", "dns_suffix", "dual_stack_dns_suffix", "supports_fips", "supports_dual_stack",
                 "implicit_global_region", "region_regex", "regions")

    def __init__(self, data: dict):
        outputs = data.get("outputs", {})
        self.id = data["id"]
        self.name = outputs.get("name", self.id)
        self.dns_suffix = outputs["dnsSuffix"]
        self.dual_stack_dns_suffix = outputs["dualStackDnsSuffix"]
        self.supports_fips = bool(outputs.get("supportsFIPS"))
        self.supports_dual_stack = bool(outputs.get("supportsDualStack"))
        self.implicit_global_region = outputs.get("implicitGlobalRegion")
        self.region_regex = data.get("regionRegex", "")
        self.regions = frozenset(data.get("regions", ()))

    def __repr__(self) -> str:
        return f"Partition({self.id!r}, dns_suffix={self.dns_suffix!r})"


_partitions: list = []  # loaded once per process


def data_file() -> str:
    """partitions.json where botocore's loader finds it: AWS_DATA_PATH, ~/.aws/models, then botocore's own data.

    botocore's package folder is found as ``import botocore`` would find it, without importing it.
    """
    folders = []
    for entry in os.environ.get("AWS_DATA_PATH", "").split(os.pathsep):
        if entry:
            folders.append(os.path.expanduser(os.path.expandvars(entry) if "$" in entry else entry))
    folders.append(os.path.join(os.path.expanduser("~"), ".aws", "models"))
    for entry in sys.path:
        package = os.path.join(entry or os.getcwd(), DATA_PATH[0])
        if os.path.isfile(os.path.join(package, "__init__.py")):
            folders.append(os.path.join(package, DATA_PATH[1]))
            break
    for folder in folders:
        path = os.path.join(folder, DATA_PATH[2])
        if os.path.isfile(path):
            return path
    raise EndpointError("botocore's partition data (botocore/data/partitions.json) is missing; reinstall mfaenv")


def partitions() -> list:
    """Every partition, in the file's order (the order botocore tries them in)."""
    if not _partitions:
        with open(data_file(), "rb") as file:
            data = _parse_json(file.read().decode("utf-8"))
        _partitions.extend(Partition(item) for item in data["partitions"])
    return _partitions


def partition(region: str) -> Partition:
    """The partition of a region, as botocore's ``aws.partition`` rule function decides it."""
    every = partitions()
    if region in every[0].regions:
        return every[0]
    import re  # only for a region outside the first partition's list

    for candidate in every:
        if region in candidate.regions or re.match(candidate.region_regex, region):
            return candidate
    return every[0]


def enabled(environ, setting) -> bool:
    """A variant setting as botocore reads its variable: only "true" (any case) is true (``ensure_boolean``)."""
    return environ.get(setting[0], "").strip().lower() == "true"


def with_profile_settings(environ, names, lookup):
    """``environ`` with the profiles' use_fips_endpoint / use_dualstack_endpoint as botocore's variables.

    As in botocore, the variable wins when set (even empty); else the first of the
    profiles ``names`` (the target, then the profiles beneath it, as a region is
    found) that sets the key. ``lookup(name, key)`` is a profile's value, or None.
    The result goes to the STS calls only, never to a child process.
    """
    found = {}
    for variable, key in (FIPS_SETTING, DUALSTACK_SETTING):
        if variable not in environ:
            for name in names:
                value = lookup(name, key) if name else None
                if value is not None:
                    found[variable] = value
                    break
    return {**environ, **found} if found else environ


def sts_url(region: str, fips: bool = False, dualstack: bool = False) -> str:
    """The STS endpoint botocore's rules pick for a region (regional endpoints, no configured URL)."""
    found = partition(region)
    if fips and dualstack:
        if not (found.supports_fips and found.supports_dual_stack):
            raise EndpointError(f"partition {found.id} offers no endpoint that is both FIPS and dual-stack")
        return f"https://sts-fips.{region}.{found.dual_stack_dns_suffix}"
    if fips:
        if not found.supports_fips:
            raise EndpointError(f"partition {found.id} offers no FIPS endpoint")
        if found.name == "aws-us-gov":  # its regional endpoints are FIPS endpoints already
            return f"https://sts.{region}.amazonaws.com"
        return f"https://sts-fips.{region}.{found.dns_suffix}"
    if dualstack:
        if not found.supports_dual_stack:
            raise EndpointError(f"partition {found.id} offers no dual-stack endpoint")
        return f"https://sts.{region}.{found.dual_stack_dns_suffix}"
    if region == "aws-global":
        return "https://sts.amazonaws.com"
    return f"https://sts.{region}.{found.dns_suffix}"


class _Scanner:
    """What the C scanner of ``_json`` reads from ``json.JSONDecoder``: plain types, strict strings."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = float


def _parse_json(text: str):
    try:
        from _json import make_scanner  # CPython's JSON scanner: what json.loads runs, without loading re
    except ImportError:  # another Python: json itself
        import json

        return json.loads(text)
    value, end = make_scanner(_Scanner())(text, 0)
    if text[end:].strip():
        raise EndpointError("botocore's partition data is not one JSON document; reinstall mfaenv")
    return value
