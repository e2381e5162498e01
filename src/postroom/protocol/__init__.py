"""Sans-IO protocol cores: line framing, SASL decoding and the POP3 server state machine.

Pure code: bytes in, events out; answers in, bytes out. Nothing here touches sockets, the
event loop, TLS, clocks, logging or storage, so every module is tested with byte scripts alone.
"""
