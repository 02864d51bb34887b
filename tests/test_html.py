"""The HTML report: structure, escaping, golden outlines, the CLI, and a real browser.

The browser tests drive Debian's Chromium (``/usr/bin/chromium``, installed by
``.ci/run``) over the DevTools protocol on a pipe (``--remote-debugging-pipe``:
no port, no websocket, no extra package). Each page is opened from file://;
the tests record every network request, console message, log entry, page
exception and JavaScript dialog, then count the diagram's levels and finding
markers in the live DOM and save a 1280×800 screenshot to tests/_artifacts/.

Golden outlines live in tests/golden/; regenerate them with
``SYMCHECK_UPDATE_GOLDEN=1 python -m pytest tests/test_html.py``.
"""

from __future__ import annotations

import base64
import glob
import html.parser
import json
import os
import re
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import onnx
import pytest
from click.testing import CliRunner
from onnx import TensorProto, helper

import symcheck
from symcheck.cli import check
from symcheck.render import html as html_render

from .conftest import ROOT, SAMPLES, sample

ARTIFACTS = ROOT / "tests" / "_artifacts"
GOLDEN = ROOT / "tests" / "golden"
UPDATE = os.environ.get("SYMCHECK_UPDATE_GOLDEN") == "1"
CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)

PAYLOADS = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "</svg><script>alert(2)</script>"]


# -- a tiny DevTools client over --remote-debugging-pipe ------------------------------

class Chromium:
    """Headless Chromium driven over the DevTools pipe (fd 3 in, fd 4 out)."""

    FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-extensions", "--disable-default-apps", "--mute-audio",
             "--hide-scrollbars", "--remote-debugging-pipe"]

    def __init__(self, binary: str):
        self.profile = tempfile.mkdtemp(prefix="symcheck-chromium-")
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()

        def wire_fds():  # in the child: its fd 3 reads our commands, fd 4 writes replies
            a, b = os.dup(to_child_r), os.dup(from_child_w)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [binary, *self.FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
            preexec_fn=wire_fds, close_fds=False, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        os.close(to_child_r)
        os.close(from_child_w)
        self._buffer = b""
        self._next = 0
        self.events: list = []

    # transport
    def _send(self, method: str, params=None, session=None) -> int:
        self._next += 1
        message = {"id": self._next, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_child, json.dumps(message).encode() + b"\0")
        return self._next

    def _receive(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            ready, _, _ = select.select([self._from_child], [], [], left)
            if not ready:
                raise TimeoutError
            chunk = os.read(self._from_child, 1 << 20)
            if not chunk:
                raise EOFError("chromium closed the DevTools pipe")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method: str, params=None, session=None, timeout: float = 20) -> dict:
        wanted = self._send(method, params, session)
        deadline = time.monotonic() + timeout
        while True:
            message = self._receive(max(0.0, deadline - time.monotonic()))
            if message.get("id") == wanted:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self._event(message)

    def _event(self, message: dict) -> None:
        self.events.append(message)
        if message.get("method") == "Page.javascriptDialogOpening":  # never leave a dialog open
            self._send("Page.handleJavaScriptDialog", {"accept": True}, message.get("sessionId"))

    def pump(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                self._event(self._receive(deadline - time.monotonic()))
            except TimeoutError:
                return

    def wait_for(self, method: str, session: str, timeout: float = 20) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            for e in self.events:
                if e.get("method") == method and e.get("sessionId") == session:
                    return e
            self._event(self._receive(max(0.0, deadline - time.monotonic())))

    # pages
    def open(self, url: str, width: int = 1280, height: int = 800) -> "Page":
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Network", "Runtime", "Log"):
            self.call(f"{domain}.enable", session=session)
        self.call("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}, session)
        first = len(self.events)
        self.call("Page.navigate", {"url": url}, session)
        self.wait_for("Page.loadEventFired", session)
        self.pump(0.3)  # late console messages and CSP reports
        return Page(self, target, session, first)

    def close(self) -> None:
        try:
            self._send("Browser.close")
            self.proc.wait(timeout=10)
        except Exception:
            os.killpg(self.proc.pid, 9)
            self.proc.wait(timeout=10)
        for fd in (self._to_child, self._from_child):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self.profile, ignore_errors=True)


class Page:
    def __init__(self, browser: Chromium, target: str, session: str, first: int):
        self.browser, self.target, self.session, self.first = browser, target, session, first

    @property
    def events(self) -> list:
        return [e for e in self.browser.events[self.first:] if e.get("sessionId") == self.session]

    def requests(self) -> list:
        return [e["params"]["request"]["url"] for e in self.events
                if e.get("method") == "Network.requestWillBeSent"]

    def errors(self) -> list:
        """Console errors, log errors (CSP violations among them) and uncaught exceptions."""
        out = []
        for e in self.events:
            method, params = e.get("method"), e.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert", "warning"):
                out.append(json.dumps(params.get("args"))[:300])
            elif method == "Log.entryAdded" and params["entry"].get("level") in ("error", "warning"):
                out.append(params["entry"].get("text", "")[:300])
            elif method == "Runtime.exceptionThrown":
                out.append(json.dumps(params.get("exceptionDetails"))[:300])
        return out

    def dialogs(self) -> list:
        return [e["params"].get("message") for e in self.events
                if e.get("method") == "Page.javascriptDialogOpening"]

    def evaluate(self, expression: str):
        result = self.browser.call("Runtime.evaluate", {
            "expression": expression, "returnByValue": True}, self.session)
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"])
        return result["result"].get("value")

    def screenshot(self, path: Path) -> None:
        data = self.browser.call("Page.captureScreenshot", {"format": "png"}, self.session)["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        self.browser.call("Target.closeTarget", {"targetId": self.target})


def _chromium_binary() -> str:
    """Debian's chromium; installed here (as root, with apt) when .ci/run did not."""
    global CHROMIUM
    if CHROMIUM is None and os.geteuid() == 0 and shutil.which("apt-get"):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        for cmd in (["apt-get", "install", "-y", "-q", "chromium"],
                    ["sh", "-c", "apt-get update -q && apt-get install -y -q chromium"]):
            try:
                subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               timeout=900, check=False)
            except (OSError, subprocess.TimeoutExpired):
                break
            CHROMIUM = shutil.which("chromium")
            if CHROMIUM:
                break
    if CHROMIUM is None:
        pytest.skip("chromium is not installed and apt-get could not install it "
                    "(.ci/run runs `apt-get install -y chromium`)")
    return CHROMIUM


@pytest.fixture(scope="module")
def browser():
    b = Chromium(_chromium_binary())
    try:
        b.call("Target.getTargets", timeout=30)
    except (EOFError, TimeoutError, OSError) as exc:
        b.close()
        pytest.fail(f"chromium at {CHROMIUM} did not start: {exc}")
    yield b
    b.close()


# -- models -----------------------------------------------------------------------------

def unet(names=lambda s: s, skip=True, doc="", producer="handmade", metadata=None) -> onnx.ModelProto:
    """A two-level U-Net (conv, pool, conv, resize, concat skip, conv) built by hand."""
    import numpy as np
    from onnx import numpy_helper

    n = names
    rng = np.random.default_rng(0)

    def init(name, shape):
        return numpy_helper.from_array((rng.standard_normal(shape) * 0.1).astype(np.float32), n(name))

    inits = [init("w1", (4, 1, 3, 3)), init("b1", (4,)), init("w2", (8, 4, 3, 3)), init("b2", (8,)),
             init("w3", (1, 12 if skip else 8, 3, 3)), init("b3", (1,)),
             numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), n("scales"))]
    conv = dict(pads=[1, 1, 1, 1], kernel_shape=[3, 3])
    nodes = [
        helper.make_node("Conv", [n("x"), n("w1"), n("b1")], [n("c1")], name=n("enc.conv1"), **conv),
        helper.make_node("Relu", [n("c1")], [n("r1")], name=n("enc.relu1")),
        helper.make_node("MaxPool", [n("r1")], [n("p1")], name=n("enc.pool"), kernel_shape=[2, 2],
                         strides=[2, 2]),
        helper.make_node("Conv", [n("p1"), n("w2"), n("b2")], [n("c2")], name=n("mid.conv2"), **conv),
        helper.make_node("Relu", [n("c2")], [n("r2")], name=n("mid.relu2")),
        helper.make_node("Resize", [n("r2"), "", n("scales")], [n("u")], name=n("dec.up"), mode="nearest"),
    ]
    last = n("u")
    if skip:
        nodes.append(helper.make_node("Concat", [n("u"), n("r1")], [n("cat")], name=n("dec.cat"), axis=1))
        last = n("cat")
    nodes += [helper.make_node("Conv", [last, n("w3"), n("b3")], [n("c3")], name=n("dec.conv3"), **conv),
              helper.make_node("Sigmoid", [n("c3")], [n("y")], name=n("dec.sigmoid"))]
    graph = helper.make_graph(
        nodes, n("graph"), [helper.make_tensor_value_info(n("x"), TensorProto.FLOAT, [1, 1, 16, 16])],
        [helper.make_tensor_value_info(n("y"), TensorProto.FLOAT, [1, 1, 16, 16])], inits, doc_string=doc)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name=producer, producer_version=producer, doc_string=doc)
    model.ir_version = 8
    for key, value in (metadata or {}).items():
        prop = model.metadata_props.add()
        prop.key, prop.value = key, value
    onnx.checker.check_model(model)
    return model


def hostile_model() -> onnx.ModelProto:
    """The U-Net with an HTML/script payload in every name, doc string, producer and metadata."""
    memo: dict = {}

    def names(s):
        if s not in memo:
            memo[s] = s + PAYLOADS[len(memo) % len(PAYLOADS)]
        return memo[s]

    return unet(names, doc="".join(PAYLOADS), producer=PAYLOADS[2],
                metadata={PAYLOADS[0]: PAYLOADS[1], "note": PAYLOADS[2]})


class FakeVerification:
    """What the report needs of ``analysis.verification``: text lines and a dict."""

    def text_lines(self):
        return ["verified 13/13 layer shapes in onnxruntime " + PAYLOADS[0]]

    def to_dict(self):
        return {"status": "verified", "note": PAYLOADS[1]}


# -- page structure, without a browser ---------------------------------------------------

class Outline(html.parser.HTMLParser):
    """A normalized skeleton of a page: tag, class, data-* (and a few stable texts)."""

    KEEP_TEXT = {"h1", "h2", "th", "dt", "strong"}
    VOID = {"meta", "br", "input", "link", "img", "hr", "wbr", "source", "area", "col"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.lines: list = []
        self.stack: list = []
        self.tags: list = []
        self.attrs: list = []
        self.text_of: dict = {}

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.extend(attrs)
        keep = []
        for name, value in attrs:
            if name == "class" or name.startswith("data-") or name in ("id", "tabindex", "role"):
                keep.append(f"{name}={value}")
            if name == "id" and re.fullmatch(r"[bt]\d+c?", value or ""):
                keep[-1] = "id=#"
        self.lines.append("  " * len(self.stack) + " ".join([tag] + keep))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if self.stack and self.stack[-1] == tag:
            self.stack.pop()

    def handle_endtag(self, tag):
        while self.stack:
            if self.stack.pop() == tag:
                break

    def handle_data(self, data):
        if self.stack and self.stack[-1] in self.KEEP_TEXT and data.strip():
            self.lines.append("  " * len(self.stack) + "| " + " ".join(data.split()))


def outline(page: str) -> str:
    parser = Outline()
    parser.feed(page)
    text = "\n".join(parser.lines) + "\n"
    return text.replace(symcheck.__version__, "<version>")


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE or not path.exists():
        if not UPDATE and os.environ.get("CI"):
            pytest.fail(f"{path} is missing; run SYMCHECK_UPDATE_GOLDEN=1 python -m pytest {__file__}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    expected = path.read_text(encoding="utf-8")
    assert text == expected, (f"{path} differs; if the change is intended, regenerate with "
                              f"SYMCHECK_UPDATE_GOLDEN=1 python -m pytest {__file__}")


SAMPLE_FILES = sorted(os.path.basename(p) for p in glob.glob(str(SAMPLES / "*.onnx")))


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> dict:
    """Each sample's report (static analysis), written to disk once."""
    folder = tmp_path_factory.mktemp("html")
    out = {}
    for name in SAMPLE_FILES:
        analysis = symcheck.analyze(sample(name))
        page = html_render.render(analysis)
        path = folder / (name + ".html")
        path.write_text(page, encoding="utf-8")
        out[name] = (analysis, page, path)
    return out


def test_page_is_self_contained_and_locked_down(pages):
    analysis, page, _ = pages["keras_cae.onnx"]
    head = page.split("</head>")[0]
    csp = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', head)
    assert csp, "no Content-Security-Policy meta tag"
    policy = csp.group(1)
    assert "default-src &#39;none&#39;" in policy or "default-src 'none'" in policy
    assert "script-src" not in policy and "unsafe-inline" not in policy  # no script at all
    assert head.index("Content-Security-Policy") < head.index("<style>")
    assert "<script" not in page.lower()
    assert not re.search(r"\bsrc=", page)
    assert "@import" not in page and "@font-face" not in page
    assert re.findall(r"url\(([^)]*)\)", page) == ["#arrowhead"] * len(re.findall(r"url\(", page))
    for href in re.findall(r'href="([^"]*)"', page):
        assert href.startswith("#"), href
    assert re.findall(r"https?://[^\s\"']+", page) == ["http://www.w3.org/2000/svg"]  # a namespace
    assert html_render.render(analysis) == page  # deterministic


def test_style_hash_matches_the_stylesheet(pages):
    import hashlib

    _, page, _ = pages["matlab_cae.onnx"]
    css = page.split("<style>", 1)[1].split("</style>", 1)[0]
    digest = base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()
    assert f"sha256-{digest}" in page.split("<style>")[0]


@pytest.mark.parametrize("name", SAMPLE_FILES)
def test_every_finding_is_marked_once_in_the_diagram(pages, name):
    analysis, page, _ = pages[name]
    d = html_render.diagram(analysis)
    marked = sorted(m.code for group in (
        [m for b in d.blocks for line in b.lines for m in line.markers],
        [m for t in d.transitions for m in t.markers],
        [m for p in d.pairs for m in p.markers], d.globals) for m in group)
    assert marked == sorted(f.code for f in analysis.findings)
    assert d.levels == len(analysis.structure.levels) == 4
    assert len(re.findall(r'class="marker ', page)) == len(analysis.findings)


@pytest.mark.parametrize("name", SAMPLE_FILES)
def test_golden_outline(pages, name):
    _, page, _ = pages[name]
    check_golden(name.replace(".onnx", ".outline"), outline(page))


def test_skip_connections_are_drawn():
    analysis = symcheck.analyze(unet())
    assert len(analysis.structure.skips) == 1
    page = html_render.render(analysis)
    assert page.count('data-skip=') == 1
    assert 'data-source="enc.conv1"' in page  # the skip leaves the encoder's relu'd conv
    check_golden("unet.outline", outline(page))


def test_hostile_strings_are_escaped():
    analysis = symcheck.analyze(hostile_model())
    analysis.verification = FakeVerification()
    page = html_render.render(analysis)
    parser = Outline()
    parser.feed(page)
    assert "script" not in parser.tags and "img" not in parser.tags
    assert not any(name.startswith("on") for name, _ in parser.attrs)
    assert not any("javascript:" in (value or "").lower() for _, value in parser.attrs)
    assert "<script" not in page.lower() and "<img" not in page.lower()
    assert "</svg><script" not in page
    # the svg closes exactly once: a name cannot end it early
    assert page.count("</svg>") == 1
    # the payloads are there, as text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in page


def test_display_neutralises_bidi_and_control_characters():
    assert html_render.display("conv\u202e1\x1b[31m") == "conv?1?[31m"


def test_verification_section():
    analysis = symcheck.analyze(sample("keras_cae.onnx"))
    assert 'id="verification"' in html_render.render(analysis)
    assert "Not run" in html_render.render(analysis)
    analysis.verification = FakeVerification()
    page = html_render.render(analysis)
    assert "verified 13/13 layer shapes in onnxruntime" in page
    assert "&lt;script&gt;" in page


def test_page_names_are_distinct():
    assert html_render.page_names(["a/m.onnx", "b/m.onnx", "c/M.onnx", "index.onnx"]) == [
        "m.html", "m-2.html", "M-3.html", "index-2.html"]


# -- the command line ----------------------------------------------------------------------

def run(*args):
    return CliRunner().invoke(check, list(args))


def test_format_html_to_stdout_and_file(tmp_path):
    result = run(sample("matlab_cae.onnx"), "--format", "html")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("<!DOCTYPE html>")
    out = tmp_path / "r.html"
    result = run(sample("keras_cae.onnx"), "--format", "html", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert 'data-verdict="asymmetric"' in out.read_text()


def test_html_option_writes_one_page_beside_the_text_report(tmp_path):
    out = tmp_path / "report.html"
    result = run(sample("keras_cae.onnx"), "--html", str(out))
    assert result.exit_code == 0, result.output
    assert "verdict  asymmetric" in result.stdout
    page = out.read_text()
    assert "<title>keras_cae.onnx · asymmetric · symcheck</title>" in page


def test_several_models_give_pages_and_an_index(tmp_path):
    junk = tmp_path / "junk.onnx"
    junk.write_text("not a model")
    outdir = tmp_path / "out"
    result = run(sample("keras_cae.onnx"), sample("matlab_cae.onnx"), str(junk),
                 "--html", str(outdir) + os.sep)
    assert result.exit_code == 2  # the junk file
    assert sorted(os.listdir(outdir)) == ["index.html", "keras_cae.html", "matlab_cae.html"]
    index = (outdir / "index.html").read_text()
    assert re.search(r'href="keras_cae.html">keras_cae.onnx</a>.*?asymmetric', index, re.S)
    assert re.search(r'href="matlab_cae.html">matlab_cae.onnx</a>.*?symmetric with notes', index, re.S)
    assert 'data-error="not-onnx"' in index
    assert 'data-verdict="symmetric with notes"' in (outdir / "matlab_cae.html").read_text()


def test_html_usage_errors(tmp_path):
    both = (sample("keras_cae.onnx"), sample("matlab_cae.onnx"))
    result = run(*both, "--format", "html")
    assert result.exit_code == 2 and "--html DIR" in result.stderr
    result = run(*both, "--html", str(tmp_path / "one.html"))
    assert result.exit_code == 2 and "several models need a directory" in result.stderr


# -- in a real browser ------------------------------------------------------------------------

MARKERS_JS = """JSON.stringify([...document.querySelectorAll('#dg .marker')].map(m => {
  const c = m.closest('.layer, .transition, .pair, .global');
  const b = m.closest('.block');
  const r = m.getBoundingClientRect();
  return {code: m.dataset.code, where: c.classList[0], layer: c.dataset.layer || '',
          level: c.dataset.level || '', from: c.dataset.from || '', to: c.dataset.to || '',
          side: (b && b.dataset.side) || c.dataset.side || '', block: b ? b.dataset.level : '',
          bottom: r.bottom, right: r.right, left: r.left};
}))"""

LEVELS_JS = """JSON.stringify({
  levels: [...new Set([...document.querySelectorAll('#dg .block[data-level]')].map(b => +b.dataset.level))].sort(),
  declared: +document.getElementById('dg').dataset.levels,
  svgBottom: document.getElementById('dg').getBoundingClientRect().bottom,
  verdictBottom: document.querySelector('.verdict').getBoundingClientRect().bottom,
  scrollWidth: document.documentElement.scrollWidth,
  injected: document.querySelectorAll('script, img, iframe, object, embed').length})"""


def _markers(page) -> list:
    return json.loads(page.evaluate(MARKERS_JS))


@pytest.mark.parametrize("name", SAMPLE_FILES)
def test_sample_page_in_chromium(browser, pages, name):
    analysis, _, path = pages[name]
    page = browser.open(path.as_uri())
    try:
        assert page.requests() == [path.as_uri()], "the page fetched something"
        assert page.errors() == []
        assert page.dialogs() == []
        info = json.loads(page.evaluate(LEVELS_JS))
        assert info["levels"] == [0, 1, 2, 3] and info["declared"] == 4
        assert info["injected"] == 0
        assert info["scrollWidth"] <= 1280, "the page scrolls sideways at 1280 px"
        marks = _markers(page)
        assert sorted(m["code"] for m in marks) == sorted(f.code for f in analysis.findings)
        for m in marks:
            assert 0 <= m["left"] and m["right"] <= 1280, m
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(ARTIFACTS / name.replace(".onnx", ".png"))
    finally:
        page.close()


def test_keras_asymmetries_are_marked_in_place_above_the_fold(browser, pages):
    _, _, path = pages["keras_cae.onnx"]
    page = browser.open(path.as_uri())
    try:
        info = json.loads(page.evaluate(LEVELS_JS))
        assert info["svgBottom"] <= 800, "the diagram does not fit above the fold at 1280×800"
        marks = _markers(page)
        where = sorted((m["code"], m["where"], m["layer"], m["side"], m["level"] or m["block"] or
                        (f"{m['from']}->{m['to']}" if m["from"] else "")) for m in marks)
        assert where == [
            ("SC101", "transition", "max_pooling2d_2", "encoder", "2->3"),  # the rounding pool 7→4
            ("SC102", "pair", "", "", "1"),  # 14×14 vs 16×16
            ("SC102", "pair", "", "", "2"),  # 7×7 vs 8×8
            ("SC103", "layer", "conv2d_5", "decoder", "1"),  # the valid-conv trim 16→14
            ("SC104", "global", "", "", ""),  # round-trips for H, W ≡ 4 (mod 8)
            ("SC201", "layer", "conv2d_3", "bottleneck", "3"),  # the extra conv at the bottleneck
        ]
        assert all(m["bottom"] <= 800 for m in marks)
        # the 7 vs 8 mismatch reads in the link itself
        texts = json.loads(page.evaluate(
            "JSON.stringify([...document.querySelectorAll('#dg .pair.mismatch .pt')].map(t => t.textContent))"))
        assert texts == ["14×14 ↔ 16×16", "7×7 ↔ 8×8"]
    finally:
        page.close()


def test_matlab_asymmetries_are_marked_in_place(browser, pages):
    _, _, path = pages["matlab_cae.onnx"]
    page = browser.open(path.as_uri())
    try:
        where = sorted((m["code"], m["where"], m["layer"], m["side"], f"{m['from']}->{m['to']}")
                       for m in _markers(page))
        assert where == [
            ("SC104", "global", "", "", "->"),
            ("SC201", "transition", "transposed-conv_1", "decoder", "3->2"),
            ("SC204", "transition", "transposed-conv_1", "decoder", "3->2"),
        ]
        assert page.evaluate("document.querySelectorAll('#dg .pair.mismatch').length") == 0
    finally:
        page.close()


def test_focus_and_hover_show_layers_and_shapes(browser, pages):
    _, _, path = pages["keras_cae.onnx"]
    page = browser.open(path.as_uri())
    try:
        shown = "JSON.stringify([...document.querySelectorAll('#dg .card')].filter(c => getComputedStyle(c).display !== 'none').map(c => c.textContent))"
        assert json.loads(page.evaluate(shown)) == []
        page.evaluate("document.querySelector('.block[data-side=\"decoder\"][data-level=\"1\"]').focus()")
        cards = json.loads(page.evaluate(shown))
        assert len(cards) == 1 and "conv2d_5" in cards[0] and "16×16×8 → 14×14×16" in cards[0]
        page.evaluate("document.activeElement.blur()")
        x, y = json.loads(page.evaluate(
            "(() => { const r = document.querySelector('.transition[data-layer=\"max_pooling2d_2\"] .tl')"
            ".getBoundingClientRect(); return JSON.stringify([r.x + r.width / 2, r.y + r.height / 2]); })()"))
        browser.call("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x, "y": y}, page.session)
        cards = json.loads(page.evaluate(shown))
        assert len(cards) == 1 and "max_pooling2d_2" in cards[0] and "7×7×8 → 4×4×8" in cards[0]
    finally:
        page.close()


def test_hostile_model_page_is_inert_in_chromium(browser, tmp_path):
    analysis = symcheck.analyze(hostile_model())
    analysis.verification = FakeVerification()
    path = tmp_path / "hostile.html"
    path.write_text(html_render.render(analysis), encoding="utf-8")
    page = browser.open(path.as_uri())
    try:
        page.evaluate("document.querySelectorAll('.block, .transition').forEach(e => e.focus())")
        browser.pump(0.2)
        assert page.dialogs() == []
        assert page.requests() == [path.as_uri()]
        assert page.errors() == []
        info = json.loads(page.evaluate(LEVELS_JS))
        assert info["injected"] == 0
        text = page.evaluate("document.body.textContent")
        for payload in PAYLOADS:  # shown to the reader as text
            assert payload in text
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(ARTIFACTS / "hostile.png")
    finally:
        page.close()


def test_harness_sees_dialogs_requests_and_csp_errors(browser, tmp_path):
    """A positive control: the checks above would catch a page that misbehaves."""
    bad = tmp_path / "bad.html"
    bad.write_text("<!DOCTYPE html><p>x</p><script>alert('pwned')</script>", encoding="utf-8")
    page = browser.open(bad.as_uri())
    try:
        assert page.dialogs() == ["pwned"]
    finally:
        page.close()
    locked = tmp_path / "locked.html"
    locked.write_text("<!DOCTYPE html><meta http-equiv=\"Content-Security-Policy\" "
                      "content=\"default-src 'none'\"><img src=\"x.png\"><script>alert(1)</script>",
                      encoding="utf-8")
    page = browser.open(locked.as_uri())
    try:
        assert page.dialogs() == []
        assert any(url.endswith("x.png") for url in page.requests())
        assert len(page.errors()) >= 2  # the blocked script and the blocked image
    finally:
        page.close()


def test_display_of_printable_strings_is_a_shortcut_to_the_same_result():
    """display() skips its per-character pass for strings str.isprintable() accepts;
    on any string, limit and newline choice it gives what the pass gives."""
    import unicodedata

    from hypothesis import given, settings
    from hypothesis import strategies as st

    from symcheck.render.html import display

    def by_character(text: str, limit, keep_newlines: bool) -> str:
        s = "".join(ch if keep_newlines and ch in "\n\t" else "?" if unicodedata.category(ch)[0] == "C"
                    else ch for ch in text)
        if limit is not None and len(s) > limit:
            keep = (limit - 1) // 2
            s = s[:keep] + "…" + s[len(s) - (limit - 1 - keep):]
        return s

    @settings(max_examples=500, deadline=None, database=None)
    @given(st.text(), st.one_of(st.none(), st.integers(3, 60)), st.booleans())
    def check(text, limit, keep_newlines):
        assert display(text, limit, keep_newlines) == by_character(text, limit, keep_newlines)

    check()
    for text in ("conv 3×3 → relu", "a\u202eb", "x\u2028y", "tab\there\nnext", "\x00", "é\u200bz"):
        for keep in (False, True):
            assert display(text, 40, keep) == by_character(text, 40, keep)
