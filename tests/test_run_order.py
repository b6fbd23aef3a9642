"""The runner starts notebooks in the order that finishes soonest (issue 17): results never
depend on it, the wait does."""

from __future__ import annotations

import json

from crm_research.run.execute import _expected_durations, _makespan, start_order


def test_two_kernels_finish_the_demo_two_and_a_half_seconds_sooner():
    demo = [7.0, 9.0, 19.0, 12.5, 10.0]  # 01..05 on the demo, s
    order = start_order(demo, jobs=2)
    assert sorted(order) == [0, 1, 2, 3, 4]
    assert _makespan(tuple(range(5)), demo, 2) == 31.5  # 03 started third ends last
    assert _makespan(tuple(order), demo, 2) == 29.0  # the best any order gives


def test_it_beats_longest_first_where_that_is_not_best():
    times = [3.0, 3.0, 2.0, 2.0, 2.0]
    longest_first = (0, 1, 2, 3, 4)
    assert _makespan(longest_first, times, 2) == 7.0
    assert _makespan(tuple(start_order(times, 2)), times, 2) == 6.0


def test_one_kernel_or_few_notebooks_keep_the_given_order():
    assert start_order([1.0, 5.0, 2.0], jobs=1) == [0, 1, 2]
    assert start_order([1.0, 5.0], jobs=2) == [0, 1]
    assert start_order([float(i) for i in range(9)], jobs=2) == list(range(8, -1, -1))


def test_the_last_runs_durations_in_the_folder_are_used(tmp_path):
    stems = ["01_baseline", "03_journey", "99_custom"]
    assert _expected_durations(tmp_path, stems) == [7.0, 19.0, 13.0]  # typical; the mean for a new one
    old = tmp_path / "run-20260101-000000-aaaaaaa"
    old.mkdir()
    (old / "manifest.json").write_text(json.dumps({"notebooks": [
        {"name": "01_baseline", "status": "ok", "duration_s": 40.0},
        {"name": "03_journey", "status": "failed", "duration_s": 1.0},
        {"name": "99_custom", "status": "ok", "duration_s": 2.5}]}))
    assert _expected_durations(tmp_path, stems) == [40.0, 19.0, 2.5]
