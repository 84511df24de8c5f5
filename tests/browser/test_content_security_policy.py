"""The pages and the API explorer work under the Content-Security-Policy: nothing they need is blocked."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

pytestmark = pytest.mark.browser


def _violations(browser) -> list[str]:
    return [e["message"] for e in browser.get_log("browser") if "Content Security Policy" in e["message"]]


def test_pages_and_the_api_explorer_break_no_rule_of_the_policy(live_server, browser):
    browser.delete_all_cookies()
    browser.get_log("browser")  # start from an empty console
    browser.get(live_server + "/auth/demo?next=/besoins")
    browser.find_element(By.NAME, "email").send_keys("revue@numerique.gouv.fr")
    Select(browser.find_element(By.NAME, "role")).select_by_value("reviewer")
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    WebDriverWait(browser, 20).until(lambda b: urlparse(b.current_url).path == "/besoins")
    for path in ("/", "/besoins", "/pilotage", "/mon-espace", "/schema/swagger"):
        browser.get(live_server + path)
    browser.implicitly_wait(10)
    assert browser.find_element(By.CSS_SELECTOR, ".swagger-ui .info")  # the explorer started and read the schema
    assert _violations(browser) == []
