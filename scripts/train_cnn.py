"""Rule train_cnn: train one CNN variant with per-epoch checkpoints; resumes after a kill."""

import sys

from imagespace.io import (
    load_human_table,
    load_images,
    load_manifest,
    logged_errors,
    natural_key,
    setup_logging,
    write_json,
    write_table,
    write_text,
)
from imagespace.nets import cnn_data, cnn_features, cnn_layers, cnn_schedule, cnn_train


def main(snakemake):
    log = setup_logging(snakemake.log[0], rule_stderr=True)
    with logged_errors():
        import json
        import shutil
        import time
        from pathlib import Path

        import numpy as np
        import pandas as pd

        spec, out = snakemake.params.spec, snakemake.output
        device = cnn_train.configure_tensorflow(snakemake.threads)
        manifest = load_manifest(snakemake.input.manifest)
        images = load_images(snakemake.input.images)
        target = spec["target"]
        classes = sorted(manifest["label"].unique(), key=natural_key)  # "2" before "10", as the summary lists them
        y = manifest["label"].map({c: i for i, c in enumerate(classes)}).to_numpy(np.int32)
        human = load_human_table(snakemake.input.human_train) if "human_train" in snakemake.input.keys() else None
        t = cnn_data.training_targets(manifest, y, spec, human=human)
        train, val, y_train, y_val, how = t["train"], t["val"], t["y_train"], t["y_val"], t["how"]
        checkpoint_split, human_stats = t["checkpoint_split"], t["human_stats"]
        x_train, x_val = np.asarray(images[train]), np.asarray(images[val])
        # a backbone layer (transfer learning): its settings and weights file (weights_path, or the Keras cache file
        # rule backbone_weights recorded)
        bbs, weights = {}, []
        for name, bspec in (snakemake.params.backbones or {}).items():
            w = snakemake.input.get(f"weights_{name}")
            cached = json.loads(Path(w).read_text())["path"] if (w and not bspec["weights_path"]) else None
            bbs[name] = (bspec, cached)
            weights += [w] if w else []
        log.info(
            "target %s: training on %d images, validating on %d (%s); classes %s",
            target,
            len(train),
            len(val),
            how,
            classes,
        )
        model = cnn_layers.build_model(
            images.shape[1:],
            len(classes),
            spec["architecture"],
            seed=spec["seed"],
            l2=spec["l2"],
            augment=spec["augment"],
            optimizer=spec["optimizer"],
            target=target,
            human_dims=human_stats.get("dims", 0),
            human_weight=float(spec["human_weight"]),
            triplet=spec.get("triplet"),
            backbones=bbs,
        )
        counts = cnn_layers.count_parameters(model)
        write_text(out.summary, cnn_layers.model_summary(model) + "\n")
        # what makes checkpoints reusable: not the epoch count (more epochs continue, fewer stop early) nor
        # the metric that picks the checkpoint; yes the settings, inputs, and the code (library + this script)
        fp_spec = {k: v for k, v in spec.items() if k not in ("epochs", "monitor", "early_stopping")}
        script_src = Path(snakemake.scriptdir) / "train_cnn.py"
        fp = cnn_train.fingerprint(
            fp_spec,
            snakemake.input.images,
            snakemake.input.manifest,
            classes,
            script_src.read_bytes(),
            {b: s for b, (s, _) in bbs.items()},
            *weights,
        )
        t0 = time.perf_counter()
        model, history = cnn_train.train(
            model,
            (x_train, y_train),
            (x_val, y_val),
            epochs=spec["epochs"],
            batch_size=spec["batch_size"],
            seed=spec["seed"],
            state_dir=Path(snakemake.params.state_dir),
            fp=fp,
            monitor=spec["monitor"],
            settings=spec,
        )
        wall = time.perf_counter() - t0
        best, why = cnn_schedule.choose_epoch(history, spec["monitor"])
        state = Path(snakemake.params.state_dir)
        chosen = state / f"epoch_{best:03d}.keras"
        shutil.copyfile(chosen, out.model + ".tmp.keras")
        Path(out.model + ".tmp.keras").replace(out.model)
        hist = pd.DataFrame(history)
        write_table(out.history, hist)
        write_table(
            out.checkpoints,
            pd.DataFrame(
                {
                    "epoch": hist["epoch"],
                    "path": [str(state / f"epoch_{e:03d}.keras") for e in hist["epoch"]],
                    "chosen": hist["epoch"] == best,
                }
            ),
        )
        cnn_features.plot_curves(
            history, best, out.curves, title=f"{snakemake.wildcards.dataset} / {snakemake.wildcards.variant}: {why}"
        )
        row = history[best - 1]
        info = {
            "variant": snakemake.wildcards.variant,
            "device": device,
            "classes": classes,
            "n_train": len(train),
            "n_val": len(val),
            "validation": how,
            "checkpoint_split": checkpoint_split,
            "best_epoch": best,
            "why": why,
            "epochs_run": len(history),
            "target": target,
            "human_stats": human_stats,
            "val_accuracy": row.get("val_accuracy", row.get("val_output_accuracy")),
            "val_loss": row.get("val_loss"),
            "train_accuracy": row.get("accuracy", row.get("output_accuracy")),
            "stopped_early": len(history) < spec["epochs"],
            "learning_rate_final": row.get("learning_rate"),
            "nan_loss": bool(any(not np.isfinite(h.get("loss", 0.0)) for h in history)),
            "train_seconds": float(sum(h["seconds"] for h in history)),
            "wall_seconds_this_run": wall,
            **counts,
            "spec": spec,
        }
        write_json(out.info, info)
        log.info("chosen checkpoint: epoch %d (%s)", best, why)


if __name__ == "__main__":
    if "snakemake" not in globals():  # started by hand: the job's inputs, outputs and params from the workflow
        from imagespace.mock import from_command_line

        snakemake = from_command_line(__file__, sys.argv[1:])
    main(snakemake)  # noqa: F821
