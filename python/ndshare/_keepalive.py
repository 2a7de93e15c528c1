"""What a sender keeps alive for the receivers of its locators.

A locator (``_reduce.locator``) reaches the memory through the sending
process's descriptor, ``/proc/<pid>/fd/<n>``, so the sender must still hold
the segment when the receiver loads the pickle. The sender pins each segment
it sends this way for ``EXPORT_GRACE_SECONDS``: a result dropped right
after it is sent still arrives. A timer thread drops the pins whose time is
up, whether or not the process pickles again.
"""

from __future__ import annotations

import collections
import os
import threading
import time
from typing import Optional

from ._ndshare import Segment

#: Seconds a segment sent by locator is kept alive by its sender.
EXPORT_GRACE_SECONDS = 10.0

_pinned: collections.deque[tuple[float, Segment]] = collections.deque()
_pin_lock = threading.Lock()
#: Drops the pins whose time is up, even if nothing is pickled afterwards.
_expiry: Optional[threading.Timer] = None


def pin(seg: Segment) -> None:
    """Keeps ``seg`` alive for ``EXPORT_GRACE_SECONDS`` from now."""
    with _pin_lock:
        now = time.monotonic()
        expired = _unpin_expired(now)
        _pinned.append((now + EXPORT_GRACE_SECONDS, seg))
        if _expiry is None:
            _arm(EXPORT_GRACE_SECONDS)
    del expired  # segments are released outside the lock


def pinned() -> int:
    """How many pins are held now."""
    return len(_pinned)


def _unpin_expired(now: float) -> list[Segment]:
    expired = []
    while _pinned and _pinned[0][0] <= now:
        expired.append(_pinned.popleft()[1])
    return expired


def _arm(delay: float) -> None:
    global _expiry
    _expiry = threading.Timer(delay, _expire)
    _expiry.daemon = True
    _expiry.start()


def _expire() -> None:
    global _expiry
    with _pin_lock:
        _expiry = None
        now = time.monotonic()
        expired = _unpin_expired(now)
        if _pinned:
            _arm(max(_pinned[0][0] - now, 0.0))
    del expired


def release_pins() -> None:
    """Drops what plain pickling keeps alive (the grace period's references)."""
    with _pin_lock:
        expired = list(_pinned)
        _pinned.clear()
    del expired


def _reset_pins_in_child() -> None:
    # A forked child's copies of the pins serve no receiver (a locator names
    # the pickling process), and it has neither the timer nor, maybe, a free lock.
    global _pin_lock, _expiry
    _pin_lock = threading.Lock()
    _expiry = None
    _pinned.clear()


os.register_at_fork(after_in_child=_reset_pins_in_child)
