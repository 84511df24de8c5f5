"""Each user does their job end to end, in Chromium, through the pages only: signed in from the sign-in page,
following links from the home page, with forms. axe-core checks every page visited."""

from __future__ import annotations

import re
import uuid
from datetime import date, timedelta

import httpx
import pytest
from selenium.webdriver.common.by import By

# A journey is a dozen page loads and sign-ins: on two busy cores it may take minutes.
pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]

START = date.today() + timedelta(days=20)
END = START + timedelta(days=60)


def _unique(word: str) -> str:
    return f"{word}-{uuid.uuid4().hex[:6]}"


# --------------------------------------------------------------------------- steps shared by the journeys
def dinum_sets_manager(pages, agent_email: str, manager: str) -> None:
    """Who approves an agent's time is set by DINUM, never by the agent: an admin sets it over the API."""
    with httpx.Client(base_url=pages.base, follow_redirects=False) as http:
        signed = http.post("/auth/demo", data={"email": _unique("admin") + "@numerique.gouv.fr", "role": "admin",
                                               "next": "/"})
        assert signed.status_code in (302, 303), signed.text
        csrf = http.get("/api/v1/me").json()["csrf_token"]
        found = http.get("/api/v1/agents", params={"q": agent_email}).json()["data"]
        assert len(found) == 1, found
        done = http.patch(f"/api/v1/agents/{found[0]['id']}", json={"manager_email": manager},
                          headers={"X-CSRF-Token": csrf})
        assert done.status_code == 200, done.text


def agent_creates_profile(pages, email: str, name: str, manager: str, rare_skill: str,
                          until: date = END + timedelta(days=30)) -> None:
    pages.sign_in(email, "agent")
    pages.follow("Mon espace", "mon-espace-vide")
    pages.fill({"profil-nom": name, "profil-ministere": "DINUM"})
    pages.press("Créer mon profil")
    assert "Votre profil est enregistré" in pages.text("#confirmation")
    dinum_sets_manager(pages, email, manager)
    pages.fill({"competence-nom": rare_skill, "competence-niveau": "4"})
    pages.press("Ajouter")
    pages.fill({"dispo-debut": date.today().isoformat(), "dispo-fin": until.isoformat(), "dispo-part": "80"})
    pages.press("Déclarer")


def lead_publishes_need(pages, email: str, title: str, skill: str, *, required: bool = True) -> str:
    """The lead creates a project and a need with one role asking for ``skill``; returns the need's URL."""
    pages.sign_in(email, "lead")
    pages.follow("Mes projets", "mes-projets")
    pages.fill({"nouveau-projet-nom": f"Projet {title}", "nouveau-projet-ministere": "DINUM",
                "nouveau-projet-etp": "1,5"})
    pages.press("Créer le projet")
    assert "Le projet est enregistré" in pages.text("#confirmation")
    project = pages.browser.find_element(By.XPATH, f"//select[@id='besoin-projet']/option[text()='Projet {title}']")
    pages.fill({"besoin-titre": title, "besoin-description": "Une équipe flash pour un service critique.",
                "besoin-debut": START.isoformat(), "besoin-fin": END.isoformat(),
                "besoin-projet": project.get_attribute("value")})
    pages.press("Publier le besoin", screenshot="besoin-formulaire")
    pages.fill({"nouveau-role-titre": "Développeur·se", "nouveau-role-places": "1", "nouveau-role-part": "60",
                "nouveau-role-skill-0": skill, "nouveau-role-level-0": "3",
                "nouveau-role-required-0": "on" if required else ""})
    pages.press("Ajouter le rôle")
    assert "Le rôle est enregistré" in pages.text("#confirmation")
    pages.follow("Voir les candidats et suivre les places", "besoin-candidats")
    return str(pages.browser.current_url).split("?")[0]


def lead_proposes(pages, agent_name: str) -> None:
    def row():
        return next(r for r in pages.browser.find_elements(By.CSS_SELECTOR, "#role-0 tr.candidat")
                    if agent_name in r.text)

    pages.press("Proposer", within=row)
    assert "La proposition est envoyée" in pages.text("#confirmation")


def agent_accepts(pages, email: str, skill_label: str) -> None:
    pages.sign_in(email, "agent")
    pages.follow("Mon espace")
    card = pages.browser.find_element(By.CSS_SELECTOR, ".proposition")
    assert skill_label in card.text and "Compétences trouvées" in card.text  # the engine's reasons
    pages.browser.save_screenshot(str(pages.shots / "proposition.png"))
    pages.press("Accepter", within=card)
    assert "Vous avez accepté" in pages.text("#confirmation")
    assert "accepté par l'agent" in pages.text("#mes-missions").lower()


def manager_approves(pages, email: str, agent_name: str) -> None:
    pages.sign_in(email, "manager")
    pages.follow("Demandes à valider", "demandes-a-valider")
    row = next(r for r in pages.browser.find_elements(By.CSS_SELECTOR, "#demandes tbody tr") if agent_name in r.text)
    row.find_element(By.LINK_TEXT, "Répondre").click()
    pages.wait_for("button[value=approve]")
    pages.check("validation-responsable")
    pages.press("Accepter")
    assert "Vous avez accepté la mise à disposition" in pages.text()


# --------------------------------------------------------------------------- the journeys
def test_agent_keeps_their_profile_and_answers_a_proposal(pages):
    email, manager = f"{_unique('agent')}@numerique.gouv.fr", f"{_unique('chef')}@numerique.gouv.fr"
    name, rare = "Camille Test", _unique("Cartographie sonore")
    pages.sign_in(email, "agent")
    pages.follow("Mon espace")
    pages.fill({"profil-nom": name, "profil-ministere": "DINUM",
                "profil-bio": "Développeuse, curieuse de cartes."})
    pages.press("Créer mon profil")
    assert "Votre profil est enregistré" in pages.text("#confirmation")
    dinum_sets_manager(pages, email, manager)

    # Autocomplete: typing fills the suggestions (htmx), typos and English forgiven.
    field = pages.browser.find_element(By.ID, "competence-nom")
    field.send_keys("javscript")
    pages.wait_for("#competence-nom-suggestions option[value='JavaScript']", timeout=30)
    field.clear()
    pages.fill({"competence-nom": "Pyhton", "competence-niveau": "4", "competence-interet": "5"})
    pages.press("Ajouter")
    skills = pages.text("#competences")
    assert "Python" in skills and "saisi « Pyhton »" in skills
    pages.fill({"competence-nom": rare, "competence-niveau": "3"})
    pages.press("Ajouter")
    pending = next(li for li in pages.browser.find_elements(By.CSS_SELECTOR, "li.competence") if rare in li.text)
    assert "en attente de validation" in pending.text.lower()  # a badge, in capitals on screen
    # Change a level: the select says what each level means.
    python = next(li for li in pages.browser.find_elements(By.CSS_SELECTOR, "li.competence") if "Python" in li.text)
    python_id = python.get_attribute("id").split("-")[-1]
    assert "5 — expert·e" in python.text
    pages.fill({f"niveau-{python_id}": "5"}, within=python)
    pages.press("Enregistrer", within=python)
    assert "La compétence est enregistrée" in pages.text("#confirmation")

    # Availability: the floor is refused with the programme's rule, in French.
    window = {"dispo-debut": date.today().isoformat(), "dispo-fin": (END + timedelta(days=30)).isoformat()}
    pages.fill({**window, "dispo-part": "40"})
    pages.press("Déclarer")
    assert "supérieure à 50" in pages.text("#erreur")
    pages.fill({**window, "dispo-part": "80"})
    pages.press("Déclarer", screenshot="mon-espace")
    row = pages.text("#fenetres")
    assert "80 %" in row.replace("\u202f", " ").replace("\xa0", " ")
    months = "janvier|février|mars|avril|mai|juin|juillet|août|septembre|octobre|novembre|décembre"
    assert re.search(rf"\d{{1,2}} ({months}) \d{{4}}", row)  # « 4 janvier 2027 »

    # A lead proposes this agent; the agent sees why, and accepts.
    lead_publishes_need(pages, f"{_unique('porteur')}@numerique.gouv.fr", _unique("Besoin agent"), rare)
    lead_proposes(pages, name)
    agent_accepts(pages, email, rare)

    # Notifications and their settings (where the e-mails' footer link lands).
    pages.browser.get(pages.base + "/me/notifications")
    pages.wait_for("#preferences")
    pages.check("mes-notifications")
    assert "Proposition" in pages.text("#boite")
    pages.fill({"rythme-synthese": "on"})
    pages.press("Enregistrer mes préférences")
    assert "préférences de notification sont enregistrées" in pages.text("#confirmation")

    # My data: the export answers with my profile; then erasure.
    pages.follow("Mon espace")
    export = pages.browser.find_element(By.PARTIAL_LINK_TEXT, "Exporter mes données (CSV)").get_attribute("href")
    cookies = {c["name"]: c["value"] for c in pages.browser.get_cookies()}
    answer = httpx.get(export, cookies=cookies, timeout=30)
    assert answer.status_code == 200 and name in answer.text
    pages.follow("Effacer mes données")
    pages.fill({"confirmer": "on"})
    pages.press("Effacer mes données")
    assert "Vos données sont effacées" in pages.text()


def test_lead_publishes_a_need_proposes_the_team_and_completes_a_mission(pages):
    lead = f"{_unique('porteuse')}@numerique.gouv.fr"
    need_url = lead_publishes_need(pages, lead, _unique("Équipe flash carto"), "Python", required=True)
    # Ranked candidates with their reasons; near misses say in French why not; the proposed team's coverage.
    main = pages.text()
    assert pages.browser.find_elements(By.CSS_SELECTOR, "#role-0 tr.candidat")
    assert "Compétences trouvées" in main and "Disponibilité" in main
    assert "Couverture des compétences demandées" in pages.text("#equipe")
    pages.press("Proposer toute l'équipe", screenshot="suivi-des-places")
    assert "proposé" in pages.text("#suivi").lower()
    # A seat withdrawn with a reason.
    seat = pages.browser.find_element(By.CSS_SELECTOR, "#suivi tbody tr")
    seat.find_element(By.XPATH, ".//summary[text()='Retirer']").click()
    seat.find_element(By.CSS_SELECTOR, "input[name=reason]").send_keys("Le besoin a changé")
    pages.press("Retirer la proposition", within=seat)
    assert "retiré" in pages.text("#suivi").lower()
    # Edit the need from its page.
    pages.follow("Modifier le besoin et ses rôles")
    pages.fill({"besoin-titre": "Équipe flash carto (modifiée)"})
    pages.press("Enregistrer le besoin")
    assert "Le besoin est enregistré" in pages.text("#confirmation")

    # A mission through to the end: proposed, accepted, approved, started, completed with feedback.
    agent, manager = f"{_unique('agent')}@numerique.gouv.fr", f"{_unique('chef')}@numerique.gouv.fr"
    rare = _unique("Sonification")
    agent_creates_profile(pages, agent, "Dominique Test", manager, rare)
    need_url = lead_publishes_need(pages, lead, _unique("Besoin mission"), rare)
    lead_proposes(pages, "Dominique Test")
    agent_accepts(pages, agent, rare)
    manager_approves(pages, manager, "Dominique Test")
    pages.sign_in(lead, "lead")
    pages.follow("Mes projets")
    title = pages.browser.find_element(By.CSS_SELECTOR, f"#besoins-porteur a[href='{need_url[len(pages.base):]}']")
    title.click()
    pages.wait_for("#suivi")
    pages.check()
    assert "approuvé par le responsable" in pages.text("#suivi").lower()
    pages.press("Démarrer la mission")
    assert "en cours" in pages.text("#suivi").lower()
    seat = pages.browser.find_element(By.CSS_SELECTOR, "#suivi tbody tr")
    seat.find_element(By.XPATH, ".//summary[text()='Terminer la mission']").click()
    seat.find_element(By.CSS_SELECTOR, "textarea[name=feedback]").send_keys("Travail remarquable.")
    seat.find_element(By.CSS_SELECTOR, "input[name=endorse] + label").click()
    pages.press("Terminer", within=seat)
    assert "terminé" in pages.text("#suivi").lower()


def test_manager_answers_the_requests_waiting_for_them(pages):
    agent, manager = f"{_unique('agent')}@numerique.gouv.fr", f"{_unique('chef')}@numerique.gouv.fr"
    rare = _unique("Typographie")
    agent_creates_profile(pages, agent, "Alix Test", manager, rare)
    lead_publishes_need(pages, f"{_unique('porteur')}@numerique.gouv.fr", _unique("Besoin validation"), rare)
    lead_proposes(pages, "Alix Test")
    agent_accepts(pages, agent, rare)
    manager_approves(pages, manager, "Alix Test")
    pages.browser.get(pages.base + "/")
    pages.follow("Demandes à valider")
    assert "Aucune demande" in pages.text()


def test_reviewer_steers_priorities_allocation_overrides_and_the_taxonomy(pages):
    agent = f"{_unique('agent')}@numerique.gouv.fr"
    rare = _unique("Calligraphie numérique")
    agent_creates_profile(pages, agent, "Sacha Test", f"{_unique('chef')}@numerique.gouv.fr", rare,
                          until=date.today() + timedelta(days=720))
    pages.sign_in("revue@numerique.gouv.fr", "reviewer")
    pages.follow("Pilotage DINUM", "pilotage")
    assert len(pages.browser.find_elements(By.CSS_SELECTOR, "svg.graphique")) == 5
    assert "Poste de travail du futur" in pages.text("#etp-projets")
    cookies = {c["name"]: c["value"] for c in pages.browser.get_cookies()}
    for link in pages.browser.find_elements(By.PARTIAL_LINK_TEXT, "Exporter ce tableau en CSV"):
        answer = httpx.get(link.get_attribute("href"), cookies=cookies, timeout=30)
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")

    # A need: set its priority, impose an agent with a reason, remove them, read the audit trail.
    pages.follow("Besoins et équipes flash")
    pages.browser.find_element(By.CSS_SELECTOR, "#besoins tbody tr:last-child a").click()
    pages.wait_for("h1")
    pages.follow("Priorité, arbitrages et journal")
    pages.fill({"priorite-choix": "2"})
    pages.press("Enregistrer la priorité")
    assert "La priorité est enregistrée" in pages.text("#confirmation")
    pages.fill({"imposer-email": agent, "imposer-motif": "Crise : renfort immédiat"})
    pages.press("Imposer")
    assert not pages.browser.find_elements(By.ID, "erreur"), pages.text("#erreur")
    assert "L'affectation est imposée" in pages.text("#confirmation")
    pages.fill({"retirer-motif": "Renfort plus nécessaire"})
    pages.press("Retirer", screenshot="arbitrages")
    journal = pages.text("#journal-besoin")
    assert "affectation imposée" in journal and "Crise : renfort immédiat" in journal
    assert "Renfort plus nécessaire" in journal

    # Allocation: a preview (nothing written), then apply.
    pages.follow("Allocation")
    pages.press("Prévisualiser l'allocation", screenshot="allocation-apercu")
    assert "Aperçu" in pages.text()
    pages.press("Appliquer l'allocation")
    assert "L'allocation est appliquée" in pages.text("#confirmation")

    # Taxonomy: the agent's unknown skill is pending; merge it into a known one; set aliases.
    pages.follow("Compétences", "competences")
    card = next(c for c in pages.browser.find_elements(By.CSS_SELECTOR, ".competence-en-attente") if rare in c.text)
    field = card.find_element(By.CSS_SELECTOR, "input[name=name]")
    field.send_keys("Design graphique")
    pages.press("Fusionner", within=card)
    assert "La compétence est fusionnée" in pages.text("#confirmation")
    pages.fill({"recherche-competence": "python"})
    pages.press("Chercher")
    first = pages.browser.find_element(By.CSS_SELECTOR, "#synonymes details")
    first.find_element(By.TAG_NAME, "summary").click()
    first.find_element(By.TAG_NAME, "textarea").send_keys("\npy3")
    pages.press("Enregistrer les synonymes", within=first)
    assert "Les synonymes sont enregistrés" in pages.text("#confirmation")
