"""The registry's sets part: which feature sets a dataset has (its own, and those computed with another dataset's
models), and which of them were fitted on a split."""

from __future__ import annotations

from imagespace.embed import TRANSFORMS
from imagespace.nets.backbone_table import rule as backbone_rule

from ._base import ENS, PRED, FeatureSet, RegistryError, ensemble_settings, hint


class Sets:
    """The feature sets of a dataset (a part of :class:`~imagespace.featuresets.Registry`)."""

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
                    f"(those are: {candidates}){hint(fs, candidates)}"
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
        self._add_finetuned(dataset, out)
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
        self._add_ensembles(dataset, out)
        return out

    def _add_finetuned(self, dataset: str, out: dict[str, FeatureSet]) -> None:
        """The fine-tuned networks' sets, each variant's settings checked by the library at start-up."""
        for v in self.finetune_variants(dataset):
            spec = self.finetune_spec(dataset, v)
            on_human = spec["target"] == "human"
            if v in out:
                raise RegistryError(f"datasets.{dataset}.finetune.variants: {v!r} is already a feature set")
            try:  # the library's own checks, at start-up, naming the variant's key
                from imagespace.nets.finetune import FinetuneError
                from imagespace.nets.finetune import settings as finetune_settings

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

    def _add_ensembles(self, dataset: str, out: dict[str, FeatureSet]) -> None:
        """The ensembles of alignment.ensembles: members checked (sets of this dataset that predict the human
        space, no cycles), added members first, so that an ensemble of ensembles knows its members."""
        ens = {ENS + k: ensemble_settings(v) for k, v in self.stage(dataset, "alignment")["ensembles"].items()}
        names = {name: tuple(e["candidates"]) for name, e in ens.items()}
        for name, members in names.items():
            where = f"datasets.{dataset}.alignment.ensembles.{name[len(ENS) :]}"
            what = "candidate" if ens[name]["select"] == "greedy" else "member"
            for m in members:
                if m not in out and m not in names:
                    raise RegistryError(
                        f"{where}: {what} {m!r} is not a feature set of this dataset "
                        f"(available: {sorted(set(out) | set(names))}){hint(m, list(out) + list(names))}"
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
                self._check_greedy(dataset, out, name, members)
            # a greedy ensemble's training rows get weights chosen without them (nested folds,
            # imagespace.human.ensemble)
            trained = any(out[m].trained_on_human for m in members)
            out[name] = FeatureSet(
                name, "ensemble", "ensemble", members=members, select=select, human=True, trained_on_human=trained
            )
            done.add(name)

        for name in names:
            add(name)

    def _check_greedy(self, dataset: str, out: dict[str, FeatureSet], name: str, members) -> None:
        """Every candidate of a greedy ensemble is out-of-fold on the training split (its weights are chosen there)."""
        split = self.stage(dataset, "alignment")["train_split"]
        where = f"datasets.{dataset}.alignment.ensembles.{name[len(ENS) :]}"
        for m in members:
            fitted = self._fitted_why(dataset, out, m, split)
            if fitted and not out[m].trained_on_human:
                raise RegistryError(
                    f"{where}: candidate {m!r} is not out-of-fold "
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
                    f"{where}: candidate {m!r} is in-sample on the "
                    f"training split ({why}); select: greedy chooses weights on out-of-fold predictions of that split "
                    "only (human_pred_<feature set> maps, finetune variants with out_of_fold: true, or equal-weight "
                    "ensembles of them). Remove it from the "
                    "candidates, or use the list form (equal weights)"
                )

    def fitted_on(self, dataset: str, split: str) -> dict[str, str]:
        """{feature set: why}: the sets whose rows of *split* were fitted with supervision there (a CNN trained
        on that split's labels, maps and ensembles built on one), so their score on *split* is not a held-out
        score and they cannot be chosen on it (:func:`imagespace.report.select_representation`)."""
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
        of a backbone variant, what it changes), as the dataset that owns the models uses them: the summary lists
        them among its choices, as choices the workflow did not make (it chooses among the variants: the chosen
        row)."""
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
