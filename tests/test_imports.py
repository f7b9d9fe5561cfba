"""What each command imports, read from `python -X importtime` (SPEC "Speed").

Commands that make no AWS call never load boto3 or botocore; the hot commands
(cli.HOT_COMMANDS: `init` at every new shell, `profiles` at every Tab, `prompt`
at every render of a prompt that runs a command, `credential-process` served
without a fetch at every AWS CLI or SDK start) load neither typer, click nor
rich; the fetch loads only
botocore's signer and HTTP session, never a client or boto3. The module
names come from the stderr of a real subprocess, and each test also asserts
that modules it *expects* are in the list, so a parsing slip cannot make a
test pass on an empty list.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from typing import Dict, List, Sequence

import pytest
from pathlib import Path

from conftest import clean_environ, run_mfaenv

#: `import time:  self [us] |  cumulative | <indent>module`; the header line has no digits.
IMPORT_LINE = re.compile(r"^import time:\s+\d+ \|\s+\d+ \| *(\S+)\s*$")
AWS_SDK = ("boto3", "botocore")
CLI_FRAMEWORKS = ("typer", "click", "rich")
#: The OS credential store: only the keyring session cache and the rare commands open it.
KEYRING = ("keyring", "secretstorage", "jeepney", "jaraco")
#: Standard-library modules a cached `credential-process` (every AWS CLI or SDK start) does
#: without, each a millisecond or more of a start-up whose target is 2x `python -c pass`:
#: dataclasses loads inspect (and ast, dis, tokenize); pathlib loads urllib.parse and
#: ipaddress; subprocess is for a code command only; datetime reads expiry forms other than
#: the one mfaenv writes; re (with enum), which configparser and json load, is a third of
#: Python's own start-up.
HEAVY_STDLIB = (
    "typing", "dataclasses", "inspect", "ast", "pathlib", "urllib", "ipaddress", "subprocess", "datetime",
    "re", "enum", "configparser", "json",
)
#: What a botocore client would load: boto3, the client and session machinery,
#: the endpoint tables and the service model loader.
FULL_CLIENT = ("boto3", "botocore.client", "botocore.session", "botocore.endpoint", "botocore.regions", "botocore.loaders")


def imported_modules(args: Sequence[str], env: Dict[str, str]) -> tuple:
    """(modules in import order, completed process) of `python -X importtime -m mfaenv ARGS`."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "mfaenv", *args],
        env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
    )
    modules: List[str] = []
    for line in result.stderr.splitlines():
        match = IMPORT_LINE.match(line)
        if match:
            modules.append(match.group(1))
    assert modules, f"no `import time:` lines parsed from stderr:\n{result.stderr[:2000]}"
    assert "mfaenv.cli" in modules, "the parsed list lacks mfaenv.cli itself: the parser is wrong"
    return modules, result


def loaded(modules: Sequence[str], packages: Sequence[str]) -> List[str]:
    """Modules of the list that are one of the packages or inside one."""
    return [m for m in modules if any(m == p or m.startswith(p + ".") for p in packages)]


def stderr_without_importtime(result: subprocess.CompletedProcess) -> str:
    return "\n".join(line for line in result.stderr.splitlines() if not line.startswith("import time:"))


@pytest.fixture
def session_env(aws_home) -> Dict[str, str]:
    """A shell that holds a live session, so that prompt and status do their full work."""
    env = clean_environ(aws_home)
    env.update(
        AWS_ACCESS_KEY_ID="ASIAEXAMPLE000000001",
        AWS_SECRET_ACCESS_KEY="secret",
        AWS_SESSION_TOKEN="token",
        MFAENV_PROFILE="stage",
        MFAENV_ACCOUNT="111111111111",
        MFAENV_EXPIRES=str(int(time.time()) + 3600),
    )
    from mfaenv.profiles import ProfileStore
    from mfaenv.sessions import session_digest

    env["MFAENV_SESSION_DIGEST"] = session_digest(ProfileStore(env).chain("stage"), env)  # as the export recorded
    return env


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish", "powershell", "nu"])
def test_init_loads_no_cli_framework_and_no_aws_sdk(shell, session_env):
    modules, result = imported_modules(["init", shell], session_env)
    assert result.returncode == 0, stderr_without_importtime(result)
    assert result.stdout.strip(), "init printed no script"
    assert "mfaenv.shells.integration" in modules, "init did not take its fast path"
    assert loaded(modules, CLI_FRAMEWORKS) == []
    assert loaded(modules, KEYRING) == []
    assert loaded(modules, AWS_SDK) == []


def test_profile_completion_loads_no_cli_framework_and_no_aws_sdk(session_env):
    """`mfaenv profiles` runs at every Tab of completion."""
    modules, result = imported_modules(["profiles"], session_env)
    assert result.returncode == 0, stderr_without_importtime(result)
    assert "stage" in result.stdout.splitlines()
    assert "mfaenv.profiles" in modules
    assert loaded(modules, CLI_FRAMEWORKS) == []
    assert loaded(modules, KEYRING) == []
    assert loaded(modules, AWS_SDK) == []
    assert loaded(modules, ("re", "configparser")) == [], "plainly written files are read without configparser"


def test_profile_completion_with_a_misspelt_source_loads_no_difflib(session_env, aws_home):
    """An unresolvable profile's error is only surveyed at a Tab: its did-you-mean is never worked out."""
    with (aws_home / ".aws" / "config").open("a", encoding="utf-8") as config:
        config.write("\n[profile ops]\nsource_profile = stage-defualt\n")
    modules, result = imported_modules(["profiles"], session_env)
    assert "ops" in result.stdout.splitlines()
    assert loaded(modules, ("difflib", "re")) == []


def test_profile_completion_parses_no_persisted_session(session_env, aws_home):
    """A session persisted by aws-mfa (its expiry without an offset) is read only when reuse asks: not at a Tab."""
    credentials = aws_home / ".aws" / "credentials"
    text = credentials.read_text().replace("[stage]\n", "[stage]\nexpiration = 2999-01-01 09:41:27\n", 1)
    credentials.write_text(text.replace("<auto-generated>", "ASIAPERSISTED"))
    modules, result = imported_modules(["profiles"], session_env)
    assert result.returncode == 0, stderr_without_importtime(result)
    assert "stage" in result.stdout.splitlines()
    assert loaded(modules, ("datetime", "re")) == []


def test_prompt_loads_no_cli_framework_and_no_aws_sdk(session_env):
    """`mfaenv prompt` runs at every render of a prompt that can only run a command."""
    modules, result = imported_modules(["prompt"], session_env)
    assert result.returncode == 0, stderr_without_importtime(result)
    assert result.stdout.startswith("stage 111111111111 ")
    assert "mfaenv.shells.prompt" in modules
    assert loaded(modules, CLI_FRAMEWORKS) == []
    assert loaded(modules, KEYRING) == []
    assert loaded(modules, AWS_SDK) == []
    # Within 1.5x `python -c pass` leaves no room for these (~10 ms together).
    assert loaded(modules, ("typing", "dataclasses", "datetime", "re", "mfaenv.shells.variables")) == []


def test_no_module_of_mfaenv_imports_itself_in_a_circle():
    """The package's folders carry one line (cli -> commands -> sessions -> stores | aws ->
    profiles -> shells -> terminal): no module-level import closes a circle (prompt.py and
    variables.py once imported each other; the expiry reader is now shells/expiry.py)."""
    import ast

    package = Path(__file__).resolve().parent.parent / "mfaenv"
    graph = {}
    for path in package.rglob("*.py"):
        name = ".".join(("mfaenv",) + path.relative_to(package).with_suffix("").parts)
        targets = set()
        for node in ast.parse(path.read_text()).body:  # module level only: a lazy import cannot loop
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("mfaenv"):
                targets.update(f"{node.module}.{alias.name}" for alias in node.names)
                targets.add(node.module)
            elif isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names if alias.name.startswith("mfaenv"))
        graph[name.removesuffix(".__init__")] = targets
    graph = {name: {target for target in targets if target in graph and target != name} for name, targets in graph.items()}

    def circle_from(start, path):
        for target in graph[start]:
            if target == path[0]:
                return path + [target]
            if target not in path:
                found = circle_from(target, path + [target])
                if found:
                    return found
        return None

    assert "mfaenv.shells.expiry" in graph["mfaenv.shells.prompt"]
    for name in graph:
        assert circle_from(name, [name]) is None, " -> ".join(circle_from(name, [name]))


@pytest.mark.parametrize("served_from", ["cache", "shell"])
@pytest.mark.parametrize("form", [["stage"], ["--profile", "stage"], ["-p", "stage"], ["--profile=stage"]],
                         ids=["PROFILE", "--profile", "-p", "--profile="])
def test_credential_process_without_a_fetch_loads_no_cli_framework_and_no_aws_sdk(served_from, form, session_env, tmp_path):
    """It runs at every AWS CLI or SDK start; only a fetch may load botocore (and then only its signer)."""
    if served_from == "cache":
        from mfaenv.stores.cache import SessionCache
        from mfaenv.profiles import ProfileStore
        from mfaenv.sessions import mfa_key
        from mfaenv.shells.variables import Session, session_from_environment

        session = session_from_environment(session_env)  # moved from this shell into the cache
        session_env = {k: v for k, v in session_env.items() if not k.startswith(("AWS_", "MFAENV_"))}
        session_env["MFAENV_CACHE_DIR"] = str(tmp_path / "cache")
        base = ProfileStore(session_env).chain("stage").base
        SessionCache.open(session_env).put(mfa_key(base, session_env), session, "stage")
    modules, result = imported_modules(["credential-process", *form], session_env)
    assert result.returncode == 0, stderr_without_importtime(result)
    assert '"AccessKeyId": "ASIAEXAMPLE000000001"' in result.stdout, "the session was not handed out"
    assert "mfaenv.commands.tools" in modules
    assert {"mfaenv.profiles", "mfaenv.stores.cache"} <= set(modules), "the parsed list lacks what a cache hit needs"
    assert loaded(modules, CLI_FRAMEWORKS) == []
    assert loaded(modules, KEYRING) == []
    assert loaded(modules, AWS_SDK) == []
    # mfaenv's modules for rendering shell text, asking for a code, fetching and writing files.
    assert loaded(modules, HEAVY_STDLIB + ("mfaenv.shells.dialects", "mfaenv.terminal.codeinput", "mfaenv.aws.sts", "mfaenv.stores.persist")) == []


@pytest.mark.parametrize(
    "args, expected",
    [
        pytest.param(["unset"], "AWS_SESSION_TOKEN", id="unset"),
        pytest.param(["status"], "profile:  stage", id="status"),
        pytest.param(["--help"], "Usage", id="--help"),
        pytest.param(["--version"], "mfaenv ", id="--version"),
    ],
)
def test_local_commands_never_load_the_aws_sdk(args, expected, session_env):
    modules, result = imported_modules(args, session_env)
    assert result.returncode == 0, stderr_without_importtime(result)
    assert expected in result.stdout
    # These go through typer: its presence shows the list covers third-party packages.
    assert "typer" in modules
    assert loaded(modules, AWS_SDK) == []


def test_help_is_plain_click_not_rich(session_env):
    """typer's rich help loads rich and markdown-it: ~70 ms on every --help."""
    modules, result = imported_modules(["--help"], session_env)
    assert result.returncode == 0
    assert "typer" in modules
    assert loaded(modules, ("typer.rich_utils", "rich", "markdown_it")) == []


def test_fetch_loads_only_the_signer_and_http_session(env):
    modules, result = imported_modules(["stage", "123456"], env)
    assert result.returncode == 0, stderr_without_importtime(result)
    assert "export AWS_SESSION_TOKEN=" in result.stdout
    assert {"botocore.auth", "botocore.httpsession"} <= set(modules), "the fetch did not load botocore's signer"
    assert loaded(modules, FULL_CLIENT) == []


def test_the_session_cache_loads_no_cli_framework_and_no_aws_sdk(session_env):
    """A cached `credential-process` (every AWS CLI start) goes through mfaenv.stores.cache."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import mfaenv.stores.cache"],
        env=session_env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, stderr_without_importtime(result)
    modules = [match.group(1) for match in map(IMPORT_LINE.match, result.stderr.splitlines()) if match]
    assert {"mfaenv.stores.cache", "mfaenv.shells.variables"} <= set(modules), "the parsed list lacks what the cache imports"
    assert loaded(modules, CLI_FRAMEWORKS + AWS_SDK) == []
    assert loaded(modules, ("json", "re")) == [], "an entry is read and written without json"
    assert loaded(modules, ("_hashlib",)) == [], "OpenSSL loaded for one SHA-256"


@pytest.mark.parametrize("profile", ["stage", "admin"])
def test_a_cache_hit_in_a_new_terminal_loads_no_aws_sdk(profile, env, aws_home, tmp_path):
    """`mfaenv stage` or `mfaenv admin` with no code, served from the session cache: no botocore at all."""
    with open(aws_home / ".aws" / "config", "a") as config:
        config.write("\n[profile admin]\nrole_arn = arn:aws:iam::210987654321:role/admin\nsource_profile = stage\n")
    env["MFAENV_CACHE_DIR"] = str(tmp_path / "cache")
    fetched = run_mfaenv([profile, "123456"], env)
    assert fetched.returncode == 0, fetched.stderr

    modules, result = imported_modules([profile], env)
    assert result.returncode == 0, stderr_without_importtime(result)
    assert result.stdout == fetched.stdout, "the new terminal did not get the cached session"
    assert "mfaenv.stores.cache" in modules
    assert loaded(modules, AWS_SDK + ("_hashlib",)) == []


#: What only `mfaenv console` needs: its modules, the browser and the one-time local server.
CONSOLE_ONLY = ("mfaenv.aws.signin", "mfaenv.commands.console", "mfaenv.terminal.browser", "webbrowser", "http.server")


@pytest.mark.parametrize("args", [["init", "bash"], ["profiles"], ["prompt"], ["--help"], ["unset"]], ids=" ".join)
def test_the_console_is_loaded_only_by_the_console(args, session_env):
    modules, result = imported_modules(args, session_env)
    assert result.returncode == 0, stderr_without_importtime(result)
    assert loaded(modules, CONSOLE_ONLY) == []


def test_the_console_for_a_plain_profile_reads_botocores_data_but_builds_no_client(session_env):
    """A rare command may load botocore's data loader for the sign-in hosts; boto3 and a client stay out."""
    modules, result = imported_modules(["console", "stage", "--stdout"], session_env)
    assert result.returncode == 0, stderr_without_importtime(result)
    assert result.stdout == "https://111111111111.signin.aws.amazon.com/console\n"
    assert {"mfaenv.aws.signin", "botocore.endpoint_provider"} <= set(modules)
    assert loaded(modules, ("boto3", "botocore.client", "botocore.session", "mfaenv.aws.sts")) == []


def test_the_prompt_hook_when_a_renewal_is_due_but_not_possible_loads_no_cli_framework_and_no_aws_sdk(session_env):
    """`mfaenv renew SHELL` runs from the prompt hooks; with nothing cached it gives up without botocore."""
    environ = {**session_env, "MFAENV_EXPIRES": str(int(time.time()) + 60), "MFAENV_CACHE": "off"}
    modules, result = imported_modules(["renew", "bash"], environ)
    assert result.returncode == 0, stderr_without_importtime(result)
    assert result.stdout == ""
    assert "mfaenv.commands.get" in modules, "the renewal did not take its fast path"
    assert loaded(modules, CLI_FRAMEWORKS + AWS_SDK + KEYRING) == []


def test_a_cached_credential_process_for_a_known_profile_loads_no_difflib(session_env, tmp_path):
    """The did-you-mean of an unknown profile is worked out on that failure only: a hit pays nothing for it."""
    modules, result = imported_modules(["credential-process", "--profile", "stage"], session_env)
    assert result.returncode == 0, stderr_without_importtime(result)
    assert "difflib" not in modules
    modules, result = imported_modules(["credential-process", "stagee"], session_env)
    assert result.returncode == 3 and "did you mean 'stage'" in result.stderr
    assert "difflib" in modules
