"""Assignments, their life cycle, allocation runs, DINUM overrides and the audit log."""
