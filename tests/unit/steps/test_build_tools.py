"""Selecting a JDK, Maven and Node.js from the settings' `tools`, and finding the programs a
step needs on its PATH: every miss is an error naming what is missing and how to provide it."""

from __future__ import annotations

import pytest

from steps_support import fake_jdk, program_dir

from flowplan.steps.tools import ToolMissing, select_tools


def executable(path, text="#!/bin/sh\n"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


def test_a_declared_jdk_sets_java_home_and_puts_its_bin_first_on_path(tmp_path):
    home = fake_jdk(tmp_path / "jdk17")
    setup = select_tools({"jdk": {"17": str(home)}}, {"PATH": "/usr/bin:/bin"},
                         ["java", "javac"], jdk="17")
    assert setup.environment == {"JAVA_HOME": str(home), "PATH": f"{home}/bin:/usr/bin:/bin"}
    assert setup.found == {"java": f"{home}/bin/java", "javac": f"{home}/bin/javac"}
    assert setup.describe() == f"java {home}/bin/java, javac {home}/bin/javac"


def test_a_declared_maven_home_or_mvn_file_puts_its_directory_first(tmp_path):
    mvn = executable(tmp_path / "maven-3.9" / "bin" / "mvn")
    other = executable(tmp_path / "elsewhere" / "mvn")
    tools = {"maven": {"3.9": str(tmp_path / "maven-3.9"), "file": str(other)}}
    home = select_tools(tools, {"PATH": "/bin"}, ["mvn"], maven="3.9")
    assert home.environment["PATH"] == f"{mvn.parent}:/bin" and home.found["mvn"] == str(mvn)
    single = select_tools(tools, {"PATH": "/bin"}, ["mvn"], maven="file")
    assert single.environment["PATH"] == f"{other.parent}:/bin"
    assert single.found["mvn"] == str(other)


def test_a_declared_node_prefix_brings_its_npm_and_a_node_file_finds_npm_on_path(tmp_path):
    prefix = tmp_path / "node20"
    node, npm = executable(prefix / "bin" / "node"), executable(prefix / "bin" / "npm")
    setup = select_tools({"node": {"20": str(prefix)}}, {"PATH": "/nowhere"}, ["node", "npm"],
                         node="20")
    assert setup.found == {"node": str(node), "npm": str(npm)}
    lone = executable(tmp_path / "lone" / "node")
    with pytest.raises(ToolMissing) as missing:
        select_tools({"node": {"20": str(lone)}}, {"PATH": "/nowhere"}, ["node", "npm"],
                     node="20")
    assert str(missing.value) == (
        f'npm is not on the step\'s PATH ({lone.parent}:/nowhere), although node "20" is '
        "selected: install npm (Debian package npm) next to it")


def test_an_undeclared_version_lists_the_declared_ones_in_natural_order(tmp_path):
    tools = {"jdk": {"21": str(tmp_path), "8": str(tmp_path), "17": str(tmp_path)}}
    with pytest.raises(ToolMissing) as missing:
        select_tools(tools, {}, ["java"], jdk="11")
    assert str(missing.value) == 'jdk "11" is not in the tools settings (declared: 8, 17, 21)'


def test_a_version_asked_for_with_none_declared_says_how_to_declare_one():
    with pytest.raises(ToolMissing) as missing:
        select_tools({}, {}, ["mvn"], maven="3.9")
    assert str(missing.value) == (
        'maven "3.9" is not in the tools settings, which declare no maven: declare it as '
        'flowplan { tools { maven = { "3.9" = "/usr/share/maven" } } }')


def test_a_declared_path_that_is_missing_or_holds_no_program_is_named(tmp_path):
    with pytest.raises(ToolMissing) as missing:
        select_tools({"jdk": {"17": str(tmp_path / "gone")}}, {}, ["java"], jdk="17")
    assert str(missing.value) == f'jdk "17" is declared at {tmp_path}/gone, which does not exist'
    (tmp_path / "empty").mkdir()
    with pytest.raises(ToolMissing) as missing:
        select_tools({"node": {"20": str(tmp_path / "empty")}}, {}, ["node"], node="20")
    assert str(missing.value) == (f'node "20" declared at {tmp_path}/empty/bin/node has no '
                                  f"runnable node ({tmp_path}/empty/bin/node does not exist)")


def test_a_jdk_without_javac_is_called_a_jre(tmp_path):
    home = fake_jdk(tmp_path / "jre", programs=("java",))
    with pytest.raises(ToolMissing) as missing:
        select_tools({"jdk": {"17": str(home)}}, {}, ["java", "javac"], jdk="17")
    assert str(missing.value).startswith(
        f"javac is not in {home}/bin (a JRE without a compiler?): JAVA_HOME {home} comes from "
        'jdk "17" of the tools settings; install a JDK (not only a JRE) (Debian package '
        "openjdk-17-jdk-headless)")


def test_java_home_of_the_step_environment_is_used_without_a_jdk_version(tmp_path):
    home = fake_jdk(tmp_path / "jdk")
    setup = select_tools({}, {"PATH": "/nowhere", "JAVA_HOME": str(home)}, ["java"])
    assert setup.found == {"java": f"{home}/bin/java"} and setup.environment == {}
    with pytest.raises(ToolMissing) as missing:
        select_tools({}, {"PATH": "/nowhere", "JAVA_HOME": str(tmp_path / "nojdk")}, ["java"])
    assert "JAVA_HOME in the step's environment" in str(missing.value)


@pytest.mark.parametrize("program, package, kind", [
    ("mvn", "maven", "maven"), ("java", "openjdk-17-jdk-headless", "jdk"),
    ("node", "nodejs", "node"), ("npm", "npm", "node")])
def test_a_program_missing_from_path_names_its_package_and_the_tools_setting(
        tmp_path, program, package, kind):
    empty = program_dir(tmp_path)
    with pytest.raises(ToolMissing) as missing:
        select_tools({}, {"PATH": str(empty)}, [program])
    text = str(missing.value)
    assert text.startswith(f"{program} is not on the step's PATH ({empty}): install ")
    assert f"(Debian package {package})" in text
    assert f"flowplan {{ tools {{ {kind} = {{ " in text and f'select it on the step with {kind}' \
        in text


def test_programs_on_path_are_found_without_any_setting(tmp_path):
    directory = program_dir(tmp_path, "node", "npm")
    setup = select_tools({}, {"PATH": str(directory)}, ["node", "npm"])
    assert setup.found == {"node": str(directory / "node"), "npm": str(directory / "npm")}
    assert setup.environment == {}


def test_a_version_written_as_a_number_is_text_and_a_fraction_is_refused():
    from pydantic import ValidationError

    from flowplan.steps.maven import JavaBuildStep

    assert JavaBuildStep(type="java_build", jdk=17).jdk == "17"
    with pytest.raises(ValidationError) as refused:
        JavaBuildStep(type="java_build", maven=3.10)
    assert "write the version in quotes: 3.1 is a number" in str(refused.value)
