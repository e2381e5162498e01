"""Organization-wide settings, shared SQL for both backends: one JSON document per name in the
organization_settings table (today only the login block policy). A name without a row reads
as its defaults. These are configuration: the backends bump config_version when writing them.
"""
from __future__ import annotations

import json

from ...errors import ValidationError
from ...model import LoginPolicy

LOGIN_POLICY = "login_policy"
SELECT = "SELECT settings FROM organization_settings WHERE name = ?"
UPSERT = ("INSERT INTO organization_settings (name, settings) VALUES (?, ?)"
          " ON CONFLICT (name) DO UPDATE SET settings = excluded.settings")


def login_policy_json(policy: LoginPolicy) -> str:
    """The JSON to store, after checking the policy the way it will be read back."""
    if not isinstance(policy, LoginPolicy):
        raise ValidationError("policy", f"must be LoginPolicy, not {type(policy).__name__}")
    return json.dumps(LoginPolicy.from_dict(policy.to_dict()).to_dict())


def login_policy(text: str | None) -> LoginPolicy:
    return LoginPolicy() if text is None else LoginPolicy.from_dict(json.loads(text))
