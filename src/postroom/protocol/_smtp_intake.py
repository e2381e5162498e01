"""How an adapter hands message content (DATA, BDAT) to the SMTP core and takes it back: the
part of SmtpServer's interface that deals in content octets rather than commands. A base class
of SmtpServer (smtp.py), which drives the phases these methods read."""
from __future__ import annotations

from ._common import CoreBase
from ._smtp_content import DataReader
from ._smtp_states import ReadingData, SmtpPhase


class ContentIntake(CoreBase):
    _phase: SmtpPhase

    # DATA content may go straight from the transport into the reader's buffer: no copy.
    def _content_reader(self) -> DataReader | None:
        """The DATA reader, when octets arriving now are message content (nothing buffered)."""
        phase = self._phase
        if isinstance(phase, ReadingData) and not self._eof and not len(self._lines):
            return phase.reader
        return None

    def receive_data(self, data: bytes) -> None:
        reader = self._content_reader()
        if reader is not None and data:
            reader.append(data)  # message content goes straight to the reader: no framing copy
            return
        super().receive_data(data)

    def content_buffer(self, sizehint: int) -> memoryview | None:
        """Room in the DATA reader for a transport to receive content into (then
        `content_received(n)`): no copy on the way in. None: use `receive_data`."""
        reader = self._content_reader()
        return reader.reserve(sizehint) if reader is not None else None

    def content_received(self, nbytes: int) -> None:
        self._answering(ReadingData).reader.commit(nbytes)

    # Spooling: an adapter may take the content in pieces (to a file) while it arrives, so
    # that what the core holds stays bounded whatever the message's size.
    @property
    def content_held(self) -> int:
        """Octets of message content (DATA or BDAT) the core holds now."""
        return self._phase.content.held

    @property
    def content_taken(self) -> int:
        """Octets `take_content()` handed out for the message being received (0: none, or
        that message is gone: RSET, refused, connection closed)."""
        return self._phase.content.taken

    def take_content(self) -> bytes:
        """The start of the content that can no longer change, in wire form (unstuffed, bare
        LF normalised), removed from the core: the adapter keeps it, and the `Deliver` event
        then carries the rest (`Deliver.spooled` counts what was taken). b"" when there is
        nothing to take yet, or the message is already too big (it will be refused)."""
        return self._phase.content.take()
