"""Request bodies and path parameters: JSON field names are the CLI's option names with underscores.

Types stay loose where the service layer parses the value (sizes like "36MB", durations like
"30m" or "00:30:00", lists as JSON arrays or comma-separated text), so that the service's
message, with its allowed values, is the one a caller sees. Unknown fields are refused.
"""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path
from pydantic import BaseModel, ConfigDict, field_validator
from pydantic_core import PydanticCustomError

from ..model import (
    ImapSettings, LoginPolicy, MailboxFeatures, PopSettings, ReceiveConnector, SendConnector, TransportSettings,
    WebSettings,
)
from .settings_models import changes_model  # the settings' bodies: Bindings, Number and Flag types there

# Path parameters, with examples from the dev profile so the document (and its fuzzers) can
# reach real objects.
ServerName = Annotated[str, Path(description="A server name, or `all` where listing or changing every "
                                             "server makes sense", examples=["EX01", "all"])]
ServiceName = Annotated[str, Path(description="pop3, imap4, smtp or admin (any case)",
                                  examples=["pop3", "imap4", "smtp", "admin"])]
ConnectorName = Annotated[str, Path(description="A receive connector's name, its short name on the server (Client "
                                                "for Client EX01) or the start of exactly one name",
                                    examples=["Client EX01"])]
SendConnectorName = Annotated[str, Path(description="A send connector's name or the start of exactly one",
                                        examples=["Internet"])]
Address = Annotated[str, Path(description="A mailbox address", examples=["demo@example.com"])]
DomainName = Annotated[str, Path(description="An accepted domain", examples=["example.com"])]
AdminName = Annotated[str, Path(description="An admin principal's name", examples=["admin"])]
TokenId = Annotated[str, Path(description="An API token's id (the part before the dot)",
                              examples=["3f2a9c1b7d4e"])]


def example(**values: Any) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": [values]})


class Body(BaseModel):
    # strict: a JSON value is taken only as the type the document promises (no 0 for false)
    model_config = ConfigDict(extra="forbid", strict=True)

    @field_validator("*")
    @classmethod
    def _unicode_text(cls, value: Any) -> Any:
        """JSON may name half a surrogate pair (\\ud800); such text cannot be stored, hashed or
        sent, so it is malformed input here rather than a failure deeper down."""
        for text in value if isinstance(value, list) else [value]:
            if isinstance(text, str):
                try:
                    text.encode("utf-8")
                except UnicodeEncodeError:
                    raise PydanticCustomError("unicode", "is not valid Unicode text (a lone surrogate escape)"
                                              ) from None
        return value

    def given(self) -> dict[str, Any]:
        """The fields the caller gave a value (null means: leave as it is)."""
        return {name: value for name, value in self.model_dump().items() if value is not None}


# servers -------------------------------------------------------------------------------------
PopChanges = changes_model("PopChanges", PopSettings.table(), Body, model_config=example(
    login_type="secure-login", bindings=["0.0.0.0:110", "[::]:110"], authenticated_timeout="30m"))

ImapChanges = changes_model("ImapChanges", ImapSettings.table(), Body, model_config=example(
    login_type="secure-login", ssl_bindings=["0.0.0.0:993", "[::]:993"], max_command_size=10240))


class ServiceChanges(Body):
    model_config = example(startup="automatic")

    startup: str  # automatic, manual or disabled


WebChanges = changes_model("WebChanges", WebSettings.table(), Body, model_config=example(session_timeout="8h"))


ConnectorChanges = changes_model("ConnectorChanges", ReceiveConnector.table(), Body, model_config=example(
    enabled=True, auth=["tls", "basic", "basic-require-tls"], max_message_size="36MB"))


class NewConnector(ConnectorChanges):  # type: ignore[misc,valid-type]  # a model class made at run time
    model_config = example(name="Relay", usage="custom", bindings=["127.0.0.1:2526"],
                           remote_ip_ranges=["192.0.2.0/24"], permission_groups=["anonymous"])

    name: str
    usage: str = "custom"  # custom, internet or client

    def properties(self) -> dict[str, Any]:
        return {k: v for k, v in self.given().items() if k not in ("name", "usage")}


# sending mail out ----------------------------------------------------------------------------
TransportChanges = changes_model("TransportChanges", TransportSettings.table(), Body, model_config=example(
    message_expiration_timeout="2d", delay_notification_timeout="4h", dns_servers=["127.0.0.1:53"]))


SendConnectorChanges = changes_model("SendConnectorChanges", SendConnector.table(), Body, model_config=example(
    smart_hosts=["relay.example.net:587"], dns_routing=False, smart_host_auth="basic", auth_username="app",
    auth_password="the relay's password", require_tls=True))  # auth_password "": remove it; null: keep it


class NewSendConnector(SendConnectorChanges):  # type: ignore[misc,valid-type]  # a model class made at run time
    model_config = example(name="Internet", address_spaces=["*"])

    name: str

    def properties(self) -> dict[str, Any]:
        return {k: v for k, v in self.given().items() if k != "name"}


# recipients ----------------------------------------------------------------------------------
class NewMailbox(Body):
    model_config = example(address="alice@example.com", password="correct horse battery staple",
                           display_name="Alice", pop_enabled=True, imap_enabled=True)

    address: str
    password: str
    display_name: str | None = None
    pop_enabled: bool = True
    imap_enabled: bool = True


MailboxChanges = changes_model("MailboxChanges", MailboxFeatures.table(), Body, model_config=example(pop_enabled=True))


class NewPassword(Body):
    model_config = example(password="correct horse battery staple")

    password: str


class NewDomain(Body):
    model_config = example(name="example.org")

    name: str


class NewDkimKey(Body):
    """`algorithm`: rsa-2048 (default) or ed25519; `selector`: default postroom-<yyyymm>-rsa or -ed25519."""

    model_config = example(algorithm="ed25519")

    algorithm: str | None = None
    selector: str | None = None


# login security -------------------------------------------------------------------------------
LoginPolicyChanges = changes_model("LoginPolicyChanges", LoginPolicy.table(), Body, model_config=example(
    max_source_failures=5, block_time="30m", trusted_networks=["127.0.0.0/8", "10.20.0.0/24"]))


# the doctor and the connectivity tests: `host` must be this machine (service/doctor.py) --------
class DoctorRequest(Body):
    model_config = example(client_mode="ssl", port=1995, password="the application's password")

    client_mode: str | None = None  # plain, stls or ssl
    port: int | None = None
    host: str | None = None
    server: str | None = None
    password: str | None = None  # the mailbox's: adds the login and STAT to the probe


class SmtpTestRequest(Body):
    model_config = example(password="the application's password", light=True)

    password: str
    light: bool = False  # log in only; without it a test message is sent, retrieved and deleted
    host: str | None = None
    port: int | None = None
    server: str | None = None
    trust_any_certificate: bool = False


class PopTestRequest(SmtpTestRequest):
    model_config = example(password="the application's password", light=True, client_mode="ssl")

    client_mode: str | None = None


# admins --------------------------------------------------------------------------------------
class NewAdmin(Body):
    model_config = example(name="alice", password="correct horse battery staple", roles=["recipient-management"])

    name: str
    password: str
    roles: list[str] | str


class AdminChanges(Body):
    model_config = example(roles=["server-management", "recipient-management"])

    roles: list[str] | str


class NewToken(Body):
    model_config = example(description="monitoring", expires="30d")

    description: str | None = None
    expires: str | None = None  # a duration from now (30d), an ISO-8601 time, or "never"


class SignIn(Body):
    model_config = example(name="admin", password="correct horse battery staple")

    name: str
    password: str
