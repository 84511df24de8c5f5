"""Assignments, their life cycle, allocation runs, DINUM overrides and the audit log."""

from talents.workflow.triggers import install as _install_triggers

_install_triggers()
