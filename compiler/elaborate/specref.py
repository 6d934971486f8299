"""Spec references: ``vgg:D`` (a bundled spec), ``path/to/x.net:D``, ``path/to/x.net``, ``googlenet``."""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from netc.dsl.errors import UsageError, did_you_mean


def bundled_dir() -> Path:
    """The folder of the specs that ship with netc (package data)."""
    from importlib import resources     # not imported for a spec given by its path (netc check x.net)
    return Path(str(resources.files("netc.specs")))


def bundled_names() -> list[str]:
    return sorted(p.stem for p in bundled_dir().glob("*.net"))


def split_ref(ref: str) -> tuple[Path, str | None]:
    """``"vgg:D"`` -> (path of the bundled vgg.net, "D"); a file path wins over a bundled name."""
    if not ref:
        raise UsageError("empty spec reference")
    p = Path(ref)
    if p.is_file():
        return p, None
    left, sep, right = ref.rpartition(":")
    if sep and left and "/" not in right and "\\" not in right:
        if Path(left).is_file():
            return Path(left), right or None
        hit = _bundled(left)
        if hit is not None:
            return hit, right or None
        base = left
    else:
        hit = _bundled(ref)
        if hit is not None:
            return hit, None
        model = model_index().get(ref)
        if model is not None:     # a network by its model name (torchvision's), whatever file holds it
            return model
        base = ref
    looks_like_path = base.endswith(".net") or "/" in base or "\\" in base
    if looks_like_path:
        raise UsageError(f"no such spec file: {base}")
    raise UsageError(f"no spec file or bundled spec named '{base}'",
                     hint=did_you_mean(base, bundled_names() + list(model_index()))
                     or f"bundled specs: {', '.join(bundled_names())}; netc list shows every network")


def _bundled(name: str) -> Path | None:
    stem = name[:-4] if name.endswith(".net") else name
    if "/" in stem or "\\" in stem or not stem:
        return None
    p = bundled_dir() / f"{stem}.net"
    return p if p.is_file() else None


_CONFIG = re.compile(r"^[ \t]*(?:default[ \t]+)?config[ \t]+([A-Za-z0-9_][\w\-]*)", re.M)
_TABLE = re.compile(r"^[ \t]*table[ \t]+([^{\n]+)\{", re.M)


@lru_cache(maxsize=1)
def model_index() -> dict[str, tuple[Path, str]]:
    """Model name -> (bundled file, configuration), for the lower-case model names (``resnet50``,
    ``mobilenet_v3_large``) that one bundled file alone defines, as timm's ``create_model`` finds models.
    Read with a regular expression over the files: no spec is parsed for it."""
    seen: dict[str, list[tuple[Path, str]]] = {}
    for path in sorted(bundled_dir().glob("*.net")):
        text = path.read_text(encoding="utf-8", errors="replace")
        names = _CONFIG.findall(text)
        for cols in _TABLE.findall(text):
            names += [c.strip() for c in cols.split("|") if c.strip()]
        for n in dict.fromkeys(names):
            seen.setdefault(n, []).append((path, n))
    return {n: hits[0] for n, hits in seen.items()
            if len(hits) == 1 and _MODEL_NAME.fullmatch(n) and n not in _NOT_MODELS and n not in bundled_names()}


_MODEL_NAME = re.compile(r"[a-z][a-z0-9_]*\d[a-z0-9_]*|[a-z][a-z0-9]*_[a-z0-9_]+|unet")   # resnet50, vit_b_16
_NOT_MODELS = {"main"}
