"""Notifications: a transactional outbox, channels (in-app, e-mail over SMTP, webhook, Matrix/Tchap),
per-user preferences, reminders and digests."""
