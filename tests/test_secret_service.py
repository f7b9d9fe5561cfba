"""The tests' Secret Service is real: what one process stores, another reads back through the bus."""

import subprocess
import sys


def test_the_tests_secret_service_keeps_what_another_process_stores(secret_service):
    import os

    environ = {**os.environ, **secret_service}
    store = ("import keyring.backends.SecretService as s; k = s.Keyring(); "
             "k.set_password('mfaenv-selftest', 'probe', 'kept across processes')")
    read = ("import keyring.backends.SecretService as s; k = s.Keyring(); "
            "print(k.get_password('mfaenv-selftest', 'probe')); k.delete_password('mfaenv-selftest', 'probe')")
    subprocess.run([sys.executable, "-c", store], env=environ, check=True, timeout=60)
    result = subprocess.run([sys.executable, "-c", read], env=environ, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "kept across processes\n"
