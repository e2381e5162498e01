"""postroom: a mail server for applications that read a mailbox over POP3."""

__version__ = "0.1.0"
