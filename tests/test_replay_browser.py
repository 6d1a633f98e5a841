"""The replay's HTML player in a real browser: headless Chromium driven by Selenium.

The saved page is opened from a ``file://`` URL with the network switched off; the test steps
through it with ``window.gradengineReplay`` and, at every step, compares ``state()`` and every
node's ``data-grad`` with the frames recorded from the engine (themselves checked against
``backward()`` in tests/test_replay.py), then takes a screenshot and checks it is not blank.
CI installs Debian's ``chromium`` and ``chromium-driver``; without them (or without Selenium or
Graphviz's ``dot``) the tests skip and say why.
"""

from __future__ import annotations

import io
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

from gradengine import Tensor, Value, nn
from gradengine.viz import replay

from test_replay import issue_example, neuron

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1400,1000"]


def _skip_reason() -> str:
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        return "needs a browser: apt-get install chromium chromium-driver"
    if shutil.which("dot") is None:
        return "the player's SVG needs the Graphviz dot binary: apt-get install graphviz"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "needs selenium: pip install selenium"
    return ""


pytestmark = [pytest.mark.skipif(bool(_skip_reason()), reason=_skip_reason() or "-"), pytest.mark.slow]


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    opts = Options()
    opts.binary_location = CHROMIUM
    for flag in FLAGS:
        opts.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="gradengine-chromium-")
    opts.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    try:
        driver.set_network_conditions(offline=True, latency=0, download_throughput=0, upload_throughput=0)
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _open(browser, r, tmp_path: Path, name: str = "backprop.html"):
    path = r.save(tmp_path / name)
    browser.get(path.resolve().as_uri())
    assert browser.execute_script("return typeof window.gradengineReplay") == "object"


def _dom_grads(browser) -> dict:
    rows = browser.execute_script(
        "return Array.from(document.querySelectorAll('g.node[data-id]'))"
        ".map(function (g) { return [g.getAttribute('data-node'), g.getAttribute('data-grad')]; })")
    return dict(rows)


def _as_numbers(text: str) -> np.ndarray:
    return np.array([float(x) for x in text.split(",")])


def _check_every_step(browser, r) -> None:
    n = len(r)
    assert browser.execute_script("return window.gradengineReplay.state()")["step"] == 0
    for k in list(range(n)) + [n - 2, 0]:  # forward through all, then jump back
        state = browser.execute_script(f"return window.gradengineReplay.step({k})")
        frame = r.frames[k]
        assert state == {"step": k, "total": n, "active": frame.active, "explanation": frame.explanation}
        dom = _dom_grads(browser)
        assert len(dom) == len(r._nodes)
        for name, shown in dom.items():
            if name not in frame.grads:
                assert shown == "", (k, name, shown)  # empty until computed
                continue
            want = frame.grads[name]
            np.testing.assert_array_equal(_as_numbers(shown), np.ravel(np.asarray(want, dtype=np.float64)))
    # next() / prev() move one step and stop at the ends
    browser.execute_script("window.gradengineReplay.step(0)")
    assert browser.execute_script("return window.gradengineReplay.prev()")["step"] == 0
    assert browser.execute_script("return window.gradengineReplay.next()")["step"] == 1
    browser.execute_script(f"window.gradengineReplay.step({n - 1})")
    assert browser.execute_script("return window.gradengineReplay.next()")["step"] == n - 1


def _check_screenshot(browser) -> None:
    from PIL import Image

    img = Image.open(io.BytesIO(browser.get_screenshot_as_png())).convert("RGB")
    px = np.asarray(img)
    assert px.shape[0] > 200 and px.shape[1] > 200
    not_white = np.any(px < 235, axis=2).mean()
    assert not_white > 0.01, f"the screenshot is blank ({not_white:.2%} non-white pixels)"
    assert len(np.unique(px.reshape(-1, 3), axis=0)) > 20  # text, fills, edges: many colours


def test_issue_example_in_the_browser(browser, tmp_path):
    L, a, b = issue_example()
    r = replay(L)
    _open(browser, r, tmp_path)
    _check_every_step(browser, r)
    final = _dom_grads(browser)
    browser.execute_script(f"window.gradengineReplay.step({len(r) - 1})")
    final = _dom_grads(browser)
    assert float(final["a"]) == a.grad and float(final["b"]) == b.grad  # backward()'s numbers
    _check_screenshot(browser)


def test_neuron_in_the_browser_with_hover(browser, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    o, v = neuron()
    r = replay(o)
    _open(browser, r, tmp_path)
    _check_every_step(browser, r)
    browser.execute_script(f"window.gradengineReplay.step({len(r) - 1})")
    node = browser.find_element(By.CSS_SELECTOR, 'g.node[data-node="w1"]')
    ActionChains(browser).move_to_element(node).perform()
    tip = browser.find_element(By.CSS_SELECTOR, ".ge-tip")
    assert tip.is_displayed()
    assert tip.text.startswith("do/dw1 = do/d(x1*w1) · d(x1*w1)/dw1")
    # the controls exist only when the script runs, and work
    browser.find_element(By.CSS_SELECTOR, ".ge-first").click()
    browser.find_element(By.CSS_SELECTOR, ".ge-next").click()
    assert browser.execute_script("return window.gradengineReplay.state()")["step"] == 1
    _check_screenshot(browser)


def test_tensor_replay_in_the_browser(browser, tmp_path):
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 1))
    x = Tensor(rng.standard_normal((4, 3)).astype(np.float32), name="x")
    loss = (model(x) ** 2).mean()
    r = replay(loss, params=model)
    _open(browser, r, tmp_path)
    _check_every_step(browser, r)
    _check_screenshot(browser)


def test_hostile_label_runs_nothing(browser, tmp_path):
    from selenium.webdriver.common.by import By

    label = "<script>window.pwned=1</script><img src=x onerror='window.pwned=2'>"
    a = Value(2.0, label=label)
    y = a * a
    y.label = "y"
    r = replay(y)
    _open(browser, r, tmp_path)
    _check_every_step(browser, r)
    assert browser.execute_script("return window.pwned === undefined")
    texts = [t.text for t in browser.find_elements(By.CSS_SELECTOR, "g.node text")]
    assert any("<script>" in t for t in texts)  # shown as its text
