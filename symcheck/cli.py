"""The ``symcheck`` command: thin glue between click and :func:`symcheck.analyze`.

Exit codes: 0 nothing at or above ``--fail-on``; 1 findings at or above it;
2 usage error or a file that cannot be analysed (one line on stderr each).
"""

from __future__ import annotations

import sys
import traceback
from typing import Optional

import click

from . import __version__
from .analysis import SEVERITY_RANK, Analysis, analyze
from .errors import EXIT_CLEAN, EXIT_FINDINGS, EXIT_INPUT, SymcheckError, internal_error
from .render import html as html_render
from .render import json as json_render
from .render import text as text_render
from .rules import RULES, unknown_entries
from .verify import DEFAULT_TIMEOUT, parse_memory, verify_and_attach

EPILOG = """\b
Exit codes:
  0  no finding at or above --fail-on
  1  findings at or above --fail-on
  2  usage error, or a file that cannot be analysed
\b
Examples:
  symcheck samples/keras_cae.onnx
  symcheck model.onnx --format json -o report.json
  symcheck model.onnx --input-shape input=1x1x28x28 --ignore SC2
  symcheck rules SC103
"""


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


@click.command(epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--format", "fmt", type=click.Choice(["text", "json", "html"]), default="text",
              show_default=True, help="Report format.")
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
              help="Pin an input's shape (symbolic dims); a bare shape pins the first input.")
@click.option("--verify/--no-verify", "run_verify", default=True, show_default=True,
              help="Run the model in onnxruntime and check every inferred layer shape.")
@click.option("--sizes", metavar="28,32", callback=_sizes_option,
              help="Spatial sizes to verify a symbolic input at [default: one size that "
                   "round-trips and one that does not].")
@click.option("--max-memory", default="2G", show_default=True, metavar="SIZE",
              callback=_memory_option,
              help="Refuse to verify when the estimated memory is above this (512M, 2G).")
@click.option("--verify-timeout", type=click.FloatRange(min=0, min_open=True),
              default=DEFAULT_TIMEOUT, show_default=True, metavar="SECONDS",
              help="Stop verification after this many seconds.")
@click.option("--debug", is_flag=True, help="Show tracebacks for internal errors.")
@click.version_option(__version__, prog_name="symcheck")
def check(paths: tuple, fmt: str, output: Optional[str], fail_on: str, exit_zero: bool,
          html_path: Optional[str],
          select: tuple, ignore: tuple, input_shapes: tuple, run_verify: bool,
          sizes: Optional[list], max_memory: int, verify_timeout: float, debug: bool) -> None:
    """Check that each ONNX encoder-decoder's decoder mirrors its encoder.

    PATHS are .onnx files. For each, symcheck prints the layer table, the
    resolution ladder, the level-by-level pairing of encoder and decoder, the
    findings, and a verdict.
    """
    selected, ignored = _split(select), _split(ignore)
    bad = unknown_entries(selected + ignored)
    if bad:
        raise click.UsageError(f"unknown rule code or name: {bad[0]!r} (see `symcheck rules`)")
    pins = dict(parse_input_shape(v) for v in input_shapes)
    if fmt == "html" and len(paths) > 1:
        raise click.UsageError("--format html writes one page; use --html DIR for several models")
    try:
        html_dir = html_render.html_is_directory(html_path, len(paths)) if html_path else False
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None

    analyses: list[Analysis] = []
    errors: list[tuple[str, SymcheckError]] = []
    for path in paths:
        try:
            analysis = analyze(path, input_shapes=pins, select=selected, ignore=ignored)
            if run_verify:
                verify_and_attach(analysis, selected, ignored, debug=debug, sizes=sizes,
                                  max_memory=max_memory, timeout=verify_timeout)
            analyses.append(analysis)
        except SymcheckError as err:
            errors.append((path, err))
            click.echo(err.line(path), err=True)
        except Exception as exc:  # a bug: say so in one line, keep going
            if debug:
                traceback.print_exc()
            err = internal_error(exc)
            errors.append((path, err))
            click.echo(err.line(path), err=True)

    if fmt == "json":
        report = _render_json(analyses, errors, debug)
    elif fmt == "html":
        report = "".join(html_render.render(a) for a in analyses)
    else:
        report = "\n".join(_render_text(a, errors, debug) for a in analyses)
    if output:
        with open(output, "w", encoding="utf-8") as handle:
            handle.write(report)
    elif report:
        click.echo(report, nl=False)
    if html_path:
        try:
            html_render.write_reports(analyses, errors, html_path, html_dir)
        except OSError as exc:
            raise click.UsageError(f"cannot write {html_path}: {exc.strerror or exc}") from None

    if errors:
        sys.exit(EXIT_INPUT)
    threshold = SEVERITY_RANK[fail_on]
    failing = any(SEVERITY_RANK[f.severity] >= threshold for a in analyses for f in a.findings)
    sys.exit(EXIT_FINDINGS if failing and not exit_zero else EXIT_CLEAN)


def _render_text(analysis: Analysis, errors: list, debug: bool) -> str:
    """The text report, or an internal-error line when rendering fails (a bug)."""
    try:
        return text_render.render(analysis)
    except Exception as exc:
        _internal(analysis.path, exc, errors, debug)
        return ""


def _internal(path: str, exc: Exception, errors: list, debug: bool) -> None:
    """Record and print an internal error (a bug in symcheck) for one file."""
    if debug:
        traceback.print_exc()
    err = internal_error(exc)
    errors.append((path, err))
    click.echo(err.line(path), err=True)


def _render_json(analyses: list, errors: list, debug: bool) -> str:
    """The JSON report; an analysis whose rendering fails (a bug) becomes an internal error."""
    try:
        return json_render.render_many(analyses, errors)
    except Exception:  # find which analysis fails, report it, keep the others
        kept = []
        for analysis in analyses:
            try:
                json_render.analysis_dict(analysis)
                kept.append(analysis)
            except Exception as exc:
                _internal(analysis.path, exc, errors, debug)
        return json_render.render_many(kept, errors)


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


if __name__ == "__main__":
    main()
