"""Every module that declares tables, imported plainly so that ``SQLModel.metadata`` knows all of them.

Alembic's ``env.py`` and the tests that compare the models with the migrations import this module.
"""

from __future__ import annotations

import needs.models
import notifications.models
import profiles.models
import talents.assignments.models
import talents.auth.models

__all__ = ["MODEL_MODULES"]

MODEL_MODULES = (profiles.models, needs.models, talents.assignments.models, notifications.models, talents.auth.models)
