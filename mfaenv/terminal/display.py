"""The one rule for text shown to a person: control characters are shown escaped.

A profile name, a serial, an STS message or an inherited variable can carry
terminal controls: ESC and the one-byte C1 controls (U+009B CSI, U+009D OSC)
start sequences that retitle a window, move the cursor or wipe the screen;
BEL, CR and newlines fake or hide lines. Everything mfaenv shows to a person
(errors, `status`, `list`, the prompt segment, the code prompt) goes through
``shown`` first. Imported by hot commands: it imports nothing.
"""


def shown(text: str) -> str:
    """``text`` with every character that is not printable as a visible escape.

    C0 controls, DEL and C1 controls become ``\\x1b``, ``\\x9d``, ``\\n``...;
    so do other invisible or unprintable characters (format characters such as
    the bidirectional overrides, separators other than the space, lone
    surrogates from undecodable bytes), as Python's ``repr`` spells them.
    """
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)
