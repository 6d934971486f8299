#!/usr/bin/env bash
# Set up (.venv, see scripts/setup.sh) and show what netc does, section by section.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/fresh-env.sh       # under CI=true: empty temporary and cache directories
bash scripts/setup.sh
NETC=.venv/bin/netc
OUT=${NETC_SHOWCASE_OUT:-out/showcase}
mkdir -p "$OUT"
section() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

section "netc check specs/*.net  (every bundled spec, one line per configuration)"
$NETC check specs/*.net

section "netc summary vgg:D  (per layer: output, params, multiply-adds, receptive field)"
$NETC summary vgg:D

section "netc summary googlenet --depth 1  (GoogLeNet Table 1: one row per inception block, aux heads below)"
$NETC summary googlenet --depth 1

section "VGG B against its shallow twin: two 3x3 convs see what one 5x5 sees (receptive field column)"
$NETC summary vgg:B | sed -n 1,12p
$NETC summary vgg:B-shallow | sed -n 1,8p

section "Chatfield CNN-F/M/S, SPP-net ZF-5, AlexNet: exact params and multiply-adds"
for ref in chatfield:CNN-F chatfield:CNN-M chatfield:CNN-S chatfield:CNN-M-128 sppnet:ZF-5 alexnet:paper alexnet:torchvision; do
    $NETC summary "$ref" --json | .venv/bin/python -c 'import json,sys; d=json.load(sys.stdin); print("%-12s %13s params %15s MACs" % (d["config"], format(d["params"], ","), format(d["macs"], ",")))'
done

section "Fine-tuning on PASCAL VOC: --set num_classes=20; Markdown output"
$NETC summary chatfield:CNN-M --set num_classes=20 --format markdown | tail -n 5

section "netc table vgg  (VGG Table 1 regenerated: added layers bold, Table 2's parameter counts last)"
$NETC table vgg --configs A,A-LRN,B,C,D,E

section "netc table googlenet  (GoogLeNet Table 1: one row per layer or inception block)"
$NETC table googlenet

section "netc render: diagrams through Graphviz (docs/*.png are made this way)"
$NETC render vgg:D -o "$OUT/vgg-d.svg"
$NETC render googlenet --depth 1 -o "$OUT/googlenet-depth1.png"
$NETC render googlenet -o "$OUT/googlenet-depth2.png"
$NETC render sppnet:ZF-5 --shapes -o "$OUT/sppnet-zf5.png"
$NETC render vgg:D --collapse-repeats --rankdir LR --edge-shapes -o "$OUT/vgg-d-wide.pdf"
ls -la "$OUT"/*.png "$OUT"/*.svg "$OUT"/*.pdf

section "netc diff: VGG Table 1's bold layers, found structurally (exit 1 = different, as diff)"
for pair in "vgg:A vgg:B" "vgg:C vgg:D" "vgg:D vgg:E" "chatfield:CNN-M chatfield:CNN-M-2048" "googlenet googlenet:naive"; do
    printf '\n$ netc diff %s\n' "$pair"
    $NETC diff $pair || test $? -eq 1
done
$NETC diff vgg:E vgg:A --render "$OUT/diff-e-a.svg" --json > "$OUT/diff-e-a.json" || test $? -eq 1

section "netc fmt: canonical layout, comments kept, table columns aligned; the bundled specs are canonical"
$NETC fmt --check specs/*.net && echo "specs/*.net: all formatted"
printf '# a messy spec\ninput 32x32   RGB\nconfig small {conv3-16->maxpool   # stem\n  conv3-32 x2\n FC-10 }\ntable A|B {\nconv3-8|conv3-16\n|LRN\n}\n' > "$OUT/messy.net"
$NETC fmt --diff "$OUT/messy.net"
$NETC fmt - < "$OUT/messy.net"

section "robustness: damaged specs give located errors, absurd ones hit documented limits"
printf 'input 224x224 RGB\nconv3-64\nFC-99999999999\nFC-10\n' > "$OUT/absurd.net"
$NETC check "$OUT/absurd.net" || test $? -eq 1
.venv/bin/python bench/fuzz.py 300

section "any input size: SPP-net ZF-5 at several sizes, windows pooled from one feature map, dense VGG"
$NETC check sppnet:ZF-5
.venv/bin/python - <<'PY'
import torch, netc
torch.manual_seed(0)
m = netc.compile("sppnet:ZF-5").eval()
with torch.no_grad():
    for h, w in ((180, 180), (224, 224), (257, 391)):
        print(f"ZF-5 at {h}x{w}: output {tuple(m(torch.randn(1, 3, h, w)).shape)}")
    x = torch.randn(1, 3, 224, 224)
    fmap = m.feature_map(x)                               # convolutions once
    boxes = torch.tensor([[0, 0, 223, 223], [10, 20, 120, 200], [50, 50, 100, 90]], dtype=torch.float32)
    out = m.classify_windows(fmap, boxes)                 # every window pooled from the map
    print(f"feature map {tuple(fmap.shape)}; 3 windows -> {tuple(out.shape)}; "
          f"whole-image window vs forward: max diff {float((out[0] - m(x)[0]).abs().max()):.1e}")
    for bad in ([0, 0, 224, 224], [60, 10, 50, 40]):
        try:
            m.classify_windows(fmap, torch.tensor([bad], dtype=torch.float32))
        except ValueError as e:
            print("error:", e)
    try:
        m(torch.randn(1, 3, 28, 64))
    except ValueError as e:
        print(e)
a = netc.compile("vgg:A").eval()
dense = netc.compile("vgg:A", dense=True).eval()
netc.load_weights(dense, a.state_dict())                  # FC weights reshaped into conv weights
with torch.no_grad():
    x = torch.randn(1, 3, 224, 224)
    print(f"vgg:A dense vs ordinary at 224x224: max diff {float((dense(x) - a(x)).abs().max()):.1e}; "
          f"dense at 256x320 -> {tuple(dense(torch.randn(1, 3, 256, 320)).shape)}")
PY
$NETC compile vgg:A --dense --print | tail -n 7

section "netc compile vgg:D --print  (the generated forward: straight-line torch.fx code)"
$NETC compile vgg:D --print | head -n 8
echo "    ..."
$NETC compile vgg:D --print | tail -n 8

section "netc compile: ONNX and torch.export files; a spec that is too large is refused before allocation"
$NETC compile vgg:A --set num_classes=10 -o "$OUT/vgg_a.onnx"
$NETC compile googlenet -o "$OUT/googlenet.pt2"
$NETC compile vgg:E --budget 100000000 --print || true

section "Python: compiled modules, side outputs, hand-written weights, custom layers"
.venv/bin/python - <<'PY'
import torch, netc
from torch import nn
m = netc.compile("googlenet", num_classes=20)
print("state_dict keys:", list(m.state_dict())[:3], "...", len(m.state_dict()), "tensors")
print("aux weights:", m.aux_weights)
x = torch.randn(2, 3, 224, 224)
print("train() returns", [tuple(t.shape) for t in m.train()(x)], "; eval() returns", tuple(m.eval()(x).shape))
meta = netc.compile("vgg:E", device="meta")
print(f"vgg:E on meta: {sum(p.numel() for p in meta.parameters()):,} parameters, no memory")

class SE(nn.Module):
    def __init__(self, c, reduction):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(c, c // reduction), nn.Linear(c // reduction, c)
    def forward(self, x):
        return x * torch.sigmoid(self.fc2(torch.relu(self.fc1(x.mean((2, 3))))))[:, :, None, None]

netc.register_layer("se", SE, params={"reduction": 16})
ir = netc.loads("input 32x32 RGB\nconv3-64\nse(8)\nmaxpool\nFC-10\n")
print("custom layer se(8):", ir.node("se1_1").n_params, "parameters;",
      "compiled:", sum(p.numel() for p in netc.compile(ir).parameters()), "=", ir.params)
PY

section "netc list: every bundled network, the 2015-2021 zoo by torchvision's names"
$NETC list

section "netc table resnet  (ResNet's Table 1: 18/34/50/101/152 side by side) and netc table vit"
$NETC table resnet
$NETC table vit

section "netc summary mobilenet_v2 --depth 1  (MobileNetV2's Table 2 rows as blocks; residual only where shapes agree)"
$NETC summary mobilenet_v2 --depth 1 | head -n 14

section "netc check --emit ir  (the typed IR after the passes) on U-Net's same-padded variant: 2*(H/16) <= H/8, proven"
$NETC check unet:unet_same
$NETC check --emit ir unet:unet_same | head -n 12

section "zoo: compiled, run, and its counts equal to torchvision's"
.venv/bin/python - <<'PY'
import torch, netc
for name in ("resnet50", "mobilenet_v3_large", "efficientnet_b0", "convnext_tiny", "vit_b_16", "swin_t"):
    m = netc.compile(name).eval()
    with torch.no_grad():
        y = m(torch.randn(1, 3, 224, 224))
    ir = netc.load(name)
    print(f"{name:20s} {tuple(y.shape)}  {sum(p.numel() for p in m.parameters()):>12,} params  {ir.macs / 1e9:7.3f} G mult-adds")
PY

section "netc import: BVLC's GoogLeNet train_val prototxt as a readable spec; a PyTorch module traced back"
$NETC import tests/data/caffe/bvlc_googlenet-train_val.prototxt -o "$OUT/googlenet-imported.net"
head -n 30 "$OUT/googlenet-imported.net"
$NETC diff googlenet "$OUT/googlenet-imported.net"
.venv/bin/python - <<'PY'
import torch, netc
text = netc.from_torch(netc.compile("vgg:A", device="meta"), torch.empty(1, 3, 224, 224, device="meta"))
print(text)
PY

section "editors: netc lsp (language server) and netc serve (the playground: docs/playground-*.png)"
echo "netc lsp      # an editor starts it over stdio; see README 'Editors'"
echo "netc serve specs/vgg.net --port 8000   # then open http://127.0.0.1:8000/"

section "big networks read at a glance: the default depth folds (resnet50 15 boxes), summaries with totals and memory"
$NETC render resnet50 -o "$OUT/resnet50.png"
$NETC render swin_t -o "$OUT/swin_t.png"
$NETC render unet -o "$OUT/unet.png"
$NETC render vit_b_16 --block encoder_block --edge-shapes -o "$OUT/vit_b_16-encoder_block.png"
$NETC summary resnet50 | tail -n 8
$NETC list 'resnet*'

section "language models: GPT-2, Llama 3, Mistral, Qwen 2.5, Mixtral by name, counted without allocating"
$NETC check llama3_70b mixtral_8x7b
$NETC table specs/llama.net --configs llama3_8b,llama3_70b
$NETC summary llama3_8b --input 8192 | tail -n 4
$NETC list 'gpt2*'

section "a Hugging Face config.json imported, equal to transformers' logits and greedy decoding"
.venv/bin/python - "$OUT" <<'PY'
import os, subprocess, sys, torch, netc
from transformers import LlamaConfig, LlamaForCausalLM
out = os.path.join(sys.argv[1], "tiny-llama")
cfg = LlamaConfig(vocab_size=256, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=128, rope_theta=500000.0)
torch.manual_seed(0)
hf = LlamaForCausalLM(cfg).eval()
cfg.save_pretrained(out)
netc_exe = os.path.join(os.path.dirname(sys.executable), "netc")
subprocess.run([netc_exe, "import", os.path.join(out, "config.json"), "-o", os.path.join(out, "model.net")], check=True)
print(open(os.path.join(out, "model.net")).read())
m = netc.compile(os.path.join(out, "model.net")).eval()
netc.load_weights(m, hf)
ids = torch.randint(0, 256, (1, 12))
with torch.no_grad():
    diff = float((m(ids) - hf(ids).logits).abs().max())
    ours = netc.generate(m, ids, max_new_tokens=20, eos_token_id=cfg.eos_token_id)
    theirs = hf.generate(ids, max_new_tokens=20, do_sample=False)
print(f"logits max diff {diff:.1e}; 20 greedy tokens equal to transformers' generate: {torch.equal(ours, theirs)}")
PY
