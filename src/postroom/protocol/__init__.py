"""Sans-IO protocol cores: line framing, SASL decoding, the POP3 and SMTP server state machines
and the SMTP client (`smtp_client`, for outbound delivery).

Pure code: bytes in, events out; answers in, bytes out. Nothing here touches sockets, the
event loop, TLS, clocks, logging or storage, so every module is tested with byte scripts alone.
"""
