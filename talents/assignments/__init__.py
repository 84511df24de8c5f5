"""The workflow's records: assignments and their states, the audit log, allocation runs and triggers, used
approval links (:mod:`talents.assignments.models`), and who is no longer a candidate for a need
(:mod:`talents.assignments.exclusions`).

They sit below both the ranking service, which reads commitments and exclusions from them, and the workflow
(:mod:`talents.workflow`), which changes them and asks the ranking service for candidates.
"""
