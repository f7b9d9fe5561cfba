"""A checker for the PowerShell that mfaenv emits, for machines without pwsh.

Parsing is not proof: the tree-sitter grammar happily parses
``$Env:X = 'x'; Remove-Item ~; ''`` and does not know that PowerShell also
closes a verbatim string on the typographic quotes U+2018-U+201B, so
``'a’; Remove-Item ~; ’'`` is one harmless string to tree-sitter and three
statements to PowerShell. ``check_script`` therefore demands a shape, not
just a parse:

- the script is pure ASCII: a Windows console decodes a native command's
  output with its code page, where the UTF-8 bytes of ``ё`` (D1 91) read as
  a typographic quote, which PowerShell takes for a quote;
- every statement is on its own line (statements are separated by exactly
  one newline, no ``;``, no comments, nothing before or after);
- each statement is either ``$Env:NAME = <value>`` or exactly
  ``Microsoft.PowerShell.Management\\Remove-Item Env:NAME -ErrorAction
  SilentlyContinue`` (module-qualified, so no alias stands in), where a value is
  verbatim string literals and ``[char]0xNNNN`` casts (each one UTF-16 code
  unit) joined by `` + ``, the first a string (``[char] + [char]`` would add
  numbers);
- the tree has no ERROR or MISSING node and no command other than that
  Remove-Item;
- each string literal is re-read with PowerShell's own tokenizer rule (below)
  and must end exactly where tree-sitter says it ends.

PowerShell's rule for verbatim strings (``ScanStringLiteral`` in the
PowerShell tokenizer, and the language specification's
``verbatim-string-part``): any of ``'`` U+2018 U+2019 U+201A U+201B is a
single-quote character; inside the string, a single-quote character followed
by another one is an escape and yields the *second* one; a single-quote
character followed by anything else ends the string.
"""

from __future__ import annotations

import re
from typing import Iterator, List, Optional, Tuple

import tree_sitter
import tree_sitter_powershell

SINGLE_QUOTES = frozenset("'\u2018\u2019\u201a\u201b")
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_ASSIGNMENT_PREFIX = re.compile(rf"\$Env:({_NAME}) = ")
_CHAR_CAST = re.compile(r"\[char\]0x([0-9A-F]{4})")
REMOVE_ITEM = "Microsoft.PowerShell.Management\\Remove-Item"
_REMOVAL = re.compile(rf"{re.escape(REMOVE_ITEM)} Env:({_NAME}) -ErrorAction SilentlyContinue")

#: Node types that may appear inside an assignment statement: the grammar's
#: chain of single-child expression wrappers, the variable, `=` and the string.
_ASSIGNMENT_NODE_TYPES = frozenset({
    "pipeline", "pipeline_chain", "assignment_expression", "left_assignment_expression",
    "assignement_operator",  # sic: the grammar's spelling
    "logical_expression", "bitwise_expression", "comparison_expression", "additive_expression",
    "multiplicative_expression", "format_expression", "range_expression", "array_literal_expression",
    "unary_expression", "variable", "string_literal", "verbatim_string_characters",
    # [char]0xNNNN
    "expression_with_unary_operator", "cast_expression", "type_literal", "type_spec", "type_name",
    "type_identifier", "integer_literal", "hexadecimal_integer_literal",
})
_REMOVAL_NODE_TYPES = frozenset({
    "pipeline", "pipeline_chain", "command", "command_name", "command_elements",
    "command_argument_sep", "generic_token", "command_parameter",
})

_PARSER = tree_sitter.Parser(tree_sitter.Language(tree_sitter_powershell.language()))


class UnsafeScript(AssertionError):
    """The text is not the plain list of assignments and removals mfaenv must emit."""


def parse(text: str) -> tree_sitter.Tree:
    return _PARSER.parse(text.encode("utf-8"))


def decode_verbatim(literal: str) -> str:
    """The value PowerShell gives a verbatim string literal; UnsafeScript unless
    the literal is exactly one string, closed by its last character."""
    if not literal or literal[0] not in SINGLE_QUOTES:
        raise UnsafeScript(f"not a verbatim string: {literal!r}")
    value: List[str] = []
    i = 1
    while i < len(literal):
        char = literal[i]
        if char in SINGLE_QUOTES:
            if i + 1 < len(literal) and literal[i + 1] in SINGLE_QUOTES:
                value.append(literal[i + 1])  # the first quote escapes the second
                i += 2
                continue
            if i != len(literal) - 1:
                raise UnsafeScript(f"PowerShell ends the string early, before {literal[i + 1:]!r}")
            return "".join(value)
        value.append(char)
        i += 1
    raise UnsafeScript(f"PowerShell sees no end of the string {literal!r}")


def _walk(node: tree_sitter.Node) -> Iterator[tree_sitter.Node]:
    yield node
    for child in node.children:
        yield from _walk(child)


def _text(node: tree_sitter.Node) -> str:
    return node.text.decode("utf-8")


def check_script(text: str) -> List[Tuple[str, Optional[str]]]:
    """``[(NAME, value or None for a removal)]`` in order; UnsafeScript otherwise."""
    if not text:
        return []
    if not text.endswith("\n"):
        raise UnsafeScript("the script does not end with a newline")
    if not text.isascii():
        raise UnsafeScript(f"not pure ASCII: {[char for char in text if not char.isascii()][:5]!r}")
    root = parse(text).root_node
    for node in _walk(root):
        if node.is_error or node.is_missing or node.type == "ERROR":
            raise UnsafeScript(f"syntax error at {node.start_point}: {_text(node)!r}")
    lists = root.named_children
    if [node.type for node in lists] != ["statement_list"]:
        raise UnsafeScript(f"unexpected top level: {[node.type for node in lists]}")
    statements = lists[0].children
    data = text.encode("utf-8")
    position = 0
    result: List[Tuple[str, Optional[str]]] = []
    for index, statement in enumerate(statements):
        if statement.type != "pipeline":
            raise UnsafeScript(f"not an assignment or removal: {statement.type} {_text(statement)!r}")
        separator = data[position:statement.start_byte]
        if separator != (b"" if index == 0 else b"\n"):
            raise UnsafeScript(f"statements must be separated by one newline, found {separator!r}")
        result.append(_check_statement(statement))
        position = statement.end_byte
    if data[position:] != b"\n":
        raise UnsafeScript(f"unexpected text after the last statement: {data[position:]!r}")
    return result


def _check_statement(statement: tree_sitter.Node) -> Tuple[str, Optional[str]]:
    source = _text(statement)
    types = {node.type for node in _walk(statement) if node.is_named}
    commands = [node for node in _walk(statement) if node.type == "command"]
    if not commands:
        match = _ASSIGNMENT_PREFIX.match(source)
        terms = [node for node in _walk(statement) if node.type in ("string_literal", "cast_expression")]
        variables = [node for node in _walk(statement) if node.type == "variable"]
        if not match or not types <= _ASSIGNMENT_NODE_TYPES or not terms or len(variables) != 1:
            raise UnsafeScript(f"not an assignment of strings and [char]s: {source!r} ({sorted(types)})")
        if source != match.group(0) + " + ".join(map(_text, terms)) or _text(variables[0]) != "$Env:" + match.group(1):
            raise UnsafeScript(f"not one value of terms joined by ' + ': {source!r}")
        if terms[0].type != "string_literal":
            raise UnsafeScript(f"the value does not start with a string ([char] + [char] adds numbers): {source!r}")
        return match.group(1), _decode_terms(terms)
    match = _REMOVAL.fullmatch(source)
    if not match or len(commands) != 1 or not types <= _REMOVAL_NODE_TYPES:
        raise UnsafeScript(f"not the Remove-Item statement: {source!r}")
    names = [_text(node) for node in commands[0].named_children if node.type == "command_name"]
    if names != [REMOVE_ITEM]:
        raise UnsafeScript(f"unexpected command in {source!r}")
    return match.group(1), None


def _decode_terms(terms: List[tree_sitter.Node]) -> str:
    """The string PowerShell builds: verbatim strings as they read, each [char] one UTF-16 code unit."""
    units = bytearray()
    for term in terms:
        if term.type == "string_literal":
            units += decode_verbatim(_text(term)).encode("utf-16-le", "surrogatepass")
            continue
        cast = _CHAR_CAST.fullmatch(_text(term))
        if not cast:
            raise UnsafeScript(f"not a [char]0xNNNN cast: {_text(term)!r}")
        units += int(cast.group(1), 16).to_bytes(2, "little")
    return units.decode("utf-16-le", "surrogatepass")


def tree_dump(text: str) -> str:
    """The tree as indented text, for failure messages and exploring the grammar."""
    lines = []

    def visit(node: tree_sitter.Node, depth: int) -> None:
        lines.append(f"{'  ' * depth}{node.type} {_text(node)[:60]!r}")
        for child in node.named_children:
            visit(child, depth + 1)

    visit(parse(text).root_node, 0)
    return "\n".join(lines)
