"""Rule evaluate_cnn: the chosen checkpoint as a classifier on every held-out split (metrics, confusion, mistakes)."""

import sys

from imagespace.io import load_images, load_manifest, logged_errors, read_json, setup_logging, write_json, write_table
from imagespace.nets import cnn_eval, cnn_layers, cnn_train


def main(snakemake):
    log = setup_logging(snakemake.log[0], rule_stderr=True)
    with logged_errors():
        import numpy as np

        cnn_train.configure_tensorflow(snakemake.threads)

        from imagespace import evaluation

        out, variant = snakemake.output, snakemake.wildcards.variant
        manifest = load_manifest(snakemake.input.manifest)
        images = load_images(snakemake.input.images)
        info = read_json(snakemake.input.training)
        spec = info["spec"]
        classes = info["classes"]
        y = manifest["label"].map({c: i for i, c in enumerate(classes)}).to_numpy(np.int64)
        model = cnn_layers.load_model(snakemake.input.model)
        res = cnn_eval.evaluate(
            model,
            images,
            y,
            splits=manifest["split"].to_numpy(),
            class_names=classes,
            target=info["target"],
            train_split=spec["train_split"],
            checkpoint_split=info.get("checkpoint_split"),
            seed=int(spec["seed"]),
        )
        head = res["headline_split"]
        report = {
            "variant": variant,
            "target": info["target"],
            "classes": classes,
            "headline_split": head,
            "held_out_splits": res["held_out_splits"],
            "checkpoint_split": res["checkpoint_split"],
            "train_modes": res["train_modes"],
            "classifiers": res["classifiers"],
        }
        report["warnings"] = [f"cnn {variant}: {w}" for w in res["warnings"]]
        for w in report["warnings"]:
            log.warning("%s", w)
        first = next(iter(res["predictions"]))
        pred, conf = res["predictions"][first]
        table = evaluation.mistakes_table(manifest["id"].to_numpy(), y, pred, conf, classes)
        table.insert(1, "split", manifest.set_index("id").loc[table["id"], "split"].to_numpy())
        write_table(out.predictions, table)
        title = f"{snakemake.wildcards.dataset} / {variant} ({first})"
        if head is not None:
            m = res["classifiers"][first][head]
            evaluation.plot_confusion(
                m, out.confusion, title=f"{title}, split {head}: accuracy {m['accuracy']:.3f}", normalize=True
            )
            evaluation.plot_confusion(m, out.confusion_counts, title=f"{title}, split {head} (counts)", normalize=False)
            rows = np.flatnonzero(manifest["split"].to_numpy() == head)
            evaluation.plot_confident_mistakes(
                images,
                y[rows],
                pred[rows],
                conf[rows],
                classes,
                manifest["id"].to_numpy()[rows],
                out.mistakes,
                title=f"{title}: most confident mistakes on split {head}",
                image_rows=rows,
            )
        else:
            for path in (out.confusion, out.confusion_counts, out.mistakes):
                evaluation.plot_confident_mistakes(
                    images[:0],
                    y[:0],
                    y[:0],
                    np.zeros(0),
                    classes,
                    [],
                    path,
                    title=f"{title}: no held-out split to evaluate on",
                )
            report["warnings"].append(f"cnn {variant}: no held-out split: the classifier was not evaluated")
        write_json(out.json, report)
        for name, by_split in res["classifiers"].items():
            for sp, m in by_split.items():
                log.info(
                    "%s on %s: accuracy %.4f, balanced %.4f, macro-F1 %.4f (n %d)",
                    name,
                    sp,
                    m["accuracy"],
                    m["balanced_accuracy"],
                    m["macro_f1"],
                    m["n"],
                )
        log.info(
            "training split: accuracy %.4f in inference mode, %.4f in training mode",
            res["train_modes"]["inference"],
            res["train_modes"]["training"],
        )


if __name__ == "__main__":
    if "snakemake" not in globals():  # started by hand: the job's inputs, outputs and params from the workflow
        from imagespace.mock import from_command_line

        snakemake = from_command_line(__file__, sys.argv[1:])
    main(snakemake)  # noqa: F821
