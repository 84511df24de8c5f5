"""The kernel: what every domain needs and nothing else.

Settings, the database (engine, sessions, column types, migrations), domain errors, field types, domain
events, bulk reading, API paging, structured logs and the principal. Domains (``profiles``, ``needs``,
``notifications``) import it; it imports no domain and no part of the app shell. See docs/design.md.
"""
