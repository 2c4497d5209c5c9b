"""java_code_scan throughput: files and lines per second of a full scan with every built-in rule,
on a generated tree of Java files, against tree-sitter's parse alone of the same files (the
floor: every scan parses each file once) measured in the same run.

    python bench/java_scan.py [--files 500] [--repeat 3]

Each generated file is a documented class of about 120 lines: fields, constants, a dozen methods
with loops, switches, collections and comparisons, and a few violations (a brace-less if, an
`Executors` pool, a magic number). The scan reads the files from disk as the step does; the
figures are the best of `--repeat` scans, after one warm-up that compiles the queries.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flowplan.steps.java_scan.rules import BUILTIN_RULES  # noqa: E402
from flowplan.steps.java_scan.scanner import (  # noqa: E402
    Excludes, java_files, parse, read_file, scan)

METHOD = """
    /**
     * Step {n} of the work.
     */
    public int step{n}(List<String> items, Map<String, Integer> counts, int limit) {{
        int total = 0;
        for (String item : items) {{
            if (item.isEmpty()) {{
                continue;
            }}
            Integer seen = counts.get(item);
            total += seen == null ? 1 : seen + 1;
        }}
        switch (total % 3) {{
            case 0:
                total += limit;
                break;
            case 1:
                total -= 1;
                break;
            default:
                break;
        }}
        StringBuilder text = new StringBuilder();
        for (int i = 0; i < limit; i++) {{
            text.append(i).append(',');
        }}
        return "none".equals(text.toString()) ? 0 : total;
    }}
"""

VIOLATIONS = """
    public void careless(List<String> items) {
        if (items.size() > 42)
            return;
        ExecutorService pool = Executors.newFixedThreadPool(4);
        pool.submit(() -> items.clear());
    }
"""


def java_source(index: int, methods: int = 4) -> str:
    body = "".join(METHOD.format(n=n) for n in range(methods))
    return (f"package com.example.module{index % 20};\n\n"
            "import java.util.List;\nimport java.util.Map;\n"
            "import java.util.concurrent.ExecutorService;\n"
            "import java.util.concurrent.Executors;\n\n"
            f"/**\n * Generated class {index}.\n *\n * @author bench\n */\n"
            f"public class Generated{index} {{\n"
            f"    private static final int LIMIT = {index};\n"
            "    private final Map<String, Integer> cache = new java.util.HashMap<>(16);\n"
            f"{body}{VIOLATIONS if index % 5 == 0 else ''}}}\n")


def generate(root: Path, count: int) -> int:
    lines = 0
    for index in range(count):
        path = root / f"src/main/java/com/example/module{index % 20}/Generated{index}.java"
        path.parent.mkdir(parents=True, exist_ok=True)
        source = java_source(index)
        path.write_text(source, encoding="utf-8")
        lines += source.count("\n")
    return lines


def best(repeat: int, work) -> tuple[float, object]:
    timings, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = work()
        timings.append(time.perf_counter() - started)
    return min(timings), result


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    options.add_argument("--files", type=int, default=500)
    options.add_argument("--repeat", type=int, default=3)
    arguments = options.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        workspace = Path(directory)
        lines = generate(workspace, arguments.files)
        paths, _notes = java_files(workspace, workspace, Excludes.of([]))
        scan(workspace, paths[:1], BUILTIN_RULES)                  # compiles the queries

        def parse_only() -> int:
            for relative in paths:
                parse(read_file(workspace, relative))
            return len(paths)

        parse_seconds, _ = best(arguments.repeat, parse_only)
        scan_seconds, result = best(arguments.repeat,
                                    lambda: scan(workspace, paths, BUILTIN_RULES))
    files = len(paths)
    print(f"{files} files, {lines} lines, {len(BUILTIN_RULES)} rules, "
          f"{len(result.findings)} findings; best of {arguments.repeat}")
    print(f"  read + parse only : {parse_seconds:7.3f} s  {files / parse_seconds:8.0f} files/s  "
          f"{lines / parse_seconds:9.0f} lines/s")
    print(f"  full scan         : {scan_seconds:7.3f} s  {files / scan_seconds:8.0f} files/s  "
          f"{lines / scan_seconds:9.0f} lines/s  ({scan_seconds / parse_seconds:.1f}x the parse)")


if __name__ == "__main__":
    main()
