"""The model store: which models exist (``catalog``), where they live (``store``),
how one is installed (``pull``) and checked (``verify``).

The names below are the store's interface; import them from here.
"""

from engine.models.catalog import (
    ALIASES,
    DEFAULT,
    LARGE,
    SPECS,
    ModelSpec,
    ModelStoreError,
    get_spec,
    spec_for_file,
)
from engine.models.pull import pull
from engine.models.store import (
    ENV_MODEL_DIR,
    ModelEntry,
    Progress,
    default_model_path,
    is_installed,
    list_models,
    model_dir,
    read_record,
    recorded_sha256,
    resolve_model_path,
    sha256_of,
    sidecar_path,
)
from engine.models.verify import VerifyResult, verify

__all__ = [
    "ALIASES",
    "DEFAULT",
    "ENV_MODEL_DIR",
    "LARGE",
    "SPECS",
    "ModelEntry",
    "ModelSpec",
    "ModelStoreError",
    "Progress",
    "VerifyResult",
    "default_model_path",
    "get_spec",
    "is_installed",
    "list_models",
    "model_dir",
    "pull",
    "read_record",
    "recorded_sha256",
    "resolve_model_path",
    "sha256_of",
    "sidecar_path",
    "spec_for_file",
    "verify",
]
