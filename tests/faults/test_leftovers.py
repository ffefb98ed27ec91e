"""A build killed while writing its plan leaves a temporary file; the next run removes it."""

from __future__ import annotations

import os

from promptbank.writer import BuildDir


def test_a_plan_file_left_by_a_killed_build_is_removed(tmp_path):
    build = BuildDir(tmp_path / "bank", {"bank_id": "0" * 16, "classes": [], "shards": []})
    state = tmp_path / "bank" / ".build"
    state.mkdir(parents=True)
    dead = state / ".plan.json.999999999.tmp"  # above any pid_max: its writer is gone
    live = state / f".plan.json.{os.getppid()}.tmp"  # a writer still running: left alone
    dead.write_text("{")
    live.write_text("{")
    build.prepare()
    assert not dead.exists() and live.exists() and (state / "plan.json").is_file()
