"""The registry's settings part: each stage's settings for a dataset, its variants, its images' size, and which
dataset's models it uses (``predict_human_space_from``)."""

from __future__ import annotations

from pathlib import Path

from imagespace import config as iscfg
from imagespace.nets.backbone_table import BACKBONES
from imagespace.nets.backbone_table import feature_set as backbone_set

from ._base import AUTO_BACKBONES, TORCH_HOW, RegistryError, overridden


class Settings:
    """Settings of a dataset's stages and variants (a part of :class:`~imagespace.featuresets.Registry`)."""

    config: dict
    torch: bool

    def cnn_backbones(self, dataset: str, variant: str) -> dict[str, dict]:
        """The keras.applications backbones a CNN variant's layers use: name -> its backbones.<name> settings."""
        from imagespace.nets.cnn_layers import backbone_layers

        return {
            b: self.backbone_spec(dataset, b) for b in backbone_layers(self.cnn_spec(dataset, variant)["architecture"])
        }

    def stage(self, dataset: str, name: str) -> dict:
        """The effective settings of a stage for a dataset, merged once per registry (read them, never modify)."""
        cache = self.__dict__.setdefault("_stages", {})
        if (dataset, name) not in cache:
            cache[dataset, name] = iscfg.stage(self.config, dataset, name)
        return cache[dataset, name]

    def human_splits(self, dataset: str) -> dict:
        return iscfg.canonical(iscfg.human_splits(self.config, dataset))

    def human_dims(self, dataset: str) -> int | None:
        """Number of columns of the dataset's human space(s), read from the files at DAG time.

        An unreadable file gives None here (the default k is used) so that the rest
        of the workflow still runs; its human_space job then fails naming the file.
        """
        from imagespace.io import InputError

        dims = set()
        for split, spec in self.human_splits(dataset).items():
            if spec.get("builtin"):
                dims.add(int(spec["dims"]))
                continue
            path = Path(spec["path"])
            if not path.is_file():
                continue  # the human rule reports the missing file
            from imagespace.human import read_matrix

            try:
                df = read_matrix(path, spec)
            except InputError:
                continue
            dims.add(df.shape[1] - (1 if spec.get("id_column") else 0))
        if len(dims) > 1:
            raise RegistryError(
                f"datasets.{dataset}.human: the splits' spaces have different dimensions {sorted(dims)}"
            )
        return dims.pop() if dims else None

    def n_components(self, dataset: str) -> int:
        """k for the k-D embeddings: configured, or the human space's dimensionality, or 8."""
        k = self.stage(dataset, "embeddings")["n_components"]
        if k == "auto":
            return self.human_dims(dataset) or 8
        return int(k)

    def embedding_methods(self, dataset: str) -> list[str]:
        return list(self.stage(dataset, "embeddings")["methods"])

    def map_methods(self, dataset: str) -> list[str]:
        return ["pca"] + self.embedding_methods(dataset)

    def cnn_variants(self, dataset: str) -> list[str]:
        """CNN variants trained for a dataset (each is also the name of its feature set)."""
        c = self.stage(dataset, "cnn")
        return list(c["variants"]) if c["enabled"] else []

    def cnn_spec(self, dataset: str, variant: str) -> dict:
        """Settings of one CNN variant: the cnn block overridden by the variant's own keys."""
        c = self.stage(dataset, "cnn")
        return overridden(c, c["variants"][variant], drop=("variants", "enabled", "cluster_methods"))

    def stats_sets(self, dataset: str) -> list[tuple[str, str | None]]:
        """(feature set, variant or None) of the image statistics: stats, stats_<variant> (stats.variants)."""
        st = self.stage(dataset, "stats")
        if not st["enabled"]:
            return []
        # a dataset predicted from another describes its images as that one does: its variants
        st = self.stage(self.model_owner(dataset), "stats")
        for v, over in (st.get("variants") or {}).items():
            bad = sorted(set(over) - {"size", "groups"})
            if bad:
                raise RegistryError(
                    f"datasets.{dataset}: stats.variants.{v}: {bad} cannot be set per variant (only size and groups)"
                )
        return [("stats", None)] + [(f"stats_{v}", v) for v in st.get("variants") or {}]

    def stats_spec(self, dataset: str, variant: str | None = None) -> dict:
        """Settings of the image statistics (stats), or of variant *variant* (stats.variants.<variant>)."""
        st = self.stage(dataset, "stats")
        return overridden(st, st["variants"][variant] if variant is not None else None)

    def backbones(self, dataset: str) -> list[str]:
        """Pretrained backbones computed for a dataset (feature sets bb_<name>): backbones.enabled, where ``auto``
        (the default) is :data:`AUTO_BACKBONES` for images of at least backbones.min_side px; PyTorch backbones
        only where PyTorch is installed (:meth:`backbone_notes` says what was skipped and why)."""
        return self._backbone_choice(dataset)[0]

    def backbone_notes(self, dataset: str) -> list[str]:
        """One line per reason a backbone of backbones.enabled is not computed for *dataset* (summary notes)."""
        return self._backbone_choice(dataset)[1]

    def _backbone_choice(self, dataset: str) -> tuple[list[str], list[str]]:
        b = self.stage(dataset, "backbones")
        enabled, notes = b["enabled"], []
        if enabled == "auto":
            side = self.image_min_side(dataset)
            if side is not None and side < b["min_side"]:
                return [], [
                    f"backbone {', '.join(AUTO_BACKBONES)} (a default feature set) skipped: the images are {side} px "
                    f"on their smaller side, under backbones.min_side {b['min_side']}"
                ]
            enabled = list(AUTO_BACKBONES)
        torchless = [] if self.torch else [n for n in enabled if BACKBONES[n].framework == "torch"]
        if torchless:
            notes.append(f"backbone {', '.join(torchless)} skipped: PyTorch is not installed; {TORCH_HOW}")
        return [n for n in enabled if n not in torchless], notes

    def image_hw(self, dataset: str) -> tuple[int, int] | None:
        """(height, width) of the dataset's ingested images, known at parse time: images.size (a dataset that
        predicts from another inherits its images block), or with size null the source's native size
        (synthetic: source.size; sklearn_digits: 8; npz, pixel_csv: source.shape); None where only the files
        know it (image folders and CSV manifests at native size)."""
        ds = self.config["datasets"][dataset]
        p = self.prediction_source(dataset)
        own = ds.get("images") or {}
        images = iscfg.deep_merge(self.config["datasets"][p[0]].get("images") or {}, own) if p else own
        size = iscfg.image_options(images)["size"]
        if size is not None:
            return size
        src = ds["source"]
        if src["type"] == "sklearn_digits":
            return (8, 8)
        if src["type"] == "synthetic":
            from inspect import signature

            from imagespace.ingest.synthetic import generate

            side = int(src.get("size", signature(generate).parameters["size"].default))
            return (side, side)
        if src["type"] in ("npz", "pixel_csv") and src.get("shape"):
            return (int(src["shape"][0]), int(src["shape"][1]))
        return None

    def image_min_side(self, dataset: str) -> int | None:
        """The smaller side (px) of the dataset's ingested images where :meth:`image_hw` knows it, else None."""
        hw = self.image_hw(dataset)
        return min(hw) if hw else None

    def backbone_spec(self, dataset: str, name: str, variant: str | None = None) -> dict:
        """Settings of one backbone (backbones.<name>, after the dataset's overrides), or of one of its variants
        (those settings overridden by backbones.<name>.variants.<variant>); without the variants key."""
        block = self.stage(dataset, "backbones")[name]
        return overridden(block, block["variants"][variant] if variant is not None else None)

    def backbone_sets(self, dataset: str) -> list[tuple[str, str, str | None]]:
        """(feature set, backbone, variant or None) of every backbone feature set: bb_<name>, bb_<name>_<variant>."""
        out = []
        owner = self.model_owner(dataset)  # a dataset predicted from another runs that one's settings and variants
        for b in self.backbones(dataset):
            out.append((backbone_set(b), b, None))
            variants = self.stage(owner, "backbones")[b].get("variants") or {}
            for v, over in variants.items():
                bad = sorted(
                    set(over)
                    & (
                        {"weights", "weights_path", "include_top", "variants"}
                        | ({"size"} if BACKBONES[b].framework == "keras" else set())
                    )
                )
                if bad:
                    raise RegistryError(
                        f"datasets.{dataset}: backbones.{b}.variants.{v}: {bad} cannot differ between "
                        "variants (the weights are per network); make it another backbone"
                    )
                out.append((f"{backbone_set(b)}_{v}", b, v))
        return out

    def finetune_variants(self, dataset: str) -> list[str]:
        """Fine-tuned network variants trained for a dataset (each is also the name of its feature set); none for a
        dataset predicted from another (it applies that one's networks, :meth:`transferred`)."""
        f = self.stage(dataset, "finetune")
        if not f["enabled"] or self.prediction_source(dataset) is not None:
            return []
        return list(f["variants"])

    def finetune_spec(self, dataset: str, variant: str) -> dict:
        """Settings of one fine-tuning variant: the finetune block overridden by the variant's own keys
        (enabled and variants removed: imagespace.nets.finetune.settings rejects unknown keys)."""
        f = self.stage(dataset, "finetune")
        return overridden(f, f["variants"][variant], drop=("variants", "enabled"))

    def trained_on_human_cnn(self, dataset: str, fs: str) -> bool:
        """A CNN variant of the dataset trained on the human space (target human or joint)."""
        return fs in self.cnn_variants(dataset) and self.cnn_spec(dataset, fs)["target"] in ("human", "joint")

    def evaluated_cnns(self, dataset: str) -> list[str]:
        """CNN variants evaluated as classifiers (class, joint and triplet targets)."""
        return [
            v
            for v in self.cnn_variants(dataset)
            if self.cnn_spec(dataset, v)["target"] in ("class", "joint", "triplet")
        ]

    # ------------------------------------------------------------ applying another dataset's models
    def prediction_source(self, dataset: str):
        """(source dataset, requested feature sets or None) for a dataset with predict_human_space_from, else None."""
        datasets = self.config["datasets"]
        p = datasets[dataset].get("predict_human_space_from")
        if p is None:
            return None
        if isinstance(p, str):
            p = {"dataset": p}
        src = p["dataset"]
        if src not in datasets or src == dataset:
            raise RegistryError(
                f"datasets.{dataset}.predict_human_space_from: {src!r} is not another dataset "
                f"(datasets: {sorted(datasets)})"
            )
        if datasets[src].get("predict_human_space_from"):
            raise RegistryError(
                f"datasets.{dataset}.predict_human_space_from: its source {src!r} itself predicts from another "
                "dataset; name that one"
            )
        return src, p.get("feature_sets")

    def model_owner(self, dataset: str) -> str:
        """The dataset whose fitted models (CNNs, maps, stats settings) a dataset's features use."""
        p = self.prediction_source(dataset)
        return p[0] if p else dataset
