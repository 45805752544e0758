"""``pytest -p campaign`` (``make campaign CASES=N``): every Hypothesis property collected runs N examples in all,
split over one copy of it per core, so that pytest-xdist (``-n auto``) spreads even a single property over every
core. Without ``TWZEMU_CAMPAIGN_CASES`` it changes nothing; with it, only the properties run.

Each copy draws its own random examples (use the ``dev`` profile, not ``ci``, whose ``derandomize`` would make
the copies repeat each other) and all share the example database (``.hypothesis/``), so a failure found by one
is replayed first next time. A property's settings are raised as Hypothesis's own ``@settings`` stores them
(``_hypothesis_internal_use_settings``: the public decorator refuses a test that already has settings).
"""

from __future__ import annotations

import math
import os

import pytest
from hypothesis import is_hypothesis_test, settings

CASES = "TWZEMU_CAMPAIGN_CASES"
SHARDS = "TWZEMU_CAMPAIGN_SHARDS"  # copies of each property (default: the number of cores)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    cases = int(os.environ.get(CASES) or 0)
    if cases <= 0:
        return
    shards = int(os.environ.get(SHARDS) or os.cpu_count() or 1)
    campaign: list[pytest.Item] = []
    for item in items:
        test = getattr(item, "obj", None)
        if not isinstance(item, pytest.Function) or not is_hypothesis_test(test):
            continue
        copies = 1 if hasattr(item, "callspec") else shards  # a parametrized property runs N per parameter
        test._hypothesis_internal_use_settings = settings(
            test._hypothesis_internal_use_settings, max_examples=math.ceil(cases / copies)
        )
        campaign.append(item)
        campaign += [
            pytest.Function.from_parent(item.parent, name=f"{item.name}[campaign{k}]", callobj=test)
            for k in range(1, copies)
        ]
    config.hook.pytest_deselected(items=[item for item in items if item not in campaign])
    items[:] = campaign
