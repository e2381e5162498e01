"""The fuzz budget: bounded in CI, longer locally.

POSTROOM_FUZZ_EXAMPLES sets max_examples per target (default 1000); HYPOTHESIS_SEED, when
set, makes a run reproducible (CI prints it; rerun with the same value).
"""
from __future__ import annotations

import os

from hypothesis import HealthCheck, seed, settings

EXAMPLES = int(os.environ.get("POSTROOM_FUZZ_EXAMPLES", "1000"))
SEED = os.environ.get("HYPOTHESIS_SEED")

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=False,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.filter_too_much],
)


def fuzz(test):
    """Apply the fuzz settings, and the seed when HYPOTHESIS_SEED is set."""
    test = FUZZ(test)
    return seed(int(SEED))(test) if SEED else test
