"""The registry: every dataset's feature sets, built once from a validated configuration, its problems raised at
start-up."""

from __future__ import annotations

from ._base import FeatureSet, RegistryError, torch_available
from ._sets import Sets
from ._settings import Settings
from ._usage import Usage


class Registry(Settings, Sets, Usage):
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
        """Every CNN variant's layer list: known layer types and keys, a backbone layer first
        (imagespace.nets.cnn_layers)."""
        from imagespace.nets.cnn_layers import check_architecture, spatial_problem

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

    def _check_kd_embeddings(self, dataset: str) -> None:
        """A method limited to a few dimensions (openTSNE: 3) cannot give a k-D feature set that a stage asks for."""
        from imagespace.embed import METHODS as methods

        capped = self._capped(dataset)
        for m in self.kd_embeddings(dataset):
            if m in capped:
                k, cap = self.n_components(dataset), methods[m].max_components
                raise RegistryError(
                    f"datasets.{dataset}: embedding {m!r} is named as a {k}-D feature set (in compare, clustering, "
                    f"probes or retrieval: feature_sets), but {m} embeds into at most {cap} dimensions: drop it from "
                    f"those lists (its 2-D map is drawn anyway; `all` leaves it out), or set embeddings.n_components "
                    f"to {cap} or less"
                )
