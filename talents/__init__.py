"""Talents — partagez vos talents numériques. The application package (composition root)."""

__version__ = "0.1.0"
