import json
from datetime import UTC, datetime

import pytest

from likeability.collect import graph_api


def test_business_discovery_fields_first_page():
    fields = graph_api.business_discovery_fields("sunny.fox_1", ["id", "like_count"])
    assert fields == "business_discovery.username(sunny.fox_1){id,username,followers_count,media_count,media{id,like_count}}"


def test_business_discovery_fields_later_page_with_limit():
    fields = graph_api.business_discovery_fields("a", ["id"], after="QVFIUm-_x", limit=50)
    assert (
        fields
        == "business_discovery.username(a){id,username,followers_count,media_count,media.after(QVFIUm-_x).limit(50){id}}"
    )


@pytest.mark.parametrize(
    "username, media_fields, after, limit",
    [
        ("bad name", ["id"], None, None),
        ("x){id}", ["id"], None, None),
        ("a" * 31, ["id"], None, None),
        ("ok", [], None, None),
        ("ok", ["id}"], None, None),
        ("ok", ["id"], "a)b", None),
        ("ok", ["id"], None, 0),
        ("ok", ["id"], None, graph_api.MEDIA_MAX_PAGE + 1),
    ],
)
def test_business_discovery_fields_rejects_what_would_break_the_expression(username, media_fields, after, limit):
    with pytest.raises(ValueError):
        graph_api.business_discovery_fields(username, media_fields, after=after, limit=limit)


@pytest.mark.parametrize(
    "code, expected",
    [
        (4, "throttle"),
        (17, "throttle"),
        (32, "throttle"),
        (613, "throttle"),
        (80002, "throttle"),
        (190, "token"),
        (1, "transient"),
        (2, "transient"),
        (-1, "transient"),
        (-2, "transient"),
        (10, "permanent"),
        (200, "permanent"),
        (299, "permanent"),
        (100, "permanent"),
        (110, "permanent"),
        (104, "permanent"),
        (2500, "permanent"),
    ],
)
def test_classify_error(code, expected):
    assert graph_api.classify_error(code) == expected


def test_error_body_has_the_documented_keys_and_omits_a_missing_subcode():
    assert graph_api.error_body(190, "expired", "AbC", subcode=463) == {
        "error": {
            "message": "expired",
            "type": "OAuthException",
            "code": 190,
            "error_subcode": 463,
            "fbtrace_id": "AbC",
        }
    }
    assert graph_api.error_body(100, "bad", "x", error_type="GraphMethodException") == {
        "error": {"message": "bad", "type": "GraphMethodException", "code": 100, "fbtrace_id": "x"}
    }


def test_usage_headers():
    headers = graph_api.usage_headers(40, 30, 20, ig_user_id="1784", minutes_to_regain_access=3)
    assert json.loads(headers["X-App-Usage"]) == {"call_count": 40, "total_time": 30, "total_cputime": 20}
    assert json.loads(headers["X-Business-Use-Case-Usage"]) == {
        "1784": [
            {
                "type": "instagram",
                "call_count": 40,
                "total_cputime": 20,
                "total_time": 30,
                "estimated_time_to_regain_access": 3,
            }
        ]
    }
    assert set(graph_api.usage_headers(1, 1, 1)) == {graph_api.APP_USAGE_HEADER}


@pytest.mark.parametrize(
    "value, expected",
    [
        ("7", 7.0),
        ("0.5", 0.5),
        ("-3", 0.0),
        ("Sun, 29 Nov 2026 12:00:30 GMT", 30.0),
        ("Sun, 29 Nov 2026 11:59:00 GMT", 0.0),  # already past
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_is_seconds_or_an_http_date(value, expected):
    now = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)
    assert graph_api.retry_after_seconds(value, now) == expected
