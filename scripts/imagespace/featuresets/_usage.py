"""The registry's usage part: which feature sets each stage uses (compare, clustering, probes, retrieval, explore)
and which splits a set has rows for."""

from __future__ import annotations

from imagespace.embed import METHODS as EMBEDDINGS
from imagespace.nets.backbone_table import BACKBONES
from imagespace.nets.backbone_table import feature_set as backbone_set

from ._base import ENS, KEYWORD_KINDS, KEYWORDS, PRED, FeatureSet, RegistryError, hint


class Usage:
    """Which sets each stage uses (a part of :class:`~imagespace.featuresets.Registry`)."""

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
                    f"datasets.{dataset}: {key}: {fs!r} is not a feature set{hint(fs, sorted(possible))} "
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
                    f"(available: {list(sets)}){hint(fs, list(sets))}"
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
