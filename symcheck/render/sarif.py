"""SARIF 2.1.0 for code-scanning services (GitHub's ``upload-sarif``), after ruff's ``sarif.rs``.

One run. ``tool.driver.rules`` lists only the rules that fired, sorted by
code, with the registry's text: ``shortDescription`` is when the rule fires,
``fullDescription`` the whole entry (when, why, example, how to fix, as
``symcheck rules CODE`` prints it), ``help`` the fix as text and the whole
entry as markdown (GitHub's rule help panel). Each finding is one result: ``level`` error,
warning or note (for info), the model file as the artifact (a relative URI
for a file below the current directory, else a ``file://`` URI), the layers
it names as ``logicalLocations``, and a ``partialFingerprints`` entry that
stays the same across runs, machines and file orders (rule, file and layers;
never the message, whose sizes change with the model). ONNX files are
binary, so locations have no region: the alert is on the file.

Files that could not be analysed are ``toolExecutionNotifications`` of the
run's invocation, which then has ``executionSuccessful: false``.

Records are :func:`symcheck.render.json.analysis_dict` documents (or any dict
with ``file`` and ``findings``) or :class:`~symcheck.analysis.Analysis`
objects; nothing here reads the clock or the absolute path of a relative file.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Iterable, Optional
from urllib.parse import quote

from .. import __version__
from ..paths import sort_key
from ..rules import RULES

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
FINGERPRINT_KEY = "symcheck/v1"
LEVEL = {"error": "error", "warning": "warning", "info": "note"}


def artifact_uri(path: str, base: Optional[str] = None) -> tuple:
    """``(uri, uriBaseId)``: relative to ``base`` (the current directory) when below it.

    >>> artifact_uri("models/a b.onnx", "/repo")
    ('models/a%20b.onnx', '%SRCROOT%')
    >>> artifact_uri("/elsewhere/m.onnx", "/repo")
    ('file:///elsewhere/m.onnx', None)
    """
    base = os.path.abspath(base or os.getcwd())
    absolute = os.path.normpath(os.path.join(base, path))
    if absolute.startswith(base.rstrip(os.sep) + os.sep):
        rel = os.path.relpath(absolute, base).replace(os.sep, "/")
        return quote(rel, safe="/"), "%SRCROOT%"
    posix = absolute.replace(os.sep, "/")
    if not posix.startswith("/"):
        posix = "/" + posix  # C:/models -> /C:/models
    return "file://" + quote(posix, safe="/:"), None


def _location(path: str, base: Optional[str], index: Optional[int] = None) -> dict:
    uri, base_id = artifact_uri(path, base)
    location = {"uri": uri}
    if base_id:
        location["uriBaseId"] = base_id
    if index is not None:
        location["index"] = index
    return location


def rule_descriptor(code: str) -> dict:
    """A ``reportingDescriptor`` from the registry."""
    r = RULES[code]
    text = (f"Fires when {r.summary}.\n\nWhy it matters: {r.why}\n\n"
            f"Example:\n    {r.example}\n\nHow to fix: {r.fix}")
    markdown = (f"Fires when {r.summary}.\n\n**Why it matters.** {r.why}\n\n"
                f"**Example.**\n\n```\n{r.example}\n```\n\n**How to fix.** {r.fix}")
    return {
        "id": r.code,
        "name": r.name,
        "shortDescription": {"text": f"{r.summary[:1].upper()}{r.summary[1:]}."},
        "fullDescription": {"text": text},
        "help": {"text": f"How to fix: {r.fix}", "markdown": markdown},
        "defaultConfiguration": {"level": LEVEL[r.severity]},
        "properties": {"name": r.name, "severity": r.severity},
    }


def fingerprint(code: str, uri: str, layers: Iterable[str], occurrence: int) -> str:
    """A stable id for one finding: rule, file, layers and the occurrence among equals."""
    key = "\0".join([code, uri, *layers, str(occurrence)])
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _record(item) -> dict:
    if isinstance(item, dict):
        return item
    return {"file": item.path, "findings": [f.to_dict() for f in item.findings]}


def sarif_log(records: Iterable, errors: Iterable = (), base: Optional[str] = None) -> dict:
    """The SARIF log as a dict. ``errors`` are ``(path, error)`` with ``.code``/``.reason``."""
    records = sorted((_record(r) for r in records), key=lambda r: sort_key(r["file"]))
    errors = sorted(errors, key=lambda e: sort_key(e[0]))
    fired = sorted({f["code"] for r in records for f in r["findings"] if f["code"] in RULES})
    index = {code: i for i, code in enumerate(fired)}
    artifacts, results = [], []
    for i, record in enumerate(records):
        location = _location(record["file"], base)
        artifacts.append({"location": location, "roles": ["analysisTarget"]})
        seen: dict = {}
        for f in record["findings"]:
            layers = [str(layer) for layer in f.get("layers") or ()]
            ident = (f["code"], tuple(layers))
            seen[ident] = seen.get(ident, 0) + 1
            result = {
                "ruleId": f["code"],
                "level": LEVEL[f["severity"]],
                "message": {"text": f["message"]},
                "locations": [{"physicalLocation": {"artifactLocation": {**location, "index": i}}}],
                "partialFingerprints": {
                    FINGERPRINT_KEY: fingerprint(f["code"], location["uri"], layers, seen[ident])},
            }
            if f["code"] in index:
                result["ruleIndex"] = index[f["code"]]
            if layers:
                result["locations"][0]["logicalLocations"] = [{"name": layer} for layer in layers]
            results.append(result)
    notifications = [{
        "level": "error",
        "message": {"text": f"error[{err.code}]: {err.reason}"},
        "locations": [{"physicalLocation": {"artifactLocation": _location(path, base)}}],
        "descriptor": {"id": err.code},
    } for path, err in errors]
    invocation: dict = {"executionSuccessful": not notifications}
    if notifications:
        invocation["toolExecutionNotifications"] = notifications
    run = {
        "tool": {"driver": {"name": "symcheck", "version": __version__,
                            "semanticVersion": __version__,
                            "rules": [rule_descriptor(code) for code in fired]}},
        "invocations": [invocation],
        "artifacts": artifacts,
        "results": results,
    }
    return {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}


def render_many(records: Iterable, errors: Iterable = (), base: Optional[str] = None) -> str:
    return json.dumps(sarif_log(records, errors, base), indent=2, ensure_ascii=False) + "\n"


def render(analysis) -> str:
    """One model's SARIF log."""
    return render_many([analysis])
