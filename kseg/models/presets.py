"""Presets: the shipped trained models as Keras models by name, ready to fine-tune to your classes.

A preset is a folder holding ``preset.json`` and a weights file::

    preset.json   format, name, model (registry name), model_kwargs, num_classes, class_names,
                  input_scale, weights (file name), weights_sha256, card (metrics, data, licence, ...)
    model.keras   the bare network (no input scale / TTA / tiling wrapper), or a .weights.h5

Every shipped model keeps its preset beside its SavedModel, in
``saved_models/<name>/<version>/preset/``; ``list_presets()`` lists them and
``from_preset(name)`` loads one. The ``.keras`` file a preset loads gives the
same classes as the shipped SavedModel (tested on CamVid test images).
Wrappers are applied after loading: a preset trained at reduced scale is
returned inside ``with_input_scale``.

``from_preset`` also takes a preset folder, a ``.keras`` file, or an
``http(s)://`` URL of a ``.keras`` file, downloaded through
``keras.utils.get_file`` into the Keras cache (``$KERAS_HOME``, default
``~/.keras``) and checked against ``file_hash`` (sha256) or, as torchvision
names its weights, a sha256 prefix at the end of the file name
(``dabnet-1a2b3c4d.keras``). Everything loads with ``safe_mode=True``: a
model file is code from whoever wrote it, so a Lambda layer is refused.
"""

import hashlib
import json
import os
import re
import urllib.parse
from pathlib import Path

import keras

from kseg.models.heads import num_classes_of, rehead
from kseg.models.input_scale import with_input_scale
from kseg._io import atomic_write_json
from kseg.models.registry import build, get_builder

# The shipped models, laid out the way TF Serving reads them: <name>/<version>/, the preset inside.
PRESETS_ROOT = Path(__file__).resolve().parents[2] / "saved_models"
PRESET_FILE = "preset.json"
PRESET_FOLDER = "preset"  # saved_models/<name>/<version>/preset/
PRESET_FORMAT = "kseg-preset/1"
_HASH_IN_NAME = re.compile(r"-([0-9a-f]{8,64})$")


def _version_dirs(family):
    return sorted((p for p in family.iterdir() if p.name.isdigit() and (p / PRESET_FOLDER / PRESET_FILE).is_file()),
                  key=lambda p: int(p.name))


def list_presets():
    """Sorted names of the shipped presets (``saved_models/<name>/<version>/preset/``)."""
    if not PRESETS_ROOT.is_dir():
        return []
    return sorted(family.name for family in PRESETS_ROOT.iterdir() if family.is_dir() and _version_dirs(family))


def preset_dir(name):
    """The preset folder of the shipped preset ``name`` (its latest version); unknown names list the known ones."""
    family = PRESETS_ROOT / str(name)
    versions = _version_dirs(family) if family.is_dir() else []
    if not versions:
        raise ValueError(f"Unknown preset {name!r}. Known presets: {', '.join(list_presets()) or 'none'}.")
    return versions[-1] / PRESET_FOLDER


def _read_preset(folder):
    folder = Path(folder)
    try:
        preset = json.loads((folder / PRESET_FILE).read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{folder / PRESET_FILE}: not a readable preset ({error}).") from None
    missing = {"format", "name", "model", "model_kwargs", "num_classes", "class_names", "weights"} - set(preset)
    if missing or preset["format"] != PRESET_FORMAT:
        raise ValueError(f"{folder / PRESET_FILE}: not a {PRESET_FORMAT} file (missing {sorted(missing)}).")
    return preset


def preset_info(name):
    """The model card of a preset (a shipped name or a preset folder), as a dict.

    Keys: ``name``, ``model`` (registry name), ``model_kwargs``,
    ``num_classes``, ``class_names``, ``input_scale``, ``preset_dir``,
    ``weights`` (path), ``weights_sha256``, ``saved_model`` (the shipped
    version directory) and the card's own entries (``architecture``,
    ``parameters``, ``training_data``, ``license``, ``input_size``,
    ``test_miou``, ``test_miou_tta`` with ``tta``, ``val_miou``, ``int8``,
    ``reproduce``, ``report``, ``train_config``).
    """
    folder = Path(name) if os.path.isdir(os.fspath(name)) else preset_dir(name)
    preset = _read_preset(folder)
    info = {key: value for key, value in preset.items() if key not in ("card", "format")}
    info.update(preset_dir=str(folder), weights=str(folder / preset["weights"]), saved_model=str(folder.parent))
    info.setdefault("input_scale", None)
    info.update(preset.get("card", {}))
    return info


def training_options(name):
    """What a training run starting from preset ``name`` (a shipped name or a preset folder) takes:
    ``model``, ``model_kwargs``, ``init_weights`` (the preset's weights file, re-headed to the data's
    class count when it differs) and ``input_scale`` (``pipelines.train --preset``)."""
    info = preset_info(name)
    return {"model": info["model"], "model_kwargs": dict(info["model_kwargs"]), "init_weights": info["weights"],
            "input_scale": info["input_scale"]}


def sha256_of(path):
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_hash(path, expected, what):
    """``expected``: a full sha256 or a prefix of one (at least 8 hex digits)."""
    actual = sha256_of(path)
    if not actual.startswith(expected.lower()):
        return f"{what}: sha256 {actual} does not match the expected {expected.lower()}"
    return None


def download(url, *, file_hash=None, cache_dir=None):
    """Fetch ``url`` into the Keras cache (``cache_dir`` or ``$KERAS_HOME``, subfolder ``kseg``); return the path.

    The file is checked against ``file_hash`` (sha256, or a prefix of at
    least 8 hex digits), else against a sha256 prefix ending the file name
    (``name-1a2b3c4d.keras``). A mismatch removes the file from the cache and
    raises ``ValueError`` naming both hashes.
    """
    fname = os.path.basename(urllib.parse.urlparse(url).path)
    if not fname:
        raise ValueError(f"{url}: the URL names no file.")
    expected = file_hash or (_HASH_IN_NAME.search(os.path.splitext(fname)[0]) or [None, None])[1]
    if expected is not None and not re.fullmatch(r"[0-9a-fA-F]{8,64}", str(expected)):
        raise ValueError(f"file_hash must be a sha256 in hex (8 to 64 digits); got {expected!r}.")
    # Keras's own default (keras.utils.get_file reads $KERAS_HOME once, at import).
    cache_dir = cache_dir or os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    cache_dir = os.path.expanduser(cache_dir)
    os.makedirs(cache_dir, exist_ok=True)  # else get_file falls back to /tmp/.keras
    cached = os.path.join(cache_dir, "kseg", fname)
    if expected is not None and os.path.isfile(cached) and _check_hash(cached, expected, url):
        os.remove(cached)  # a stale or tampered cache entry: fetch it again
    path = keras.utils.get_file(fname, origin=url, cache_dir=cache_dir, cache_subdir="kseg")
    problem = expected is not None and _check_hash(path, expected, url)
    if problem:
        os.remove(path)
        raise ValueError(f"{problem}; the download was removed from the cache.")
    return path


def load_model_safely(path, what=None):
    """``keras.saving.load_model(path, safe_mode=True)`` with clear refusals (kseg's layers are registered
    by importing this package)."""
    what = what or os.fspath(path)
    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as error:
        text = str(error)
        if "Lambda" in text or "safe_mode" in text:
            raise ValueError(f"{what}: refused: the file holds a Lambda layer (Python code); kseg loads models "
                             "with safe_mode=True only.") from None
        raise ValueError(f"{what}: not a Keras model file kseg can load "
                         f"({text.splitlines()[0] if text else type(error).__name__}).") from None


def write_preset(model, folder, *, name, model_kwargs, class_names, input_scale=None, card=None):
    """Write ``model`` (the bare registered network, not a wrapper) as a preset in ``folder``.

    ``folder/model.keras`` and ``folder/preset.json`` (with the file's
    sha256); ``model_kwargs`` are the builder arguments besides
    ``num_classes``, ``card`` the model card's entries. Returns the folder.
    """
    get_builder(model.name)  # a preset rebuilds through the registry: the network must be registered
    if len(class_names) != num_classes_of(model):
        raise ValueError(f"{len(class_names)} class names for a model with {num_classes_of(model)} classes.")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    weights = folder / "model.keras"
    partial = folder / ".model.partial.keras"  # never a half-written weights file under the final name
    model.save(partial)
    os.replace(partial, weights)
    atomic_write_json(folder / PRESET_FILE, {
        "format": PRESET_FORMAT, "name": name, "model": model.name, "model_kwargs": dict(model_kwargs),
        "num_classes": num_classes_of(model), "class_names": list(class_names), "input_scale": input_scale,
        "weights": weights.name, "weights_sha256": sha256_of(weights), "card": dict(card or {}),
    })
    return folder


def _load_preset_folder(folder):
    preset = _read_preset(folder)
    weights = Path(folder) / preset["weights"]
    if not weights.is_file():
        raise FileNotFoundError(f"Preset {preset['name']!r}: weights file {weights} does not exist.")
    if preset.get("weights_sha256"):
        problem = _check_hash(weights, preset["weights_sha256"], str(weights))
        if problem:
            raise ValueError(f"{problem} in {Path(folder) / PRESET_FILE}.")
    if weights.name.endswith(".weights.h5"):
        model = build(preset["model"], num_classes=preset["num_classes"], **preset["model_kwargs"])
        model.load_weights(weights)
    else:
        model = load_model_safely(weights)
    return model, preset.get("input_scale")


def from_preset(name_or_path_or_url, *, file_hash=None, num_classes=None, cache_dir=None):
    """A trained zoo model as a ``keras.Model``, optionally re-headed for ``num_classes``.

    ``name_or_path_or_url``: a shipped preset name (``list_presets()``), a
    preset folder, a ``.keras`` file, or an ``http(s)://`` URL of a
    ``.keras`` file (see ``download``; ``file_hash`` is its sha256).
    ``num_classes`` other than the preset's replaces the declared head
    (newly initialised) and keeps every other weight. The model maps float32
    pixels ``(B, H, W, 3)`` in [0, 255] to float32 logits
    ``(B, H, W, num_classes)``; a preset trained at reduced scale comes
    wrapped in ``with_input_scale``. Not compiled.
    """
    source = os.fspath(name_or_path_or_url)
    scale = None
    if re.match(r"https?://", source):
        model = load_model_safely(download(source, file_hash=file_hash, cache_dir=cache_dir), what=source)
    elif file_hash is not None:
        raise ValueError("file_hash applies to URLs; a preset folder carries its own weights_sha256.")
    elif os.path.isdir(source):
        model, scale = _load_preset_folder(source)
    elif os.path.isfile(source):
        model = load_model_safely(source)
    elif "/" in source or os.sep in source or source.endswith(".keras"):
        raise FileNotFoundError(f"Preset {source!r} does not exist.")
    else:
        model, scale = _load_preset_folder(preset_dir(source))
    if num_classes is not None and int(num_classes) != num_classes_of(model):
        model = rehead(model, num_classes)
    return with_input_scale(model, scale) if scale else model
