"""HCL syntax: the only module that imports python-hcl2.

It turns the text of one file into flowplan's syntax tree: `Body`, `Block` and `Attribute` objects
with 1-based line/column positions, whose expressions are small tuples (see the `E_*` kinds below)
that flowplan.config.expressions evaluates. python-hcl2 evaluates nothing and its serialised dicts
lose positions and silently keep the last of two duplicate attributes, so we walk its Lark parse tree
(`hcl2.parses_to_tree`) instead, which has both.

Parsing is the slowest part of loading a config, so `parse_files` caches each file's tree by the
hash of its content (see flowplan.config.parse_cache) and parses uncached files in parallel.

What this module leaves to others: which blocks and attributes are allowed (flowplan.config.schema),
what expressions mean (flowplan.config.expressions).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from flowplan.diagnostics import Diagnostic, Range

# Expression node kinds. A node is a tuple (KIND, line, column, *operands):
E_LIT = "lit"          # (E_LIT, l, c, value)
E_TEMPLATE = "tmpl"    # (E_TEMPLATE, l, c, parts)   parts: tuple of str | node
E_NAME = "name"        # (E_NAME, l, c, identifier)  root of a reference: var, local, pipeline, ...
E_ATTR = "attr"        # (E_ATTR, l, c, node, name)
E_INDEX = "index"      # (E_INDEX, l, c, node, key_node)
E_CALL = "call"        # (E_CALL, l, c, function_name, args)
E_TUPLE = "tuple"      # (E_TUPLE, l, c, items)
E_OBJECT = "object"    # (E_OBJECT, l, c, ((key_node, value_node), ...))
E_BINARY = "binary"    # (E_BINARY, l, c, operator, left, right)
E_UNARY = "unary"      # (E_UNARY, l, c, operator, operand)
E_COND = "cond"        # (E_COND, l, c, condition, if_true, if_false)

SYNTAX_VERSION = 2     # bump when the shape of the tree changes: it keys the parse cache


@dataclass(slots=True)
class Attribute:
    name: str
    expr: tuple
    line: int
    column: int
    source: str                      # the expression's source text, for deferred evaluation


@dataclass(slots=True)
class Block:
    type: str
    labels: list[str]
    body: "Body"
    line: int
    column: int
    label_positions: list[tuple[int, int]] = field(default_factory=list)


@dataclass(slots=True)
class Body:
    attributes: dict[str, Attribute] = field(default_factory=dict)
    blocks: list[Block] = field(default_factory=list)


@dataclass(slots=True)
class FileSyntax:
    """One parsed file: its body and the problems found while reading it."""

    path: str
    body: Body
    diagnostics: list[Diagnostic]


class _Unsupported(Exception):
    def __init__(self, what: str, line: int, column: int):
        super().__init__(what)
        self.what, self.line, self.column = what, line, column


def parse_text(path: str, text: str) -> FileSyntax:
    """Parse one file's text; syntax errors become diagnostics, never exceptions."""
    import hcl2
    from lark.exceptions import UnexpectedInput

    try:
        tree = hcl2.parses_to_tree(text)
    except UnexpectedInput as exc:
        return FileSyntax(path, Body(), [_syntax_error(path, text, exc)])
    walker = _Walker(path, text)
    try:
        body = walker.body(tree.children[0])
    except RecursionError:
        return FileSyntax(path, Body(), [Diagnostic.error(
            "Expression nested too deeply",
            "This file nests brackets or calls more deeply than flowplan can read.",
            Range(path, 1, 1))])
    return FileSyntax(path, body, walker.diagnostics)


def parse_expression(text: str, path: str = "<expression>") -> tuple[tuple | None, list[Diagnostic]]:
    """Parse a standalone expression (e.g. a deferred attribute's source) into a node."""
    parsed = parse_text(path, f"expression = {text}\n")
    if parsed.diagnostics:
        return None, parsed.diagnostics
    return parsed.body.attributes["expression"].expr, []


def parse_template(text: str, path: str = "<template>") -> tuple[tuple | None, list[Diagnostic]]:
    """Parse template text (literal text with `${...}`, as in a heredoc) into a template node;
    a deferred pipeline value is stored as such text (flowplan.config.partial)."""
    walker = _Walker(path, text)
    try:
        parts = walker.template_parts(text, 1)
    except _Unsupported as exc:
        return None, [Diagnostic.error("Invalid template", exc.what,
                                       Range(path, exc.line, exc.column))]
    return (E_TEMPLATE, 1, 1, _merge_strings(parts)), []


def _syntax_error(path: str, text: str, exc: Any) -> Diagnostic:
    line, column = getattr(exc, "line", 1) or 1, getattr(exc, "column", 1) or 1
    token = getattr(exc, "token", None)
    if token is not None and str(token).strip():
        found = repr(str(token).strip().splitlines()[0])
        detail = f"Unexpected {found}."
    elif token is not None:
        detail = "Unexpected end of line."
    else:
        char = getattr(exc, "char", None)
        detail = f"Unexpected character {char!r}." if char else "The text could not be parsed."
    expected = getattr(exc, "expected", None) or getattr(exc, "allowed", None)
    if expected:
        words = sorted(_TERMINAL_WORDS.get(name, name.lower()) for name in expected)
        detail += " Expected " + ", ".join(dict.fromkeys(words)) + "."
    lines = text.splitlines()
    if line > len(lines):               # the end of the file: point after its last character
        line = max(len(lines), 1)
        column = len(lines[line - 1]) + 1 if lines else 1
        detail = "Unexpected end of file; a block or value is not closed." + (
            detail[detail.index(" Expected"):] if " Expected" in detail else "")
    return Diagnostic.error("Invalid syntax", detail, Range(path, line, column))


_TERMINAL_WORDS = {
    "NAME": "a name", "DBLQUOTE": "a quoted string", "INT_LITERAL": "a number",
    "FLOAT_LITERAL": "a number", "LBRACE": "'{'", "RBRACE": "'}'", "LSQB": "'['", "RSQB": "']'",
    "LPAR": "'('", "RPAR": "')'", "EQ": "'='", "COMMA": "','", "NL_OR_COMMENT": "a new line",
    "TRUE": "true", "FALSE": "false", "NULL": "null", "HEREDOC_TEMPLATE": "a heredoc",
    "HEREDOC_TEMPLATE_TRIM": "a heredoc", "MINUS": "'-'", "NOT": "'!'", "TEMPLATE_STRING": "a string",
    "COLON": "':'", "DOT": "'.'", "QMARK": "'?'",
}

_BINARY_OPERATORS = {"==", "!=", "<", ">", "<=", ">=", "+", "-", "*", "/", "%", "&&", "||"}
_HEREDOC = re.compile(r"<<(-?)([a-zA-Z][a-zA-Z0-9._-]*)\r?\n(.*?)^[ \t]*\2\r?\n?\Z", re.S | re.M)


class _Walker:
    """Turns one Lark parse tree into Body/Block/Attribute and expression tuples."""

    def __init__(self, path: str, text: str):
        self.path = path
        self.text = text
        self.diagnostics: list[Diagnostic] = []
        self._line_starts: list[int] | None = None

    # -- structure -----------------------------------------------------------------------------

    def body(self, tree) -> Body:
        body = Body()
        for child in tree.children:
            data = getattr(child, "data", None)
            if data == "attribute":
                attribute = self.attribute(child)
                if attribute is None:
                    continue
                earlier = body.attributes.get(attribute.name)
                if earlier is not None:
                    self.diagnostics.append(Diagnostic.error(
                        "Duplicate attribute",
                        f'The attribute "{attribute.name}" was already set at line {earlier.line}; '
                        "each attribute may be set only once in a block.",
                        Range(self.path, attribute.line, attribute.column)))
                    continue
                body.attributes[attribute.name] = attribute
            elif data == "block":
                block = self.block(child)
                if block is not None:
                    body.blocks.append(block)
        return body

    def attribute(self, tree) -> Attribute | None:
        name_node, _eq, expr_tree = tree.children
        name = self.identifier(name_node)
        line, column = tree.meta.line, tree.meta.column
        try:
            expr = self.expr(expr_tree)
        except _Unsupported as exc:
            self.diagnostics.append(Diagnostic.error(
                "Unsupported expression", exc.what, Range(self.path, exc.line, exc.column)))
            return None
        source = self.text[expr_tree.meta.start_pos:expr_tree.meta.end_pos].strip()
        return Attribute(name, expr, line, column, source)

    def block(self, tree) -> Block | None:
        children = tree.children
        block_type = self.identifier(children[0])
        labels: list[str] = []
        positions: list[tuple[int, int]] = []
        ok = True
        for child in children[1:]:
            data = getattr(child, "data", None)
            if data == "string":
                try:
                    label = self.template(child)
                except _Unsupported as exc:
                    self.diagnostics.append(Diagnostic.error(
                        "Invalid block label", exc.what, Range(self.path, exc.line, exc.column)))
                    ok = False
                    continue
                if not all(isinstance(p, str) for p in label[3]):
                    self.diagnostics.append(Diagnostic.error(
                        "Invalid block label", "Block labels are plain strings: no ${...} inside.",
                        Range(self.path, child.meta.line, child.meta.column)))
                    ok = False
                    continue
                labels.append("".join(label[3]))
                positions.append((child.meta.line, child.meta.column))
            elif data in ("identifier", "keyword", "literal_value"):
                word = self.identifier(child)
                line, column = _position(child)
                self.diagnostics.append(Diagnostic.error(
                    "Unquoted block label",
                    f'Block labels must be quoted: write {block_type} "{word}" {{ ... }}.',
                    Range(self.path, line, column)))
                ok = False
            elif data == "body":
                body = self.body(child)
                if not ok:
                    return None
                return Block(block_type, labels, body, tree.meta.line, tree.meta.column,
                             positions)
        return None

    @staticmethod
    def identifier(node) -> str:
        if hasattr(node, "children"):
            node = node.children[0]
        return str(node)

    # -- expressions ---------------------------------------------------------------------------

    def expr(self, tree) -> tuple:
        handler = getattr(self, "x_" + tree.data, None)
        if handler is None:
            line, column = _position(tree)
            raise _Unsupported(f"{_describe(tree.data)} is not supported by flowplan.", line, column)
        return handler(tree)

    def x_expr_term(self, tree) -> tuple:
        children = [c for c in tree.children if getattr(c, "data", None) != "new_line_or_comment"]
        if len(children) == 3:      # ( expression )
            return self.expr(children[1])
        return self.expr(children[0])

    def x_int_lit(self, tree) -> tuple:
        return (E_LIT, *_position(tree), int(str(tree.children[0])))

    def x_float_lit(self, tree) -> tuple:
        return (E_LIT, *_position(tree), float(str(tree.children[0])))

    def x_literal_value(self, tree) -> tuple:
        word = str(tree.children[0])
        return (E_LIT, *_position(tree), {"true": True, "false": False, "null": None}[word])

    def x_identifier(self, tree) -> tuple:
        return (E_NAME, *_position(tree), str(tree.children[0]))

    def x_string(self, tree) -> tuple:
        return self.template(tree)

    def template(self, tree) -> tuple:
        from hcl2.utils import process_escape_sequences

        parts: list[Any] = []
        for part in tree.children:
            if getattr(part, "data", None) != "string_part":
                continue                                  # the quotes
            inner = part.children[0]
            if hasattr(inner, "data"):
                if inner.data == "interpolation":
                    parts.append(self.expr(inner.children[1]))
                    continue
                raise _Unsupported("Template directives (%{ ... }) are not supported; "
                                   "use a conditional expression instead.", *_position(inner))
            kind, raw = inner.type, str(inner)
            if kind == "ESCAPED_INTERPOLATION" or kind == "ESCAPED_DIRECTIVE":
                parts.append(raw[1:])                     # $${x} -> ${x}
            else:
                parts.append(process_escape_sequences(raw))
        return (E_TEMPLATE, *_position(tree), _merge_strings(parts))

    def x_heredoc_template(self, tree) -> tuple:
        return self.heredoc(tree, trim=False)

    def x_heredoc_template_trim(self, tree) -> tuple:
        return self.heredoc(tree, trim=True)

    def heredoc(self, tree, trim: bool) -> tuple:
        token = tree.children[0]
        match = _HEREDOC.match(str(token))
        line, column = token.line, token.column
        body = match.group(3) if match else ""
        cut = 0
        if trim:
            body, cut = _dedent(body)
        parts = self.template_parts(body, line + 1, cut)
        return (E_TEMPLATE, line, column, _merge_strings(parts))

    def template_parts(self, text: str, first_line: int, cut: int = 0) -> list[Any]:
        """Split heredoc text into literal strings and parsed ${...} expressions.

        `cut` is the indentation a `<<-` heredoc removed from each line, for true columns."""
        parts: list[Any] = []
        i = 0
        literal: list[str] = []
        while i < len(text):
            if text.startswith("$${", i) or text.startswith("%%{", i):
                literal.append(text[i + 1:i + 3])
                i += 3
                continue
            if text.startswith("%{", i):
                raise _Unsupported("Template directives (%{ ... }) are not supported.",
                                   first_line + text.count("\n", 0, i), 1)
            if text.startswith("${", i):
                end = _closing_brace(text, i + 2)
                line = first_line + text.count("\n", 0, i)
                if end < 0:
                    raise _Unsupported("Unclosed ${ in heredoc.", line, 1)
                raw = text[i + 2:end]
                inner = raw.strip()
                line_start = text.rfind("\n", 0, i) + 1
                inner_column = cut + (i - line_start) + 3 + (len(raw) - len(raw.lstrip()))
                node, problems = parse_expression(inner, self.path)
                if problems or node is None:
                    raise _Unsupported(f"Invalid expression in heredoc: ${{{inner}}}", line,
                                       inner_column)
                if literal:
                    parts.append("".join(literal))
                    literal = []
                parts.append(_relocate(node, line, inner_column - _EXPRESSION_PREFIX_WIDTH - 1))
                i = end + 1
                continue
            literal.append(text[i])
            i += 1
        if literal:
            parts.append("".join(literal))
        return parts

    def x_template_string(self, tree) -> tuple:
        raw = str(tree.children[0])
        return (E_TEMPLATE, *_position(tree), (raw[2:-2],))

    def x_tuple(self, tree) -> tuple:
        items = tuple(self.expr(c) for c in tree.children if _is_expression(c))
        return (E_TUPLE, *_position(tree), items)

    def x_object(self, tree) -> tuple:
        elements = []
        for elem in tree.children:
            if getattr(elem, "data", None) != "object_elem":
                continue
            key_tree, _sep, value_tree = elem.children
            key_inner = key_tree.children[0]
            if getattr(key_inner, "data", None) == "keyword":
                key = (E_LIT, *_position(key_inner), str(key_inner.children[0]))
            else:
                key = self.expr(key_inner)
                if key[0] == E_NAME:                 # { name = 1 }: a bare key is a string
                    key = (E_LIT, key[1], key[2], key[3])
            elements.append((key, self.expr(value_tree)))
        return (E_OBJECT, *_position(tree), tuple(elements))

    def x_get_attr_expr_term(self, tree) -> tuple:
        obj_tree, get_attr = tree.children
        name = self.identifier(get_attr.children[1])
        return (E_ATTR, *_position(tree), self.expr(obj_tree), name)

    def x_index_expr_term(self, tree) -> tuple:
        obj_tree, index = tree.children
        if index.data == "short_index":
            key = (E_LIT, *_position(index), int(str(index.children[1])))
        else:
            key = self.expr([c for c in index.children if _is_expression(c)][0])
        return (E_INDEX, *_position(tree), self.expr(obj_tree), key)

    def x_function_call(self, tree) -> tuple:
        children = tree.children
        names = [str(c.children[0]) for c in children if getattr(c, "data", None) == "identifier"]
        if len(names) > 1:
            raise _Unsupported("Provider-defined functions (a::b::c) are not supported.",
                               *_position(tree))
        args: list[tuple] = []
        for child in children:
            if getattr(child, "data", None) == "arguments":
                for arg in child.children:
                    if hasattr(arg, "data") and _is_expression(arg):
                        args.append(self.expr(arg))
                    elif str(arg) == "...":
                        raise _Unsupported("Argument expansion (...) is not supported.",
                                           *_position(tree))
        return (E_CALL, *_position(tree), names[0], tuple(args))

    def x_binary_op(self, tree) -> tuple:
        left_tree, term = tree.children[0], tree.children[1]
        operator = str(term.children[0].children[0])
        right_tree = [c for c in term.children[1:] if _is_expression(c)][0]
        if operator not in _BINARY_OPERATORS:
            raise _Unsupported(f"Operator {operator} is not supported.", *_position(tree))
        return (E_BINARY, *_position(tree), operator, self.expr(left_tree), self.expr(right_tree))

    def x_unary_op(self, tree) -> tuple:
        operator, operand = str(tree.children[0]), tree.children[1]
        return (E_UNARY, *_position(tree), operator, self.expr(operand))

    def x_conditional(self, tree) -> tuple:
        parts = [c for c in tree.children if _is_expression(c)]
        condition, if_true, if_false = (self.expr(p) for p in parts)
        return (E_COND, *_position(tree), condition, if_true, if_false)


def _is_expression(node) -> bool:
    return hasattr(node, "data") and node.data != "new_line_or_comment"


def _position(node) -> tuple[int, int]:
    meta = getattr(node, "meta", None)
    if meta is not None and not meta.empty:
        return meta.line, meta.column
    line = getattr(node, "line", None)
    if line is not None:
        return line, node.column
    for child in getattr(node, "children", ()):
        found = _position(child)
        if found != (0, 0):
            return found
    return (0, 0)


def _describe(rule: str) -> str:
    return {
        "attr_splat_expr_term": "A splat expression (x.*.y)",
        "full_splat_expr_term": "A splat expression (x[*].y)",
        "for_tuple_expr": "A for expression",
        "for_object_expr": "A for expression",
    }.get(rule, f"The expression {rule!r}")


def _merge_strings(parts: list[Any]) -> tuple:
    merged: list[Any] = []
    for part in parts:
        if isinstance(part, str) and merged and isinstance(merged[-1], str):
            merged[-1] += part
        elif part != "":
            merged.append(part)
    return tuple(merged)


def _dedent(text: str) -> tuple[str, int]:
    """Text with the common indentation of its non-blank lines removed, and that indentation."""
    lines = text.split("\n")
    indents = [len(l) - len(l.lstrip(" \t")) for l in lines if l.strip()]
    cut = min(indents) if indents else 0
    return "\n".join(l[cut:] for l in lines), cut


def _closing_brace(text: str, start: int) -> int:
    depth, i, quote = 0, start, False
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == '"':
                quote = False
        elif ch == '"':
            quote = True
        elif ch == "{":
            depth += 1
        elif ch == "}":
            if depth == 0:
                return i
            depth -= 1
        i += 1
    return -1


_EXPRESSION_PREFIX_WIDTH = len("expression = ")


def _relocate(node: Any, line: int, shift: int) -> Any:
    """Move a node parsed from a heredoc fragment (line 1) to its line and column in the file."""
    if isinstance(node, tuple) and node and isinstance(node[0], str) and len(node) >= 3 \
            and isinstance(node[1], int):
        return (node[0], line, node[2] + shift, *(_relocate(x, line, shift) for x in node[3:]))
    if isinstance(node, tuple):
        return tuple(_relocate(x, line, shift) for x in node)
    return node
