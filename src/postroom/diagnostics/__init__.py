"""The doctor and the connectivity tests: "an application cannot read its POP mailbox",
answered on the live system with the fix for each problem found.

- `doctor.run_doctor`: the article's checklist in its order (checks_pop, checks_mailbox,
  checks_smtp), then a live probe (probe; every binding every way when the client mode is not
  given) and the recent evidence (checks_sessions: POP3 sessions that ended without a login;
  failed logins);
- `connectivity`: Exchange's Test-PopConnectivity for POP3 and SMTP submission;
- `bundle`: the support bundle, with every secret left out.

Front ends reach these through `postroom.service.doctor`, which checks the caller's role.
"""
