"""The HTML report in a real headless browser (Debian's chromium through chromium-driver), at a
desktop and a phone width, with the network switched off. Screenshots are kept in tests/artifacts/.

Skipped, with the reason, where chromium, chromium-driver or selenium is missing; CI installs them."""

import shutil
import time
from pathlib import Path

import pytest

from tests.helpers import EXAMPLES, REPO, run_cli

ARTIFACTS = REPO / "tests" / "artifacts"
WIDTHS = {"desktop": 1280, "phone": 390}
CHROMIUM = next((p for p in ("chromium", "chromium-browser") if shutil.which(p)), None)
DRIVER = shutil.which("chromedriver")

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
except ImportError:  # pragma: no cover - the test extra installs it
    webdriver = None

pytestmark = pytest.mark.skipif(
    webdriver is None or CHROMIUM is None or DRIVER is None,
    reason="needs chromium and chromium-driver (apt-get install chromium chromium-driver) and selenium "
           "(pip install -e '.[test]')")


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--hide-scrollbars", "--force-device-scale-factor=1"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    try:
        # No network at all: a page that needs anything from elsewhere shows it (resources fail).
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd("Network.emulateNetworkConditions", {
            "offline": True, "latency": 0, "downloadThroughput": 0, "uploadThroughput": 0})
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """{name: path} of the HTML reports the tests open: one node with 3 causes, a cluster bundle."""
    from tests.kube_bundles import cluster_diags
    out = tmp_path_factory.mktemp("html")
    single = out / "three-causes.html"
    code, _, err = run_cli("diagnose", "--facts", EXAMPLES / "iptables-backend-mismatch-guide.yaml", "-o", single)
    assert code == 1, err
    cluster = out / "cluster.html"
    code, _, err = run_cli("diagnose", "--bundle", cluster_diags(out), "-o", cluster)
    assert code in (0, 1), err
    return {"three-causes": single, "cluster": cluster}


def open_at(driver, path, width):
    # The window's inner width is what the page lays out to: set the viewport, not the window.
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 600})
    driver.get(Path(path).as_uri())
    assert driver.execute_script("return document.readyState") == "complete"


def screenshot(driver, name):
    """The first screen as a reader sees it ({name}-top.png) and the whole page ({name}.png)."""
    ARTIFACTS.mkdir(exist_ok=True)
    top = ARTIFACTS / f"{name}-top.png"
    driver.save_screenshot(str(top))
    print(f"screenshot: {top}")
    path = ARTIFACTS / f"{name}.png"
    height = driver.execute_script("return document.documentElement.scrollHeight")
    width = driver.execute_script("return window.innerWidth")
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": min(height, 4000), "deviceScaleFactor": 1, "mobile": width < 600})
    driver.save_screenshot(str(path))
    print(f"screenshot: {path}")
    return path


@pytest.mark.parametrize("width_name", WIDTHS)
@pytest.mark.parametrize("page_name", ["three-causes", "cluster"])
def test_layout_fits_and_reads(browser, pages, page_name, width_name):
    width = WIDTHS[width_name]
    open_at(browser, pages[page_name], width)
    inner = browser.execute_script("return window.innerWidth")
    scroll = browser.execute_script("return document.scrollingElement.scrollWidth")
    assert inner == width
    assert scroll <= inner, f"horizontal scroll at {width} px: content is {scroll} px wide"
    # every element that shows text directly: at least 14 CSS px
    small = browser.execute_script("""
        const out = [];
        for (const el of document.body.querySelectorAll('*')) {
          const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
          const style = getComputedStyle(el);
          if (own && style.display !== 'none' && parseFloat(style.fontSize) < 14)
            out.push(el.tagName + ' ' + style.fontSize + ' ' + el.textContent.trim().slice(0, 40));
        }
        return out;""")
    assert small == []
    body = browser.execute_script("return parseFloat(getComputedStyle(document.body).fontSize)")
    assert body >= 14
    # nothing was fetched: the page is the file alone
    fetched = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)")
    assert fetched == []
    screenshot(browser, f"report-{page_name}-{width_name}")


@pytest.mark.parametrize("width_name", WIDTHS)
def test_summary_links_jump_to_their_cause(browser, pages, width_name):
    open_at(browser, pages["three-causes"], WIDTHS[width_name])
    for cause in ("version-skew", "forward-policy-drop", "iptables-backend-mismatch"):
        link = browser.find_element(By.CSS_SELECTOR, f'table.summary a[href="#{cause}"]')
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", link)
        link.click()
        time.sleep(0.05)
        assert browser.execute_script("return location.hash") == f"#{cause}"
        top = browser.execute_script(f"return document.getElementById('{cause}').getBoundingClientRect().top")
        assert -2 <= top <= 2 or browser.execute_script(
            "return Math.ceil(window.scrollY + innerHeight) >= document.scrollingElement.scrollHeight"), top


def test_copy_button_copies_the_command_without_prompt(browser, pages):
    open_at(browser, pages["three-causes"], WIDTHS["phone"])
    button = browser.find_element(By.CSS_SELECTOR, "section.cause .cmd button.copy")
    command = button.get_attribute("data-copy")
    assert command and not command.startswith("$")
    shown = browser.execute_script("return arguments[0].previousElementSibling.textContent", button)
    assert shown == command  # the "$ " prompt is drawn by CSS only
    prompt = browser.execute_script(
        "return getComputedStyle(arguments[0].previousElementSibling, '::before').content", button)
    assert prompt == '"$ "'
    # the real clipboard: headless chromium keeps its own; reading it back needs the permission
    browser.execute_cdp_cmd("Browser.grantPermissions",
                            {"permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]})
    others = [b for b in browser.find_elements(By.CSS_SELECTOR, "button.copy") if b.get_attribute("data-copy") != command]
    for each in (button, others[0]):  # two different commands: the second copy is not a stale first
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", each)
        each.click()
        time.sleep(0.2)
        copied = browser.execute_async_script(
            "const done = arguments[0]; navigator.clipboard.readText().then(done, e => done('error: ' + e))")
        assert copied == each.get_attribute("data-copy")
        assert each.text == "copied"
