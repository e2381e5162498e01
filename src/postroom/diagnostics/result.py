"""What a check reports: pass / warn / fail, what it found, the command that fixes it and
the console page where the same setting lives."""
from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any

PASS, WARN, FAIL = "pass", "warn", "fail"
_RANK = {PASS: 0, WARN: 1, FAIL: 2}


@dataclass
class Check:
    name: str
    status: str
    detail: str
    fix: str | None = None  # one command line (`a && b` when two steps are needed), or None
    page: str | None = None  # console path

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "detail": self.detail, "fix": self.fix, "page": self.page}


def command(*words: str) -> str:
    """`postroom WORDS...`, quoted for a POSIX shell (connector names have spaces)."""
    return " ".join(["postroom", *(shlex.quote(w) for w in words)])


def not_checked(name: str, why: str, page: str | None = None) -> Check:
    """A check that could not run because an earlier one failed: a warning, never a second
    failure for the same cause."""
    return Check(name, WARN, f"not checked: {why}", None, page)


@dataclass
class Findings:
    """Several facts behind one check: the worst status wins, and its first fix."""

    items: list[tuple[str, str, str | None]] = field(default_factory=list)

    def add(self, status: str, text: str, fix: str | None = None) -> None:
        self.items.append((status, text, fix))

    def check(self, name: str, ok_text: str, page: str | None = None) -> Check:
        worst = max((status for status, _, _ in self.items), key=_RANK.__getitem__, default=PASS)
        if worst == PASS:
            texts = [text for _, text, _ in self.items] or [ok_text]
            return Check(name, PASS, "; ".join(texts), None, page)
        problems = [text for status, text, _ in self.items if status != PASS]
        fix = next((fix for status, _, fix in self.items if status == worst and fix), None)
        return Check(name, worst, "; ".join(problems), fix, page)
