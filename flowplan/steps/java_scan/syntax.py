"""What a Java syntax tree (tree-sitter-java) says beyond its shape: a node's text, a
declaration's modifiers and annotations, the enclosing method or type, the Javadoc before a
declaration, and the declared type of a name in scope.

Scopes are followed the way the Java language does for locals, parameters and fields of the
enclosing types, without imports or inheritance: enough to tell that `a == b` compares two
`Integer` variables, not a type checker. Everything here walks the tree with loops, never
recursion, so a deeply nested file cannot exhaust the stack. The rules themselves are rules.py's.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

from tree_sitter import Node

TYPE_BODIES = frozenset({"class_body", "interface_body", "enum_body", "enum_body_declarations",
                         "annotation_type_body", "record_declaration"})
CALLABLES = frozenset({"method_declaration", "constructor_declaration",
                       "compact_constructor_declaration", "lambda_expression"})
LOOPS = frozenset({"for_statement", "enhanced_for_statement", "while_statement", "do_statement"})


def text(node: Node | None, limit: int = 200) -> str:
    """The source text of `node` (invalid UTF-8 replaced), cut to `limit` characters."""
    if node is None:
        return ""
    data = node.text or b""
    value = data[:limit * 4].decode("utf-8", "replace")
    return value if len(value) <= limit else value[:limit - 3] + "..."


def modifiers(declaration: Node) -> Node | None:
    for child in declaration.children:
        if child.type == "modifiers":
            return child
    return None


def keywords(declaration: Node) -> set[str]:
    """The keyword modifiers of a declaration: {"public", "static", "final", ...}."""
    found = modifiers(declaration)
    if found is None:
        return set()
    return {child.type for child in found.children if not child.is_named}


def annotations(declaration: Node) -> set[str]:
    """Simple names of the annotations on a declaration (`@org.junit.Test` gives "Test")."""
    found = modifiers(declaration)
    if found is None:
        return set()
    names = set()
    for child in found.named_children:
        if child.type in ("marker_annotation", "annotation"):
            name = child.child_by_field_name("name")
            names.add(text(name).rsplit(".", 1)[-1])
    return names


def javadoc_before(declaration: Node) -> str | None:
    """The text of the `/** ... */` comment right before `declaration`, if there is one."""
    previous = declaration.prev_sibling
    while previous is not None and previous.type == "line_comment":
        previous = previous.prev_sibling
    if previous is not None and previous.type == "block_comment":
        body = text(previous, limit=100_000)
        if body.startswith("/**"):
            return body
    return None


def ancestors(node: Node) -> Iterator[Node]:
    parent = node.parent
    while parent is not None:
        yield parent
        parent = parent.parent


def enclosing(node: Node, kinds: frozenset[str] | set[str]) -> Node | None:
    """The nearest ancestor of one of `kinds`."""
    for ancestor in ancestors(node):
        if ancestor.type in kinds:
            return ancestor
    return None


def in_loop(node: Node) -> bool:
    """True when `node` is inside a loop of its own method (a lambda or class ends the look)."""
    for ancestor in ancestors(node):
        if ancestor.type in LOOPS:
            return True
        if ancestor.type in CALLABLES or ancestor.type in TYPE_BODIES:
            return False
    return False


def type_name(type_node: Node | None) -> str | None:
    """The simple name of a declared type: `java.util.List<String>` gives "List", `int` gives
    "int"; None for arrays, `var` and what is not a type."""
    node = type_node
    if node is None:
        return None
    if node.type == "generic_type":
        node = node.named_children[0] if node.named_children else None
    if node is None or node.type == "array_type":
        return None
    if node.type == "scoped_type_identifier":
        name = text(node).rsplit(".", 1)[-1]
    elif node.type in ("type_identifier", "integral_type", "floating_point_type",
                       "boolean_type"):
        name = text(node)
    else:
        return None
    return None if name == "var" else name


class Declaration(NamedTuple):
    """What declares a name: its type's simple name (None when not known: `var`, arrays,
    inferred lambda parameters) and the value it starts with (None when it has none)."""

    type: str | None
    value: Node | None


def _declared_in(declaration: Node, name: str) -> Declaration | None:
    """The declarator of `name` in a local variable, field or constant declaration, if any."""
    for child in declaration.children_by_field_name("declarator"):
        if text(child.child_by_field_name("name")) == name:
            value = child.child_by_field_name("value")
            if child.child_by_field_name("dimensions") is not None:
                return Declaration(None, value)     # int a[] = ...: an array
            return Declaration(type_name(declaration.child_by_field_name("type")), value)
    return None


def _parameter(parameter: Node, name: str) -> Declaration | None:
    if parameter.type == "formal_parameter":
        if text(parameter.child_by_field_name("name")) == name:
            return Declaration(type_name(parameter.child_by_field_name("type")), None)
    elif parameter.type == "spread_parameter":
        for child in parameter.named_children:
            if child.type == "variable_declarator" and \
                    text(child.child_by_field_name("name")) == name:
                return Declaration(None, None)      # String... names: an array
    elif parameter.type == "identifier" and text(parameter) == name:
        return Declaration(None, None)              # an inferred lambda parameter
    return None


def declaration_of(use: Node) -> Declaration | None:
    """How the identifier `use` is declared in the scopes around it: locals declared before it,
    parameters, loop and catch variables, fields of enclosing types; None when not found."""
    name = text(use)
    inner = use
    for scope in ancestors(use):
        kind = scope.type
        found: Declaration | None = None
        if kind in ("block", "constructor_body", "switch_block_statement_group", "program"):
            for child in scope.named_children:
                if child.start_byte >= inner.start_byte:
                    break
                if child.type == "local_variable_declaration":
                    found = _declared_in(child, name) or found
        elif kind in CALLABLES:
            parameters = scope.child_by_field_name("parameters")
            if parameters is not None:
                candidates = ([parameters] if parameters.type == "identifier"
                              else parameters.named_children)
                for parameter in candidates:
                    found = found or _parameter(parameter, name)
        elif kind == "for_statement":
            for init in scope.children_by_field_name("init"):
                if init.type == "local_variable_declaration":
                    found = found or _declared_in(init, name)
        elif kind == "enhanced_for_statement":
            if text(scope.child_by_field_name("name")) == name:
                found = Declaration(type_name(scope.child_by_field_name("type")), None)
        elif kind == "catch_clause":
            for parameter in scope.named_children:
                if parameter.type == "catch_formal_parameter" and \
                        text(parameter.child_by_field_name("name")) == name:
                    found = Declaration(None, None)
        elif kind in ("class_body", "interface_body", "enum_body_declarations"):
            for child in scope.named_children:
                if child.type in ("field_declaration", "constant_declaration"):
                    found = found or _declared_in(child, name)
        if found is not None:
            return found
        inner = scope
    return None


def declared_type(use: Node) -> str | None:
    """The simple type name declared for the identifier `use`, None when not known."""
    found = declaration_of(use)
    return None if found is None else found.type


def descendants(node: Node, kinds: frozenset[str] | set[str],
                stop: frozenset[str] | set[str] = frozenset()) -> Iterator[Node]:
    """Named nodes of `kinds` below `node`, in source order, not entering nodes of `stop`
    kinds."""
    stack = list(reversed(node.named_children))
    while stack:
        current = stack.pop()
        if current.type in kinds:
            yield current
        if current.type not in stop and current.named_child_count:
            stack.extend(reversed(current.named_children))
