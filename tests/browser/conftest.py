"""A real server (``talents serve --demo`` on a fresh SQLite database) and Debian's Chromium driven by Selenium,
with axe-core (from node_modules, injected by the test) checking every page a journey visits."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``talents serve --demo`` on 127.0.0.1 and a fresh database: what the README's first command serves."""
    directory = tmp_path_factory.mktemp("live")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "TALENTS_DEMO"}
    env.update({"TALENTS_DATABASE_URL": f"sqlite:///{directory / 'demo.db'}", "TALENTS_ENV": "development",
                "TALENTS_BASE_URL": f"http://127.0.0.1:{port}",
                # The journeys sign a dozen people in from one address within a minute.
                "TALENTS_SIGNIN_RATE_PER_MINUTE": "1000"})
    proc = subprocess.Popen([sys.executable, "-m", "talents.cli", "serve", "--demo", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=(directory / "server.log").open("w"))
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("the server did not start: " + (directory / "server.log").read_text()[-2000:])
    yield base
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver:
        pytest.fail("Debian's chromium and chromium-driver are needed (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1280,1600", f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # console messages, CSP reports included
    drv = webdriver.Chrome(service=Service(driver), options=options)
    drv.set_page_load_timeout(240)  # two cores shared with the rest of the suite: be patient
    yield drv
    drv.quit()


SCREENSHOTS = Path(os.environ.get("TALENTS_SCREENSHOTS", Path(__file__).parent / "screenshots"))
AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots of the pages: {SCREENSHOTS}")  # noqa: T201 - where to look, said once per run
    return SCREENSHOTS


_RUN_AXE = """
const done = arguments[arguments.length - 1];
axe.run(document, {resultTypes: ["violations"]}).then(
  r => done(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                     nodes: v.nodes.slice(0, 3).map(n => n.target.join(" "))}))),
  e => done([{id: "axe-error", impact: "critical", help: String(e), nodes: []}]));
"""


class Pages:
    """A user in the browser: signs in from the sign-in page, follows links, fills forms; every page visited
    is checked by axe-core (no serious or critical violation) and the main ones are photographed."""

    def __init__(self, browser: Any, base: str, shots: Path) -> None:
        self.browser, self.base, self.shots = browser, base, shots
        self.axe = AXE.read_text(encoding="utf-8")
        self.checked: list[str] = []

    # ---------------------------------------------------------------- checks
    def check(self, screenshot: str | None = None) -> None:
        from selenium.webdriver.common.by import By

        assert self.browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "fr"
        self.browser.execute_script(self.axe)
        self.browser.set_script_timeout(60)
        violations = self.browser.execute_async_script(_RUN_AXE)
        severe = [v for v in violations if v["impact"] in ("serious", "critical")]
        assert severe == [], f"{self.browser.current_url}: {severe}"
        self.checked.append(self.browser.current_url)
        if screenshot:
            self.browser.save_screenshot(str(self.shots / f"{screenshot}.png"))

    def wait_for(self, css: str, timeout: float = 180) -> Any:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as ec
        from selenium.webdriver.support.ui import WebDriverWait

        return WebDriverWait(self.browser, timeout).until(ec.presence_of_element_located((By.CSS_SELECTOR, css)))

    # ---------------------------------------------------------------- moving around
    def sign_in(self, email: str, role: str) -> None:
        """From the home page: « Se connecter », the demo sign-in form, back on the home page."""
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import Select

        self.browser.delete_all_cookies()
        self.browser.get(self.base + "/")
        self.check()
        self.browser.find_element(By.LINK_TEXT, "Se connecter").click()
        self.wait_for("form input[name=email]")
        self.check("connexion")
        self.browser.find_element(By.NAME, "email").send_keys(email)
        Select(self.browser.find_element(By.NAME, "role")).select_by_value(role)
        self.browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
        self.wait_for("#qui")
        assert self.browser.find_element(By.ID, "qui").text == email
        self.check()

    def follow(self, text: str, screenshot: str | None = None) -> None:
        """Click a link by its text (in the menu or the page) and check the page it opens."""
        from selenium.webdriver.common.by import By

        links = [a for a in self.browser.find_elements(By.PARTIAL_LINK_TEXT, text) if a.is_displayed()]
        assert links, f"no link « {text} » on {self.browser.current_url}"
        links[0].click()
        self.wait_for("footer")
        self.check(screenshot)

    def fill(self, values: dict[str, str], within: Any = None) -> None:
        """Fill fields by their id (text, date, number, textarea, select, checkbox)."""
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import Select

        root = within or self.browser
        for field_id, value in values.items():
            element = root.find_element(By.ID, field_id)
            if element.tag_name == "select":
                Select(element).select_by_value(value)
            elif element.get_attribute("type") in ("checkbox", "radio"):
                if element.is_selected() != bool(value):
                    self.browser.execute_script("arguments[0].click()", element)
            elif element.get_attribute("type") == "date":
                self.browser.execute_script("arguments[0].value = arguments[1]", element, value)
            else:
                element.clear()
                element.send_keys(value)

    def press(self, text: str, within: Any = None, screenshot: str | None = None) -> None:
        """Press a button by its text, wait for the next page, check it. ``within`` may be an element or a
        function finding it again (the design system's script may redraw a table right after the load)."""
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        for attempt in range(3):
            try:
                root = (within() if callable(within) else within) or self.browser
                buttons = [b for b in root.find_elements(By.TAG_NAME, "button") if b.text.strip() == text]
                assert buttons, f"no button « {text} » on {self.browser.current_url}"
                old = self.browser.find_element(By.TAG_NAME, "html")
                self.browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", buttons[0])
                buttons[0].click()
                break
            except WebDriverException:
                if attempt == 2:
                    raise
                time.sleep(1)
        WebDriverWait(self.browser, 240).until(lambda _: _left_the_document(old))
        self.wait_for("footer")
        self.check(screenshot)

    def text(self, css: str = "main") -> str:
        from selenium.webdriver.common.by import By

        return str(self.browser.find_element(By.CSS_SELECTOR, css).text)


def _left_the_document(element: Any) -> bool:
    """True once ``element`` is no longer in the page. Chromium reports that either as a stale element or, for a
    node of a page it has already replaced, as "Node with given id does not belong to the document"."""
    from selenium.common.exceptions import WebDriverException

    try:
        element.is_enabled()
    except WebDriverException:
        return True
    return False


@pytest.fixture
def pages(live_server: str, browser: Any, screenshot_dir: Path) -> Pages:
    return Pages(browser, live_server, screenshot_dir)
