"""Identity looks and per-appearance poses of the synthetic people.

Each identity has a fixed look (torso and leg colours from a well-separated
palette, a unique pair per identity, a torso pattern, sleeves, skin, hair,
hat, bag, body shape); a pose (legs, arms, facing side, colour jitter) is
drawn per appearance. Unlabelled people get looks whose colour pair belongs
to no identity.
"""
from typing import List

import numpy as np

# Clothing colours (RGB), far apart from each other.
PALETTE = (
    (205, 30, 30),  # red
    (30, 150, 45),  # green
    (35, 65, 205),  # blue
    (235, 215, 40),  # yellow
    (40, 205, 215),  # cyan
    (205, 40, 185),  # magenta
    (245, 130, 20),  # orange
    (105, 40, 150),  # purple
    (240, 240, 240),  # white
    (22, 22, 22),  # black
    (120, 70, 30),  # brown
    (250, 160, 195),  # pink
)
SKIN = ((235, 195, 165), (205, 150, 110), (150, 100, 65), (95, 60, 40))
HAIR = ((20, 15, 10), (90, 55, 25), (215, 185, 105), (150, 150, 150))
SHOES = ((25, 25, 25), (240, 240, 240), (110, 65, 30))
PATTERNS = ('solid', 'hstripes', 'vstripes', 'checks')


def sample_appearance(rng: np.random.Generator, torso: int,
                      legs: int) -> dict:
    """A full look (palette / colour-table indices and body shape)."""
    n = len(PALETTE)
    bag = None
    if rng.random() < 0.45:
        kind = 'backpack' if rng.random() < 0.6 else 'handbag'
        bag = (kind, int(rng.integers(n)))
    return dict(
        torso=int(torso),
        legs=int(legs),
        pattern=PATTERNS[int(rng.integers(len(PATTERNS)))],
        pattern_color=int((torso + rng.integers(1, n)) % n),
        long_sleeves=bool(rng.random() < 0.6),
        skin=int(rng.integers(len(SKIN))),
        hair=int(rng.integers(len(HAIR))),
        shoes=int(rng.integers(len(SHOES))),
        hat=int(rng.integers(n)) if rng.random() < 0.35 else None,
        bag=bag,
        aspect=float(rng.uniform(3.3, 4.5)),  # body height / shoulder width
        head=float(rng.uniform(0.11, 0.145)),  # head height / body height
        leg_frac=float(rng.uniform(0.43, 0.5)),
    )


def sample_identities(rng: np.random.Generator, num: int) -> List[dict]:
    """``num`` looks, with distinct (torso, legs) colours while possible."""
    n = len(PALETTE)
    pairs = [(t, g) for t in range(n) for g in range(n) if t != g]
    order = rng.permutation(len(pairs))
    return [
        sample_appearance(rng, *pairs[order[i % len(pairs)]])
        for i in range(num)
    ]


def sample_distractor(rng: np.random.Generator, taken: set) -> dict:
    """A random look whose colour pair is no identity's (when possible)."""
    n = len(PALETTE)
    for _ in range(100):
        torso, legs = rng.integers(n, size=2)
        if torso != legs and (torso, legs) not in taken:
            break
    return sample_appearance(rng, torso, legs)


def sample_pose(rng: np.random.Generator) -> dict:
    """Per-appearance variation: legs, arms, facing side, colour jitter."""
    return dict(
        spread=float(rng.uniform(0, 1)),
        arms=tuple(float(a) for a in rng.uniform(0.04, 0.6, size=2)),
        facing=int(rng.choice([-1, 1])),
        jitter=rng.normal(0, 5, size=3),
    )
