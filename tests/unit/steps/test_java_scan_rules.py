"""The built-in rules of java_code_scan: each one finds its violation (at the line marked
`// here`) and leaves the clean form of the same code alone; ids, categories and severities are
p3c's."""

from __future__ import annotations

import textwrap

import pytest

from flowplan.steps.java_scan.rules import BUILTIN_IDS, BUILTIN_RULES, SEVERITIES
from flowplan.steps.java_scan.scanner import check_source


def unit(source: str) -> str:
    return textwrap.dedent(source).strip() + "\n"


def body(statements: str, members: str = "") -> str:
    """A documented class whose method `run` holds `statements`."""
    indented = textwrap.indent(textwrap.dedent(statements).strip(), " " * 8)
    extra = textwrap.indent(textwrap.dedent(members).strip(), " " * 4)
    return ("/**\n * Sample.\n *\n * @author flowplan\n */\n"
            "public class Sample {\n"
            f"{extra}\n"
            "    public void run(List<String> list, Integer a, Integer b, String s, double d,\n"
            "                    long n, Lock lock) {\n"
            f"{indented}\n"
            "    }\n"
            "}\n")


DOC = "/**\n * Doc.\n *\n * @author flowplan\n */\n"

# rule id -> (violating code, with `// here` on the reported line; clean code)
CASES: dict[str, tuple[str, str]] = {
    "ClassNamingShouldBeCamelRule": (
        DOC + "public class user_account { // here\n}\n",
        DOC + "public class UserAccount {\n}\n" + DOC + "class UserDO {\n}\n"),
    "AbstractClassShouldStartWithAbstractNamingRule": (
        DOC + "public abstract class Shape { // here\n}\n",
        DOC + "public abstract class AbstractShape {\n}\n" + DOC + "abstract class BaseShape {\n}\n"),
    "ExceptionClassShouldEndWithExceptionRule": (
        DOC + "public class PaymentFailed extends RuntimeException { // here\n}\n",
        DOC + "public class PaymentFailedException extends RuntimeException {\n}\n"),
    "TestClassShouldEndWithTestNamingRule": (
        DOC + "public class PaymentChecks { // here\n    @Test\n    public void pays() {\n    }\n}\n",
        DOC + "public class PaymentTest {\n    @Test\n    public void pays() {\n    }\n}\n"),
    "LowerCamelCaseVariableNamingRule": (
        body("int Max_count = 1; // here"),
        body("int maxCount = 1;", members="private static final int MAX_COUNT = 1;")),
    "ConstantFieldShouldBeUpperCaseRule": (
        body("", members="private static final int maxCount = 10; // here\n"
                         "final static int minCount = 1; // here"),
        body("", members="private static final int MAX_COUNT = 10;\n"
                         "private static final long serialVersionUID = 1L;\n"
                         "private int count = 0;")),
    "AvoidStartWithDollarAndUnderLineNamingRule": (
        body("String _name = s; // here"),
        body("String name = s;")),
    "ServiceOrDaoClassShouldEndWithImplRule": (
        DOC + "public class PaymentHandler implements PaymentService { // here\n}\n",
        DOC + "public class PaymentServiceImpl implements PaymentService {\n}\n"),
    "PackageNamingRule": (
        "package com.example.UserAccounts; // here\n\n" + DOC + "class Sample {\n}\n",
        "package com.example.accounts;\n\n" + DOC + "class Sample {\n}\n"),
    "ClassMustHaveAuthorRule": (
        "/**\n * No author here.\n */\npublic class Sample { // here\n}\n",
        DOC + "public class Sample {\n}\n"),
    "AbstractMethodOrInterfaceMethodMustUseJavadocRule": (
        DOC + "public interface Payments {\n    void pay(int amount); // here\n}\n",
        DOC + "public interface Payments {\n    /**\n     * Pays.\n     */\n"
              "    void pay(int amount);\n    default void log() {\n    }\n}\n"),
    "ThreadPoolCreationRule": (
        body("ExecutorService pool = Executors.newFixedThreadPool(4); // here"),
        body("ExecutorService pool = new ThreadPoolExecutor(1, 4, 0L, TimeUnit.SECONDS,\n"
             "        queue, factory);")),
    "AvoidUseTimerRule": (
        body("Timer timer = new Timer(); // here"),
        body("ScheduledExecutorService timer = scheduler();")),
    "AvoidCallStaticSimpleDateFormatRule": (
        body("", members="private static SimpleDateFormat format = make(); // here"),
        body("SimpleDateFormat format = new SimpleDateFormat(\"yyyy\");",
             members="private static final DateTimeFormatter FORMAT = formatter();")),
    "AvoidManuallyCreateThreadRule": (
        body("new Thread(this::work).start(); // here"),
        body("", members="public Thread newThread(Runnable task) {\n"
                         "    return new Thread(task, \"worker\");\n}")),
    "ThreadShouldSetNameRule": (
        body("pool = new ThreadPoolExecutor(1, 4, 0L, TimeUnit.SECONDS, queue); // here"),
        body("pool = new ThreadPoolExecutor(1, 4, 0L, TimeUnit.SECONDS, queue, namedFactory);")),
    "LockShouldWithTryFinallyRule": (
        body("lock.lock(); // here\nwork();\nlock.unlock();"),
        body("lock.lock();\ntry {\n    work();\n} finally {\n    lock.unlock();\n}")),
    "UpperEllRule": (
        body("long big = 12l; // here"),
        body("long big = 12L;")),
    "UndefineMagicConstantRule": (
        body("if (s.length() > 42) { // here\n    return;\n}"),
        body("if (s.length() > MAX_LENGTH) {\n    return;\n}\nif (n == 0) {\n    return;\n}")),
    "SwitchStatementRule": (
        body("switch (n) { // here\n    case 1:\n        work();\n        break;\n}"),
        body("switch (n) {\n    case 1:\n        work();\n        break;\n    default:\n"
             "        break;\n}\nint size = switch (s) {\n    case \"a\" -> 1;\n    default -> 2;\n};")),
    "NeedBraceRule": (
        body("if (a == null)\n    return; // here"),
        body("if (a == null) {\n    return;\n} else if (b == null) {\n    return;\n}")),
    "AvoidReturnInFinallyRule": (
        body("try {\n    work();\n} finally {\n    return; // here\n}"),
        body("try {\n    work();\n} finally {\n    Runnable r = () -> {\n        return;\n    };\n}")),
    "EqualsAvoidNullRule": (
        body("boolean admin = s.equals(\"admin\"); // here"),
        body("boolean admin = \"admin\".equals(s);")),
    "WrapperTypeEqualityRule": (
        body("boolean same = a == b; // here"),
        body("boolean same = a.equals(b);\nboolean none = a == null;")),
    "StringConcatRule": (
        body("for (String item : items()) {\n    s += item; // here\n}"),
        body("StringBuilder all = new StringBuilder();\nfor (String item : items()) {\n"
             "    all.append(item);\n}\ns += \"done\";")),
    "BigDecimalAvoidDoubleConstructorRule": (
        body("BigDecimal price = new BigDecimal(0.1); // here"),
        body("BigDecimal price = new BigDecimal(\"0.1\");\nBigDecimal other = BigDecimal.valueOf(d);")),
    "AvoidPatternCompileInMethodRule": (
        body("Pattern digits = Pattern.compile(\"[0-9]+\"); // here"),
        body("boolean found = DIGITS.matcher(s).find();",
             members="private static final Pattern DIGITS = Pattern.compile(\"[0-9]+\");")),
    "AvoidNewDateGetTimeRule": (
        body("long now = new Date().getTime(); // here"),
        body("long now = System.currentTimeMillis();")),
    "AvoidMissUseOfMathRandomRule": (
        body("int dice = (int) Math.random(); // here"),
        body("int dice = random.nextInt(6);\ndouble share = Math.random();")),
    "AvoidDoubleOrFloatEqualCompareRule": (
        body("boolean zero = d == 0.1; // here"),
        body("boolean zero = Math.abs(d - 0.1) < EPSILON;")),
    "ClassCastExceptionWithToArrayRule": (
        body("String[] all = (String[]) list.toArray(); // here"),
        body("String[] all = list.toArray(new String[0]);")),
    "ClassCastExceptionWithSubListToArrayListRule": (
        body("ArrayList<String> head = (ArrayList<String>) list.subList(0, 2); // here"),
        body("List<String> head = new ArrayList<>(list.subList(0, 2));")),
    "UnsupportedExceptionWithModifyAsListRule": (
        body("List<String> names = Arrays.asList(\"a\", \"b\");\nnames.add(\"c\"); // here"),
        body("List<String> names = new ArrayList<>(Arrays.asList(\"a\", \"b\"));\nnames.add(\"c\");")),
    "DontModifyInForeachCircleRule": (
        body("for (String item : list) {\n    if (item.isEmpty()) {\n"
             "        list.remove(item); // here\n    }\n}"),
        body("list.removeIf(String::isEmpty);\nfor (String item : list) {\n    work();\n}")),
    "CollectionInitShouldAssignCapacityRule": (
        body("Map<String, Integer> counts = new HashMap<>(); // here"),
        body("Map<String, Integer> counts = new HashMap<>(16);")),
}


def findings_of(source: str, rule_id: str):
    found, notes = check_source("Sample.java", source.encode("utf-8"), BUILTIN_RULES)
    assert notes == [], notes
    return [f for f in found if f.rule_id == rule_id]


def test_every_built_in_rule_has_a_case_and_there_are_at_least_twenty():
    assert set(CASES) == BUILTIN_IDS
    assert len(BUILTIN_IDS) >= 20


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_rule_finds_its_violation_on_the_marked_line(rule_id):
    violating, _clean = CASES[rule_id]
    marked = [n for n, line in enumerate(violating.splitlines(), 1) if "// here" in line]
    found = findings_of(violating, rule_id)
    assert [f.line for f in found] == marked, found
    rule = next(r for r in BUILTIN_RULES if r.id == rule_id)
    assert all(f.severity == rule.severity and f.message for f in found)


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_rule_leaves_the_clean_form_alone(rule_id):
    _violating, clean = CASES[rule_id]
    assert findings_of(clean, rule_id) == []


def test_severities_and_categories_are_p3cs():
    graded = {rule.id: (rule.category, rule.severity) for rule in BUILTIN_RULES}
    assert graded["ThreadPoolCreationRule"] == ("concurrent", "blocker")
    assert graded["NeedBraceRule"] == ("flowcontrol", "blocker")
    assert graded["WrapperTypeEqualityRule"] == ("oop", "blocker")
    assert graded["DontModifyInForeachCircleRule"] == ("set", "blocker")
    assert graded["SwitchStatementRule"] == ("flowcontrol", "critical")
    assert graded["ClassMustHaveAuthorRule"] == ("comment", "major")
    assert graded["ClassNamingShouldBeCamelRule"] == ("naming", "major")
    assert {severity for _category, severity in graded.values()} == set(SEVERITIES)


def test_a_case_that_falls_through_without_saying_so_is_reported_and_one_that_says_so_is_not():
    source = body("switch (n) {\n    case 1:\n        work();\n    case 2:\n        work();\n"
                  "        // falls through\n    case 3:\n        break;\n    default:\n"
                  "        break;\n}")
    found = findings_of(source, "SwitchStatementRule")
    assert [(f.line, f.message) for f in found] == [
        (11, "case does not end with break, return, throw or continue (or a comment saying it "
            "falls through)")]


def test_columns_count_characters_not_bytes():
    source = body('String héllo = "ü"; boolean x = s.equals("ä");')
    found, = findings_of(source, "EqualsAvoidNullRule")
    line = source.splitlines()[found.line - 1]
    assert line[found.column - 1:].startswith('s.equals("ä")')
