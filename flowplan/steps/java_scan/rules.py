"""The built-in rules of `java_code_scan`, after Alibaba's Java coding guidelines (p3c), and
what a rule and a finding are.

A rule has p3c's rule name as its id, p3c's category (the rule set it belongs to: naming,
comment, concurrent, constant, flowcontrol, exception, oop, other, set) and p3c's grade as its
severity (priority 1 is `blocker`, 2 `critical`, 3 `major`). It is a tree-sitter query over the
Java grammar and a check: a small function that reads one match's captures and says where the
violations are and what each one is, or nothing when the match is fine. The query finds the
candidates; the check decides what a query cannot (a name's spelling, a declared type in scope).
The checks are written here from p3c's descriptions, not ported from its code, and some are
narrower than p3c's (see docs/configuration.md). Running the rules over files is scanner.py's;
rules from a repository's own file are custom.py's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

from tree_sitter import Node

from flowplan.steps.java_scan import syntax
from flowplan.steps.java_scan.syntax import annotations, keywords, text, type_name

SEVERITIES = ("blocker", "critical", "major")              # most severe first
SEVERITY_RANK = {"blocker": 3, "critical": 2, "major": 1}

Captures = Mapping[str, list[Node]]
Check = Callable[[Captures], Iterable[tuple[Node, str]]]


def at_or_above(severity: str, threshold: str) -> bool:
    """True when `severity` is `threshold` or more severe (blocker > critical > major)."""
    return SEVERITY_RANK[severity] >= SEVERITY_RANK[threshold]


@dataclass(frozen=True)
class Rule:
    id: str
    category: str
    severity: str
    description: str           # what the rule asks, in one sentence (SARIF shortDescription)
    query: str                 # tree-sitter query over the Java grammar
    check: Check               # violations in one match: (node, message) pairs


@dataclass(frozen=True, order=True)
class Finding:
    path: str                  # relative to the workspace, with forward slashes
    line: int                  # 1-based
    column: int                # 1-based, in characters (Unicode code points)
    rule_id: str
    severity: str
    message: str

    def where(self) -> str:
        return f"{self.path}:{self.line}:{self.column}"


# -- checks --------------------------------------------------------------------------------------

def first(captures: Captures, name: str) -> Node | None:
    nodes = captures.get(name)
    return nodes[0] if nodes else None


def each(captures: Captures, message: str, at: str = "at") -> Iterator[tuple[Node, str]]:
    """The check of a rule whose query alone decides: one violation at capture `at`."""
    node = first(captures, at)
    if node is not None:
        yield node, message


DOMAIN_SUFFIX = re.compile(r"(DAOImpl|DTO|DAO|DO|BO|VO|PO|AO)$")
UPPER_CAMEL = re.compile(r"[A-Z][a-z0-9]*(?:[A-Z][a-z0-9]+)*[A-Z]?")
LOWER_CAMEL = re.compile(r"[a-z][a-zA-Z0-9]*")
UPPER_SNAKE = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*")
PACKAGE_PART = re.compile(r"[a-z][a-z0-9]*")


def decorated(name: str) -> bool:
    """A name starting or ending with `_` or `$` (AvoidStartWithDollarAndUnderLineNamingRule's)."""
    return name[:1] in ("_", "$") or name[-1:] in ("_", "$")


def class_naming(captures: Captures) -> Iterator[tuple[Node, str]]:
    node = first(captures, "name")
    name = text(node)
    if node is None or decorated(name):
        return
    stem = DOMAIN_SUFFIX.sub("", name) or name
    if not UPPER_CAMEL.fullmatch(stem):
        yield node, f"[{name}] is not UpperCamelCase"


def abstract_class_naming(captures: Captures) -> Iterator[tuple[Node, str]]:
    node = first(captures, "name")
    name = text(node)
    if node is not None and not name.startswith(("Abstract", "Base")):
        yield node, f"abstract class [{name}] should start with Abstract or Base"


def exception_class_naming(captures: Captures) -> Iterator[tuple[Node, str]]:
    node, parent = first(captures, "name"), first(captures, "super")
    name, parent_name = text(node), type_name(parent) or ""
    if node is not None and parent_name.endswith("Exception") and not name.endswith("Exception"):
        yield node, f"[{name}] extends {parent_name}: its name should end with Exception"


TEST_ANNOTATIONS = {"Test", "ParameterizedTest", "RepeatedTest", "TestFactory", "TestTemplate"}


def test_class_naming(captures: Captures) -> Iterator[tuple[Node, str]]:
    node, body = first(captures, "name"), first(captures, "body")
    name = text(node)
    if node is None or body is None or name.endswith(("Test", "Tests", "TestCase")):
        return
    if any(member.type == "method_declaration" and annotations(member) & TEST_ANNOTATIONS
           for member in body.named_children):
        yield node, f"test class [{name}] should end with Test"


def constant(field: Node) -> bool:
    return field.type == "constant_declaration" or {"static", "final"} <= keywords(field)


def lower_camel_naming(captures: Captures) -> Iterator[tuple[Node, str]]:
    node = first(captures, "name")
    name = text(node)
    if node is None or decorated(name) or LOWER_CAMEL.fullmatch(name):
        return
    field = first(captures, "field")
    if field is not None and constant(field):
        return                                  # ConstantFieldShouldBeUpperCaseRule's
    what = "method" if first(captures, "method") is not None else "variable"
    yield node, f"{what} [{name}] is not lowerCamelCase"


CONSTANT_EXCEPTIONS = {"serialVersionUID", "serialPersistentFields"}
LOGGER_TYPES = {"Logger", "Log"}


def constant_naming(captures: Captures) -> Iterator[tuple[Node, str]]:
    node, field = first(captures, "name"), first(captures, "field")
    name = text(node)
    if node is None or field is None or not constant(field) or decorated(name):
        return
    if name in CONSTANT_EXCEPTIONS or type_name(field.child_by_field_name("type")) in LOGGER_TYPES:
        return
    if not UPPER_SNAKE.fullmatch(name):
        yield node, f"constant [{name}] should be UPPER_SNAKE_CASE"


def dollar_underscore_naming(captures: Captures) -> Iterator[tuple[Node, str]]:
    node = first(captures, "name")
    name = text(node)
    if node is not None and decorated(name):
        yield node, f"[{name}] should not start or end with an underscore or a dollar sign"


def service_impl_naming(captures: Captures) -> Iterator[tuple[Node, str]]:
    node, declaration = first(captures, "name"), first(captures, "at")
    if node is None or declaration is None or "abstract" in keywords(declaration):
        return
    name = text(node)
    interfaces = declaration.child_by_field_name("interfaces")
    listed = [c for c in interfaces.named_children if c.type == "type_list"] if interfaces else []
    implemented = [type_name(t) or "" for t in (listed[0].named_children if listed else [])]
    if name.endswith("Impl"):
        return
    for interface in implemented:
        if interface.endswith(("Service", "DAO", "Dao")):
            yield node, f"class [{name}] implements {interface}: its name should end with Impl"
            return


def package_naming(captures: Captures) -> Iterator[tuple[Node, str]]:
    node = first(captures, "name")
    name = "".join(text(node, limit=1000).split())
    if node is not None and not all(PACKAGE_PART.fullmatch(part) for part in name.split(".")):
        yield node, f"package [{name}] should be lower case, one word per level"


def class_author(captures: Captures) -> Iterator[tuple[Node, str]]:
    declaration = first(captures, "at")
    if declaration is None:
        return
    javadoc = syntax.javadoc_before(declaration) or ""
    if "@author" not in javadoc:
        name = declaration.child_by_field_name("name") or declaration
        yield name, f"[{text(name)}] needs a Javadoc comment with an @author tag"


def abstract_method_javadoc(captures: Captures) -> Iterator[tuple[Node, str]]:
    method = first(captures, "at")
    if method is None or method.child_by_field_name("body") is not None:
        return
    if "Override" in annotations(method) or syntax.javadoc_before(method) is not None:
        return
    name = text(method.child_by_field_name("name"))
    what = "interface method" if method.parent and method.parent.type == "interface_body" \
        else "abstract method"
    yield method.child_by_field_name("name") or method, \
        f"{what} [{name}] needs a Javadoc comment"


EXECUTOR_FACTORIES = {"newFixedThreadPool", "newSingleThreadExecutor", "newCachedThreadPool",
                      "newScheduledThreadPool", "newSingleThreadScheduledExecutor",
                      "newWorkStealingPool"}


def thread_pool_creation(captures: Captures) -> Iterator[tuple[Node, str]]:
    call, owner, name = first(captures, "at"), first(captures, "object"), first(captures, "name")
    if call is not None and text(name) in EXECUTOR_FACTORIES and \
            text(owner).rsplit(".", 1)[-1] == "Executors":
        yield call, (f"Executors.{text(name)}: create the pool with ThreadPoolExecutor, whose "
                     "parameters say how many threads and how long a queue")


def created(type_wanted: set[str]) -> Callable[[Captures], Node | None]:
    def found(captures: Captures) -> Node | None:
        creation = first(captures, "at")
        if creation is None or type_name(creation.child_by_field_name("type")) not in type_wanted:
            return None
        return creation
    return found


def timer_creation(captures: Captures) -> Iterator[tuple[Node, str]]:
    creation = created({"Timer"})(captures)
    if creation is not None and "swing" not in text(creation.child_by_field_name("type")):
        yield creation, "new Timer: use a ScheduledExecutorService instead"


DATE_FORMATS = {"SimpleDateFormat", "DateFormat"}


def static_date_format(captures: Captures) -> Iterator[tuple[Node, str]]:
    field, node = first(captures, "field"), first(captures, "name")
    if field is None or node is None or "static" not in keywords(field):
        return
    if type_name(field.child_by_field_name("type")) in DATE_FORMATS:
        yield node, (f"static {type_name(field.child_by_field_name('type'))} [{text(node)}] is "
                     "not thread-safe: use DateTimeFormatter, or one per thread")


def thread_creation(captures: Captures) -> Iterator[tuple[Node, str]]:
    creation = created({"Thread"})(captures)
    if creation is None:
        return
    method = syntax.enclosing(creation, {"method_declaration"})
    if method is None or text(method.child_by_field_name("name")) != "newThread":
        yield creation, "explicit new Thread: take threads from a thread pool"


def handler_like(argument: Node) -> bool:
    value = text(argument).lower()
    return "policy" in value or "handler" in value or "reject" in value


def thread_name(captures: Captures) -> Iterator[tuple[Node, str]]:
    creation = first(captures, "at")
    if creation is None:
        return
    kind = type_name(creation.child_by_field_name("type"))
    arguments = creation.child_by_field_name("arguments")
    given = [a for a in arguments.named_children if a.type not in ("line_comment", "block_comment")] \
        if arguments is not None else []
    if kind == "ThreadPoolExecutor":
        without = len(given) == 5 or (len(given) == 6 and handler_like(given[-1]))
    elif kind == "ScheduledThreadPoolExecutor":
        without = len(given) == 1 or (len(given) == 2 and handler_like(given[-1]))
    else:
        return
    if without:
        yield creation, (f"{kind} without a ThreadFactory: give one that names the threads, "
                         "for meaningful thread names in logs and dumps")


COMMENTS = ("line_comment", "block_comment")


def next_statement(node: Node) -> Node | None:
    following = node.next_named_sibling
    while following is not None and following.type in COMMENTS:
        following = following.next_named_sibling
    return following


def lock_try_finally(captures: Captures) -> Iterator[tuple[Node, str]]:
    statement, arguments = first(captures, "at"), first(captures, "args")
    if statement is None or arguments is None or arguments.named_child_count:
        return
    following = next_statement(statement)
    if following is None or following.type not in ("try_statement",
                                                    "try_with_resources_statement") or \
            not any(c.type == "finally_clause" for c in following.children):
        yield statement, "lock() must be followed at once by try { ... } finally { unlock() }"


def upper_ell(captures: Captures) -> Iterator[tuple[Node, str]]:
    literal = first(captures, "at")
    if literal is not None and text(literal).endswith("l"):
        yield literal, f"[{text(literal)}]: write long literals with an upper-case L"


LITERALS = frozenset({"decimal_integer_literal", "hex_integer_literal", "octal_integer_literal",
                      "binary_integer_literal", "decimal_floating_point_literal",
                      "hex_floating_point_literal", "string_literal", "character_literal"})
ALLOWED_LITERALS = {"0", "1", "0L", "1L", "0.0", "1.0", "0.0d", "1.0d", "0.0f", "1.0f", '""',
                    "2"}
COMPARISONS = {"==", "!=", "<", ">", "<=", ">="}


def magic_constant(captures: Captures) -> Iterator[tuple[Node, str]]:
    condition = first(captures, "condition")
    if condition is None:
        return
    for comparison in syntax.descendants(condition, {"binary_expression"},
                                         stop=syntax.CALLABLES | syntax.TYPE_BODIES):
        operator = comparison.child_by_field_name("operator")
        if operator is None or operator.type not in COMPARISONS:
            continue
        for side in ("left", "right"):
            operand = comparison.child_by_field_name(side)
            if operand is not None and operand.type == "unary_expression" and \
                    text(operand.child_by_field_name("operator")) == "-":
                operand = operand.child_by_field_name("operand")
            if operand is not None and operand.type in LITERALS and \
                    text(operand) not in ALLOWED_LITERALS:
                yield operand, f"magic value [{text(operand, limit=40)}]: name it as a constant"


STATEMENT_PARENTS = frozenset({"block", "switch_block_statement_group", "constructor_body",
                               "labeled_statement", "if_statement", "while_statement",
                               "for_statement", "enhanced_for_statement", "do_statement",
                               "switch_rule", "program"})
JUMPS = frozenset({"break_statement", "continue_statement", "return_statement",
                   "throw_statement", "yield_statement"})


def ends_in_jump(statement: Node) -> bool:
    current: Node | None = statement
    while current is not None and current.type == "block":
        current = current.named_children[-1] if current.named_children else None
        while current is not None and current.type in COMMENTS:
            current = current.prev_named_sibling
    return current is not None and current.type in JUMPS


def switch_statement(captures: Captures) -> Iterator[tuple[Node, str]]:
    switch, body = first(captures, "at"), first(captures, "body")
    if switch is None or body is None or switch.parent is None or \
            switch.parent.type not in STATEMENT_PARENTS:
        return                                  # a switch expression: the compiler checks it
    labels = [label for entry in body.named_children
              if entry.type in ("switch_block_statement_group", "switch_rule")
              for label in entry.named_children if label.type == "switch_label"]
    if not any(any(c.type == "default" for c in label.children) for label in labels):
        yield switch, "switch without a default label"
    groups = [g for g in body.named_children if g.type == "switch_block_statement_group"]
    for group in groups[:-1]:
        statements = [c for c in group.named_children if c.type != "switch_label"]
        # a comment after the last statement may be the group's last child or its next sibling
        trailing = statements[-1:] if statements and statements[-1].type in COMMENTS else []
        following = group.next_named_sibling
        while following is not None and following.type in COMMENTS:
            trailing.append(following)
            following = following.next_named_sibling
        if any("fall" in text(comment).lower() for comment in trailing):
            continue
        code = [s for s in statements if s.type not in COMMENTS]
        if code and not ends_in_jump(code[-1]):
            yield group, ("case does not end with break, return, throw or continue "
                          "(or a comment saying it falls through)")


def need_brace(captures: Captures) -> Iterator[tuple[Node, str]]:
    statement, body = first(captures, "at"), first(captures, "body")
    if statement is None or body is None:
        return
    allowed = {"block"}
    kind = statement.type.removesuffix("_statement").replace("enhanced_", "")
    if first(captures, "else") is not None:
        allowed.add("if_statement")
        kind = "else"
    if body.type not in allowed:
        yield body, f"missing braces in {kind} statement"


def return_in_finally(captures: Captures) -> Iterator[tuple[Node, str]]:
    clause = first(captures, "at")
    if clause is None:
        return
    for statement in syntax.descendants(clause, {"return_statement"},
                                        stop=syntax.CALLABLES | syntax.TYPE_BODIES):
        yield statement, "return in finally discards the exception or result of the try block"


def equals_avoid_null(captures: Captures) -> Iterator[tuple[Node, str]]:
    call, owner, argument = first(captures, "at"), first(captures, "object"), \
        first(captures, "arg")
    if call is None or owner is None or argument is None or owner.type == "string_literal":
        return
    yield call, (f"call equals on the constant: {text(argument, limit=40)}."
                 f"{text(first(captures, 'name'))}({text(owner, limit=40)})")


WRAPPERS = {"Integer", "Long", "Short", "Byte", "Character", "Boolean", "Double", "Float"}


def wrapper_equality(captures: Captures) -> Iterator[tuple[Node, str]]:
    comparison, left, right = first(captures, "at"), first(captures, "left"), \
        first(captures, "right")
    if comparison is None or left is None or right is None:
        return
    left_type, right_type = syntax.declared_type(left), syntax.declared_type(right)
    if left_type in WRAPPERS and right_type in WRAPPERS:
        yield comparison, (f"[{text(left)}] and [{text(right)}] are {left_type} and "
                           f"{right_type} objects: compare them with equals, not "
                           f"{text(comparison.child_by_field_name('operator'))}")


def string_concat(captures: Captures) -> Iterator[tuple[Node, str]]:
    assignment, target = first(captures, "at"), first(captures, "left")
    if assignment is None or target is None:
        return
    repeated = first(captures, "first")
    if repeated is not None and text(repeated) != text(target):
        return
    if syntax.in_loop(assignment) and syntax.declared_type(target) == "String":
        yield assignment, (f"String [{text(target)}] concatenated in a loop: "
                           "use a StringBuilder")


FLOATING = {"double", "float"}


def big_decimal_double(captures: Captures) -> Iterator[tuple[Node, str]]:
    creation, argument = created({"BigDecimal"})(captures), first(captures, "arg")
    if creation is None or argument is None:
        return
    floating = argument.type == "decimal_floating_point_literal" and \
        not text(argument).lower().endswith("f") or \
        argument.type == "identifier" and syntax.declared_type(argument) in FLOATING
    if floating:
        yield creation, "new BigDecimal(double) is inexact: use BigDecimal.valueOf or a String"


def pattern_compile(captures: Captures) -> Iterator[tuple[Node, str]]:
    call, owner = first(captures, "at"), first(captures, "object")
    if call is None or text(owner).rsplit(".", 1)[-1] != "Pattern":
        return
    scope = syntax.enclosing(call, syntax.CALLABLES | syntax.TYPE_BODIES)
    if scope is not None and scope.type in syntax.CALLABLES:
        yield call, "Pattern.compile of a constant in a method: compile it once, in a static field"


def new_date_get_time(captures: Captures) -> Iterator[tuple[Node, str]]:
    call, creation = first(captures, "at"), first(captures, "creation")
    if call is None or creation is None:
        return
    arguments = creation.child_by_field_name("arguments")
    if type_name(creation.child_by_field_name("type")) == "Date" and \
            arguments is not None and arguments.named_child_count == 0:
        yield call, "new Date().getTime(): use System.currentTimeMillis()"


def math_random_cast(captures: Captures) -> Iterator[tuple[Node, str]]:
    cast = first(captures, "at")
    if cast is not None and text(first(captures, "type")) in ("int", "long"):
        yield cast, (f"({text(first(captures, 'type'))}) Math.random() is always 0: "
                     "use Random.nextInt or nextLong")


def floating_operand(node: Node) -> bool:
    if node.type == "decimal_floating_point_literal":
        return True
    return node.type == "identifier" and syntax.declared_type(node) in FLOATING


def floating_equality(captures: Captures) -> Iterator[tuple[Node, str]]:
    comparison, left, right = first(captures, "at"), first(captures, "left"), \
        first(captures, "right")
    if comparison is None or left is None or right is None:
        return
    if floating_operand(left) or floating_operand(right):
        yield comparison, ("floating-point numbers compared with "
                           f"{text(comparison.child_by_field_name('operator'))}: compare the "
                           "difference with a tolerance, or use BigDecimal")


def to_array_cast(captures: Captures) -> Iterator[tuple[Node, str]]:
    cast, arguments = first(captures, "at"), first(captures, "args")
    if cast is not None and arguments is not None and arguments.named_child_count == 0:
        yield cast, f"{text(cast, limit=60)}: call toArray(new T[0]) rather than cast Object[]"


def sub_list_cast(captures: Captures) -> Iterator[tuple[Node, str]]:
    cast = first(captures, "at")
    if cast is not None and type_name(first(captures, "type")) == "ArrayList":
        yield cast, "subList is a view, not an ArrayList: this cast throws ClassCastException"


MODIFYING = {"add", "addAll", "remove", "removeAll", "removeIf", "retainAll", "clear"}


def as_list_modified(captures: Captures) -> Iterator[tuple[Node, str]]:
    call, owner, name = first(captures, "at"), first(captures, "object"), first(captures, "name")
    if call is None or owner is None or text(name) not in MODIFYING:
        return
    declared = syntax.declaration_of(owner)
    value = declared.value if declared is not None else None
    if value is not None and value.type == "method_invocation" and \
            text(value.child_by_field_name("name")) == "asList" and \
            text(value.child_by_field_name("object")).rsplit(".", 1)[-1] in ("Arrays", ""):
        yield call, (f"[{text(owner)}] comes from Arrays.asList: {text(name)} throws "
                     "UnsupportedOperationException")


def foreach_modified(captures: Captures) -> Iterator[tuple[Node, str]]:
    collection, body = first(captures, "collection"), first(captures, "body")
    if collection is None or body is None:
        return
    name = text(collection)
    for call in syntax.descendants(body, {"method_invocation"}, stop=syntax.TYPE_BODIES):
        if text(call.child_by_field_name("object")) == name and \
                text(call.child_by_field_name("name")) in MODIFYING:
            method = text(call.child_by_field_name("name"))
            yield call, (f"{method} on [{name}] inside a foreach loop over it: "
                         "use an Iterator's remove, or removeIf")


CAPACITY_TYPES = {"HashMap", "LinkedHashMap", "ConcurrentHashMap", "HashSet", "LinkedHashSet"}


def collection_capacity(captures: Captures) -> Iterator[tuple[Node, str]]:
    creation = created(CAPACITY_TYPES)(captures)
    if creation is None or creation.child_by_field_name("body") is not None:
        return
    arguments = creation.child_by_field_name("arguments")
    if arguments is not None and arguments.named_child_count == 0:
        kind = type_name(creation.child_by_field_name("type"))
        yield creation, f"new {kind}() without an initial capacity"


# -- the rules -----------------------------------------------------------------------------------

TYPE_NAME_QUERY = """[
  (class_declaration name: (identifier) @name)
  (interface_declaration name: (identifier) @name)
  (enum_declaration name: (identifier) @name)
  (record_declaration name: (identifier) @name)
  (annotation_type_declaration name: (identifier) @name)
]"""



def creation_of(type_pattern: str) -> str:
    """A query for `new T(...)` of a type whose text matches `type_pattern` (the check decides
    exactly; the predicate only keeps the other creations away from it)."""
    return (f'(object_creation_expression type: (_) @type '
            f'(#match? @type "(^|[.]){type_pattern}(<.*)?$")) @at')


def each_with(predicate: str, *patterns: str) -> str:
    """The `patterns` as one query, each with `predicate` (a predicate applies to the pattern it
    is in, so an alternation `[...]` cannot share one)."""
    return "\n".join(f"({pattern} {predicate})" for pattern in patterns)


EQUALITY_QUERY = """(binary_expression left: (_) @left operator: ["==" "!="]
                                       right: (_) @right) @at"""


BUILTIN_RULES: tuple[Rule, ...] = (
    # naming
    Rule("ClassNamingShouldBeCamelRule", "naming", "major",
         "Class names are UpperCamelCase, except domain model suffixes (DO, BO, DTO, VO, DAO).",
         TYPE_NAME_QUERY, class_naming),
    Rule("AbstractClassShouldStartWithAbstractNamingRule", "naming", "critical",
         "Abstract class names start with Abstract or Base.",
         '(class_declaration (modifiers "abstract") name: (identifier) @name) @at',
         abstract_class_naming),
    Rule("ExceptionClassShouldEndWithExceptionRule", "naming", "critical",
         "Exception class names end with Exception.",
         "(class_declaration name: (identifier) @name superclass: (superclass (_) @super))",
         exception_class_naming),
    Rule("TestClassShouldEndWithTestNamingRule", "naming", "major",
         "Classes with @Test methods are named ...Test (or ...Tests, ...TestCase).",
         "(class_declaration name: (identifier) @name body: (class_body) @body)",
         test_class_naming),
    Rule("LowerCamelCaseVariableNamingRule", "naming", "critical",
         "Method, parameter, field and local variable names are lowerCamelCase.",
         each_with('(#not-match? @name "^[a-z][a-zA-Z0-9]*$")',
                   "(method_declaration name: (identifier) @name) @method",
                   "(formal_parameter name: (identifier) @name)",
                   "(catch_formal_parameter name: (identifier) @name)",
                   "(enhanced_for_statement name: (identifier) @name)",
                   "(local_variable_declaration declarator: "
                   "(variable_declarator name: (identifier) @name))",
                   "(field_declaration declarator: "
                   "(variable_declarator name: (identifier) @name)) @field"),
         lower_camel_naming),
    Rule("ConstantFieldShouldBeUpperCaseRule", "naming", "critical",
         "Constants (static final fields) are UPPER_SNAKE_CASE.",
         each_with('(#not-match? @name "^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$")',
                   "(field_declaration declarator: "
                   "(variable_declarator name: (identifier) @name)) @field",
                   "(constant_declaration declarator: "
                   "(variable_declarator name: (identifier) @name)) @field"),
         constant_naming),
    Rule("AvoidStartWithDollarAndUnderLineNamingRule", "naming", "critical",
         "No name starts or ends with an underscore or a dollar sign.",
         each_with('(#match? @name "^[_$]|[_$]$")',
                   *(f"({kind} name: (identifier) @name)" for kind in (
                       "class_declaration", "interface_declaration", "enum_declaration",
                       "record_declaration", "method_declaration", "variable_declarator",
                       "formal_parameter"))),
         dollar_underscore_naming),
    Rule("ServiceOrDaoClassShouldEndWithImplRule", "naming", "critical",
         "A class implementing a Service or DAO interface ends with Impl.",
         "(class_declaration name: (identifier) @name interfaces: (super_interfaces)) @at",
         service_impl_naming),
    Rule("PackageNamingRule", "naming", "major",
         "Package names are lower case, one word per level.",
         "(package_declaration [(identifier) (scoped_identifier)] @name)", package_naming),
    # comments
    Rule("ClassMustHaveAuthorRule", "comment", "major",
         "Every top-level type has a Javadoc comment with an @author tag.",
         """(program [(class_declaration) (interface_declaration) (enum_declaration)
                      (record_declaration) (annotation_type_declaration)] @at)""",
         class_author),
    Rule("AbstractMethodOrInterfaceMethodMustUseJavadocRule", "comment", "major",
         "Abstract methods, including interface methods, have a Javadoc comment.",
         """[
           (class_body (method_declaration (modifiers "abstract")) @at)
           (interface_body (method_declaration) @at)
         ]""", abstract_method_javadoc),
    # concurrency
    Rule("ThreadPoolCreationRule", "concurrent", "blocker",
         "Thread pools are made with ThreadPoolExecutor, not Executors.",
         """(method_invocation object: (_) @object name: (identifier) @name
              (#match? @object "Executors$") (#match? @name "^new")) @at""",
         thread_pool_creation),
    Rule("AvoidUseTimerRule", "concurrent", "blocker",
         "Tasks are scheduled with ScheduledExecutorService, not Timer.",
         creation_of("Timer"), timer_creation),
    Rule("AvoidCallStaticSimpleDateFormatRule", "concurrent", "critical",
         "SimpleDateFormat, which is not thread-safe, is not kept in a static field.",
         """(field_declaration (modifiers "static") type: (_) @type
              declarator: (variable_declarator name: (identifier) @name)
              (#match? @type "DateFormat$")) @field""", static_date_format),
    Rule("AvoidManuallyCreateThreadRule", "concurrent", "critical",
         "Threads come from thread pools, not from explicit new Thread.",
         creation_of("Thread"), thread_creation),
    Rule("ThreadShouldSetNameRule", "concurrent", "critical",
         "Thread pools are given a ThreadFactory that names their threads.",
         creation_of("ThreadPoolExecutor"), thread_name),
    Rule("LockShouldWithTryFinallyRule", "concurrent", "blocker",
         "lock() is followed at once by a try block whose finally unlocks.",
         """(expression_statement (method_invocation name: (identifier) @name
              arguments: (argument_list) @args (#eq? @name "lock"))) @at""",
         lock_try_finally),
    # constants
    Rule("UpperEllRule", "constant", "blocker",
         "Long literals end with an upper-case L, not l.",
         """([(decimal_integer_literal) (hex_integer_literal) (octal_integer_literal)
              (binary_integer_literal)] @at (#match? @at "l$"))""", upper_ell),
    Rule("UndefineMagicConstantRule", "constant", "major",
         "Conditions compare with named constants, not magic values.",
         """[
           (if_statement condition: (_) @condition)
           (while_statement condition: (_) @condition)
           (do_statement condition: (_) @condition)
         ]""", magic_constant),
    # flow control
    Rule("SwitchStatementRule", "flowcontrol", "critical",
         "A switch statement has a default label, and every case ends with break, return, "
         "throw or continue, or says it falls through.",
         "(switch_expression body: (switch_block) @body) @at", switch_statement),
    Rule("NeedBraceRule", "flowcontrol", "blocker",
         "if, else, for, while and do bodies are in braces.",
         """[
           (if_statement consequence: (_) @body) @at
           (if_statement alternative: (_) @body @else) @at
           (for_statement body: (_) @body) @at
           (enhanced_for_statement body: (_) @body) @at
           (while_statement body: (_) @body) @at
           (do_statement body: (_) @body) @at
         ]""", need_brace),
    # exceptions
    Rule("AvoidReturnInFinallyRule", "exception", "critical",
         "A finally block does not return.",
         "(finally_clause) @at", return_in_finally),
    # object-oriented programming
    Rule("EqualsAvoidNullRule", "oop", "critical",
         'equals is called on the constant: "x".equals(obj), not obj.equals("x").',
         """(method_invocation object: (_) @object name: (identifier) @name
              arguments: (argument_list . (string_literal) @arg .)
              (#match? @name "^equals(IgnoreCase)?$")) @at""", equals_avoid_null),
    Rule("WrapperTypeEqualityRule", "oop", "blocker",
         "Wrapper objects (Integer, Long, ...) are compared with equals, not ==.",
         """(binary_expression left: (identifier) @left operator: ["==" "!="]
              right: (identifier) @right) @at""", wrapper_equality),
    Rule("StringConcatRule", "oop", "major",
         "Strings built in a loop use a StringBuilder, not +.",
         """[
           (assignment_expression left: (identifier) @left operator: "+=") @at
           (assignment_expression left: (identifier) @left operator: "="
              right: (binary_expression left: (identifier) @first operator: "+")) @at
         ]""", string_concat),
    Rule("BigDecimalAvoidDoubleConstructorRule", "oop", "major",
         "BigDecimal is not made from a double with new BigDecimal(double).",
         """(object_creation_expression type: (_) @type
              arguments: (argument_list . (_) @arg .) (#match? @type "BigDecimal$")) @at""",
         big_decimal_double),
    # other
    Rule("AvoidPatternCompileInMethodRule", "other", "blocker",
         "A regular expression of a constant is compiled once, not in each method call.",
         """(method_invocation object: (_) @object name: (identifier) @name
              arguments: (argument_list . (string_literal))
              (#eq? @name "compile") (#match? @object "Pattern$")) @at""", pattern_compile),
    Rule("AvoidNewDateGetTimeRule", "other", "blocker",
         "The time in milliseconds is System.currentTimeMillis(), not new Date().getTime().",
         """(method_invocation object: (object_creation_expression) @creation
              name: (identifier) @name (#eq? @name "getTime")) @at""", new_date_get_time),
    Rule("AvoidMissUseOfMathRandomRule", "other", "major",
         "Math.random() is not cast to int or long (it is always 0).",
         """(cast_expression type: (integral_type) @type
              value: (method_invocation object: (identifier) @object name: (identifier) @name
                (#eq? @object "Math") (#eq? @name "random"))) @at""", math_random_cast),
    Rule("AvoidDoubleOrFloatEqualCompareRule", "other", "critical",
         "Floating-point numbers are not compared with == or !=.",
         EQUALITY_QUERY, floating_equality),
    # collections
    Rule("ClassCastExceptionWithToArrayRule", "set", "critical",
         "toArray() without an array argument is not cast to a typed array.",
         """(cast_expression type: (array_type)
              value: (method_invocation name: (identifier) @name arguments: (argument_list) @args
                (#eq? @name "toArray"))) @at""", to_array_cast),
    Rule("ClassCastExceptionWithSubListToArrayListRule", "set", "critical",
         "The result of subList is not cast to ArrayList.",
         """(cast_expression type: (_) @type
              value: (method_invocation name: (identifier) @name
                (#eq? @name "subList"))) @at""", sub_list_cast),
    Rule("UnsupportedExceptionWithModifyAsListRule", "set", "critical",
         "A list from Arrays.asList is not added to, removed from or cleared.",
         """(method_invocation object: (identifier) @object name: (identifier) @name
              (#any-of? @name "add" "addAll" "remove" "removeAll" "removeIf" "retainAll"
                "clear")) @at""", as_list_modified),
    Rule("DontModifyInForeachCircleRule", "set", "blocker",
         "A collection is not added to or removed from inside a foreach loop over it.",
         """(enhanced_for_statement value: (identifier) @collection body: (_) @body) @at""",
         foreach_modified),
    Rule("CollectionInitShouldAssignCapacityRule", "set", "major",
         "Hash maps and sets are created with an initial capacity.",
         creation_of("(HashMap|LinkedHashMap|ConcurrentHashMap|HashSet|LinkedHashSet)"),
         collection_capacity),
)

BUILTIN_IDS = frozenset(rule.id for rule in BUILTIN_RULES)
