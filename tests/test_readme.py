"""The README's Quick start, run as written, and the documentation's links.

The Quick start's blocks are read from README.md itself: the rc-file lines, each
credentials layout, the first command, the line it prints and the prompt it
leads to. A change to the README that stops working, or a change to mfaenv
that the README does not follow, fails here.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

from conftest import require_shell

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
BIN = Path(sys.executable).parent
#: Pages other work adds; the README links them already.
ANNOUNCED = {"rotate.md", "keys.md", "console.md", "doctor-and-setup.md", "network.md"}


def section(text: str, title: str) -> str:
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else len(text)]


def blocks(text: str) -> List[Tuple[str, str]]:
    """(info string, body) of each fenced block."""
    return [(m.group(1), m.group(2)) for m in re.finditer(r"^```(\w*)\n(.*?)^```$", text, re.M | re.S)]


def indented(text: str, after: str) -> str:
    """The first indented (code) line after the paragraph that starts with `after`."""
    rest = text[text.index(after):]
    return next(line[4:] for line in rest.splitlines() if line.startswith("    "))


def files_of(block: str) -> Dict[str, str]:
    """`# ~/.aws/NAME` lines open a file; what follows is its text."""
    files: Dict[str, str] = {}
    name = None
    for line in block.splitlines(keepends=True):
        match = re.match(r"# ~/(\.aws/\w+)$", line.strip())
        if match:
            name = match.group(1)
            files[name] = ""
        if name is None:
            raise AssertionError(f"an ini block of the Quick start names no file: {block!r}")
        files[name] += line
    return files


QUICK = section(README.read_text(encoding="utf-8"), "Quick start")
LAYOUTS = [body for info, body in blocks(QUICK) if info == "ini"]


def test_the_quick_start_has_what_the_issue_asks_for():
    infos = [info for info, _ in blocks(QUICK)]
    assert infos.count("ini") == 2  # the seed and the standard layout
    assert any(body.startswith("pipx install .") for info, body in blocks(QUICK) if info == "sh")
    assert any("aws_arn_mfa" in body for body in LAYOUTS) and any("mfa_serial" in body for body in LAYOUTS)


@pytest.mark.parametrize("layout", LAYOUTS, ids=["seed", "standard"])
def test_the_quick_start_works_as_written(layout, aws_home, standin_env, sts_standin):
    rc = next(body for info, body in blocks(QUICK) if info == "sh" and body.startswith("# ~/.bashrc"))
    first = next(body for info, body in blocks(QUICK) if info == "sh" and body.startswith("mfaenv "))
    for name in ("credentials", "config"):
        (aws_home / ".aws" / name).unlink()
    for name, text in files_of(layout).items():
        (aws_home / name).write_text(text, encoding="utf-8")
    (aws_home / ".bashrc").write_text(rc, encoding="utf-8")
    cache = aws_home / "cache"  # a user's machine has a RAM folder for the session cache; the tests choose one
    cache.mkdir(mode=0o700)
    environ = {**standin_env, "PATH": f"{BIN}:/usr/bin:/bin", "MFAENV_CACHE_DIR": str(cache)}
    environ.pop("MFAENV_QUIET")
    script = f"PS1='$ '\n. ~/.bashrc\n{first}printf 'prompt=%s\\n' \"${{PS1@P}}\"\n"
    result = subprocess.run([require_shell("bash"), "--norc", "--noprofile", "-c", script], env=environ,
                            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
                            start_new_session=True, cwd=aws_home)
    assert result.returncode == 0, result.stderr
    assert [call.signing_key_id for call in sts_standin.calls("GetSessionToken")] == ["AKIAIOSFODNN7EXAMPLE"]
    said = indented(QUICK, "It says what it did")
    # A fresh 12-hour session: a second may pass between the fetch and the prompt.
    # The end in local time; a session that ends tomorrow also names the day (`Thu 03 Dec 00:11 UTC`).
    pattern = re.escape(said).replace(re.escape("22:41 CET"), r"(\w{3} \d\d \w{3} )?\d\d:\d\d \S+").replace(
        "12h00m", "(12h00m|11h59m)")
    assert re.fullmatch(pattern, result.stderr.strip()), (said, result.stderr)
    prompt = indented(QUICK, "**5. The prompt**")
    assert result.stdout in (f"prompt={prompt} \n", f"prompt={prompt.replace('12h00m', '11h59m')} \n")


def test_the_readme_is_read_in_five_minutes():
    words = len(README.read_text(encoding="utf-8").split())
    assert words < 2500, f"README.md has {words} words"


def test_the_readmes_test_command_is_the_one_ci_runs():
    command = (ROOT / ".ci" / "run").read_text(encoding="utf-8").rstrip("\n").splitlines()[-1]
    assert f"\n    {command}\n" in README.read_text(encoding="utf-8")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set:
    text = re.sub(r"^```.*?^```$", "", path.read_text(encoding="utf-8"), flags=re.M | re.S)
    return {slug(m.group(1)) for m in re.finditer(r"^#+ (.*)$", text, re.M)}


PAGES = [README, *sorted(DOCS.glob("*.md"))]


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_every_relative_link_leads_somewhere(page):
    text = re.sub(r"^```.*?^```$", "", page.read_text(encoding="utf-8"), flags=re.M | re.S)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"\w+://", target):
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists() and linked.name in ANNOUNCED and linked.parent == DOCS:
            continue
        assert linked.exists(), f"{page.name}: {target}"
        if anchor:
            assert anchor in anchors(linked), f"{page.name}: {target}"


def test_every_docs_page_is_reachable_from_the_readme():
    linked = set(re.findall(r"\]\(docs/([\w-]+\.md)", README.read_text(encoding="utf-8")))
    assert {p.name for p in DOCS.glob("*.md")} <= linked
