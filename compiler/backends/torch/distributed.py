"""``netc.parallelize``: a compiled language model sharded with PyTorch's own engine.

- FSDP2 (``torch.distributed.fsdp.fully_shard``) with one unit per decoder block (the layers of
  every module that holds an attention layer directly: ``layers.decoder_3``, ``h.gpt2_block_1``;
  the generated forward calls the layers, so they are sharded together as one group), then the
  root (embedding, final norm, head);
- on a 2-D mesh named ``("dp", "tp")``, first a tensor-parallel plan generated from the layers'
  kinds (``torch.distributed.tensor.parallel``): q, k, v and gate, up column-wise, o and down
  row-wise (GPT-2's fused Conv1D layers are left to FSDP), each attention layer then computing its
  share of the heads.

Nothing of a distributed engine is written here: the plan and the calls are PyTorch's.
"""
from __future__ import annotations

from torch import nn

from netc.backends.torch.llm import CausalSelfAttention, GatedMLP, GPT2Attention


def decoder_blocks(model: nn.Module) -> list[nn.Module]:
    """The modules that hold an attention layer as a direct child: the decoder blocks."""
    return [m for _, m in model.named_modules()
            if any(isinstance(c, (CausalSelfAttention, GPT2Attention)) for c in m.children())]


def tensor_parallel(model: nn.Module, tp_mesh) -> nn.Module:
    from torch.distributed.tensor.parallel import ColwiseParallel, RowwiseParallel, parallelize_module
    n = tp_mesh.size()
    for _, m in list(model.named_modules()):
        if isinstance(m, CausalSelfAttention):
            if m.heads % n or m.kv_heads % n:
                raise ValueError(f"tensor parallelism over {n} needs heads ({m.heads}) and key/value heads "
                                 f"({m.kv_heads}) divisible by {n}")
            parallelize_module(m, tp_mesh, {"q_proj": ColwiseParallel(), "k_proj": ColwiseParallel(),
                                            "v_proj": ColwiseParallel(), "o_proj": RowwiseParallel()})
            m.heads //= n
            m.kv_heads //= n
        elif isinstance(m, GatedMLP):
            parallelize_module(m, tp_mesh, {"gate_proj": ColwiseParallel(), "up_proj": ColwiseParallel(),
                                            "down_proj": RowwiseParallel()})
    return model


def parallelize(model: nn.Module, mesh) -> nn.Module:
    """Shard ``model`` over ``mesh`` (a DeviceMesh): 1-D, FSDP2; 2-D ``("dp", "tp")``, tensor
    parallelism within ``tp`` and FSDP2 across ``dp``. Returns the model (sharded in place)."""
    from torch.distributed.fsdp import fully_shard
    if mesh.ndim == 2:
        names = tuple(mesh.mesh_dim_names or ())
        if names != ("dp", "tp"):
            raise ValueError(f"a 2-D mesh must be named ('dp', 'tp'), not {names}")
        tensor_parallel(model, mesh["tp"])
        dp = mesh["dp"]
    elif mesh.ndim == 1:
        dp = mesh
    else:
        raise ValueError(f"netc.parallelize takes a 1-D or 2-D mesh, not {mesh.ndim}-D")
    for block in decoder_blocks(model):
        # the generated forward calls the block's layers, not the block: its layers form one FSDP unit
        # (one all-gather of the block's parameters), whose hooks run on each layer's call
        layers = [c for c in block.children() if any(True for _ in c.parameters())]
        fully_shard(layers, mesh=dp)
    fully_shard(model, mesh=dp)
    return model


__all__ = ["parallelize", "tensor_parallel", "decoder_blocks"]
