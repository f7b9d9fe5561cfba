"""Try the whole mfaenv flow with no AWS account: `python tests/demo.py`.

Starts moto's STS emulator on 127.0.0.1, makes a throwaway HOME holding the
example credentials and config files, and runs a real bash session in it:
shell integration, a fetch, the prompt segment, status, list, a role assumed
through the MFA session, a new terminal served from the session cache, exec and
credential_process with the AWS CLI, forget, --persist and unset. Nothing outside the temporary folder is read or written.
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
env | grep -E '^(AWS|MFAENV)_' | grep -v ENDPOINT | sort | sed -E 's/^(AWS_SECRET_ACCESS_KEY|AWS_SESSION_TOKEN)=(....).*/\1=\2.../'
step 'mfaenv list'
mfaenv list
step 'mfaenv admin 123456          # a role in another account, assumed through the MFA session'
mfaenv admin 123456 && echo "now: $(mfaenv_prompt)"
step 'bash -c '\''eval "$(mfaenv readonly)"; mfaenv_prompt'\''   # a new terminal: no code (the MFA session is cached in RAM)'
env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN -u MFAENV_PROFILE \
    bash --norc --noprofile -c 'eval "$(mfaenv init bash)"; mfaenv readonly && echo "new terminal: $(mfaenv_prompt)"'
if command -v aws >/dev/null; then
    step 'mfaenv exec admin -- aws sts get-caller-identity --query Arn   # any program, no shell needed'
    mfaenv exec admin -- aws sts get-caller-identity --query Arn --output text
    step 'aws sts get-caller-identity --profile cp --query Arn   # [profile cp] credential_process = mfaenv credential-process readonly'
    aws sts get-caller-identity --profile cp --query Arn --output text
fi
step 'mfaenv forget                 # drop the cached sessions'
mfaenv forget
step 'mfaenv prod 654321 --persist  # also write [prod] into ~/.aws/credentials'
mfaenv prod 654321 --persist
step 'mfaenv unset; mfaenv prod     # no code: the session is reused (cache first, then the file)'
mfaenv unset; mfaenv prod && echo "now: $(mfaenv_prompt)"
step 'mfaenv unset'
mfaenv unset
step 'mfaenv status                 # no session: exit 1'
mfaenv status; echo "exit status $?"
"""

#: Two roles in another account on stage's keys and MFA device, and a profile for tools that read profiles.
ROLE_PROFILES = """
[profile admin]
role_arn = arn:aws:iam::210987654321:role/admin
source_profile = stage-default
mfa_serial = arn:aws:iam::111111111111:mfa/jane

[profile readonly]
role_arn = arn:aws:iam::210987654321:role/readonly
source_profile = stage-default
mfa_serial = arn:aws:iam::111111111111:mfa/jane

[profile cp]
credential_process = mfaenv credential-process readonly
region = us-east-1
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
            del env["MFAENV_TEST_SHM_NAME"]  # the tests' own switch; the demo has a runtime folder (below)
            env.update(AWS_ENDPOINT_URL_STS=endpoint, PATH=bin_dir + os.pathsep + env.get("PATH", ""))
            # The session cache as on Linux, where it is $XDG_RUNTIME_DIR/mfaenv: RAM, 0700, the user's.
            runtime = scratch / "run"
            runtime.mkdir(mode=0o700)
            env["XDG_RUNTIME_DIR"] = str(runtime)
            with open(aws / "config", "a") as config:
                config.write(ROLE_PROFILES)
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
