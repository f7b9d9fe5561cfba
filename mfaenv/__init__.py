"""mfaenv: turn an MFA code into temporary AWS credentials for the current shell."""

__version__ = "0.1.0"
