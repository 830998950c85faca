import pytest

from likeability.curate.url_policy import UrlPolicy

POLICY = UrlPolicy(["*.cdninstagram.com", "*.fbcdn.net", "1.1.1.1", "169.254.169.254", "[::1]", "::1"], False)


@pytest.mark.parametrize(
    "url, refused",
    [
        ("https://scontent-ams2-1.cdninstagram.com/v/t51/x.jpg?stp=1", None),
        ("https://a.b.fbcdn.net/x.jpg", None),
        ("http://1.1.1.1/x.jpg", None),
        ("https://cdninstagram.com.evil.org/x.jpg", "not in download.allowed_hosts"),
        ("https://evilcdninstagram.com/x.jpg", "not in download.allowed_hosts"),
        ("http://169.254.169.254/latest/meta-data", "private or reserved"),  # cloud metadata service
        ("http://[::1]/x.jpg", "private or reserved"),
        ("javascript:alert(1)", "scheme 'javascript'"),
        ("//scontent.cdninstagram.com/x.jpg", "scheme '(none)'"),
        ("http://[::1/x.jpg", "malformed URL"),
    ],
)
def test_refusal(url, refused):
    reason = POLICY.refusal(url)
    assert (reason is None) if refused is None else (refused in reason)


def test_private_addresses_pass_only_when_config_allows_them():
    assert UrlPolicy(["127.0.0.1"], True).refusal("http://127.0.0.1:8080/media/1.jpg") is None
    assert "private" in UrlPolicy(["127.0.0.1"], False).refusal("http://127.0.0.1:8080/media/1.jpg")
