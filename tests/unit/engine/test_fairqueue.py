"""engine.fairqueue: both policies (the endpoint's serial backend takes turns, the
batched engine serves the least recently served user first)."""

from __future__ import annotations

from engine.fairqueue import FairQueue, Policy


class _Gen:
    def __init__(self, name: str, user: str) -> None:
        self.name = name
        self.user = user


# -- TURNS (SerialBackend) ------------------------------------------------------------
def test_fair_queue_takes_turns_and_keeps_each_users_order():
    q: FairQueue[str] = FairQueue(Policy.TURNS)
    for item in ("a1", "a2", "a3"):
        q.put("a", item)
    q.put("b", "b1")
    q.put("c", "c1")
    q.put("b", "b2")
    assert len(q) == 6
    assert q.remove("a", "a2") and not q.remove("a", "zz") and not q.remove("x", "a1")
    assert q.drain() == ["a1", "b1", "c1", "a3", "b2"]
    assert len(q) == 0 and q.pop() is None


def test_turns_puts_a_returning_user_at_the_back_of_the_line():
    q: FairQueue[str] = FairQueue(Policy.TURNS)
    q.put("a", "hold")
    assert q.pop() == "hold"  # a was served and has nothing waiting
    for item in ("a1", "a2", "a3"):
        q.put("a", item)
    q.put("b", "b1")
    assert q.drain() == ["a1", "b1", "a2", "a3"]


# -- LEAST_RECENT (BatchedEngine) -----------------------------------------------------
def test_fair_queue_round_robins_users_fifo_within_a_user():
    q: FairQueue[_Gen] = FairQueue(Policy.LEAST_RECENT)
    for name, user in [("a1", "a"), ("a2", "a"), ("a3", "a"), ("b1", "b"), ("c1", "c")]:
        q.put(user, _Gen(name, user))
    first = q.pop()
    q.put("b", _Gen("b2", "b"))
    order = [first] + [q.pop() for _ in range(len(q))]
    assert [g.name for g in order] == ["a1", "b1", "c1", "a2", "b2", "a3"]  # type: ignore[union-attr]
    assert q.pop() is None and len(q) == 0


def test_fair_queue_remove_if():
    q: FairQueue[_Gen] = FairQueue(Policy.LEAST_RECENT)
    gens = [_Gen(f"g{i}", "ab"[i % 2]) for i in range(5)]
    for g in gens:
        q.put(g.user, g)
    removed = q.remove_if(lambda g: g.name in ("g1", "g2"))
    assert sorted(g.name for g in removed) == ["g1", "g2"]
    assert [q.pop().name for _ in range(len(q))] == ["g0", "g3", "g4"]  # type: ignore[union-attr]


def test_least_recent_serves_a_user_never_served_before_one_served_lately():
    q: FairQueue[str] = FairQueue(Policy.LEAST_RECENT)
    q.put("a", "hold")
    assert q.pop() == "hold"
    for item in ("a1", "a2", "a3"):
        q.put("a", item)
    q.put("b", "b1")
    assert q.drain() == ["b1", "a1", "a2", "a3"]  # TURNS: a1, b1, a2, a3


def test_least_recent_forgets_the_longest_idle_users(monkeypatch):
    monkeypatch.setattr("engine.fairqueue.MAX_REMEMBERED", 4)
    q: FairQueue[str] = FairQueue(Policy.LEAST_RECENT)
    for user in "abcde":
        q.put(user, user)
        q.pop()
    assert len(q._served) <= 4
    q.put("e", "e2")  # served last: still remembered, so a forgotten user goes first
    q.put("a", "a2")
    assert q.drain() == ["a2", "e2"]
