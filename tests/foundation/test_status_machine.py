"""Every transition rule of the status machine, and its enforcement by the queue."""

import pytest

from migrator.errors import IllegalTransition
from migrator.state import status as st

VERSION_ALLOWED = {(a, b) for a, bs in st.VERSION_TRANSITIONS.items() for b in bs}
ASSET_ALLOWED = {(a, b) for a, bs in st.ASSET_TRANSITIONS.items() for b in bs}


def test_every_status_has_a_rule_row():
    assert set(st.VERSION_TRANSITIONS) == set(st.ALL)
    assert set(st.ASSET_TRANSITIONS) == set(st.ALL) - {st.CLAIMED}


@pytest.mark.parametrize("old", st.ALL)
@pytest.mark.parametrize("new", st.ALL)
def test_version_rules_are_enforced(old, new):
    if (old, new) in VERSION_ALLOWED:
        st.check("version", old, new)
    else:
        with pytest.raises(IllegalTransition, match=f"{old} -> {new}"):
            st.check("version", old, new)


@pytest.mark.parametrize("old", [s for s in st.ALL if s != st.CLAIMED])
@pytest.mark.parametrize("new", st.ALL)
def test_asset_rules_are_enforced(old, new):
    if (old, new) in ASSET_ALLOWED:
        st.check("asset", old, new)
    else:
        with pytest.raises(IllegalTransition):
            st.check("asset", old, new)


def test_the_main_path_and_its_side_exits():
    # discovered -> claimed -> published -> claimed -> verified
    for a, b in [("discovered", "claimed"), ("claimed", "published"), ("published", "claimed"),
                 ("claimed", "verified"), ("claimed", "requested"), ("requested", "claimed"),
                 ("claimed", "ingested"), ("claimed", "failed_retryable"),
                 ("failed_retryable", "claimed"), ("claimed", "skipped_identical"),
                 ("claimed", "conflict"), ("discovered", "excluded")]:
        assert (a, b) in VERSION_ALLOWED
    # never straight from discovered to done, never back from verified to published
    for a, b in [("discovered", "verified"), ("discovered", "published"),
                 ("verified", "published"), ("conflict", "verified"), ("excluded", "claimed")]:
        assert (a, b) not in VERSION_ALLOWED
    assert ("discovered", "verified") not in ASSET_ALLOWED
    assert ("published", "discovered") not in ASSET_ALLOWED
