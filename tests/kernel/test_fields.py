"""The one e-mail rule: what schemas accept and what the mail channel sends to."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from talents.kernel.fields import Email, is_valid_email

pytestmark = pytest.mark.unit


class _Person(BaseModel):
    email: Email


@pytest.mark.parametrize("good", ["camille.martin@interieur.gouv.fr", "a+tag@x.fr", "o'neil@finances.gouv.fr"])
def test_plain_addresses_are_valid(good):
    assert is_valid_email(good) and is_valid_email(good, ascii_only=True)


@pytest.mark.parametrize("bad", ["a@b.fr\r\nBcc: c@d.fr", "Alice <a@b.fr>", "a@b.fr, c@d.fr", "no-at-sign", "",
                                 "a b@c.fr", "a@localhost", "x" * 250 + "@b.fr"])
def test_anything_a_header_could_abuse_is_not(bad):
    assert not is_valid_email(bad)
    with pytest.raises(ValidationError, match="email"):
        _Person(email=bad)


def test_an_accented_address_is_stored_but_not_mailed():
    assert is_valid_email("élodie@culture.gouv.fr")
    assert not is_valid_email("élodie@culture.gouv.fr", ascii_only=True)


def test_the_schema_type_trims_and_lowers_the_domain():
    assert _Person(email="  Camille@Interieur.GOUV.fr ").email == "Camille@interieur.gouv.fr"
