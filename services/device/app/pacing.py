"""Per-device pacing: a minimum gap plus jitter between sends, and a per-minute cap.

WhatsApp bans numbers that send too fast, so every send through a device first takes a
slot from that device's pacer. Slots are handed out at once and in order (no await in
between), so concurrent workers never squeeze two sends into one gap.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

WINDOW = 60.0


@dataclass(frozen=True)
class PacingPolicy:
    min_gap: float = 0.0
    jitter: float = 0.0
    per_minute: int = 0  # 0: no cap


class _Lane:
    def __init__(self) -> None:
        self.next_free = 0.0
        self.starts: deque[float] = deque()


class Pacer:
    def __init__(self, policy: PacingPolicy, clock: Callable[[], float],
                 rng: random.Random | None = None) -> None:
        self.policy = policy
        self.clock = clock
        self.rng = rng or random.Random()
        self._lanes: dict[str, _Lane] = {}

    def earliest(self, device_id: str, now: float | None = None) -> float:
        """When the next send through this device could start (not reserved)."""
        lane = self._lane(device_id)
        start = max(self.clock() if now is None else now, lane.next_free)
        cap = self.policy.per_minute
        if cap and len(lane.starts) >= cap:
            start = max(start, lane.starts[-cap] + WINDOW)
        return start

    def recent(self, device_id: str) -> int:
        return len(self._lane(device_id).starts)

    def take(self, device_id: str) -> float:
        """Take the device's next slot; returns when (on this pacer's clock) it starts."""
        lane = self._lane(device_id)
        start = self.earliest(device_id)
        lane.starts.append(start)
        lane.next_free = start + self.policy.min_gap + self.rng.uniform(0, self.policy.jitter)
        return start

    def least_loaded(self, device_ids: Iterable[str]) -> str | None:
        """The device that can send soonest; ties go to the one that sent least lately."""
        now = self.clock()
        return min(device_ids, key=lambda d: (self.earliest(d, now), self.recent(d), d),
                   default=None)

    def _lane(self, device_id: str) -> _Lane:
        lane = self._lanes.setdefault(device_id, _Lane())
        horizon = self.clock() - WINDOW
        while lane.starts and lane.starts[0] <= horizon:
            lane.starts.popleft()
        return lane
