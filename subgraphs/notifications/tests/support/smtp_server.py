"""A real SMTP server for the notifications tests (aiosmtpd).

Usage: python smtp_server.py PORT OUT_DIR

Every accepted message is written to OUT_DIR as an .eml file (written under a temporary
name, then renamed). Recipients whose local part starts with `tempfail` get a 451 on their
first RCPT and are accepted afterwards; those starting with `reject` always get a 550.
Prints READY once listening, and exits when its standard input closes (the test is gone).
"""

import os
import sys
import uuid

from aiosmtpd.controller import Controller


class Handler:
    def __init__(self, out_dir):
        self.out_dir = out_dir
        self.attempts = {}

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@", 1)[0]
        if local.startswith("reject"):
            return "550 5.1.1 mailbox unavailable"
        if local.startswith("tempfail"):
            seen = self.attempts.get(address, 0)
            self.attempts[address] = seen + 1
            if seen == 0:
                return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        name = f"{uuid.uuid4().hex}.eml"
        tmp = os.path.join(self.out_dir, "." + name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(envelope.original_content)
        os.rename(tmp, os.path.join(self.out_dir, name))
        return "250 Message accepted for delivery"


def main():
    port, out_dir = int(sys.argv[1]), sys.argv[2]
    os.makedirs(out_dir, exist_ok=True)
    controller = Controller(Handler(out_dir), hostname="127.0.0.1", port=port)
    controller.start()
    print("READY", flush=True)
    try:
        sys.stdin.read()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
