"""Putting values into shell scripts so that a value can never become code.

A `run` script is a template: literal text from the config with `${...}` expressions in it. Some
expression values come from outside the config (webhook payloads, `--var`, branch names, commit
messages) and are marked untrusted. `render_shell_template` pastes literal text and trusted
values as they are and pastes each untrusted value as data: quoted for the place in the script
where it lands, so a branch named `master; rm -rf ~` or `$(curl evil | sh)` is printed, passed or
compared as that text and never run.

Where the value lands matters: single quotes protect nothing inside `"..."`, and a newline ends a
`#` comment. So the renderer follows the script's quoting up to the value (a small lexer of the
bash syntax that changes quoting: quotes, `$(...)`, `${...}`, arithmetic, backticks, comments,
here-documents) and quotes for that place; for v = `a b`:

    unquoted           echo ${v}            ->  echo 'a b'
    in "..."           echo "x ${v}"        ->  echo "x "'a b'""      (close, quote, reopen)
    in '...'           echo 'x ${v}'        ->  echo 'x ''a b'''      (close, quote, reopen)
    here-document      cat <<EOF ... ${v}   ->  v with \\ $ ` escaped; a value line that would end
                                                the here-document is refused
    comment            # ${v}               ->  v with newlines written as \\n

A value in a place the renderer does not model (backticks, `$'...'`, `${x:-...}`, arithmetic,
after a lone `\\` or `$`, after a `case` inside `$(...)`) raises `ShellTemplateError`: refusing is
safe, guessing is not. Quoting makes a value one word of data; it cannot stop a program from
reading a word that starts with `-` as an option (`echo ${v}` with v = `-n`): write `--` where
that matters. In a `<<-` here-document bash strips leading tabs from every line, a value's too.

Evaluating `${...}` expressions and deciding which values are untrusted is the executor's job.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field


class ShellTemplateError(ValueError):
    """A value can't be put safely where the script places it."""


@dataclass(frozen=True, slots=True)
class Value:
    """An expression's value in a script; `untrusted` when it comes from outside the config."""

    text: str
    untrusted: bool = True


_SAFE_WORD = re.compile(r"[A-Za-z0-9_@%+:,./-]+")


def quote(value: str) -> str:
    """`value` as one POSIX shell word of data, in single quotes unless it needs none.

    Like `shlex.quote`, except that `=` is quoted too, so a value can't become an assignment
    (`X=1 cmd`) at the start of a command.
    """
    if "\0" in value:
        raise ShellTemplateError("a shell word can't hold a NUL character")
    if _SAFE_WORD.fullmatch(value):
        return value
    return "'" + value.replace("'", "'\"'\"'") + "'"


def render_shell_template(parts: Sequence[str | Value]) -> str:
    """The script: literals and trusted values as is, untrusted ones quoted for their place."""
    text = ""
    tainted: list[tuple[int, int]] = []
    for part in parts:
        if isinstance(part, str):
            text += part
        elif not part.untrusted:
            text += part.text
        else:
            before = _lex(text, tainted)
            pasted = _paste(part.text, before)
            start = len(text)
            text += pasted
            tainted.append((start, len(text)))
            after = _lex(text, tainted)
            if after.kinds != before.kinds:  # a paste must leave the quoting where it was
                raise ShellTemplateError(
                    f"an untrusted value would change the script's quoting ({before.describe()})")
    if tainted:
        _lex(text, tainted)  # refuses a value that completes a here-document's end line
    return text


def _paste(value: str, where: _LexEnd) -> str:
    if "\0" in value:
        raise ShellTemplateError("a shell script can't hold a NUL character")
    if where.uncertain:
        raise ShellTemplateError(
            "can't tell where an untrusted value lands after a `case` inside $(...) or an "
            "unclosed expansion in a here-document; assign it at the top of the script instead, "
            "e.g. VALUE=${...}")
    kind = where.kinds[-1]
    if where.dangling and kind in ("code", "double", "heredoc"):
        raise ShellTemplateError(
            f'an untrusted value can\'t follow a lone "{where.dangling}": '
            "it would change its meaning")
    if kind == "code":
        return quote(value)
    if kind == "double":
        return '"' + quote(value) + '"'
    if kind == "single":
        return "'" + quote(value) + "'"
    if kind == "comment":
        return value.replace("\r", "\\r").replace("\n", "\\n")
    if kind == "heredoc":
        if not where.heredoc_expands:
            return value
        return value.replace("\\", "\\\\").replace("$", "\\$").replace("`", "\\`")
    raise ShellTemplateError(
        f"an untrusted value can't be placed {where.describe()}; "
        "move it to a plain or double-quoted word, e.g. VALUE=${...} before that line")


@dataclass
class _Frame:
    kind: str  # code, single, double, ansi, backtick, param, arith, comment, heredoc
    closer: str = ""  # code opened by "$(": ")"; arith: "))" or "]"
    depth: int = 0  # open ( in code and arith, open { in param
    in_double: bool = False  # param inside "...": single quotes are plain characters there
    word: str = ""  # code: the plain word being read, to spot `case`
    word_start: bool = True  # code: the next character starts a word (so `#` starts a comment)
    delimiter: str = ""  # heredoc
    strip_tabs: bool = False  # heredoc opened by <<-
    expands: bool = True  # heredoc with an unquoted delimiter
    body_end: int = 0  # heredoc: where its end line starts
    resume_at: int = 0  # heredoc: just after its end line


@dataclass
class _LexEnd:
    kinds: tuple[str, ...]
    dangling: str = ""  # a lone "\\" or "$" at the very end
    uncertain: bool = False
    heredoc_expands: bool = True

    _NAMES = {
        "code": "in plain shell code", "single": "inside '...'", "double": 'inside "..."',
        "ansi": "inside $'...'", "backtick": "inside `...` (use $(...) instead)",
        "param": "inside ${...}", "arith": "inside arithmetic $((...))",
        "comment": "inside a # comment", "heredoc": "inside a here-document",
    }

    def describe(self) -> str:
        return self._NAMES[self.kinds[-1]]


_BOUNDARY = frozenset(" \t\n;&|()<>")


@dataclass
class _Lexer:
    text: str
    tainted: list[tuple[int, int]]
    stack: list[_Frame] = field(default_factory=lambda: [_Frame("code")])
    pending_heredocs: list[_Frame] = field(default_factory=list)
    uncertain: bool = False
    dangling: str = ""

    def run(self) -> _LexEnd:
        text, i = self.text, 0
        while i < len(text):
            i = self._step(i)
        top = self.stack[-1]
        return _LexEnd(tuple(frame.kind for frame in self.stack), self.dangling, self.uncertain,
                       top.expands if top.kind == "heredoc" else True)

    def _push(self, frame: _Frame) -> None:
        below = self.stack[-1]
        if below.kind == "code":
            below.word, below.word_start = "\0", False  # a quoted part: no keyword, no comment
        self.stack.append(frame)

    def _step(self, i: int) -> int:
        text, frame = self.text, self.stack[-1]
        self.dangling = ""
        heredoc = next((f for f in reversed(self.stack) if f.kind == "heredoc"), None)
        if heredoc is not None and i >= heredoc.body_end:
            if frame is not heredoc:  # an expansion left open at the end of the body
                self.uncertain = True
                del self.stack[self.stack.index(heredoc) + 1:]
            self.stack.pop()
            return heredoc.resume_at
        char = text[i]
        kind = frame.kind
        if kind == "single":
            if char == "'":
                self.stack.pop()
            return i + 1
        if kind == "comment":
            if char == "\n":
                self.stack.pop()
                return i  # the code frame sees the newline (it may start a here-document body)
            return i + 1
        if kind == "heredoc" and not frame.expands:
            return i + 1
        if char == "\\":
            if i + 1 == len(text):
                self.dangling = "\\"
            if kind == "code":
                frame.word, frame.word_start = "\0", False
            return i + 2
        if kind == "ansi":
            if char == "'":
                self.stack.pop()
            return i + 1
        if kind == "backtick":
            if char == "`":
                self.stack.pop()
            return i + 1
        if char == "`":
            self._push(_Frame("backtick"))
            return i + 1
        if char == "$":
            return self._dollar(i, frame)
        if kind == "double":
            if char == '"':
                self.stack.pop()
            return i + 1
        if kind == "heredoc":
            return i + 1
        if kind == "param":
            return self._param(i, frame)
        if kind == "arith":
            return self._arith(i, frame)
        return self._code(i, frame)

    def _dollar(self, i: int, frame: _Frame) -> int:
        text = self.text
        following = text[i + 1] if i + 1 < len(text) else ""
        if not following:
            self.dangling = "$"
            return i + 1
        if text.startswith("$((", i):
            self._push(_Frame("arith", closer="))"))
            return i + 3
        if following == "(":
            self._push(_Frame("code", closer=")"))
            return i + 2
        if following == "{":
            self._push(_Frame("param", in_double=frame.kind in ("double", "heredoc")))
            return i + 2
        if following == "[":
            self._push(_Frame("arith", closer="]"))
            return i + 2
        if frame.kind == "code" and following == "'":
            self._push(_Frame("ansi"))
            return i + 2
        if frame.kind == "code" and following == '"':
            self._push(_Frame("double"))
            return i + 2
        if frame.kind == "code":
            frame.word, frame.word_start = "\0", False
        if following in "#$?!@*-0123456789":  # special parameters: `$#` starts no comment
            return i + 2
        return i + 1

    def _param(self, i: int, frame: _Frame) -> int:
        char = self.text[i]
        if char == "'" and not frame.in_double:
            self.stack.append(_Frame("single"))
        elif char == '"':
            self.stack.append(_Frame("double"))
        elif char == "{":
            frame.depth += 1
        elif char == "}":
            if frame.depth:
                frame.depth -= 1
            else:
                self.stack.pop()
        return i + 1

    def _arith(self, i: int, frame: _Frame) -> int:
        text, char = self.text, self.text[i]
        opener = "[" if frame.closer == "]" else "("
        if char == '"':
            self.stack.append(_Frame("double"))
        elif char == opener:
            frame.depth += 1
        elif frame.depth and char == frame.closer[0]:
            frame.depth -= 1
        elif text.startswith(frame.closer, i):
            self.stack.pop()
            return i + len(frame.closer)
        return i + 1

    def _code(self, i: int, frame: _Frame) -> int:
        text, char = self.text, self.text[i]
        if char in _BOUNDARY:
            if frame.word == "case" and any(f.closer == ")" for f in self.stack):
                self.uncertain = True  # its patterns' ")" can't be told from the one closing $(
            frame.word, frame.word_start = "", True
        if char == "'":
            self._push(_Frame("single"))
            return i + 1
        if char == '"':
            self._push(_Frame("double"))
            return i + 1
        if char == "#" and frame.word_start:
            self.stack.append(_Frame("comment"))
            return i + 1
        if char == "(":
            if text.startswith("((", i):
                self.stack.append(_Frame("arith", closer="))"))
                return i + 2
            frame.depth += 1
        elif char == ")":
            if frame.depth:
                frame.depth -= 1
            elif frame.closer == ")":
                self.stack.pop()
        elif char == "<" and text.startswith("<<", i) and not text.startswith("<<<", i):
            return self._heredoc_operator(i)
        elif char == "\n":
            self._start_heredoc_bodies(i + 1)
        elif char not in _BOUNDARY:
            frame.word += char
            frame.word_start = False
        return i + 1

    def _heredoc_operator(self, i: int) -> int:
        text, j = self.text, i + 2
        strip_tabs = text.startswith("-", j)
        j += strip_tabs
        while j < len(text) and text[j] in " \t":
            j += 1
        delimiter, quoted = [], False
        while j < len(text) and text[j] not in _BOUNDARY:
            char = text[j]
            if char == "\\":
                delimiter.append(text[j + 1:j + 2])
                quoted, j = True, j + 2
            elif char in "'\"":
                end = text.find(char, j + 1)
                end = len(text) if end == -1 else end
                delimiter.append(text[j + 1:end])
                quoted, j = True, end + 1
            else:
                delimiter.append(char)
                j += 1
        if delimiter:
            self.pending_heredocs.append(_Frame(
                "heredoc", delimiter="".join(delimiter), strip_tabs=strip_tabs, expands=not quoted))
        return j

    def _start_heredoc_bodies(self, start: int) -> None:
        """Bodies follow the line that opened them, one after another: the first on top."""
        position, frames = start, []
        for heredoc in self.pending_heredocs:
            heredoc.body_end, heredoc.resume_at = self._heredoc_end(heredoc, position)
            frames.append(heredoc)
            position = heredoc.resume_at
        self.pending_heredocs = []
        self.stack.extend(reversed(frames))

    def _heredoc_end(self, heredoc: _Frame, start: int) -> tuple[int, int]:
        text, line_start = self.text, start
        while line_start < len(text):
            newline = text.find("\n", line_start)
            line_end = len(text) if newline == -1 else newline
            line = text[line_start:line_end]
            if (line.lstrip("\t") if heredoc.strip_tabs else line) == heredoc.delimiter:
                if any(s < line_end and line_start < e for s, e in self.tainted):
                    raise ShellTemplateError(
                        f"an untrusted value would end the here-document {heredoc.delimiter!r} "
                        "early: it holds a line equal to its delimiter")
                return line_start, (line_end + 1 if newline != -1 else line_end)
            if newline == -1:
                break
            line_start = newline + 1
        return len(text), len(text)


def _lex(text: str, tainted: list[tuple[int, int]]) -> _LexEnd:
    return _Lexer(text, tainted).run()
