"""A queue that is fair between users: one user's many requests do not hold back
another's, and each user's own requests are served first in, first out.

Two policies decide who goes next, both round-robin while every user keeps
requests waiting; they differ for a user who had nothing waiting and submits again:

- ``Policy.TURNS``: users stand in a line; one who is served goes to the back of it
  if more of theirs wait, and one who arrives with nothing waiting joins the back.
  The endpoint's ``SerialBackend`` (one request at a time) uses it.
- ``Policy.LEAST_RECENT``: the user served least recently goes first; a user never
  served (or not for longest) first of all, ties in the order of submission. A user
  who comes back after a pause goes ahead of those served since. The batched engine
  uses it to admit requests into its slots.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable
from enum import StrEnum
from typing import Generic, TypeVar

T = TypeVar("T")

# LEAST_RECENT remembers when each user was last served; past this many users the
# longest idle half is forgotten (they then count as never served).
MAX_REMEMBERED = 4096


class Policy(StrEnum):
    TURNS = "turns"
    LEAST_RECENT = "least-recently-served"


class FairQueue(Generic[T]):
    """Items waiting per user; ``pop`` takes the next one by ``policy``."""

    def __init__(self, policy: Policy = Policy.TURNS) -> None:
        self.policy = policy
        self._by_user: dict[str, deque[tuple[int, T]]] = {}  # (submit order, item)
        self._rank: dict[str, int] = {}  # waiting user -> place: lowest goes next
        self._served: dict[str, int] = {}  # user -> stamp of their last pop (LEAST_RECENT)
        self._stamps = itertools.count(1)
        self._submits = itertools.count()
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def put(self, user: str, item: T) -> None:
        items = self._by_user.get(user)
        if items is None:
            items = self._by_user[user] = deque()
            if self.policy is Policy.TURNS:
                self._rank[user] = next(self._stamps)  # the back of the line
            else:
                self._rank[user] = self._served.get(user, 0)
        items.append((next(self._submits), item))
        self._size += 1

    def pop(self) -> T | None:
        if not self._by_user:
            return None
        user = min(self._by_user, key=lambda u: (self._rank[u], self._by_user[u][0][0]))
        items = self._by_user[user]
        _, item = items.popleft()
        self._size -= 1
        stamp = next(self._stamps)
        if items:
            self._rank[user] = stamp  # served: behind everyone waiting
        else:
            self._forget(user)
        if self.policy is Policy.LEAST_RECENT:
            self._served[user] = stamp
            if len(self._served) > MAX_REMEMBERED:
                self._forget_idle()
        return item

    def remove(self, user: str, item: T) -> bool:
        """Take ``item`` (this very object) out; False when it is not waiting."""
        items = self._by_user.get(user)
        if items is None:
            return False
        for entry in items:
            if entry[1] is item:
                items.remove(entry)
                break
        else:
            return False
        self._size -= 1
        if not items:
            self._forget(user)
        return True

    def remove_if(self, pred: Callable[[T], bool]) -> list[T]:
        """Take out every waiting item ``pred`` holds for, and return them."""
        removed: list[T] = []
        for user in list(self._by_user):
            keep: deque[tuple[int, T]] = deque()
            for entry in self._by_user[user]:
                if pred(entry[1]):
                    removed.append(entry[1])
                else:
                    keep.append(entry)
            if keep:
                self._by_user[user] = keep
            else:
                self._forget(user)
        self._size -= len(removed)
        return removed

    def drain(self) -> list[T]:
        """Everything waiting, in the order it would have been served."""
        out: list[T] = []
        while (item := self.pop()) is not None:
            out.append(item)
        return out

    def _forget(self, user: str) -> None:
        del self._by_user[user]
        del self._rank[user]

    def _forget_idle(self) -> None:
        idle = sorted((s, u) for u, s in self._served.items() if u not in self._by_user)
        for _, u in idle[: len(idle) // 2]:
            del self._served[u]
