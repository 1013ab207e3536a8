"""quoted_tokens splits rules without walking them char by char; the char walk stays the reference."""

import itertools
import random

from calirules.facts_collectors.parsers._common import (
    _quoted_tokens_by_char,
    quoted_tokens,
)

ALPHABET = ['a', '"', ' ', '\t', '\n', '\u00a0', '\u2028', '-', '\x1c']


def test_every_short_string_splits_as_the_char_walk_does():
    for size in range(7):
        for chars in itertools.product(ALPHABET, repeat=size):
            text = "".join(chars)
            assert quoted_tokens(text) == _quoted_tokens_by_char(text), repr(text)


def test_long_rules_split_as_the_char_walk_does():
    rng = random.Random(9)
    for _ in range(3000):
        text = "".join(rng.choice(ALPHABET + ["cali:x", "--comment", "  "]) for _ in range(rng.randrange(40)))
        assert quoted_tokens(text) == _quoted_tokens_by_char(text), repr(text)
    rule = '-A cali-fw-cali1 -m comment --comment "cali:Vw; drop if no profiles" -j DROP'
    assert quoted_tokens(rule)[5] == ('"cali:Vw; drop if no profiles"', "cali:Vw; drop if no profiles")
    assert quoted_tokens('-m comment --comment "open') is None
