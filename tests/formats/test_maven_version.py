"""Maven's own ComparableVersionTest cases (Maven 3.9 / 4 `compat/maven-artifact`), as a table.

Each row is a case of that test class; `lt` rows say the first sorts before the second, `eq`
rows that both sort the same (Maven's `compareTo == 0`)."""

from __future__ import annotations

import pytest

from migrator.formats.maven_version import MavenVersion, latest, sort_versions

QUALIFIER_ORDER = [
    "1-alpha2snapshot", "1-alpha2", "1-alpha-123", "1-beta-2", "1-beta123", "1-m2", "1-m11",
    "1-rc", "1-cr2", "1-rc123", "1-SNAPSHOT", "1", "1-sp", "1-sp2", "1-sp123", "1-abc",
    "1-def", "1-pom-1", "1-1-snapshot", "1-1", "1-2", "1-123"]
NUMBER_ORDER = [
    "2.0", "2.0.a", "2-1", "2.0.2", "2.0.123", "2.1.0", "2.1-a", "2.1b", "2.1-c", "2.1-1",
    "2.1.0.1", "2.2", "2.123", "11.a2", "11.a11", "11.b2", "11.b11", "11.m2", "11.m11", "11",
    "11.a", "11b", "11c", "11m"]

EQUAL = [
    ("1", "1"), ("1", "1.0"), ("1", "1.0.0"), ("1.0", "1.0.0"), ("1", "1-0"), ("1", "1.0-0"),
    ("1.0", "1.0-0"), ("1a", "1-a"), ("1a", "1.0-a"), ("1a", "1.0.0-a"), ("1.0a", "1-a"),
    ("1.0.0a", "1-a"), ("1x", "1-x"), ("1x", "1.0-x"), ("1x", "1.0.0-x"), ("1.0x", "1-x"),
    ("1.0.0x", "1-x"), ("1cr", "1rc"), ("1a1", "1-alpha-1"), ("1b2", "1-beta-2"),
    ("1m3", "1-milestone-3"), ("1X", "1x"), ("1A", "1a"), ("1B", "1b"), ("1M", "1m"),
    ("1Cr", "1Rc"), ("1cR", "1rC"), ("1m3", "1Milestone3"), ("1m3", "1MileStone3"),
    ("1m3", "1MILESTONE3"),
    # testVersionsHaveSameOrderButAreNotEqual
    ("1ga", "1"), ("1release", "1"), ("1final", "1"), ("1Ga", "1"), ("1GA", "1"),
    ("1RELEASE", "1"), ("1RELeaSE", "1"), ("1Final", "1"), ("1FinaL", "1"), ("1FINAL", "1"),
    # lexicographic ASCII / case
    ("1.0.0-alpha1", "1.0.0-ALPHA1"), ("1.a", "1.A"), ("1.é", "1.É"),
    ("1-abcdefghijklmnopqrstuvwxyz", "1-ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
]
EQUAL += [(("0" * n) + "1", "1") for n in range(19)]
EQUAL += [("0" * n, "0") for n in range(1, 20)]
for x in ("abc", "alpha", "a", "beta", "b", "def", "milestone", "m", "RC"):  # MNG-7644
    EQUAL += [(f"2-{x}", f"2.0.{x}"), (f"2-{x}", f"2.0.0.{x}"), (f"2.0.{x}", f"2.0.0.{x}")]

LESS = [
    ("1", "2"), ("1.5", "2"), ("1", "2.5"), ("1.0", "1.1"), ("1.1", "1.2"), ("1.0.0", "1.1"),
    ("1.0.1", "1.1"), ("1.1", "1.2.0"), ("1.0-alpha-1", "1.0"), ("1.0-alpha-1", "1.0-alpha-2"),
    ("1.0-alpha-1", "1.0-beta-1"), ("1.0-beta-1", "1.0-SNAPSHOT"), ("1.0-SNAPSHOT", "1.0"),
    ("1.0-alpha-1-SNAPSHOT", "1.0-alpha-1"), ("1.0", "1.0-1"), ("1.0-1", "1.0-2"),
    ("1.0.0", "1.0-1"), ("2.0-1", "2.0.1"), ("2.0.1-klm", "2.0.1-lmn"), ("2.0.1", "2.0.1-xyz"),
    ("2.0.1", "2.0.1-123"), ("2.0.1-xyz", "2.0.1-123"),
    ("0.7", "2"), ("0.2", "1.0.7"),  # leading zeroes
    ("é", "1"), ("\U0001d7e4", "1"), ("\u0668", "1"), ("\u0668", "9"),  # non-ASCII < digit
    ("J", "7"), ("c", "7"), ("aardvark", "zebra"), ("zebra", "ζέβρα"),
    ("6.1.0rc3", "6.1.0"), ("6.1.0rc3", "6.1H.5-beta"), ("6.1.0", "6.1H.5-beta"),  # MNG-5568
    ("20190126.230843", "1234567890.12345"),  # MNG-6572
    ("1234567890.12345", "123456789012345.1H.5-beta"),
    ("20190126.230843", "123456789012345.1H.5-beta"),
    ("123456789012345.1H.5-beta", "12345678901234567890.1H.5-beta"),
    ("1234567890.12345", "12345678901234567890.1H.5-beta"),
    ("20190126.230843", "12345678901234567890.1H.5-beta"),
    ("1-0.alpha", "1"), ("1-0.beta", "1"), ("1-0.alpha", "1-0.beta"),  # MNG-6964
    ("1.0.final-redhat", "1.0-sp1-redhat"), ("1.0.final-redhat", "1.0-sp-1-redhat"),  # MNG-7714
    ("1.0.final-redhat", "1.0-sp.1-redhat"),
]
for x in ("abc", "alpha", "a", "beta", "b", "def", "milestone", "m", "RC"):  # MNG-7644
    LESS.append((f"1.0.0.{x}1", f"1.0.0-{x}2"))
for order in (QUALIFIER_ORDER, NUMBER_ORDER):
    LESS += [(order[i], order[j]) for i in range(len(order)) for j in range(i + 1, len(order))]


@pytest.mark.parametrize(("low", "high"), LESS)
def test_sorts_before(low, high):
    assert MavenVersion(low) < MavenVersion(high)
    assert MavenVersion(high) > MavenVersion(low)


@pytest.mark.parametrize(("a", "b"), EQUAL)
def test_sorts_the_same(a, b):
    assert MavenVersion(a) == MavenVersion(b)
    assert MavenVersion(b) == MavenVersion(a)


def test_latest_and_sort_use_maven_order_not_text_order():
    versions = ["1.10", "1.9", "1.0-SNAPSHOT", "1.0", "1.0-rc1", "2.0-alpha-1"]
    assert sort_versions(versions) == ["1.0-rc1", "1.0-SNAPSHOT", "1.0", "1.9", "1.10",
                                       "2.0-alpha-1"]
    assert latest(versions) == "2.0-alpha-1"
    assert latest([]) is None


def test_artifact_metadata_orders_versions_and_picks_latest_and_release_by_maven_order():
    from migrator.target.maven import artifact_metadata, listed_versions

    body = artifact_metadata("com.acme", "app", ["1.10", "1.9", "2.0-SNAPSHOT", "1.9"]).decode()
    assert listed_versions(body) == ["1.9", "1.10", "2.0-SNAPSHOT"]
    assert "<latest>2.0-SNAPSHOT</latest>" in body and "<release>1.10</release>" in body
