"""How records reach the plugin. Snakemake queues every record of a run with a logger plugin
for a listener thread; when FlowO is the only plugin it takes the records straight from the
thread that logs them after the first one (what the listener had queued by then is handled
first, so the order is kept), and beside another plugin it leaves the queue alone, so that
the other plugin still gets every record. The plugin's statistics (FLOWO_PLUGIN_STATS) say,
for each record, whether it was handled on another thread than the one that logged it.
"""

from __future__ import annotations

import logging
import logging.handlers
import queue
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import Sandbox, assert_every_event_once
from snakemake_logger_plugin_flowo import LogHandler

from test_settings import started_server

# A logger plugin beside FlowO's: counts the records it is given and writes the count at close.
OTHER_PLUGIN = "flowo-test-counter"
OTHER_PLUGIN_SOURCE = """\
import os

from snakemake_interface_logger_plugins.base import LogHandlerBase


class LogHandler(LogHandlerBase):
    def __post_init__(self):
        self.count = 0

    def emit(self, record):
        self.count += 1

    def close(self):
        with open(os.environ["FLOWO_TEST_COUNTER_OUT"], "w") as out:
            out.write(str(self.count))
        super().close()

    writes_to_stream = property(lambda self: False)
    writes_to_file = property(lambda self: False)
    has_filter = property(lambda self: True)
    has_formatter = property(lambda self: False)
    needs_rulegraph = property(lambda self: True)
"""

JOBS = 30


def workflow(sandbox: Sandbox) -> Path:
    """JOBS independent jobs and `all`: a few hundred records from the main thread."""
    workdir = sandbox.root / "work"
    workdir.mkdir(parents=True)
    (workdir / "Snakefile").write_text(
        f"""
rule all:
    input:
        expand("out/{{i}}.txt", i=range({JOBS})),

rule touch:
    output:
        "out/{{i}}.txt",
    shell:
        "touch {{output}}"
"""
    )
    return workdir


def stored_run(result, make_server, sandbox: Sandbox) -> dict:
    assert result.rc == 0, result.describe()
    assert not result.warnings and not result.undelivered, result.flowo_lines
    _, api = started_server(make_server, f"sqlite://{sandbox.data_dir / 'flowo.db'}")
    run = api.run(result.run_id)
    assert run["status"] == "succeeded" and run["jobs"]["succeeded"] == JOBS + 1, run
    assert_every_event_once(api, result.run_id)
    return run


def test_alone_records_come_from_the_logging_thread_in_order(sandbox, snakemake, make_server):
    result = snakemake(workflow(sandbox), ["--cores", "2"]).wait()
    stored_run(result, make_server, sandbox)
    stats = result.stats
    assert stats is not None, result.describe()
    # The first record (and what was queued while it was handled) came through the listener,
    # every later one straight from its thread; none through the listener after those.
    assert 1 <= stats["records_on_listener"] < stats["records"] // 10, stats
    assert stats["listener_after_direct"] == 0, stats
    assert stats["dropped"] == 0 and stats["delivered"] == stats["events"], stats


def test_beside_another_plugin_both_get_every_record_through_the_queue(
    sandbox, snakemake, make_server
):
    plugins = sandbox.root / "plugins"
    package = plugins / ("snakemake_logger_plugin_" + OTHER_PLUGIN.replace("-", "_"))
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(OTHER_PLUGIN_SOURCE)
    counted = sandbox.root / "counted.txt"
    env = dict(sandbox.env, PYTHONPATH=str(plugins), FLOWO_TEST_COUNTER_OUT=str(counted))
    args = ["--logger", "flowo", OTHER_PLUGIN, "--cores", "2"]
    result = snakemake(workflow(sandbox), args, env=env, logger=False).wait()
    stored_run(result, make_server, sandbox)
    stats = result.stats
    assert stats is not None, result.describe()
    assert stats["records_on_listener"] == stats["records"], stats
    # Both handlers filter nothing, so each got every record Snakemake logged.
    assert int(counted.read_text()) == stats["records"], stats


class ListSink:
    """Stands in for the native sink: keeps each record's message and the thread that handled it."""

    def __init__(self) -> None:
        self.handled: list[tuple[str, int]] = []

    def handle(self, record: logging.LogRecord) -> None:
        self.handled.append((record.getMessage(), threading.get_ident()))

    def close(self) -> None:
        pass


@pytest.fixture
def snakemake_like_logger():
    """What Snakemake's LoggerManager sets up for its plugins, in this process: the
    `snakemake.logging` logger with one QueueHandler, and a QueueListener
    (respect_handler_level) calling the handlers given, not started yet. Emptied afterwards."""
    logger = logging.getLogger("snakemake.logging")
    yield lambda *handlers: setup(logger, *handlers)
    logger.handlers.clear()


def setup(logger: logging.Logger, *handlers: logging.Handler):
    logger.handlers.clear()
    logger.propagate = False
    logger.setLevel(logging.INFO)
    records: queue.Queue = queue.Queue(-1)
    listener = logging.handlers.QueueListener(records, *handlers, respect_handler_level=True)
    logger.addHandler(logging.handlers.QueueHandler(records))
    return logger, listener


def unstarted_handler(plugins: int) -> tuple[LogHandler, ListSink]:
    """FlowO's handler without its native sink (nothing is recorded), as if `plugins` logger
    plugins were asked for."""
    handler = LogHandler.__new__(LogHandler)
    logging.Handler.__init__(handler)
    handler.common_settings = SimpleNamespace(
        log_handler_settings={f"plugin{i}": None for i in range(plugins)}
    )
    handler._direct_pending = True
    sink = ListSink()
    handler._sink = sink
    return handler, sink


def test_switch_handles_what_was_queued_first_then_takes_records_directly(
    snakemake_like_logger,
):
    handler, sink = unstarted_handler(plugins=1)
    logger, listener = snakemake_like_logger(handler)
    # Five records queued, then one turn of the listener's loop on a thread of its own (what
    # QueueListener._monitor does): its first record makes the switch, which must hand over the
    # four still queued there, since no listener takes them later.
    for i in range(5):
        logger.info("queued %d", i)
    turn = threading.Thread(target=lambda: listener.handle(listener.dequeue(True)))
    turn.start()
    turn.join()
    for i in range(5):
        logger.info("direct %d", i)
    assert listener.queue.empty()
    me = threading.get_ident()
    messages = [m for m, _ in sink.handled]
    assert messages == [f"queued {i}" for i in range(5)] + [f"direct {i}" for i in range(5)]
    # The queued ones on the listener's thread, the later ones on the logging thread.
    assert all(t != me for _, t in sink.handled[:5]), sink.handled
    assert all(t == me for _, t in sink.handled[5:]), sink.handled


def test_no_switch_when_the_listener_calls_other_handlers_too(snakemake_like_logger):
    handler, sink = unstarted_handler(plugins=2)
    other = logging.Handler()
    other_got: list[str] = []
    other.emit = lambda record: other_got.append(record.getMessage())  # type: ignore[method-assign]
    logger, listener = snakemake_like_logger(handler, other)
    listener.start()
    try:
        for i in range(5):
            logger.info("record %d", i)
    finally:
        listener.stop()
    me = threading.get_ident()
    expected = [f"record {i}" for i in range(5)]
    assert [m for m, _ in sink.handled] == expected and other_got == expected
    assert all(t != me for _, t in sink.handled), "records went around the listener"
