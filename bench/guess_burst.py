"""Parallel password guessing against a live POP3 listener (issue #18, docs/hardening.md
"Password guessing"): N logins to one mailbox from one address, all at once, wrong passwords
except the one at position RIGHT_AT. Prints the replies by kind and what the right password got;
the passwords checked are the server's `reason=bad-credentials` log lines.

    postroom security policy set --trusted-networks none --data DIR
    postroom serve --data DIR 2> serve.log &
    python bench/guess_burst.py 127.0.0.1:1110 demo@example.com 'the right password'
    grep -c 'reason=bad-credentials' serve.log

The POP3 settings must allow plain USER/PASS and N connections from one address
(`postroom pop set --login-type plain-text-login --max-connections-from-single-ip 5000`).
"""
from __future__ import annotations

import argparse
import asyncio
import time


async def login(host: str, port: int, user: bytes, password: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        await reader.readline()  # the greeting
        writer.write(b"USER " + user + b"\r\nPASS " + password + b"\r\n")
        await reader.readline()  # +OK to USER
        return await asyncio.wait_for(reader.readline(), 60)
    finally:
        writer.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("address", help="HOST:PORT of a plain POP3 listener")
    parser.add_argument("user")
    parser.add_argument("right_password")
    parser.add_argument("-n", type=int, default=400, help="logins sent at once (400)")
    parser.add_argument("--right-at", type=int, default=350, help="position of the right password (350)")
    args = parser.parse_args()
    host, _, port = args.address.rpartition(":")
    started = time.monotonic()
    replies = await asyncio.gather(*(
        login(host, int(port), args.user.encode(),
              args.right_password.encode() if i == args.right_at else b"guess-%d" % i)
        for i in range(1, args.n + 1)))
    kinds: dict[str, int] = {}
    for reply in replies:
        words = reply.decode("ascii", "replace").split()
        kind = " ".join(words[:2]) if words and words[0] == "-ERR" else (words[0] if words else "(closed)")
        kinds[kind] = kinds.get(kind, 0) + 1
    print(f"{args.n} logins in {time.monotonic() - started:.1f} s; replies: {kinds}")
    print(f"the right password (#{args.right_at}) got: {replies[args.right_at - 1].decode().strip()}")


if __name__ == "__main__":
    asyncio.run(main())
