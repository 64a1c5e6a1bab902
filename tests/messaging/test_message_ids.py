"""Message ids: minted afresh without a seed; with one, the same sequence every time."""

from __future__ import annotations

import re

from services.messaging.domain.model import message_ids, new_message_id

SHAPE = re.compile(r"^msg_[0-9a-f]{24}$")


def test_a_seed_gives_the_same_ids_in_the_same_order_each_run() -> None:
    first, again = message_ids("u7\nkey-1\nabc"), message_ids("u7\nkey-1\nabc")
    run_one = [first() for _ in range(200)]
    assert run_one == [again() for _ in range(200)]
    assert len(set(run_one)) == 200 and all(SHAPE.match(i) for i in run_one)


def test_another_seed_or_no_seed_gives_other_ids() -> None:
    seeded = message_ids("u7\nkey-1\nabc")()
    assert seeded != message_ids("u8\nkey-1\nabc")() != message_ids("u7\nkey-2\nabc")()
    fresh = message_ids("")
    assert fresh is new_message_id and fresh() != fresh()
