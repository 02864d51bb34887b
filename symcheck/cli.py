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
from .errors import EXIT_CLEAN, EXIT_FINDINGS, EXIT_INPUT, SymcheckError
from .render import json as json_render
from .render import text as text_render
from .rules import RULES, unknown_entries

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


@click.command(epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="Report format.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True),
              help="Write the report to this file instead of stdout.")
@click.option("--fail-on", type=click.Choice(["info", "warning", "error"]), default="error",
              show_default=True, help="Lowest severity that makes the exit code 1.")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when findings are at or above --fail-on.")
@click.option("--select", multiple=True, metavar="CODES",
              help="Only these rules: codes, prefixes (SC1) or names, comma-separated.")
@click.option("--ignore", multiple=True, metavar="CODES",
              help="Skip these rules: codes, prefixes or names, comma-separated.")
@click.option("--input-shape", "input_shapes", multiple=True, metavar="NAME=1x1x28x28",
              help="Pin an input's shape (symbolic dims); a bare shape pins the first input.")
@click.option("--debug", is_flag=True, help="Show tracebacks for internal errors.")
@click.version_option(__version__, prog_name="symcheck")
def check(paths: tuple, fmt: str, output: Optional[str], fail_on: str, exit_zero: bool,
          select: tuple, ignore: tuple, input_shapes: tuple, debug: bool) -> None:
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

    analyses: list[Analysis] = []
    errors: list[tuple[str, SymcheckError]] = []
    for path in paths:
        try:
            analyses.append(analyze(path, input_shapes=pins, select=selected, ignore=ignored))
        except SymcheckError as err:
            errors.append((path, err))
            click.echo(err.line(path), err=True)
        except Exception as exc:  # a bug: say so in one line, keep going
            if debug:
                traceback.print_exc()
            err = SymcheckError("internal", f"symcheck failed ({type(exc).__name__}: {exc}); "
                                            "this is a bug, rerun with --debug for the traceback")
            errors.append((path, err))
            click.echo(err.line(path), err=True)

    if fmt == "json":
        report = json_render.render_many(analyses, errors)
    else:
        report = "\n".join(_render_text(a, errors, debug) for a in analyses)
    if output:
        with open(output, "w", encoding="utf-8") as handle:
            handle.write(report)
    elif report:
        click.echo(report, nl=False)

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
        if debug:
            traceback.print_exc()
        err = SymcheckError("internal", f"symcheck failed ({type(exc).__name__}: {exc}); "
                                        "this is a bug, rerun with --debug for the traceback")
        errors.append((analysis.path, err))
        click.echo(err.line(analysis.path), err=True)
        return ""


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
