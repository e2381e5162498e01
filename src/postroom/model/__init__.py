"""Domain model: the names here are the contract shared by store, server, CLI and API.

Import from `postroom.model`; the modules are its parts:
  core       services and POP3 settings, servers, mailboxes, messages, audit, node reports, blocks
  transport  receive connectors and message tracking (Exchange's Hub Transport objects)
  admin      admin principals, role groups, API tokens, console sessions, the admin service's settings
  imap_settings  the IMAP4 settings of a server (Exchange's Set-ImapSettings)
  security   the login block policy
  queue      the outbound queue: queued messages, their recipients, queues, claims
  outbound   send connectors and routing (route())
  transport_settings  the transport settings of a server (Set-TransportService)
  dkim       DKIM signing keys of the accepted domains
  sessions   live POP3 and SMTP sessions: their states, and requests to end them
The protocol cores do not import this package: they get their values from `postroom.values`.
"""
from __future__ import annotations

from ..validation import enum_value, format_binding, normalise_address, normalise_domain, parse_binding
from ..values import DEFAULT_IMAP_BANNER, DEFAULT_POP_BANNER, LoginType
from .admin import (
    AUDIT_CHANNELS, AUDIT_OUTCOMES, DEV_WEB_SETTINGS, ROLE_GROUPS, Admin, ApiToken, WebSession, WebSettings, admin_name,
    role_groups,
)
from .core import (
    CONNECTION_LIMIT, NOT_IMAP4, NOT_POP3, SERVICE_NAMES, SESSION_END_REASONS, TLS_FAILED, TLS_NOT_STARTED,
    TLS_ON_PLAIN_PORT, TLS_REQUIRED, AuditEntry, Block, EndedSessions, LogFileRollOver, LoginFailure, Mailbox,
    MailboxFeatures, MessageInfo, NodeReport, PopSettings, Server, Service, ServiceStatus, SortOrder, Startup,
)
from .imap_settings import IMAP_COMMAND_SIZE_RANGE, ImapSettings
from .dkim import DkimAlgorithm, DkimKey, default_selector, dkim_algorithm, dkim_selector, txt_strings
from .queue import (
    DNS_DELIVERY, POISON_QUEUE, SMART_HOST_DELIVERY, Claim, MessageStatus, OutboundRecipient, OutboundSubmission,
    QueuedMessage, QueuedRecipient, QueueInfo, QueueKey, QueueStatus, RecipientResult, RecipientStatus, new_queue_id,
)
from .outbound import (
    MASK, DeliveryType, Route, SendConnector, SmartHostAuth, TlsAuthLevel, parse_address_space, route,
    send_connector_name,
)
from .security import LoginPolicy
from .sessions import POP3_STATES, SESSION_SERVICES, SMTP_STATES, SessionEndRequest, session_server
from .transport_settings import TransportSettings
from .transport import (
    ALL_IPV4, ALL_IPV6, DEFAULT_MAX_MESSAGE_SIZE, AuthMechanism, IPRange, PermissionGroup, ReceiveConnector,
    TrackingEvent, TrackingEventId, connector_name, default_connectors, parse_ip_range,
)

__all__ = [
    "ALL_IPV4", "ALL_IPV6", "AUDIT_CHANNELS", "AUDIT_OUTCOMES", "DEFAULT_MAX_MESSAGE_SIZE", "DEFAULT_POP_BANNER",
    "DEV_WEB_SETTINGS", "MASK", "ROLE_GROUPS", "SERVICE_NAMES", "Admin", "ApiToken", "AuditEntry", "AuthMechanism",
    "Block", "DeliveryType", "IPRange", "LogFileRollOver", "LoginFailure", "LoginPolicy", "LoginType", "Mailbox",
    "MailboxFeatures", "MessageInfo", "NodeReport", "PermissionGroup", "PopSettings", "ReceiveConnector", "Route",
    "SendConnector", "Server", "Service", "ServiceStatus", "SmartHostAuth", "SortOrder", "Startup", "TlsAuthLevel",
    "TrackingEvent", "TrackingEventId", "TransportSettings", "WebSession", "WebSettings", "admin_name",
    "connector_name", "default_connectors", "enum_value", "format_binding", "normalise_address", "normalise_domain",
    "parse_address_space", "parse_binding", "parse_ip_range", "role_groups", "route", "send_connector_name",
]
__all__ += [  # the outbound queue (queue.py)
    "DNS_DELIVERY", "POISON_QUEUE", "SMART_HOST_DELIVERY", "Claim", "MessageStatus", "OutboundRecipient",
    "OutboundSubmission", "QueuedMessage", "QueuedRecipient", "QueueInfo", "QueueKey", "QueueStatus", "RecipientResult",
    "RecipientStatus", "new_queue_id",
]
__all__ += [  # POP3 and IMAP4 sessions that ended without logging in (core.py): the doctor's evidence
    "CONNECTION_LIMIT", "NOT_IMAP4", "NOT_POP3", "SESSION_END_REASONS", "TLS_FAILED", "TLS_NOT_STARTED",
    "TLS_ON_PLAIN_PORT", "TLS_REQUIRED", "EndedSessions",
]
__all__ += [  # IMAP4 settings (imap_settings.py)
    "DEFAULT_IMAP_BANNER", "IMAP_COMMAND_SIZE_RANGE", "ImapSettings",
]
__all__ += [  # DKIM keys (dkim.py)
    "DkimAlgorithm", "DkimKey", "default_selector", "dkim_algorithm", "dkim_selector", "txt_strings",
]
__all__ += [  # live sessions (sessions.py)
    "POP3_STATES", "SESSION_SERVICES", "SMTP_STATES", "SessionEndRequest", "session_server",
]
