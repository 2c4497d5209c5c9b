"""Step logs: lines with streams and timestamps, binary output, the per-step cap, following."""

from __future__ import annotations

import threading
import time
import tracemalloc

from conftest import log_text, make_service, one_step, steps_of

from flowplan.executor.settings import LogLimits
from flowplan.executor.status import Status
from flowplan.executor.step_process.logs import StepLog


class Chunks:
    def __init__(self) -> None:
        self.chunks: list[dict] = []

    def add(self, chunk: dict) -> None:
        self.chunks.append(chunk)

    def lines(self) -> list[tuple[int, str, str]]:
        result = []
        for chunk in self.chunks:
            for offset, text in enumerate(chunk["text"].split("\n")):
                result.append((chunk["first_seq"] + offset, chunk["stream"], text))
        return result


def step_log(limits: LogLimits = LogLimits(), mask=None) -> tuple[StepLog, Chunks]:
    sink = Chunks()
    return StepLog(sink, 1, 1, mask, limits), sink


def test_a_line_split_across_reads_is_joined():
    log, sink = step_log()
    log.feed("stdout", b"hel", 1.0)
    log.feed("stdout", b"lo\nwor", 2.0)
    log.feed("stderr", b"oops\n", 2.5)
    log.feed("stdout", b"ld\n", 3.0)
    assert sink.lines() == [(1, "stdout", "hello"), (2, "stderr", "oops"), (3, "stdout", "world")]


def test_the_last_line_without_newline_is_kept_at_the_end():
    log, sink = step_log()
    log.feed("stdout", b"a\nno newline", 1.0)
    log.end(2.0)
    assert [text for _seq, _stream, text in sink.lines()] == ["a", "no newline"]


def test_invalid_utf8_and_nul_bytes_become_replacement_characters():
    log, sink = step_log()
    log.feed("stdout", b"ok \xff\xfe bad \x00 nul\n", 1.0)
    assert sink.lines() == [(1, "stdout", "ok \ufffd\ufffd bad \ufffd nul")]


def test_an_endless_line_is_cut_into_pieces():
    log, sink = step_log(LogLimits(max_line_bytes=10))
    log.feed("stdout", b"x" * 25, 1.0)
    log.end(2.0)
    assert [len(text) for _seq, _stream, text in sink.lines()] == [10, 10, 5]


def test_lines_past_the_cap_keep_the_head_and_the_tail_saying_what_was_left_out():
    log, sink = step_log(LogLimits(max_lines=10, tail_lines=3))
    printed = "".join(f"line {i}\n" for i in range(1, 101)).encode()
    for start in range(0, len(printed), 37):              # reads cut lines anywhere
        log.feed("stdout", printed[start:start + 37], 1.0)
    log.end(2.0)
    left_out = sum(len(f"line {i}\n") for i in range(7, 98))
    assert sink.lines() == [
        *[(i, "stdout", f"line {i}") for i in range(1, 7)],
        (7, "system", f"... {left_out} bytes (91 lines) left out ..."),
        (8, "stdout", "line 98"), (9, "stdout", "line 99"), (10, "stdout", "line 100")]
    assert log.counters() == {"log_lines": 100, "log_bytes": len(printed), "log_dropped": 91}


def test_the_tail_keeps_streams_and_lines_the_executor_says_after_it(config_dir):
    log, sink = step_log(LogLimits(max_lines=6, tail_lines=2))
    log.feed("stdout", b"a\nb\nc\nd\ne\n", 1.0)
    log.feed("stderr", b"error: it broke\n", 2.0)
    log.end(3.0)
    log.say("archived 1 path", 4.0)
    assert [(stream, text) for _seq, stream, text in sink.lines()] == [
        ("stdout", "a"), ("stdout", "b"), ("stdout", "c"),
        ("system", "... 2 bytes (1 line) left out ..."),
        ("stdout", "e"), ("stderr", "error: it broke"), ("system", "archived 1 path")]
    assert log.counters()["log_dropped"] == 1


def test_a_log_that_fits_head_and_tail_leaves_nothing_out():
    log, sink = step_log(LogLimits(max_lines=10, tail_lines=4))
    log.feed("stdout", "".join(f"{i}\n" for i in range(1, 10)).encode(), 1.0)
    log.end(2.0)
    assert [text for _seq, _stream, text in sink.lines()] == [str(i) for i in range(1, 10)]
    assert log.counters()["log_dropped"] == 0


def test_memory_stays_bounded_however_much_a_step_prints():
    limits = LogLimits(max_lines=10**6, max_bytes=2 << 20, tail_bytes=1 << 20)
    log, sink = step_log(limits)
    chunk = b"".join(b"%08d some output of a noisy build\n" % i for i in range(1500))
    tracemalloc.start()
    try:
        for _ in range(1000):                             # ~62 MB printed
            log.feed("stdout", chunk, 1.0)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    log.end(2.0)
    assert peak < 8 << 20
    stored = sum(len(chunk["text"]) + 1 for chunk in sink.chunks)
    assert stored <= limits.max_bytes
    assert log.counters()["log_bytes"] == 1000 * len(chunk)
    assert sink.lines()[-1][2] == "00001499 some output of a noisy build"


def test_masking_applies_to_every_line():
    log, sink = step_log(mask=lambda text: text.replace("hunter2", "***"))
    log.feed("stdout", b"password=hunter2\nnothing\n", 1.0)
    assert [text for _s, _st, text in sink.lines()] == ["password=***", "nothing"]


def test_stdout_and_stderr_lines_are_stored_with_stream_and_time(service):
    before = time.time()
    service.start("app", one_step("echo out; echo err >&2"))
    lines = list(service.logs("app#1"))
    assert sorted((line.stream, line.text) for line in lines) == [("stderr", "err"),
                                                                  ("stdout", "out")]
    assert all(before <= line.at <= time.time() for line in lines)
    assert sorted(line.seq for line in lines) == [1, 2]


def test_binary_output_is_stored_leniently(service):
    outcome = service.start("app", one_step("head -c 3000 /dev/urandom; printf '\\nend\\n'"))
    assert outcome.status == Status.SUCCEEDED
    lines = log_text(service, "app#1")
    assert lines[-1] == "end"
    assert steps_of(service, "app#1")[("t", "s")].log_bytes > 3000


def test_huge_output_keeps_head_and_tail_with_the_rest_counted(config_dir):
    service = make_service(config_dir, logs=LogLimits(max_lines=1000, max_bytes=1 << 20,
                                                      tail_lines=100))
    outcome = service.start("app", one_step("seq 1 50000"))
    assert outcome.status == Status.SUCCEEDED
    lines = log_text(service, "app#1")
    left_out = sum(len(f"{i}\n") for i in range(900, 49901))
    assert lines == [*map(str, range(1, 900)),
                     f"... {left_out} bytes (49001 lines) left out ...",
                     *map(str, range(49901, 50001))]
    step = steps_of(service, "app#1")[("t", "s")]
    assert (step.log_lines, step.log_dropped) == (50000, 49001)
    assert step.log_bytes == sum(len(f"{i}\n") for i in range(1, 50001))   # what seq printed


def test_huge_output_is_capped_by_bytes_too_and_ends_with_the_last_line(config_dir):
    service = make_service(config_dir, logs=LogLimits(max_lines=10**6, max_bytes=100_000))
    service.start("app", one_step("yes 0123456789012345678901234567890123456789 | head -c 5000000"
                                  "; echo; echo the last line; exit 3"))
    lines = log_text(service, "app#1")
    assert sum(len(text) + 1 for text in lines) <= 100_000
    omission = [text for text in lines if text.endswith("left out ...")]
    assert len(omission) == 1 and omission[0].startswith("... ")
    assert lines[-1] == "the last line"
    assert lines[-3] == "0123456789012345678901234567890123456789"


def test_a_large_log_is_stored_completely_within_the_default_cap(service):
    service.start("app", one_step("seq 1 200000"))
    lines = log_text(service, "app#1")
    assert len(lines) == 200000 and lines[-1] == "200000"


def test_logs_filter_by_task_and_step(service):
    definition = one_step("true")
    definition["stages"]["main"]["tasks"]["t"]["steps"]["other"] = {
        "index": 1, "type": "command", "run": "echo other", "shell": "bash -e", "env": {},
        "timeout": None, "outputs": []}
    definition["stages"]["main"]["tasks"]["t"]["steps"]["s"]["run"] = "echo first"
    service.start("app", definition)
    assert log_text(service, "app#1", step="other") == ["other"]
    assert log_text(service, "app#1", task="t") == ["first", "other"]


def test_follow_streams_lines_while_the_run_goes_on(config_dir):
    runner = make_service(config_dir)
    reader = make_service(config_dir)
    thread = threading.Thread(target=runner.start, args=(
        "app", one_step("for i in 1 2 3; do echo tick $i; sleep 0.3; done")))
    thread.start()
    while not reader.list_runs("app"):
        time.sleep(0.02)
    seen = [line.text for line in reader.logs("app#1", follow=True, poll=0.05)]
    thread.join()
    assert seen == ["tick 1", "tick 2", "tick 3"]
