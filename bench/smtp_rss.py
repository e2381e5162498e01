"""Memory of a live `postroom serve` under big SMTP messages: N concurrent sessions, each
sending one SIZE-octet message to RCPT on HOST:PORT, while the server's VmRSS (PID) is
sampled every 20 ms; prints idle, peak and peak-idle. docs/hardening.md quotes it:

    python bench/smtp_rss.py 127.0.0.1 2525 PID 10 31457280 demo@example.com
"""
import asyncio
import sys
import time

host, rcpt = sys.argv[1], sys.argv[6]
port, pid, n, size = (int(arg) for arg in sys.argv[2:6])

def rss_kb():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])

line = b"x" * 76 + b"\r\n"
body = b"Subject: load\r\n\r\n" + line * (size // len(line))
wire = body + b".\r\n"

async def reply(r):
    while True:
        line = await r.readline()
        if line[3:4] != b"-":
            return line

async def session(i):
    r, w = await asyncio.open_connection(host, port)
    await reply(r)
    for cmd in (b"EHLO load.test", b"MAIL FROM:<load@remote.test> SIZE=%d" % len(body), b"RCPT TO:<%s>" % rcpt.encode(),
                b"DATA"):
        w.write(cmd + b"\r\n")
        answer = await reply(r)
    assert answer.startswith(b"354"), answer
    for at in range(0, len(wire), 1 << 20):
        w.write(wire[at:at + (1 << 20)])
        await w.drain()
    answer = await reply(r)
    w.write(b"QUIT\r\n")
    await w.drain()
    w.close()
    return answer

async def main():
    idle = rss_kb()
    peak = [idle]
    done = False
    async def sample():
        while not done:
            peak[0] = max(peak[0], rss_kb())
            await asyncio.sleep(0.02)
    s = asyncio.ensure_future(sample())
    t = time.monotonic()
    replies = await asyncio.gather(*(session(i) for i in range(n)))
    elapsed = time.monotonic() - t
    done = True
    await s
    peak[0] = max(peak[0], rss_kb())
    print(set(r[:9] for r in replies), f"{n} x {len(body)/1e6:.1f} MB in {elapsed:.1f} s")
    print(f"idle {idle/1024:.1f} MiB, peak {peak[0]/1024:.1f} MiB, peak-idle {(peak[0]-idle)/1024:.1f} MiB, "
          f"after {rss_kb()/1024:.1f} MiB")

asyncio.run(main())
