"""The state of a migration: the only package that holds SQL.

`WorkQueue` (queue operations and the read queries, one counting query for every report),
the status machine (`status`), the schema (`schema`), the run lock (`lock`), what a file is
and SQLite's errors as `StateError`s (`db`), and `backup` (a verified online copy).
"""

from migrator.state.backup import StateBackup, backup, default_backup_path
from migrator.state.queue import CrawlState, WorkQueue, default_owner

__all__ = ["CrawlState", "StateBackup", "WorkQueue", "backup", "default_backup_path",
           "default_owner"]
