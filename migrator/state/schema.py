"""The state file's schema, as ordered named migrations (sqlite-utils `Migrations`).

Never edit a migration that has shipped: add a new one, so existing state files upgrade.
"""

from __future__ import annotations

import sqlite_utils
from sqlite_utils.migrations import Migrations

from migrator.models import HASH_ALGORITHMS

# The name existing state files recorded in _sqlite_migrations: never change it.
migrations = Migrations("migrator.workqueue")


@migrations()
def m001_initial(db: sqlite_utils.Database) -> None:
    hashes = lambda prefix: ", ".join(f"{prefix}_{a} TEXT" for a in HASH_ALGORITHMS)  # noqa: E731
    db.executescript(f"""
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
    CREATE TABLE repositories (
        id INTEGER PRIMARY KEY,
        source TEXT NOT NULL UNIQUE,
        target TEXT,
        format TEXT NOT NULL,
        repo_type TEXT NOT NULL,
        mode TEXT NOT NULL,
        stage INTEGER NOT NULL DEFAULT 1,
        crawl_status TEXT NOT NULL DEFAULT 'pending',
        crawl_cursor TEXT,
        crawl_pages INTEGER NOT NULL DEFAULT 0,
        crawl_started_at REAL,
        crawl_completed_at REAL
    );
    CREATE TABLE versions (
        id INTEGER PRIMARY KEY,
        repository_id INTEGER NOT NULL REFERENCES repositories(id),
        format TEXT NOT NULL,
        namespace TEXT NOT NULL DEFAULT '',
        package TEXT NOT NULL,
        version TEXT NOT NULL,
        status TEXT NOT NULL,
        claimed_from TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL DEFAULT 0,
        lease_owner TEXT,
        lease_expires REAL,
        reason TEXT,
        extra TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        UNIQUE (repository_id, namespace, package, version)
    );
    CREATE INDEX versions_status ON versions (status);
    CREATE INDEX versions_repo_status ON versions (repository_id, status);
    CREATE TABLE assets (
        id INTEGER PRIMARY KEY,
        repository_id INTEGER NOT NULL REFERENCES repositories(id),
        version_id INTEGER REFERENCES versions(id),
        path TEXT NOT NULL,
        filename TEXT NOT NULL,
        kind TEXT NOT NULL,
        size INTEGER,
        status TEXT NOT NULL,
        reason TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        {hashes("src")},
        {hashes("dl")},
        {hashes("tgt")},
        last_modified TEXT,
        extra TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        UNIQUE (repository_id, path)
    );
    CREATE INDEX assets_version ON assets (version_id);
    -- covering index: `migrator status` counts and sums without touching the table
    CREATE INDEX assets_stats ON assets (repository_id, status, size);
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        command TEXT NOT NULL,
        pid INTEGER NOT NULL,
        host TEXT NOT NULL,
        started_at REAL NOT NULL,
        finished_at REAL,
        exit_code INTEGER
    );
    """)


@migrations()
def m002_format_marker(db: sqlite_utils.Database) -> None:
    # What makes a file a migrator state, for the check `WorkQueue.open` makes before it
    # writes anything into a file (a foreign SQLite database is refused, never altered).
    db.execute("INSERT INTO meta (key, value) VALUES ('format', 'migrator-state') "
               "ON CONFLICT (key) DO UPDATE SET value = excluded.value")


@migrations()
def m004_sync(db: sqlite_utils.Database) -> None:
    # `migrator sync`: which listing last saw each asset (what was not seen by a complete
    # listing is deleted at the source), and its source dates for scoping by use and time.
    # Written to apply before or after any other migration: it only adds what is missing.
    # `repositories.stage` keeps its INTEGER affinity: a numeric stage is stored as an
    # integer, a named one ("wave-a") as text, which SQLite keeps as text in that column, so
    # stage names need no table rebuild and old states read as they are.
    have = {c.name for c in db["assets"].columns}
    for name, kind in (("seen_sync", "INTEGER"), ("last_downloaded", "TEXT"),
                       ("created_at_source", "TEXT")):
        if name not in have:
            db.execute(f"ALTER TABLE assets ADD COLUMN {name} {kind}")
    db.execute("CREATE INDEX IF NOT EXISTS assets_seen ON assets (repository_id, seen_sync)")


@migrations()
def m005_run_samples(db: sqlite_utils.Database) -> None:
    # What a running process did so far, written every few seconds by the engine's writer:
    # another terminal's `migrator status` computes rates, throttling and an ETA from the
    # last window of them. Cumulative per run (never reset within a run), so a lost sample
    # costs resolution, not correctness. IF NOT EXISTS: this migration shares nothing with
    # the others and may be applied in any order with them.
    db.executescript("""
    CREATE TABLE IF NOT EXISTS run_samples (
        id INTEGER PRIMARY KEY,
        run_id INTEGER,
        at REAL NOT NULL,
        published_assets INTEGER NOT NULL DEFAULT 0,
        published_bytes INTEGER NOT NULL DEFAULT 0,
        verified_assets INTEGER NOT NULL DEFAULT 0,
        verified_bytes INTEGER NOT NULL DEFAULT 0,
        settled_assets INTEGER NOT NULL DEFAULT 0,
        writes INTEGER NOT NULL DEFAULT 0,
        reads INTEGER NOT NULL DEFAULT 0,
        throttled INTEGER NOT NULL DEFAULT 0,
        write_rate REAL,
        budget REAL
    );
    CREATE INDEX IF NOT EXISTS run_samples_at ON run_samples (run_id, at);
    """)


#: How many migrations there are (every one a new state applies). `WorkQueue.open` records
#: it in `meta.schema_version` and refuses a state with more (written by a newer migrator).
SCHEMA_VERSION = len(migrations.pending(sqlite_utils.Database(memory=True)))
