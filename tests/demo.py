"""Try the whole mfaenv flow with no AWS account: `python tests/demo.py`.

Starts moto's STS emulator on 127.0.0.1, makes a throwaway HOME holding the
example credentials and config files, and runs a real bash session in it:
shell integration, a fetch, the prompt segment, status, list, --persist and
unset. Nothing outside the temporary folder is read or written.
"""

from __future__ import annotations

import difflib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from emulator import clean_environ, make_aws_home, moto_server  # noqa: E402

SESSION = r"""
if [ -t 1 ]; then bold='\033[1m' plain='\033[0m'; else bold='' plain=''; fi
step() { printf "\n${bold}\$ %s${plain}\n" "$*"; }
step 'eval "$(mfaenv init bash)"'
eval "$(mfaenv init bash)"
step 'mfaenv stage 123456          # the wrapper updates this shell'
mfaenv stage 123456
step 'mfaenv status'
mfaenv status
step 'echo "[$(mfaenv_prompt)] \$"  # the prompt segment, no process started'
echo "[$(mfaenv_prompt)] \$"
step 'env | grep -E "^(AWS|MFAENV)_" | sort   # secrets shortened here'
env | grep -E '^(AWS|MFAENV)_' | grep -v ENDPOINT | sort | cut -c1-70
step 'mfaenv list'
mfaenv list
step 'mfaenv prod 654321 --persist  # also write [prod] into ~/.aws/credentials'
mfaenv prod 654321 --persist
step 'mfaenv unset; mfaenv prod     # no code: the persisted session is reused'
mfaenv unset; mfaenv prod && echo "now: $(mfaenv_prompt)"
step 'mfaenv unset'
mfaenv unset
step 'mfaenv status                 # no session: exit 1'
mfaenv status; echo "exit status $?"
"""


def main() -> int:
    scratch = Path(tempfile.mkdtemp(prefix="mfaenv-demo-"))
    home = make_aws_home(scratch)
    aws = home / ".aws"
    before = (aws / "credentials").read_text()
    bin_dir = str(Path(sys.executable).parent)
    try:
        with moto_server() as endpoint:
            env = clean_environ(home)
            del env["MFAENV_SHELL"]  # the tests' fixed output syntax; the demo's shell is the wrapper's
            del env["MFAENV_QUIET"]  # the demo shows the success line a person sees
            env.update(AWS_ENDPOINT_URL_STS=endpoint, PATH=bin_dir + os.pathsep + env.get("PATH", ""))
            print(f"STS emulator: {endpoint}    throwaway HOME: {home}")
            status = subprocess.run(["bash", "--norc", "--noprofile", "-c", SESSION], env=env).returncode
        bold, plain = ("\033[1m", "\033[0m") if sys.stdout.isatty() else ("", "")
        print(f"\n{bold}~/.aws/credentials after --persist (only [prod] changed):{plain}")
        after = (aws / "credentials").read_text()
        sys.stdout.writelines(
            line[:100] + ("\n" if len(line) > 100 else "")
            for line in difflib.unified_diff(before.splitlines(True), after.splitlines(True), "before", "after")
        )
        return status
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
