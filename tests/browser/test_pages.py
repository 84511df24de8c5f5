"""The pages in a real browser: French, on the State design system, no console errors."""

import pytest
from selenium.webdriver.common.by import By

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def test_home_page_is_french_on_the_design_system_and_shows_figures(live_server, browser, screenshot_dir):
    browser.get(live_server + "/")
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "fr"
    assert browser.find_element(By.TAG_NAME, "h1").text == "Partagez vos talents numériques"
    # The DSFR stylesheet is really applied (served from the project, not a CDN): Marianne is the font.
    font = browser.execute_script("return getComputedStyle(document.body).fontFamily")
    assert "Marianne" in font
    tiles = browser.find_elements(By.CSS_SELECTOR, "#chiffres .fr-h3")
    figures = [int(t.text) for t in tiles]
    assert figures[0] == 300 and len(figures) == 5
    assert "Brigade" in browser.page_source or "téléservice" in browser.page_source
    browser.save_screenshot(str(screenshot_dir / "accueil.png"))
    severe = [e for e in browser.get_log("browser") if e.get("level") == "SEVERE"]
    assert severe == []


def test_needs_page_asks_for_sign_in(live_server, browser):
    browser.get(live_server + "/besoins")
    assert "/auth/login" in browser.current_url


def test_the_api_viewer_works_offline(live_server, browser):
    browser.get(live_server + "/schema/swagger")
    browser.implicitly_wait(10)
    assert browser.find_element(By.CSS_SELECTOR, ".swagger-ui")
    assert all("cdn" not in (s.get_attribute("src") or "") for s in browser.find_elements(By.TAG_NAME, "script"))
