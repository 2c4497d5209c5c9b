"""Finding the build tools a step runs: a JDK, Maven, Node.js and npm.

A step names a version (`jdk = "17"`, `maven = "3.8"`, `node = "20"`) of a tool the settings
declare in `flowplan { tools { ... } }` (StepContext.tools: kind, version, absolute path):

- a JDK is a JAVA_HOME: the step gets `JAVA_HOME` and its `bin` first on PATH;
- Maven is a Maven home (holding `bin/mvn`) or the `mvn` file itself: its directory goes first;
- Node.js is a prefix (holding `bin/node`) or the `node` file itself: its directory goes first,
  so `npm` and scripts starting with `#!/usr/bin/env node` get that node.

Without a version, a step uses what its environment's PATH (and JAVA_HOME) gives. Either way the
programs a step needs are looked up before it starts anything: a missing one is a `ToolMissing`
naming the program, the Debian package that has it and the setting that would declare one, so
the step fails with that instead of a bare "exit code 127". What a step runs is the step type's
(flowplan.steps.maven, flowplan.steps.nodejs).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Optional

from pydantic import BeforeValidator


class ToolMissing(Exception):
    """A tool a step asks for, or a program it needs, is not there; the text says what to do."""


@dataclass(frozen=True)
class Program:
    """How to tell a person where a program comes from."""

    kind: str              # the `tools` setting that declares it
    what: str              # "a JDK", "Maven", ...
    package: str           # the Debian package that has it
    example: str           # a declaration for the `tools` setting


PROGRAMS: dict[str, Program] = {
    "java": Program("jdk", "a JDK", "openjdk-17-jdk-headless",
                    '"17" = "/usr/lib/jvm/java-17-openjdk-amd64"'),
    "javac": Program("jdk", "a JDK (not only a JRE)", "openjdk-17-jdk-headless",
                     '"17" = "/usr/lib/jvm/java-17-openjdk-amd64"'),
    "mvn": Program("maven", "Maven", "maven", '"3.8" = "/usr/share/maven"'),
    "node": Program("node", "Node.js", "nodejs", '"20" = "/usr"'),
    "npm": Program("node", "npm", "npm", '"20" = "/usr"'),
}

# The program inside a declared location, by kind.
MAIN_PROGRAM = {"jdk": "java", "maven": "mvn", "node": "node"}


def _version_text(value: Any) -> Any:
    """`jdk = 17` means "17"; a fractional number would lose digits (3.10 is 3.1), so it must be
    written as a string."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        raise ValueError(f"write the version in quotes: {value} is a number, and as a number "
                         "3.10 would be 3.1")
    return value


# A step attribute naming a tool version of the `tools` settings.
ToolVersion = Annotated[Optional[str], BeforeValidator(_version_text)]


@dataclass(frozen=True)
class ToolSetup:
    """What the selected tools add to a step's environment, and where each program was found."""

    environment: dict[str, str] = field(default_factory=dict)   # JAVA_HOME, PATH
    found: dict[str, str] = field(default_factory=dict)         # program: path

    def describe(self) -> str:
        """`java /usr/lib/jvm/.../bin/java, mvn /usr/bin/mvn`, for the step's log."""
        return ", ".join(f"{name} {path}" for name, path in self.found.items())


def select_tools(tools: Mapping[str, Mapping[str, str]], environment: Mapping[str, str],
                 needs: Sequence[str], *, jdk: str | None = None, maven: str | None = None,
                 node: str | None = None) -> ToolSetup:
    """The environment additions for the versions asked for, after checking that every program
    in `needs` is there with them; ToolMissing otherwise."""
    path = environment.get("PATH", os.defpath)
    additions: dict[str, str] = {}
    first: list[str] = []
    if jdk:
        home = declared(tools, "jdk", jdk)
        _require_file(home / "bin" / "java", "jdk", jdk, home)
        additions["JAVA_HOME"] = str(home)
        first.append(str(home / "bin"))
    if maven:
        first.append(str(_program_dir(tools, "maven", maven)))
    if node:
        first.append(str(_program_dir(tools, "node", node)))
    if first:
        path = os.pathsep.join([*dict.fromkeys(first), path]) if path else \
            os.pathsep.join(dict.fromkeys(first))
        additions["PATH"] = path
    java_home = additions.get("JAVA_HOME") or environment.get("JAVA_HOME")
    found: dict[str, str] = {}
    for program in needs:
        if program in ("java", "javac") and java_home:
            candidate = Path(java_home) / "bin" / program
            if not _runnable(candidate):
                raise ToolMissing(_java_home_problem(program, java_home, bool(jdk), jdk))
            found[program] = str(candidate)
            continue
        located = shutil.which(program, path=path)
        if located is None:
            raise ToolMissing(_not_on_path(program, path, {"jdk": jdk, "maven": maven,
                                                           "node": node}))
        found[program] = located
    return ToolSetup(additions, found)


def declared(tools: Mapping[str, Mapping[str, str]], kind: str, version: str) -> Path:
    """Where the settings put version `version` of `kind`; ToolMissing when they do not declare
    it or the path does not exist."""
    versions = tools.get(kind) or {}
    if version not in versions:
        if versions:
            raise ToolMissing(f'{kind} "{version}" is not in the tools settings (declared: '
                              f"{', '.join(sorted(versions, key=_version_key))})")
        example = PROGRAMS[MAIN_PROGRAM[kind]].example.split(" = ")[1]
        raise ToolMissing(f'{kind} "{version}" is not in the tools settings, which declare no '
                          f'{kind}: declare it as flowplan {{ tools {{ {kind} = {{ "{version}" = '
                          f"{example} }} }} }}")
    location = Path(versions[version])
    if not location.exists():
        raise ToolMissing(f'{kind} "{version}" is declared at {location}, which does not exist')
    return location


def _program_dir(tools: Mapping[str, Mapping[str, str]], kind: str, version: str) -> Path:
    """The directory holding the program of a declared home or prefix, or of the program file."""
    location = declared(tools, kind, version)
    program = MAIN_PROGRAM[kind]
    if location.is_dir():
        location = location / "bin" / program
    _require_file(location, kind, version, location)
    return location.parent


def _require_file(program: Path, kind: str, version: str, declared_at: Path) -> None:
    if not _runnable(program):
        raise ToolMissing(f'{kind} "{version}" declared at {declared_at} has no runnable '
                          f"{program.name} ({program} {_what_is_wrong(program)})")


def _runnable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _what_is_wrong(path: Path) -> str:
    if not path.exists():
        return "does not exist"
    if not path.is_file():
        return "is not a file"
    return "is not executable"


def _java_home_problem(program: str, java_home: str, selected: bool, jdk: str | None) -> str:
    source = f'jdk "{jdk}" of the tools settings' if selected else \
        "JAVA_HOME in the step's environment"
    extra = " (a JRE without a compiler?)" if program == "javac" else ""
    return (f"{program} is not in {java_home}/bin{extra}: JAVA_HOME {java_home} comes from "
            f"{source}; install {PROGRAMS[program].what} (Debian package "
            f"{PROGRAMS[program].package}) or point it at one")


def _not_on_path(program: str, path: str, asked: Mapping[str, str | None]) -> str:
    about = PROGRAMS[program]
    shown = path if len(path) <= 200 else path[:200] + "..."
    if asked.get(about.kind):
        # the tool was selected, but this program of it is missing (npm next to a node binary)
        return (f'{program} is not on the step\'s PATH ({shown}), although {about.kind} '
                f'"{asked[about.kind]}" is selected: install {about.what} (Debian package '
                f"{about.package}) next to it")
    return (f"{program} is not on the step's PATH ({shown}): install {about.what} (Debian "
            f"package {about.package}), or declare one in the settings, flowplan {{ tools {{ "
            f"{about.kind} = {{ {about.example} }} }} }}, and select it on the step with "
            f"{about.kind} = \"{about.example.split(' = ')[0].strip(chr(34))}\"")


def _version_key(version: str) -> list[Any]:
    """Natural order: 8 < 11 < 17, 3.8 < 3.9 < 3.10."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part)
            for part in re.split(r"(\d+)", version) if part]
