"""The status machine of package versions and assets: every allowed transition, in one place.

A package version is the unit of publishing: workers claim versions (a lease with an expiry)
and the version's assets travel with the claim. Assets carry their own status so a version
that was half published when a process died resumes exactly where it stopped.

    version: discovered ─► claimed ─► published ─► claimed ─► verified  (from next_attempt_at)
                 │            │  (lease; an expired lease is claimed again by anyone)
                 ▼            ├─► skipped_identical     (target already had the same bytes)
              excluded        ├─► conflict              (target has different bytes)
                              ├─► failed_retryable ─► claimed (when next_attempt_at is due)
                              ├─► failed_permanent      (attempts used up, or never retryable)
                              └─► requested ─► ingested (pre-warm items)
                                      ├──────► not_found_upstream
                                      └──────► blocked_by_origin_control

    sync:    any status but claimed ─► deleted_at_source ─► discovered (listed again)
             published, discovered, failed_* ─► conflict (a file already in the target
             changed at the source before its version was finished)

Only `ACTIVE` statuses are ever claimed. `conflict`, `failed_permanent` and `excluded` leave
the queue until an operator (or a changed manifest) sends them back to `discovered`.
"""

from __future__ import annotations

from migrator.errors import IllegalTransition

DISCOVERED = "discovered"
CLAIMED = "claimed"
PUBLISHED = "published"
VERIFIED = "verified"
SKIPPED_IDENTICAL = "skipped_identical"
CONFLICT = "conflict"
FAILED_RETRYABLE = "failed_retryable"
FAILED_PERMANENT = "failed_permanent"
EXCLUDED = "excluded"
REQUESTED = "requested"
INGESTED = "ingested"
# Pre-warm outcomes other than ingested: the public registry behind the external connection
# does not have the file, or the target's origin controls (or a package group) refuse to
# fetch it from upstream. Final, like failed_permanent; `migrator retry --status` sends them
# back once the cause is fixed.
NOT_FOUND_UPSTREAM = "not_found_upstream"
BLOCKED_BY_ORIGIN_CONTROL = "blocked_by_origin_control"
PREWARM_REFUSALS = (NOT_FOUND_UPSTREAM, BLOCKED_BY_ORIGIN_CONTROL)

#: `migrator sync` no longer finds the file (or every file of the version) at the source. Only
#: reported: what CodeArtifact holds stays there (`options.delete_policy = "report"`).
DELETED_AT_SOURCE = "deleted_at_source"

ALL = (
    DISCOVERED, CLAIMED, PUBLISHED, VERIFIED, SKIPPED_IDENTICAL, CONFLICT,
    FAILED_RETRYABLE, FAILED_PERMANENT, EXCLUDED, REQUESTED, INGESTED, DELETED_AT_SOURCE,
    *PREWARM_REFUSALS,
)

#: Final states: the item needs nothing more from this run.
DONE = frozenset({VERIFIED, SKIPPED_IDENTICAL, INGESTED})
#: States that end in the report as problems.
PROBLEMS = frozenset({CONFLICT, FAILED_PERMANENT, *PREWARM_REFUSALS})
#: States a worker may claim (published: claimed again to be verified; requested: to be
#: confirmed as ingested).
CLAIMABLE = (DISCOVERED, FAILED_RETRYABLE, PUBLISHED, REQUESTED)

VERSION_TRANSITIONS: dict[str, frozenset[str]] = {
    DISCOVERED: frozenset({CLAIMED, EXCLUDED, FAILED_PERMANENT}),
    CLAIMED: frozenset({
        CLAIMED, DISCOVERED, PUBLISHED, VERIFIED, SKIPPED_IDENTICAL, CONFLICT,
        FAILED_RETRYABLE, FAILED_PERMANENT, EXCLUDED, REQUESTED, INGESTED,
        *PREWARM_REFUSALS,
    }),
    PUBLISHED: frozenset({CLAIMED, DISCOVERED}),
    REQUESTED: frozenset({CLAIMED}),
    FAILED_RETRYABLE: frozenset({CLAIMED, FAILED_PERMANENT, DISCOVERED}),
    # A sync that finds a new file in a finished version sends it back to the queue.
    VERIFIED: frozenset({DISCOVERED, CONFLICT}),
    SKIPPED_IDENTICAL: frozenset({DISCOVERED, CONFLICT}),
    INGESTED: frozenset({DISCOVERED}),
    # Operator retry (`migrator retry`) or a manifest change.
    CONFLICT: frozenset({DISCOVERED}),
    FAILED_PERMANENT: frozenset({DISCOVERED}),
    EXCLUDED: frozenset({DISCOVERED}),
    NOT_FOUND_UPSTREAM: frozenset({DISCOVERED}),
    BLOCKED_BY_ORIGIN_CONTROL: frozenset({DISCOVERED}),
}

ASSET_TRANSITIONS: dict[str, frozenset[str]] = {
    DISCOVERED: frozenset({
        PUBLISHED, SKIPPED_IDENTICAL, CONFLICT, FAILED_RETRYABLE, FAILED_PERMANENT, EXCLUDED,
        REQUESTED, *PREWARM_REFUSALS,
    }),
    FAILED_RETRYABLE: frozenset({
        PUBLISHED, SKIPPED_IDENTICAL, CONFLICT, FAILED_RETRYABLE, FAILED_PERMANENT, DISCOVERED,
        REQUESTED, *PREWARM_REFUSALS,
    }),
    PUBLISHED: frozenset({VERIFIED, CONFLICT, FAILED_PERMANENT}),
    REQUESTED: frozenset({INGESTED, FAILED_RETRYABLE, FAILED_PERMANENT, *PREWARM_REFUSALS}),
    VERIFIED: frozenset({CONFLICT}),
    SKIPPED_IDENTICAL: frozenset({CONFLICT}),
    INGESTED: frozenset(),
    CONFLICT: frozenset({DISCOVERED}),
    FAILED_PERMANENT: frozenset({DISCOVERED}),
    EXCLUDED: frozenset({DISCOVERED}),
    NOT_FOUND_UPSTREAM: frozenset({DISCOVERED}),
    BLOCKED_BY_ORIGIN_CONTROL: frozenset({DISCOVERED}),
}


def sources_for(target: str, table: dict[str, frozenset[str]]) -> tuple[str, ...]:
    """Every status from which `target` may be reached."""
    return tuple(s for s, allowed in table.items() if target in allowed)


def check(kind: str, old: str, new: str) -> None:
    """Raise IllegalTransition unless `old -> new` is allowed for `kind` (version|asset)."""
    table = VERSION_TRANSITIONS if kind == "version" else ASSET_TRANSITIONS
    if new not in table.get(old, frozenset()):
        raise IllegalTransition(
            f"illegal {kind} transition {old} -> {new}",
            hint="this is a bug in migrator; please report it with the state file",
        )


# -- sync (`migrator sync`) --------------------------------------------------------------------
# A file the source no longer lists is `deleted_at_source` from any status but a claim (sync
# holds the run lock, so nothing is claimed while it compares); listed again, it goes back to
# the queue, and a re-publish of the same bytes ends `skipped_identical`. A changed file of a
# version still being verified is a conflict, as for a finished one.
_NOT_CLAIMED = frozenset(ALL) - {CLAIMED, DELETED_AT_SOURCE}
for _status in _NOT_CLAIMED:
    VERSION_TRANSITIONS[_status] = VERSION_TRANSITIONS.get(_status, frozenset()) | {
        DELETED_AT_SOURCE}
    ASSET_TRANSITIONS[_status] = ASSET_TRANSITIONS.get(_status, frozenset()) | {
        DELETED_AT_SOURCE}
VERSION_TRANSITIONS[DELETED_AT_SOURCE] = frozenset({DISCOVERED})
ASSET_TRANSITIONS[DELETED_AT_SOURCE] = frozenset({DISCOVERED})
# A file already in the target changed at the source while the rest of its version still
# waits (a new file sent it back to the queue, or a retry is due): the version stops as a
# conflict, so its other files are not published beside the old one.
for _status in (PUBLISHED, DISCOVERED, FAILED_RETRYABLE, FAILED_PERMANENT):
    VERSION_TRANSITIONS[_status] = VERSION_TRANSITIONS[_status] | {CONFLICT}
