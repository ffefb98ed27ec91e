"""The shipped world CLIP names what it sees; the random one does not (`dpseg world zero-shot`)."""

import json


def test_pretrained_world_clip_classifies_renders_zero_shot_and_random_does_not(run_dpseg):
    scores = {}
    for encoder in ("tiny-world", "tiny"):
        result = run_dpseg(
            "world", "zero-shot", "--encoder", encoder, "--per-class", "6", "--json", check=True
        )
        scores[encoder] = json.loads(result.stdout)["128px"]
    for protocol in ("among 13 classes", "among 13 classes, 80-template ensemble"):
        pretrained, random = scores["tiny-world"][protocol], scores["tiny"][protocol]
        assert pretrained["seen"] > 0.6 and pretrained["unseen"] > 0.6
        assert random["seen"] < 0.35  # chance is 1/13; the random text tower means nothing


def test_zero_shot_prints_one_line_per_group(run_dpseg):
    out = run_dpseg("world", "zero-shot", "--per-class", "2", check=True).stdout.splitlines()
    assert any(line.startswith("tiny-world at 64px, among 13 classes: seen") for line in out)
    assert any("held-out pairs" in line for line in out)
    assert any(line.startswith("tiny-world at 128px, among 13 classes, 80-template ensemble")
               for line in out)  # fmt: skip
