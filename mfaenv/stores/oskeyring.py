"""The OS credential store (macOS Keychain, Windows Credential Manager, the Secret Service on Linux).

The one module that talks to the ``keyring`` library: the session cache's
keyring backend and `mfaenv keys` both go through it. It offers four calls,
by service and name: ``get``, ``put``, ``delete`` and ``backend_name``, and
``read_entry``/``write_entry`` for values that carry a header line saying
what wrote them (so an item another program left under the same service and
name is reported, never taken for ours).

The backend is chosen here, in ``backend()``, once per run:
``PYTHON_KEYRING_BACKEND`` when the user set it (as keyring itself honours
it); otherwise the platform's own store, by its module: macOS ``Keychain``,
Windows ``WinVaultKeyring``, elsewhere the ``SecretService``. Naming the module
skips keyring's discovery (``keyring.get_keyring()``), which reads every
installed package's entry points and asks each backend for its priority:
measured with ``python -X importtime`` and a stopwatch, that scan is most of
the cost of a first ``keyring`` call. ``import keyring`` itself (~0.1 s: its
jaraco helpers load urllib and email) cannot be avoided and is paid only by
the runs that open the store, never by a hot command served from a folder.

Every failure becomes one of errors.py's CredentialStoreError classes, one line
that names the store and the fix: no store at all (the package is missing, or
headless Linux without a Secret Service), a store that stays locked (the user
refused to unlock it), or an item that is not mfaenv's.
"""

from __future__ import annotations

import os
import sys

from mfaenv.errors import (
    CredentialStoreEntryError,
    CredentialStoreError,
    CredentialStoreLockedError,
    NoCredentialStoreError,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional

#: What `mfaenv` shows as the store when the backend has no better name.
_PLATFORM_STORES = {
    "darwin": ("keyring.backends.macOS", "Keyring", "macOS Keychain"),
    "win32": ("keyring.backends.Windows", "WinVaultKeyring", "Windows Credential Manager"),
}
_DEFAULT_STORE = ("keyring.backends.SecretService", "Keyring", "Secret Service")

_chosen: Optional[Any] = None
_chosen_name = ""


def backend() -> Any:
    """The keyring backend of this run, chosen once; NoCredentialStoreError when there is none."""
    global _chosen, _chosen_name
    if _chosen is None:
        _chosen, _chosen_name = _choose()
    return _chosen


def backend_name() -> str:
    """The store in words (``Secret Service``, ``macOS Keychain``, a backend's own name)."""
    if _chosen is None:
        try:
            backend()
        except CredentialStoreError:
            return _planned_name()
    return _chosen_name


def _planned_name() -> str:
    configured = os.environ.get("PYTHON_KEYRING_BACKEND")
    if configured:
        return configured
    return _PLATFORM_STORES.get(sys.platform, _DEFAULT_STORE)[2]


def _choose() -> tuple:
    try:
        import keyring.core
        import keyring.errors  # noqa: F401  (used by _mapped)
    except ImportError:
        extra = "pip install 'mfaenv[keyring]'" if sys.platform not in _PLATFORM_STORES else "reinstall mfaenv"
        raise NoCredentialStoreError(
            f"no OS credential store: the Python package 'keyring' is not installed ({extra})"
        ) from None
    configured = os.environ.get("PYTHON_KEYRING_BACKEND")
    if configured:
        try:
            chosen = keyring.core.load_keyring(configured)
        except Exception as error:
            raise NoCredentialStoreError(
                f"PYTHON_KEYRING_BACKEND={configured} cannot be loaded ({_reason(error)}); unset it or name "
                f"an installed backend"
            ) from None
        return chosen, _display_name(chosen)
    module_name, class_name, display = _PLATFORM_STORES.get(sys.platform, _DEFAULT_STORE)
    try:
        module = __import__(module_name, fromlist=[class_name])
        return getattr(module, class_name)(), display
    except Exception as error:
        raise NoCredentialStoreError(f"no OS credential store: the {display} backend cannot load ({_reason(error)})") from None


def _display_name(chosen: Any) -> str:
    try:
        return str(chosen.name)
    except Exception:
        return type(chosen).__name__


def _reason(error: BaseException) -> str:
    """One line about an exception, without a traceback."""
    text = " ".join(str(error).split())
    return text[:200] if text else type(error).__name__


def _mapped(error: Exception, doing: str) -> CredentialStoreError:
    """The CredentialStoreError for an exception the backend raised while ``doing`` something."""
    import keyring.errors

    store = backend_name()
    if isinstance(error, keyring.errors.KeyringLocked):
        return CredentialStoreLockedError(
            f"the {store} is locked and was not unlocked, so mfaenv could not {doing}; unlock it "
            f"(log in to the desktop session, or answer its unlock prompt) and try again"
        )
    if isinstance(error, (keyring.errors.NoKeyringError, keyring.errors.InitError)) or _unreachable(error):
        return NoCredentialStoreError(
            f"no OS credential store: the {store} cannot be reached ({_reason(error)}); on Linux it needs a "
            f"desktop session or gnome-keyring-daemon with DBUS_SESSION_BUS_ADDRESS set"
        )
    return CredentialStoreError(f"the {store} failed to {doing} ({_reason(error)})")


def _unreachable(error: Exception) -> bool:
    """The Secret Service's "there is no service" (secretstorage's, jeepney's, a bus that is not there)."""
    names = {cls.__name__ for cls in type(error).__mro__}
    return bool(names & {"SecretServiceNotAvailableException", "DBusErrorResponse", "ConnectionError",
                         "FileNotFoundError", "KeyError"}) and "locked" not in str(error).lower()


def get(service: str, name: str) -> Optional[str]:
    """The value stored under service and name, or None."""
    store = backend()
    try:
        return store.get_password(service, name)
    except UnicodeDecodeError:
        raise CredentialStoreEntryError(
            f"the {backend_name()} item '{service}' / '{name}' is not text; it was not written by mfaenv"
        ) from None
    except Exception as error:
        raise _mapped(error, f"read '{service}' / '{name}'") from None


def put(service: str, name: str, value: str) -> None:
    """Store value under service and name, replacing what was there."""
    store = backend()
    try:
        store.set_password(service, name, value)
    except Exception as error:
        raise _mapped(error, f"store '{service}' / '{name}'") from None


def delete(service: str, name: str) -> bool:
    """Remove the item; False when there was none."""
    import keyring.errors

    store = backend()
    try:
        store.delete_password(service, name)
        return True
    except keyring.errors.PasswordDeleteError:
        return False
    except Exception as error:
        raise _mapped(error, f"remove '{service}' / '{name}'") from None


def read_entry(service: str, name: str, header: str) -> Optional[str]:
    """The text after the header line of the item, None when there is no item.

    CredentialStoreEntryError when the item is there but does not start with the
    header: another program's item, or one mfaenv did not write in this form.
    """
    value = get(service, name)
    if value is None:
        return None
    first, newline, rest = value.partition("\n")
    if first != header or not newline:
        raise CredentialStoreEntryError(
            f"the {backend_name()} item '{service}' / '{name}' is not one mfaenv wrote (or is damaged); "
            f"it was left as it is: remove it with the store's own tool if it is not needed"
        )
    return rest


def write_entry(service: str, name: str, header: str, body: str) -> None:
    """Store body under service and name behind the header line that read_entry checks."""
    put(service, name, f"{header}\n{body}")
