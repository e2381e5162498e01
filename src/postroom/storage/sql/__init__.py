"""What both backends share: value checks, row conversions and query builders.

Nothing here opens a connection or names a driver. Queries are written with `?`
placeholders; the embedded store runs them as they are, the PostgreSQL store turns them
into `$1, $2, ...` (postgres/base.py `dollar`). The backends (`sqlite/`, `postgres/`) import
from here and never from each other.
"""
