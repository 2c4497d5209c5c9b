"""Step logs: lines with streams and timestamps, binary output, the per-step cap, following."""

from __future__ import annotations

import threading
import time

from conftest import log_text, make_service, one_step, steps_of

from flowplan.executor.logs import StepLog
from flowplan.executor.settings import LogLimits
from flowplan.executor.status import Status


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


def test_lines_past_the_cap_are_counted_not_stored():
    log, sink = step_log(LogLimits(max_lines=5))
    log.feed("stdout", "".join(f"line {i}\n" for i in range(1, 9)).encode(), 1.0)
    log.feed("stdout", b"more\n", 2.0)
    lines = sink.lines()
    assert [text for _s, _st, text in lines[:4]] == ["line 1", "line 2", "line 3", "line 4"]
    assert lines[4][1] == "system" and lines[4][2].startswith("log truncated")
    assert log.counters() == {"log_lines": 9, "log_bytes": 61, "log_dropped": 5}


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


def test_huge_output_is_capped_with_a_notice_and_the_rest_counted(config_dir):
    service = make_service(config_dir, logs=LogLimits(max_lines=1000, max_bytes=1 << 20))
    outcome = service.start("app", one_step("seq 1 50000"))
    assert outcome.status == Status.SUCCEEDED
    lines = log_text(service, "app#1")
    assert lines[:3] == ["1", "2", "3"] and len(lines) == 1000
    assert lines[-1].startswith("log truncated: this step printed more than 1000 lines")
    step = steps_of(service, "app#1")[("t", "s")]
    assert (step.log_lines, step.log_dropped) == (50000, 50000 - 999)


def test_huge_output_is_capped_by_bytes_too(config_dir):
    service = make_service(config_dir, logs=LogLimits(max_lines=10**6, max_bytes=100_000))
    service.start("app", one_step("yes 0123456789012345678901234567890123456789 | head -c 5000000"))
    stored = sum(len(text) + 1 for text in log_text(service, "app#1"))
    assert stored <= 100_000 + 200
    assert log_text(service, "app#1")[-1].startswith("log truncated")


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
