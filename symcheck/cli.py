"""The ``symcheck`` command: thin glue between click and :func:`symcheck.analyze`.

``symcheck PATH...`` expands files, directories and globs
(:mod:`symcheck.paths`), reads ``[tool.symcheck]`` (:mod:`symcheck.config`)
into click's ``default_map`` so configuration keys and options share names,
analyses (and verifies) each file, in parallel processes when there are
several, and writes one report in the format asked for.

Exit codes: 0 nothing at or above ``--fail-on``; 1 findings at or above it;
2 usage or configuration error, or a file that cannot be analysed (one line
on stderr each).
"""

from __future__ import annotations

import gc
import os
import shutil
import signal
import sys
import time
import traceback
from dataclasses import dataclass, replace
from typing import Callable, Generator, Optional

import click

from . import __version__, frontends
from . import config as config_mod
from . import paths as paths_mod
from .analysis import SEVERITY_RANK, analyze, collector_paused
from .errors import (EXIT_CLEAN, EXIT_FINDINGS, EXIT_INPUT, EXIT_SIGNAL, SymcheckError,
                     internal_error)
from .limits import DEFAULT_TIMEOUT, parse_memory
from .rules import RULES, unknown_entries

FORMATS = ["text", "json", "sarif", "github", "html"]
CONFIG_KEY = "symcheck.config"

EPILOG = """\b
Exit codes:
  0  no finding at or above --fail-on (default: error)
  1  findings at or above --fail-on (--exit-zero gives 0)
  2  usage or configuration error, or a PATH that cannot be analysed
  130, 143  stopped by Ctrl-C (SIGINT) or SIGTERM
\b
PATHs are .onnx files, directories (searched recursively for *.onnx,
skipping hidden and virtual-environment folders) and globs ('models/**/*.onnx').
Options default to [tool.symcheck] in the nearest pyproject.toml (keys are
the option names: select, ignore, fail-on, verify, max-memory, verify-timeout,
plus per-file-ignores and input-shapes); an option given here overrides it.
\b
Examples:
  symcheck samples/keras_cae.onnx
  symcheck models/ --no-verify --format sarif -o symcheck.sarif
  symcheck model.onnx --format json -o report.json
  symcheck model.onnx --input-shape input=1x1x28x28 --ignore SC2
  symcheck rules SC103
"""


# ---------------------------------------------------------------------------
# Option parsing

def parse_input_shape(value: str) -> tuple[str, tuple]:
    """``input=1x1x28x28`` -> ('input', (1, 1, 28, 28)); a bare shape names the first input."""
    name, _, dims = value.rpartition("=")
    try:
        shape = tuple(int(d) for d in dims.lower().replace(",", "x").split("x") if d)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not NAME=1x1x28x28") from None
    if not shape or any(d < 1 for d in shape):
        raise click.BadParameter(f"{value!r} needs positive dimensions, e.g. NAME=1x1x28x28")
    return name, shape


def _split(values: tuple) -> list:
    return [part.strip() for v in values for part in v.split(",") if part.strip()]


def _sizes_option(ctx, param, value: Optional[str]) -> Optional[list]:
    """``--sizes 28,32`` -> [28, 32]."""
    if value is None:
        return None
    try:
        sizes = [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a list of sizes like 28,32") from None
    if not sizes or any(s < 1 for s in sizes):
        raise click.BadParameter(f"{value!r} needs positive sizes, e.g. 28,32")
    return sizes


def _memory_option(ctx, param, value: str) -> int:
    """``--max-memory 512M`` -> bytes."""
    try:
        return parse_memory(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _read_config(ctx: click.Context, param, value: Optional[str]) -> Optional[str]:
    """Eager: find and validate the configuration, make it click's ``default_map``.

    A bad file prints one line naming the key and exits 2 before any model is read.
    """
    if ctx.resilient_parsing:
        return value
    if value and ctx.params.get("isolated"):
        raise click.UsageError("--config and --isolated cannot be used together")
    ctx.meta[CONFIG_KEY + ".given"] = bool(value)
    path = value or (None if ctx.params.get("isolated") else config_mod.find_pyproject())
    cfg = config_mod.Config()
    if path:
        try:
            cfg = config_mod.load(path)
        except config_mod.ConfigError as exc:
            click.echo(exc.line(), err=True)
            ctx.exit(EXIT_INPUT)
    ctx.default_map = {**(ctx.default_map or {}), **cfg.defaults}
    ctx.meta[CONFIG_KEY] = cfg
    return path


def _isolated(ctx: click.Context, param, value: bool) -> bool:
    """Eager, before --config unless it comes after it on the command line."""
    if value and ctx.meta.get(CONFIG_KEY + ".given"):
        raise click.UsageError("--config and --isolated cannot be used together")
    return value


def default_jobs() -> int:
    """The number of CPU cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


# ---------------------------------------------------------------------------
# One file: what a worker process does

@dataclass(frozen=True)
class Task:
    """Everything needed to check one file; picklable, sent to a worker."""

    path: str
    select: tuple = ()
    ignore: tuple = ()
    pins: tuple = ()  # ((input name or "", shape), ...)
    verify: bool = False
    sizes: Optional[tuple] = None
    max_memory: int = 2 * 1024**3
    timeout: float = DEFAULT_TIMEOUT
    debug: bool = False
    full: bool = False  # the whole analysis dict (JSON), else the brief record
    text: bool = False  # render the text report
    html: bool = False  # render the HTML page


@dataclass(frozen=True)
class Outcome:
    """What came of one file: an error ``(code, reason)``, or a record and renderings."""

    path: str
    error: Optional[tuple] = None
    record: Optional[dict] = None  # brief_record
    text: str = ""
    html: str = ""
    findings: tuple = ()
    encoded: Optional[str] = None  # the record as JSON text at depth 2 (json.encode_analysis), when full


def brief_record(a) -> dict:
    """The part of the JSON document the SARIF, GitHub and summary outputs need."""
    return {"file": a.path, "exporter": {"description": a.exporter.description},
            "ladder": {"text": a.ladder_text()}, "findings": [f.to_dict() for f in a.findings],
            "counts": a.counts(), "verdict": a.verdict}


#: With the collector off (:func:`run`), each process collects once per this many files.
COLLECT_EVERY = 64
_checked = 0


def check_file(task: Task) -> Outcome:
    """Analyse (and verify) one file and render what the report needs; never raises.

    Renderers are imported only when asked for (the HTML one brings jinja2).
    """
    global _checked  # pylint: disable=global-statement
    _checked += 1
    if _checked % COLLECT_EVERY == 0 and not gc.isenabled():
        gc.collect()
    from .render import json as json_render

    try:
        source: object = task.path
        pins = dict(task.pins)
        shape = None
        if frontends.is_factory_spec(task.path):  # pkg.module:factory -> a model built in code
            source = frontends.load_factory(task.path)
            shape = pins.pop("", None) or next(iter(pins.values()), None)
            pins = {}
        analysis = analyze(source, input_shape=shape, input_shapes=pins, select=task.select,
                           ignore=task.ignore)
        analysis.path = task.path
        if task.verify:
            from .verify import verify_and_attach

            verify_and_attach(analysis, task.select, task.ignore, debug=task.debug,
                              sizes=list(task.sizes) if task.sizes else None,
                              max_memory=task.max_memory, timeout=task.timeout)
        with collector_paused():  # the report of a 30k-node model is a million small objects
            # The whole dict goes out as JSON text only: the brief record is what
            # the summary, exit code and index need, and what a worker sends back.
            encoded = json_render.encode_analysis(analysis, depth=2) \
                if task.full else None  # at the depth render_many writes it
            return Outcome(task.path, None, brief_record(analysis),
                           _render_text(analysis) if task.text else "",
                           _render_html(analysis) if task.html else "",
                           tuple(analysis.findings), encoded)
    except SymcheckError as err:
        return Outcome(task.path, (err.code, err.reason))
    except Exception as exc:  # a bug: say so in one line, keep going
        if task.debug:
            traceback.print_exc()
        bug = internal_error(exc)
        return Outcome(task.path, (bug.code, bug.reason))


def _render_text(analysis) -> str:
    from .render import text

    return text.render(analysis)


def _render_html(analysis) -> str:
    from .render import html

    return html.render(analysis)


def _died(task: Task) -> Outcome:
    return Outcome(task.path, ("internal", "symcheck's worker process died while analysing this "
                                          "file (a crash in a native library, or out of memory); "
                                          "this is a bug, please report it"))


# ---------------------------------------------------------------------------
# Many files: parallel processes, results in order

def _init_worker() -> None:
    """Workers leave Ctrl-C to the parent, end cleanly on SIGTERM, and never write stdout."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _worker_stop)
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)
    except OSError:
        pass


def _worker_stop(signum: int, frame: object) -> None:
    """SIGTERM in a worker (the parent stopping its pool): kill the onnxruntime child,
    if one runs, and end at once.

    Not by raising SystemExit: ProcessPoolExecutor's worker loop catches every
    exception, also while sending a result back, takes it as that task's
    result and waits for the next task, which never comes.
    """
    verify = sys.modules.get(__package__ + ".verify")
    if verify is not None:
        verify.kill_children()
    os._exit(EXIT_SIGNAL + signum)


def _mp_context():
    """How worker processes start: ``fork`` where it is safe, else forkserver, else spawn.

    fork (Linux, and only while this process has one thread: forking a
    threaded process can copy a held lock) starts a worker in milliseconds
    with symcheck already imported; a forkserver first spends a whole
    start-up (~0.4 s) importing it, which on 200 small files was longer than
    the work itself. macOS has fork but its system libraries are not fork-safe.
    """
    import multiprocessing  # here and below: a run of one file starts no worker
    import threading

    if sys.platform.startswith("linux") and threading.active_count() == 1 \
            and "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["symcheck.cli"])
        return ctx
    return multiprocessing.get_context("spawn")


def _ping(_: object = None) -> int:
    return os.getpid()


def _one_process(func: Callable, item) -> object:
    """``func(item)`` in a fresh worker process; None when the process dies."""
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    alone = ProcessPoolExecutor(max_workers=1, mp_context=_mp_context(), initializer=_init_worker)
    try:
        return alone.submit(func, item).result()
    except BrokenProcessPool:
        return None
    except Exception as exc:  # the result could not come back
        return exc
    finally:
        alone.shutdown(wait=True)


def _run_chunk(func: Callable, chunk: list) -> list:
    return [func(item) for item in chunk]


def _chunks(order: list, workers: int) -> list:
    """``order`` (item indices) cut into consecutive chunks that shrink towards the end.

    Chunks of up to 8 items cost fewer round trips for many small files; a
    chunk is at most a quarter of each worker's share of what remains, so the
    last ones are single items and the workers finish close together.
    """
    chunks, start = [], 0
    while start < len(order):
        size = max(1, min(8, (len(order) - start) // (workers * 4)))
        chunks.append(order[start:start + size])
        start += size
    return chunks


def _pool_run(func: Callable, items: list, jobs: int, done: Callable,
              cost: Optional[Callable] = None) -> Generator[tuple, None, None]:
    """``(index, result)`` of ``func(item)`` in worker processes, as they finish.

    Items go to the workers in chunks (:func:`_chunks`), the costliest first
    when ``cost(item)`` estimates that (a large model started last would keep
    one worker busy while the others wait). ``result`` is an exception when
    the call raised or its result could not be sent back. A worker that dies
    (a native crash, the OOM killer) breaks the pool: the items it took down
    are run again, each in a fresh process, and one that kills its process
    again gives ``None``. When even an empty task cannot run in a worker (the
    interpreter cannot start one here), the items run in this process instead.
    """
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    workers = min(jobs, len(items))
    order = list(range(len(items)))
    if cost is not None:
        order.sort(key=lambda i: -cost(items[i]))  # stable: file order among equals
    chunks = _chunks(order, workers)
    suspects: list = []
    context = _mp_context()
    if context.get_start_method() == "fork":
        # forked workers share the parent's pages copy-on-write; a frozen heap is
        # never scanned by their garbage collector, so those pages stay shared
        gc.freeze()
    try:
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_init_worker)
    except BaseException:
        gc.unfreeze()
        raise
    try:
        futures = {pool.submit(_run_chunk, func, [items[i] for i in chunk]): k
                   for k, chunk in enumerate(chunks)}
        pending = set(futures)
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in sorted(finished, key=lambda f: futures[f]):
                indices = chunks[futures[future]]
                try:
                    results = future.result()
                except BrokenProcessPool:
                    suspects.extend(indices)
                    continue
                except Exception as exc:
                    results = [exc] * len(indices)
                for i, result in zip(indices, results):
                    done()
                    yield i, result
    except BaseException:
        for process in list(getattr(pool, "_processes", {}).values()):
            process.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        gc.unfreeze()
        raise
    pool.shutdown(wait=True)
    gc.unfreeze()
    if not suspects:
        return
    workers_start = isinstance(_one_process(_ping, None), int)
    for i in sorted(suspects):
        result = _one_process(func, items[i]) if workers_start else func(items[i])
        done()
        yield i, result


def _file_size(task: Task) -> int:
    """A task's cost estimate for scheduling: its file's size (0 when it cannot be read)."""
    try:
        return os.stat(task.path).st_size
    except (OSError, ValueError):
        return 0


def run_tasks(tasks: list, jobs: int, done: Callable[[], None]) -> Generator[Outcome, None, None]:
    """Each task's :class:`Outcome`, in task order, as soon as it and those before it are done."""
    if jobs <= 1 or len(tasks) <= 1:
        for task in tasks:
            outcome = check_file(task)
            done()
            yield outcome
        return
    pooled = _pool_run(check_file, tasks, jobs, done, cost=_file_size)
    ready: dict = {}
    upcoming = 0
    try:
        for i, outcome in pooled:
            if outcome is None:
                outcome = _died(tasks[i])
            elif isinstance(outcome, BaseException):
                bug = internal_error(outcome)
                outcome = Outcome(tasks[i].path, (bug.code, bug.reason))
            ready[i] = outcome
            while upcoming in ready:
                yield ready.pop(upcoming)
                upcoming += 1
    finally:
        pooled.close()  # when this generator is closed early: stops the workers


class Progress:
    """A one-line progress bar on stderr, drawn only when stderr is a terminal.

    Other stderr lines go through :meth:`echo`, which clears the bar first.
    """

    def __init__(self, total: int, enabled: bool) -> None:
        self.total, self.done, self.enabled = total, 0, enabled
        self.drawn = False
        self.last = 0.0

    def _clear(self) -> None:
        if self.drawn:
            sys.stderr.write("\r\x1b[2K")
            sys.stderr.flush()
            self.drawn = False

    def draw(self, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self.last < 0.05 and self.done < self.total:
            return
        self.last = now
        columns = shutil.get_terminal_size((80, 24)).columns
        counter = f" {self.done}/{self.total} models"
        width = max(10, min(40, columns - len(counter) - 12))
        filled = width * self.done // max(self.total, 1)
        sys.stderr.write(f"\r\x1b[2Ksymcheck [{'#' * filled}{'.' * (width - filled)}]{counter}")
        sys.stderr.flush()
        self.drawn = True

    def advance(self) -> None:
        self.done += 1
        self.draw()

    def echo(self, line: str) -> None:
        """One line on stderr, above the bar."""
        self._clear()
        click.echo(line, err=True)
        self.draw(force=True)

    def out(self, text: str) -> None:
        """Text on stdout (the same terminal, often), with the bar out of its way."""
        self._clear()
        click.echo(text, nl=False)
        sys.stdout.flush()
        self.draw(force=True)

    def out_json(self, text: str) -> None:
        """JSON text on stdout: as :meth:`out`, without click's search for ANSI escape
        sequences, which JSON cannot hold (it writes ESC and every other control
        character as a ``\\u`` escape). 3 MB of reports cost the parent ~2-14 ms while
        its workers want both cores."""
        self._clear()
        sys.stdout.write(text)
        sys.stdout.flush()
        self.draw(force=True)

    def close(self) -> None:
        self._clear()
        self.enabled = False


def _progress_wanted(total: int) -> bool:
    stream = sys.stderr
    return total > 1 and hasattr(stream, "isatty") and stream.isatty() \
        and os.environ.get("TERM") != "dumb"


# ---------------------------------------------------------------------------
# Outputs

@dataclass(frozen=True)
class _IndexEntry:
    """The part of an Analysis that the HTML index page reads (from a worker's record)."""

    path: str
    exporter: object
    verdict: str
    findings: tuple
    _counts: tuple
    _ladder: str

    def counts(self) -> dict:
        return dict(self._counts)

    def ladder_text(self) -> str:
        return self._ladder


def _index_entry(outcome: Outcome) -> _IndexEntry:
    from types import SimpleNamespace

    record = outcome.record or {}
    return _IndexEntry(outcome.path, SimpleNamespace(description=record["exporter"]["description"]),
                       record["verdict"], outcome.findings, tuple(record["counts"].items()),
                       record["ladder"]["text"])


def _write_html(outcomes: list, errors: list, target: str, directory: bool) -> None:
    """``--html``: one page, or a directory of pages and ``index.html``."""
    from .render import html as html_render

    if not directory:
        if outcomes:
            with open(target, "w", encoding="utf-8") as handle:
                handle.write(outcomes[0].html)
        return
    os.makedirs(target, exist_ok=True)
    names = html_render.page_names([o.path for o in outcomes])
    for name, outcome in zip(names, outcomes):
        with open(os.path.join(target, name), "w", encoding="utf-8") as handle:
            handle.write(outcome.html)
    index = html_render.render_index([(n, _index_entry(o)) for n, o in zip(names, outcomes)], errors)
    with open(os.path.join(target, "index.html"), "w", encoding="utf-8") as handle:
        handle.write(index)


def summary_line(summary: dict) -> str:
    """``12 models: 9 clean, 2 with warnings, 1 error, 0 unreadable`` (defined in docs/ci.md).

    >>> summary_line({"models": 2, "clean": 1, "with_warnings": 0, "with_errors": 1,
    ...               "unreadable": 0})
    '2 models: 1 clean, 0 with warnings, 1 error, 0 unreadable'
    """
    n, e = summary["models"], summary["with_errors"]
    return (f"{n} model{'' if n == 1 else 's'}: {summary['clean']} clean, "
            f"{summary['with_warnings']} with warnings, {e} error{'' if e == 1 else 's'}, "
            f"{summary['unreadable']} unreadable")


# ---------------------------------------------------------------------------
# The command

@click.command(epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"],
                                                "max_content_width": 100})
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True,
              help="Report format: text, json (docs/json.md), sarif (SARIF 2.1.0), github "
                   "(Actions annotations), html (one model).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True),
              help="Write the report to this file instead of stdout.")
@click.option("--html", "html_path", type=click.Path(), metavar="PATH",
              help="Also write the HTML report: a file for one model, or a directory "
                   "(one page per model and index.html).")
@click.option("--fail-on", type=click.Choice(["info", "warning", "error"]), default="error",
              show_default=True, help="Lowest severity that makes the exit code 1.")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when findings are at or above --fail-on.")
@click.option("--select", multiple=True, metavar="CODES",
              help="Only these rules: codes, prefixes (SC1) or names, comma-separated.")
@click.option("--ignore", multiple=True, metavar="CODES",
              help="Skip these rules: codes, prefixes or names, comma-separated.")
@click.option("--input-shape", "input_shapes", multiple=True, metavar="NAME=1x1x28x28",
              help="Pin an input's shape (symbolic dims); a bare shape pins the first input. "
                   "Replaces the configuration's input-shapes.")
@click.option("--verify/--no-verify", "run_verify", default=True, show_default=True,
              help="Run the model in onnxruntime and check every inferred layer shape.")
@click.option("--sizes", metavar="28,32", callback=_sizes_option,
              help="Spatial sizes to verify a symbolic input at [default: one size that "
                   "round-trips and one that does not].")
@click.option("--max-memory", default="2G", show_default=True, metavar="SIZE",
              callback=_memory_option,
              help="Refuse to verify when the estimated memory is above this (512M, 2G); "
                   "also caps the onnxruntime process.")
@click.option("--verify-timeout", type=click.FloatRange(min=0, min_open=True),
              default=DEFAULT_TIMEOUT, show_default=True, metavar="SECONDS",
              help="Stop verification after this many seconds.")
@click.option("-j", "--jobs", type=click.IntRange(min=1), metavar="N",
              help="Check files in N parallel processes [default: the number of CPU cores].")
@click.option("--isolated", is_flag=True, is_eager=True, callback=_isolated,
              help="Ignore configuration files.")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False),
              is_eager=True, callback=_read_config, metavar="FILE",
              help="Read [tool.symcheck] from this file instead of the nearest pyproject.toml.")
@click.option("--debug", is_flag=True, help="Show tracebacks for internal errors.")
@click.version_option(__version__, prog_name="symcheck")
def check(paths: tuple, fmt: str, output: Optional[str], html_path: Optional[str], fail_on: str,
          exit_zero: bool, select: tuple, ignore: tuple, input_shapes: tuple, run_verify: bool,
          sizes: Optional[list], max_memory: int, verify_timeout: float, jobs: Optional[int],
          isolated: bool, config_file: Optional[str], debug: bool) -> None:
    """Check that each ONNX encoder-decoder's decoder mirrors its encoder.

    For each model, symcheck prints the layer table, the resolution ladder,
    the level-by-level pairing of encoder and decoder, the findings, and a
    verdict; several models end with a summary line on stderr.
    """
    cfg = click.get_current_context().meta.get(CONFIG_KEY) or config_mod.Config()
    selected, ignored = _split(select), _split(ignore)
    bad = unknown_entries(selected + ignored)
    if bad:
        raise click.UsageError(f"unknown rule code or name: {bad[0]!r} (see `symcheck rules`)")
    pins = tuple(dict(parse_input_shape(v) for v in input_shapes).items())

    expansion = paths_mod.expand(paths)
    total = len(expansion.files) + len(expansion.errors)
    if fmt == "html" and total > 1:
        raise click.UsageError("--format html writes one page; use --html DIR for several models")
    html_dir = False
    if html_path:
        from .render import html as html_render

        try:
            html_dir = html_render.html_is_directory(html_path, total)
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None

    tasks = [Task(path, tuple(selected), tuple(ignored + cfg.ignores_for(path)),
                  pins or tuple(cfg.input_shapes_for(path).items()), run_verify,
                  tuple(sizes) if sizes else None, max_memory, verify_timeout, debug,
                  full=fmt == "json", text=fmt == "text",
                  html=fmt == "html" or bool(html_path))
             for path in expansion.files]
    errors: list = []
    progress = Progress(len(tasks), _progress_wanted(total))
    for path, code, reason in expansion.errors:
        err = SymcheckError(code, reason)
        errors.append((path, err))
        progress.echo(err.line(path))
    outcomes: list = []
    texts: list = []
    # Text and JSON on stdout are written as each file is done (files come in
    # report order); -o writes its file once the report is complete.
    streaming = fmt in ("text", "json") and not output
    writer = None
    if streaming and fmt == "json":
        from .render.json import ReportWriter

        writer = ReportWriter(progress.out_json)
    progress.draw(force=True)
    results = run_tasks(tasks, jobs or default_jobs(), progress.advance)
    try:
        for outcome in results:
            if outcome.error:
                err = SymcheckError(*outcome.error)
                errors.append((outcome.path, err))
                progress.echo(err.line(outcome.path))
                continue
            if writer is not None:
                assert outcome.record is not None and outcome.encoded is not None  # no error
                writer.add(outcome.record, outcome.encoded, depth=2)
                outcome = replace(outcome, encoded=None)  # written: not kept to the end
            elif streaming:
                progress.out(("\n" if texts else "") + outcome.text)
            outcomes.append(outcome)
            texts.append(outcome.text)
        if writer is not None:
            writer.close(errors)
    finally:
        # on any way out (a reader gone from the pipe, say): stop the workers now,
        # since run() leaves by os._exit, which would leave them waiting for work
        results.close()
        progress.close()

    records = [o.record for o in outcomes]
    if output:
        report = _render(fmt, outcomes, records, errors, texts)
        with open(output, "w", encoding="utf-8") as handle:
            handle.write(report)
    elif not streaming:
        report = _render(fmt, outcomes, records, errors, texts)
        if report:
            click.echo(report, nl=False)
    if html_path:
        try:
            _write_html(outcomes, errors, html_path, html_dir)
        except OSError as exc:
            raise click.UsageError(f"cannot write {html_path}: {exc.strerror or exc}") from None
    if fmt == "text" and total > 1:
        from .render.json import summary

        click.echo(summary_line(summary(records, errors)), err=True)

    if errors:
        sys.exit(EXIT_INPUT)
    threshold = SEVERITY_RANK[fail_on]
    failing = any(n and SEVERITY_RANK[severity] >= threshold
                  for r in records for severity, n in r["counts"].items())
    sys.exit(EXIT_FINDINGS if failing and not exit_zero else EXIT_CLEAN)


def _render(fmt: str, outcomes: list, records: list, errors: list, texts: list) -> str:
    if fmt == "json":
        from .render import json as json_render

        return json_render.render_many(records, errors, [o.encoded for o in outcomes], depth=2)
    if fmt == "sarif":
        from .render import sarif

        return sarif.render_many(records, errors)
    if fmt == "github":
        from .render import github

        return github.render_many(records, errors)
    if fmt == "html":
        return "".join(o.html for o in outcomes)
    return "\n".join(texts)


# ---------------------------------------------------------------------------
# symcheck rules

@click.command(name="rules", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("code", required=False)
def rules_command(code: Optional[str]) -> None:
    """List the rules, or print one rule's documentation (symcheck rules SC103)."""
    if code is None:
        for r in RULES.values():
            click.echo(f"{r.code}  {r.severity:<7}  {r.name:<24}  {r.summary}")
        return
    wanted = code.strip()
    for r in RULES.values():
        if wanted.upper() == r.code or wanted == r.name:
            click.echo(rule_text(r))
            return
    raise click.UsageError(f"no rule {code!r} (see `symcheck rules`)")


def rule_text(r) -> str:
    return (f"{r.code} {r.name} ({r.severity})\n\n"
            f"Fires when {r.summary}.\n\n"
            f"Why it matters: {r.why}\n\n"
            f"Example:\n    {r.example}\n\n"
            f"How to fix: {r.fix}\n")


def main(argv: Optional[list] = None) -> None:
    """Entry point: ``symcheck rules ...`` or ``symcheck PATHS...``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "rules":
        rules_command.main(args[1:], prog_name="symcheck rules")
    else:
        check.main(args, prog_name="symcheck")


class Stopped(BaseException):
    """SIGINT (Ctrl-C) or SIGTERM in the symcheck process, raised where it is.

    Not an Exception, so no ``except Exception`` keeps going, and not
    KeyboardInterrupt, which click turns into exit 1 (the findings code).
    Unwinding stops the worker processes and kills an onnxruntime child.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


_STOPPING_PID = 0  # the process run() set _stop up in


def _stop(signum: int, frame: object) -> None:
    if os.getpid() != _STOPPING_PID:  # a worker forked moments ago, before _init_worker
        os._exit(EXIT_SIGNAL + signum)
    raise Stopped(signum)


def run() -> None:
    """The console entry point (``symcheck``, ``python -m symcheck``): :func:`main`, then
    leave without tearing the heap down.

    Freeing a 30k-node model's analysis and report object by object took
    ~0.5 s after the output was complete; the operating system reclaims it
    at once. Output is flushed first; a reader that went away (``| head``)
    is not an error. Exceptions other than SystemExit propagate as usual.

    SIGINT (Ctrl-C) and SIGTERM raise :class:`Stopped` where the run is: it
    unwinds through the worker pool (which terminates its workers) and
    verification (which kills its onnxruntime child), and symcheck exits
    128 + the signal's number with one line on stderr, as a shell reports a
    command a signal stopped. Otherwise a killed symcheck left its workers
    waiting for work forever.

    The cyclic garbage collector is off for the run: an analysis is freed by
    reference counting alone (``tests/test_api.py`` checks that it leaves no
    cycles), so the collector's passes only re-scanned the live analysis and
    report. What cycles a report does leave (json's encoder, jinja2) are
    collected every :data:`COLLECT_EVERY` files.
    """
    global _STOPPING_PID  # pylint: disable=global-statement
    gc.disable()
    _STOPPING_PID = os.getpid()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _stop)
    try:
        main()
        code = 0
    except Stopped as stop:
        print(f"symcheck: stopped by {signal.Signals(stop.signum).name}", file=sys.stderr)
        code = EXIT_SIGNAL + stop.signum
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            code = exc.code or 0
        else:  # sys.exit("message"): Python prints it and exits 1
            print(exc.code, file=sys.stderr)
            code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


if __name__ == "__main__":
    run()
