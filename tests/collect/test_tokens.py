import pytest

from likeability.collect.tokens import Redactor, TokenError, read_tokens
from likeability.config import TokenSource


def test_reads_file_and_env_skipping_blanks_comments_and_repeats(tmp_path, monkeypatch):
    path = tmp_path / "tokens.txt"
    path.write_text("IGQVJaaaa1111\n\n# a comment\n  IGQVJbbbb2222  \nIGQVJaaaa1111\n")
    monkeypatch.setenv("LIKEABILITY_TOKENS", "IGQVJcccc3333\nIGQVJbbbb2222")
    tokens = read_tokens(TokenSource(file=str(path), env="LIKEABILITY_TOKENS"))
    assert tokens == ["IGQVJaaaa1111", "IGQVJbbbb2222", "IGQVJcccc3333"]


def test_missing_sources_are_named(tmp_path, monkeypatch):
    monkeypatch.delenv("NO_SUCH_TOKENS", raising=False)
    with pytest.raises(TokenError, match="token file .*nope.txt not found"):
        read_tokens(TokenSource(file=str(tmp_path / "nope.txt")))
    with pytest.raises(TokenError, match="NO_SUCH_TOKENS is not set"):
        read_tokens(TokenSource(env="NO_SUCH_TOKENS"))


def test_redactor_hides_tokens_and_prefixes_longer_than_four():
    redact = Redactor(["IGQVJaaaa1111", "zz"])
    text = "a IGQVJaaaa1111 b IGQVJaa c IGQV d IGQVJaaaa1111x e zz"
    assert redact(text) == "a [token] b [token] c IGQV d [token]x e zz"


def test_redactor_handles_adjacent_and_overlapping_tokens():
    redact = Redactor(["abcdefgh", "abcdeXYZ"])
    assert redact("abcdefghabcdeXYZabcde") == "[token][token][token]"


def test_label_names_a_token_by_position_only():
    assert Redactor.label(3) == "token#3"
