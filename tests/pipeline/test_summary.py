"""The run summary lists the first problems and says how many more there are, and how to see
them all; its counts come from the state's one counting query."""

from __future__ import annotations

from migrator.pipeline.stats import RunSummary, Stats
from migrator.state.queries import Failure, RepositoryCounts


def test_a_capped_failure_list_says_how_many_more_and_where_to_see_them():
    repo = RepositoryCounts(source="r", target="t", format="maven", mode="copy", stage=1,
                            crawl="complete", pages=1, assets={"failed_permanent": 120},
                            versions={"failed_permanent": 60})
    shown = [Failure("r", f"p/{i}", "failed_permanent", "boom", 5) for i in range(50)]
    summary = RunSummary(repositories={"r": repo}, stats=Stats(), failures=shown,
                         failures_total=120)
    text = summary.render()
    assert text.count("failed_permanent: r/p/") == 50
    assert "... and 70 more; `migrator status --json` lists them all" in text
    assert summary.exit_code == 1
    assert summary.as_dict()["failures_total"] == 120


def test_an_uncapped_list_has_no_more_line():
    repo = RepositoryCounts(source="r", target="t", format="npm", mode="copy", stage=1,
                            crawl="complete", pages=1, assets={"conflict": 1},
                            versions={"conflict": 1})
    summary = RunSummary(repositories={"r": repo},
                         failures=[Failure("r", "a.tgz", "conflict", "differs", 1)],
                         failures_total=1)
    assert "more;" not in summary.render()
