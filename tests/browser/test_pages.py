"""The pages in a real browser: French, on the State design system, no console errors."""

from urllib.parse import urlparse

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def test_home_page_is_french_on_the_design_system_and_shows_figures(live_server, browser, screenshot_dir):
    browser.get_log("browser")  # forget what earlier pages logged (a form refused with a 422, say)
    browser.get(live_server + "/")
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "fr"
    assert browser.find_element(By.TAG_NAME, "h1").text == "Partagez vos talents numériques"
    # The DSFR stylesheet is really applied (served from the project, not a CDN): Marianne is the font.
    font = browser.execute_script("return getComputedStyle(document.body).fontFamily")
    assert "Marianne" in font
    tiles = browser.find_elements(By.CSS_SELECTOR, "#chiffres .fr-h3")
    figures = [int(t.text) for t in tiles]
    assert figures[0] >= 1000 and len(figures) == 5  # the demo seeds thousands of agents
    assert "Brigade" in browser.page_source or "téléservice" in browser.page_source
    browser.save_screenshot(str(screenshot_dir / "accueil.png"))
    severe = [e for e in browser.get_log("browser") if e.get("level") == "SEVERE"]
    assert severe == []


def test_a_reviewer_signs_in_and_sees_needs_candidates_and_the_review(live_server, browser, screenshot_dir):
    browser.delete_all_cookies()
    browser.get(live_server + "/besoins")
    assert "/auth/demo" in browser.current_url  # demo mode: the local sign-in, no identity check
    browser.find_element(By.NAME, "email").send_keys("revue@numerique.gouv.fr")
    Select(browser.find_element(By.NAME, "role")).select_by_value("reviewer")
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    # Wait for the redirect to land: the sign-in page's own URL also ends in "next=/besoins".
    WebDriverWait(browser, 20).until(EC.presence_of_element_located((By.ID, "besoins")))
    assert urlparse(browser.current_url).path == "/besoins"
    rows = browser.find_elements(By.CSS_SELECTOR, "#besoins tbody tr")
    assert len(rows) >= 5  # the demo's needs, and those the journeys published
    assert rows[0].find_element(By.CSS_SELECTOR, ".fr-badge").text.upper() == "P1"
    rows[0].find_element(By.TAG_NAME, "a").click()
    WebDriverWait(browser, 20).until(EC.presence_of_element_located((By.ID, "role-0")))
    assert "/besoins/" in browser.current_url
    candidates = browser.find_elements(By.CSS_SELECTOR, "#role-0 tr.candidat")
    assert candidates, "the first role of the flash team has ranked candidates"
    # Scores read as French percentages: « 87 % ».
    scores = [int(r.find_element(By.CSS_SELECTOR, "td.score").text.rstrip("%").strip()) for r in candidates]
    assert scores == sorted(scores, reverse=True)
    browser.save_screenshot(str(screenshot_dir / "besoin.png"))
    browser.get(live_server + "/pilotage")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Pilotage DINUM"
    rows = browser.find_elements(By.CSS_SELECTOR, "#etp tbody tr")
    pledged = [r.find_elements(By.TAG_NAME, "td")[2].text for r in rows]
    assert sum(float(x.replace(",", ".")) for x in pledged) == 18.0  # 4 + 6 + 6 + 2 ETP pledged in the demo programme
    browser.save_screenshot(str(screenshot_dir / "pilotage.png"))


def test_an_agent_cannot_open_the_review(live_server, browser):
    browser.delete_all_cookies()
    browser.get(live_server + "/auth/demo?next=/pilotage")
    browser.find_element(By.NAME, "email").send_keys("agent@numerique.gouv.fr")
    Select(browser.find_element(By.NAME, "role")).select_by_value("agent")
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    WebDriverWait(browser, 20).until(lambda b: urlparse(b.current_url).path == "/pilotage")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Accès réservé"


def test_the_api_viewer_works_offline(live_server, browser):
    browser.get(live_server + "/schema/swagger")
    browser.implicitly_wait(10)
    assert browser.find_element(By.CSS_SELECTOR, ".swagger-ui")
    assert all("cdn" not in (s.get_attribute("src") or "") for s in browser.find_elements(By.TAG_NAME, "script"))


def test_pages_fit_a_375_px_screen(live_server, browser, screenshot_dir):
    """Tables and charts wrap or scroll inside their frame: the page itself never scrolls sideways on a phone."""
    browser.delete_all_cookies()
    browser.get(live_server + "/auth/demo?next=/pilotage")
    browser.find_element(By.NAME, "email").send_keys("revue.mobile@numerique.gouv.fr")
    Select(browser.find_element(By.NAME, "role")).select_by_value("reviewer")
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    WebDriverWait(browser, 60).until(lambda b: urlparse(b.current_url).path == "/pilotage")
    browser.set_window_size(375, 812)
    try:
        for path in ("/pilotage", "/besoins", "/mon-espace", "/pilotage/allocation"):
            browser.get(live_server + path)
            WebDriverWait(browser, 60).until(EC.presence_of_element_located((By.TAG_NAME, "footer")))
            width, inner = browser.execute_script(
                "return [document.documentElement.scrollWidth, window.innerWidth]")
            assert width <= inner, f"{path} is {width} px wide on a {inner} px screen"
        browser.get(live_server + "/pilotage")
        browser.save_screenshot(str(screenshot_dir / "pilotage-375px.png"))
    finally:
        browser.set_window_size(1280, 1600)
