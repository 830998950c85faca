"""A synthetic Instagram, deterministic from a seed, with a planted signal that a model can learn.

Every post's like count is followers x ratio, where log(ratio) = base + kind effect + account effect + noise.
The kind (what the picture shows) is the only part a model can see, so the noise caps achievable accuracy:
about 75% on a median split of likes per follower, 87% on top-vs-bottom quartiles.

The world is held as numpy arrays (a few bytes per post), so 200,000 posts build in well under a second;
`Account` and `Post` objects are made only when a lookup asks for one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from likeability.config import SimulatorConfig

KINDS = ("outdoor", "closeup", "indoor", "meme")
KIND_SHARES = (0.3, 0.2, 0.3, 0.2)
# Log likes-per-follower relative to indoor: faces in green/blue scenes and desaturated close-ups do better,
# text-only memes worse.
KIND_EFFECTS = (0.5, 0.5, 0.0, -0.4)
BASE_LOG_RATIO = math.log(0.03)
ACCOUNT_EFFECT_SD = 0.15
NOISE_SD = 0.45

MEDIA_TYPES = ("IMAGE", "VIDEO", "CAROUSEL_ALBUM")
MEDIA_TYPE_SHARES = (0.8, 0.1, 0.1)

FOLLOWERS_MEDIAN = 1500
FOLLOWERS_LOG_SD = 1.5
FOLLOWERS_MIN = 20
COMMENTS_PER_LIKE = 0.02

HISTORY_SECONDS = 120 * 24 * 3600
# Likes keep arriving for a few days, so a young post shows only part of its final count.
LIKES_SETTLE_SECONDS = 3 * 24 * 3600

ME_TAG = "me"
ME_TAG_SHARE = 0.7
KIND_TAG_SHARE = 0.6
COMMON_TAG_SHARE = 0.5
COMMON_TAGS = ("instagood", "photooftheday", "love", "happy", "tbt", "instadaily")
KIND_TAGS = (
    ("nature", "travel", "sunset", "hiking", "beach", "summer"),
    ("selfie", "portrait", "blackandwhite", "bnw", "mood", "face"),
    ("home", "coffee", "friends", "weekend", "cozy", "family"),
    ("meme", "funny", "lol", "quotes", "humor", "relatable"),
)
HASHTAGS = (ME_TAG, *COMMON_TAGS, *(tag for tags in KIND_TAGS for tag in tags))
KIND_PHRASES = (
    ("Out in the open", "Fresh air today", "Chasing the light", "Weekend wandering"),
    ("Just me", "Quiet moment", "Monochrome mood", "Hello there"),
    ("Lazy afternoon", "Home sweet home", "Coffee first", "Good company"),
    ("Tag someone who gets it", "Me every Monday", "Too real", "Current mood"),
)

USERNAME_HEADS = tuple(
    "sunny urban quiet wild happy little golden blue misty bold lucky silver cosy north".split()
)
USERNAME_TAILS = tuple(
    "fox lens wander bloom studio kitchen pixel trail coast atelier diaries frames roots".split()
)

# Ids look like Instagram's 17-digit ones; index * stride + jitter makes them unique and reversible.
IG_USER_ID_BASE = 17_841_400_000_000_000
MEDIA_ID_BASE = 17_900_000_000_000_000
ID_STRIDE = 1000
SHORTCODE_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@dataclass(frozen=True)
class Account:
    index: int
    ig_id: int
    username: str
    followers_count: int
    media_count: int
    business: bool  # False: private or not a professional account, so Business Discovery cannot see it
    hides_likes: bool


@dataclass(frozen=True)
class Post:
    index: int
    media_id: int
    owner: int  # account index
    username: str
    timestamp: int  # Unix seconds
    media_type: str
    kind: str
    like_count: int  # the true count, also when the owner hides it
    likes_hidden: bool
    comments_count: int
    caption: str
    permalink: str


class World:
    """Accounts and their posts as of `now` (Unix seconds), all drawn from `config.seed`."""

    def __init__(self, config: SimulatorConfig, now: float):
        rng = np.random.default_rng(config.seed)
        self.now = now
        n_accounts = config.accounts

        self.account_followers = np.maximum(
            FOLLOWERS_MIN, rng.lognormal(math.log(FOLLOWERS_MEDIAN), FOLLOWERS_LOG_SD, n_accounts)
        ).astype(np.int64)
        self.account_business = rng.random(n_accounts) >= config.unavailable_fraction
        self.account_hides_likes = rng.random(n_accounts) < config.hidden_likes_fraction
        account_effect = rng.normal(0.0, ACCOUNT_EFFECT_SD, n_accounts)
        self.account_ig_id = (
            IG_USER_ID_BASE
            + np.arange(n_accounts, dtype=np.int64) * ID_STRIDE
            + rng.integers(0, ID_STRIDE, n_accounts)
        )
        heads = rng.integers(0, len(USERNAME_HEADS), n_accounts)
        tails = rng.integers(0, len(USERNAME_TAILS), n_accounts)
        # The index suffix makes names unique: the words hold no digits, so no two triples spell the same name.
        self.usernames = [
            f"{USERNAME_HEADS[h]}.{USERNAME_TAILS[t]}{i}"
            for i, (h, t) in enumerate(zip(heads, tails, strict=True))
        ]
        self._account_by_username = {name: i for i, name in enumerate(self.usernames)}

        counts = rng.integers(config.posts_per_account_min, config.posts_per_account_max + 1, n_accounts)
        self.account_post_start = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        n_posts = int(self.account_post_start[-1])
        owner = np.repeat(np.arange(n_accounts, dtype=np.int32), counts)
        age = rng.uniform(0, HISTORY_SECONDS, n_posts)
        # Newest first within each account, the order Instagram's media edge pages in.
        order = np.lexsort((age, owner))
        self.post_owner = owner
        age = age[order]
        self.post_timestamp = (now - age).astype(np.int64)
        self.post_media_id = (
            MEDIA_ID_BASE + np.arange(n_posts, dtype=np.int64) * ID_STRIDE + rng.integers(0, ID_STRIDE, n_posts)
        )
        self.post_kind = rng.choice(len(KINDS), n_posts, p=KIND_SHARES).astype(np.int8)
        self.post_media_type = rng.choice(len(MEDIA_TYPES), n_posts, p=MEDIA_TYPE_SHARES).astype(np.int8)

        log_ratio = (
            BASE_LOG_RATIO
            + np.asarray(KIND_EFFECTS)[self.post_kind]
            + account_effect[owner]
            + rng.normal(0.0, NOISE_SD, n_posts)
        )
        settled = 1.0 - np.exp(-age / LIKES_SETTLE_SECONDS)
        self.post_like_count = np.rint(self.account_followers[owner] * np.exp(log_ratio) * settled).astype(
            np.int64
        )
        self.post_comments_count = rng.poisson(self.post_like_count * COMMENTS_PER_LIKE).astype(np.int32)

        self.post_phrase = rng.integers(0, len(KIND_PHRASES[0]), n_posts).astype(np.int8)
        self.post_tags = self._draw_tags(rng, n_posts)
        self._tag_posts: dict[int, np.ndarray] = {}

    def _draw_tags(self, rng: np.random.Generator, n_posts: int) -> np.ndarray:
        """Three hashtag slots per post, indices into HASHTAGS or -1: #me, one fitting the kind, one common."""
        tags = np.full((n_posts, 3), -1, dtype=np.int16)
        tags[rng.random(n_posts) < ME_TAG_SHARE, 0] = HASHTAGS.index(ME_TAG)
        kind_tag = rng.integers(0, len(KIND_TAGS[0]), n_posts)
        first_kind_tag = 1 + len(COMMON_TAGS)
        has_kind_tag = rng.random(n_posts) < KIND_TAG_SHARE
        tags[has_kind_tag, 1] = (first_kind_tag + self.post_kind * len(KIND_TAGS[0]) + kind_tag)[has_kind_tag]
        common = rng.integers(0, len(COMMON_TAGS), n_posts)
        has_common = rng.random(n_posts) < COMMON_TAG_SHARE
        tags[has_common, 2] = (1 + common)[has_common]
        return tags

    @property
    def n_accounts(self) -> int:
        return len(self.usernames)

    @property
    def n_posts(self) -> int:
        return len(self.post_media_id)

    def account(self, username: str) -> Account | None:
        index = self._account_by_username.get(username)
        return None if index is None else self.account_at(index)

    def account_at(self, index: int) -> Account:
        return Account(
            index=index,
            ig_id=int(self.account_ig_id[index]),
            username=self.usernames[index],
            followers_count=int(self.account_followers[index]),
            media_count=int(self.account_post_start[index + 1] - self.account_post_start[index]),
            business=bool(self.account_business[index]),
            hides_likes=bool(self.account_hides_likes[index]),
        )

    def post(self, media_id: int) -> Post | None:
        index = (media_id - MEDIA_ID_BASE) // ID_STRIDE
        if 0 <= index < self.n_posts and self.post_media_id[index] == media_id:
            return self.post_at(int(index))
        return None

    def kinds_of(self, media_ids: list[str]) -> np.ndarray:
        """The kind index (into KINDS) of each of these posts; a media id from another world is an error."""
        ids = np.asarray([int(media_id) for media_id in media_ids], dtype=np.int64)
        index = (ids - MEDIA_ID_BASE) // ID_STRIDE
        known = (index >= 0) & (index < self.n_posts)
        known[known] = self.post_media_id[index[known]] == ids[known]
        if not known.all():
            raise KeyError(f"{int((~known).sum())} media ids are not posts of this world, e.g. {ids[~known][0]}")
        return self.post_kind[index]

    def post_at(self, index: int) -> Post:
        owner = int(self.post_owner[index])
        kind = int(self.post_kind[index])
        media_id = int(self.post_media_id[index])
        tags = " ".join(f"#{HASHTAGS[t]}" for t in self.post_tags[index] if t >= 0)
        return Post(
            index=index,
            media_id=media_id,
            owner=owner,
            username=self.usernames[owner],
            timestamp=int(self.post_timestamp[index]),
            media_type=MEDIA_TYPES[self.post_media_type[index]],
            kind=KINDS[kind],
            like_count=int(self.post_like_count[index]),
            likes_hidden=bool(self.account_hides_likes[owner]),
            comments_count=int(self.post_comments_count[index]),
            caption=f"{KIND_PHRASES[kind][self.post_phrase[index]]} {tags}".rstrip(),
            permalink=f"https://www.instagram.com/p/{_shortcode(media_id)}/",
        )

    def account_media(self, account: int, offset: int, limit: int) -> list[Post]:
        """Posts `offset` .. `offset + limit` of an account, newest first."""
        start = int(self.account_post_start[account])
        end = int(self.account_post_start[account + 1])
        return [self.post_at(i) for i in range(start + offset, min(end, start + offset + limit))]

    def hashtag_posts(self, tag: str, since: float, until: float) -> np.ndarray:
        """Indices of posts carrying `#tag` with since < timestamp <= until, oldest first."""
        if tag not in HASHTAGS:
            return np.empty(0, dtype=np.int64)
        tag_index = HASHTAGS.index(tag)
        posts = self._tag_posts.get(tag_index)
        if posts is None:
            posts = np.flatnonzero((self.post_tags == tag_index).any(axis=1))
            posts = posts[np.argsort(self.post_timestamp[posts], kind="stable")]
            self._tag_posts[tag_index] = posts
        times = self.post_timestamp[posts]
        return posts[np.searchsorted(times, since, side="right") : np.searchsorted(times, until, side="right")]


def _shortcode(media_id: int) -> str:
    """Instagram's shortcode: the media id written in a 64-letter alphabet."""
    letters = []
    while media_id:
        media_id, digit = divmod(media_id, 64)
        letters.append(SHORTCODE_ALPHABET[digit])
    return "".join(reversed(letters))
