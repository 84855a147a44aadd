"""Metric learning: the semi-hard triplet loss against a brute-force reference, balanced batches,
the L2-normalised head (save/load), classifiers on the embedding, and end-to-end training."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

pytest.importorskip("tensorflow")

import keras  # noqa: E402

from imagespace.nets import metric  # noqa: E402

# --------------------------------------------------------------------------- references


def ref_distances(E, squared):
    E = np.asarray(E, dtype=np.float64)
    B = len(E)
    D = np.zeros((B, B))
    for i in range(B):
        for j in range(B):
            d2 = float(np.sum((E[i] - E[j]) ** 2))
            D[i, j] = d2 if squared else np.sqrt(d2)
    return D


def ref_semihard(labels, E, margin, squared=False):
    """Loops over anchors, positives and negatives, exactly as the definition reads."""
    y = np.asarray(labels).reshape(-1)
    D = ref_distances(E, squared)
    B = len(y)
    total, count = 0.0, 0
    for a in range(B):
        negs = [n for n in range(B) if y[n] != y[a]]
        if not negs:
            continue
        for p in range(B):
            if p == a or y[p] != y[a]:
                continue
            semi = [D[a, n] for n in negs if D[a, n] > D[a, p]]
            d_an = min(semi) if semi else max(D[a, n] for n in negs)
            total += max(D[a, p] - d_an + margin, 0.0)
            count += 1
    return total / count if count else 0.0


def ref_contrastive(labels, E, margin):
    y = np.asarray(labels).reshape(-1)
    D = ref_distances(E, squared=False)
    vals = []
    for i in range(len(y)):
        for j in range(i + 1, len(y)):
            vals.append(D[i, j] ** 2 if y[i] == y[j] else max(margin - D[i, j], 0.0) ** 2)
    return float(np.mean(vals))


def unit(rng, n, d):
    E = rng.normal(size=(n, d)).astype(np.float32)
    return E / np.linalg.norm(E, axis=1, keepdims=True)


def has_semihard_and_fallback(y, E, squared=False):
    """(any pair uses a semi-hard negative, any pair falls back to the farthest negative)."""
    D = ref_distances(E, squared)
    semi = fallback = False
    for a in range(len(y)):
        for p in range(len(y)):
            if p != a and y[p] == y[a]:
                negs = [n for n in range(len(y)) if y[n] != y[a]]
                if any(D[a, n] > D[a, p] for n in negs):
                    semi = True
                elif negs:
                    fallback = True
    return semi, fallback


# --------------------------------------------------------------------------- losses


def random_batch(seed):
    rng = np.random.default_rng(seed)
    n, k = 12 + seed, 3 + seed % 2
    return rng.integers(0, k, size=n), unit(rng, n, 8)


def test_random_batches_exercise_both_branches():
    flags = [has_semihard_and_fallback(*random_batch(s)) for s in range(6)]
    assert any(f[0] for f in flags) and any(f[1] for f in flags)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("squared", [False, True])
def test_semihard_loss_matches_brute_force(seed, squared):
    y, E = random_batch(seed)
    for margin in (0.2, 1.0):
        got = float(metric.semihard_triplet_loss(y, E, margin=margin, squared=squared))
        assert got == pytest.approx(ref_semihard(y, E, margin, squared), abs=1e-5)


def test_semihard_loss_covers_both_branches():
    """Overlapping clusters: some pairs have no semi-hard negative (the fallback), others do; both match the
    reference."""
    rng = np.random.default_rng(7)
    y = np.repeat(np.arange(4), 5)
    centres = unit(rng, 4, 16)
    E = centres[y] + 1.0 * rng.normal(size=(20, 16)).astype(np.float32)
    E /= np.linalg.norm(E, axis=1, keepdims=True)
    semi, fallback = has_semihard_and_fallback(y, E)
    assert semi and fallback
    for margin in (0.1, 0.5, 2.0):
        got = float(metric.semihard_triplet_loss(y, E, margin=margin))
        assert got == pytest.approx(ref_semihard(y, E, margin), abs=1e-5)
    # no semi-hard negative anywhere: positives antipodal, every negative closer
    y2 = np.array([0, 0, 1, 1])
    E2 = np.array([[1, 0], [-1, 0], [0.9, 0.1], [-0.9, -0.1]], dtype=np.float32)
    E2 /= np.linalg.norm(E2, axis=1, keepdims=True)
    semi, fallback = has_semihard_and_fallback(y2, E2)
    assert fallback and not semi
    assert float(metric.semihard_triplet_loss(y2, E2, 0.2)) == pytest.approx(ref_semihard(y2, E2, 0.2), abs=1e-5)


def test_label_shapes_and_dtypes_and_keras_call():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, size=10)
    E = unit(rng, 10, 6)
    want = ref_semihard(y, E, 0.2)
    for labels in (y, y.reshape(-1, 1), y.astype(np.float32), y.astype(np.int64).reshape(-1, 1)):
        assert float(metric.semihard_triplet_loss(labels, E)) == pytest.approx(want, abs=1e-5)
        # as a Keras loss: Loss.__call__ casts y_true to float32 first
        assert float(metric.make_loss("triplet", 0.2)(labels, E)) == pytest.approx(want, abs=1e-5)
    assert float(metric.make_loss("contrastive", 0.5)(y.reshape(-1, 1), E)) == pytest.approx(
        ref_contrastive(y, E, 0.5), abs=1e-5
    )


@pytest.mark.parametrize("seed", range(3))
def test_contrastive_loss_matches_brute_force(seed):
    rng = np.random.default_rng(100 + seed)
    y = rng.integers(0, 3, size=11)
    E = unit(rng, 11, 5)
    for margin in (0.5, 1.5):
        assert float(metric.contrastive_loss(y, E, margin)) == pytest.approx(ref_contrastive(y, E, margin), abs=1e-5)


def test_losses_zero_when_separated_positive_otherwise():
    y = np.repeat(np.arange(4), 3)
    E = np.eye(4, dtype=np.float32)[y]  # each class one point; classes sqrt(2) apart
    assert float(metric.semihard_triplet_loss(y, E, margin=0.2)) == pytest.approx(0.0, abs=1e-6)
    assert float(metric.contrastive_loss(y, E, margin=0.5)) == pytest.approx(0.0, abs=1e-6)
    # a margin beyond the class gap is violated
    assert float(metric.semihard_triplet_loss(y, E, margin=2.0)) > 0.5
    # mixed-up embeddings: positive loss
    rng = np.random.default_rng(0)
    E_bad = np.eye(4, dtype=np.float32)[rng.permutation(y)]
    assert float(metric.semihard_triplet_loss(y, E_bad, margin=0.2)) > 0.1
    assert float(metric.contrastive_loss(y, E_bad, margin=0.5)) > 0.01
    # one class only: no triplet, no NaN
    assert float(metric.semihard_triplet_loss(np.zeros(4), E[:4], 0.2)) == 0.0


def test_gradients_finite_with_duplicate_rows():
    """Batches drawn with replacement hold identical embeddings: the distance's sqrt must not give NaN."""
    import tensorflow as tf

    y = np.array([0, 0, 1, 1, 2, 2])
    E = tf.Variable(unit(np.random.default_rng(1), 6, 4)[[0, 0, 2, 2, 4, 5]])
    for loss in (metric.make_loss("triplet", 0.2), metric.make_loss("contrastive", 0.5)):
        with tf.GradientTape() as tape:
            value = loss(y, E)
        g = tape.gradient(value, E).numpy()
        assert np.isfinite(float(value)) and np.isfinite(g).all()


def test_make_loss_unknown_kind():
    with pytest.raises(ValueError, match="arcface"):
        metric.make_loss("arcface", 0.2)
    assert isinstance(metric.make_loss("contrastive", 0.3), metric.ContrastiveLoss)
    assert metric.make_loss("triplet", 0.3).margin == pytest.approx(0.3)


# --------------------------------------------------------------------------- batches


def test_class_balanced_batches_composition_and_determinism():
    y = np.repeat(["a", "b", "c", "d", "e", "f", "g"], [30, 12, 3, 20, 20, 8, 40])
    B = metric.class_balanced_batches(y, classes_per_batch=3, per_class=4, seed=5)
    assert B.shape == (int(np.ceil(len(y) / 12)), 12)
    assert B.dtype.kind == "i" and B.min() >= 0 and B.max() < len(y)
    appearances = Counter()
    for row in B:
        counts = Counter(y[row])
        assert len(counts) == 3 and set(counts.values()) == {4}
        for cls, rows in zip(y[row][::4], row.reshape(3, 4)):
            assert (y[rows] == cls).all()
            if cls != "c":  # classes with >= 4 images: no repeats within the batch
                assert len(set(rows.tolist())) == 4
        appearances.update(counts.keys())
    assert set(appearances) == set(y)
    assert max(appearances.values()) - min(appearances.values()) <= 1
    np.testing.assert_array_equal(B, metric.class_balanced_batches(y, 3, 4, seed=5))
    assert not np.array_equal(B, metric.class_balanced_batches(y, 3, 4, seed=6))


def test_class_balanced_batches_cycles_through_images_and_few_classes():
    y = np.repeat(np.arange(3), 10)
    B = metric.class_balanced_batches(y, classes_per_batch=8, per_class=5, seed=0, n_batches=4)
    assert B.shape == (4, 15)  # only 3 classes: all of them in every batch
    for row in B:
        assert sorted(Counter(y[row]).values()) == [5, 5, 5]
    # 4 batches x 5 per class = each of a class's 10 images exactly twice
    assert set(Counter(B.ravel().tolist()).values()) == {2}
    assert len(set(B[:2].ravel().tolist())) == 30  # first pass: every image once
    with pytest.raises(ValueError):
        metric.class_balanced_batches(y, 0, 5, seed=0)


# --------------------------------------------------------------------------- head


def tiny_embedding_model(seed, dims=16, shape=(16, 16, 1)):
    """Two small convolutions, global max pooling, Dense(32), the L2-normalised head."""
    from keras import layers as L

    keras.utils.set_random_seed(seed)
    inp = keras.Input(shape=shape, name="image")
    x = L.Conv2D(16, 3, activation="relu", padding="same")(inp)
    x = L.Conv2D(16, 3, activation="relu", padding="same")(x)
    x = L.GlobalMaxPooling2D()(x)
    x = L.Dense(32, activation="relu")(x)
    out = metric.add_embedding_head(x, dims, seed=seed)
    return keras.Model(inp, out, name="metric_test")


def test_l2normalize_unit_norm_and_save_load(tmp_path):
    rng = np.random.default_rng(0)
    out = metric.L2Normalize()(rng.normal(size=(5, 7)).astype(np.float32) * 10)
    np.testing.assert_allclose(np.linalg.norm(np.asarray(out), axis=1), 1.0, atol=1e-6)
    assert np.isfinite(np.asarray(metric.L2Normalize()(np.zeros((2, 3), np.float32)))).all()

    model = tiny_embedding_model(seed=1)
    assert model.output.name and model.get_layer("penultimate").output.shape[-1] == 16
    model.compile(optimizer="adam", loss=metric.make_loss("triplet", 0.3))
    x = rng.uniform(0, 1, size=(8, 16, 16, 1)).astype(np.float32)
    y = np.repeat(np.arange(4), 2)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)  # builds the optimizer's state, saved with the model
    E = model.predict(x, verbose=0)
    np.testing.assert_allclose(np.linalg.norm(E, axis=1), 1.0, atol=1e-5)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path)  # no custom_objects
    np.testing.assert_allclose(loaded.predict(x, verbose=0), E, atol=1e-6)
    assert isinstance(loaded.get_layer("penultimate"), metric.L2Normalize)
    assert isinstance(loaded.loss, metric.TripletSemiHardLoss) and loaded.loss.margin == pytest.approx(0.3)
    # training continues from the restored optimizer state exactly as the original would
    keras.utils.set_random_seed(0)
    a = model.fit(x, y, batch_size=8, epochs=1, verbose=0).history["loss"][0]
    keras.utils.set_random_seed(0)
    b = loaded.fit(x, y, batch_size=8, epochs=1, verbose=0).history["loss"][0]
    assert a == pytest.approx(b, abs=1e-6)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)


# --------------------------------------------------------------------------- classifiers


def test_nearest_centroid_and_mlp():
    rng = np.random.default_rng(2)
    centres = unit(rng, 3, 8) * 3
    y = np.repeat(np.array(["x", "y", "z"]), 200)
    E = centres[np.repeat(np.arange(3), 200)] + 0.3 * rng.normal(size=(600, 8))
    C, classes = metric.nearest_centroid_fit(E[::2], y[::2])
    assert C.shape == (3, 8) and list(classes) == ["x", "y", "z"]
    for m in ("euclidean", "cosine"):
        assert (metric.nearest_centroid_predict(E[1::2], C, classes, metric=m) == y[1::2]).mean() == 1.0
    assert metric.nearest_centroid_accuracy(E[::2], y[::2], E[1::2], y_eval=y[1::2]) == 1.0
    with pytest.raises(ValueError):
        metric.nearest_centroid_predict(E, C, classes, metric="manhattan")
    clf = metric.mlp_classifier(seed=0, hidden=(32,), max_iter=200)
    assert clf.early_stopping and clf.random_state == 0
    clf.fit(E[::2], y[::2])
    assert (clf.predict(E[1::2]) == y[1::2]).mean() > 0.9


# --------------------------------------------------------------------------- end to end


def bar_images(n_per_class, seed, size=16, noise=0.25):
    """4 classes: a bright 7-pixel bar, horizontal, vertical, diagonal or anti-diagonal, anywhere, in noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(-3, 4)
    xs, ys = [], []
    for c in range(4):
        for _ in range(n_per_class):
            img = rng.normal(0.2, noise, size=(size, size))
            r, q = rng.integers(3, size - 3, size=2)
            rr, cc = [(np.full(7, r), q + t), (r + t, np.full(7, q)), (r + t, q + t), (r + t, q - t)][c]
            img[rr, cc] += 0.8
            xs.append(np.clip(img, 0, 1))
            ys.append(c)
    return np.asarray(xs, dtype=np.float32)[..., None], np.asarray(ys)


def test_triplet_training_separates_synthetic_classes(tmp_path):
    """The workflow's own loop (nets.train, target triplet: class-balanced batches, semi-hard mining, the
    nearest-centroid validation score that picks the checkpoint) learns an embedding that separates
    well-separated classes: nearest-centroid accuracy > 0.9 on held-out images, where the untrained
    network's is below 0.85."""
    from imagespace import nets

    x, y = bar_images(40, seed=0)
    x = (x * 255).round().astype(np.uint8)
    rng = np.random.default_rng(0)
    val = np.zeros(len(y), bool)
    for c in range(4):
        val[rng.choice(np.flatnonzero(y == c), 10, replace=False)] = True
    layers = [
        {"type": "conv", "filters": 16, "kernel": 3, "padding": "same"},
        {"type": "conv", "filters": 16, "kernel": 3, "padding": "same"},
        {"type": "globalmaxpool"},
        {"type": "dense", "units": 32},
    ]
    spec = {
        "target": "triplet",
        "triplet": {"embedding_dims": 16, "classes_per_batch": 4, "per_class": 8, "margin": 0.2},
        "optimizer": {"learning_rate": 3e-3},
        "schedule": {"type": "constant"},
    }
    model = nets.build_model(
        x.shape[1:], 4, layers, seed=1, target="triplet", triplet=spec["triplet"], optimizer=spec["optimizer"]
    )
    E0 = nets.features(model, x)
    untrained = metric.nearest_centroid_accuracy(E0[~val], y[~val], E0[val], y_eval=y[val])
    assert untrained < 0.85  # random features do not already solve it
    model, hist = nets.train(
        model,
        (x[~val], y[~val].astype(np.int32)),
        (x[val], y[val]),
        epochs=6,
        batch_size=32,
        seed=1,
        state_dir=tmp_path,
        fp="t",
        settings=spec,
    )
    assert [h["epoch"] for h in hist] == list(range(1, 7))
    assert all(np.isfinite(h["loss"]) for h in hist) and hist[-1]["loss"] < hist[0]["loss"]
    assert max(h["val_accuracy"] for h in hist) > 0.9, (untrained, hist)
    E = nets.features(model, x)
    np.testing.assert_allclose(np.linalg.norm(E, axis=1), 1.0, atol=1e-5)
    assert metric.nearest_centroid_accuracy(E[~val], y[~val], E[val], y_eval=y[val]) == pytest.approx(
        hist[-1]["val_accuracy"]
    )
    # the MLP on the embedding classifies the held-out images too
    clf = metric.mlp_classifier(seed=0, hidden=(64,), n_train=int((~val).sum())).fit(E[~val], y[~val])
    assert (clf.predict(E[val]) == y[val]).mean() > 0.9


def test_nearest_centroid_confidence_agrees_with_the_prediction():
    rng = np.random.default_rng(0)
    E_train = np.concatenate([rng.normal(c, 0.3, size=(20, 4)) for c in (0.0, 2.0, 4.0)])
    y_train = np.repeat([0, 1, 2], 20)
    E = rng.normal(2.0, 1.5, size=(50, 4))
    pred, conf = metric.nearest_centroid_with_confidence(E_train, y_train, E)
    C, classes = metric.nearest_centroid_fit(E_train, y_train)
    np.testing.assert_array_equal(pred, metric.nearest_centroid_predict(E, C, classes))
    assert ((conf >= 0) & (conf <= 1)).all()
    d = np.linalg.norm(E[:, None] - C[None], axis=2)
    d.sort(axis=1)
    np.testing.assert_allclose(conf, 1 - d[:, 0] / d[:, 1], rtol=1e-9)
