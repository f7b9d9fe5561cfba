"""One exception type per cause of failure, each with its exit status.

Errors are raised deep and turned into one stderr line in ``cli.py``.
Messages never contain a secret: they name profiles, files and fixes.
"""

from __future__ import annotations


class MfaenvError(Exception):
    """Base of every failure mfaenv reports to the user."""

    exit_code = 1


class NoSessionError(MfaenvError):
    """`status`: this shell holds no session, or it expired."""

    exit_code = 1


class UsageError(MfaenvError):
    """Bad arguments: a malformed code, a duration out of range, an unknown shell."""

    exit_code = 2


class TerminalOutputError(UsageError):
    """`get` with stdout on the terminal: the keys would only be shown there; refused before any STS call."""


class ProfileError(MfaenvError):
    """The profile cannot be used: unknown, no long-term keys, no MFA device, not an MFA profile."""

    exit_code = 3

    def __init__(self, message: str, reason: str = ""):
        super().__init__(message)
        #: What is wrong, in a few words, as `mfaenv list` shows it beside the profile.
        self.reason = reason or message


class UnknownProfileError(ProfileError):
    """A profile named on the command line (or as a source) is in neither file.

    The message ends with the closest known names (``; did you mean 'stage'?``), else
    with ``otherwise``; worked out only when the message is shown, so that `mfaenv
    profiles`, which only reads ``reason``, never loads difflib (and re) at a Tab.
    """

    def __init__(self, message: str, reason: str = "", missing: str = "", known: "tuple[str, ...]" = (),
                 otherwise: str = ""):
        super().__init__(message, reason)
        #: The name that was not found, and the profile names that are.
        self.missing = missing
        self.known = known
        self.otherwise = otherwise

    def __str__(self) -> str:
        hint = did_you_mean(self.missing, self.known) if self.missing and self.known else ""
        return super().__str__() + (hint or self.otherwise)


def did_you_mean(word: str, candidates: "list[str] | tuple[str, ...]") -> str:
    """``; did you mean 'list'?`` for the candidates closest to a mistyped word, else ''."""
    import difflib  # only on the way to an error

    close = difflib.get_close_matches(word, list(dict.fromkeys(candidates)), n=3, cutoff=0.6)
    if not close:
        return ""
    quoted = [f"'{name}'" for name in close]
    listed = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]
    return f"; did you mean {listed}?"


class FileFormatError(MfaenvError):
    """A credentials or config file cannot be parsed; it is never written."""

    exit_code = 3


class PersistError(MfaenvError):
    """--persist refused or failed; the credentials file is unchanged."""

    exit_code = 3


class StsRejectedError(MfaenvError):
    """STS said no: wrong MFA code, invalid or inactive keys, access denied."""

    exit_code = 4
    #: STS's error code, where the caller must tell refusals apart (``InvalidClientTokenId``); else "".
    aws_code = ""


class StsUnavailableError(MfaenvError):
    """STS could not be reached in time, or kept throttling."""

    exit_code = 5


class IamRejectedError(MfaenvError):
    """IAM said no (access denied, no such user or key, a limit); the exit status of an STS refusal."""

    exit_code = 4

    def __init__(self, message: str, aws_code: str = ""):
        super().__init__(message)
        #: IAM's error code (``AccessDenied``, ``LimitExceeded``, ``NoSuchEntity``...), for callers that handle one.
        self.aws_code = aws_code


class IamUnavailableError(MfaenvError):
    """IAM could not be reached in time, or kept throttling; the exit status of STS being unavailable."""

    exit_code = 5


class FederationRejectedError(MfaenvError):
    """`console`: the AWS sign-in federation endpoint refused the role session (as STS refusals, exit 4)."""

    exit_code = 4


class FederationUnavailableError(MfaenvError):
    """`console`: the federation endpoint could not be reached in time, or answered nonsense (as STS, exit 5)."""

    exit_code = 5


class SessionTooShortError(ProfileError):
    """`console`: the role session the profile gives lasts no longer than the 15 minutes a console sign-in needs."""


class CodeInputError(MfaenvError):
    """No MFA code could be read: no terminal, or the code command failed."""

    exit_code = 6


class NoTerminalError(CodeInputError):
    """No terminal to ask for the MFA code on (cron, CI, an SDK's credential_process)."""


class CommandNotExecutableError(MfaenvError):
    """`exec`: the command exists but cannot be run (the shell's exit status 126)."""

    exit_code = 126


class CommandNotFoundError(MfaenvError):
    """`exec`: no such command (the shell's exit status 127)."""

    exit_code = 127


class Interrupted(MfaenvError):
    """Ctrl-C or SIGINT: whatever was under way stopped, nothing was printed to stdout."""

    exit_code = 130

    def __init__(self, message: str = "interrupted"):
        super().__init__(message)


class CredentialStoreError(MfaenvError):
    """The OS credential store (Keychain, Credential Manager, Secret Service) failed; mfaenv/stores/oskeyring.py."""

    exit_code = 7


class NoCredentialStoreError(CredentialStoreError):
    """There is no OS credential store: keyring is not installed, or no backend answers (headless Linux)."""


class CredentialStoreLockedError(CredentialStoreError):
    """The OS credential store is locked and the user did not unlock it."""


class CredentialStoreEntryError(CredentialStoreError):
    """An item in the OS credential store under mfaenv's service and name is not one mfaenv wrote."""
