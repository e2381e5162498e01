"""A spooled message body into PostgreSQL without holding it in memory.

asyncpg sends a bound bytea whole (and copies it into its write buffer), so a 30 MB message
would cost some 60-90 MB of the node's memory while it is written. Instead the body is
streamed with COPY ... FROM STDIN (binary): one row of message_bodies, its bytea field
written from the spool file in 1 MiB pieces, inside the delivery's transaction. The row's
id is taken from the identity sequence first (COPY writes given identity values, like
INSERT ... OVERRIDING SYSTEM VALUE), so the mailbox entries can point at it.
"""
from __future__ import annotations

import asyncio
import struct
from typing import AsyncIterator

import asyncpg

from ..notes import SpooledBody
from ..sql.values import read_spooled

_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)  # signature, flags, no extension
_COPY_TRAILER = struct.pack("!h", -1)


async def copy_spooled_body(conn: asyncpg.Connection, head: bytes, spooled: SpooledBody,
                            tail: bytes | memoryview, structure: str | None = None) -> tuple[int, int]:
    """Write one body, `head` + the spooled file + `tail`, with its IMAP4 structure; (its id, its size)."""
    size = len(head) + spooled.size + len(tail)
    body_id = await conn.fetchval("SELECT nextval(pg_get_serial_sequence('message_bodies', 'id'))")

    async def row() -> AsyncIterator[bytes]:
        # One tuple: 4 fields, id (int8), size (int8), data (bytea, `size` octets), structure (text or NULL).
        yield _COPY_HEADER + struct.pack("!hiqiqi", 4, 8, body_id, 8, size, size) + head
        pieces = read_spooled(spooled)
        while (piece := await asyncio.to_thread(next, pieces, None)) is not None:
            yield piece
        text = None if structure is None else structure.encode()
        yield bytes(tail) + (struct.pack("!i", -1) if text is None else struct.pack("!i", len(text)) + text) \
            + _COPY_TRAILER

    await conn.copy_to_table("message_bodies", source=row(), columns=["id", "size", "data", "structure"],
                             format="binary")
    return body_id, size
