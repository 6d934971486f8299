"""A .caffemodel's weights -> a state_dict for the spec that ``netc import`` prints.

The binary file is decoded with ``protobuf`` (the caffe.proto subset of
:mod:`netc.importers.caffe_proto`); nothing in it is executed. Blobs are matched to the
prototxt's layers by name, as Caffe itself copies trained weights, and laid out as the compiled
spec's state_dict: convolution and inner-product weights and biases as they are (Caffe's layouts
are PyTorch's), a BatchNorm's mean and variance divided by its scale factor, its Scale layer's
blobs as the batch norm's weight and bias. The weights expect what Caffe fed the network: BGR
channels with the mean subtracted (the spec's header says which mean).
"""
from __future__ import annotations

import os

from netc.importers.graph import ImportError_


def read_blobs(path: str) -> dict:
    """{layer name: [numpy arrays]} of a .caffemodel (V1 or V2 layers)."""
    import numpy as np
    from netc.importers.caffe_proto import NetParameter
    net = NetParameter()
    try:
        with open(path, "rb") as f:
            net.ParseFromString(f.read())
    except Exception as e:   # noqa: BLE001 - protobuf's DecodeError and friends
        raise ImportError_(f"{path}: not a Caffe model ({type(e).__name__}: {e})") from None
    out = {}
    for l in list(net.layer) + list(net.layers):
        name = l.name if l.name else (l.layer.name if l.HasField("layer") else "")
        blobs = list(l.blobs) or (list(l.layer.blobs) if hasattr(l, "layer") and l.HasField("layer") else [])
        if blobs:
            out[name] = [_array(b, np, name, path) for b in blobs]
    return out


def _array(b, np, layer: str = "?", path: str = ""):
    """A blob's values in the shape it declares: a shape that does not hold exactly its values
    (a dimension below 0, more values than there are, fewer) is an error naming the layer."""
    data = np.asarray(b.double_data if len(b.double_data) else b.data, dtype=np.float32)
    dims = list(b.shape.dim) if b.HasField("shape") else [b.num, b.channels, b.height, b.width]
    shape = [int(d) for d in dims if d]       # a legacy blob leaves unused axes 0
    n = 1
    for d in shape:
        n *= d                                # Python integers: no overflow to a matching 0
    if shape and (any(d < 0 for d in shape) or n != data.size):     # no shape at all: the values as they are
        src = f"{os.path.basename(path)}: " if path else ""
        raise ImportError_(f"{src}blob of layer '{layer}' declares shape {' x '.join(map(str, shape))} "
                           f"but holds {data.size:,} values",
                           hint="the .caffemodel is damaged or was not written for this prototxt")
    return data.reshape(shape or [data.size])


def import_with_weights(prototxt: str, caffemodel: str, input_size: tuple | None = None):
    """(spec text, state_dict) of a prototxt and its .caffemodel."""
    import torch
    import netc
    from netc.importers import caffe, header
    from netc.importers.printer import to_spec
    net = caffe.read(prototxt, input_size=input_size)
    order: list = []
    text = to_spec(net, header(net, "Caffe prototxt") + [f"weights: {os.path.basename(caffemodel)}"], order=order)
    blobs = read_blobs(caffemodel)
    kinds = {l.name: l for l in net.layers}
    tensors = []
    for name in order:
        l = kinds[name]
        if l.kind not in ("conv", "fc", "upconv", "bn"):
            continue
        src = l.name
        if src not in blobs:
            raise ImportError_(f"layer '{src}' ({l.where}) has no weights in {os.path.basename(caffemodel)}")
        b = blobs[src]
        if l.kind == "bn":
            if len(b) < 2 or (len(b) > 2 and not b[2].size):
                raise ImportError_(f"layer '{src}' has {len(b)} blobs in the caffemodel; a BatchNorm has mean, "
                                   "variance and scale factor")
            sf = float(b[2].reshape(-1)[0]) if len(b) > 2 else 1.0
            sf = 1.0 / sf if sf else 0.0
            scale = blobs.get(getattr(net, "scales", {}).get(name, ""))     # the Scale layer after it
            if scale is not None:
                if len(scale) < 2:
                    raise ImportError_(f"the Scale layer after '{src}' has {len(scale)} blobs in the caffemodel, "
                                       "2 expected (scale and bias)")
                tensors += [scale[0], scale[1]]
            tensors += [b[0] * sf, b[1] * sf]
        else:
            want = 1 + (1 if l.params.get("bias", True) else 0)
            if len(b) < want:
                raise ImportError_(f"layer '{src}' has {len(b)} blobs in the caffemodel, {want} expected")
            tensors += b[:want]
    from netc.backends.torch.weights import dataflow_tensors
    model = netc.compile(netc.loads(text), device="meta")
    dst = dataflow_tensors(model)
    if len(dst) != len(tensors):
        raise ImportError_(f"{os.path.basename(caffemodel)} gives {len(tensors)} weight tensors; the spec has {len(dst)}")
    sd = {}
    for (k, v), t in zip(dst, tensors):
        t = torch.from_numpy(t.copy())
        if t.numel() != v.numel():
            raise ImportError_(f"{k}: the caffemodel's blob has {t.numel()} values, the layer {v.numel()}")
        sd[k] = t.reshape(v.shape)
    return text, sd

