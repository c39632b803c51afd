"""views.Scheduler without Qt: one job running and one waiting, superseded work cancelled, memo hits by
token ids, model generations kept apart."""
import numpy as np

from gptviz.views import Attention, Geometry, Lens, NextToken, Prompt, Tokens
from gptviz.views.base import Result


class Fake:
    """Plays the worker: records jobs, and 'computes' a view on demand."""

    def __init__(self):
        self.jobs = []

    def __call__(self, job):
        self.jobs.append(job)


def result(prompt, view, n=3):
    return Result(prompt, view, [], np.arange(n))


def run(s, job, ids=b"ids", n=3):
    """The worker traces the job's prompt and delivers every view it was asked for."""
    s.learn(job.generation, job.prompt, (ids, n))
    for v in job.views:
        if job.cancel.is_set():
            break
        s.delivered(job, v, result(job.prompt, v, n))
    s.finished(job)


def make():
    from gptviz.views.scheduler import Scheduler
    w = Fake()
    return Scheduler(w), w


def test_first_submit_sends_every_view_cheapest_first():
    s, w = make()
    p = Prompt("hello")
    seq, hits = s.submit(p, [Lens(), Attention(1), NextToken(1.0, 10), Tokens()])
    assert hits == [] and len(w.jobs) == 1 and s.running is w.jobs[0] and w.jobs[0].id == seq
    assert w.jobs[0].views == (Tokens(), NextToken(1.0, 10), Attention(1), Lens())


def test_newest_waits_older_pending_is_dropped_and_running_is_cancelled():
    s, w = make()
    first = s.submit(Prompt("a"), [Tokens()])[0]
    s.submit(Prompt("ab"), [Tokens()])
    s.submit(Prompt("abc"), [Tokens()])
    assert len(w.jobs) == 1 and w.jobs[0].cancel.is_set()      # superseded: it stops before its next view
    assert s.pending.prompt == Prompt("abc") and s.pending.id > first
    s.finished(w.jobs[0])
    assert len(w.jobs) == 2 and w.jobs[1].prompt == Prompt("abc") and s.pending is None   # "ab" never ran
    s.finished(w.jobs[1])
    assert s.idle


def test_layer_switch_computes_one_view_and_switching_back_computes_nothing():
    s, w = make()
    p = Prompt("the cat")
    views = [Tokens(), NextToken(), Attention(0), Lens()]
    s.submit(p, views)
    run(s, w.jobs[0])
    _, hits = s.submit(p, [Tokens(), NextToken(), Attention(1), Lens()])
    assert len(w.jobs) == 2 and w.jobs[1].views == (Attention(1),)      # only the new layer
    assert {v for v, _ in hits} == {Tokens(), NextToken(), Lens()}
    run(s, w.jobs[1])
    sent = s.sent
    _, hits = s.submit(p, views)                                          # back to layer 0
    assert s.sent == sent and s.idle
    assert [v for v, _ in hits] == [Tokens(), NextToken(), Attention(0), Lens()]
    assert all(r.view == v and r.prompt == p for v, r in hits)


def test_memo_is_keyed_by_tokens_not_text():
    s, w = make()
    s.submit(Prompt("x"), [Tokens()])
    run(s, w.jobs[0], ids=b"same")
    s.learn(s.generation, Prompt("y"), (b"same", 3))                   # another text, the same tokens
    _, hits = s.submit(Prompt("y"), [Tokens()])
    assert len(w.jobs) == 1 and hits[0][1].prompt == Prompt("y")     # handed out under the asking prompt
    s.learn(s.generation, Prompt("z"), (b"same", 4))                   # same window, longer prompt (truncated)
    s.submit(Prompt("z"), [Tokens()])
    assert len(w.jobs) == 2
    _, hits = s.submit(Prompt("x", prepend_bos=True), [Tokens()])     # BOS is part of the key
    assert hits == []


def test_work_the_running_job_does_anyway_is_not_sent_again():
    s, w = make()
    p = Prompt("abc")
    s.submit(p, [Tokens(), Attention(0), Lens()])
    job = w.jobs[0]
    s.learn(job.generation, p, (b"k", 3))
    s.delivered(job, Tokens(), result(p, Tokens()))
    s.submit(p, [Tokens(), Lens()])                  # e.g. a dock shown: Lens is still coming
    assert len(w.jobs) == 1 and not job.cancel.is_set() and s.pending is None
    s.submit(p, [Tokens(), Attention(2)])            # Attention(2) is not in it: a new job, the old one stops
    assert job.cancel.is_set() and s.pending.views == (Attention(2),)


def test_cancelled_views_are_asked_for_again():
    s, w = make()
    p = Prompt("abc")
    s.submit(p, [Tokens(), NextToken(), Lens()])
    job = w.jobs[0]
    s.learn(job.generation, p, (b"k", 3))
    s.delivered(job, Tokens(), result(p, Tokens()))
    s.submit(Prompt("abcd"), [Tokens(), NextToken(), Lens()])
    assert job.cancel.is_set()
    s.finished(job)                                    # it stopped after Tokens
    s.finished(w.jobs[1])
    _, hits = s.submit(p, [Tokens(), NextToken(), Lens()])
    assert [v for v, _ in hits] == [Tokens()] and w.jobs[2].views == (NextToken(), Lens())


def test_paused_while_loading_and_a_new_model_forgets_everything():
    s, w = make()
    p = Prompt("abc")
    s.submit(p, [Tokens(), Geometry()])
    run(s, w.jobs[0])
    s.paused = True
    s.submit(p, [Attention(1)])
    assert len(w.jobs) == 1 and s.pending is not None        # held back
    s.new_model()
    s.paused = False
    assert s.pending is None and not s.memo
    _, hits = s.submit(p, [Tokens(), Geometry()])
    assert hits == [] and w.jobs[-1].views == (Tokens(), Geometry())
    old = w.jobs[-1]
    s.new_model()                                             # results of a job for the old model
    s.learn(old.generation, p, (b"k", 3))
    s.delivered(old, Tokens(), result(p, Tokens()))
    assert not s.memo and not s.known


def test_geometry_is_one_result_per_model():
    s, w = make()
    s.submit(Prompt("a"), [Geometry()])
    run(s, w.jobs[0])
    _, hits = s.submit(Prompt("something else"), [Geometry()])
    assert [v for v, _ in hits] == [Geometry()] and len(w.jobs) == 1


def test_memo_is_bounded():
    from gptviz.views.scheduler import Scheduler
    w = Fake()
    s = Scheduler(w, max_entries=4, max_bytes=10 * 8 * 3)
    for i in range(10):
        s.submit(Prompt(str(i)), [Tokens()])
        run(s, w.jobs[-1], ids=str(i).encode())
    assert len(s.memo) <= 4 and s.bytes <= 10 * 8 * 3
    assert s.bytes == sum(r.nbytes() for r in s.memo.values())
    assert s.lookup(Prompt("9"), Tokens()) is not None and s.lookup(Prompt("0"), Tokens()) is None


def test_attention_patterns_in_the_memo_are_limited():
    s, w = make()
    p = Prompt("a")
    limit = Attention.memo_max
    s.submit(p, [Tokens()])
    run(s, w.jobs[-1])
    for layer in range(limit + 2):
        s.submit(p, [Attention(layer)])
        run(s, w.jobs[-1])
    kept = [k[-1].layer for k in s.memo if isinstance(k[-1], Attention)]
    assert kept == list(range(2, limit + 2))                          # the least recently used went
    assert s.lookup(p, Tokens()) is not None                          # other views are not counted
    assert s.bytes == sum(r.nbytes() for r in s.memo.values())
    s.submit(p, [Attention(limit + 1)])                               # switching back: nothing to compute
    n = len(w.jobs)
    s.submit(p, [Attention(0)])
    assert len(w.jobs) == n + 1 and w.jobs[-1].views == (Attention(0),)
