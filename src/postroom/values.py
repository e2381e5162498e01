"""Values the protocol cores share with the admin model, and nothing else.

The sans-IO cores (`postroom.protocol`) import nothing of postroom but their own modules and
this one: the admin model (tokens, sessions, validation) stays out of them. `postroom.model`
re-exports these names, so the rest of the program keeps importing them from there.
"""
from __future__ import annotations

from enum import Enum

__all__ = ["DEFAULT_IMAP_BANNER", "DEFAULT_MAX_LITERAL", "DEFAULT_POP_BANNER", "LoginType"]


class LoginType(str, Enum):
    """Exchange's POP3 and IMAP4 LoginType (Set-PopSettings / Set-ImapSettings -LoginType)."""

    PLAIN_TEXT_LOGIN = "plain-text-login"  # credentials accepted on any connection
    PLAIN_TEXT_AUTHENTICATION = "plain-text-authentication"  # cleartext credentials only over TLS
    SECURE_LOGIN = "secure-login"  # no logon at all before the connection is encrypted


DEFAULT_POP_BANNER = "The postroom POP3 service is ready."
DEFAULT_IMAP_BANNER = "The postroom IMAP4 service is ready."
#: The largest message IMAP4's APPEND takes by default (ImapSettings.max_message_size, advertised as
#: APPENDLIMIT): Exchange's default maximum message size (35 MB).
DEFAULT_MAX_LITERAL = 35 * 1024 * 1024
