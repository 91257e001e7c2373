"""A real SMTP relay on loopback for cosmosd's mail tests (aiosmtpd, Debian's python3-aiosmtpd).

Started and killed by the tests to play the venue uplink going away and coming back.
Every accepted message is written to SPOOL/NNNN.eml (atomically) and a line
"NNNN <client port> <Message-ID>" is appended to SPOOL/accepted.log; every RCPT the relay
sees is appended to SPOOL/rcpt.log. Knobs:
  --fail-first N      answer 451 (temporary) to the first N DATA commands
  --reject-domain D   answer 550 (permanent) to recipients at domain D
  --delay-ms MS       wait this long before accepting each message (for crash tests)
  --tls starttls|tls  with --cert/--key: STARTTLS required, or implicit TLS
  --auth USER:PASS    require AUTH (PLAIN/LOGIN) with these credentials
Prints "ready" on stdout once it listens.
"""

import argparse
import asyncio
import os
import ssl
import sys
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--spool", required=True)
    ap.add_argument("--fail-first", type=int, default=0)
    ap.add_argument("--reject-domain", default=None)
    ap.add_argument("--delay-ms", type=int, default=0)
    ap.add_argument("--tls", choices=["starttls", "tls"], default=None)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--auth", default=None)
    a = ap.parse_args()
    os.makedirs(a.spool, exist_ok=True)
    state = {"fail": a.fail_first, "n": len([f for f in os.listdir(a.spool) if f.endswith(".eml")])}

    def append(name, line):
        with open(os.path.join(a.spool, name), "a") as f:
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())

    class Handler:
        async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
            append("rcpt.log", address)
            if a.reject_domain and address.lower().endswith("@" + a.reject_domain):
                return "550 5.1.1 <%s>: Recipient address rejected: User unknown" % address
            envelope.rcpt_tos.append(address)
            return "250 OK"

        async def handle_DATA(self, server, session, envelope):
            if state["fail"] > 0:
                state["fail"] -= 1
                return "451 4.3.0 Temporary local problem, try again later"
            if a.delay_ms:
                await asyncio.sleep(a.delay_ms / 1000)
            state["n"] += 1
            n = "%04d" % state["n"]
            data = envelope.original_content or envelope.content
            tmp = os.path.join(a.spool, n + ".tmp")
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.rename(tmp, os.path.join(a.spool, n + ".eml"))
            mid = "-"
            for line in data.split(b"\r\n"):
                if line.lower().startswith(b"message-id:"):
                    mid = line.split(b":", 1)[1].strip().decode()
                    break
                if line == b"":
                    break
            append("accepted.log", "%s %d %s" % (n, session.peer[1], mid))
            return "250 2.0.0 Ok: queued as " + n

    kwargs = {}
    ctx = None
    if a.tls:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(a.cert, a.key)
    if a.tls == "starttls":
        kwargs.update(tls_context=ctx, require_starttls=True)
    if a.auth:
        user, password = a.auth.split(":", 1)

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = auth_data.login.decode() == user and auth_data.password.decode() == password
            return AuthResult(success=ok)

        # With implicit TLS aiosmtpd does not know the socket is encrypted; it is.
        kwargs.update(authenticator=authenticator, auth_require_tls=a.tls == "starttls")
    controller = Controller(
        Handler(),
        hostname="127.0.0.1",
        port=a.port,
        ssl_context=ctx if a.tls == "tls" else None,
        **kwargs,
    )
    controller.start()
    print("ready", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()


if __name__ == "__main__":
    sys.exit(main())
