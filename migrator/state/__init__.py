"""The state of a migration: the only package that holds SQL.

`WorkQueue` (queue operations and the read queries, one counting query for every report),
the status machine (`status`), the schema (`schema`), the run lock (`lock`), and what a file
is and SQLite's errors as `StateError`s (`db`).
"""

from migrator.state.queue import CrawlState, WorkQueue, default_owner

__all__ = ["CrawlState", "WorkQueue", "default_owner"]
