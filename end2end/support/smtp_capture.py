#!/usr/bin/env python3
# SMTP capture server for Roster's end-to-end tests.
# Requires: pip install aiosmtpd==1.4.6
#
#   python3 end2end/support/smtp_capture.py [--port 2525] [--dir DIR] [--delay-ms N] [--no-fsync]
#   (env fallbacks: SMTP_CAPTURE_PORT, SMTP_CAPTURE_DIR, SMTP_CAPTURE_DELAY_MS; --port 0 picks
#    a free port)
#
# Plain SMTP on 127.0.0.1, no TLS. AUTH PLAIN/LOGIN is offered and any credentials are
# accepted, but not required. Every message is stored as
#   DIR/<time_ns>-<n>.eml   raw DATA bytes as received (CRLF kept, dot-unstuffed)
#   DIR/<time_ns>-<n>.json  {"mail_from", "rcpt_tos", "received_at"}
# Both are written to hidden temp names and renamed into place, the .json first, so a
# reader that sees an .eml can rely on its .json being complete.
# --delay-ms N (default 0) makes it a slow relay: after a message's data has arrived it waits
# N ms before storing it and answering 250. A client that hangs up meanwhile never had its
# message accepted: it is not stored (so a sender killed mid-send can be caught).
# Prints `smtp-capture ready 127.0.0.1:PORT` once listening; SIGTERM/SIGINT stop it.
import argparse
import asyncio
import datetime
import itertools
import json
import logging
import os
import signal
import sys
import time

from aiosmtpd.smtp import SMTP, AuthResult

# aiosmtpd 1.4 warns about its own internal use of Session.login_data on every AUTH.
logging.getLogger("mail.log").addFilter(lambda r: "login_data is deprecated" not in r.getMessage())


class CaptureHandler:
    def __init__(self, directory, delay_ms=0, fsync=True):
        self.dir = directory
        self.delay = delay_ms / 1000
        self.fsync = fsync
        self.counter = itertools.count(1)

    def _write(self, name, data):
        tmp = os.path.join(self.dir, f".{name}.tmp")
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            if self.fsync:
                os.fsync(f.fileno())
        os.replace(tmp, os.path.join(self.dir, name))

    async def handle_DATA(self, server, session, envelope):
        if self.delay > 0:
            # Cancelled (nothing stored) when the client disconnects while it waits.
            await asyncio.sleep(self.delay)
        stem = f"{time.time_ns()}-{next(self.counter)}"
        meta = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "received_at": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        }
        try:
            self._write(f"{stem}.json", json.dumps(meta, indent=1).encode())
            self._write(f"{stem}.eml", envelope.original_content)
        except OSError as e:
            print(f"smtp-capture: cannot store message: {e}", file=sys.stderr, flush=True)
            return "451 Requested action aborted: local error in processing"
        print(f"smtp-capture: stored {stem}.eml from {meta['mail_from']} to {meta['rcpt_tos']}",
              file=sys.stderr, flush=True)
        return "250 Message accepted for delivery"


def accept_any(server, session, envelope, mechanism, auth_data):
    return AuthResult(success=True)


async def main(port, directory, delay_ms=0, fsync=True):
    os.makedirs(directory, exist_ok=True)
    handler = CaptureHandler(directory, delay_ms, fsync)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="localhost", ident="smtp-capture",
                     enable_SMTPUTF8=True, decode_data=False,
                     authenticator=accept_any, auth_require_tls=False, auth_required=False),
        host="127.0.0.1", port=port)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"smtp-capture ready 127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
    await stop.wait()
    server.close()
    try:
        await asyncio.wait_for(server.wait_closed(), 2)
    except asyncio.TimeoutError:
        pass


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description="Capture SMTP mail into a folder")
    ap.add_argument("--port", type=int, default=int(os.environ.get("SMTP_CAPTURE_PORT", "2525")))
    ap.add_argument("--dir", default=os.environ.get("SMTP_CAPTURE_DIR", "smtp-capture"))
    ap.add_argument("--delay-ms", type=int, default=int(os.environ.get("SMTP_CAPTURE_DELAY_MS", "0")),
                    help="wait this long before accepting each message (a slow relay)")
    ap.add_argument("--no-fsync", action="store_true",
                    help="do not force each message to disk before accepting it (benchmarks: "
                         "measure the sender, not this server's disk)")
    args = ap.parse_args()
    asyncio.run(main(args.port, args.dir, max(args.delay_ms, 0), not args.no_fsync))
