"""`postroom connector list|show|new|set|remove`: SMTP receive connectors (Exchange's
Get-/New-/Set-/Remove-ReceiveConnector), one option per property.

The commands hang on cli.connector_app; cli.py imports this module once its helpers exist.
"""
from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

from .cli import DEFAULT_DATA, Data, Json, ServerOpt, _opt, connector_app, run
from .cli_output import console, emit, show_record, show_table
from .service import connectors as connector_ops

CONNECTOR_COLUMNS = ["server", "name", "enabled", "bindings", "auth", "permission_groups", "state", "listening",
                     "errors"]
Name = Annotated[str, typer.Argument(help="Connector name, e.g. \"Client EX01\".")]
Text = Optional[str]


@connector_app.command("list")
def connector_list(data: Data = DEFAULT_DATA, server: ServerOpt = None, json_out: Json = False) -> None:
    """Each receive connector: its bindings, who may use it, and what the node really does."""
    rows = run(data, lambda ctx: connector_ops.list_connectors(ctx, server))
    emit(rows) if json_out else show_table(rows, CONNECTOR_COLUMNS)


@connector_app.command("show")
def connector_show(name: Name, data: Data = DEFAULT_DATA, server: ServerOpt = None, json_out: Json = False) -> None:
    """Every property of one connector, and its state on the node."""
    view = run(data, lambda ctx: connector_ops.show_connector(ctx, name, server))
    emit(view) if json_out else show_record(view)


def _properties(values: dict[str, Any]) -> dict[str, Any]:
    """The property options given on the command line, by property name."""
    return {k: v for k, v in values.items() if k not in ("name", "data", "server", "json_out", "usage") and v is not None}


# One option per ReceiveConnector property; shared by `new` and `set`.
Enabled = Annotated[Optional[bool], typer.Option("--enabled/--disabled",
                                                 help="Whether the connector accepts connections.")]
Bindings = Annotated[Text, _opt("Local listeners, comma-separated IP:port, e.g. 0.0.0.0:587,[::]:587.")]
RemoteIpRanges = Annotated[Text, _opt("Client addresses served: IPs, ranges a-b or CIDR blocks, comma-separated "
                                      "(the most specific match picks the connector).")]
Auth = Annotated[Text, _opt("Comma-separated: none (alone), tls, basic, basic-require-tls (needs basic and tls).")]
PermissionGroups = Annotated[Text, _opt("Comma-separated: anonymous, users ('' for none).")]
RequireTls = Annotated[Optional[bool], typer.Option("--require-tls/--no-require-tls",
                                                    help="Refuse mail before STARTTLS (needs tls in --auth).")]
MaxMessageSize = Annotated[Text, _opt("Largest message: 64KB to 2147483647 octets, e.g. 36MB or 1GB.")]
MaxRecipients = Annotated[Text, _opt("Recipients per message (1..512000).")]
MaxInbound = Annotated[Text, _opt("Connections at once (1..2147483647).")]
MaxInboundPerSource = Annotated[Text, _opt("Connections at once from one IP (1..10000).")]
ConnectionTimeout = Annotated[Text, _opt("Longest connection: 1s..24h, e.g. 10m, 1h or 00:10:00.")]
InactivityTimeout = Annotated[Text, _opt("Longest idle time, shorter than --connection-timeout, e.g. 5m.")]
Banner = Annotated[Text, _opt("Greeting text after 220 ('' for the default).")]
Fqdn = Annotated[Text, _opt("Name in the greeting, EHLO reply and Received header ('' for the server's).")]
Certificate = Annotated[Text, _opt("PEM file with the certificate (and key), or a name under DATA/tls "
                                   "('' for the POP3 one).")]
CertificateKey = Annotated[Text, _opt("PEM file with the private key, if not inside --certificate.")]
ProtocolLog = Annotated[Text, _opt("enabled or disabled.")]
LogMaxAge = Annotated[Text, _opt("Delete protocol-log files older than this, e.g. 30d or 30.00:00:00 (0: keep).")]
LogMaxDirectorySize = Annotated[Text, _opt("Largest protocol-log folder, oldest files deleted first, e.g. 250MB "
                                           "(0 or unlimited: no limit).")]
LogMaxFileSize = Annotated[Text, _opt("Largest protocol-log file, e.g. 10MB (0 or unlimited: one file a day).")]
ProxyProtocol = Annotated[Text, _opt("enabled or disabled: expect a PROXY header (v1/v2) from a load balancer.")]
ProxyTrusted = Annotated[Text, _opt("Load balancers allowed to send it: IPs or CIDR blocks, comma-separated.")]


@connector_app.command("new")
def connector_new(
    name: Name, data: Data = DEFAULT_DATA, server: ServerOpt = None, json_out: Json = False,
    usage: Annotated[str, _opt("custom (needs --bindings), internet (anonymous, 25) or client (users, 587).")] = "custom",
    enabled: Enabled = None, bindings: Bindings = None, remote_ip_ranges: RemoteIpRanges = None, auth: Auth = None,
    permission_groups: PermissionGroups = None, require_tls: RequireTls = None, max_message_size: MaxMessageSize = None,
    max_recipients_per_message: MaxRecipients = None, max_inbound_connections: MaxInbound = None,
    max_inbound_connections_per_source: MaxInboundPerSource = None, connection_timeout: ConnectionTimeout = None,
    connection_inactivity_timeout: InactivityTimeout = None, banner: Banner = None, fqdn: Fqdn = None,
    certificate: Certificate = None, certificate_key: CertificateKey = None, protocol_log: ProtocolLog = None,
    protocol_log_max_age: LogMaxAge = None, protocol_log_max_directory_size: LogMaxDirectorySize = None,
    protocol_log_max_file_size: LogMaxFileSize = None, proxy_protocol: ProxyProtocol = None,
    proxy_trusted_networks: ProxyTrusted = None,
) -> None:
    """Create a receive connector; the node starts listening within a second."""
    props = _properties(locals())
    view = run(data, lambda ctx: connector_ops.new_connector(ctx, name, server, usage, **props))
    emit(view) if json_out else show_record(view)


@connector_app.command("set")
def connector_set(
    name: Name, data: Data = DEFAULT_DATA, server: ServerOpt = None, json_out: Json = False,
    enabled: Enabled = None, bindings: Bindings = None, remote_ip_ranges: RemoteIpRanges = None, auth: Auth = None,
    permission_groups: PermissionGroups = None, require_tls: RequireTls = None, max_message_size: MaxMessageSize = None,
    max_recipients_per_message: MaxRecipients = None, max_inbound_connections: MaxInbound = None,
    max_inbound_connections_per_source: MaxInboundPerSource = None, connection_timeout: ConnectionTimeout = None,
    connection_inactivity_timeout: InactivityTimeout = None, banner: Banner = None, fqdn: Fqdn = None,
    certificate: Certificate = None, certificate_key: CertificateKey = None, protocol_log: ProtocolLog = None,
    protocol_log_max_age: LogMaxAge = None, protocol_log_max_directory_size: LogMaxDirectorySize = None,
    protocol_log_max_file_size: LogMaxFileSize = None, proxy_protocol: ProxyProtocol = None,
    proxy_trusted_networks: ProxyTrusted = None,
) -> None:
    """Change a connector's properties; every change applies live, without a restart."""
    changes = _properties(locals())
    view = run(data, lambda ctx: connector_ops.set_connector(ctx, name, server, **changes))
    emit(view) if json_out else show_record(view)


@connector_app.command("remove")
def connector_remove(name: Name, data: Data = DEFAULT_DATA, server: ServerOpt = None, json_out: Json = False) -> None:
    """Remove a connector: its listeners close and its connections are dropped."""
    view = run(data, lambda ctx: connector_ops.remove_connector(ctx, name, server))
    emit(view) if json_out else console.print(f"Removed receive connector {view['name']} from server {view['server']} "
                                              f"({view['state']})")
