"""Sans-IO IMAP4 (RFC 3501 and the extensions in imap4/README of docs): the core (framing,
parsing, the state table, login), the typed commands it emits, the wire helpers that render
replies, and the message-content functions (structure, body sections, SEARCH evaluation)."""
