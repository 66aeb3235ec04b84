"""Every case of the hostile-input corpus (tests/benchmarks/hostile_inputs.py, which prints
the figure) is handled cleanly: the exit code it allows, nothing sent on a refusal, never
an unexpected failure."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.benchmarks.hostile_inputs import corpus, run_case


def test_every_bad_input_of_the_corpus_is_handled_cleanly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    failures = []
    cases = list(corpus())
    for index, case in enumerate(cases):
        workdir = tmp_path / str(index)
        workdir.mkdir()
        monkeypatch.setenv("ENGAGE_CONFIG_DIR", str(workdir / "config"))
        outcome = run_case(case, workdir)
        if not outcome.clean:
            failures.append(f"[{case.category}] {case.label}: {outcome.detail}")
    assert len(cases) > 300
    assert failures == []
