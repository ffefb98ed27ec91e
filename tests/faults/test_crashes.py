"""Crashes, concurrency and a full disk, with real processes (slow: each case starts builds)."""

from __future__ import annotations

import pytest

from tests.faults.cases import tally
from tests.faults.crashes import concurrency_cases, crash_cases, disk_full_cases, reference

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    root = tmp_path_factory.mktemp("crashes")
    return root, reference(root / "ref")


def test_kill_9_at_chosen_moments_then_resume_equals_a_clean_build(clean):
    root, ref = clean
    tried, failures = tally(crash_cases(root, ref, count=8))
    assert tried == 8 and failures == []


def test_concurrent_builds_and_readers(clean):
    root, ref = clean
    tried, failures = tally(concurrency_cases(root, root / "ref", ref))
    assert tried == 3 and failures == []


def test_a_full_disk_leaves_nothing_half_written_and_resumes(clean):
    root, ref = clean
    cases = disk_full_cases(root, ref, [0.3, 0.9])
    tried, failures = tally(cases)
    if any("skipped" in f for f in failures):
        pytest.skip("mounting a small tmpfs needs root")
    assert tried == 2 and failures == []
