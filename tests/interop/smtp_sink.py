"""A real SMTP server on 127.0.0.1 for Writ's tests: every message it receives is written into
the folder given on the command line twice: `<n>.eml`, the raw message as sent, and then
`<n>.json`, decoded (`mail_from`, `rcpt_tos`, `from`, `to`, `subject`, `text`, `html`), which
tests read.

    .venv/bin/python tests/interop/smtp_sink.py <folder> [port] [--forever]

It prints `PORT <n>` on one line once it accepts connections (port 0, the default, picks a
free one) and runs until it is killed or, without `--forever`, until its stdin closes. No TLS, no authentication: the
plain SMTP Writ allows to a loopback address only.
"""

import email
import email.policy
import json
import os
import signal
import socket
import sys

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, folder):
        self.folder = folder
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        name = os.path.join(self.folder, f"{self.count:04d}.eml")
        tmp = name + ".part"
        raw = envelope.original_content or envelope.content
        with open(tmp, "wb") as f:
            f.write(raw)
        os.replace(tmp, name)
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        body = lambda kind: (
            (lambda p: p.get_content() if p is not None else None)(
                msg.get_body(preferencelist=(kind,))
            )
        )
        decoded = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "from": str(msg["from"]),
            "to": str(msg["to"]),
            "subject": str(msg["subject"]),
            "text": body("plain"),
            "html": body("html"),
        }
        jname = os.path.join(self.folder, f"{self.count:04d}.json")
        with open(jname + ".part", "w") as f:
            json.dump(decoded, f)
        # Renamed once complete, so a reader never sees half a message.
        os.replace(jname + ".part", jname)
        return "250 Message accepted for delivery"


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    folder = args[0]
    port = int(args[1]) if len(args) > 1 else 0
    if port == 0:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
    os.makedirs(folder, exist_ok=True)
    controller = Controller(Sink(folder), hostname="127.0.0.1", port=port)
    controller.start()
    print(f"PORT {port}", flush=True)
    try:
        if "--forever" in sys.argv:
            signal.pause()
        else:
            # Ends when the parent closes our stdin (or kills us).
            sys.stdin.read()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
