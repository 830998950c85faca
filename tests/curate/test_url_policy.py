import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from likeability.config import ConfigError, DownloadConfig
from likeability.curate.url_policy import UrlPolicy, canonical_host

POLICY = UrlPolicy(["*.cdninstagram.com", "*.fbcdn.net", "1.1.1.1", "169.254.169.254", "[::1]", "::1"])


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


def test_private_addresses_pass_only_for_the_destinations_private_hosts_names():
    assert UrlPolicy(["127.0.0.1"], ["127.0.0.1"]).refusal("http://127.0.0.1:8080/media/1.jpg") is None
    assert UrlPolicy(["127.0.0.1"], ["127.0.0.1:8080"]).refusal("http://127.0.0.1:8080/media/1.jpg") is None
    assert "does not name 127.0.0.1:8081" in UrlPolicy(["127.0.0.1"], ["127.0.0.1:8080"]).refusal(
        "http://127.0.0.1:8081/media/1.jpg")
    assert "private" in UrlPolicy(["127.0.0.1"]).refusal("http://127.0.0.1:8080/media/1.jpg")


@pytest.mark.parametrize(
    "entry, url, allowed",
    [
        ("127.0.0.1:18765", "http://127.0.0.1:18765/x.jpg", True),
        ("127.0.0.1:18765", "http://127.0.0.1:18766/x.jpg", False),
        ("*.cdninstagram.com", "https://a.cdninstagram.com/x.jpg", True),
        ("*.cdninstagram.com:443", "http://a.cdninstagram.com/x.jpg", False),  # http: port 80
        ("[::1]:8080", "http://[::1]:8080/x.jpg", True),
        ("0x7f.1", "http://127.0.0.1/x.jpg", True),  # entries are read as the URLs are
    ],
)
def test_allowed_hosts_name_a_host_and_optionally_a_port(entry, url, allowed):
    reason = UrlPolicy([entry], [entry]).refusal(url)
    assert (reason is None) == allowed, reason


@pytest.mark.parametrize("entry", ["127.0.0.1:99999", "host:http", "[::1", ":80", "[::1]x"])
def test_a_malformed_entry_is_a_config_error_naming_the_keys(entry):
    with pytest.raises(ConfigError, match=r"download.allowed_hosts / download.private_hosts: .* is not a host"):
        UrlPolicy.of(DownloadConfig(allowed_hosts=[entry]))


def test_allow_private_addresses_from_older_configs_means_every_allowed_host():
    assert DownloadConfig(allowed_hosts=["127.0.0.1"], allow_private_addresses=True).private_hosts == ["127.0.0.1"]


@pytest.mark.parametrize(
    "url, refused",
    [
        ("http://127.0.0.1:99999/x.jpg", "malformed URL: Port out of range"),
        ("http://127.0.0.1:abc/x.jpg", "malformed URL: Port could not be cast"),
        ("http://2130706433/x.jpg", "address 127.0.0.1 is private"),  # decimal
        ("http://0177.0.0.1/x.jpg", "address 127.0.0.1 is private"),  # octal
        ("http://0x7f.1/x.jpg", "address 127.0.0.1 is private"),  # hex, short form
        ("http://[::ffff:127.0.0.1]/x.jpg", "address 127.0.0.1 is private"),  # IPv4-mapped IPv6
        ("http://user@127.0.0.1/x.jpg", "credentials"),
    ],
)
def test_every_form_of_a_url_is_read_once_strictly_before_the_checks(url, refused):
    assert refused in UrlPolicy(["127.0.0.1"]).refusal(url)


@given(st.integers(0, 2**32 - 1))
def test_decimal_hex_and_octal_forms_of_an_ipv4_address_are_that_address(number):
    address = ipaddress.IPv4Address(number)
    octets = address.packed
    forms = [str(number), hex(number), ".".join(f"0{b:o}" for b in octets), ".".join(hex(b) for b in octets),
             f"::ffff:{address}"]
    assert {canonical_host(form) for form in forms} == {str(address)}


@pytest.mark.parametrize("name", ["scontent.cdninstagram.com", "cafe.de", "0x.example", "127.0.0.1.nip.io"])
def test_names_stay_names(name):
    assert canonical_host(name.upper()) == name
