"""The draft-acceptance arithmetic of bench.speculation."""

from bench.speculation import draft, steps_needed


def test_draft_follows_the_latest_earlier_occurrence():
    assert draft([1, 2, 3, 9, 1, 2, 4, 7, 1, 2], 2, 2) == [4, 7]
    assert draft([5, 6, 7], 2, 3) == []  # the tail never occurred before
    assert draft([1], 1, 3) == []


def test_steps_count_accepted_drafts_plus_one_token():
    prompt = [10, 11, 12, 13, 14, 15]
    # The answer repeats the prompt after 10: drafts from the prompt are all right.
    assert steps_needed(prompt, [10, 11, 12, 13], n=1, k=3) == 2  # 10 | 11 12 13
    # Nothing to copy: one token a step.
    assert steps_needed(prompt, [20, 21, 22], n=1, k=3) == 3
    assert steps_needed(prompt, [], n=1, k=3) == 0
