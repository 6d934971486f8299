"""Hand-written PyTorch reference networks for the tests (torch only; torchvision is not installed).

Each builder in :mod:`tests.references.cnn` returns a module whose ``state_dict()`` has exactly the
keys, order and shapes of the torchvision model of the same name, so a netc model can be compared
with it through ``netc.load_weights(model, reference.state_dict())``.
:mod:`tests.references.macs` counts their multiply-adds.
"""
from .cnn import (BUILDERS, convnext_tiny, densenet121, efficientnet_b0, inception_v3,
                   mobilenet_v2, mobilenet_v3_large, resnet18, resnet34, resnet50, resnet101,
                   resnet152, squeezenet1_0, unet)

__all__ = ["BUILDERS", "convnext_tiny", "densenet121", "efficientnet_b0", "inception_v3", "mobilenet_v2",
           "mobilenet_v3_large", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "squeezenet1_0",
           "unet"]
