from datetime import UTC, datetime

from likeability.report.funnel import Step, funnel, funnel_lines
from likeability.run import RunFolder

NOW = datetime(2026, 11, 29, tzinfo=UTC)


def test_each_step_counts_what_it_kept_and_why_it_removed_the_rest(tmp_path):
    run = RunFolder(str(tmp_path))
    post = dict(username="u", like_count=1, comments_count=0, media_type="IMAGE", media_url="x", permalink=None,
                timestamp=NOW, caption=None, image_path=None)
    run.table("posts").write_part("a", [{**post, "media_id": str(i)} for i in range(6)])
    run.table("dropped_posts").write_part("a", [
        {"media_id": "d1", "username": "u", "reason": "too_young"},
        {"media_id": "d2", "username": "u", "reason": "too_young"},
        {"media_id": "d3", "username": "u", "reason": "no_hashtag"},
    ])
    assert [s.name for s in funnel(run)] == ["collected", "age and hashtag"]  # later stages have not run

    run.table("candidates").write_part("all", [
        dict(media_id=str(i), username="u", like_count=1, followers_count=5, timestamp=NOW) for i in range(5)
    ])
    run.table("excluded_posts").write_part("all", [{"media_id": "5", "username": "u", "reason": "video"}])
    run.table("downloads").write_part("g", [
        {"media_id": str(i), "status": "ok" if i < 4 else "timeout"} for i in range(5)
    ])
    run.table("faces").write_part("g", [
        dict(media_id=str(i), face_count=int(i < 3), boxes=[], scores=[], largest_face_ratio=0.0, has_face=i < 3)
        for i in range(4)
    ])
    run.table("labels").write_part("all", [
        dict(media_id=str(i), username="u", sha256="s", like_count=1, followers_count=5, ratio=0.2,
             follower_group=0, label=1, split="train") for i in range(2)
    ])
    assert funnel(run) == [
        Step("collected", 9),
        Step("age and hashtag", 6, {"too_young": 2, "no_hashtag": 1}),
        Step("follower filter", 5, {"video": 1}),
        Step("downloaded", 4, {"timeout": 1}),
        Step("with a face", 3, {"no_face": 1}),
        Step("labelled", 2, {"not_labelled": 1}),  # before the labels stage has said why
    ]
    run.mark_done("labels", {"left_out": {"group_without_training_photos": 1}})
    assert funnel(run)[-1] == Step("labelled", 2, {"group_without_training_photos": 1})
    assert funnel_lines(funnel(run))[1] == "  age and hashtag         6   removed: too_young 2, no_hashtag 1"
