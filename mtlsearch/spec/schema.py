"""The root ``Spec``: the sections composed into one schema, and the checks that span sections.

A spec is an experiment name, seed, storage, dataset, model, train, named
groupings, grouping methods, search and evaluation; the cross-field validators
check what one section says about another (searched encoder names, hidden_dim
needing an mlp, static weights needing the static weighting, soft dimensions
needing soft sharing, grouped architectures needing a grouping).
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator

from mtlsearch.spec.encoders import DEFAULT_ENCODER, ModelSpec
from mtlsearch.spec.names import GROUPED_ARCHITECTURES, PLANTED, Strict
from mtlsearch.spec.settings import DatasetSpec, EvaluationSpec, GroupingMethodsSpec, SearchSpec, TrainSpec


class Spec(Strict):
    experiment: str
    plugins: list[str] = Field(
        default_factory=list,
        description="plugin modules to import first: module names, or .py files (relative to the spec's folder)",
    )
    seed: int = 0
    storage: str = "./mtlsearch_results"
    dataset: DatasetSpec
    model: ModelSpec = Field(default_factory=ModelSpec)
    train: TrainSpec = Field(default_factory=TrainSpec)
    groupings: dict[str, list[list[str]]] = Field(default_factory=dict)
    grouping_methods: GroupingMethodsSpec = Field(default_factory=GroupingMethodsSpec)
    search: SearchSpec
    evaluation: EvaluationSpec = Field(default_factory=EvaluationSpec)

    @field_validator("experiment")
    @classmethod
    def _name(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}", v):
            raise ValueError(f"experiment names use letters, digits, '_', '.', '-' (got {v!r})")
        return v

    def searched_encoders(self) -> list[str]:
        """The encoder names trials may use (``default`` alone when the encoder is not searched)."""
        dim = self.search.space.encoder
        return list(dim.choice) if dim is not None else [DEFAULT_ENCODER]

    @model_validator(mode="after")
    def _encoder_names(self) -> "Spec":
        known = [DEFAULT_ENCODER, *self.model.encoders]
        unknown = [n for n in self.searched_encoders() if n not in known]
        if unknown:
            raise ValueError(
                f"search.space.encoder names {unknown[0]!r}, which is not defined under model.encoders "
                f"(expected some of {known}; '{DEFAULT_ENCODER}' is model.encoder)"
            )
        return self

    @model_validator(mode="after")
    def _inputs_not_searched(self) -> "Spec":
        if self.model.inputs is not None and self.search.space.encoder is not None:
            raise ValueError(
                "search.space.encoder chooses among single-input encoders (model.encoders); with model.inputs "
                "(multimodal) each input has its encoder: remove search.space.encoder, or model.inputs"
            )
        return self

    @model_validator(mode="after")
    def _hidden_dim_needs_mlp(self) -> "Spec":
        types = {self.model.named(n).type for n in self.searched_encoders()}
        if self.model.inputs is not None:  # hidden_dim sets the widths of the mlp input encoders
            types = {e.type for e in self.model.inputs.values()}
        if self.search.space.hidden_dim is not None and "mlp" not in types:
            raise ValueError(
                f"search.space.hidden_dim sets the widths of an mlp encoder's hidden_dims; the searched encoders are "
                f"{sorted(types)} (remove hidden_dim, or open dropout, lr, ... instead)"
            )
        return self

    def searched_weightings(self) -> list[str]:
        """The weighting names trials may use (``train.weighting`` alone when not searched)."""
        dim = self.search.space.weighting
        return list(dim.choice) if dim is not None else [self.train.weighting.name]

    @model_validator(mode="after")
    def _static_weights_need_static(self) -> "Spec":
        if self.search.space.static_weights is not None and "static" not in self.searched_weightings():
            raise ValueError(
                "search.space.static_weights samples the weights of the 'static' weighting, which no trial uses "
                f"(the trials' weightings: {self.searched_weightings()}); set train.weighting: {{name: static}} "
                "or add static to search.space.weighting"
            )
        return self

    def searched_sharing(self) -> list[str]:
        """The sharing modes trials may use (``model.sharing`` alone when not searched)."""
        dim = self.search.space.sharing
        return list(dim.choice) if dim is not None else [self.model.sharing]

    @model_validator(mode="after")
    def _soft_dimensions_need_soft(self) -> "Spec":
        space = self.search.space
        opened = [n for n in ("soft_lambda", "soft_layers") if getattr(space, n) is not None]
        if opened and "soft" not in self.searched_sharing():
            raise ValueError(
                f"search.space.{opened[0]} is sampled only for soft-sharing trials, and no trial shares softly "
                f"(the trials' sharing: {self.searched_sharing()}); add soft to search.space.sharing or set model.sharing: soft"
            )
        return self

    def searched_attention(self) -> list[bool]:
        """Whether trials may have cross-task attention (``model.cross_task_attention`` alone when not searched)."""
        dim = self.search.space.cross_task_attention
        return list(dim.choice) if dim is not None else [self.model.cross_task_attention]

    @model_validator(mode="after")
    def _attention_gamma_needs_attention(self) -> "Spec":
        if self.search.space.attention_gamma is not None and True not in self.searched_attention():
            raise ValueError(
                "search.space.attention_gamma is sampled only for trials with cross-task attention, and no trial has it "
                f"(the trials' cross_task_attention: {self.searched_attention()}); add true to "
                "search.space.cross_task_attention or set model.cross_task_attention: true"
            )
        return self

    @model_validator(mode="after")
    def _groupings(self) -> "Spec":
        space = self.search.space
        archs = space.architecture.choice if space.architecture else ["MTL"]
        grouping = space.grouping_space()
        if grouping is not None:
            for name in grouping.manual_names():
                if name != PLANTED and name not in self.groupings:
                    raise ValueError(
                        f"search.space.grouping names {name!r}, which is not defined under 'groupings' "
                        f"(defined: {sorted(self.groupings) or 'none'}; '{PLANTED}' means the dataset's planted groups)"
                    )
        elif GROUPED_ARCHITECTURES & set(archs):
            raise ValueError(
                "grouped architectures (GMHL, GMTL) need search.space.grouping: {choice: [grouping names]} "
                "or {method: {choice: [embedding, affinity, ...]}, k: {int: [2, 5]}}"
            )
        return self
