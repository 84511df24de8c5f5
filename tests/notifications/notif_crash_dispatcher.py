"""A dispatcher that stops dead in the middle of a delivery, for the crash tests (run as a subprocess).

    python notif_crash_dispatcher.py DATABASE_URL SMTP_URL MARKER_FILE before-send|after-send

It claims one e-mail delivery, then (``after-send``) sends it and hangs before marking it sent, or
(``before-send``) hangs before sending. It writes the key to MARKER_FILE when it reaches that point; the
test then kills it with SIGKILL — no clean-up, no ``finally``.
"""

from __future__ import annotations

import sys
import time

from notifications.channels import EmailChannel
from notifications.dispatcher import dispatch_once
from talents.kernel.db import get_engine


def main() -> None:
    url, smtp, marker, mode = sys.argv[1:5]

    class Stall(EmailChannel):
        def send(self, delivery):  # type: ignore[no-untyped-def]
            if mode == "after-send":
                super().send(delivery)
            with open(marker, "a") as f:
                f.write(delivery.key + "\n")
            time.sleep(600)

    dispatch_once(get_engine(url), None, {"email": Stall(smtp)}, limit=1, worker="doomed")


if __name__ == "__main__":
    main()
