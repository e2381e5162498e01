"""The next hop of outbound mail, below both the delivery worker (server/outbound/) and the
doctor (diagnostics/checks_send.py), so that `postroom doctor send` plans and connects exactly
as delivery does:

- `plan`: where a route's mail goes (smart hosts, or MX hosts in delivery order), the TLS
  policy of each target (require-tls, TLS auth levels, DANE), loops to this server;
- `connection`: `ClientConnection`, the sans-IO SMTP client core over an asyncio stream
  (greeting, EHLO, STARTTLS with the certificate or DANE check, AUTH, transactions, QUIT).
"""
