"""The status machine checked against a matrix written out by hand from its design (the
docstring of migrator/state/status.py), never against its own table: an edge added to (or
dropped from) `VERSION_TRANSITIONS` / `ASSET_TRANSITIONS` that the design does not have fails
here. Changing the design means changing both places, on purpose."""

import pytest

from migrator.errors import IllegalTransition
from migrator.state import status as st

STATUSES = ("discovered", "claimed", "published", "verified", "skipped_identical", "conflict",
            "failed_retryable", "failed_permanent", "excluded", "requested", "ingested",
            "not_found_upstream", "blocked_by_origin_control", "deleted_at_source")

# Version transitions the design allows; every other (old, new) pair must be refused.
VERSION_ALLOWED = frozenset({
    # discovered: claimed by a worker; excluded by a policy; refused outright
    ("discovered", "claimed"), ("discovered", "excluded"), ("discovered", "failed_permanent"),
    # a worker ends its claim with one outcome ...
    ("claimed", "published"), ("claimed", "verified"), ("claimed", "skipped_identical"),
    ("claimed", "conflict"), ("claimed", "failed_retryable"), ("claimed", "failed_permanent"),
    ("claimed", "excluded"), ("claimed", "requested"), ("claimed", "ingested"),
    # ... or gives it back (graceful stop: back to where it was claimed from), or an expired
    # lease is claimed again by anyone
    ("claimed", "discovered"), ("claimed", "claimed"),
    # published is claimed again to be verified; a sync sends it back to the queue
    ("published", "claimed"), ("published", "discovered"),
    # pre-warm: a requested item is claimed to be confirmed as ingested
    ("requested", "claimed"),
    # retry when next_attempt_at is due; give up; operator retry
    ("failed_retryable", "claimed"), ("failed_retryable", "failed_permanent"),
    ("failed_retryable", "discovered"),
    # finished versions: a sync that finds a new file sends it back; a changed file is a conflict
    ("verified", "discovered"), ("verified", "conflict"),
    ("skipped_identical", "discovered"), ("skipped_identical", "conflict"),
    ("ingested", "discovered"),
    # out of the queue until an operator (`migrator retry`) or a changed manifest sends it back
    ("conflict", "discovered"), ("failed_permanent", "discovered"), ("excluded", "discovered"),
    # pre-warm refusals: a claim ends with them; `migrator retry` sends them back
    ("claimed", "not_found_upstream"), ("claimed", "blocked_by_origin_control"),
    ("not_found_upstream", "discovered"), ("blocked_by_origin_control", "discovered"),
    # sync: a file already in the target changed at the source before its version was done
    ("published", "conflict"), ("discovered", "conflict"), ("failed_retryable", "conflict"),
    ("failed_permanent", "conflict"),
})

# `migrator sync`: a file (or version) the source no longer lists is deleted_at_source from any
# status but a claim (sync holds the run lock: nothing is claimed while it compares); listed
# again, it goes back to the queue.
_UNCLAIMED = ("discovered", "published", "verified", "skipped_identical", "conflict",
              "failed_retryable", "failed_permanent", "excluded", "requested", "ingested",
              "not_found_upstream", "blocked_by_origin_control")
SYNC_DELETIONS = frozenset({(s, "deleted_at_source") for s in _UNCLAIMED}
                           | {("deleted_at_source", "discovered")})
VERSION_ALLOWED = VERSION_ALLOWED | SYNC_DELETIONS

# Asset transitions: assets are never claimed (they travel with their version's claim).
ASSET_ALLOWED = frozenset({
    # a discovered file is published, found identical or different, fails, is excluded with its
    # version, or (pre-warm) is requested through the upstream
    ("discovered", "published"), ("discovered", "skipped_identical"),
    ("discovered", "conflict"), ("discovered", "failed_retryable"),
    ("discovered", "failed_permanent"), ("discovered", "excluded"), ("discovered", "requested"),
    # a retried file: the same outcomes, another retry, or back to discovered
    ("failed_retryable", "published"), ("failed_retryable", "skipped_identical"),
    ("failed_retryable", "conflict"), ("failed_retryable", "failed_retryable"),
    ("failed_retryable", "failed_permanent"), ("failed_retryable", "discovered"),
    ("failed_retryable", "requested"),
    # a published file is verified, or its check finds other bytes, or it fails for good
    ("published", "verified"), ("published", "conflict"), ("published", "failed_permanent"),
    # pre-warm: ingested, or the upstream has not got it yet, or never will
    ("requested", "ingested"), ("requested", "failed_retryable"),
    ("requested", "failed_permanent"),
    # pre-warm refusals: the GET answered 404 (at once or on a repeated request), or the
    # version turned out internal; operator retry sends them back
    ("discovered", "not_found_upstream"), ("discovered", "blocked_by_origin_control"),
    ("failed_retryable", "not_found_upstream"), ("failed_retryable", "blocked_by_origin_control"),
    ("requested", "not_found_upstream"), ("requested", "blocked_by_origin_control"),
    ("not_found_upstream", "discovered"), ("blocked_by_origin_control", "discovered"),
    # a finished file whose source bytes changed
    ("verified", "conflict"), ("skipped_identical", "conflict"),
    # operator retry / manifest change
    ("conflict", "discovered"), ("failed_permanent", "discovered"),
    ("excluded", "discovered"),
}) | SYNC_DELETIONS

# Edges the design rules out by name, so a table that grows them fails with a clear id.
NEVER = [
    ("version", "failed_permanent", "verified"),  # a failure is never done without a retry
    ("version", "discovered", "verified"),  # never done without a claim
    ("version", "discovered", "published"),
    ("version", "verified", "published"),  # never back from verified to published
    ("version", "conflict", "verified"),
    ("version", "excluded", "claimed"),  # excluded leaves the queue
    ("version", "conflict", "claimed"),
    ("version", "failed_permanent", "claimed"),
    ("asset", "discovered", "verified"),  # verified only after published
    ("asset", "published", "discovered"),
    ("asset", "failed_permanent", "verified"),
    ("asset", "ingested", "discovered"),  # an ingested public file is never copied
    ("asset", "discovered", "claimed"),  # assets are never claimed
    ("version", "not_found_upstream", "ingested"),  # a refusal is final until a retry
    ("asset", "blocked_by_origin_control", "ingested"),
    ("version", "claimed", "deleted_at_source"),  # never under a worker's claim
    ("version", "deleted_at_source", "verified"),  # back only through the queue
    ("asset", "deleted_at_source", "verified"),
]


def test_the_hand_written_lists_cover_exactly_the_known_statuses():
    assert set(STATUSES) == set(st.ALL)
    for allowed in (VERSION_ALLOWED, ASSET_ALLOWED):
        assert {s for pair in allowed for s in pair} <= set(STATUSES)
    assert not any("claimed" in pair for pair in ASSET_ALLOWED)
    assert not {(k, a, b) for k, a, b in NEVER} & (
        {("version", a, b) for a, b in VERSION_ALLOWED}
        | {("asset", a, b) for a, b in ASSET_ALLOWED})


def _outcome(kind: str, old: str, new: str) -> bool:
    try:
        st.check(kind, old, new)
    except IllegalTransition as exc:
        assert f"{old} -> {new}" in str(exc)
        return False
    return True


@pytest.mark.parametrize("kind, allowed", [("version", VERSION_ALLOWED),
                                           ("asset", ASSET_ALLOWED)])
def test_check_accepts_exactly_the_design_matrix(kind, allowed):
    """Every one of the 144 (old, new) pairs per kind: accepted iff the design lists it."""
    accepted = {(old, new) for old in STATUSES for new in STATUSES
                if _outcome(kind, old, new)}
    assert accepted - allowed == set(), f"{kind} edges not in the design"
    assert allowed - accepted == set(), f"{kind} edges of the design refused"


@pytest.mark.parametrize("kind, old, new", NEVER, ids=[f"{k}:{a}->{b}" for k, a, b in NEVER])
def test_edges_the_design_rules_out_are_refused(kind, old, new):
    with pytest.raises(IllegalTransition, match=f"{old} -> {new}"):
        st.check(kind, old, new)
