"""The pyarrow schema of every table a stage writes into the run folder: the contract between stages."""

from __future__ import annotations

import pyarrow as pa

UTC_MICROS = pa.timestamp("us", tz="UTC")

USERS = pa.schema(
    [
        pa.field("username", pa.string(), nullable=False),
        pa.field("ig_id", pa.string(), nullable=False),
        pa.field("followers_count", pa.int64(), nullable=False),
        pa.field("media_count", pa.int64(), nullable=False),
        pa.field("fetched_at", UTC_MICROS, nullable=False),
    ]
)

POSTS = pa.schema(
    [
        pa.field("media_id", pa.string(), nullable=False),
        pa.field("username", pa.string(), nullable=False),
        pa.field("like_count", pa.int64()),  # null when the owner hides like counts
        pa.field("comments_count", pa.int64()),
        pa.field("media_type", pa.string(), nullable=False),
        pa.field("media_url", pa.string()),
        pa.field("permalink", pa.string()),
        pa.field("timestamp", UTC_MICROS, nullable=False),
        pa.field("caption", pa.string()),
        pa.field("image_path", pa.string()),  # a local file, set by importers; the API gives media_url instead
    ]
)

# Posts collected but not kept, and why (too young to have settled likes, no wanted hashtag, ...).
DROPPED_POSTS = pa.schema(
    [
        pa.field("media_id", pa.string(), nullable=False),
        pa.field("username", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
    ]
)

# Accounts that could not be collected (unknown, private, not a business account, permission denied).
FAILED_USERS = pa.schema(
    [
        pa.field("username", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("error_code", pa.int64()),
    ]
)

# Input files an importer could not read, one row per file, so the rest of an import still lands.
IMPORT_ERRORS = pa.schema(
    [
        pa.field("path", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
    ]
)

# Every collected user with the follower filter's verdict (reason null when kept).
USER_FILTER = pa.schema(
    [
        pa.field("username", pa.string(), nullable=False),
        pa.field("followers_count", pa.int64(), nullable=False),
        pa.field("kept", pa.bool_(), nullable=False),
        pa.field("reason", pa.string()),
    ]
)

# Posts that go on to download and labelling: a kept user, visible likes, an image to fetch or read.
CANDIDATES = pa.schema(
    [
        pa.field("media_id", pa.string(), nullable=False),
        pa.field("username", pa.string(), nullable=False),
        pa.field("like_count", pa.int64(), nullable=False),
        pa.field("followers_count", pa.int64(), nullable=False),
        pa.field("timestamp", UTC_MICROS, nullable=False),
        pa.field("media_url", pa.string()),
        pa.field("image_path", pa.string()),
    ]
)

# Posts the filter left out, and why (user_mad_high, hidden_likes, video, ...).
EXCLUDED_POSTS = DROPPED_POSTS

# One row per candidate: how fetching (or reading) its image went, and where the image is stored.
DOWNLOADS = pa.schema(
    [
        pa.field("media_id", pa.string(), nullable=False),
        pa.field("status", pa.string(), nullable=False),  # ok, http_error, timeout, too_large, not_an_image, ...
        pa.field("detail", pa.string()),
        pa.field("http_status", pa.int32()),
        pa.field("sha256", pa.string()),  # of the original bytes; the key into `images`
        pa.field("format", pa.string()),
        pa.field("width", pa.int32()),
        pa.field("height", pa.int32()),
        pa.field("num_bytes", pa.int64()),
    ]
)

# Every distinct image once, as it arrived (never re-encoded), keyed by the SHA-256 of its bytes. Parts of a
# few hundred images each: one file per photo would cost more to create than the photo costs to decode.
IMAGES = pa.schema(
    [
        pa.field("sha256", pa.string(), nullable=False),
        pa.field("format", pa.string(), nullable=False),
        pa.field("body", pa.binary(), nullable=False),
    ]
)

# Face detection for every image that downloaded: all faces above the score threshold and the verdict.
FACES = pa.schema(
    [
        pa.field("media_id", pa.string(), nullable=False),
        pa.field("face_count", pa.int32(), nullable=False),
        pa.field("best_score", pa.float32()),
        pa.field("boxes", pa.list_(pa.list_(pa.float32(), 4)), nullable=False),  # x1, y1, x2, y2 in pixels
        pa.field("scores", pa.list_(pa.float32()), nullable=False),
        pa.field("largest_face_ratio", pa.float32(), nullable=False),  # largest box area / image area
        pa.field("has_face", pa.bool_(), nullable=False),
    ]
)

# The photos that are learned from: kept posts with a face, their ratio, label and side of the split.
LABELS = pa.schema(
    [
        pa.field("media_id", pa.string(), nullable=False),
        pa.field("username", pa.string(), nullable=False),
        pa.field("sha256", pa.string(), nullable=False),  # the image, in `images`
        pa.field("like_count", pa.int64(), nullable=False),
        pa.field("followers_count", pa.int64(), nullable=False),
        pa.field("ratio", pa.float64(), nullable=False),  # likes / followers
        pa.field("follower_group", pa.int32(), nullable=False),  # 0 unless labels.follower_groups > 1
        pa.field("label", pa.int8(), nullable=False),  # 1 = good: above its group's training median
        pa.field("split", pa.string(), nullable=False),  # train or test
    ]
)

# Layers each backbone yields, with their widths: fc6/fc7 are AlexNet's first two fully connected layers after
# ReLU (Caffe's blobs of those names); MobileNetV2's is its pooled 1,280-d feature.
BACKBONE_LAYERS: dict[str, dict[str, int]] = {
    "alexnet": {"fc6": 4096, "fc7": 4096},
    # The study's future work asked for better base CNNs: VGG-16 (the same fc6/fc7 layer names), ResNet-50's
    # pooled features, and ViT-B/16's class token (the input of its classifier head).
    "vgg16": {"fc6": 4096, "fc7": 4096},
    "resnet50": {"pool": 2048},
    "vit_b_16": {"cls": 768},
    "mobilenet_v2": {"pool": 1280},
}


def embeddings_schema(backbone: str) -> pa.Schema:
    """One row per photo and per mirror image, a fixed-size float32 column per layer."""
    return pa.schema(
        [
            pa.field("media_id", pa.string(), nullable=False),
            pa.field("mirrored", pa.bool_(), nullable=False),
            *(pa.field(layer, pa.list_(pa.float32(), width), nullable=False)
              for layer, width in BACKBONE_LAYERS[backbone].items()),
        ]
    )


def embeddings_table(backbone: str) -> str:
    return f"embeddings_{backbone}"


# One row per Ray Tune trial: a model family's hyperparameters on one layer, with or without mirror copies,
# scored by grouped, stratified cross-validation on the training split.
SWEEP_RESULTS = pa.schema(
    [
        pa.field("family", pa.string(), nullable=False),  # linear_svc, sgd_svm, random_forest
        pa.field("backbone", pa.string(), nullable=False),
        pa.field("layer", pa.string(), nullable=False),
        pa.field("mirrored", pa.bool_(), nullable=False),
        pa.field("params", pa.string(), nullable=False),  # JSON of the family's hyperparameters
        pa.field("mean_ap", pa.float64(), nullable=False),
        pa.field("std_ap", pa.float64(), nullable=False),
        pa.field("mean_accuracy", pa.float64(), nullable=False),
        pa.field("std_accuracy", pa.float64(), nullable=False),
        pa.field("seconds", pa.float64(), nullable=False),
    ]
)

# The best trial of each family on each backbone, refitted on the whole training split, scored once on the test split.
FINAL_MODELS = pa.schema(
    [
        pa.field("family", pa.string(), nullable=False),
        pa.field("backbone", pa.string(), nullable=False),
        pa.field("layer", pa.string(), nullable=False),
        pa.field("mirrored", pa.bool_(), nullable=False),
        pa.field("params", pa.string(), nullable=False),
        pa.field("cv_ap", pa.float64(), nullable=False),
        pa.field("test_accuracy", pa.float64(), nullable=False),
        pa.field("test_ap", pa.float64(), nullable=False),
        pa.field("test_roc_auc", pa.float64(), nullable=False),
        # 95% intervals by a bootstrap over test users; AP's chance level is the share of good test photos
        *(
            pa.field(f"test_{figure}_{end}", pa.float64(), nullable=False)
            for figure in ("accuracy", "ap", "roc_auc") for end in ("low", "high")
        ),
        pa.field("chance_ap", pa.float64(), nullable=False),
        pa.field("confusion", pa.list_(pa.int64(), 4), nullable=False),  # tn, fp, fn, tp
        pa.field("model_path", pa.string(), nullable=False),  # inside the run
    ]
)

# Fine-tuning's log: training metrics every finetune.log_every iterations, validation ones at each evaluation.
FINETUNE_METRICS = pa.schema(
    [
        pa.field("iteration", pa.int64(), nullable=False),
        pa.field("loss", pa.float64()),
        pa.field("lr", pa.float64()),
        pa.field("train_accuracy", pa.float64()),
        pa.field("val_accuracy", pa.float64()),
        pa.field("val_ap", pa.float64()),
        pa.field("val_roc_auc", pa.float64()),
    ]
)

# Every test photo scored by the best fine-tuned checkpoint, for the ranking and the contact sheets.
FINETUNE_SCORES = pa.schema(
    [
        pa.field("media_id", pa.string(), nullable=False),
        pa.field("sha256", pa.string(), nullable=False),
        pa.field("label", pa.int8(), nullable=False),
        pa.field("p_good", pa.float64(), nullable=False),
    ]
)

# The explain stage: each test photo's attributes (likeability.explain.attributes), the explained model's score
# and where the photo lies on the map of test photos (t-SNE of the model's features).
PHOTO_ATTRIBUTES = pa.schema(
    [
        pa.field("media_id", pa.string(), nullable=False),
        pa.field("username", pa.string(), nullable=False),
        pa.field("sha256", pa.string(), nullable=False),
        pa.field("label", pa.int8(), nullable=False),
        pa.field("score", pa.float64(), nullable=False),  # what the model ranks by (margin or vote share)
        pa.field("p_good", pa.float64(), nullable=False),
        pa.field("colourfulness", pa.float32(), nullable=False),
        pa.field("saturation", pa.float32(), nullable=False),
        pa.field("greyscale", pa.bool_(), nullable=False),
        pa.field("brightness", pa.float32(), nullable=False),
        pa.field("contrast", pa.float32(), nullable=False),
        pa.field("sharpness", pa.float32(), nullable=False),
        pa.field("faces", pa.int32(), nullable=False),
        pa.field("largest_face_share", pa.float32(), nullable=False),
        pa.field("head_cut_at_top", pa.bool_(), nullable=False),
        pa.field("greenery_share", pa.float32(), nullable=False),
        pa.field("sky_share", pa.float32(), nullable=False),
        pa.field("water_share", pa.float32(), nullable=False),
        pa.field("text_likeness", pa.float32(), nullable=False),
        pa.field("map_x", pa.float32(), nullable=False),
        pa.field("map_y", pa.float32(), nullable=False),
    ]
)

# One row per attribute: Spearman's correlation with the model's score and with the true label, each with its
# 95% interval from a bootstrap over users; NaN where the attribute does not vary.
ATTRIBUTE_EFFECTS = pa.schema(
    [
        pa.field("attribute", pa.string(), nullable=False),
        pa.field("with_score", pa.float64(), nullable=False),
        pa.field("with_score_low", pa.float64(), nullable=False),
        pa.field("with_score_high", pa.float64(), nullable=False),
        pa.field("with_label", pa.float64(), nullable=False),
        pa.field("with_label_low", pa.float64(), nullable=False),
        pa.field("with_label_high", pa.float64(), nullable=False),
    ]
)

TABLES: dict[str, pa.Schema] = {
    "users": USERS,
    "posts": POSTS,
    "dropped_posts": DROPPED_POSTS,
    "failed_users": FAILED_USERS,
    "import_errors": IMPORT_ERRORS,
    "user_filter": USER_FILTER,
    "candidates": CANDIDATES,
    "excluded_posts": EXCLUDED_POSTS,
    "downloads": DOWNLOADS,
    "images": IMAGES,
    "faces": FACES,
    "labels": LABELS,
    "sweep_results": SWEEP_RESULTS,
    "final_models": FINAL_MODELS,
    "finetune_metrics": FINETUNE_METRICS,
    "finetune_scores": FINETUNE_SCORES,
    "photo_attributes": PHOTO_ATTRIBUTES,
    "attribute_effects": ATTRIBUTE_EFFECTS,
    **{embeddings_table(name): embeddings_schema(name) for name in BACKBONE_LAYERS},
}
