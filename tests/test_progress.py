"""The progress line: its pace on a terminal and in a log, its figures, and the tally over a stream."""

from __future__ import annotations

from likeability.progress import Progress, tally


def clock(*moments: float):
    ticks = iter(moments)
    return lambda: next(ticks)


def test_a_log_gets_a_line_every_10_s_and_always_the_last():
    said: list[str] = []
    progress = Progress("curate", 10, "posts", said.append, clock(100.0, 100.0, 105.0, 110.0, 120.0),
                        interactive=False)
    progress.show(0)
    progress.show(2)  # 5 s after the first line: too soon for a log
    progress.show(4, "4 with a face")
    progress.show(5, final=True)
    assert said == [
        "curate: 0/10 posts (0.0/s), ETA unknown",
        "curate: 4/10 posts (0.4/s), 4 with a face, ETA 15 s",
        "curate: 5/10 posts (0.2/s), ETA 20 s",
    ]


def test_a_terminal_gets_a_bar_twice_a_second_at_most():
    said: list[str] = []
    progress = Progress("embed", 8, "photos", said.append, clock(0.0, 1.0, 1.2, 2.0), interactive=True)
    progress.show(2)
    progress.show(3)  # 0.2 s later: not redrawn
    progress.show(8, final=True)
    assert said == [
        "embed: [######..................] 2/8 photos (2.0/s), ETA 3 s",
        "embed: [########################] 8/8 photos (4.0/s), done",
    ]


def test_tally_passes_items_through_and_counts_them():
    said: list[str] = []
    progress = Progress("sweeps", 6, "trials", said.append, clock(0.0, 1.0, 2.0, 3.0, 4.0), interactive=False)
    assert list(tally([[1, 2], [3], [4, 5, 6]], progress, len)) == [[1, 2], [3], [4, 5, 6]]
    assert progress.done == 6
    assert said == ["sweeps: 2/6 trials (2.0/s), ETA 2 s", "sweeps: 6/6 trials (1.5/s), done"]


def test_an_unchanged_count_and_the_end_wait_for_news_or_the_final_line():
    said: list[str] = []
    progress = Progress("finetune", 60, "iterations", said.append, clock(0.0, 0.0, 20.0, 40.0, 60.0, 80.0),
                        interactive=False)
    progress.show(0)
    progress.show(0)  # 20 s later but nothing new: no line
    progress.show(60)  # the end: said once, by the final line
    progress.show(60)
    progress.show(60, final=True)
    assert said == ["finetune: 0/60 iterations (0.0/s), ETA unknown", "finetune: 60/60 iterations (0.8/s), done"]
