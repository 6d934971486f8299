"""netc's yolov8n/yolov8s against ultralytics' DetectionModel, output for output.

Run with the world venv's python (ultralytics installed):

    PY=$(../shared/tools/world-env) && $PY bench/yolov8_vs_ultralytics.py

ultralytics 8.4 returns, in training mode, a dict {"boxes", "scores", "feats"} (boxes and scores over
every anchor, feats the neck's three maps), not the list of three raw maps older versions returned;
so the three raw maps cat(cv2[i](x_i), cv3[i](x_i)) are taken from the Detect module's own layers on
the maps its forward reads (hooks), in eval mode (a training-mode re-run would update the batch norms'
statistics a second time). `dist` is compared with ultralytics' DFL on the same box channels.
"""
import sys
import warnings

import torch

import netc

warnings.filterwarnings("ignore")


def main(names=("yolov8n", "yolov8s")) -> int:
    import ultralytics
    from ultralytics.nn.tasks import DetectionModel
    bad = 0
    for name in names:
        torch.manual_seed(0)
        ref = DetectionModel(f"{name}.yaml", verbose=False)
        for mod in ref.modules():          # random statistics, so a mix-up of batch norms shows
            if hasattr(mod, "running_var") and mod.running_var is not None:
                mod.running_mean.uniform_(-0.1, 0.1)
                mod.running_var.uniform_(0.8, 1.2)
        m = netc.compile(name)
        netc.load_weights(m, ref)          # strict: every tensor, the DFL's fixed weights included
        ref.eval(), m.eval()
        det, feats = ref.model[-1], {}
        hooks = [ref.model[j].register_forward_hook(lambda mod, a, o, j=j: feats.__setitem__(j, o)) for j in det.f]
        x = torch.randn(1, 3, 256, 320)
        with torch.no_grad():
            ref(x)
            got = m(x)
            maps = [torch.cat((det.cv2[i](feats[j]), det.cv3[i](feats[j])), 1) for i, j in enumerate(det.f)]
            dist = det.dfl(torch.cat([mp[:, :4 * det.reg_max].flatten(2) for mp in maps], 2)).transpose(1, 2)
        for h in hooks:
            h.remove()
        diffs = [float((a - b).abs().max()) / max(1.0, float(a.abs().max())) for a, b in zip(maps + [dist], got.values())]
        n_ref = sum(p.numel() for p in ref.parameters())
        ok = n_ref == netc.load(name).params and max(diffs) < 1e-4
        bad += not ok
        print(f"{name}: ultralytics {ultralytics.__version__}, params {netc.load(name).params:,} vs {n_ref:,}, "
              f"outputs {list(got)} rel diff {max(diffs):.1e} {'ok' if ok else 'DIFFER'}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
