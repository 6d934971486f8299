"""The part of Caffe's ``caffe.proto`` that netc reads, built at run time.

The messages and field numbers are those of BVLC/caffe's ``src/caffe/proto/caffe.proto``
(proto2, package ``caffe``): enough of NetParameter, LayerParameter (V2), V1LayerParameter and
V0LayerParameter, BlobProto and the parameters of the layers netc has words for. Fields left out
are skipped when text is parsed (``allow_unknown_field``) and when binary is decoded (protobuf
keeps unknown fields aside), so a full prototxt or .caffemodel reads with this subset. No
generated ``_pb2`` code and no ``protoc``: the descriptors are built with ``descriptor_pb2``.
"""
from __future__ import annotations

from functools import lru_cache

# (name, number, label, type, type_name or enum, default)  label: o optional, r repeated, p repeated packed
_MESSAGES: dict[str, list] = {
    "BlobShape": [("dim", 1, "p", "int64")],
    "BlobProto": [("shape", 7, "o", "BlobShape"), ("data", 5, "p", "float"), ("diff", 6, "p", "float"),
                  ("double_data", 8, "p", "double"), ("double_diff", 9, "p", "double"),
                  ("num", 1, "o", "int64", 0), ("channels", 2, "o", "int64", 0), ("height", 3, "o", "int64", 0),
                  ("width", 4, "o", "int64", 0)],
    "NetState": [("phase", 1, "o", "Phase", "TEST"), ("level", 2, "o", "int64", 0), ("stage", 3, "r", "string")],
    "NetStateRule": [("phase", 1, "o", "Phase"), ("min_level", 2, "o", "int64"), ("max_level", 3, "o", "int64"),
                     ("stage", 4, "r", "string"), ("not_stage", 5, "r", "string")],
    "NetParameter": [("name", 1, "o", "string"), ("input", 3, "r", "string"), ("input_shape", 8, "r", "BlobShape"),
                     ("input_dim", 4, "r", "int64"), ("force_backward", 5, "o", "bool", False),
                     ("state", 6, "o", "NetState"), ("debug_info", 7, "o", "bool", False),
                     ("layer", 100, "r", "LayerParameter"), ("layers", 2, "r", "V1LayerParameter")],
    "ParamSpec": [("name", 1, "o", "string"), ("lr_mult", 3, "o", "float", 1.0), ("decay_mult", 4, "o", "float", 1.0)],
    "LayerParameter": [
        ("name", 1, "o", "string"), ("type", 2, "o", "string"), ("bottom", 3, "r", "string"),
        ("top", 4, "r", "string"), ("phase", 10, "o", "Phase"), ("loss_weight", 5, "r", "float"),
        ("param", 6, "r", "ParamSpec"), ("blobs", 7, "r", "BlobProto"), ("propagate_down", 11, "r", "bool"),
        ("include", 8, "r", "NetStateRule"), ("exclude", 9, "r", "NetStateRule"),
        ("transform_param", 100, "o", "TransformationParameter"), ("loss_param", 101, "o", "LossParameter"),
        ("batch_norm_param", 139, "o", "BatchNormParameter"), ("concat_param", 104, "o", "ConcatParameter"),
        ("convolution_param", 106, "o", "ConvolutionParameter"), ("dropout_param", 108, "o", "DropoutParameter"),
        ("eltwise_param", 110, "o", "EltwiseParameter"), ("flatten_param", 135, "o", "FlattenParameter"),
        ("inner_product_param", 117, "o", "InnerProductParameter"), ("input_param", 143, "o", "InputParameter"),
        ("lrn_param", 118, "o", "LRNParameter"), ("pooling_param", 121, "o", "PoolingParameter"),
        ("python_param", 130, "o", "PythonParameter"), ("relu_param", 123, "o", "ReLUParameter"),
        ("scale_param", 142, "o", "ScaleParameter"), ("softmax_param", 125, "o", "SoftmaxParameter"),
        ("spp_param", 132, "o", "SPPParameter"), ("crop_param", 144, "o", "CropParameter")],
    "CropParameter": [("axis", 1, "o", "int32", 2), ("offset", 2, "r", "uint32")],
    "TransformationParameter": [("scale", 1, "o", "float", 1.0), ("mirror", 2, "o", "bool", False),
                                ("crop_size", 3, "o", "uint32", 0), ("mean_file", 4, "o", "string"),
                                ("mean_value", 5, "r", "float"), ("force_color", 6, "o", "bool", False),
                                ("force_gray", 7, "o", "bool", False)],
    "LossParameter": [("ignore_label", 1, "o", "int64"), ("normalize", 2, "o", "bool")],
    "BatchNormParameter": [("use_global_stats", 1, "o", "bool"), ("moving_average_fraction", 2, "o", "float", 0.999),
                           ("eps", 3, "o", "float", 1e-5)],
    "ConcatParameter": [("axis", 2, "o", "int32", 1), ("concat_dim", 1, "o", "uint32", 1)],
    "ConvolutionParameter": [
        ("num_output", 1, "o", "uint32"), ("bias_term", 2, "o", "bool", True), ("pad", 3, "r", "uint32"),
        ("kernel_size", 4, "r", "uint32"), ("stride", 6, "r", "uint32"), ("dilation", 18, "r", "uint32"),
        ("pad_h", 9, "o", "uint32", 0), ("pad_w", 10, "o", "uint32", 0), ("kernel_h", 11, "o", "uint32"),
        ("kernel_w", 12, "o", "uint32"), ("stride_h", 13, "o", "uint32"), ("stride_w", 14, "o", "uint32"),
        ("group", 5, "o", "uint32", 1), ("axis", 16, "o", "int32", 1)],
    "DropoutParameter": [("dropout_ratio", 1, "o", "float", 0.5)],
    "EltwiseParameter": [("operation", 1, "o", "EltwiseOp", "SUM"), ("coeff", 2, "r", "float")],
    "FlattenParameter": [("axis", 1, "o", "int32", 1), ("end_axis", 2, "o", "int32", -1)],
    "InnerProductParameter": [("num_output", 1, "o", "uint32"), ("bias_term", 2, "o", "bool", True),
                              ("axis", 5, "o", "int32", 1), ("transpose", 6, "o", "bool", False)],
    "InputParameter": [("shape", 1, "r", "BlobShape")],
    "LRNParameter": [("local_size", 1, "o", "uint32", 5), ("alpha", 2, "o", "float", 1.0),
                     ("beta", 3, "o", "float", 0.75), ("norm_region", 4, "o", "NormRegion", "ACROSS_CHANNELS"),
                     ("k", 5, "o", "float", 1.0)],
    "PoolingParameter": [
        ("pool", 1, "o", "PoolMethod", "MAX"), ("pad", 4, "o", "uint32", 0), ("pad_h", 9, "o", "uint32", 0),
        ("pad_w", 10, "o", "uint32", 0), ("kernel_size", 2, "o", "uint32"), ("kernel_h", 5, "o", "uint32"),
        ("kernel_w", 6, "o", "uint32"), ("stride", 3, "o", "uint32", 1), ("stride_h", 7, "o", "uint32"),
        ("stride_w", 8, "o", "uint32"), ("global_pooling", 12, "o", "bool", False),
        ("round_mode", 13, "o", "RoundMode", "CEIL")],
    "PythonParameter": [("module", 1, "o", "string"), ("layer", 2, "o", "string"), ("param_str", 3, "o", "string")],
    "ReLUParameter": [("negative_slope", 1, "o", "float", 0.0)],
    "ScaleParameter": [("axis", 1, "o", "int32", 1), ("num_axes", 2, "o", "int32", 1),
                       ("bias_term", 4, "o", "bool", False)],
    "SoftmaxParameter": [("axis", 2, "o", "int32", 1)],
    "SPPParameter": [("pyramid_height", 1, "o", "uint32"), ("pool", 2, "o", "PoolMethod", "MAX")],
    "V1LayerParameter": [
        ("bottom", 2, "r", "string"), ("top", 3, "r", "string"), ("name", 4, "o", "string"),
        ("include", 32, "r", "NetStateRule"), ("exclude", 33, "r", "NetStateRule"),
        ("type", 5, "o", "LayerType"), ("blobs", 6, "r", "BlobProto"), ("blobs_lr", 7, "r", "float"),
        ("weight_decay", 8, "r", "float"), ("loss_weight", 35, "r", "float"),
        ("concat_param", 9, "o", "ConcatParameter"), ("convolution_param", 10, "o", "ConvolutionParameter"),
        ("dropout_param", 12, "o", "DropoutParameter"), ("eltwise_param", 24, "o", "EltwiseParameter"),
        ("inner_product_param", 17, "o", "InnerProductParameter"), ("lrn_param", 18, "o", "LRNParameter"),
        ("pooling_param", 19, "o", "PoolingParameter"), ("relu_param", 30, "o", "ReLUParameter"),
        ("softmax_param", 39, "o", "SoftmaxParameter"), ("transform_param", 36, "o", "TransformationParameter"),
        ("loss_param", 42, "o", "LossParameter"), ("layer", 1, "o", "V0LayerParameter")],
    "V0LayerParameter": [
        ("name", 1, "o", "string"), ("type", 2, "o", "string"), ("num_output", 3, "o", "uint32"),
        ("biasterm", 4, "o", "bool", True), ("pad", 7, "o", "uint32", 0), ("kernelsize", 8, "o", "uint32"),
        ("group", 9, "o", "uint32", 1), ("stride", 10, "o", "uint32", 1), ("pool", 11, "o", "PoolMethod", "MAX"),
        ("dropout_ratio", 12, "o", "float", 0.5), ("local_size", 13, "o", "uint32", 5),
        ("alpha", 14, "o", "float", 1.0), ("beta", 15, "o", "float", 0.75), ("k", 22, "o", "float", 1.0),
        ("scale", 17, "o", "float", 1.0), ("meanfile", 18, "o", "string"), ("cropsize", 20, "o", "uint32", 0),
        ("mirror", 21, "o", "bool", False), ("blobs", 50, "r", "BlobProto"), ("concat_dim", 65, "o", "uint32", 1)],
}

_ENUMS: dict[str, list] = {
    "Phase": ["TRAIN", "TEST"],
    "PoolMethod": ["MAX", "AVE", "STOCHASTIC"],
    "RoundMode": ["CEIL", "FLOOR"],
    "NormRegion": ["ACROSS_CHANNELS", "WITHIN_CHANNEL"],
    "EltwiseOp": ["PROD", "SUM", "MAX"],
    "LayerType": [("NONE", 0), ("ABSVAL", 35), ("ACCURACY", 1), ("ARGMAX", 30), ("BNLL", 2), ("CONCAT", 3),
                  ("CONTRASTIVE_LOSS", 37), ("CONVOLUTION", 4), ("DATA", 5), ("DECONVOLUTION", 39),
                  ("DROPOUT", 6), ("DUMMY_DATA", 32), ("EUCLIDEAN_LOSS", 7), ("ELTWISE", 25), ("EXP", 38),
                  ("FLATTEN", 8), ("HDF5_DATA", 9), ("HDF5_OUTPUT", 10), ("HINGE_LOSS", 28), ("IM2COL", 11),
                  ("IMAGE_DATA", 12), ("INFOGAIN_LOSS", 13), ("INNER_PRODUCT", 14), ("LRN", 15),
                  ("MEMORY_DATA", 29), ("MULTINOMIAL_LOGISTIC_LOSS", 16), ("MVN", 34), ("POOLING", 17),
                  ("POWER", 26), ("RELU", 18), ("SIGMOID", 19), ("SIGMOID_CROSS_ENTROPY_LOSS", 27),
                  ("SILENCE", 36), ("SOFTMAX", 20), ("SOFTMAX_LOSS", 21), ("SPLIT", 22), ("SLICE", 33),
                  ("TANH", 23), ("WINDOW_DATA", 24), ("THRESHOLD", 31)],
}

#: V1LayerParameter's layer types: (name, number)
V1_LAYER_TYPES: list = _ENUMS["LayerType"]
#: LayerParameter's fields that hold a layer type's parameters: field name -> message name
LAYER_PARAMS: dict = {f[0]: f[3] for f in _MESSAGES["LayerParameter"] if f[0].endswith("_param")}

_SCALARS = {"double": 1, "float": 2, "int64": 3, "uint64": 4, "int32": 5, "bool": 8, "string": 9, "bytes": 12,
            "uint32": 13}


def _file_proto():
    from google.protobuf import descriptor_pb2
    fp = descriptor_pb2.FileDescriptorProto(name="netc_caffe_subset.proto", package="caffe", syntax="proto2")
    def enum(parent, name):
        e = parent.enum_type.add(name=name)
        for i, v in enumerate(_ENUMS[name]):
            vname, num = v if isinstance(v, tuple) else (v, i)
            e.value.add(name=vname, number=num)

    enum(fp, "Phase")          # as in caffe.proto: Phase at the top, the others inside their messages
    F = descriptor_pb2.FieldDescriptorProto
    for name, fields in _MESSAGES.items():
        m = fp.message_type.add(name=name)
        for typ in dict.fromkeys(s[3] for s in fields if s[3] in _ENUMS and s[3] != "Phase"):
            enum(m, typ)
        for spec in fields:
            fname, num, label, typ = spec[:4]
            f = m.field.add(name=fname, number=num,
                            label=F.LABEL_REPEATED if label in "rp" else F.LABEL_OPTIONAL)
            if typ in _SCALARS:
                f.type = _SCALARS[typ]
            elif typ in _ENUMS:
                f.type, f.type_name = F.TYPE_ENUM, (".caffe.Phase" if typ == "Phase" else f".caffe.{name}.{typ}")
            else:
                f.type, f.type_name = F.TYPE_MESSAGE, f".caffe.{typ}"
            if label == "p":
                f.options.packed = True
            if len(spec) > 4:
                d = spec[4]
                f.default_value = ("true" if d else "false") if isinstance(d, bool) else str(d)
    return fp


@lru_cache(maxsize=1)
def messages() -> dict:
    """Message classes by name: ``messages()["NetParameter"]()``."""
    from google.protobuf import descriptor_pool
    try:
        from google.protobuf.message_factory import GetMessageClass
    except ImportError:   # protobuf < 4.21
        GetMessageClass = None
    pool = descriptor_pool.DescriptorPool()
    fd = pool.Add(_file_proto()) if hasattr(pool, "Add") else None
    fd = pool.FindFileByName("netc_caffe_subset.proto")
    out = {}
    for name in _MESSAGES:
        desc = fd.message_types_by_name[name]
        if GetMessageClass is not None:
            out[name] = GetMessageClass(desc)
        else:
            from google.protobuf import message_factory
            out[name] = message_factory.MessageFactory(pool).GetPrototype(desc)
    return out


def NetParameter():
    return messages()["NetParameter"]()
