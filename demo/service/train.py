"""Train the demo's recommendation model (seeded, a few seconds on one CPU) and save it.

The model is a small two-tower-free recommender: a user id goes through an embedding and a
hidden layer to a score for every item in the catalogue (sigmoid: "will this user like this
item"). The training data are synthetic but structured: users and items belong to hidden
taste clusters and a user likes an item of their cluster with probability 0.8, another with
probability 0.05, so the model has something real to learn and its top-k is checkable.

Usage: python train.py OUTDIR [--version N]
Writes OUTDIR/model.tflite (what the server loads), OUTDIR/model.keras (the trained Keras model)
and OUTDIR/model.json (version, sizes, the held-out accuracy).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import random

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

USERS = 500
ITEMS = 200
CLUSTERS = 8
SEED = 1234


def synthetic_interactions(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    user_cluster = rng.integers(0, CLUSTERS, USERS)
    item_cluster = rng.integers(0, CLUSTERS, ITEMS)
    same = user_cluster[:, None] == item_cluster[None, :]
    p = np.where(same, 0.8, 0.05)
    likes = (rng.random((USERS, ITEMS)) < p).astype("float32")
    return np.arange(USERS, dtype="int32"), likes


def masked_bce(y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
    """Binary cross-entropy over the cells whose label is 0 or 1 (-1 marks a held-out cell)."""
    keep = tf.cast(y_true >= 0, y_pred.dtype)
    y = tf.clip_by_value(y_true, 0.0, 1.0)
    p = tf.clip_by_value(y_pred, 1e-7, 1 - 1e-7)
    bce = -(y * tf.math.log(p) + (1 - y) * tf.math.log(1 - p))
    return tf.reduce_sum(bce * keep, axis=-1) / tf.maximum(tf.reduce_sum(keep, axis=-1), 1.0)


def build_model() -> tf.keras.Model:
    user = tf.keras.Input(shape=(1,), dtype="int32", name="user")
    x = tf.keras.layers.Embedding(USERS, 32, name="user_embedding")(user)
    x = tf.keras.layers.Flatten()(x)
    x = tf.keras.layers.Dense(64, activation="relu")(x)
    scores = tf.keras.layers.Dense(ITEMS, activation="sigmoid", name="scores")(x)
    return tf.keras.Model(user, scores)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("outdir")
    ap.add_argument("--version", default="1")
    args = ap.parse_args()
    random.seed(SEED)
    np.random.seed(SEED)
    tf.keras.utils.set_random_seed(SEED)
    rng = np.random.default_rng(SEED)
    users, likes = synthetic_interactions(rng)
    # hold out 10% of the (user, item) cells: train on the rest through a mask
    mask = (rng.random(likes.shape) >= 0.1).astype("float32")
    model = build_model()
    model.compile(optimizer=tf.keras.optimizers.Adam(0.01), loss=masked_bce)
    # held-out cells carry the label -1, which the loss ignores
    labels = np.where(mask > 0, likes, -1.0).astype("float32")
    model.fit(users[:, None], labels, epochs=40, batch_size=64, verbose=0)
    pred = model.predict(users[:, None], verbose=0)
    held = mask == 0
    accuracy = float(((pred[held] > 0.5) == (likes[held] > 0.5)).mean())

    out = pathlib.Path(args.outdir)
    out.mkdir(parents=True, exist_ok=True)
    model.save(out / "model.keras")

    model.export(str(out / "saved_model"), format="tf_saved_model", verbose=False)
    converter = tf.lite.TFLiteConverter.from_saved_model(str(out / "saved_model"))
    (out / "model.tflite").write_bytes(converter.convert())
    meta = {
        "version": args.version,
        "users": USERS,
        "items": ITEMS,
        "seed": SEED,
        "heldout_accuracy": round(accuracy, 4),
        "tensorflow": tf.__version__,
    }
    (out / "model.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(json.dumps(meta))


if __name__ == "__main__":
    main()
