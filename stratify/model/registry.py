"""The model registry: a trained model saved beside its card, recorded in `models`, the promoted one read back.

A saved model is a joblib file holding a plain dict (`ModelBundle.to_dict`,
format `MODEL_FORMAT`) written by this scikit-learn; reading it back gives a
`ModelBundle` or a `ModelError` that says what to do (restore the file,
train again). Only one model is promoted at a time: the one the nightly run
scores with.

A joblib file is a pickle, and unpickling runs code. So the sha256 of each
file is recorded in `models` when it is registered, and a file is read only
if its bytes have that digest: they are read once, checked, and only then
unpickled (from the bytes checked, not from the file again). A model
registered without a digest is refused too: train again.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field, fields, replace
from datetime import date
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import sklearn

from stratify.config import PlaceConfig
from stratify.errors import ModelError
from stratify.files.permissions import make_private_dir, private_umask, restrict
from stratify.model.card import write_model_card
from stratify.model.compat import record_versions, running_versions
from stratify.model.past_lists import answer_training_flags, card_history
from stratify.run.audit import now_utc
from stratify.warehouse.database import connect, fetch_one

MODEL_FORMAT = 1




@dataclass(frozen=True)
class ModelBundle:
    """A trained wobbling model and what it needs to score and explain: as saved, and as registered."""

    model: Any  # a fitted scikit-learn classifier with `predict_proba`
    algorithm: str  # the candidate chosen (`train.candidates`)
    feature_columns: tuple[str, ...]  # the model's features, in the order of its input columns
    reference: np.ndarray  # a typical person's feature values (the fitting rows' medians), for reasons
    horizon_months: int
    as_of: str  # ISO dates: trained as history was known on `as_of`, from snapshots `data_from`..`data_to`
    data_from: str
    data_to: str
    metrics: dict  # every figure measured on the held-out period (`train._train_model`)
    model_version: str = ""  # set when registered (`register`)
    promotion: dict = field(default_factory=dict)  # {"promote": bool, "why": str}, set when registered
    sklearn_version: str = sklearn.__version__
    format: int = MODEL_FORMAT

    def to_dict(self) -> dict[str, Any]:
        """What is saved: a plain dict (a file that names no class of stratify's), feature columns as a list."""
        saved = {f.name: getattr(self, f.name) for f in fields(self)}
        saved["feature_columns"] = list(self.feature_columns)
        return saved

    @classmethod
    def from_dict(cls, saved: dict[str, Any]) -> ModelBundle:
        names = {f.name for f in fields(cls)}
        missing = sorted(names - set(saved) - {"promotion"})
        if missing:
            raise KeyError(", ".join(missing))
        values = {k: v for k, v in saved.items() if k in names}
        values["feature_columns"] = tuple(values["feature_columns"])
        return cls(**values)


def model_version(bundle: ModelBundle) -> str:
    """`<as_of>-<algorithm>-<digest of the metrics>`: the same data and code give the same version."""
    digest = hashlib.sha256(json.dumps(bundle.metrics, sort_keys=True).encode()).hexdigest()[:8]
    return f"{bundle.as_of.replace('-', '')}-{bundle.algorithm[:3]}-{digest}"


def register(cfg: PlaceConfig, bundle: ModelBundle, decision: dict) -> dict:
    """Save a trained bundle and its model card, record it with its file's sha256, promote it if `decision` says so.

    The same data and code give the same version: a version already
    registered keeps its record and promotion; its file is written again
    only if it is missing or no longer has the recorded digest (it was just
    trained from the warehouse, so it is the model that version names).
    """
    version = model_version(bundle)
    bundle = replace(bundle, model_version=version, promotion=decision)
    path = cfg.models / f"wobbling-{version}.joblib"
    with connect(cfg) as con:
        existing = fetch_one(con, "SELECT promoted, sha256 FROM models WHERE model_version = $1", [version])
    if existing is not None:  # the same data gave the same model: nothing new to register
        promoted, recorded = existing
        if recorded is None or not path.is_file() or file_sha256(path) != recorded:
            digest = _save(cfg, bundle, path)
            with connect(cfg) as con:
                con.execute("UPDATE models SET sha256 = $1, path = $2 WHERE model_version = $3",
                            [digest, str(path), version])
        return {"model_version": version, "promoted": promoted, "why": "already registered", "path": str(path),
                "model_card": str(path.with_suffix(".html")), "metrics": bundle.metrics}
    digest = _save(cfg, bundle, path)
    with connect(cfg) as con:  # how the lists before this model fared, and the flags they raised, for its card
        history = card_history(con, cfg.model.horizon_months, cfg.suppression.min_count,
                               cfg.measures.precision_margin, date.fromisoformat(bundle.as_of))
    with private_umask():
        card = write_model_card(cfg, bundle, path.with_suffix(".html"), history)
        restrict(card)
    with connect(cfg) as con:
        con.begin()
        if decision["promote"]:
            con.execute("UPDATE models SET promoted = false WHERE promoted")
        con.execute(
            "INSERT INTO models (model_version, trained_at, as_of, data_from, data_to, horizon_months, algorithm, "
            "path, metrics_json, promoted, sha256) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            [version, now_utc(), date.fromisoformat(bundle.as_of), date.fromisoformat(bundle.data_from),
             date.fromisoformat(bundle.data_to), bundle.horizon_months, bundle.algorithm, str(path),
             json.dumps(bundle.metrics, sort_keys=True), decision["promote"], digest],
        )
        if decision["promote"]:  # a model the nights will use takes in the flags past lists raised
            answer_training_flags(con, version)
        con.commit()
    return {"model_version": version, "promoted": decision["promote"], "why": decision["why"],
            "path": str(path), "model_card": str(card), "metrics": bundle.metrics,
            "training_flags": [f["reason"] for f in history["flags"]]}


def _save(cfg: PlaceConfig, bundle: ModelBundle, path: Path) -> str:
    """Write the bundle to `path` atomically; the sha256 of the bytes written."""
    make_private_dir(cfg.models)
    tmp = path.with_suffix(".tmp")
    with private_umask():  # joblib creates the file itself: 0o640 whatever the umask
        joblib.dump(bundle.to_dict(), tmp)
        restrict(tmp)
    digest = file_sha256(tmp)
    tmp.replace(path)
    record_versions(path, running_versions())  # beside the bundle: checked before a night, without unpickling
    return digest


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_promoted(cfg: PlaceConfig, strict: bool = True) -> ModelBundle | None:
    """The promoted model bundle, None if none was ever trained; errors say what to do.

    With `strict=False` an unusable promoted model counts as none (training
    a replacement must not fail because the old one cannot be read).
    """
    with connect(cfg) as con:
        row = fetch_one(con, "SELECT model_version, path, sha256 FROM models WHERE promoted")
    if row is None:
        return None
    version, path, digest = row
    try:
        return read_bundle(version, Path(path), digest)
    except ModelError:
        if strict:
            raise
        return None


def read_bundle(version: str, path: Path, sha256: str | None) -> ModelBundle:
    """Load a saved model whose bytes have the digest `sha256` recorded for it, refusing any other file.

    The digest is checked before anything is unpickled; then the saved dict
    must be this installation's model format and scikit-learn version.
    """
    if not path.exists():
        raise ModelError(f"the promoted model {version} is missing at {path}; restore it or run `stratify train`")
    if sha256 is None:
        raise ModelError(f"the model {version} at {path} was registered without a sha256 digest, so it cannot be "
                         "checked before it is loaded (loading a model file runs code); it was not loaded: "
                         "run `stratify train` to register a model with its digest")
    data = path.read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256:
        raise ModelError(f"the model file {path} (model {version}) is not the file that was registered: its "
                         f"sha256 is {actual[:16]}..., {sha256[:16]}... was recorded. It was not loaded (loading a "
                         "model file runs code). Find out who changed it (who can write to "
                         f"{path.parent}?), then restore the registered file or run `stratify train`")
    try:
        saved = joblib.load(io.BytesIO(data))
    except Exception as exc:  # unpickling errors come in many types
        raise ModelError(f"the promoted model {version} at {path} cannot be read ({exc}); run `stratify train`") from exc
    if not isinstance(saved, dict) or saved.get("format") != MODEL_FORMAT or saved.get("sklearn_version") != sklearn.__version__:
        got = saved.get("sklearn_version") if isinstance(saved, dict) else "unknown"
        fmt = saved.get("format") if isinstance(saved, dict) else "unknown"
        raise ModelError(
            f"the promoted model {version} at {path} was saved by scikit-learn {got} in model format {fmt}; "
            f"this installation has scikit-learn {sklearn.__version__} and reads model format {MODEL_FORMAT}: "
            "run `stratify train`"
        )
    try:
        return ModelBundle.from_dict(saved)
    except (KeyError, TypeError) as exc:
        raise ModelError(f"the promoted model {version} at {path} cannot be read (it lacks {exc}); "
                         "run `stratify train`") from exc



def run_model(cfg: PlaceConfig, run_id: str) -> ModelBundle | None:
    """The model a run scored with (`runs.model_version`, set by the score stage), None if it used none."""
    with connect(cfg) as con:
        row = fetch_one(con, "SELECT m.model_version, m.path, m.sha256 FROM runs r JOIN models m USING (model_version) "
                             "WHERE r.run_id = $1", [run_id])
    return None if row is None else read_bundle(row[0], Path(row[1]), row[2])
