"""The pure matching core of Talents.

Plain Python, numpy, scipy, scikit-learn and rapidfuzz only: no web framework, no ORM, no I/O,
no other package of the project. Services translate database rows into the dataclasses of
:mod:`matching.types` — the only bridge between the app and this library.
"""
